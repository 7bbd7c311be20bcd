"""Turn history into an ordinary points-based scoring model: a scorecard.

A learned model is a black box to the admin who owns scoring; a scorecard is the same kind of
YAML file they already edit, with fit rules such as "Lead Origin is Lead Add Form: +92" and
"Total Time Spent on Website between 607.5 and 1071.5: +64". It is built the way credit
scorecards are:

1. every numeric field is cut into up to ``bins`` ranges at quantiles (edges sit half a unit
   of the data's precision above an observed value, so no value can sit on one), every category kept
   by the schema gets its own bin, rare categories share an "other" bin and a missing value
   has its own bin;
2. a bin earns a weight only with the evidence for it (``MIN_BIN_SUPPORT`` leads and a
   significant difference from the rest of its field, :func:`earned_bins`); the others form
   the field's baseline. A regularised logistic regression learns one weight per earned bin
   (an additive model, which is exactly what a sum of fit points can express);
3. weights become integer points at ``POINTS_TO_DOUBLE_ODDS`` points per doubling of the odds,
   shifted so that each field's lowest bin is worth 0. No lead can then go below 0 raw points,
   so the engine's clip of the fit score at 0 loses nothing, and ``fit.max_points`` is the sum
   of each field's best bin, so the fit score spans 0-100 exactly.

Bins that end with the same points are merged into one rule (``in: [...]``), zero-point bins
are left out. Grades (A-D) are set at the fit scores that hold the top 10/30/60/80 % of the
training leads, and an ``mql`` threshold at grade B.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa
import yaml
from sklearn.linear_model import LogisticRegression

from ..conditions import column_matches
from ..model import ScoringModel
from .dataset import Feature, FeatureSchema
from .metrics import TIER_SHARES

__all__ = ["Bin", "Scorecard", "POINTS_TO_DOUBLE_ODDS", "MIN_BIN_SUPPORT", "SIGNIFICANCE", "earned_bins",
           "fit_scorecard", "scorecard_yaml",
           "grade_cuts_for", "cross_validate_scorecard", "yaml_fit_points", "group_points"]

POINTS_TO_DOUBLE_ODDS = 20.0
#: A bin needs this many training leads to carry points of its own ...
MIN_BIN_SUPPORT = 30
#: ... and a conversion rate different from the rest of its field at this level (two-sided,
#: Bonferroni-corrected over the field's bins).
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Bin:
    """One range or set of categories of one field, and how to test it in YAML."""

    feature: int
    label: str
    condition: dict[str, Any]  # e.g. {"in": [...]}, {"between": [a, b]}, {"exists": False}
    low: float = -math.inf  # numeric bins: [low, high)
    high: float = math.inf
    codes: tuple[int, ...] = ()  # categorical bins: the codes it covers
    missing: bool = False


@dataclass
class Scorecard:
    """Bins with integer points; ``points_for`` scores an encoded matrix the way the YAML will."""

    schema: FeatureSchema
    bins: list[Bin]
    points: np.ndarray  # int, one per bin, ≥ 0
    intercept: float  # log-odds of a lead with 0 raw points

    @property
    def max_points(self) -> int:
        best: dict[int, int] = {}
        for b, p in zip(self.bins, self.points, strict=True):
            best[b.feature] = max(best.get(b.feature, 0), int(p))
        return int(sum(best.values())) or 1

    def indicators(self, x: np.ndarray) -> np.ndarray:
        return _indicators(self.bins, x)

    def points_for(self, x: np.ndarray) -> np.ndarray:
        """Raw points of each row of an encoded matrix."""
        return self.indicators(x) @ self.points.astype(float)

    def fit_score(self, x: np.ndarray) -> np.ndarray:
        return np.clip(100.0 * self.points_for(x) / self.max_points, 0, 100)

    def probability_at(self, raw_points: np.ndarray) -> np.ndarray:
        """P(converted) the scorecard implies for a raw point total."""
        z = self.intercept + np.asarray(raw_points) * math.log(2) / POINTS_TO_DOUBLE_ODDS
        return 1 / (1 + np.exp(-z))


def _decimals(value: float) -> int:
    text = f"{value:.6f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _edge_between(a: float, b: float) -> float:
    """An edge strictly between observed values a < b that no value of the data's precision
    can equal: a plus half a unit of the finest decimal either uses (1071 → 1071.5,
    2.33 → 2.335). A lead exactly on an edge would otherwise fall into two ranges, since
    ``between`` includes both ends."""
    digits = min(max(_decimals(a), _decimals(b)), 6)
    edge = round(a + 0.5 * 10.0 ** -digits, digits + 1)
    return edge if a < edge < b else (a + b) / 2


def _numeric_bins(j: int, feat: Feature, values: np.ndarray, bins: int) -> list[Bin]:
    present = np.sort(values[~np.isnan(values)])
    distinct = np.unique(present)
    edges: list[float] = []
    for q in np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1], method="lower"):
        pos = np.searchsorted(distinct, q, side="right")
        if 0 < pos < len(distinct):
            edge = _edge_between(float(distinct[pos - 1]), float(distinct[pos]))
            if not edges or edge > edges[-1]:
                edges.append(edge)
    out: list[Bin] = []
    bounds = [-math.inf, *edges, math.inf]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if lo == -math.inf and hi == math.inf:
            cond: dict[str, Any] = {"exists": True}
            label = f"{feat.name} is known"
        elif lo == -math.inf:
            cond, label = {"lt": hi}, f"{feat.name} below {hi:g}"
        elif hi == math.inf:
            cond, label = {"gte": lo}, f"{feat.name} {lo:g} or more"
        else:
            cond, label = {"between": [lo, hi]}, f"{feat.name} {lo:g} to {hi:g}"
        out.append(Bin(j, label, cond, lo, hi))
    out.append(Bin(j, f"{feat.name} missing", {"exists": False}, missing=True))
    return out


def _spellings(feat: Feature, code: int) -> list[str]:
    """Every spelling of a category seen in training: what its rule must list, since the engine
    compares text trimmed and case-folded but with its inner spaces as typed."""
    return list(feat.spellings[code]) if feat.spellings else [feat.labels[code]]


def _categorical_bins(j: int, feat: Feature) -> list[Bin]:
    out = [Bin(j, f"{feat.name} is {label}", {"in": _spellings(feat, code)}, codes=(code,))
           for code, label in enumerate(feat.labels)]
    other = len(feat.categories)
    every = [v for code in range(len(feat.categories)) for v in _spellings(feat, code)]
    out.append(Bin(j, f"{feat.name} is another value (rare in training, or unseen)",
                   {"not_in": [*every, *feat.placeholders]}, codes=(other,)))
    out.append(Bin(j, f"{feat.name} missing", {"exists": False}, missing=True))
    return out


def _indicators(bins: list[Bin], x: np.ndarray) -> np.ndarray:
    out = np.zeros((x.shape[0], len(bins)))
    for k, b in enumerate(bins):
        col = x[:, b.feature]
        if b.missing:
            out[:, k] = np.isnan(col)
        elif b.codes:
            out[:, k] = np.isin(col, b.codes)
        else:
            with np.errstate(invalid="ignore"):
                out[:, k] = (col >= b.low) & (col < b.high)
    return out


def earned_bins(bins: list[Bin], design: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which bins have the evidence to carry points of their own: at least ``MIN_BIN_SUPPORT``
    training leads, and a conversion rate that differs from the rest of its field's leads by
    more than chance (two-proportion z-test at ``SIGNIFICANCE``, Bonferroni-corrected over the
    field's bins)."""
    earned = np.zeros(len(bins), dtype=bool)
    n = len(y)
    fields: dict[int, list[int]] = {}
    for k, b in enumerate(bins):
        fields.setdefault(b.feature, []).append(k)
    total_pos = float(y.sum())
    for members in fields.values():
        z_crit = NormalDist().inv_cdf(1 - SIGNIFICANCE / (2 * len(members)))
        for k in members:
            inside = design[:, k] > 0
            n1 = int(inside.sum())
            n0 = n - n1
            if n1 < MIN_BIN_SUPPORT or n0 < MIN_BIN_SUPPORT:
                continue
            pos1 = float(y[inside].sum())
            p1, p0 = pos1 / n1, (total_pos - pos1) / n0
            pooled = total_pos / n
            se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n1 + 1 / n0))
            earned[k] = abs(p1 - p0) / se >= z_crit
    return earned


