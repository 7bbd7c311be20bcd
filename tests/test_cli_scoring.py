"""The offline CLI end to end: files in, scores out, errors as messages with exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from connector.cli import main

from .helpers import EXAMPLES

NOW = "2026-11-01T00:00:00Z"
BASE = ["--leads", str(EXAMPLES / "leads.csv"), "--events", str(EXAMPLES / "events.csv"),
        "--accounts", str(EXAMPLES / "accounts.csv"), "--now", NOW]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_score_writes_every_lead_and_reports_the_bad_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scores.csv"
    code, stdout, stderr = run(["score", *BASE, "--out", str(out), "--json"], capsys)
    assert code == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["leads"] == 8 and summary["skipped_rows"] == 1
    assert "events.csv:28: 'occurred_at' is not an ISO-8601 timestamp" in stderr
    rows = {r["lead_id"]: r for r in pacsv.read_csv(out).to_pylist()}
    assert set(rows) == {f"L-00{i}" for i in range(1, 9)}
    # the demo-requesting VP beats the student who browsed the careers page
    assert rows["L-001"]["score"] > 70 > rows["L-003"]["score"]
    assert rows["L-001"]["priority"] == "A2" and rows["L-003"]["grade"] == "F"
    assert "Demo request +" in rows["L-001"]["reasons"]
    assert rows["L-001"]["model_version"] == summary["model_version"]


def test_fail_on_bad_rows_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scores.parquet"
    code, _, stderr = run(["score", *BASE, "--out", str(out), "--on-error", "fail"], capsys)
    assert code == 3
    assert "events.csv:28" in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_output_formats_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("s.csv", "s.jsonl", "s.parquet"):
        assert run(["score", *BASE, "--out", str(tmp_path / name)], capsys)[0] == 0
    parquet = pq.read_table(tmp_path / "s.parquet").to_pylist()
    jsonl = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["score"] for r in parquet] == [r["score"] for r in jsonl]


def test_column_mapping_scores_a_file_with_other_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leads = tmp_path / "people.csv"
    leads.write_text("Prospect ID;Job Title;Work Email\nP1;CEO;ceo@acme.io\nP2;Student;s@gmail.com\n")
    events = tmp_path / "activity.jsonl"
    events.write_text('{"who": "P1", "what": "form_submit", "when": "2026-10-30T10:00:00Z", '
                      '"form": "demo-request"}\n')
    out = tmp_path / "out.csv"
    code, _, stderr = run(["score", "--leads", str(leads), "--events", str(events), "--now", NOW, "--out", str(out),
                           "--column", "leads.id=Prospect ID", "--column", "leads.title=Job Title",
                           "--column", "leads.email=Work Email", "--column", "events.lead_id=who",
                           "--column", "events.type=what", "--column", "events.occurred_at=when"], capsys)
    assert code == 0, stderr
    rows = {r["lead_id"]: r for r in pacsv.read_csv(out).to_pylist()}
    assert rows["P1"]["score"] > rows["P2"]["score"]
    assert "Demo request" in rows["P1"]["reasons"]


def test_missing_column_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leads = tmp_path / "people.csv"
    leads.write_text("Prospect ID,title\nP1,CEO\n")
    code, _, stderr = run(["score", "--leads", str(leads), "--now", NOW, "--out", str(tmp_path / "o.csv")], capsys)
    assert code == 2
    assert "leads needs column(s) id" in stderr and "Prospect ID" in stderr and "--column leads.id=NAME" in stderr


def test_check_reports_problems_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "bad.yaml"
    model.write_text("name: m\nfit:\n  groups:\n    - name: g\n      rules:\n"
                     "        - {field: lead.contry, equals: US, points: 5}\n")
    code, _, stderr = run(["check", str(model)], capsys)
    assert code == 2
    assert f"{model}:6: fit.groups[0].rules[0].field: unknown field 'lead.contry'" in stderr
    assert "did you mean 'lead.country'" in stderr
    code, stdout, _ = run(["check", str(model), "--json"], capsys)
    assert code == 2 and json.loads(stdout)["problems"][0]["line"] == 6


def test_explain_matches_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.csv"
    run(["score", *BASE, "--out", str(out)], capsys)
    scored = {r["lead_id"]: r for r in pacsv.read_csv(out).to_pylist()}
    code, stdout, _ = run(["explain", "L-005", *BASE, "--json"], capsys)
    assert code == 0
    explained = json.loads(stdout)
    assert explained["score"] == pytest.approx(scored["L-005"]["score"], abs=0.006)
    assert explained["priority"] == scored["L-005"]["priority"]
    assert sum(c["points"] for c in explained["contributions"] if c["kind"] == "fit") == pytest.approx(85.0)
    code, stdout, _ = run(["explain", "L-005", *BASE], capsys)
    assert "Trial sign-up" in stdout and "priority A2" in stdout


def test_unknown_lead_and_bad_now(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr = run(["explain", "nobody", *BASE], capsys)
    assert code == 2 and "no lead with id 'nobody'" in stderr
    code, _, stderr = run(["score", "--leads", str(EXAMPLES / "leads.csv"), "--now", "yesterday",
                           "--out", "x.csv"], capsys)
    assert code == 2 and "'yesterday' is not an ISO-8601 time" in stderr


def test_init_writes_a_valid_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "model.yaml"
    assert run(["init", str(path)], capsys)[0] == 0
    assert run(["check", str(path)], capsys)[0] == 0
    assert run(["init", str(path)], capsys)[0] == 2  # will not overwrite


def test_console_script_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "connector.cli", "check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "default-b2b" in result.stdout


def _scores(path: Path) -> list[dict]:
    return sorted(pq.read_table(path).to_pylist(), key=lambda r: r["lead_id"])


def test_parquet_events_are_read_row_group_by_row_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Parquet events file is scored a row group at a time; the answers and the bad rows
    reported are those of the same events read whole from CSV."""
    events = pacsv.read_csv(EXAMPLES / "events.csv", convert_options=pacsv.ConvertOptions(
        column_types={"occurred_at": "string"}))
    parquet = tmp_path / "events.parquet"
    pq.write_table(events, parquet, row_group_size=4)
    assert pq.ParquetFile(parquet).metadata.num_row_groups == 7
    base = [str(parquet) if a == str(EXAMPLES / "events.csv") else a for a in BASE]
    code, stdout, stderr = run(["score", *base, "--out", str(tmp_path / "p.parquet"), "--json"], capsys)
    assert code == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["skipped_rows"] == 1 and summary["events"] == events.num_rows - 1
    assert "events.parquet:27: 'occurred_at' is not an ISO-8601 timestamp" in stderr  # row 26, counted from 1
    assert run(["score", *BASE, "--out", str(tmp_path / "c.parquet")], capsys)[0] == 0
    assert _scores(tmp_path / "p.parquet") == _scores(tmp_path / "c.parquet")


