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
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError

__all__ = [
    "DataError",
    "Feature",
    "FeatureSchema",
    "MISSING_TOKENS",
    "column_values",
    "infer_schema",
    "encode",
    "feature_values",
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


@dataclass(frozen=True)
class Feature:
    """One input column (or one part of a date column) and how it is coded.

    ``categories`` holds the folded category keys (code = position); ``labels`` the spelling
    most often seen for each, which is what a scorecard shows an admin, and ``spellings`` every
    spelling seen for each (trimmed, inner spaces as typed), which is what a scorecard's rules
    compare: the engine folds case and the ends of a text, not the spaces inside it. A code
    equal to ``len(categories)`` means "other" (rare or unseen); NaN means missing.

    A feature derived from a date column has ``source`` (the column) and ``part``: ``month``,
    ``weekday`` (categories) or ``age_days`` (days from the date to the row's ``anchor`` time
    column, or to ``reference``, the latest date seen in training, when there is no anchor).
    """

    name: str
    kind: str  # "numeric" | "categorical"
    categories: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    missing_share: float = 0.0
    #: placeholder spellings seen in training ("Select", "N/A"...), read as missing
    placeholders: tuple[str, ...] = ()
    spellings: tuple[tuple[str, ...], ...] = ()
    source: str | None = None
    part: str | None = None
    anchor: str | None = None
    reference: float = math.nan

    @property
    def is_numeric(self) -> bool:
        return self.kind == "numeric"

    @property
    def column(self) -> str:
        """The table column this feature reads."""
        return self.source or self.name

    @property
    def derived(self) -> bool:
        return self.source is not None


@dataclass(frozen=True)
class FeatureSchema:
    """The columns a model reads, in order, and how each one is coded."""

    target: str
    features: tuple[Feature, ...]
    dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: (column, reason) of every column left out on its own (constant, always missing, identifier)
    left_out: tuple[tuple[str, str], ...] = ()

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_mask(self) -> list[bool]:
        return [not f.is_numeric for f in self.features]

    @property
    def columns(self) -> list[str]:
        """The table columns the features read (a date column once for its parts)."""
        return list(dict.fromkeys(f.column for f in self.features))


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
                        + ", ".join(repr(c) for c in table.column_names), name)
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
            f"{len(bad_rows)} row(s) are not, e.g. rows {bad_rows[:5]}; values seen: {examples}", target)
    if out.min(initial=1) == out.max(initial=0):
        only = "1" if len(out) and out[0] == 1 else "0"
        raise DataError(f"target column '{target}' has only one class ({only}) in {len(out)} "
                        "rows; a model needs both converted and unconverted leads", target)
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
                        "nor numbers", column)
    return out


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DATE_PARTS = ("month", "weekday", "age_days")


def _when(value: Any) -> datetime | None:
    """A date or ISO-8601 text as an aware datetime; None when it is neither."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if not isinstance(value, str) or len(value.strip()) < 8 or not value.strip()[:4].isdigit():
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _spelling(value: Any) -> str:
    """How a scorecard rule spells a value: text trimmed (inner spaces as typed), numbers as text."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _categorical(name: str, values: list[Any], keys: list[str | None], missing_share: float,
                 placeholders: tuple[str, ...], **derived: Any) -> Feature:
    distinct = Counter(k for k in keys if k is not None)
    frequent = [k for k, c in distinct.most_common(MAX_CATEGORIES) if c >= MIN_CATEGORY_COUNT]
    kept = sorted(frequent)
    labels: dict[str, Counter[str]] = {}
    spellings: dict[str, dict[str, str]] = {}
    for v, k in zip(values, keys, strict=True):
        if k is not None:
            labels.setdefault(k, Counter())[" ".join(str(v).split())] += 1
            spellings.setdefault(k, {}).setdefault(_spelling(v).casefold(), _spelling(v))
    return Feature(name, "categorical", tuple(kept), tuple(labels[k].most_common(1)[0][0] for k in kept),
                   missing_share, placeholders, tuple(tuple(sorted(spellings[k].values())) for k in kept),
                   **derived)


def _date_part(part: str, when: list[datetime | None], anchor: list[float] | None,
               reference: float) -> list[Any]:
    """One part of a date column, row by row (None when the date or its anchor is missing)."""
    if part == "month":
        return [None if w is None else _MONTHS[w.month - 1] for w in when]
    if part == "weekday":
        return [None if w is None else _WEEKDAYS[w.weekday()] for w in when]
    out: list[float | None] = []
    for i, w in enumerate(when):
        base = reference if anchor is None else anchor[i]
        out.append(None if w is None or base != base else round((base - w.timestamp()) / 86_400, 3))
    return out


def _anchor_times(table: pa.Table, anchor: str | None) -> list[float] | None:
    return None if anchor is None else parse_times(table, anchor).tolist()


