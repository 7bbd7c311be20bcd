"""Train the candidate models, judge them honestly, keep the better one.

"Honestly" means on leads the model did not learn from: when the table has a time column (given,
or a lead-creation date found in the table) the last 20 % of leads (by time) are held out and the
model that does best on them is kept, because that is how the model will be used — on leads that
come after the ones it learned from; otherwise stratified k-fold cross-validation. Before that the
table is checked: enough rows and leads of each class (``MIN_ROWS``, ``MIN_PER_CLASS``), and no
column that leaks the outcome (:mod:`.leakage`). The final model is then refitted on every row.

Tier cut-offs come from the out-of-sample probabilities, so "tier A" means "the top 10 % of
leads as the model would have scored them before knowing the outcome".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
from sklearn.model_selection import StratifiedKFold

from .dataset import (
    DataError,
    FeatureSchema,
    column_values,
    encode,
    infer_schema,
    parse_target,
    parse_times,
    reference_row,
)
from .drift import drift_reference
from .leakage import STOP_AUC, SUSPECT_AUC, check_leaks
from .learners import ENSEMBLE_WEIGHTS, KINDS, Learner, blend, make_learner
from .metrics import assign_tiers, auc_interval, evaluate_scores, roc_auc, tier_cuts

__all__ = ["TrainedModel", "train", "fingerprint", "make_splits", "out_of_sample", "DEFAULT_KINDS",
           "LeakError", "MIN_ROWS", "MIN_PER_CLASS", "VALIDATIONS", "check_evidence", "find_time_column"]

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
        return self.calibrated(self.learner.probability(encode(self.schema, table)))

    def calibrated(self, p: np.ndarray) -> np.ndarray:
        """The learner's probabilities through the recalibration fitted on recent outcomes, if any."""
        scale = self.extra.get("recalibration")
        if not scale:
            return p
        z = np.log(np.clip(p, 1e-9, 1 - 1e-9) / (1 - np.clip(p, 1e-9, 1 - 1e-9)))
        return 1 / (1 + np.exp(-(scale["slope"] * z + scale["intercept"])))

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
        return self.calibrated(self.learner.probability(x)), np.arange(len(y)), False


def fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """Identifies a training table (its encoded features and outcomes)."""
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y).astype(np.int64).tobytes())
    return digest.hexdigest()


#: Fewer leads than this, or fewer converted (or unconverted) ones, cannot support a model
#: whose figures mean anything: training refuses, saying how many more it needs.
MIN_ROWS = 100
MIN_PER_CLASS = 20
#: A time-ordered holdout needs at least this many leads of each class among the later ones.
MIN_HOLDOUT_PER_CLASS = 5
#: Words in a date column's name that mark it as the lead's creation time.
_CREATION_WORDS = ("creat", "added", "submitted", "signed up", "signup", "first seen", "registered")


def check_evidence(y: np.ndarray) -> None:
    """Refuse a table too small to learn from, naming the number needed."""
    positives = int(y.sum())
    negatives = int(len(y) - positives)
    short = []
    if len(y) < MIN_ROWS:
        short.append(f"{len(y)} rows (need at least {MIN_ROWS})")
    if positives < MIN_PER_CLASS:
        short.append(f"{positives} converted leads (need at least {MIN_PER_CLASS})")
    if negatives < MIN_PER_CLASS:
        short.append(f"{negatives} unconverted leads (need at least {MIN_PER_CLASS})")
    if short:
        raise DataError("too little history to learn from: " + ", ".join(short)
                        + "; below this the validation figures are noise (an AUC of 0.9 from a "
                        "handful of converted leads means nothing)")


