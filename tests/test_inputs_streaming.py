"""CSV and JSONL events read in bounded batches: the same scores as reading the file whole, and
bad rows reported at the line they are on, whatever the batch and part boundaries, quoted line
breaks, blank lines and unbalanced quotes."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connector.cli import main
from connector.inputs import EventFile, load_input
from scoring.engine import EventParts, score_tables
from scoring.model import parse_model

from .helpers import EXAMPLES

NOW = "2026-11-01T00:00:00Z"
MODEL = """name: stream
intent:
  max_points: 100
  decay: {half_life_days: 30}
  groups:
    - name: web
      rules:
        - {id: pricing, event: page_view, where: {url: {contains: pricing}}, points: 10, cap: 60}
        - {id: blog, event: page_view, where: {url: {contains: blog}}, points: 2, window: {max_events: 2, days: 30}}
        - {id: meeting, event: meeting_held, points: 30, where: {duration_seconds: {gte: 600}}}
"""
HEADER = ["lead_id", "type", "occurred_at", "url", "duration_seconds"]
LEADS = [f"L-{i:03d}" for i in range(1, 9)]


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of a few hundred bytes and parts of a few rows: every boundary case comes up."""
    monkeypatch.setattr(EventFile, "BLOCK", 256)
    monkeypatch.setattr(EventFile, "PART_ROWS", 7)


def _quote(value: str | None) -> str:
    if value is None:
        return ""
    if any(c in value for c in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _events(n: int, seed: int = 3, bad_every: int = 0, multiline_every: int = 0) -> list[dict[str, str | None]]:
    rng = random.Random(seed)
    rows: list[dict[str, str | None]] = []
    for i in range(n):
        kind = rng.choice(["page_view", "page_view", "meeting_held", "email_open"])
        url = rng.choice(["https://x.example/pricing", "https://x.example/blog/a", None]) \
            if kind == "page_view" else None
        if multiline_every and i % multiline_every == 1 and url:
            url += "\nsecond line"  # a quoted line break inside a value
        when = f"2026-10-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:00:00Z"
        row: dict[str, str | None] = {"lead_id": rng.choice(LEADS), "type": kind, "occurred_at": when,
                                      "url": url, "duration_seconds": str(rng.randint(60, 3600))}
        if bad_every and i % bad_every == bad_every - 1:
            column, value = rng.choice([("occurred_at", "last tuesday"), ("duration_seconds", "long"),
                                        ("lead_id", " ")])
            row[column] = value
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[dict[str, str | None]], blank_every: int = 0) -> list[int]:
    """Write the rows; returns each row's first line (the header is line 1)."""
    lines, line = [], 2
    with open(path, "w", newline="") as fh:
        fh.write(",".join(HEADER) + "\n")
        for i, row in enumerate(rows):
            if blank_every and i % blank_every == 0:
                fh.write("\n")
                line += 1
            text = ",".join(_quote(row[c]) for c in HEADER) + "\n"
            fh.write(text)
            lines.append(line)
            line += text.count("\n")
    return lines


def _score(events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
           *extra: str) -> tuple[int, dict, str, list[dict]]:
    model = tmp_path / "model.yaml"
    model.write_text(MODEL)
    out = tmp_path / f"{name}.parquet"
    code = main(["score", "--model", str(model), "--leads", str(EXAMPLES / "leads.csv"), "--events", str(events),
                 "--now", NOW, "--out", str(out), "--json", *extra])
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1]) if code == 0 else {}
    scores = pq.read_table(out).sort_by("lead_id").to_pylist() if out.exists() else []
    return code, summary, captured.err, scores


def _whole(events: Path) -> tuple[list[dict], list[tuple[int, str]]]:
    """Scores and bad rows from the events read whole (the reference)."""
    model = parse_model(MODEL, "model.yaml")
    leads = load_input(EXAMPLES / "leads.csv", "leads").table
    prepared = load_input(events, "events")
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    table = score_tables(model, leads, EventParts.of_table(prepared.table), now)
    return table.sort_by("lead_id").to_pylist(), [(b.line, b.message) for b in prepared.bad]


def _reported(stderr: str, name: str) -> list[tuple[int, str]]:
    found = []
    for line in stderr.splitlines():
        if f"{name}:" in line:
            place, _, message = line.partition(f"{name}:")[2].partition(": ")
            found.append((int(place), message.strip()))
    return found


def test_streamed_csv_scores_as_the_file_read_whole_and_reports_lines_across_parts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], small_parts: None) -> None:
    rows = _events(300, bad_every=17)
    events = tmp_path / "events.csv"
    lines = _write_csv(events, rows)
    with EventFile(events) as streamed:
        assert len(streamed.parts.sizes) > 20  # many parts, each of a few rows
        expected_bad = [(b.line, b.message) for b in streamed.bad]
    whole_scores, whole_bad = _whole(events)
    assert expected_bad == whole_bad and len(whole_bad) == 17
    assert [line for line, _ in whole_bad] == [lines[i] for i in range(16, 300, 17)]
    code, summary, stderr, scores = _score(events, tmp_path, capsys, "s")
    assert code == 0 and summary["skipped_rows"] == 17 and summary["events"] == 300 - 17
    assert scores == whole_scores
    assert any(r["intent"] > 0 for r in scores)
    # the first twenty are printed, each at its line
    assert _reported(stderr, "events.csv")[:17] == whole_bad


