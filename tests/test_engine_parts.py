"""Events read in parts score exactly as the same events in one table, whatever the parts
look like (empty parts, one row each, dictionaries of their own) and however many threads."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scoring.engine import EventParts, score_detail, score_tables
from scoring.model import parse_model

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
MODEL = parse_model((Path(__file__).parents[1] / "bench" / "model.yaml").read_text(), "bench/model.yaml")
TYPES = ["page_view", "form_submit", "email_open", "email_click", "meeting_held", "email_bounce", "email_unsubscribe"]
URLS = ["https://a.io/pricing", "https://a.io/blog/1", "https://a.io/blog/2", "/careers", None]


def _data(leads: int = 200, events: int = 20000, seed: int = 7) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)
    lead_table = pa.table({"id": [f"L{i}" for i in range(leads)],
                           "title": rng.choice(["CEO", "VP Sales", "Student", "Director of IT", ""], leads)})
    ids = rng.integers(0, leads + 20, events)  # some events of unknown leads
    stamps = [NOW - timedelta(days=d) for d in rng.uniform(-2, 60, events).tolist()]  # dense: windows crowd
    event_table = pa.table({
        "lead_id": [f"L{i}" for i in ids],
        "type": rng.choice(TYPES, events),
        "occurred_at": pa.array(stamps, pa.timestamp("us", tz="UTC")),
        "url": pa.array([URLS[i] for i in rng.integers(0, len(URLS), events)]),
        "form": rng.choice(["demo-request", "newsletter"], events),
    })
    return lead_table, event_table


def _parts_of(table: pa.Table, bounds: list[int], encode: bool) -> EventParts:
    """Parts cut at ``bounds`` (empty parts where two bounds are equal), each part optionally
    dictionary-encoded on its own, as a Parquet row group is."""
    edges = [0, *bounds, table.num_rows]
    pieces = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        piece = table.slice(a, b - a)
        if encode:
            piece = pa.table({name: piece.column(name).dictionary_encode() if name != "occurred_at"
                              else piece.column(name) for name in piece.column_names})
        pieces.append(piece)

    def read(i: int, columns: list[str]) -> pa.Table:
        return pieces[i].select([c for c in columns if c in pieces[i].column_names])

    return EventParts(tuple(p.num_rows for p in pieces), tuple(table.column_names), read)


def test_parts_score_as_one_table() -> None:
    leads, events = _data()
    whole = score_detail(MODEL, leads, events, NOW)
    for bounds, encode, workers in (([0, 0, 1000, 1000, 4000], True, 2), (list(range(1, 20000, 3)), False, 3),
                                    ([2999], True, 1), ([], False, 4)):
        parts = _parts_of(events, bounds, encode)
        detail = score_detail(MODEL, leads, parts, NOW, workers=workers)
        np.testing.assert_allclose(detail.contributions, whole.contributions, rtol=0, atol=1e-9)
        assert (detail.grade == whole.grade).all() and (detail.band == whole.band).all()
    intent_rules = whole.contributions[:, len(MODEL.fit_rules()):]
    assert (intent_rules != 0).any(axis=0).all()  # every intent rule fired
    blogs = events.filter(pc.and_(pc.match_substring(events.column("url"), "/blog/"),
                                  pc.equal(events.column("type"), "page_view")))
    bucket = np.floor(blogs.column("occurred_at").cast(pa.int64()).to_numpy() / 86_400e6 / 30)
    per_window = pa.table({"lead": blogs.column("lead_id"), "bucket": bucket}).group_by(["lead", "bucket"]).aggregate(
        [("bucket", "count")])
    assert max(per_window.column("bucket_count").to_pylist()) > 5  # the window limit had work to do


def test_same_parts_same_answers_every_time() -> None:
    """Parts are assigned to threads in a fixed way: repeated runs give identical bits."""
    leads, events = _data(seed=11)
    parts = _parts_of(events, [500 * k for k in range(1, 12)], True)
    first = score_tables(MODEL, leads, parts, NOW)
    for _ in range(3):
        assert score_tables(MODEL, leads, parts, NOW).equals(first)


def test_parquet_row_groups_are_parts(tmp_path: Path) -> None:
    leads, events = _data(seed=3)
    path = tmp_path / "events.parquet"
    pq.write_table(events, path, row_group_size=700)
    reader = pq.ParquetFile(path, read_dictionary=["lead_id", "type", "url", "form"])
    sizes = tuple(reader.metadata.row_group(i).num_rows for i in range(reader.metadata.num_row_groups))

    def read(i: int, columns: list[str]) -> pa.Table:
        return pq.ParquetFile(path, read_dictionary=["lead_id", "type", "url", "form"]).read_row_group(
            i, columns=[c for c in columns if c in events.column_names])

    detail = score_detail(MODEL, leads, EventParts(sizes, tuple(events.column_names), read), NOW)
    whole = score_detail(MODEL, leads, events, NOW)
    np.testing.assert_allclose(detail.contributions, whole.contributions, rtol=0, atol=1e-9)
