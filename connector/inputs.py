"""Turning user files into the canonical tables the engine reads, reporting bad rows by line.

A *bad row* is one the engine cannot use: a lead without an id, an event without a lead id or
type, a timestamp or number that does not parse. Each is reported with its line number (the
header is line 1 of a CSV, so data row *i* is line *i + 2*; in JSONL row *i* is line *i + 1*) and
then either skipped or, with ``on_error="fail"``, the run stops before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scoring.engine import dictionary_key
from scoring.errors import ConfigError, Problem

from .tableio import column_names, detect_format, read_table

__all__ = ["BadRow", "Prepared", "parse_column_map", "prepare_leads", "prepare_events",
           "prepare_accounts", "load_input", "parse_timestamps"]

NUMERIC_FIELDS = ("employees", "annual_revenue", "duration_seconds",
                  "account.employees", "account.annual_revenue")
_CHUNK = 65536
#: columns with few distinct values, read dictionary-encoded so the engine works on codes
_DICTIONARY = {"events": ("lead_id", "type", "url", "form", "campaign")}
_REQUIRED = {"leads": ["id"], "accounts": ["id"], "events": ["lead_id", "type", "occurred_at"]}
_ZONE = re.compile(r"(Z|[+-]\d\d:?\d\d)$")


@dataclass(frozen=True)
class BadRow:
    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


@dataclass
class Prepared:
    table: pa.Table
    bad: list[BadRow] = field(default_factory=list)


def parse_column_map(pairs: list[str]) -> dict[str, dict[str, str]]:
    """``["leads.id=Prospect ID", "events.lead_id=ContactId"]`` → {"leads": {"id": ...}, ...}."""
    out: dict[str, dict[str, str]] = {"leads": {}, "events": {}, "accounts": {}}
    for pair in pairs:
        target, sep, source = pair.partition("=")
        table, dot, name = target.partition(".")
        if not sep or not dot or table not in out or not name or not source:
            raise ConfigError([Problem("--column", None, pair, "expected TABLE.FIELD=SOURCE_COLUMN",
                                       "e.g. --column leads.id='Prospect ID' (TABLE is leads, events or accounts)")])
        out[table][name] = source
    return out


def _check_mapped(present: list[str], mapping: dict[str, str], source: str) -> None:
    missing = [src for src in mapping.values() if src not in present]
    if missing:
        raise ConfigError([Problem(source, 1, "columns", f"column '{m}' (from --column) is not in the file",
                                   f"columns are: {', '.join(present)}") for m in missing])


def _rename(table: pa.Table, mapping: dict[str, str], source: str) -> pa.Table:
    _check_mapped(table.column_names, mapping, source)
    reverse = {src: dst for dst, src in mapping.items()}
    return table.rename_columns([reverse.get(c, c) for c in table.column_names])


def _line_offset(path: Path) -> int:
    return 2 if detect_format(path) == "csv" else 1


def _require(present: list[str], names: list[str], source: str, what: str) -> None:
    """``names`` are canonical; the file's columns have been renamed to them already."""
    missing = [n for n in names if n not in present]
    if missing:
        raise ConfigError([Problem(
            source, 1, "columns", f"{what} needs column(s) {', '.join(missing)}",
            f"columns found: {', '.join(present)}; map yours with --column {what}.{missing[0]}=NAME")])


