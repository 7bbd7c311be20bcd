"""Has the world moved since training? Population stability of the inputs, the tiers and the
base rate, and a recalibration fitted on recent outcomes.

At training the model keeps a *reference*: for every feature the share of training leads in
each of its bins (numbers in up to ``BINS`` quantile ranges, categories by code, "other" and
missing in bins of their own), the share of leads in each tier (as scored out of sample) and the
base rate. Later tables — an ``evaluate`` holdout, the leads a sync writes predictions for — are
compared with it by the population stability index,

    PSI = Σ (now − then) · ln(now / then)      over the bins (shares floored at ``FLOOR``),

the usual reading of which is: below 0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a major
one. ``WARN_PSI`` is where leadscore warns. The base rate is compared when outcomes are known;
it warns when the ratio leaves [1/``BASE_RATE_RATIO``, ``BASE_RATE_RATIO``] and the difference
is beyond chance (``BASE_RATE_Z`` standard errors).

When outcomes are known and the model is off, :func:`fit_recalibration` fits a logistic map of
the model's log-odds (slope and intercept) on those outcomes; applied to the model it keeps the
ranking and moves the probabilities back to what recent leads do. Pure: arrays in, dicts out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .dataset import FeatureSchema
from .metrics import TIER_NAMES, assign_tiers, calibration_table

__all__ = ["BINS", "WARN_PSI", "NOTE_PSI", "BASE_RATE_RATIO", "BASE_RATE_Z", "ECE_WARN", "psi",
           "drift_reference", "drift_report", "expected_calibration_error", "fit_recalibration"]

BINS = 10
FLOOR = 1e-4
NOTE_PSI = 0.1
WARN_PSI = 0.25
BASE_RATE_RATIO = 1.5
BASE_RATE_Z = 3.0
#: Expected calibration error (mean |predicted − observed| over ten equal-count bins, weighted)
#: above which recalibration is offered.
ECE_WARN = 0.05
#: Fewest leads a table needs for its drift figures to mean anything.
MIN_LEADS = 50


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=float), FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), FLOOR)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def _bin_codes(values: np.ndarray, edges: list[float] | None, size: int) -> np.ndarray:
    """Bin index of each value: ranges (numbers) or codes (categories); missing last."""
    out = np.full(len(values), size - 1, dtype=np.int64)
    known = ~np.isnan(values)
    if edges is not None:
        out[known] = np.searchsorted(np.asarray(edges), values[known], side="right")
    else:
        out[known] = np.minimum(values[known].astype(np.int64), size - 2)
    return out


def _shares(codes: np.ndarray, size: int) -> list[float]:
    counts = np.bincount(codes, minlength=size)
    return (counts / max(1, counts.sum())).tolist()


def drift_reference(schema: FeatureSchema, x: np.ndarray, p_tested: np.ndarray, cuts: list[float],
                    y: np.ndarray) -> dict[str, Any]:
    """What training looked like: per-feature bin shares, tier shares, base rate."""
    features = []
    for j, feat in enumerate(schema.features):
        col = x[:, j]
        if feat.is_numeric:
            known = col[~np.isnan(col)]
            edges = (np.unique(np.quantile(known, np.linspace(0, 1, BINS + 1)[1:-1])).tolist()
                     if len(known) else [])
            size = len(edges) + 2
        else:
            edges = None
            size = len(feat.categories) + 2  # categories, other, missing
        features.append({"name": feat.name, "edges": edges, "size": size,
                         "shares": _shares(_bin_codes(col, edges, size), size)})
    tiers = assign_tiers(p_tested, cuts)
    names = TIER_NAMES[:len(cuts) + 1]
    return {"features": features, "tiers": {t: float(np.mean(tiers == t)) for t in names},
            "base_rate": float(np.mean(y)), "rows": int(len(y))}


def expected_calibration_error(y: np.ndarray, p: np.ndarray) -> float:
    rows = calibration_table(np.asarray(y), np.asarray(p))
    n = sum(r["leads"] for r in rows)
    return float(sum(r["leads"] * abs(r["predicted"] - r["observed"]) for r in rows) / n) if n else math.nan


def _level(value: float) -> str:
    return "major" if value >= WARN_PSI else "moderate" if value >= NOTE_PSI else "stable"


def drift_report(reference: dict[str, Any], schema: FeatureSchema, x: np.ndarray, tiers: np.ndarray,
                 y: np.ndarray | None = None, p: np.ndarray | None = None) -> dict[str, Any]:
    """Compare a table (encoded ``x``, its tiers, and outcomes ``y`` with probabilities ``p``
    when known) with the training reference. ``warnings`` lists every figure past a threshold."""
    warnings: list[str] = []
    features: list[dict[str, Any]] = []
    by_name = {f["name"]: f for f in reference["features"]}
    for j, feat in enumerate(schema.features):
        ref = by_name.get(feat.name)
        if ref is None:
            continue
        size = int(ref["size"])
        now = _shares(_bin_codes(x[:, j], ref["edges"], size), size)
        value = psi(np.asarray(ref["shares"]), np.asarray(now))
        features.append({"feature": feat.name, "psi": value, "level": _level(value)})
    features.sort(key=lambda f: -f["psi"])
    shifted = [f for f in features if f["psi"] >= WARN_PSI]
    if shifted:
        warnings.append("input drift: " + ", ".join(f"'{f['feature']}' PSI {f['psi']:.2f}" for f in shifted[:5])
                        + (f" and {len(shifted) - 5} more" if len(shifted) > 5 else "")
                        + f" (above {WARN_PSI:g}: these fields no longer look like the training leads)")
    expected = reference["tiers"]
    actual = {t: float(np.mean(tiers == t)) if len(tiers) else 0.0 for t in expected}
    tier_psi = psi(np.array(list(expected.values())), np.array(list(actual.values())))
    tier_rows = [{"tier": t, "training_share": expected[t], "share": actual[t]} for t in expected]
    if tier_psi >= WARN_PSI:
        worst = max(tier_rows, key=lambda r: abs(r["share"] - r["training_share"]))
        warnings.append(f"score drift: tier PSI {tier_psi:.2f} (above {WARN_PSI:g}); tier {worst['tier']} "
                        f"holds {worst['share']:.0%} of leads against {worst['training_share']:.0%} in training")
    out: dict[str, Any] = {
        "leads": int(len(tiers)),
        "features": features,
        "tiers": {"psi": tier_psi, "level": _level(tier_psi), "shares": tier_rows},
        "thresholds": {"warn_psi": WARN_PSI, "note_psi": NOTE_PSI, "base_rate_ratio": BASE_RATE_RATIO,
                       "base_rate_z": BASE_RATE_Z, "ece_warn": ECE_WARN},
    }
    recalibrate = False
    if y is not None and len(y):
        then, now_rate = float(reference["base_rate"]), float(np.mean(y))
        se = math.sqrt(max(then * (1 - then), 1e-12) / len(y))
        z = (now_rate - then) / se
        ratio = now_rate / then if then else math.inf
        shifted_rate = (ratio > BASE_RATE_RATIO or ratio < 1 / BASE_RATE_RATIO) and abs(z) >= BASE_RATE_Z
        out["base_rate"] = {"training": then, "now": now_rate, "ratio": ratio, "z": z, "shifted": shifted_rate}
        if shifted_rate:
            warnings.append(f"base-rate drift: {now_rate:.1%} of these leads converted against {then:.1%} "
                            "in training")
            recalibrate = True
        if p is not None:
            ece = expected_calibration_error(y, p)
            out["calibration_error"] = ece
            if ece > ECE_WARN:
                warnings.append(f"calibration: predicted probabilities are off by {ece:.3f} on average "
                                f"(above {ECE_WARN:g})")
                recalibrate = True
    if len(tiers) < MIN_LEADS:
        warnings = [f"only {len(tiers)} leads: too few to judge drift (need {MIN_LEADS})"]
        recalibrate = False
    out["warnings"] = warnings
    out["recalibration_advised"] = recalibrate
    return out


def fit_recalibration(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Slope and intercept of a logistic map of the model's log-odds fitted on outcomes ``y``."""
    from sklearn.linear_model import LogisticRegression

    q = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    z = np.log(q / (1 - q)).reshape(-1, 1)
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(z, np.asarray(y))
    return {"slope": float(lr.coef_[0][0]), "intercept": float(lr.intercept_[0]), "leads": int(len(y))}
