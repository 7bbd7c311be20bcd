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
import json
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from scoring.errors import ConfigError, Problem

__all__ = ["FORMATS", "column_names", "detect_format", "read_table", "write_table", "sniff_delimiter",
           "use_encoding", "set_encoding"]

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
