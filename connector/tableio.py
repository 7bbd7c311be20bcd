"""Reading and writing tables: CSV (delimiter detected), JSONL and Parquet, by file extension.

CSV is read with every column as text so nothing is guessed wrongly; :mod:`connector.inputs`
then converts the columns it knows (numbers, timestamps) and reports rows that do not convert.
CSV is UTF-8 (a byte-order mark, as Excel's "CSV UTF-8" writes, is skipped) unless a command's
``--encoding`` says otherwise (:func:`use_encoding`, e.g. ``cp1252`` for Windows exports).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from scoring.errors import ConfigError, Problem

__all__ = ["FORMATS", "column_names", "detect_format", "read_table", "write_table", "sniff_delimiter",
           "TextStream", "SkippedRow", "open_text_stream", "record_lines", "use_encoding",
           "set_encoding"]

#: the encoding CSV inputs are read in (a plain global: files are read on worker threads too)
_encoding = {"name": "utf-8"}


@contextlib.contextmanager
def use_encoding(name: str | None) -> Iterator[None]:
    """Read CSV inputs in ``name`` (``--encoding``) inside the block; None keeps UTF-8."""
    if name is None:
        yield
        return
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        raise ConfigError([Problem("--encoding", None, "encoding", f"unknown encoding '{name}'",
                                   "e.g. utf-8, cp1252 (Windows), latin-1, utf-16")]) from None
    before = _encoding["name"]
    _encoding["name"] = canonical
    try:
        yield
    finally:
        _encoding["name"] = before


def set_encoding(name: str | None) -> None:
    """Read CSV inputs in ``name`` from now on (a command's ``--encoding``; the command line resets
    it to UTF-8 when the command ends)."""
    with use_encoding(name):
        chosen = _encoding["name"]
    _encoding["name"] = chosen


def _text_encoding() -> str:
    name = _encoding["name"]
    return "utf-8-sig" if name in ("utf-8", "utf_8") else name


def _not_utf8_hint(exc: BaseException) -> str | None:
    text = str(exc)
    if _encoding["name"] in ("utf-8", "utf_8") and ("UTF8" in text or "UTF-8" in text or "utf-8" in text):
        return "the file is not UTF-8: pass --encoding, e.g. --encoding cp1252 for a Windows or Excel export"
    return None

FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ConfigError([Problem(str(path), None, "format", f"unknown format '{fmt}'",
                                       f"use one of {', '.join(FORMATS)}")])
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    found = _EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if found is None:
        raise ConfigError([Problem(str(path), None, "", "cannot tell the file format from its name",
                                   "name it .csv, .jsonl or .parquet")])
    return found


def sniff_delimiter(path: Path) -> str:
    """The CSV delimiter among , ; tab and |, from the first 64 KiB."""
    with open(path, newline="", encoding=_text_encoding(), errors="replace") as fh:
        sample = fh.read(65536)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table(path: Path, fmt: str | None = None, dictionary: Sequence[str] = (),
               columns: Collection[str] | None = None) -> pa.Table:
    """Read a table. Raises :class:`ConfigError` naming the file when it cannot be read.

    Columns named in ``dictionary`` are read dictionary-encoded (Parquet and CSV), which keeps
    repetitive columns such as event types small and lets the engine work on codes. With
    ``columns``, only those of them that the file has are read (Parquet and CSV skip the rest).
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError([Problem(str(path), None, "", "file not found")])
    kind = detect_format(path, fmt)
    try:
        if kind == "parquet":
            names = pq.read_schema(path).names
            wanted = None if columns is None else [c for c in names if c in columns]
            return pq.read_table(path, columns=wanted, read_dictionary=[c for c in dictionary if c in names])
        if kind == "jsonl":
            table = pajson.read_json(path)
            return table if columns is None else table.select([c for c in table.column_names if c in columns])
        header = _csv_header(path)
        return pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=sniff_delimiter(path), newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.dictionary(pa.int32(), pa.string()) if name in dictionary
                              else pa.string() for name in header},
                strings_can_be_null=True,
                null_values=[""],
                include_columns=None if columns is None else [c for c in header if c in columns],
            ),
            read_options=pacsv.ReadOptions(block_size=1 << 24, encoding=_encoding["name"]),
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), _line_of(str(exc)), "", f"cannot read {kind}: {exc}",
                                   _not_utf8_hint(exc))]) from None


@dataclass(frozen=True)
class SkippedRow:
    """A CSV record the parser could not use: ``number`` counts records from 1 (the header), as
    the parser does; ``text`` is the raw record. A blank line has ``actual == 1`` and no text."""

    number: int
    expected: int
    actual: int
    text: str