def fit_scorecard(schema: FeatureSchema, x: np.ndarray, y: np.ndarray, *, bins: int = 10,
                  c: float = 0.5) -> Scorecard:
    """Learn bin weights on an encoded matrix and round them to non-negative integer points.

    Only bins with the evidence (:func:`earned_bins`) get a weight; the rest of a field's bins
    — thin ones, ones no different from the rest, and missing or unseen values unless the data
    shows they differ — form its baseline, worth 0 (or, when some bin of the field is
    significantly worse, that bin is 0 and the baseline sits above it)."""
    all_bins: list[Bin] = []
    for j, feat in enumerate(schema.features):
        if feat.is_numeric:
            all_bins += _numeric_bins(j, feat, x[:, j], bins)
        else:
            all_bins += _categorical_bins(j, feat)
    design = _indicators(all_bins, x)
    earned = earned_bins(all_bins, design, y)
    coef = np.zeros(len(all_bins))
    intercept = float(np.log(max(y.mean(), 1e-9) / max(1 - y.mean(), 1e-9)))
    if earned.any():
        lr = LogisticRegression(C=c, max_iter=2000, solver="newton-cholesky").fit(design[:, earned], y)
        coef[earned] = lr.coef_[0]
        intercept = float(lr.intercept_[0])
    scale = POINTS_TO_DOUBLE_ODDS / math.log(2)
    raw = np.rint(coef * scale).astype(int)
    points = raw.copy()
    for j in range(len(schema.features)):
        members = [k for k, b in enumerate(all_bins) if b.feature == j]
        low = int(raw[members].min())
        points[members] -= low
        intercept += low / scale
    return Scorecard(schema, all_bins, points, intercept)