def _blank(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Rows that are null or only white space (once per distinct value for encoded chunks)."""
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 0:
            return np.zeros(0, dtype=bool)
        seen: dict[tuple[int, int, int], np.ndarray] = {}  # a row group's batches share one dictionary
        return np.concatenate([_blank_chunk(chunk, seen) for chunk in column.chunks])
    return _blank_chunk(column, {})


def _blank_chunk(column: pa.Array, seen: dict[tuple[int, int, int], np.ndarray]) -> np.ndarray:
    if pa.types.is_dictionary(column.type):
        values = column.dictionary
        key = dictionary_key(values)
        if key not in seen:
            seen[key] = np.append(_blank_chunk(values, {}), True)
        per_value = seen[key]
        codes = column.indices.fill_null(len(per_value) - 1) if column.indices.null_count else column.indices
        return per_value[codes.to_numpy()]
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column.is_null().to_numpy(zero_copy_only=False)
    # empty, or white space only (utf8_is_space is false for ""), without allocating trimmed copies
    blank = pc.or_(pc.equal(pc.binary_length(column), 0), pc.utf8_is_space(column))
    return pc.fill_null(blank, True).to_numpy(zero_copy_only=False)


def _to_float(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Cast to float64; returns the values (bad → null) and which rows were bad."""
    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        return column.cast(pa.float64()), np.zeros(len(column), dtype=bool)
    text = pc.utf8_trim_whitespace(column.cast(pa.string()))
    ok = pc.match_substring_regex(text, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
    ok = ok.to_numpy(zero_copy_only=False)
    present = ~_blank(column)
    bad = present & ~np.asarray(ok, dtype=bool)
    clean = pc.if_else(pa.array(present & ~bad), text, pa.scalar(None, pa.string()))
    return clean.cast(pa.float64()), bad


def parse_timestamps(column: pa.ChunkedArray | pa.Array) -> tuple[pa.ChunkedArray, np.ndarray]:
    """ISO-8601 text (or timestamps) → timestamp[us, UTC]; text without a zone is taken as UTC.

    Returns the parsed values (bad or blank → null) and a mask of the rows that did not parse.
    Fast path: one vectorised cast per chunk; only slices that fail are looked at value by value.
    """
    chunks = list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]
    target = pa.timestamp("us", tz="UTC")
    pieces: list[pa.Array] = []
    bad: list[np.ndarray] = []
    for chunk in chunks:
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.cast(chunk.type.value_type)
        if pa.types.is_timestamp(chunk.type):
            if chunk.type.tz is None:
                chunk = pc.assume_timezone(chunk.cast(pa.timestamp("us")), "UTC")
            pieces.append(chunk.cast(target))
            bad.append(np.zeros(len(chunk), dtype=bool))
            continue
        text = pc.utf8_trim_whitespace(chunk.cast(pa.string()))
        for start in range(0, len(text), _CHUNK):
            part = text.slice(start, _CHUNK)
            try:
                pieces.append(pc.cast(part, target))
                bad.append(np.zeros(len(part), dtype=bool))
                continue
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
            values: list[datetime | None] = []
            flags = np.zeros(len(part), dtype=bool)
            for i, value in enumerate(part.to_pylist()):
                parsed = _parse_one(value)
                flags[i] = parsed is None and value not in (None, "")
                values.append(parsed)
            pieces.append(pa.array(values, type=target))
            bad.append(flags)
    mask = np.concatenate(bad) if bad else np.zeros(0, dtype=bool)
    return pa.chunked_array(pieces, type=target), mask


def _parse_one(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if _ZONE.search(value) else value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _finish(table: pa.Table, bad_rows: dict[int, str], source: str, offset: int) -> Prepared:
    if not bad_rows:
        return Prepared(table)
    keep = np.ones(table.num_rows, dtype=bool)
    keep[list(bad_rows)] = False
    bad = [BadRow(source, row + offset, msg) for row, msg in sorted(bad_rows.items())]
    return Prepared(table.filter(pa.array(keep)), bad)


def _note(bad_rows: dict[int, str], mask: np.ndarray, message: str) -> None:
    for row in np.flatnonzero(mask).tolist():
        bad_rows.setdefault(row, message)


def prepare_leads(table: pa.Table, source: str, offset: int = 2) -> Prepared:
    _require(table.column_names, ["id"], source, "leads")
    bad_rows: dict[int, str] = {}
    _note(bad_rows, _blank(table.column("id")), "lead has no id")
    ids = table.column("id")
    ids = ids.cast(pa.string()) if not pa.types.is_string(ids.type) else ids
    table = table.set_column(table.column_names.index("id"), "id", ids)
    for name in NUMERIC_FIELDS:
        if name in table.column_names and name != "duration_seconds":
            values, bad = _to_float(table.column(name))
            _note(bad_rows, bad, f"'{name}' is not a number")
            table = table.set_column(table.column_names.index(name), name, values)
    return _finish(table, bad_rows, source, offset)


def prepare_accounts(table: pa.Table, source: str, offset: int = 2) -> Prepared:
    _require(table.column_names, ["id"], source, "accounts")
    bad_rows: dict[int, str] = {}
    _note(bad_rows, _blank(table.column("id")), "account has no id")
    for name in ("employees", "annual_revenue"):
        if name in table.column_names:
            values, bad = _to_float(table.column(name))
            _note(bad_rows, bad, f"'{name}' is not a number")
            table = table.set_column(table.column_names.index(name), name, values)
    return _finish(table, bad_rows, source, offset)


def prepare_events(table: pa.Table, source: str, offset: int = 2) -> Prepared:
    _require(table.column_names, ["lead_id", "type", "occurred_at"], source, "events")
    bad_rows: dict[int, str] = {}
    _note(bad_rows, _blank(table.column("lead_id")), "event has no lead_id")
    _note(bad_rows, _blank(table.column("type")), "event has no type")
    stamps, bad = parse_timestamps(table.column("occurred_at"))
    _note(bad_rows, bad, "'occurred_at' is not an ISO-8601 timestamp")
    _note(bad_rows, ~stamps.is_valid().to_numpy(zero_copy_only=False) & ~bad, "event has no occurred_at")
    table = table.set_column(table.column_names.index("occurred_at"), "occurred_at", stamps)
    if "duration_seconds" in table.column_names:
        values, bad = _to_float(table.column("duration_seconds"))
        _note(bad_rows, bad, "'duration_seconds' is not a number")
        table = table.set_column(table.column_names.index("duration_seconds"), "duration_seconds", values)
    return _finish(table, bad_rows, source, offset)


def load_input(path: Path, kind: str, mapping: dict[str, str] | None = None,
               columns: set[str] | None = None) -> Prepared:
    """Read and prepare one input file (``kind`` is leads, events or accounts).

    ``columns`` (canonical names) limits the read to what the caller needs; mapped names are
    translated to the file's own."""
    path = Path(path)
    wanted = None
    if columns is not None:  # check the header before reading a large file
        present = column_names(path)
        _check_mapped(present, mapping or {}, str(path))
        reverse = {src: dst for dst, src in (mapping or {}).items()}
        _require([reverse.get(c, c) for c in present], _REQUIRED[kind], str(path), kind)
        wanted = {(mapping or {}).get(name, name) for name in columns}
    dictionary = [(mapping or {}).get(c, c) for c in _DICTIONARY.get(kind, ())]
    table = read_table(path, dictionary=dictionary, columns=wanted)
    if mapping:
        table = _rename(table, mapping, str(path))
    prepare = {"leads": prepare_leads, "events": prepare_events, "accounts": prepare_accounts}[kind]
    return prepare(table, str(path), _line_offset(path))