def _folds(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    smallest = int(min(y.sum(), len(y) - y.sum()))
    k = min(folds, smallest)
    if k < 2:
        raise DataError(f"too few leads of one class ({smallest}) to cross-validate; "
                        "need at least 2 converted and 2 unconverted")
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def _time_split(times: np.ndarray, y: np.ndarray, column: str) -> list[tuple[np.ndarray, np.ndarray]]:
    known = np.flatnonzero(~np.isnan(times))
    if len(known) < 20:
        raise DataError(f"the time column '{column}' has only {len(known)} usable values; need 20 or more",
                        column)
    order = known[np.argsort(times[known], kind="mergesort")]
    cut = int(round(len(order) * (1 - HOLDOUT_SHARE)))
    train_idx, test_idx = np.sort(order[:cut]), np.sort(order[cut:])
    train_idx = np.union1d(train_idx, np.flatnonzero(np.isnan(times)))  # undated rows train
    for part, name in ((train_idx, "earlier"), (test_idx, "later")):
        fewest = int(min(y[part].sum(), len(part) - y[part].sum()))
        need = MIN_HOLDOUT_PER_CLASS if name == "later" else 2
        if fewest < need:
            raise DataError(f"the {name} part of the time-ordered split on '{column}' has only {fewest} "
                            f"leads of one class; a holdout needs at least {need} converted and {need} "
                            "unconverted leads", column)
    return [(train_idx, test_idx)]


def make_splits(table: pa.Table, y: np.ndarray, time_column: str | None, folds: int, seed: int
                ) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """(train rows, test rows) pairs and a sentence saying how they were made."""
    if time_column:
        splits = _time_split(parse_times(table, time_column), y, time_column)
        return splits, (f"time-ordered holdout on '{time_column}' "
                        f"(last {HOLDOUT_SHARE:.0%} of leads)")
    splits = _folds(y, folds, seed)
    return splits, f"stratified {len(splits)}-fold cross-validation"


def find_time_column(schema: FeatureSchema) -> str | None:
    """The date column that says when each lead arrived, when the table has one: a date column
    whose name says creation, else the only date column."""
    from .leakage import AFTER_THE_FACT_WORDS, _name_words

    dates = [d for d in dict.fromkeys(f.column for f in schema.features if f.derived)
             if not _name_words(d) & AFTER_THE_FACT_WORDS]  # a "closed date" does not order leads
    named = [d for d in dates if any(w in d.casefold().replace("_", " ") for w in _CREATION_WORDS)]
    if named:
        return named[0]
    return dates[0] if len(dates) == 1 else None


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


class LeakError(DataError):
    """Columns that would leak the outcome into the model: the run stops and names them."""

    def __init__(self, findings: list[Any]):
        self.findings = findings
        lines = "; ".join(f"'{f.column}': {f.reason}" for f in findings)
        names = " ".join(f"--allow-column '{f.column}'" for f in findings)
        super().__init__(f"{len(findings)} column(s) would leak the outcome into the model: {lines}. "
                         f"Leave them out with --drop, or keep them knowingly with {names}",
                         findings[0].column)


VALIDATIONS = ("auto", "time", "folds")


def _protocol(table: pa.Table, target: str, drop: tuple[str, ...], time_column: str | None,
              validation: str) -> tuple[FeatureSchema, str | None, str]:
    """The schema, the time column that orders the validation (or None) and why it was chosen."""
    if validation not in VALIDATIONS:
        raise DataError(f"unknown validation '{validation}'; use one of {', '.join(VALIDATIONS)}")
    if time_column:
        if validation == "folds":
            raise DataError("a time column was given with validation 'folds'; give one or the other",
                            time_column)
        column_values(table, time_column)
        return infer_schema(table, target, drop, time_column), time_column, f"'{time_column}' was given"
    schema = infer_schema(table, target, drop)
    if validation == "folds":
        return schema, None, "cross-validation was asked for"
    found = find_time_column(schema)
    if found is None:
        if validation == "time":
            raise DataError("time-ordered validation needs a date column (the lead's creation time); "
                            "none was found: name one with --time-column")
        return schema, None, ("the table has no date column saying when each lead arrived "
                              "(name one with --time-column for a time-ordered holdout)")
    return (infer_schema(table, target, drop, found), found,
            f"'{found}' says when each lead arrived (found in the table; --validation folds to "
            "cross-validate instead)")


def _dropped(schema: FeatureSchema, user_drop: tuple[str, ...], findings: list[Any]) -> list[dict[str, Any]]:
    rows = [{"column": c, "check": "named", "reason": "left out with --drop"} for c in user_drop]
    rows += [{"column": c, "check": "no_signal", "reason": r} for c, r in schema.left_out]
    rows += [{"column": f.column, "check": f.check, "reason": f.reason,
              **({"auc": f.auc} if f.auc is not None else {})} for f in findings]
    return rows


def train(table: pa.Table, target: str, *, drop: tuple[str, ...] | list[str] = (),
          time_column: str | None = None, kinds: tuple[str, ...] = DEFAULT_KINDS,
          choose: str | None = None, folds: int = 5, seed: int = 0,
          allow: tuple[str, ...] | list[str] = (), validation: str = "auto",
          outcome_times: np.ndarray | None = None) -> TrainedModel:
    """Check the table (evidence, leaks), evaluate each kind in ``kinds`` out of sample, refit
    the best (or ``choose``) on all rows.

    ``validation``: ``auto`` orders the holdout by time when ``time_column`` is given or the
    table has a date column saying when each lead arrived, else cross-validates; ``time`` and
    ``folds`` insist. Columns the leak checks flag are left out (or stop the run) unless named
    in ``allow``; ``outcome_times`` (seconds, NaN unknown) lets them spot dates set after the
    outcome.

    The evaluation dict holds, per model, AUC (mean and sd over folds, the pooled AUC and a
    bootstrap interval), log loss, Brier, top-decile lift, conversion by decile and tier, and a
    calibration table, computed on out-of-sample probabilities; and what was dropped and why.
    """
    for k in (*kinds, *([choose] if choose else [])):
        if k not in KINDS:
            raise DataError(f"unknown model kind '{k}'; use one of {', '.join(KINDS)}")
    y = parse_target(table, target)
    check_evidence(y)
    unknown = [a for a in allow if a not in table.column_names]
    if unknown:
        raise DataError(f"--allow-column names column(s) not in the table: {unknown}", unknown[0])
    user_drop = tuple(drop)
    schema, time_column, why = _protocol(table, target, user_drop, time_column, validation)
    x = encode(schema, table)
    findings = check_leaks(schema, x, y, table, allow=tuple(allow), outcome_times=outcome_times, seed=seed)
    stops = [f for f in findings if f.action == "stop"]
    if stops:
        raise LeakError(stops)
    leaked = {f.column for f in findings}
    keep = [j for j, f in enumerate(schema.features) if f.column not in leaked]
    if not keep:
        raise DataError("every feature column was left out by the leak checks: "
                        + ", ".join(sorted(leaked)) + "; keep some with --allow-column")
    notes = [*schema.notes, *(f"'{f.column}' left out: {f.reason} (--allow-column to keep it)"
                              for f in findings)]
    schema = replace(schema, features=tuple(schema.features[j] for j in keep), notes=tuple(notes))
    x = x[:, keep]
    try:
        splits, method = make_splits(table, y, time_column, folds, seed)
    except DataError as exc:
        if validation != "auto" or time_column is None or "given" in why:
            raise
        why = f"'{time_column}' was found but cannot hold out later leads ({exc}); cross-validated instead"
        time_column = None
        splits, method = make_splits(table, y, None, folds, seed)
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
                        "auc_pooled": roc_auc(y[tested], p[tested]),
                        "auc_interval": auc_interval(y[tested], p[tested], seed=seed),
                        "candidate": kind in kinds}
    chosen = choose or max(kinds, key=lambda k: models[k]["auc"])
    learner = make_learner(chosen, schema, seed).fit(x, y)
    cuts = tier_cuts(oos[chosen][tested])
    protocol = "time_ordered" if time_column else "cross_validation"
    evaluation = {
        "target": target,
        "rows": int(len(y)),
        "converted": int(y.sum()),
        "conversion_rate": float(y.mean()),
        "features": schema.names,
        "notes": list(schema.notes),
        "validation": method,
        "protocol": protocol,
        "protocol_reason": why,
        "time_column": time_column,
        "dropped": _dropped(schema, user_drop, findings),
        "allowed": list(allow),
        "evidence": {"min_rows": MIN_ROWS, "min_per_class": MIN_PER_CLASS,
                     "leak_stop_auc": STOP_AUC, "leak_suspect_auc": SUSPECT_AUC},
        "models": {k: _summary(v) for k, v in models.items()},
        "chosen": chosen,
        "chosen_because": (f"asked for (--choose {chosen})" if choose else
                           "best AUC on the later leads" if time_column else "best mean AUC over the folds"),
        **{k: models[chosen][k] for k in ("auc", "auc_sd", "auc_pooled", "auc_interval", "log_loss",
                                          "brier", "top_decile_lift", "deciles", "tiers", "calibration")},
        "auc_explained": AUC_EXPLAINED,
    }
    return TrainedModel(schema, learner, cuts, float(y.mean()), evaluation, time_column,
                        {"folds": folds, "seed": seed, "out_of_sample": oos[chosen], "tested": tested,
                         "reference": reference_row(schema, x), "fingerprint": fingerprint(x, y),
                         "drift_reference": drift_reference(schema, x, oos[chosen][tested], cuts, y)})


#: Said wherever the two AUC figures of a training table are shown.
AUC_EXPLAINED = ("'auc' is the mean of each fold's AUC (one figure for a time-ordered holdout); "
                 "'auc_pooled' ranks every out-of-sample prediction together, as `evaluate` does on "
                 "the training table. They differ in the third or fourth decimal because each fold's "
                 "model scores on its own scale; 'auc_interval' is a 95 % bootstrap interval of the pooled "
                 "figure, 'auc_sd' the spread over folds.")


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = ("auc", "auc_sd", "auc_folds", "auc_pooled", "auc_interval", "log_loss", "brier",
            "top_decile_lift", "deciles", "tiers", "calibration", "candidate")
    return {k: metrics[k] for k in keep if k in metrics}