def _merged_rules(card: Scorecard, j: int, field: str) -> list[dict[str, Any]]:
    """The YAML rules of one field: zero-point bins dropped, equal-point categories merged."""
    feat = card.schema.features[j]
    ranges: list[dict[str, Any]] = []
    last: list[dict[str, Any]] = []
    merged: dict[int, list[str]] = {}
    for b, p in zip(card.bins, card.points, strict=True):
        p = int(p)
        if b.feature != j or p == 0:
            continue
        if b.missing:
            last.append({"description": f"{feat.name} is missing", "exists": False, "points": p})
            if feat.placeholders:
                last.append({"description": f"{feat.name} is a placeholder for missing",
                             "in": list(feat.placeholders), "points": p})
        elif b.codes and "in" in b.condition:
            merged.setdefault(p, []).extend(b.condition["in"])
        elif b.codes:
            last.insert(0, {"description": b.label, **b.condition, "points": p})
        else:
            ranges.append({"description": b.label, **b.condition, "points": p})
    categories = [{"description": f"{feat.name} is " + " / ".join(labels), "in": labels,
                   "points": p} for p, labels in sorted(merged.items(), reverse=True)]
    rules = [*categories, *ranges, *last]
    for i, rule in enumerate(rules):
        rule["id"] = f"{_slug(feat.name)}.{i + 1}"
    return [{"id": r.pop("id"), "field": f"lead.{field}", **r} for r in rules]


def _slug(name: str) -> str:
    return "_".join("".join(ch if ch.isalnum() else " " for ch in name.lower()).split())


