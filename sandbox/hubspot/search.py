"""``POST /crm/v3/objects/{objectType}/search``: request validation and execution.

Limits, per https://developers.hubspot.com/docs/api/crm/search and the changelog "Expanded
filtering capabilities" (Aug 2024): at most 5 filterGroups, 10 filters per group, 25 filters in
all; ``limit`` at most 200; a query cannot page past 10,000 results (HTTP 400). Filter groups
are ORed, filters in a group ANDed. ``after`` is an offset into the result list.

Queries sorted by the last-modified date (the incremental-sync query) or by id, with one filter
group, are answered from the store's indexes: counting the total is a bisect, and only the page
asked for is materialised. Anything else scans the records of the type.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.hubspot.errors import validation
from sandbox.hubspot.schema import parse_time_ms
from sandbox.hubspot.store import ObjectStore, Record

__all__ = ["MAX_RESULTS", "Filter", "SearchRequest", "execute", "parse_request"]

MAX_LIMIT = 200
MAX_RESULTS = 10_000
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
OPERATORS = frozenset({
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
    "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
})
_RANGE_OPS = frozenset({"EQ", "GT", "GTE", "LT", "LTE", "BETWEEN"})

#: Property kind for comparisons: "number" | "datetime" | "string".
KindOf = Callable[[str], str]


@dataclass
class Filter:
    prop: str
    op: str
    value: Any = None
    high: Any = None
    values: list[Any] = field(default_factory=list)


@dataclass
class SearchRequest:
    groups: list[list[Filter]]
    sort: tuple[str, bool] | None  # (property, descending)
    properties: list[str]
    limit: int
    after: int
    query: str | None


def parse_request(body: Any) -> SearchRequest:
    if not isinstance(body, dict):
        raise validation("Invalid input JSON: the search request body must be a JSON object")
    raw_groups = body.get("filterGroups") or []
    if len(raw_groups) > MAX_GROUPS:
        raise validation(f"Too many filter groups ({len(raw_groups)}). "
                         f"The maximum number of filter groups is {MAX_GROUPS}.")
    groups: list[list[Filter]] = []
    total = 0
    for g in raw_groups:
        raw_filters = (g or {}).get("filters") or []
        if len(raw_filters) > MAX_FILTERS_PER_GROUP:
            raise validation(f"Too many filters in a filter group ({len(raw_filters)}). The "
                             f"maximum number of filters per group is {MAX_FILTERS_PER_GROUP}.")
        total += len(raw_filters)
        groups.append([_parse_filter(f) for f in raw_filters])
    if total > MAX_FILTERS:
        raise validation(f"Too many filters ({total}). The maximum number of filters in a "
                         f"request is {MAX_FILTERS}.")
    limit = _int(body.get("limit", 10), "limit")
    if limit < 0 or limit > MAX_LIMIT:
        raise validation(f"limit must be between 0 and {MAX_LIMIT}, was {limit}")
    after = _int(body.get("after") or 0, "after")
    if after < 0 or after >= MAX_RESULTS:
        raise validation(f"Search results are limited to {MAX_RESULTS} results; cannot page to "
                         f"after={after}. Narrow the query (for example by the last value seen) "
                         f"and start again.")
    sort = None
    sorts = body.get("sorts") or []
    if sorts:
        first = sorts[0]
        if isinstance(first, str):
            sort = (first.lstrip("-"), first.startswith("-"))
        else:
            direction = str(first.get("direction", "ASCENDING")).upper()
            if direction not in ("ASCENDING", "DESCENDING"):
                raise validation(f"Invalid sort direction {direction!r}")
            sort = (str(first.get("propertyName")), direction == "DESCENDING")
    return SearchRequest(groups, sort, list(body.get("properties") or []), limit, after,
                         body.get("query") or None)


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise validation(f"{name} must be an integer, was {value!r}") from None


def _parse_filter(raw: Any) -> Filter:
    if not isinstance(raw, dict) or not raw.get("propertyName"):
        raise validation(f"Invalid filter {raw!r}: propertyName is required")
    op = str(raw.get("operator", "EQ")).upper()
    if op not in OPERATORS:
        raise validation(f"Invalid filter operator {op!r} for property "
                         f"{raw['propertyName']!r}; expected one of {sorted(OPERATORS)}")
    f = Filter(str(raw["propertyName"]), op, raw.get("value"), raw.get("highValue"),
               list(raw.get("values") or []))
    if op in ("IN", "NOT_IN") and not f.values:
        raise validation(f"Filter {op} on {f.prop!r} needs a non-empty values list")
    if op == "BETWEEN" and (f.value is None or f.high is None):
        raise validation(f"Filter BETWEEN on {f.prop!r} needs value and highValue")
    if op not in ("IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY") and f.value is None:
        raise validation(f"Filter {op} on {f.prop!r} needs a value")
    return f


# -- matching ------------------------------------------------------------------------------


def _coerce(kind: str, value: Any, prop: str) -> Any:
    if kind == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise validation(f"{value!r} is not a valid number for property {prop!r}") from None
    if kind == "datetime":
        ms = parse_time_ms(value)
        if ms is None:
            raise validation(f"{value!r} is not a valid datetime for property {prop!r}; send "
                             f"epoch milliseconds or an ISO 8601 string")
        return ms
    return str(value).lower()


def _record_value(kind: str, raw: str | None) -> Any:
    if raw is None:
        return None
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return None
    if kind == "datetime":
        return parse_time_ms(raw)
    return raw.lower()


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^\w@.\-]+", text.lower()) if t]


def compile_filter(f: Filter, kind_of: KindOf, store: ObjectStore) -> Callable[[Record], bool]:
    kind = kind_of(f.prop)
    type_ = store.type
    op = f.op
    if op == "HAS_PROPERTY":
        return lambda r: r.value(type_, f.prop) is not None
    if op == "NOT_HAS_PROPERTY":
        return lambda r: r.value(type_, f.prop) is None
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = str(f.value).lower()
        want = op == "CONTAINS_TOKEN"

        def contains(r: Record) -> bool:
            raw = r.value(type_, f.prop)
            hit = raw is not None and (
                any(fnmatch.fnmatchcase(t, pattern) for t in _tokens(raw))
                or fnmatch.fnmatchcase(raw.lower(), pattern))
            return hit == want
        return contains
    if op in ("IN", "NOT_IN"):
        wanted = {_coerce(kind, v, f.prop) for v in f.values}
        negate = op == "NOT_IN"
        return lambda r: (_record_value(kind, r.value(type_, f.prop)) in wanted) != negate
    lo = _coerce(kind, f.value, f.prop)
    hi = _coerce(kind, f.high, f.prop) if op == "BETWEEN" else None

    def compare(r: Record) -> bool:
        v = _record_value(kind, r.value(type_, f.prop))
        if v is None:
            return op == "NEQ"
        if op == "EQ":
            return bool(v == lo)
        if op == "NEQ":
            return bool(v != lo)
        if op == "LT":
            return bool(v < lo)
        if op == "LTE":
            return bool(v <= lo)
        if op == "GT":
            return bool(v > lo)
        if op == "GTE":
            return bool(v >= lo)
        return bool(lo <= v <= hi)  # BETWEEN
    return compare


def _query_matcher(query: str, store: ObjectStore) -> Callable[[Record], bool]:
    needle = query.lower().strip()
    props = store.type.query_properties

    def match(r: Record) -> bool:
        for p in props:
            raw = r.props.get(p)
            if raw and any(t.startswith(needle) for t in [raw.lower(), *_tokens(raw)]):
                return True
        return False
    return match


# -- execution -----------------------------------------------------------------------------


def execute(store: ObjectStore, req: SearchRequest, kind_of: KindOf) -> tuple[int, list[Record]]:
    """(total matches, the page of records) for a validated request."""
    type_ = store.type
    sort_prop, desc = req.sort or ("hs_object_id", False)
    start, stop = req.after, min(req.after + req.limit, MAX_RESULTS)
    query = _query_matcher(req.query, store) if req.query else None
    pinned = _pinned_ids(store, req.groups)
    if pinned is None and len(req.groups) <= 1 and sort_prop in (type_.modified_property,
                                                                   "hs_object_id"):
        group = req.groups[0] if req.groups else []
        bounds, rest = _split_range(group, sort_prop, kind_of)
        if bounds is None:
            return 0, []
        (lo, lo_inc), (hi, hi_inc) = bounds
        if sort_prop == "hs_object_id":
            ids: Iterable[int] = _id_range(store, lo, lo_inc, hi, hi_inc, desc)
        else:
            ids = store.modified_range(lo, hi, lo_inc, hi_inc, reverse=desc)
        preds = [compile_filter(f, kind_of, store) for f in rest]
        if query is not None:
            preds.append(query)
        if not preds:
            if sort_prop == "hs_object_id":
                total = _count_id_range(store, lo, lo_inc, hi, hi_inc)
            else:
                total = store.count_modified_range(lo, hi, lo_inc, hi_inc)
            page = [store.records[i] for i in itertools.islice(ids, start, stop)]
            return total, page
        return _scan((store.records[i] for i in ids), preds, start, stop)
    # General case: scan the candidates (every live record, unless each group pins a unique
    # property such as email with EQ/IN), then sort the matches.
    group_preds = [[compile_filter(f, kind_of, store) for f in g] for g in req.groups]

    def matches(r: Record) -> bool:
        if query is not None and not query(r):
            return False
        return not group_preds or any(all(p(r) for p in g) for g in group_preds)

    candidates = pinned if pinned is not None else store.ids_from(0)
    hits = [store.records[i] for i in candidates if matches(store.records[i])]
    kind = kind_of(sort_prop)

    def sort_key(r: Record) -> tuple[int, Any, int]:
        v = _record_value(kind, r.value(type_, sort_prop))
        return (1, 0, r.id) if v is None else (0, v, r.id)
    hits.sort(key=sort_key, reverse=desc)
    return len(hits), hits[start:stop]


def _pinned_ids(store: ObjectStore, groups: list[list[Filter]]) -> list[int] | None:
    """Ids a lookup by a unique property (or id) narrows every group to; None to scan."""
    if not groups:
        return None
    ids: set[int] = set()
    for group in groups:
        pin = next((f for f in group if f.op in ("EQ", "IN") and (
            f.prop in store.type.unique_properties or f.prop == "hs_object_id")), None)
        if pin is None:
            return None
        for value in (pin.values if pin.op == "IN" else [pin.value]):
            if pin.prop == "hs_object_id":
                text = str(value)
                rec = store.get(int(text)) if text.isdigit() else None
            else:
                rec = store.find_unique(pin.prop, str(value))
            if rec is not None:
                ids.add(rec.id)
    return sorted(ids)


def _scan(records: Iterator[Record], preds: list[Callable[[Record], bool]], start: int,
          stop: int) -> tuple[int, list[Record]]:
    total = 0
    page: list[Record] = []
    for r in records:
        if all(p(r) for p in preds):
            if start <= total < stop:
                page.append(r)
            total += 1
    return total, page


Bound = tuple[Any, bool]


def _split_range(group: list[Filter], prop: str, kind_of: KindOf
                 ) -> tuple[tuple[Bound, Bound] | None, list[Filter]]:
    """Fold range filters on ``prop`` into (low, high) bounds; return the other filters.

    Bounds are ``None`` (the whole tuple) when the range is empty.
    """
    kind = "number" if prop == "hs_object_id" else kind_of(prop)
    lo: Bound = (None, True)
    hi: Bound = (None, True)
    rest = []
    for f in group:
        if f.prop != prop or f.op not in _RANGE_OPS:
            rest.append(f)
            continue
        v = _coerce(kind, f.value, f.prop)
        v = int(v) if kind == "number" else v
        if f.op in ("GT", "GTE", "EQ", "BETWEEN"):
            inc = f.op != "GT"
            if lo[0] is None or v > lo[0] or (v == lo[0] and not inc):
                lo = (v, inc)
        if f.op in ("LT", "LTE", "EQ", "BETWEEN"):
            hv = v if f.op != "BETWEEN" else _coerce(kind, f.high, f.prop)
            hv = int(hv) if kind == "number" else hv
            inc = f.op != "LT"
            if hi[0] is None or hv < hi[0] or (hv == hi[0] and not inc):
                hi = (hv, inc)
    if lo[0] is not None and hi[0] is not None and (
            lo[0] > hi[0] or (lo[0] == hi[0] and not (lo[1] and hi[1]))):
        return None, rest
    return (lo, hi), rest


def _id_bounds(store: ObjectStore, lo: Any, lo_inc: bool, hi: Any, hi_inc: bool
               ) -> tuple[int, int]:
    import bisect

    order = store.order
    i = 0 if lo is None else (bisect.bisect_left(order, lo) if lo_inc
                              else bisect.bisect_right(order, lo))
    j = len(order) if hi is None else (bisect.bisect_right(order, hi) if hi_inc
                                       else bisect.bisect_left(order, hi))
    return i, max(i, j)


def _id_range(store: ObjectStore, lo: Any, lo_inc: bool, hi: Any, hi_inc: bool,
              desc: bool) -> Iterator[int]:
    i, j = _id_bounds(store, lo, lo_inc, hi, hi_inc)
    steps = range(j - 1, i - 1, -1) if desc else range(i, j)
    for k in steps:
        id_ = store.order[k]
        if not store.records[id_].archived:
            yield id_


def _count_id_range(store: ObjectStore, lo: Any, lo_inc: bool, hi: Any, hi_inc: bool) -> int:
    """Live ids in the range (archived ones keep their place in ``order`` but do not count)."""
    i, j = _id_bounds(store, lo, lo_inc, hi, hi_inc)
    if i >= j:
        return 0
    return j - i - store.count_archived_between(store.order[i], store.order[j - 1])
