"""Running parsed SOQL against the org: plan (resolve and type-check), select ids, render.

A query runs in two steps so a million-record tenant pages cheaply: :func:`select_ids` filters
and sorts once and returns the matching ids (a snapshot that becomes the query cursor), and
:func:`render_json` / :func:`render_csv` turn a slice of those ids into records on demand, with
the values current at that moment. Filters on ``SystemModstamp >``/``>=`` start from the
table's modstamp-ordered change log, and ``Id =``/``Id IN`` look rows up directly; anything else
scans the table once.

Semantics follow SOQL: string comparisons and LIKE are case-insensitive, ``!=`` and ``NOT IN``
match nulls, ``<``/``>`` never do, ASC sorts nulls first and DESC nulls last unless told.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .ids import to_18
from .render import csv_cell, json_value
from .schema import NUMERIC_TYPES, FieldDef, ObjectDef
from .soql import (
    And,
    Compare,
    Cond,
    Count,
    FieldRef,
    In,
    Like,
    Literal,
    Not,
    Or,
    OrderItem,
    Query,
    error_at,
    parse,
)
from .store import Org, Row, Table

__all__ = ["Column", "Plan", "plan_query", "render_csv", "render_json", "select_ids"]

_STRINGY = frozenset({"string", "email", "phone", "url", "picklist", "multipicklist",
                      "textarea"})
_IDS = frozenset({"id", "reference"})
_NO_COLUMN = ("No such column '{name}' on entity '{obj}'. If you are attempting to use a custom "
              "field, be sure to append the '__c' after the custom field name. Please reference "
              "your WSDL or the describe call for the appropriate names.")
_NO_RELATION = ("Didn't understand relationship '{rel}' in field path. If you are attempting to "
                "use a custom relationship, be sure to append the '__r' after the custom "
                "relationship name. Please reference your WSDL or the describe call for the "
                "appropriate names.")


@dataclass(frozen=True, slots=True)
class Column:
    """A resolved field path: the field itself, or a parent's field through a reference."""

    ref: FieldRef
    definition: FieldDef
    via: FieldDef | None = None  # the reference field (AccountId) for Account.Name
    targets: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        if self.via is None:
            return self.definition.name
        return f"{self.via.relationship_name}.{self.definition.name}"


@dataclass(slots=True)
class Plan:
    query: Query
    sobject: str
    columns: list[Column]
    count: Count | None
    include_deleted: bool


def _getter(org: Org, table: Table, column: Column) -> Callable[[Row], Any]:
    if column.via is None:
        slot = table.slots[column.definition.name]
        return lambda row: row[slot] if slot < len(row) else None
    via_slot = table.slots[column.via.name]
    name = column.definition.name

    def through(row: Row) -> Any:
        parent_id = row[via_slot] if via_slot < len(row) else None
        found = org.find(parent_id) if parent_id else None
        if found is None:
            return None
        parent_table = org.tables[found[0]]
        return parent_table.value(found[1], name) if name in parent_table.slots else None

    return through


def _resolve(org: Org, obj: ObjectDef, ref: FieldRef, text: str) -> Column:
    if len(ref.path) == 1:
        definition = obj.find(ref.path[0])
        if definition is None:
            raise error_at(text, ref.pos, _NO_COLUMN.format(name=ref.path[0], obj=obj.name),
                           "INVALID_FIELD")
        return Column(ref, definition)
    via = obj.relationship(ref.path[0]) if len(ref.path) == 2 else None
    if via is None:
        raise error_at(text, ref.pos, _NO_RELATION.format(rel=ref.path[0]), "INVALID_FIELD")
    for target in via.reference_to:
        parent = org.object(target)
        definition = parent.find(ref.path[1]) if parent else None
        if definition is not None:
            return Column(ref, definition, via, via.reference_to)
    raise error_at(text, ref.pos, _NO_COLUMN.format(name=ref.path[1], obj=via.reference_to[0]),
                   "INVALID_FIELD")


def plan_query(org: Org, text: str, include_deleted: bool = False) -> Plan:
    """Parse and resolve a query, raising the errors Salesforce returns for bad ones."""
    query = parse(text)
    obj = org.object(query.sobject)
    if obj is None:
        pos = text.find(query.sobject)
        raise error_at(text, max(pos, 0), f"sObject type '{query.sobject}' is not supported. If "
                       "you are attempting to use a custom object, be sure to append the '__c' "
                       "after the entity name. Please reference your WSDL or the describe call "
                       "for the appropriate names.", "INVALID_TYPE")
    query.sobject = obj.name
    count = next((s for s in query.select if isinstance(s, Count)), None)
    columns = [_resolve(org, obj, s, text) for s in query.select if isinstance(s, FieldRef)]
    if count is not None and count.field is not None:
        _resolve(org, obj, count.field, text)
    for item in query.order:
        _resolve(org, obj, item.field, text)
    if query.where is not None:
        _check(org, obj, query.where, text)
    return Plan(query, obj.name, columns, count, include_deleted)


