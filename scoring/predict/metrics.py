"""How good is a score at ranking and at estimating conversion? Plain numbers, as a dict.

The same function judges learned probabilities, scorecard points and rules scores, so an admin
can compare them on one page. Ranking (AUC, lift, conversion by decile) works for any score;
log loss, Brier and the calibration table only make sense for probabilities and are left out
when the score is not one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as _roc_curve

__all__ = ["TIER_NAMES", "TIER_SHARES", "evaluate_scores", "roc_auc", "roc_curve", "auc_interval",
           "calibration_table", "decile_table", "tier_cuts", "assign_tiers"]

#: Tiers name the top 10 % of historic leads "A", the next 20 % "B", and so on.
TIER_NAMES = ("A", "B", "C", "D", "F")
TIER_SHARES = (0.10, 0.20, 0.30, 0.20, 0.20)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN when only one class is present."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, score))


#: Bootstrap rounds and level of every AUC interval.
BOOTSTRAP_ROUNDS = 200
INTERVAL_LEVEL = 0.95


def auc_interval(y: np.ndarray, score: np.ndarray, rounds: int = BOOTSTRAP_ROUNDS,
                 seed: int = 0) -> list[float]:
    """A bootstrap interval (``INTERVAL_LEVEL``, percentile) of the AUC of ``score``: leads are
    resampled with replacement ``rounds`` times. [NaN, NaN] when a class is absent."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=float)
    if y.all() or not y.any():
        return [float("nan"), float("nan")]
    unique, index = np.unique(score, return_inverse=True)
    rng = np.random.default_rng(seed)
    n = len(y)
    aucs = np.empty(rounds)
    for r in range(rounds):
        weight = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        pos = np.bincount(index, weights=weight * y, minlength=len(unique))
        neg = np.bincount(index, weights=weight * ~y, minlength=len(unique))
        below = np.cumsum(neg) - neg  # negatives scored strictly lower
        total = pos.sum() * neg.sum()
        aucs[r] = float(np.sum(pos * (below + 0.5 * neg)) / total) if total else np.nan
    tail = (1 - INTERVAL_LEVEL) / 2 * 100
    lo, hi = np.nanpercentile(aucs, [tail, 100 - tail])
    return [float(lo), float(hi)]


def roc_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    fpr, tpr, _ = _roc_curve(np.asarray(y), np.asarray(score, dtype=float))
    return fpr, tpr


def decile_table(y: np.ndarray, score: np.ndarray, groups: int = 10) -> list[dict[str, Any]]:
    """Leads sorted by score (best first) cut into equal groups: size, conversion, lift."""
    y = np.asarray(y, dtype=float)
    order = np.argsort(-np.asarray(score, dtype=float), kind="mergesort")
    base = y.mean() if len(y) else 0.0
    rows = []
    for k, idx in enumerate(np.array_split(order, groups)):
        rate = float(y[idx].mean()) if len(idx) else float("nan")
        rows.append({"decile": k + 1, "leads": int(len(idx)), "conversion": rate,
                     "lift": rate / base if base else float("nan"),
                     "min_score": float(np.min(score[idx])) if len(idx) else float("nan")})
    return rows


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Mean predicted probability vs observed conversion, in equal-count bins of ``p``."""
    y = np.asarray(y, dtype=float)
    order = np.argsort(p, kind="mergesort")
    return [{"predicted": float(p[idx].mean()), "observed": float(y[idx].mean()),
             "leads": int(len(idx))} for idx in np.array_split(order, bins) if len(idx)]


def tier_cuts(score: np.ndarray, shares: tuple[float, ...] = TIER_SHARES) -> list[float]:
    """Minimum score of each tier but the last, so the tiers hold ``shares`` of these leads."""
    tops = np.cumsum(shares)[:-1]
    return [float(np.quantile(score, 1 - t)) for t in tops]


def assign_tiers(score: np.ndarray, cuts: list[float],
                 names: tuple[str, ...] = TIER_NAMES) -> np.ndarray:
    """The tier name of each score: the first tier whose minimum it reaches."""
    out = np.full(len(score), names[len(cuts)], dtype=object)
    for cut, name in zip(reversed(cuts), reversed(names[:len(cuts)]), strict=True):
        out[np.asarray(score) >= cut] = name
    return out


def evaluate_scores(y: np.ndarray, score: np.ndarray, *, probability: bool = True,
                    cuts: list[float] | None = None,
                    labels: np.ndarray | None = None) -> dict[str, Any]:
    """AUC, top-decile lift, conversion by decile and tier; log loss, Brier and calibration
    when ``score`` is a probability. ``cuts`` are tier minimums (default: from these scores);
    ``labels`` gives each lead's tier directly instead (a rules model's grades)."""
    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    cuts = tier_cuts(score) if cuts is None else cuts
    deciles = decile_table(y, score)
    tiers = assign_tiers(score, cuts) if labels is None else np.asarray(labels)
    names = TIER_NAMES[:len(cuts) + 1] if labels is None else sorted(set(tiers.tolist()))
    base = float(y.mean()) if len(y) else float("nan")
    tier_rows = []
    for name in names:
        mask = tiers == name
        rate = float(y[mask].mean()) if mask.any() else float("nan")
        tier_rows.append({"tier": name, "leads": int(mask.sum()), "conversion": rate,
                          "lift": rate / base if base else float("nan")})
    out: dict[str, Any] = {
        "rows": int(len(y)),
        "conversion_rate": base,
        "auc": roc_auc(y, score),
        "top_decile_lift": deciles[0]["lift"],
        "deciles": deciles,
        "tiers": tier_rows,
        "tier_cuts": cuts,
    }
    if probability:
        p = np.clip(score, 1e-6, 1 - 1e-6)
        out["log_loss"] = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        out["brier"] = float(np.mean((score - y) ** 2))
        out["calibration"] = calibration_table(y, score)
    return out
