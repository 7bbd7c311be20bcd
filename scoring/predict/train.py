"""Train the candidate models, judge them honestly, keep the better one.

"Honestly" means on leads the model did not learn from: when the table has a time column the
last 20 % of leads (by time) are held out, because that is how the model will be used — on
leads that come after the ones it learned from; otherwise stratified k-fold cross-validation.
The final model is then refitted on every row.

Tier cut-offs come from the out-of-sample probabilities, so "tier A" means "the top 10 % of
leads as the model would have scored them before knowing the outcome".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from sklearn.model_selection import StratifiedKFold

from .dataset import (
    DataError,
    FeatureSchema,
    encode,
    infer_schema,
    parse_target,
    parse_times,
    reference_row,
)
from .learners import ENSEMBLE_WEIGHTS, KINDS, Learner, blend, make_learner
from .metrics import assign_tiers, evaluate_scores, roc_auc, tier_cuts

__all__ = ["TrainedModel", "train", "fingerprint", "make_splits", "out_of_sample", "DEFAULT_KINDS"]

#: What ``leadscore train`` compares by default; "ensemble" blends logistic, gbm and trees.
DEFAULT_KINDS: tuple[str, ...] = ("logistic", "gbm", "ensemble")
HOLDOUT_SHARE = 0.2


@dataclass
class TrainedModel:
    """A learned model and everything needed to score a new table the same way."""

    schema: FeatureSchema
    learner: Learner
    tier_cuts: list[float]
    base_rate: float
    evaluation: dict[str, Any]
    time_column: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.learner.kind

    @property
    def version(self) -> str:
        """Identifies what was learned from what (training data, kind, seed, features), like a
        rules model's content hash, so written-back predictions say which model made them."""
        text = "|".join([str(self.extra.get("fingerprint")), self.kind,
                         str(self.extra.get("seed")), *self.schema.names])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def probability(self, table: pa.Table) -> np.ndarray:
        return self.learner.probability(encode(self.schema, table))

    def tiers(self, probability: np.ndarray) -> np.ndarray:
        return assign_tiers(probability, self.tier_cuts)

    def honest_probability(self, table: pa.Table, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """(probabilities, rows they cover, out_of_sample?) for judging the model on ``table``.

        On the very table it was trained on, the refitted model has seen every outcome and
        looks better than it is; there the stored out-of-sample probabilities (from the
        folds or the holdout) are returned instead, for the rows they cover.
        """
        x = encode(self.schema, table)
        if self.extra.get("fingerprint") == fingerprint(x, y):
            tested = self.extra["tested"]
            return self.extra["out_of_sample"][tested], tested, True
        return self.learner.probability(x), np.arange(len(y)), False


def fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """Identifies a training table (its encoded features and outcomes)."""
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y).astype(np.int64).tobytes())
    return digest.hexdigest()