def infer_schema(table: pa.Table, target: str, drop: tuple[str, ...] | list[str] = (),
                 time_column: str | None = None) -> FeatureSchema:
    """Decide each column's kind and categories from the training table.

    Columns that cannot help are left out and said so in ``notes``: constant columns and
    identifier-like columns (every value distinct and not numeric). A date column (ISO-8601
    text or a date type) becomes its month, weekday and age in days (to ``time_column``, the
    lead's own time, when there is one); ``time_column`` itself orders the validation and is
    not a feature.
    """
    column_values(table, target)
    unknown = [d for d in drop if d not in table.column_names]
    if unknown:
        raise DataError(f"--drop names column(s) not in the table: {unknown}; its columns are: "
                        + ", ".join(repr(c) for c in table.column_names), unknown[0])
    features: list[Feature] = []
    notes: list[str] = []
    left_out: list[tuple[str, str]] = []
    n = table.num_rows

    def leave(name: str, reason: str) -> None:
        notes.append(f"'{name}' left out: {reason}")
        left_out.append((name, reason))

    for name in table.column_names:
        if name in (target, time_column) or name in drop:
            continue
        values = table.column(name).to_pylist()
        keys = [_fold(v) for v in values]
        present = [k for k in keys if k is not None]
        missing_share = 1 - len(present) / n if n else 0.0
        placeholders = tuple(sorted({_spelling(v) for v, k in zip(values, keys, strict=True)
                                     if k is None and v is not None and str(v).strip()}))
        if not present:
            leave(name, "always missing")
            continue
        numbers = [_number(v) for v, k in zip(values, keys, strict=True) if k is not None]
        parsed = sum(x is not None for x in numbers)
        distinct = Counter(present)
        if len(distinct) == 1:
            leave(name, f"always '{present[0]}'")
            continue
        if parsed >= NUMERIC_SHARE * len(present) and len(distinct) > 2:
            features.append(Feature(name, "numeric", missing_share=missing_share,
                                    placeholders=placeholders))
            continue
        when = [None if k is None else _when(v) for v, k in zip(values, keys, strict=True)]
        if sum(w is not None for w in when) >= NUMERIC_SHARE * len(present):
            features += _date_features(table, name, when, missing_share, placeholders, time_column)
            continue
        if len(distinct) > 0.9 * len(present) and len(present) > 50:
            leave(name, f"looks like an identifier ({len(distinct)} distinct values in "
                        f"{len(present)} rows)")
            continue
        features.append(_categorical(name, values, keys, missing_share, placeholders))
    if not features:
        raise DataError("no usable feature columns are left after dropping "
                        f"{[target, *drop]}; the table has: {table.column_names}")
    return FeatureSchema(target, tuple(features), tuple(drop), tuple(notes), tuple(left_out))


def _date_features(table: pa.Table, name: str, when: list[datetime | None], missing_share: float,
                   placeholders: tuple[str, ...], time_column: str | None) -> list[Feature]:
    stamps = [w.timestamp() for w in when if w is not None]
    reference = max(stamps) if stamps else math.nan
    anchor_times = _anchor_times(table, time_column)
    out: list[Feature] = []
    for part in DATE_PARTS:
        derived: dict[str, Any] = {"source": name, "part": part, "anchor": time_column, "reference": reference}
        parts = _date_part(part, when, anchor_times, reference)
        label = f"{name} ({part.replace('_', ' ')})"
        if part == "age_days":
            if len({p for p in parts if p is not None}) > 2:
                out.append(Feature(label, "numeric", missing_share=missing_share,
                                   placeholders=placeholders, **derived))
            continue
        keys = [None if p is None else str(p) for p in parts]
        if len({k for k in keys if k is not None}) > 1:
            out.append(_categorical(label, parts, keys, missing_share, placeholders, **derived))
    return out


def _raw_column(feat: Feature, table: pa.Table) -> list[Any]:
    values = table.column(feat.column).to_pylist()
    if not feat.derived:
        return values
    when = [_when(v) if _fold(v) is not None else None for v in values]
    anchor = _anchor_times(table, feat.anchor) if feat.anchor in table.column_names else None
    if feat.anchor is not None and anchor is None:
        raise DataError(f"the table lacks column '{feat.anchor}', which the model's feature "
                        f"'{feat.name}' is measured from", feat.anchor)
    return _date_part(str(feat.part), when, anchor, feat.reference)


def feature_values(feat: Feature, table: pa.Table) -> list[Any]:
    """The raw values a feature reads from ``table`` (a date column's part for a derived one)."""
    return _raw_column(feat, table)


def encode(schema: FeatureSchema, table: pa.Table) -> np.ndarray:
    """A float matrix, one column per feature: numbers as numbers, categories as codes, NaN
    for missing. A column the schema needs but the table lacks is an error; extra columns
    are ignored."""
    missing = [c for c in schema.columns if c not in table.column_names]
    if missing:
        raise DataError(f"the table lacks column(s) the model was trained on: {missing}; "
                        "its columns are: " + ", ".join(repr(c) for c in table.column_names),
                        missing[0])
    out = np.full((table.num_rows, len(schema.features)), np.nan)
    for j, feat in enumerate(schema.features):
        values = _raw_column(feat, table)
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
