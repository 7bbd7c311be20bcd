"""From a plain table to the numbers a learner needs: the target, feature kinds, codes.

CRM exports arrive as text (CSV columns are read as strings), with placeholders for blanks
("Select", "N/A", "-") and the same category spelt several ways ("Google", "google "). An admin
should not have to clean that up before training, so this module decides, from the training
table alone, which columns are numbers and which are categories, treats the placeholders as
missing, folds case and spaces, and lumps categories too rare to learn from into one "other"
code. The decisions are stored in a :class:`FeatureSchema` so that scoring a new table later
applies exactly the same ones.

Everything here is pure: tables in, NumPy arrays and dataclasses out.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import LeadscoreError

__all__ = [
    "DataError",
    "Feature",
    "FeatureSchema",
    "MISSING_TOKENS",
    "column_values",
    "infer_schema",
    "encode",
    "parse_target",
    "parse_times",
    "reference_row",
]

#: Text that means "no answer" in CRM exports and web forms (compared after strip + casefold).
MISSING_TOKENS = frozenset({"", "select", "-", "--", "?", "n/a", "na", "nan", "null", "none",
                            "(blank)", "not provided", "unknown"})
_TRUE = frozenset({"1", "1.0", "yes", "y", "true", "t", "won", "closed won", "converted"})
_FALSE = frozenset({"0", "0.0", "no", "n", "false", "f", "lost", "closed lost", "not converted"})
#: A text column is numeric when at least this share of its non-missing values parse as numbers.
NUMERIC_SHARE = 0.98
#: Categories seen fewer times than this in training are coded as "other".
MIN_CATEGORY_COUNT = 5
#: At most this many categories per column are kept (the most frequent); the rest are "other".
MAX_CATEGORIES = 250
OTHER = "(other)"


class DataError(LeadscoreError):
    """The training or scoring table cannot be used as it is (missing column, bad target...)."""


@dataclass(frozen=True)
class Feature:
    """One input column and how it is coded.

    ``categories`` holds the folded category keys (code = position); ``labels`` the spelling
    most often seen for each, which is what a scorecard shows an admin. A code equal to
    ``len(categories)`` means "other" (rare or unseen); NaN means missing.
    """

    name: str
    kind: str  # "numeric" | "categorical"
    categories: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    missing_share: float = 0.0
    #: placeholder spellings seen in training ("Select", "N/A"...), read as missing
    placeholders: tuple[str, ...] = ()

    @property
    def is_numeric(self) -> bool:
        return self.kind == "numeric"


@dataclass(frozen=True)
class FeatureSchema:
    """The columns a model reads, in order, and how each one is coded."""

    target: str
    features: tuple[Feature, ...]
    dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_mask(self) -> list[bool]:
        return [not f.is_numeric for f in self.features]


def _fold(value: Any) -> str | None:
    """The comparison key of one raw value, or None when it means "missing"."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    key = " ".join(str(value).split()).casefold()
    return None if key in MISSING_TOKENS else key


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    text = str(value).strip().replace(",", "")
    if _fold(text) is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def column_values(table: pa.Table, name: str) -> list[Any]:
    """A column as Python values, or a :class:`DataError` naming the columns that do exist."""
    if name not in table.column_names:
        raise DataError(f"column '{name}' is not in the table; its columns are: "
                        + ", ".join(repr(c) for c in table.column_names))
    return table.column(name).to_pylist()


def parse_target(table: pa.Table, target: str) -> np.ndarray:
    """The target as 0/1 integers. Accepts 0/1, yes/no, true/false, won/lost (any case).

    Rows with a missing target are an error rather than silently dropped: the caller should
    decide whether an open lead counts as "not converted".
    """
    values = column_values(table, target)
    out = np.empty(len(values), dtype=np.int8)
    seen: Counter[str] = Counter()
    bad_rows: list[int] = []
    for i, v in enumerate(values):
        key = _fold(v)
        if key in _TRUE:
            out[i] = 1
        elif key in _FALSE:
            out[i] = 0
        else:
            seen[repr(v)] += 1
            bad_rows.append(i + 1)
    if bad_rows:
        examples = ", ".join(f"{k} ×{n}" for k, n in seen.most_common(5))
        raise DataError(
            f"target column '{target}' must be binary (0/1, yes/no, true/false); "
            f"{len(bad_rows)} row(s) are not, e.g. rows {bad_rows[:5]}; values seen: {examples}")
    if out.min(initial=1) == out.max(initial=0):
        only = "1" if len(out) and out[0] == 1 else "0"
        raise DataError(f"target column '{target}' has only one class ({only}) in {len(out)} "
                        "rows; a model needs both converted and unconverted leads")
    return out.astype(np.int64)


