"""Turning user files into the canonical tables the engine reads, reporting bad rows by line.

A *bad row* is one the engine cannot use: a lead without an id, an event without a lead id or
type, a timestamp or number that does not parse. Each is reported with its line number (the
header is line 1 of a CSV, so data row *i* is line *i + 2*; in JSONL row *i* is line *i + 1*) and
then either skipped or, with ``on_error="fail"``, the run stops before anything is written.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scoring.engine import EventParts, dictionary_key
from scoring.errors import ConfigError, Problem

from .tableio import SkippedRow, TextStream, column_names, detect_format, open_text_stream, read_table, record_lines

__all__ = ["BadRow", "Prepared", "EventFile", "parse_column_map", "prepare_leads", "prepare_events",
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


def _check_events(table: pa.Table) -> tuple[pa.Table, list[tuple[str, np.ndarray]]]:
    """The event columns this table has, converted (times, numbers), and the checks on them as
    (message, bad rows), in the order a row's first problem is reported."""
    checks: list[tuple[str, np.ndarray]] = []
    names = table.column_names
    if "lead_id" in names:
        checks.append(("event has no lead_id", _blank(table.column("lead_id"))))
    if "type" in names:
        checks.append(("event has no type", _blank(table.column("type"))))
    if "occurred_at" in names:
        stamps, bad = parse_timestamps(table.column("occurred_at"))
        checks.append(("'occurred_at' is not an ISO-8601 timestamp", bad))
        checks.append(("event has no occurred_at", ~stamps.is_valid().to_numpy(zero_copy_only=False) & ~bad))
        table = table.set_column(names.index("occurred_at"), "occurred_at", stamps)
    if "duration_seconds" in names:
        values, bad = _to_float(table.column("duration_seconds"))
        checks.append(("'duration_seconds' is not a number", bad))
        table = table.set_column(names.index("duration_seconds"), "duration_seconds", values)
    return table, checks


_EVENT_CHECK_ORDER = {message: i for i, message in enumerate((
    "event has no lead_id", "event has no type", "'occurred_at' is not an ISO-8601 timestamp",
    "event has no occurred_at", "'duration_seconds' is not a number"))}


def prepare_events(table: pa.Table, source: str, offset: int = 2) -> Prepared:
    _require(table.column_names, ["lead_id", "type", "occurred_at"], source, "events")
    bad_rows: dict[int, str] = {}
    table, checks = _check_events(table)
    for message, mask in checks:
        _note(bad_rows, mask, message)
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