class _Counting(io.RawIOBase):
    """A file's bytes, counting line feeds on the way (at memory speed) and keeping the last few."""

    def __init__(self, path: Path):
        self._source = pa.input_stream(str(path))  # decompresses .gz and the like by extension
        self.newlines = 0
        self.tail = b""  # the file's last bytes

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(None if size is None or size < 0 else size)
        if data:
            self.newlines += data.count(b"\n")
            self.tail = (self.tail + data[-3:])[-3:]
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer)[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._source.close()
        super().close()


@dataclass
class TextStream:
    """A CSV or JSONL file read in record batches of bounded size (:func:`open_text_stream`).

    ``batches`` yields the data rows in file order. CSV records the parser cannot use (a wrong
    number of fields, as left by an unbalanced quote, and blank lines) are not in the batches:
    they are in ``skipped`` once the batches are read. ``records`` then counts every record the
    parser saw (header and skipped ones included), ``newlines`` the file's line feeds."""

    path: Path
    kind: str
    batches: Iterator[pa.RecordBatch]
    skipped: list[SkippedRow] = field(default_factory=list)
    records: int = 0
    _scanned: tuple[int, bytes] | None = None

    def _scan(self) -> tuple[int, bytes]:
        """The file's line feeds and last bytes: one pass at memory speed, made only when asked
        (when there are bad rows to place, or a last record to look at), not on every read."""
        if self._scanned is None:
            counter = _Counting(self.path)
            with counter:
                while counter.read(1 << 24):
                    pass
            self._scanned = (counter.newlines, counter.tail)
        return self._scanned

    @property
    def newlines(self) -> int:
        return self._scan()[0]

    @property
    def tail(self) -> bytes:
        return self._scan()[1]

    @property
    def ends_with_newline(self) -> bool:
        return self.tail[-1:] in (b"\n", b"")

    def single_line_records(self) -> bool:
        """Whether each record is one line, so that record *n* is line *n* (known once read)."""
        lines = self.newlines + (0 if self.ends_with_newline else 1)
        return lines == self.records


def open_text_stream(path: Path, dictionary: Sequence[str] = (), columns: Collection[str] | None = None,
                     block_size: int = 1 << 24, fmt: str | None = None,
                     numeric: Collection[str] = ()) -> TextStream:
    """Open a CSV or JSONL file for reading in batches of about ``block_size`` bytes each, with
    Arrow's streaming readers; memory stays that of a few batches whatever the file's size.

    Columns are read as :func:`read_table` reads them (CSV as text, ``dictionary`` columns
    dictionary-encoded; only ``columns`` when given). A JSONL file's column types are fixed
    before the first batch, as a streaming read needs: each column takes the JSON type of its
    value on the first line, and a column that line lacks is text (a number if named in
    ``numeric``); a later value of another type stops the read with a message naming it.
    Raises :class:`ConfigError` naming the file, and the record where the parser can tell, when
    the file cannot be read."""
    path = Path(path)
    if not path.exists():
        raise ConfigError([Problem(str(path), None, "", "file not found")])
    kind = detect_format(path, fmt)
    source = pa.input_stream(str(path))  # decompresses .gz and the like by extension
    stream = TextStream(path, kind, iter(()))
    try:
        if kind == "jsonl":
            reader = pajson.open_json(source, read_options=pajson.ReadOptions(block_size=block_size),
                                      parse_options=pajson.ParseOptions(
                                          explicit_schema=_json_schema(path, columns, numeric),
                                          unexpected_field_behavior="ignore"))
        elif kind == "csv":
            header = _csv_header(path)

            def skip(row: pacsv.InvalidRow) -> str:
                stream.skipped.append(SkippedRow(row.number, row.expected_columns, row.actual_columns, row.text))
                return "skip"

            reader = pacsv.open_csv(
                source,
                parse_options=pacsv.ParseOptions(delimiter=sniff_delimiter(path), newlines_in_values=True,
                                                 invalid_row_handler=skip),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.dictionary(pa.int32(), pa.string()) if name in dictionary
                                  else pa.string() for name in header},
                    strings_can_be_null=True, null_values=[""],
                    include_columns=None if columns is None else [c for c in header if c in columns]),
                read_options=pacsv.ReadOptions(block_size=block_size, use_threads=False))
        else:
            raise ConfigError([Problem(str(path), None, "", f"{kind} files are read by row group, not streamed")])
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        source.close()
        raise ConfigError([Problem(str(path), _line_of(str(exc)), "", f"cannot read {kind}: {exc}")]) from None

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
                    if kind == "csv" and "straddl" in str(exc):  # one record larger than a whole batch
                        after = rows + len(stream.skipped) + 1
                        line = _runaway_record(path, after, block_size)
                        raise ConfigError([Problem(
                            str(path), line, "", f"a record runs on for more than {block_size:,} bytes, "
                            "past many lines: a quote opened and never closed?",
                            'a quote inside a quoted value is written twice ("")')]) from None
                    raise ConfigError([Problem(str(path), _line_of(str(exc)), "",
                                               f"cannot read {kind}: {exc}")]) from None
                rows += batch.num_rows
                yield batch
        finally:
            reader.close()
            source.close()
        stream.records = rows + len(stream.skipped) + (1 if kind == "csv" else 0)

    stream.batches = batches()
    return stream