def test_bad_event_rows_in_parquet_count_for_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An event with no lead id, no type or a duration that is not a number is reported and
    scored as if it were not there, in whichever row group it sits."""
    columns = ("lead_id", "type", "occurred_at", "duration_seconds")
    good = [dict(zip(columns, ("L-003", "meeting_held", "2026-10-30T10:00:00Z", "1800"), strict=True))]
    bad = [dict(zip(columns, row, strict=True)) for row in (
        ("L-003", "meeting_held", "2026-10-30T11:00:00Z", "long"),
        (" ", "meeting_held", "2026-10-30T12:00:00Z", None),
        ("L-003", "", "2026-10-30T13:00:00Z", None),
        ("L-003", "meeting_held", None, None),
    )]
    model = tmp_path / "model.yaml"
    model.write_text("""name: meetings
intent:
  max_points: 100
  groups:
    - name: meetings
      rules:
        - {id: long-meeting, event: meeting_held, where: {duration_seconds: {gte: 600}}, points: 40}
        - {id: any-meeting, event: meeting_held, points: 10}
""")
    with_bad, without = tmp_path / "with_bad.parquet", tmp_path / "without.parquet"
    pq.write_table(pa.Table.from_pylist(good + bad), with_bad, row_group_size=2)
    pq.write_table(pa.Table.from_pylist(good), without)
    outputs = []
    for name, events in (("a", with_bad), ("b", without)):
        out = tmp_path / f"{name}.parquet"
        code, stdout, stderr = run(["score", "--model", str(model), "--leads", str(EXAMPLES / "leads.csv"),
                                    "--events", str(events), "--now", NOW, "--out", str(out), "--json"], capsys)
        assert code == 0
        outputs.append((json.loads(stdout.strip().splitlines()[-1]), stderr, _scores(out)))
    (summary, stderr, scores), (_, _, reference) = outputs
    assert summary["skipped_rows"] == 4 and summary["events"] == 1
    for line, message in ((2, "'duration_seconds' is not a number"), (3, "event has no lead_id"),
                          (4, "event has no type"), (5, "event has no occurred_at")):  # row 1 is line 1
        assert f"with_bad.parquet:{line}: {message}" in stderr
    assert scores == reference
    assert next(r for r in scores if r["lead_id"] == "L-003")["intent"] > 0
    code, _, stderr = run(["score", "--model", str(model), "--leads", str(EXAMPLES / "leads.csv"), "--events",
                           str(with_bad), "--now", NOW, "--out", str(tmp_path / "fail.parquet"), "--on-error", "fail"],
                          capsys)
    assert code == 3 and "with_bad.parquet:2" in stderr and not (tmp_path / "fail.parquet").exists()


def test_batch_memory_policy_takes_on_glibc() -> None:
    """`score` keeps freed memory for reuse: Arrow on the system allocator, glibc told not to trim."""
    import platform

    from connector.memory import keep_freed_memory

    took = keep_freed_memory()
    assert pa.default_memory_pool().backend_name == "system"
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert took


def test_check_is_as_strict_as_sync_about_actions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "actions.yaml"
    model.write_text("name: m\nfit:\n  groups:\n    - name: g\n      rules:\n"
                     "        - {field: lead.country, equals: US, points: 5}\n"
                     "thresholds:\n  - name: mql\n    enter: 4\n    exit: 2\n    actions:\n"
                     "      - {type: create_tsak}\n"
                     "      - {type: create_task, subject: 'Call {0}'}\n"
                     "      - {type: notify, text: '{name'}\n"
                     "      - {type: create_task, body: '{score:.1f} {name.upper}'}\n"
                     "      - {type: notify, text: 'Literal {{braces}} and {name} are fine', colour: red}\n")
    code, _, stderr = run(["check", str(model)], capsys)
    assert code == 2
    lines = stderr.splitlines()
    assert any(f"{model}:12: thresholds.mql.actions.0: unknown action type 'create_tsak'" in x
               and "assign_owner, create_task" in x for x in lines)
    assert f"{model}:13: thresholds.mql.actions.1.subject: template 'Call {{0}}' uses {{0}}" in stderr
    assert f"{model}:14: thresholds.mql.actions.2.text: template '{{name' is not valid" in stderr
    assert f"{model}:15: thresholds.mql.actions.3.body: template '{{score:.1f}} {{name.upper}}'" in stderr
    assert f"{model}:16: thresholds.mql.actions.4.colour: unknown key 'colour'" in stderr
    assert "Literal" not in stderr  # a valid template is not reported
    code, stdout, _ = run(["check", str(model), "--json"], capsys)
    assert code == 2 and [p["line"] for p in json.loads(stdout)["problems"]] == [12, 13, 14, 15, 16]


def test_error_messages_keep_text_in_square_brackets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr = run(["check", str(tmp_path / "model [bold]draft[/].yaml")], capsys)
    assert code == 2 and "model [bold]draft[/].yaml: <root>: cannot read the model" in stderr


def test_a_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import connector.tableio as tableio

    def full_disk(*args: object, **kwargs: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tableio.json, "dumps", full_disk)
    with pytest.raises(OSError, match="No space left"):
        tableio.write_table(pa.table({"id": ["a", "b"]}), tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == []  # neither the output nor out.jsonl.partial
