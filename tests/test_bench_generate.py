"""The benchmark data generator writes the offline-scoring input format, the same rows in every
format, deterministically."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from bench.generate import EVENT_COLUMNS, LEAD_COLUMNS, _jsonl, generate_files, main
from sandbox.tenant_events import CHUNK_LEADS
from scoring.records import LEAD_FIELDS, EventType

TS = pa.timestamp("us", tz="UTC")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = {}
    for fmt in ("parquet", "csv", "jsonl"):
        folder = tmp_path_factory.mktemp(fmt)
        out[fmt] = generate_files(folder, 1500, 24_000, seed=4, fmt=fmt)
    return out


def _read(fmt: str, path) -> pa.Table:
    if fmt == "parquet":
        return pq.read_table(path)
    if fmt == "csv":
        names = pacsv.read_csv(path).column_names
        types = {n: TS for n in names if n.endswith("_at")}
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=True,
            quoted_strings_can_be_null=False))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    table = pa.Table.from_pylist(rows)
    return pa.table({n: (table.column(n).cast(TS) if n.endswith("_at") else table.column(n))
                     for n in table.column_names})


def test_sizes_and_columns(files):
    for fmt, (leads_path, events_path) in files.items():
        assert leads_path.name == f"leads.{fmt}" and events_path.name == f"events.{fmt}"
        leads, events = _read(fmt, leads_path), _read(fmt, events_path)
        assert leads.num_rows == 1500 and events.num_rows == 24_000, fmt
        assert tuple(leads.column_names) == LEAD_FIELDS == LEAD_COLUMNS
        assert tuple(events.column_names) == EVENT_COLUMNS
        assert set(pc.unique(events.column("type")).to_pylist()) <= {t.value for t in EventType}
        assert pc.all(pc.is_in(events.column("lead_id"), leads.column("id"))).as_py()


def test_parquet_types_and_row_groups(files):
    leads_path, events_path = files["parquet"]
    schema = pq.read_schema(events_path)
    assert schema.field("occurred_at").type == TS
    assert schema.field("lead_id").type == pa.string()  # plain text for readers
    assert schema.field("duration_seconds").type == pa.float64()
    assert pq.read_schema(leads_path).field("employees").type == pa.float64()


def test_text_formats_write_iso_8601_utc(files):
    first_event = files["csv"][1].read_text().splitlines()[1]
    assert "T" in first_event and "Z" in first_event
    record = json.loads(files["jsonl"][1].read_text().splitlines()[0])
    assert set(record) == set(EVENT_COLUMNS)
    parsed = datetime.fromisoformat(record["occurred_at"].replace("Z", "+00:00"))
    assert parsed.tzinfo == timezone.utc


def test_every_format_holds_the_same_rows(files):
    reference = {kind: _read("parquet", p) for kind, p in zip(("leads", "events"),
                                                                files["parquet"], strict=True)}
    for fmt in ("csv", "jsonl"):
        for kind, path in zip(("leads", "events"), files[fmt], strict=True):
            table = _read(fmt, path)
            ref = reference[kind]
            for name in ref.column_names:
                got, want = table.column(name), ref.column(name)
                if pa.types.is_floating(want.type):
                    got = got.cast(pa.float64())
                if got.null_count == len(got):  # an all-null column has no type in JSON
                    assert want.null_count == len(want), (fmt, kind, name)
                    continue
                assert got.cast(want.type).equals(want), (fmt, kind, name)


def test_deterministic(tmp_path, files):
    again = generate_files(tmp_path, 1500, 24_000, seed=4, fmt="parquet")
    for a, b in zip(again, files["parquet"], strict=True):
        assert pq.read_table(a).equals(pq.read_table(b))
    other = generate_files(tmp_path / "other", 1500, 24_000, seed=5, fmt="parquet")
    assert not pq.read_table(other[1]).equals(pq.read_table(files["parquet"][1]))


def test_many_chunks_and_no_events(tmp_path):
    leads_path, events_path = generate_files(tmp_path, CHUNK_LEADS + 5, 40_000, seed=1)
    assert pq.ParquetFile(events_path).metadata.num_row_groups == 2
    events = pq.read_table(events_path)
    assert events.num_rows == 40_000 and events.schema.field("lead_id").type == pa.string()
    leads_path, events_path = generate_files(tmp_path / "none", 10, 0, seed=1, fmt="parquet")
    assert pq.read_table(events_path).num_rows == 0
    assert pq.read_table(leads_path).num_rows == 10


def test_outcomes_on_request(tmp_path):
    leads_path, _ = generate_files(tmp_path, 300, 1000, seed=2, fmt="parquet",
                                   with_outcomes=True)
    leads = pq.read_table(leads_path)
    assert leads.column_names[-2:] == ["converted", "closed_won"]
    assert 0 < pc.sum(leads.column("converted")).as_py() < 300


def test_jsonl_escapes_text():
    text = ['say "hi"\\now', None, "naïve", "tab\there"]
    table = pa.table({"a": text, "n": [1.5, None, 3.0, 0.0],
                      "d": pa.array(["x", None, 'q"', "x"]).dictionary_encode()})
    lines = bytes(_jsonl(table)).decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"a": 'say "hi"\\now', "n": 1.5, "d": "x"}, {"a": None, "n": None, "d": None},
        {"a": "naïve", "n": 3, "d": 'q"'}, {"a": "tab\there", "n": 0, "d": "x"}]
    plain = bytes(_jsonl(pa.table({"a": ["plain", None]}))).decode().splitlines()
    assert [json.loads(line) for line in plain] == [{"a": "plain"}, {"a": None}]


def test_bad_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        generate_files(tmp_path, 10, 10, fmt="xml")


def test_cli_prints_a_json_summary(tmp_path, capsys):
    code = main(["--leads", "200", "--events", "900", "--seed", "3", "--format", "csv",
                 "--out", str(tmp_path), "--now", "2026-03-01T00:00:00Z"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["leads"] == 200 and summary["events"] == 900
    assert (tmp_path / "events.csv").stat().st_size > 0
    events = _read("csv", tmp_path / "events.csv")
    latest = pc.max(events.column("occurred_at")).as_py()
    assert latest <= datetime(2026, 3, 1, tzinfo=timezone.utc)