class EventFile:
    """An events file handed to the engine as :class:`~scoring.engine.EventParts`, never whole
    in memory: a Parquet file row group by row group; CSV and JSONL read once, in batches of a
    few megabytes, by Arrow's streaming readers. Each batch is checked and converted (times,
    numbers) as it comes, and kept as a part in a temporary Arrow file, which the engine then
    reads part by part like row groups (memory-mapped, so a read costs no copy). The temporary
    folder is removed by :meth:`close` (the object is a context manager).

    Bad rows are reported with their line: each is reported, and its event is made unusable (no
    time), just as if it had been skipped. CSV records the parser cannot use (a wrong number of
    fields, as an unbalanced quote leaves; a quoted field still open at the end of the file) are
    reported too, never dropped in silence. ``bad`` is complete once scoring is done (for CSV
    and JSONL, once the object is made). ``on_part`` is called as each part is read for scoring.
    """

    #: bytes per batch of the streaming readers
    BLOCK = 1 << 22
    #: rows per part of a CSV or JSONL file (batches are grouped up to this)
    PART_ROWS = 1 << 20

    def __init__(self, path: Path, mapping: dict[str, str] | None = None, columns: set[str] | None = None,
                 on_part: Callable[[], object] | None = None):
        self.path = Path(path)
        self._on_part = on_part
        self.source = str(self.path)
        self._mapping = dict(mapping or {})
        present = column_names(self.path)
        _check_mapped(present, self._mapping, self.source)
        reverse = {src: dst for dst, src in self._mapping.items()}
        canonical = [reverse.get(c, c) for c in present]
        _require(canonical, _REQUIRED["events"], self.source, "events")
        if detect_format(self.path) == "jsonl" and columns is not None:
            # a JSON line leaves out keys it has no value for: the first line need not name them all
            canonical += sorted(c for c in columns if c not in canonical and "." not in c)
        if columns is not None:
            canonical = [c for c in canonical if c in columns]
        self._offset = _line_offset(self.path)
        self._bad: dict[int, tuple[int, str]] = {}  # row -> (check order, message)
        self._lock = threading.Lock()
        self._stream: TextStream | None = None
        self._spool: tempfile.TemporaryDirectory[str] | None = None
        self._lines: list[BadRow] | None = None
        self._unusable_last = False  # the last row, found bad once every part was stored
        self._present = present
        if detect_format(self.path) == "parquet":
            self._local = threading.local()
            self._dictionary = [c for c in self._file_names(_DICTIONARY["events"]) if c in present]
            metadata = pq.read_metadata(self.path)
            sizes = tuple(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups))
        else:
            sizes = self._read_text(canonical)
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.parts = EventParts(sizes, tuple(canonical), self._read)

    def __enter__(self) -> EventFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the temporary parts of a CSV or JSONL file (nothing to do for Parquet)."""
        if self._spool is not None:
            self._spool.cleanup()
            self._spool = None

    @property
    def bad(self) -> list[BadRow]:
        if self._lines is not None:
            return self._lines
        with self._lock:
            rows = sorted(self._bad.items())
        if self._stream is None:
            return [BadRow(self.source, row + self._offset, message) for row, (_, message) in rows]
        return self._text_bad(rows)

    @property
    def usable_rows(self) -> int:
        return self.parts.num_rows - len(self._bad)

    def _file_names(self, names: tuple[str, ...] | list[str]) -> list[str]:
        return [self._mapping.get(c, c) for c in names]

    # -- CSV and JSONL ---------------------------------------------------------------------

    def _read_text(self, canonical: list[str]) -> tuple[int, ...]:
        """Stream the file once into parts; returns their sizes."""
        wanted = {self._mapping.get(c, c) for c in canonical}
        last_column = self._present[-1] if self._present else None
        if detect_format(self.path) == "csv" and last_column is not None:
            wanted.add(last_column)  # to tell a quoted field left open at the end of the file
        # read as plain text: dictionary-encoding is left to the second thread, off the parser's
        stream = open_text_stream(self.path, columns=wanted, block_size=self.BLOCK,
                                  numeric=self._file_names(list(NUMERIC_FIELDS)))
        self._stream = stream
        self._spool = tempfile.TemporaryDirectory(prefix="leadscore-events-")
        sizes: list[int] = []
        tail: list[pa.Table] = []
        pending: deque[Future[None]] = deque()
        start = 0
        # check and store part k on a second thread while the parser reads part k + 1
        with ThreadPoolExecutor(max_workers=1) as pool:
            try:
                for batches in _grouped(stream.batches, self.PART_ROWS):
                    table = pa.Table.from_batches(batches)
                    while len(pending) >= 2:
                        pending.popleft().result()
                    pending.append(pool.submit(self._store, len(sizes), table, start, canonical, last_column, tail))
                    sizes.append(table.num_rows)
                    start += table.num_rows
                while pending:
                    pending.popleft().result()
            except BaseException:
                for future in pending:
                    future.cancel()
                self.close()
                raise
        if tail and stream.kind == "csv" and last_column is not None:
            self._check_open_quote(tail[0], last_column, start)
        return tuple(sizes)

    def _store(self, part: int, table: pa.Table, start: int, canonical: list[str], last_column: str | None,
               tail: list[pa.Table]) -> None:
        if last_column is not None and table.num_rows:
            tail[:] = [table.slice(table.num_rows - 1).select([last_column])]
        table = _rename(table, self._mapping, self.source)
        table = table.select([c for c in canonical if c in table.column_names])
        for name in _DICTIONARY["events"]:  # few distinct values: the checks and the engine work on codes
            if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
                table = table.set_column(table.column_names.index(name), name,
                                         pc.dictionary_encode(table.column(name).combine_chunks()))
        table = self._prepare(table, start)
        if table.num_rows and any(pa.types.is_dictionary(t) for t in table.schema.types):
            table = table.unify_dictionaries()  # one dictionary per column and part, as an Arrow file holds
        try:
            with pa.OSFile(self._part_path(part), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        except OSError as exc:
            assert self._spool is not None
            raise ConfigError([Problem(self.source, None, "", f"cannot keep the events' parts in {self._spool.name}: "
                                       f"{exc}", "set TMPDIR to a folder with room: the parts take about 25 "
                                       "bytes per event")]) from None

    def _part_path(self, part: int) -> str:
        assert self._spool is not None
        return f"{self._spool.name}/part-{part:06d}.arrow"

    def _check_open_quote(self, last: pa.Table, column: str, rows: int) -> None:
        """A quoted field still open at the end of the file swallows every line after its start
        into the last record; the parser takes that record as whole. It is reported instead."""
        value = last.column(0).cast(pa.string())[0].as_py() if last.num_rows else None
        assert self._stream is not None
        if value is None or not ("\n" in value or "\r" in value):
            return  # the common case: no line break in the last value, nothing to look at
        if not self._stream.tail.rstrip(b"\r\n").endswith(b'"'):
            message = f"an unbalanced quote: the field '{column}' runs on to the end of the file"
            with self._lock:
                self._bad[rows - 1] = (-1, message)
            self._unusable_last = True

    def _text_bad(self, rows: list[tuple[int, tuple[int, str]]]) -> list[BadRow]:
        """Bad rows of a CSV or JSONL file by line: data row *j* is parser record *n* (counted
        from 1 with the header; records the parser skipped in between count too), and record
        *n* is line *n* unless some record spans lines or blank lines sit between them."""
        stream = self._stream
        assert stream is not None
        header = 1 if stream.kind == "csv" else 0
        skipped = sorted(stream.skipped, key=lambda s: s.number)
        numbers = np.array([s.number for s in skipped], dtype=np.int64)
        # skipped records before data row j: those whose number minus the skipped ones before it,
        # less the header and one, is at most j
        shifted = numbers - np.arange(len(numbers)) - header - 1
        data = np.array([row for row, _ in rows], dtype=np.int64)
        records = data + header + 1 + np.searchsorted(shifted, data, side="right")
        wanted = [int(n) for n in records] + [s.number for s in skipped if not _blank_record(s)]
        if stream.single_line_records():
            spans = {n: (n, n) for n in wanted}
        else:
            spans = record_lines(self.path, stream.kind, wanted)
        out = [BadRow(self.source, spans.get(int(n), (int(n), int(n)))[0], message)
               for n, (_, (_, message)) in zip(records, rows, strict=True)]
        for s in skipped:
            if _blank_record(s):
                continue
            first, last = spans.get(s.number, (s.number, s.number))
            message = f"has {s.actual} field(s) where the header has {s.expected}"
            if last > first:
                message += f"; the record runs over lines {first}-{last} (an unbalanced quote?)"
            out.append(BadRow(self.source, first, message))
        out.sort(key=lambda b: b.line)
        self._lines = out
        return out

    # -- reading parts -----------------------------------------------------------------------

    def _read(self, part: int, columns: list[str]) -> pa.Table:
        wanted = [c for c in columns if c in self.parts.columns]
        if self._stream is not None:
            with pa.memory_map(self._part_path(part)) as source:
                table = pa.ipc.open_file(source).read_all().select(wanted)
            if self._unusable_last and part == len(self.parts.sizes) - 1 and "occurred_at" in wanted:
                stamps = table.column("occurred_at")
                last = np.zeros(table.num_rows, dtype=bool)
                last[-1] = True
                stamps = pc.if_else(pa.array(last), pa.scalar(None, stamps.type), stamps)
                table = table.set_column(table.column_names.index("occurred_at"), "occurred_at", stamps)
            if self._on_part is not None and "occurred_at" in wanted:
                self._on_part()
            return table
        reader = getattr(self._local, "reader", None)
        if reader is None:  # one reader per thread: row groups are read side by side
            reader = pq.ParquetFile(self.path, read_dictionary=self._dictionary)
            self._local.reader = reader
        try:
            table = reader.read_row_group(part, columns=self._file_names(wanted), use_threads=False)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ConfigError([Problem(self.source, None, "", f"cannot read parquet: {exc}")]) from None
        table = _rename(table, self._mapping, self.source)
        if self._on_part is not None and "occurred_at" in wanted:
            self._on_part()
        return self._prepare(table, int(self._starts[part]))

    def _prepare(self, table: pa.Table, start: int) -> pa.Table:
        """The checks of :func:`prepare_events`, on the columns this read has."""
        table, checks = _check_events(table)
        if "occurred_at" in table.column_names:
            unusable = np.zeros(table.num_rows, dtype=bool)
            for _, mask in checks:
                unusable |= mask
            if unusable.any():  # a bad row's event is not used: it has no time
                stamps = table.column("occurred_at")
                stamps = pc.if_else(pa.array(unusable), pa.scalar(None, stamps.type), stamps)
                table = table.set_column(table.column_names.index("occurred_at"), "occurred_at", stamps)
        if any(mask.any() for _, mask in checks):
            with self._lock:
                for message, mask in checks:
                    order = _EVENT_CHECK_ORDER[message]
                    for row in (np.flatnonzero(mask) + start).tolist():
                        if row not in self._bad or self._bad[row][0] > order:
                            self._bad[row] = (order, message)
        return table


def _blank_record(row: SkippedRow) -> bool:
    return row.actual <= 1 and not row.text.strip()


def _grouped(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[list[pa.RecordBatch]]:
    """Consecutive batches in groups of at least ``rows`` rows (the last group may be smaller)."""
    group: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        group.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield group
            group, count = [], 0
    if group:
        yield group