def record_lines(path: Path, kind: str, numbers: Collection[int]) -> dict[int, tuple[int, int]]:
    """The first and last line of each record numbered in ``numbers`` (counted from 1 as the
    streaming parser counts them: blank lines are not records, a CSV header is record 1).

    One pass over the file, up to the last record asked for; needed only when some record
    spans several lines (a quoted line break) or blank lines sit between records."""
    wanted = set(numbers)
    found: dict[int, tuple[int, int]] = {}
    if not wanted:
        return found
    last = max(wanted)
    with io.TextIOWrapper(io.BufferedReader(_Counting(path), 1 << 20), encoding="utf-8", errors="replace",
                          newline="") as text:
        record = 0
        if kind == "csv":
            reader = csv.reader(text, delimiter=sniff_delimiter(path))
            before = 0
            try:
                for row in reader:
                    start, before = before + 1, reader.line_num
                    if not row:
                        continue
                    record += 1
                    if record in wanted:
                        found[record] = (start, reader.line_num)
                    if record >= last:
                        break
            except csv.Error:  # the rest of the file is one unterminated field
                found.update({n: (before + 1, reader.line_num) for n in wanted if n > record})
        else:
            for number, line in enumerate(text, start=1):
                if line.strip():
                    record += 1
                    if record in wanted:
                        found[record] = (number, number)
                    if record >= last:
                        break
    return found


def _json_schema(path: Path, columns: Collection[str] | None, numeric: Collection[str]) -> pa.Schema | None:
    """The types a streamed JSONL file is read with (see :func:`open_text_stream`)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
    try:
        row = json.loads(first) if first.strip() else {}
    except json.JSONDecodeError:
        return None  # the reader reports it, with its place
    if not isinstance(row, dict):
        return None
    names = list(row) + [c for c in (columns or ()) if c not in row]
    if columns is not None:
        names = [n for n in names if n in columns]
    fields = []
    for name in names:
        value = row.get(name)
        if isinstance(value, bool):
            kind = pa.bool_()
        elif isinstance(value, int):
            kind = pa.int64()
        elif isinstance(value, float) or (value is None and name in numeric):
            kind = pa.float64()
        elif isinstance(value, (dict, list)):
            return None  # nested values: left to the reader's own inference
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _runaway_record(path: Path, after: int, size: int) -> int | None:
    """The first line of the first record past record ``after`` longer than ``size`` bytes (or
    running to the end of the file), by Python's csv reader; None if there is none."""
    with io.TextIOWrapper(io.BufferedReader(_Counting(path), 1 << 20), encoding="utf-8", errors="replace",
                          newline="") as text:
        reader = csv.reader(text, delimiter=sniff_delimiter(path))
        record, before = 0, 0
        try:
            for row in reader:
                start, before = before + 1, reader.line_num
                if not row:
                    continue
                record += 1
                if record > after and sum(len(v) for v in row) >= size // 2:
                    return start
        except csv.Error:
            return before + 1
    return None


def column_names(path: Path, fmt: str | None = None) -> list[str]:
    """The columns a file has, read from its header, schema or first line only."""
    path = Path(path)
    if not path.exists():
        raise ConfigError([Problem(str(path), None, "", "file not found")])
    kind = detect_format(path, fmt)
    if kind == "parquet":
        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ConfigError([Problem(str(path), None, "", f"cannot read parquet: {exc}")]) from None
    if kind == "jsonl":
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline()
        try:
            row = json.loads(first) if first.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError([Problem(str(path), 1, "", f"not a JSON object: {exc.msg}")]) from None
        return list(row) if isinstance(row, dict) else []
    return _csv_header(path)


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding=_text_encoding(), errors="replace") as fh:
        first = fh.readline()
    delimiter = sniff_delimiter(path)
    return next(csv.reader([first], delimiter=delimiter), [])


def _line_of(message: str) -> int | None:
    """Arrow's CSV errors say "Row #N"; JSON errors rarely say where."""
    marker = "Row #"
    if marker in message:
        digits = message.split(marker, 1)[1].split(":", 1)[0].strip()
        if digits.isdigit():
            return int(digits)
    return None


def write_table(table: pa.Table, path: Path, fmt: str | None = None) -> None:
    """Write atomically: into a temporary file beside the target, then rename."""
    path = Path(path)
    kind = detect_format(path, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    try:
        if kind == "parquet":
            pq.write_table(table, tmp)
        elif kind == "csv":
            pacsv.write_csv(table, tmp)
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                for batch in table.to_batches(max_chunksize=65536):
                    for row in batch.to_pylist():
                        fh.write(json.dumps(row, default=str, ensure_ascii=False))
                        fh.write("\n")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed or interrupted write leaves neither a half file nor a .partial
        raise
