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
    """A boolean NumPy array: which rows of ``column`` satisfy the condition.

    Works chunk by chunk (chunks may carry different dictionaries; unifying them is costly).
    """
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 0:
            return np.zeros(len(column), dtype=bool)
        cache: dict[Any, bool] = {}
        return np.concatenate([_array_matches(cond, chunk, cache) for chunk in column.chunks])
    return _array_matches(cond, column, {})


def _array_matches(cond: Condition, column: pa.Array, cache: dict[Any, bool]) -> np.ndarray:
    n = len(column)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if cond.op in _NUMERIC_OPS and (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return _numeric(cond, values)
    if not pa.types.is_dictionary(column.type):
        vectorised = _text_vectorised(cond, column)
        if vectorised is not None:
            return vectorised
        column = pc.dictionary_encode(column)
    assert isinstance(column, pa.DictionaryArray)
    per_value = np.fromiter((_cached(cond, v, cache) for v in column.dictionary.to_pylist()),
                            dtype=bool, count=len(column.dictionary))
    per_value = np.append(per_value, matches(cond, None))  # last slot: null
    indices = column.indices
    codes = indices.fill_null(len(per_value) - 1) if indices.null_count else indices
    return per_value[codes.to_numpy()]


def _cached(cond: Condition, value: Any, cache: dict[Any, bool]) -> bool:
    try:
        return cache[value]
    except KeyError:
        cache[value] = result = matches(cond, value)
        return result
    except TypeError:  # unhashable
        return matches(cond, value)


_GLOB_SPECIAL = re.compile(r"[\[\]]")


def _text_vectorised(cond: Condition, column: pa.Array) -> np.ndarray | None:
    """Arrow kernels for text operators on a plain string column (many distinct values, e.g.
    e-mails). Same answers as :func:`matches`; returns None where it cannot promise that (then
    the caller evaluates each distinct value in Python)."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return None
    if pc.all(pc.string_is_ascii(column)).as_py() not in (True, None):
        return None  # Python and Arrow agree on case and character classes for ASCII only
    op, target = cond.op, cond.value
    trimmed = pc.utf8_trim_whitespace(column)
    present = pc.fill_null(pc.not_equal(trimmed, ""), False)
    if op == "exists":
        result = present if target else pc.invert(present)
        return np.asarray(result.to_numpy(zero_copy_only=False), dtype=bool)
    text = pc.utf8_lower(trimmed)
    if op in ("equals", "not_equals", "in", "not_in"):
        targets = target if isinstance(target, list) else [target]
        if any(not isinstance(t, str) or not t.isascii() for t in targets):
            return None  # numbers compare as numbers: left to the per-value path
        hit = pc.is_in(text, value_set=pa.array([_text(t) for t in targets]))
        if op in ("not_equals", "not_in"):
            hit = pc.invert(hit)
    elif op == "contains":
        if not str(target).isascii():
            return None
        hit = pc.match_substring(text, _text(target))
    elif op == "glob":
        pattern = str(target)
        if _GLOB_SPECIAL.search(pattern) or not pattern.isascii():
            return None
        parts = (".".join(re.escape(p) for p in star.split("?")) for star in pattern.lower().split("*"))
        regex = "^" + ".*".join(parts) + "$"
        try:
            hit = pc.match_substring_regex(text, "(?s)" + regex)
        except pa.ArrowInvalid:
            return None
    elif op == "regex":
        if not str(target).isascii():
            return None
        try:
            hit = pc.match_substring_regex(column, str(target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None  # not RE2 syntax (look-arounds, back-references): Python path
    else:
        return None
    result = pc.and_(present, pc.fill_null(hit, False))
    return np.asarray(result.to_numpy(zero_copy_only=False), dtype=bool)


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