def test_quoted_line_breaks_and_blank_lines_keep_line_numbers_exact(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], small_parts: None) -> None:
    rows = _events(120, seed=5, bad_every=9, multiline_every=4)
    events = tmp_path / "events.csv"
    lines = _write_csv(events, rows, blank_every=25)
    assert sum("\n" in (r["url"] or "") for r in rows) >= 10
    with EventFile(events) as streamed:
        bad = [(b.line, b.message) for b in streamed.bad]
    assert [line for line, _ in bad] == [lines[i] for i in range(8, 120, 9)]
    assert all(message for _, message in bad)
    code, _, stderr, scores = _score(events, tmp_path, capsys, "q")
    assert code == 0 and _reported(stderr, "events.csv") == bad
    # the line breaks are part of the values: the same scores as the rows without blank lines
    plain = tmp_path / "plain.csv"
    _write_csv(plain, rows)
    assert _score(plain, tmp_path, capsys, "p")[3] == scores


def _unbalanced(tmp_path: Path) -> tuple[Path, list[int]]:
    rows = _events(40, seed=7)
    rows[30].update(type="page_view", url="https://x.example/pricing")
    events = tmp_path / "events.csv"
    lines = _write_csv(events, rows)
    text = events.read_text().splitlines(keepends=True)
    broken = lines[30] - 1  # 0-based index of row 30's line
    text[broken] = text[broken].replace(",https:", ',"https:')  # a quote opened and never closed
    events.write_text("".join(text))
    return events, lines


def test_an_unbalanced_quote_is_reported_not_dropped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], small_parts: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A quote that never closes swallows the lines after it into one record: the parser sees
    too few fields there, and that record is reported at its first line, with the lines it
    runs over; the rows before it score as usual."""
    monkeypatch.setattr(EventFile, "BLOCK", 1 << 16)  # the swallowed record fits in one batch
    events, lines = _unbalanced(tmp_path)
    code, summary, stderr, _ = _score(events, tmp_path, capsys, "u")
    assert code == 0
    reported = _reported(stderr, "events.csv")
    assert len(reported) == 1 and reported[0][0] == lines[30]
    assert "unbalanced quote" in reported[0][1] and f"lines {lines[30]}-" in reported[0][1]
    assert summary["skipped_rows"] == 1 and summary["events"] == 30
    code, _, stderr, scores = _score(events, tmp_path, capsys, "f", "--on-error", "fail")
    assert code == 3 and f"events.csv:{lines[30]}" in stderr and scores == []


def test_an_unbalanced_quote_running_past_a_whole_batch_stops_the_run_at_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], small_parts: None) -> None:
    events, lines = _unbalanced(tmp_path)
    code, _, stderr, scores = _score(events, tmp_path, capsys, "b")
    assert code == 2 and scores == []
    assert f"events.csv:{lines[30]}" in stderr and "never closed" in stderr and "Traceback" not in stderr


def test_a_quote_left_open_at_the_end_of_the_file_is_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], small_parts: None) -> None:
    """Left open in the last column, a quote takes the rest of the file into one value with the
    right number of fields, which the parser accepts; it is reported all the same."""
    rows = _events(20, seed=8)
    events = tmp_path / "events.csv"
    lines = _write_csv(events, rows)
    text = events.read_text().splitlines(keepends=True)
    row = lines[16] - 1
    head, _, last = text[row].rstrip("\n").rpartition(",")
    text[row] = f'{head},"{last}\n'  # the last field opens a quote that never closes
    events.write_text("".join(text))
    code, summary, stderr, _ = _score(events, tmp_path, capsys, "e")
    assert code == 0
    reported = _reported(stderr, "events.csv")
    assert len(reported) == 1 and reported[0][0] == lines[16] and "unbalanced quote" in reported[0][1]
    assert summary["events"] == 16  # rows 0-15; row 16 (with the three it swallowed) is not used


def test_streamed_jsonl_reports_lines_past_blank_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], small_parts: None) -> None:
    rows = _events(90, seed=9, bad_every=11)
    events = tmp_path / "events.jsonl"
    lines, line = [], 1
    with open(events, "w") as fh:
        for i, r in enumerate(rows):
            if i % 20 == 10:
                fh.write("\n")
                line += 1
            fh.write(json.dumps({k: v for k, v in r.items() if v is not None}) + "\n")
            lines.append(line)
            line += 1
    with EventFile(events) as streamed:
        assert len(streamed.parts.sizes) > 5
        bad = [(b.line, b.message) for b in streamed.bad]
    assert [line for line, _ in bad] == [lines[i] for i in range(10, 90, 11)]
    code, summary, stderr, scores = _score(events, tmp_path, capsys, "j")
    assert code == 0 and _reported(stderr, "events.jsonl") == bad
    csv_events = tmp_path / "same.csv"
    _write_csv(csv_events, rows)
    assert _score(csv_events, tmp_path, capsys, "c")[3] == scores


def test_the_temporary_parts_are_removed(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    _write_csv(events, _events(50))
    with EventFile(events) as streamed:
        folder = Path(streamed.parts.read.__self__._spool.name)  # type: ignore[attr-defined]
        assert folder.is_dir() and list(folder.iterdir())
        table = streamed.parts.read(0, ["lead_id", "occurred_at"])
        assert table.column_names == ["lead_id", "occurred_at"] and pa.types.is_timestamp(table.column(1).type)
    assert not folder.exists()
