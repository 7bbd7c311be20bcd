"""`leadscore demo`: end to end on the sandbox CRMs, and the offline variant on files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.cli import main


def _summary(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_demo_runs_the_product_against_a_sandbox(crm: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--crm", crm, "--leads", "400", "--out", str(tmp_path), "--json"]) == 0
    summary = _summary(capsys)
    first, second = summary["first_sync"], summary["second_sync"]
    assert summary["fields_installed"] >= 13
    assert first["pulled"]["leads"] > 300 and first["failed"] == 0 and second["failed"] == 0
    assert first["written"] >= first["pulled"]["leads"]  # every lead's fields, plus account rollups
    assert first["crossings"]["mql.entered"] > 0 and first["actions"]
    assert second["new_events"] == summary["week_events"] >= 2 * len(summary["active_this_week"]) > 0  # reply, meeting
    assert second["written"] < first["written"]  # only what changed goes back
    assert second["crossings"].get("mql.entered", 0) >= 1  # the week's activity lifted someone over the line
    scores = [row["score"] for row in summary["queue"]]
    assert scores == sorted(scores, reverse=True) and summary["queue"][0]["grade"] in "AB"
    assert (tmp_path / "leadscore.db").exists()


def test_offline_demo_ranks_converters_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--offline", "--leads", "3000", "--out", str(tmp_path), "--json"]) == 0
    summary = _summary(capsys)
    assert summary["leads"] == 3000 and summary["events"] > 0
    rates = {grade: rate for grade, _, rate in summary["conversion_by_grade"]}
    assert rates["A"] > rates["C"] > rates["F"]
    assert summary["lift_above_threshold"] >= 3  # the 3-5x rule of thumb for an MQL threshold
    assert (tmp_path / "scores.csv").exists() and (tmp_path / "events.csv").exists()


def test_offline_demo_prints_the_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--offline", "--leads", "500", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Queue: hottest first" in text and "leadscore explain" in text


@pytest.mark.slow
def test_hubspot_demo_runs_with_numbered_paths_retired(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import sandbox.hubspot as hubspot_sandbox

    made: list = []
    real = hubspot_sandbox.create_server

    def retired(*args: object, **kwargs: object) -> object:
        server = real(*args, retire_numbered_paths=True, **kwargs)  # type: ignore[arg-type]
        made.append(server)
        return server

    monkeypatch.setattr(hubspot_sandbox, "create_server", retired)
    assert main(["demo", "--crm", "hubspot", "--leads", "200", "--out", str(tmp_path), "--json"]) == 0
    summary = _summary(capsys)
    assert made and summary["first_sync"]["failed"] == 0 and summary["second_sync"]["new_events"] > 0
    numbered = {e for e in made[0].log.counts() if "/v3/" in e or "/v4/" in e or "/v1/" in e or "/v2/" in e}
    from adapters.hubspot.transport import NUMBERED

    assert numbered <= set(NUMBERED)  # only the listed exceptions, still served
