"""Write benchmark input files: synthetic leads and events in the offline-scoring format.

    python -m bench.generate --leads 1000000 --events 20000000 --seed 1 --format parquet \\
        --out bench/data/

The data are those of a synthetic tenant (:mod:`sandbox.tenant`, same vocabulary, same hidden
propensity), written in the format ``leadscore score`` reads:

- ``leads.<ext>``: the lead fields of :mod:`scoring.records` (``id, email, first_name, ...``),
  plus ``converted`` and ``closed_won`` with ``--with-outcomes``;
- ``events.<ext>``: ``lead_id, type, occurred_at, url, form, campaign, duration_seconds``.

``occurred_at`` (and the lead timestamps) are ISO-8601 UTC text in CSV and JSONL and
``timestamp[us, UTC]`` in Parquet. Events are generated and written chunk by chunk (one Parquet
row group per chunk of leads), so memory stays flat whatever the size. Prints one JSON object:
paths, sizes, seconds, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sandbox.tenant import DEFAULT_NOW, TenantBuilder
from sandbox.tenant_csv import iso_utc
from sandbox.tenant_schema import EVENT_SCHEMA, LEAD_SCHEMA
from scoring.records import LEAD_FIELDS

__all__ = ["generate_files", "EVENT_COLUMNS", "LEAD_COLUMNS", "FORMATS", "main"]

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")
EVENT_COLUMNS: tuple[str, ...] = ("lead_id", "type", "occurred_at", "url", "form", "campaign",
                                  "duration_seconds")
LEAD_COLUMNS: tuple[str, ...] = LEAD_FIELDS
_OUTCOMES = ("converted", "closed_won")
_LEADS_PER_WRITE = 200_000


def generate_files(out_dir: Path | str, leads: int, events: int, seed: int = 1,
                   fmt: Format | str = "parquet", now: datetime | None = None,
                   with_outcomes: bool = False) -> tuple[Path, Path]:
    """Write ``leads.<fmt>`` and ``events.<fmt>`` into ``out_dir`` and return their paths.

    Deterministic: the same ``leads``, ``events``, ``seed`` and ``now`` give the same rows
    (``now`` defaults to :data:`sandbox.tenant.DEFAULT_NOW`). ``events`` is the exact total.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    leads_path, events_path = out / f"leads.{fmt}", out / f"events.{fmt}"
    builder = TenantBuilder(seed=seed, leads=leads, events=events, now=now or DEFAULT_NOW)
    event_schema = pa.schema([EVENT_SCHEMA.field(c) for c in EVENT_COLUMNS])
    lead_cols = LEAD_COLUMNS + (_OUTCOMES if with_outcomes else ())
    lead_schema = pa.schema([LEAD_SCHEMA.field(c) for c in lead_cols])

    # Generate the next chunk while a second thread writes the previous one (both release the
    # GIL for most of their work): on two cores this nearly halves the wall time.
    with _Writer(events_path, event_schema, fmt) as write, ThreadPoolExecutor(1) as pool:
        pending: deque[Future[None]] = deque()
        for batch in builder.event_batches(with_ids=False):
            while len(pending) >= 2:
                pending.popleft().result()
            pending.append(pool.submit(write, pa.Table.from_batches([batch])
                                       .select(list(EVENT_COLUMNS))))
        for future in pending:
            future.result()
    table = builder.leads().select(list(lead_cols))
    with _Writer(leads_path, lead_schema, fmt) as write:
        for start in range(0, max(table.num_rows, 1), _LEADS_PER_WRITE):
            write(table.slice(start, _LEADS_PER_WRITE))
    return leads_path, events_path


def _decode(table: pa.Table) -> pa.Table:
    """Dictionary-encoded text columns as plain text (what CSV and JSONL write)."""
    return pa.Table.from_arrays(
        [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
         for c in table.columns], names=table.column_names)


