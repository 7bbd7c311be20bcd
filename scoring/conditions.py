"""Evaluating a :class:`~scoring.model.Condition` on one value or on a whole column.

The rules, shared by both paths:

- A missing value (``None``, NaN or an empty/blank string) matches nothing except ``exists: false``.
- ``equals``/``not_equals``/``in``/``not_in`` compare numbers as numbers when both sides are
  numbers, and otherwise compare text without regard to case.
- ``contains`` and ``glob`` ignore case; ``regex`` is searched as written (add ``(?i)`` to ignore
  case).
- ``gt``/``gte``/``lt``/``lte``/``between`` (inclusive) need a value that reads as a number;
  anything else does not match.

The column path evaluates text operators once per *distinct* value (dictionary encoding) and
numeric operators with NumPy, so its cost grows with rows only through cheap gathers.
"""

from __future__ import annotations

import fnmatch
import math
import re
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .model import Condition

__all__ = ["matches", "column_matches", "is_missing", "as_number"]


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return None if math.isnan(number) else number
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().lower()


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.lower()))


def _equal(value: Any, target: Any) -> bool:
    if isinstance(target, int | float) and not isinstance(target, bool):
        number = as_number(value)
        if number is not None:
            return number == float(target)
    return _text(value) == _text(target)


def matches(cond: Condition, value: Any) -> bool:
    """Does one value satisfy the condition?"""
    op, target = cond.op, cond.value
    if op == "exists":
        return (not is_missing(value)) == target
    if is_missing(value):
        return False
    if op == "equals":
        return _equal(value, target)
    if op == "not_equals":
        return not _equal(value, target)
    if op == "in":
        return any(_equal(value, t) for t in target)
    if op == "not_in":
        return not any(_equal(value, t) for t in target)
    if op == "contains":
        return _text(target) in _text(value)
    if op == "regex":
        return _regex(str(target)).search(str(value)) is not None
    if op == "glob":
        return _glob(str(target)).match(_text(value)) is not None
    number = as_number(value)
    if number is None:
        return False
    if op == "gt":
        return number > target
    if op == "gte":
        return number >= target
    if op == "lt":
        return number < target
    if op == "lte":
        return number <= target
    if op == "between":
        return bool(target[0] <= number <= target[1])
    raise AssertionError(f"operator {op!r} not handled")  # the model validated it


_NUMERIC_OPS = {"gt", "gte", "lt", "lte", "between"}


def column_matches(cond: Condition, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean NumPy array: which rows of ``column`` satisfy the condition."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    n = len(column)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if cond.op in _NUMERIC_OPS and (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return _numeric(cond, values)
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    assert isinstance(column, pa.DictionaryArray)
    distinct = column.dictionary.to_pylist()
    per_value = np.fromiter((matches(cond, v) for v in distinct), dtype=bool, count=len(distinct))
    indices = column.indices
    if indices.null_count:
        codes = indices.fill_null(0).to_numpy()
        out = per_value[codes] if len(per_value) else np.zeros(n, dtype=bool)
        valid = indices.is_valid().to_numpy(zero_copy_only=False)
        return np.where(valid, out, matches(cond, None))
    if not len(per_value):
        return np.zeros(n, dtype=bool)
    return per_value[indices.to_numpy()]


def _numeric(cond: Condition, values: np.ndarray) -> np.ndarray:
    target = cond.value
    with np.errstate(invalid="ignore"):
        if cond.op == "gt":
            return values > target
        if cond.op == "gte":
            return values >= target
        if cond.op == "lt":
            return values < target
        if cond.op == "lte":
            return values <= target
        return (values >= target[0]) & (values <= target[1])
