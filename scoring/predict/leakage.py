"""Columns that would make a model look better than it will be: checked before training.

A model that learns from a column written *because* a lead converted (a sales rep's tag, a
"closed" date, a copy of the outcome) scores perfectly on history and uselessly on open leads,
and nothing in the validation figures says so. So before anything is fitted every candidate
column is checked:

- **separation**: how well the column *alone* ranks the outcome, out of sample (each value's
  conversion rate learned on the other folds; numbers cut into quantile bins first). An AUC of
  ``STOP_AUC`` or more is a copy of the outcome in all but name: the run stops. ``SUSPECT_AUC``
  or more is rarely earned by a fact known before the outcome: the column is left out, with a
  warning.
- **after the fact, by name**: names that say the value is written once the outcome is known
  (status, stage, won, closed, tags, quality, rating ...): left out, with a warning.
- **after the fact, by time**: when the outcome times are known, a date column whose value
  falls on or after the outcome for most converted leads was set after the fact: the run stops.
- **identifiers**: every value a distinct whole number (sequential or random ids): left out,
  with a warning (ids encode when a lead arrived, and with it how the team then worked).

A column the admin names in ``allow`` is trusted and skips every check. Pure: arrays in,
findings out.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from .dataset import FeatureSchema, _when, column_values, parse_times
from .metrics import roc_auc

__all__ = ["Finding", "STOP_AUC", "SUSPECT_AUC", "AFTER_THE_FACT_WORDS", "check_leaks", "single_column_auc"]

#: A column that alone ranks the outcome this well is a copy of it: the run stops.
STOP_AUC = 0.98
#: A column that alone ranks the outcome this well is left out (with a warning) unless allowed.
SUSPECT_AUC = 0.85
#: Words in a column's name that say it is written once the outcome is known.
AFTER_THE_FACT_WORDS = frozenset({
    "status", "stage", "converted", "conversion", "won", "lost", "closed", "close", "outcome",
    "result", "disposition", "quality", "rating", "tag", "tags", "reason", "churn", "churned",
    "opportunity", "deal",
})
#: Share of converted leads whose date falls on or after their outcome that marks a column as
#: set after the fact (with at least ``MIN_TIMED`` such leads to judge from).
AFTER_SHARE = 0.5
MIN_TIMED = 10
_FOLDS = 5
_BINS = 20
_SMOOTHING = 10.0


@dataclass(frozen=True)
class Finding:
    """One column the checks flagged, what they found and what happens to it."""

    column: str
    check: str  # "separation" | "after_the_fact_name" | "after_the_fact_time" | "identifier"
    action: str  # "stop" | "drop"
    reason: str
    auc: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _codes(values: np.ndarray, numeric: bool) -> np.ndarray:
    """Small integer codes: categories as they are, numbers in quantile bins; missing its own."""
    out = np.full(len(values), -1.0)
    known = ~np.isnan(values)
    if numeric and known.any():
        edges = np.unique(np.quantile(values[known], np.linspace(0, 1, _BINS + 1)[1:-1]))
        out[known] = np.searchsorted(edges, values[known], side="right")
    else:
        out[known] = values[known]
    return (out + 1).astype(np.int64)


def single_column_auc(values: np.ndarray, y: np.ndarray, numeric: bool, seed: int = 0) -> float:
    """AUC of one column alone, out of sample: each code's smoothed conversion rate is learned on
    the other folds (so a column of distinct values cannot rank by memorising them)."""
    codes = _codes(values, numeric)
    size = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for cls in (0, 1):  # stratified: each fold gets its share of converted leads
        rows = np.flatnonzero(y == cls)
        fold[rows] = rng.permutation(len(rows)) % _FOLDS
    score = np.empty(len(y))
    for k in range(_FOLDS):
        test = fold == k
        learn = ~test
        prior = y[learn].mean()
        hits = np.bincount(codes[learn], weights=y[learn], minlength=size)
        counts = np.bincount(codes[learn], minlength=size)
        rate = (hits + prior * _SMOOTHING) / (counts + _SMOOTHING)
        score[test] = rate[codes[test]]
    return roc_auc(y, score)


def _name_words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return {w for w in re.split(r"[^0-9a-z]+", spaced.casefold()) if w}


def _is_identifier(values: np.ndarray) -> str | None:
    known = values[~np.isnan(values)]
    if len(known) <= 50 or len(np.unique(known)) != len(known) or not np.all(np.mod(known, 1) == 0):
        return None
    span = float(known.max() - known.min()) + 1
    kind = "sequential" if span <= 10 * len(known) else "random"
    return (f"looks like a {kind} id (every one of {len(known):,} values a distinct whole number); "
            "ids encode when a lead arrived and leak how it was then worked")


def _after_outcome_share(table: pa.Table, column: str, y: np.ndarray, outcome_times: np.ndarray
                         ) -> tuple[float, int]:
    values = column_values(table, column)
    stamps = np.array([np.nan if (w := _when(v)) is None else w.timestamp() for v in values])
    judged = (y == 1) & ~np.isnan(stamps) & ~np.isnan(outcome_times)
    if not judged.any():
        return 0.0, 0
    return float(np.mean(stamps[judged] >= outcome_times[judged] - 60)), int(judged.sum())


def check_leaks(schema: FeatureSchema, x: np.ndarray, y: np.ndarray, table: pa.Table, *,
                allow: tuple[str, ...] | list[str] = (), outcome_times: np.ndarray | None = None,
                seed: int = 0) -> list[Finding]:
    """Every flagged column of ``schema`` (features as encoded in ``x``), one finding each,
    the most serious first. Columns in ``allow`` are not checked."""
    findings: dict[str, Finding] = {}
    order = {"stop": 0, "drop": 1}

    def flag(f: Finding) -> None:
        old = findings.get(f.column)
        if old is None or order[f.action] < order[old.action]:
            findings[f.column] = f

    for j, feat in enumerate(schema.features):
        column = feat.column
        if column in allow:
            continue
        words = _name_words(column) & AFTER_THE_FACT_WORDS
        if words:
            flag(Finding(column, "after_the_fact_name", "drop",
                         f"its name ({', '.join(sorted(words))}) suggests it is set once the outcome "
                         "is known"))
        if feat.is_numeric and not feat.derived and (why := _is_identifier(x[:, j])):
            flag(Finding(column, "identifier", "drop", why))
            continue
        auc = single_column_auc(x[:, j], y, feat.is_numeric, seed)
        if auc >= STOP_AUC:
            flag(Finding(column, "separation", "stop",
                         f"alone it separates the outcome almost perfectly (AUC {auc:.3f} out of sample): "
                         "a copy of the outcome, or written after it", auc))
        elif auc >= SUSPECT_AUC:
            flag(Finding(column, "separation", "drop",
                         f"alone it ranks the outcome with AUC {auc:.3f} (out of sample), more than a fact "
                         "known before the outcome usually does", auc))
        if outcome_times is not None and feat.derived and feat.part == "month":
            share, judged = _after_outcome_share(table, column, y, outcome_times)
            if judged >= MIN_TIMED and share >= AFTER_SHARE:
                flag(Finding(column, "after_the_fact_time", "stop",
                             f"for {share:.0%} of the {judged:,} converted leads with a known outcome time "
                             "its date is on or after the outcome"))
    return sorted(findings.values(), key=lambda f: (order[f.action], f.column))


def outcome_times_of(table: pa.Table, column: str) -> np.ndarray:
    """Outcome times from a column of the table (NaN where unknown)."""
    return parse_times(table, column)