# -- filtering ---------------------------------------------------------------------------------

def _literal_for(column: Column, literal: Literal, text: str) -> Any:
    """The literal in storage form for this field, or the INVALID_FIELD error Salesforce gives."""
    kind = column.definition.type
    if literal.kind == "null":
        return None
    expected = ("dateTime" if kind == "datetime" else "date" if kind == "date" else
                "boolean" if kind == "boolean" else "double" if kind in NUMERIC_TYPES else
                "string")
    ok = {"dateTime": "datetime", "date": "date", "boolean": "boolean", "double": "number",
          "string": "string"}[expected] == literal.kind
    if not ok:
        quoted = "be enclosed in quotes" if expected == "string" else \
            "not be enclosed in quotes"
        raise error_at(text, column.ref.pos, f"value of filter criterion for field "
                       f"'{column.name}' must be of type {expected} and should {quoted}",
                       "INVALID_FIELD")
    value = literal.value
    if kind in _IDS:
        return to_18(str(value))
    if kind in _STRINGY:
        return _unescape(str(value)).casefold()
    return value


def _unescape(value: str) -> str:
    return value.replace("\\%", "%").replace("\\_", "_")


def _normal(kind: str, value: Any) -> Any:
    return value.casefold() if kind in _STRINGY and isinstance(value, str) else value


def _like(pattern: str) -> Callable[[str], bool]:
    parts, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    compiled = re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
    return lambda value: compiled.fullmatch(value) is not None


def _check(org: Org, obj: ObjectDef, cond: Cond, text: str) -> None:
    _compile(org, org.tables[obj.name], cond, text)