def scorecard_yaml(card: Scorecard, *, name: str, grade_cuts: list[float],
                   source_note: str = "", fields: Mapping[str, str] | None = None) -> str:
    """The scorecard as a scoring-model YAML file ``parse_model`` accepts. ``fields`` names the
    lead field of a feature that has one the engine derives (``n_events`` → ``event_count``);
    the rest become custom lead fields of their own name."""
    fields = fields or {}
    groups = []
    used: list[str] = []
    for j, feat in enumerate(card.schema.features):
        field = fields.get(feat.name, feat.name)
        rules = _merged_rules(card, j, field)
        if rules:
            groups.append({"name": feat.name, "rules": rules})
            if feat.name not in fields:
                used.append(feat.name)
    grades = dict(zip("ABCD", [round(float(g), 1) for g in grade_cuts], strict=True))
    doc: dict[str, Any] = {
        "name": name,
        "description": (f"Scorecard learned from history (target '{card.schema.target}'). "
                        f"Every {POINTS_TO_DOUBLE_ODDS:g} fit points double the odds of "
                        f"converting; a lead with 0 points converts with log-odds "
                        f"{card.intercept:.3f}. {source_note}").strip(),
        "custom_fields": {"lead": used},
        "fit": {"max_points": card.max_points, "groups": groups},
        "outputs": {"weights": {"fit": 1.0, "intent": 0.0}, "grades": grades},
        "thresholds": [{"name": "mql", "enter": grades["B"],
                        "exit": max(0.0, round(grades["B"] - 5, 1))}],
    }
    header = ("# Generated by `leadscore train --export-scorecard`. Edit freely: it is an\n"
              "# ordinary scoring model. Points are integers; each field's lowest bin is 0.\n")
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def grade_cuts_for(fit_scores: np.ndarray) -> list[float]:
    """Fit-score minimums of grades A-D so they hold the top 10/30/60/80 % of these leads."""
    tops = np.cumsum(TIER_SHARES)[:-1]
    return [float(np.floor(np.quantile(fit_scores, 1 - t) * 10) / 10) for t in tops]


def cross_validate_scorecard(schema: FeatureSchema, x: np.ndarray, y: np.ndarray,
                             splits: list[tuple[np.ndarray, np.ndarray]], **kwargs: Any
                             ) -> tuple[np.ndarray, list[float]]:
    """Out-of-sample raw points for each test row and each split's AUC of those points."""
    from .metrics import roc_auc

    points = np.full(len(y), np.nan)
    aucs = []
    for train_idx, test_idx in splits:
        card = fit_scorecard(schema, x[train_idx], y[train_idx], **kwargs)
        points[test_idx] = card.points_for(x[test_idx])
        aucs.append(roc_auc(y[test_idx], points[test_idx]))
    return points, aucs


def yaml_fit_points(model: ScoringModel, table: pa.Table, columns: Mapping[str, str] | None = None) -> np.ndarray:
    """Raw fit points of every row, read from the YAML model's own rules and conditions.

    This checks the exported text rather than the in-memory bins: what an admin edits is what
    gets measured. Group caps are applied; a field the table lacks counts as missing.
    ``columns`` names the table column of a lead field when they differ.
    """
    total = np.zeros(table.num_rows)
    for group in model.fit.groups:
        total += group_points(group, table, columns)
    return total


def group_points(group: Any, table: pa.Table, columns: Mapping[str, str] | None = None) -> np.ndarray:
    """Raw points of one fit group of a YAML model for every row (its cap applied)."""
    columns = columns or {}
    missing = pa.nulls(table.num_rows, pa.string())
    points = np.zeros(table.num_rows)
    for rule in group.rules:
        name = rule.field.split(".", 1)[1]
        name = columns.get(name, name)
        column = table.column(name) if name in table.column_names else missing
        points += column_matches(rule.condition, column) * rule.points
    if group.cap is not None:
        points = np.minimum(points, group.cap)
    return points