def _folds(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    smallest = int(min(y.sum(), len(y) - y.sum()))
    k = min(folds, smallest)
    if k < 2:
        raise DataError(f"too few leads of one class ({smallest}) to cross-validate; "
                        "need at least 2 converted and 2 unconverted")
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def _time_split(times: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    known = np.flatnonzero(~np.isnan(times))
    if len(known) < 20:
        raise DataError(f"the time column has only {len(known)} usable values; need 20 or more")
    order = known[np.argsort(times[known], kind="mergesort")]
    cut = int(round(len(order) * (1 - HOLDOUT_SHARE)))
    train_idx, test_idx = np.sort(order[:cut]), np.sort(order[cut:])
    train_idx = np.union1d(train_idx, np.flatnonzero(np.isnan(times)))  # undated rows train
    for part, name in ((train_idx, "earlier"), (test_idx, "later")):
        if len(np.unique(y[part])) < 2:
            raise DataError(f"the {name} part of the time-ordered split has only one class; "
                            "a holdout needs converted and unconverted leads")
    return [(train_idx, test_idx)]


def make_splits(table: pa.Table, y: np.ndarray, time_column: str | None, folds: int, seed: int
                ) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """(train rows, test rows) pairs and a sentence saying how they were made."""
    if time_column:
        splits = _time_split(parse_times(table, time_column), y)
        return splits, (f"time-ordered holdout on '{time_column}' "
                        f"(last {HOLDOUT_SHARE:.0%} of leads)")
    splits = _folds(y, folds, seed)
    return splits, f"stratified {len(splits)}-fold cross-validation"


def out_of_sample(kind: str, schema: FeatureSchema, x: np.ndarray, y: np.ndarray,
                  splits: list[tuple[np.ndarray, np.ndarray]], seed: int = 0
                  ) -> tuple[np.ndarray, list[float]]:
    """Probabilities for the test rows of every split (NaN elsewhere) and each split's AUC."""
    p = np.full(len(y), np.nan)
    aucs = []
    for train_idx, test_idx in splits:
        learner = make_learner(kind, schema, seed).fit(x[train_idx], y[train_idx])
        p[test_idx] = learner.probability(x[test_idx])
        aucs.append(roc_auc(y[test_idx], p[test_idx]))
    return p, aucs


def train(table: pa.Table, target: str, *, drop: tuple[str, ...] | list[str] = (),
          time_column: str | None = None, kinds: tuple[str, ...] = DEFAULT_KINDS,
          choose: str | None = None, folds: int = 5, seed: int = 0) -> TrainedModel:
    """Evaluate each kind in ``kinds``, refit the best (or ``choose``) on all rows.

    The evaluation dict holds, per model, AUC (mean and sd over folds), log loss, Brier,
    top-decile lift, conversion by decile and tier, and a calibration table, computed on
    out-of-sample probabilities.
    """
    for k in (*kinds, *([choose] if choose else [])):
        if k not in KINDS:
            raise DataError(f"unknown model kind '{k}'; use one of {', '.join(KINDS)}")
    y = parse_target(table, target)
    drop = tuple(drop) + ((time_column,) if time_column else ())
    schema = infer_schema(table, target, drop)
    x = encode(schema, table)
    splits, method = make_splits(table, y, time_column, folds, seed)
    tested = np.sort(np.concatenate([t for _, t in splits]))
    wanted = [*kinds, *([choose] if choose and choose not in kinds else [])]
    base: list[str] = [k for k in ("logistic", "gbm", "trees")
            if k in wanted or ("ensemble" in wanted and k in ENSEMBLE_WEIGHTS)]
    oos: dict[str, np.ndarray] = {}
    for member in base:
        oos[member], _ = out_of_sample(member, schema, x, y, splits, seed)
    if "ensemble" in wanted:  # members' out-of-sample probabilities, blended: no refitting
        oos["ensemble"] = blend(oos)
    models: dict[str, Any] = {}
    for kind, p in oos.items():
        aucs = [roc_auc(y[test], p[test]) for _, test in splits]
        models[kind] = {**evaluate_scores(y[tested], p[tested]), "auc": float(np.mean(aucs)),
                        "auc_sd": float(np.std(aucs)), "auc_folds": [float(a) for a in aucs],
                        "candidate": kind in kinds}
    chosen = choose or max(kinds, key=lambda k: models[k]["auc"])
    learner = make_learner(chosen, schema, seed).fit(x, y)
    folds_used = folds
    cuts = tier_cuts(oos[chosen][tested])
    evaluation = {
        "target": target,
        "rows": int(len(y)),
        "conversion_rate": float(y.mean()),
        "features": schema.names,
        "notes": list(schema.notes),
        "validation": method,
        "models": {k: _summary(v) for k, v in models.items()},
        "chosen": chosen,
        **{k: models[chosen][k] for k in ("auc", "auc_sd", "log_loss", "brier",
                                          "top_decile_lift", "deciles", "tiers", "calibration")},
    }
    return TrainedModel(schema, learner, cuts, float(y.mean()), evaluation, time_column,
                        {"folds": folds_used, "seed": seed, "out_of_sample": oos[chosen], "tested": tested,
                         "reference": reference_row(schema, x), "fingerprint": fingerprint(x, y)})


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = ("auc", "auc_sd", "auc_folds", "log_loss", "brier", "top_decile_lift", "deciles",
            "tiers", "calibration", "candidate")
    return {k: metrics[k] for k in keep if k in metrics}
