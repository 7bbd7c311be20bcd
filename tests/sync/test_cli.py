"""The store-backed commands end to end on the HubSpot sandbox: sync, queue, explain-stored, run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.cli import main
from connector.store import Store, SyncLock
from sandbox.hubspot import create_server

from .hubspot_world import install, tenant

pytestmark = pytest.mark.slow
NOW = "2026-11-20T12:00:00Z"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    with create_server(tenant(80)) as server:
        install(server)
        values = {"LEADSCORE_HUBSPOT__ACCESS_TOKEN": server.token, "LEADSCORE_HUBSPOT__BASE_URL": server.url,
                  "LEADSCORE_STORE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
        monkeypatch.delenv("LEADSCORE_CONFIG", raising=False)
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        yield values


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out.strip().splitlines()[-1])


def test_sync_queue_and_explain_from_the_store(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    first = _json(capsys, ["sync", "--crm", "hubspot", "--now", NOW, "--json"])
    assert first["pulled"]["leads"] == 80 and first["written"] >= 80 and first["failed"] == 0
    assert first["api"]["used"] > 0 and first["api"]["left"] is not None
    listed = _json(capsys, ["queue", "--limit", "5", "--json"])["leads"]
    scores = [x["score"] for x in listed]
    assert len(listed) == 5 and scores == sorted(scores, reverse=True)
    assert all(x["grade"] in "ABCDF" and x["priority"].startswith(x["grade"]) for x in listed)
    top = listed[0]["lead_id"]
    explained = _json(capsys, ["explain-stored", top, "--now", NOW, "--json"])
    assert round(explained["score"]) == listed[0]["score"] and explained["history"][0]["score"] == listed[0]["score"]
    assert main(["queue", "--limit", "3"]) == 0
    assert top in capsys.readouterr().out


def test_a_second_concurrent_sync_exits_with_a_clear_message(env: dict[str, str],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    store = Store.open(env["LEADSCORE_STORE_URL"])
    with SyncLock(store, "hubspot:sync"):
        code = main(["sync", "--crm", "hubspot", "--now", NOW])
    store.close()
    assert code == 1
    assert "another sync of 'hubspot:sync' is running" in capsys.readouterr().err


def test_run_prints_a_health_line_per_run_and_stops_on_sigterm(env: dict[str, str]) -> None:
    child = subprocess.Popen([sys.executable, "-m", "connector.cli", "run", "--crm", "hubspot", "--every", "1h",
                              "--json"], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    line = json.loads(child.stdout.readline())
    assert line["status"] == "ok" and line["rescored"] == 80 and "next" in line
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    assert "received SIGTERM" in stderr and "scheduler stopped after 1 run(s)" in stderr


def test_run_max_runs_and_bad_schedules(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--crm", "hubspot", "--every", "1s", "--max-runs", "2", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["status"] for x in lines] == ["ok", "ok"] and lines[1]["written"] == 0
    assert main(["run", "--every", "soon"]) == 2
    assert "'soon' is not a duration" in capsys.readouterr().err
    assert main(["run", "--cron", "61 * * * *"]) == 2
    assert "is not a cron expression" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "1e999", "-5e3"])
def test_a_contact_with_an_impossible_number_is_reported_and_the_others_sync(
        env: dict[str, str], store_url: str, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    from hubspot import HubSpot
    from hubspot.crm.contacts import SimplePublicObjectInput

    client = HubSpot(access_token=env["LEADSCORE_HUBSPOT__ACCESS_TOKEN"], host=env["LEADSCORE_HUBSPOT__BASE_URL"])
    victim = client.crm.contacts.basic_api.get_page(limit=1).results[0].id
    client.crm.contacts.basic_api.update(victim, SimplePublicObjectInput(properties={"annualrevenue": bad}))
    code = main(["sync", "--crm", "hubspot", "--now", NOW, "--store", store_url, "--json"])
    captured = capsys.readouterr()
    assert code == 4, captured.err  # some records failed: the one that must be fixed in the CRM
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["rejected"] == 1 and summary["rescored"] == 79 and summary["failed"] == 0
    assert summary["rejected_records"][0]["id"] == victim
    assert summary["rejected_records"][0]["field"] == "annual_revenue"
    client.crm.contacts.basic_api.update(victim, SimplePublicObjectInput(properties={"annualrevenue": "5000000"}))
    assert main(["sync", "--crm", "hubspot", "--now", NOW, "--store", store_url]) == 0
    text = capsys.readouterr().out
    assert "80 leads" in text and "rejected" not in text  # fixed in the CRM: pulled, stored and scored again


def test_a_mapped_property_the_portal_lacks_stops_the_sync_naming_its_key(
        env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import ROOT

    text = (ROOT / "mappings" / "hubspot.yaml").read_text().replace("title: jobtitle", "title: job_title_typo", 1)
    assert "job_title_typo" in text
    (tmp_path / "mine.yaml").write_text(text)
    monkeypatch.setenv("LEADSCORE_HUBSPOT__MAPPING", str(tmp_path / "mine.yaml"))
    assert main(["sync", "--crm", "hubspot", "--now", NOW]) == 2  # before: every lead's title silently empty
    err = capsys.readouterr().err
    assert "contacts.fields.title: the portal has no contact property 'job_title_typo'" in err
    store = Store.open(env["LEADSCORE_STORE_URL"])
    assert store.count("hubspot", "leads") == 0 and store.scores("hubspot") == {}  # nothing half-done
    store.close()