def parse_times(table: pa.Table, column: str) -> np.ndarray:
    """A time column as float seconds (NaN when missing) so rows can be put in time order.

    Accepts timestamps, dates, ISO-8601 text and plain numbers (e.g. epoch seconds).
    """
    values = column_values(table, column)
    col = table.column(column)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        ts = pc.cast(col, pa.timestamp("s")) if pa.types.is_date(col.type) else col
        return np.array([np.nan if v is None else v.timestamp() for v in ts.to_pylist()])
    numbers = [_number(v) for v in values]
    if all(x is not None or _fold(v) is None for x, v in zip(numbers, values, strict=True)):
        return np.array([np.nan if x is None else x for x in numbers], dtype=float)
    out = np.full(len(values), np.nan)
    bad = 0
    for i, v in enumerate(values):
        if _fold(v) is None:
            continue
        try:
            when = datetime.fromisoformat(str(v).strip().replace("Z", "+00:00"))
        except ValueError:
            bad += 1
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        out[i] = when.timestamp()
    if bad:
        raise DataError(f"time column '{column}': {bad} value(s) are neither ISO-8601 dates "
                        "nor numbers")
    return out


def infer_schema(table: pa.Table, target: str, drop: tuple[str, ...] | list[str] = ()) -> FeatureSchema:
    """Decide each column's kind and categories from the training table.

    Columns that cannot help are left out and said so in ``notes``: constant columns and
    identifier-like columns (every value distinct and not numeric).
    """
    column_values(table, target)
    unknown = [d for d in drop if d not in table.column_names]
    if unknown:
        raise DataError(f"--drop names column(s) not in the table: {unknown}; its columns are: "
                        + ", ".join(repr(c) for c in table.column_names))
    features: list[Feature] = []
    notes: list[str] = []
    n = table.num_rows
    for name in table.column_names:
        if name == target or name in drop:
            continue
        values = table.column(name).to_pylist()
        keys = [_fold(v) for v in values]
        present = [k for k in keys if k is not None]
        missing_share = 1 - len(present) / n if n else 0.0
        placeholders = tuple(sorted({" ".join(str(v).split()) for v, k in zip(values, keys, strict=True)
                                     if k is None and v is not None and str(v).strip()}))
        if not present:
            notes.append(f"'{name}' left out: always missing")
            continue
        numbers = [_number(v) for v, k in zip(values, keys, strict=True) if k is not None]
        parsed = sum(x is not None for x in numbers)
        distinct = Counter(present)
        if len(distinct) == 1:
            notes.append(f"'{name}' left out: always '{present[0]}'")
            continue
        if parsed >= NUMERIC_SHARE * len(present) and len(distinct) > 2:
            features.append(Feature(name, "numeric", missing_share=missing_share,
                                    placeholders=placeholders))
            if len(distinct) == len(present) > 50 and all(
                    x is not None and float(x).is_integer() for x in numbers):
                notes.append(f"'{name}' kept but looks like a sequential id (every value a "
                             "distinct whole number); if it is one, leave it out with --drop: "
                             "ids often encode time and leak the outcome")
            continue
        if len(distinct) > 0.9 * len(present) and len(present) > 50:
            notes.append(f"'{name}' left out: looks like an identifier "
                         f"({len(distinct)} distinct values in {len(present)} rows)")
            continue
        frequent = [k for k, c in distinct.most_common(MAX_CATEGORIES) if c >= MIN_CATEGORY_COUNT]
        kept = sorted(frequent)
        spellings: dict[str, Counter[str]] = {}
        for v, k in zip(values, keys, strict=True):
            if k is not None:
                spellings.setdefault(k, Counter())[" ".join(str(v).split())] += 1
        labels = tuple(spellings[k].most_common(1)[0][0] for k in kept)
        features.append(Feature(name, "categorical", tuple(kept), labels, missing_share,
                                placeholders))
    if not features:
        raise DataError("no usable feature columns are left after dropping "
                        f"{[target, *drop]}; the table has: {table.column_names}")
    return FeatureSchema(target, tuple(features), tuple(drop), tuple(notes))


def encode(schema: FeatureSchema, table: pa.Table) -> np.ndarray:
    """A float matrix, one column per feature: numbers as numbers, categories as codes, NaN
    for missing. A column the schema needs but the table lacks is an error; extra columns
    are ignored."""
    missing = [f.name for f in schema.features if f.name not in table.column_names]
    if missing:
        raise DataError(f"the table lacks column(s) the model was trained on: {missing}; "
                        "its columns are: " + ", ".join(repr(c) for c in table.column_names))
    out = np.full((table.num_rows, len(schema.features)), np.nan)
    for j, feat in enumerate(schema.features):
        values = table.column(feat.name).to_pylist()
        if feat.is_numeric:
            out[:, j] = [np.nan if (x := _number(v)) is None else x for v in values]
        else:
            index = {k: i for i, k in enumerate(feat.categories)}
            other = len(feat.categories)
            out[:, j] = [np.nan if (k := _fold(v)) is None else index.get(k, other)
                         for v in values]
    return out


def reference_row(schema: FeatureSchema, x: np.ndarray) -> np.ndarray:
    """The "typical lead": each numeric field's median, each categorical field's mode."""
    ref = np.full(x.shape[1], np.nan)
    for j, feat in enumerate(schema.features):
        col = x[:, j][~np.isnan(x[:, j])]
        if not len(col):
            continue
        if feat.is_numeric:
            ref[j] = float(np.median(col))
        else:
            values, counts = np.unique(col, return_counts=True)
            ref[j] = values[np.argmax(counts)]
    return ref