class _Writer:
    """Context manager giving a ``write(table)`` function for the chosen format."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str) -> None:
        self.path, self.schema, self.fmt = path, schema, fmt
        self._pq: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        self._fh: BinaryIO | None = None

    def __enter__(self) -> Callable[[pa.Table], None]:
        if self.fmt == "parquet":
            pass  # opened on the first write, with that table's (dictionary) column types
        elif self.fmt == "csv":
            self._csv = pacsv.CSVWriter(self.path, _text_schema(self.schema))
        else:
            self._fh = self.path.open("wb")
        return self.write

    def write(self, table: pa.Table) -> None:
        if self.fmt == "parquet":
            if self._pq is None:
                # Dictionary-encoded text goes to Parquet's own dictionary pages as is; without
                # the stored Arrow schema, readers see plain strings.
                self._pq = pq.ParquetWriter(self.path, table.schema, compression="snappy",
                                            store_schema=False)
            self._pq.write_table(table, row_group_size=max(table.num_rows, 1))
        elif self._csv is not None:
            self._csv.write_table(_as_text(_decode(table), _text_schema(self.schema)))
        elif self._fh is not None and table.num_rows:
            self._fh.write(_jsonl(table))

    def __exit__(self, *exc: object) -> None:
        if self.fmt == "parquet" and self._pq is None:  # nothing written: an empty file
            self._pq = pq.ParquetWriter(self.path, self.schema, compression="snappy")
        for closer in (self._pq, self._csv, self._fh):
            if closer is not None:
                closer.close()


def _iso(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return iso_utc(column)


def _text_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f
                      for f in schema])


def _as_text(table: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = [_iso(c) if pa.types.is_timestamp(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(cols, schema=schema)


def _json_string(column: pa.Array) -> pa.Array:
    """Text as JSON string literals; escaping is skipped when nothing needs it."""
    if pc.any(pc.match_substring_regex(column, r'["\\\x00-\x1f]')).as_py():
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False)
                         for v in column.to_pylist()], pa.string())
    return pc.binary_join_element_wise('"', column, '"', "")


def _json_values(col: pa.Array) -> pa.Array:
    """Each cell as a JSON value (``null`` for nulls)."""
    if pa.types.is_dictionary(col.type):  # format the few distinct values, then take
        assert isinstance(col, pa.DictionaryArray)
        return pc.fill_null(pc.take(_json_values(col.dictionary), col.indices), "null")
    if pa.types.is_timestamp(col.type):
        text = _json_string(_iso(col))
    elif pa.types.is_string(col.type):
        text = _json_string(col)
    else:  # numbers and booleans print as JSON literals
        text = col.cast(pa.string())
    return pc.fill_null(text, "null")


def _jsonl(table: pa.Table) -> memoryview:
    """One JSON object per row, built column-wise in Arrow (no per-row Python)."""
    parts: list[pa.Array | str] = []
    for i, f in enumerate(table.schema):
        parts.append(("{" if i == 0 else ",") + json.dumps(f.name) + ":")
        parts.append(_json_values(table.column(i).combine_chunks()))
    parts.append("}\n")
    lines = pc.binary_join_element_wise(*parts, "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[
        lines.offset: lines.offset + len(lines) + 1]
    data = lines.buffers()[2]
    assert data is not None
    return memoryview(data)[int(offsets[0]): int(offsets[-1])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=FORMATS, default="parquet")
    parser.add_argument("--out", type=Path, default=Path("bench/data"))
    parser.add_argument("--now", default=None,
                        help=f"ISO-8601 'present' of the data (default {DEFAULT_NOW.isoformat()})")
    parser.add_argument("--with-outcomes", action="store_true",
                        help="add the converted and closed_won columns to the leads file")
    args = parser.parse_args(argv)
    if args.leads < 1 and args.events > 0:
        parser.error("events need at least one lead (--leads >= 1)")
    now = None
    if args.now:
        try:
            now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
        except ValueError:
            parser.error(f"--now {args.now!r} is not an ISO-8601 date-time")
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
    started = time.perf_counter()
    leads_path, events_path = generate_files(args.out, args.leads, args.events, args.seed,
                                             args.format, now, args.with_outcomes)
    print(json.dumps({
        "leads": args.leads, "events": args.events, "seed": args.seed, "format": args.format,
        "leads_path": str(leads_path), "events_path": str(events_path),
        "leads_mb": round(leads_path.stat().st_size / 1e6, 1),
        "events_mb": round(events_path.stat().st_size / 1e6, 1),
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