def _compile(org: Org, table: Table, cond: Cond, text: str) -> Callable[[Row], bool]:
    if isinstance(cond, And):
        parts = [_compile(org, table, c, text) for c in cond.items]
        return lambda row: all(p(row) for p in parts)
    if isinstance(cond, Or):
        parts = [_compile(org, table, c, text) for c in cond.items]
        return lambda row: any(p(row) for p in parts)
    if isinstance(cond, Not):
        inner = _compile(org, table, cond.item, text)
        return lambda row: not inner(row)
    column = _resolve(org, table.obj, cond.field, text)
    get = _getter(org, table, column)
    kind = column.definition.type
    if isinstance(cond, Like):
        if kind not in _STRINGY and kind not in _IDS:
            raise error_at(text, cond.field.pos, f"invalid operator on field: {column.name}",
                           "INVALID_FIELD")
        matches = _like(str(cond.pattern.value))
        return lambda row: (v := get(row)) is not None and matches(str(v))
    if isinstance(cond, In):
        values = {_literal_for(column, lit, text) for lit in cond.values}
        if cond.negated:
            return lambda row: _normal(kind, get(row)) not in values
        return lambda row: _normal(kind, get(row)) in values
    assert isinstance(cond, Compare)
    target = _literal_for(column, cond.value, text)
    op = cond.op
    if target is None:
        if op not in ("=", "!="):
            raise error_at(text, cond.field.pos, "null can only be compared with = or !=")
        return (lambda row: get(row) is None) if op == "=" else (lambda row: get(row) is not None)
    if op == "=":
        return lambda row: _normal(kind, get(row)) == target
    if op == "!=":
        return lambda row: _normal(kind, get(row)) != target
    compare: Callable[[Any, Any], bool] = {
        "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    }[op]
    return lambda row: (v := get(row)) is not None and compare(_normal(kind, v), target)


def _candidates(table: Table, plan: Plan) -> Iterable[tuple[str, Row]]:
    """(id, row) pairs worth testing: from the change log or by id when the filter allows and
    that reads fewer rows, else every row (in storage order, which is kinder to the cache)."""
    where = plan.query.where
    conjuncts = where.items if isinstance(where, And) else (where,) if where else ()
    rows = table.rows
    for cond in conjuncts:
        if isinstance(cond, Compare) and len(cond.field.path) == 1:
            name = cond.field.path[0].lower()
            if name == "systemmodstamp" and cond.op in (">", ">=") and \
                    cond.value.kind == "datetime":
                after, inclusive = int(cond.value.value), cond.op == ">="  # type: ignore[call-overload]
                if table.changes_after(after, inclusive) * 2 < len(rows):
                    return table.changed_since(after, inclusive)
            if name == "id" and cond.op == "=" and cond.value.kind == "string":
                wanted = [to_18(str(cond.value.value))]
                return [(rid, rows[rid]) for rid in wanted if rid in rows]
        if isinstance(cond, In) and not cond.negated and cond.field.path[0].lower() == "id":
            wanted = [to_18(str(v.value)) for v in cond.values]
            return [(rid, rows[rid]) for rid in wanted if rid in rows]
    return rows.items()


def select_ids(org: Org, plan: Plan) -> list[str]:
    """The ids the query matches, sorted, after OFFSET and LIMIT (the cursor snapshot)."""
    table = org.tables[plan.sobject]
    query = plan.query
    with org.lock:
        predicate = _compile(org, table, query.where, query.text) if query.where else None
        deleted_slot = table.slots["IsDeleted"]
        matched: list[tuple[str, Row]] = []
        for rid, row in _candidates(table, plan):
            if row[deleted_slot] and not plan.include_deleted:
                continue
            if predicate is None or predicate(row):
                matched.append((rid, row))
        ids = _sorted_ids(org, table, query, matched) if query.order else \
            [rid for rid, _ in matched]
    start = query.offset or 0
    end = None if query.limit is None else start + query.limit
    return ids[start:end]


def _sort_keys(org: Org, table: Table, query: Query, item: OrderItem,
               matched: list[tuple[str, Row]]) -> list[Any]:
    """One sort key per matched row, computed once; ``(flag, value)`` only if nulls occur."""
    column = _resolve(org, table.obj, item.field, query.text)
    get, kind = _getter(org, table, column), column.definition.type
    values = [get(row) for _, row in matched]
    if kind in _STRINGY:
        values = [v.casefold() if isinstance(v, str) else v for v in values]
    if None not in values:
        return values
    nulls_last = item.nulls_last if item.nulls_last is not None else item.descending
    null_flag = 1 if nulls_last != item.descending else 0
    return [(null_flag, 0) if v is None else (1 - null_flag, v) for v in values]


def _sorted_ids(org: Org, table: Table, query: Query,
                matched: list[tuple[str, Row]]) -> list[str]:
    """ORDER BY with one C-level sort when all keys share a direction (the usual
    ``SystemModstamp, Id``; candidates from the change log are already nearly in order, which
    Timsort exploits), else stable passes from the last key to the first."""
    keys = [_sort_keys(org, table, query, item, matched) for item in query.order]
    directions = {item.descending for item in query.order}
    if len(directions) == 1:
        decorated = list(zip(*keys, range(len(matched)), strict=True))
        decorated.sort(reverse=directions.pop())
        return [matched[d[-1]][0] for d in decorated]
    order = list(range(len(matched)))
    for item, key in zip(reversed(query.order), reversed(keys), strict=True):
        order.sort(key=key.__getitem__, reverse=item.descending)
    return [matched[i][0] for i in order]


# -- rendering ---------------------------------------------------------------------------------

def _attributes(sobject: str, rid: str | None, version: str) -> dict[str, str]:
    out = {"type": sobject}
    if rid:
        out["url"] = f"/services/data/v{version}/sobjects/{sobject}/{rid}"
    return out


def render_json(org: Org, plan: Plan, ids: Iterable[str], version: str) -> list[dict[str, Any]]:
    """Query records as the REST API returns them, parents nested under relationship names."""
    table = org.tables[plan.sobject]
    getters = [_getter(org, table, c) for c in plan.columns]
    out = []
    with org.lock:
        for rid in ids:
            row = table.rows.get(rid)
            if row is None:
                continue
            record: dict[str, Any] = {"attributes": _attributes(plan.sobject, rid, version)}
            for column, get in zip(plan.columns, getters, strict=True):
                value = json_value(column.definition, get(row))
                if column.via is None:
                    record[column.definition.name] = value
                    continue
                rel = str(column.via.relationship_name)
                parent_id = table.value(row, column.via.name)
                if parent_id is None:
                    record[rel] = None
                    continue
                found = org.find(parent_id)
                parent_type = found[0] if found else column.targets[0]
                nested = record.get(rel) or {"attributes": _attributes(parent_type, parent_id,
                                                                      version)}
                nested[column.definition.name] = value
                record[rel] = nested
            out.append(record)
    return out


def render_csv(org: Org, plan: Plan, ids: Iterable[str]) -> list[list[str]]:
    """Rows of CSV cells (no header) for Bulk 2.0 query results."""
    table = org.tables[plan.sobject]
    getters = [_getter(org, table, c) for c in plan.columns]
    out = []
    with org.lock:
        for rid in ids:
            row = table.rows.get(rid)
            if row is not None:
                out.append([csv_cell(c.definition, g(row))
                            for c, g in zip(plan.columns, getters, strict=True)])
    return out
