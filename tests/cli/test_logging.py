"""Logging: --log-level/--log-format (and the settings), each retry with its wait, each run's
summary with tenant and CRM, and never a secret in any output."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.cli import main
from connector.logs import configure, mask_secrets
from sandbox.http import FaultConfig
from sandbox.hubspot import create_server
from tests.sync.hubspot_world import install, tenant

NOW = "2026-11-20T12:00:00Z"


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """A HubSpot sandbox answering some requests with a 5xx, configured as an admin would."""
    with create_server(tenant(60), faults=FaultConfig(rate_5xx=0.08, seed=3)) as server:
        install(server)
        for key in [k for k in __import__("os").environ if k.startswith("LEADSCORE_")]:
            monkeypatch.delenv(key)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("LEADSCORE_HUBSPOT__ACCESS_TOKEN", server.token)
        monkeypatch.setenv("LEADSCORE_HUBSPOT__BASE_URL", server.url)
        monkeypatch.setenv("LEADSCORE_STORE_URL", f"sqlite:///{tmp_path / 's.db'}")
        yield server
    configure(reset=True)  # back to the quiet default for the tests that follow


def test_json_logs_show_retries_with_their_wait_and_the_run_summary(
        flaky: Any, capfd: pytest.CaptureFixture[str]) -> None:
    code = main(["--log-level", "info", "--log-format", "json", "sync", "--crm", "hubspot", "--now", NOW, "--json"])
    captured = capfd.readouterr()
    assert code == 0, captured.err
    records = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    retries = [r for r in records if r["message"].startswith("retrying in")]
    assert retries and all(r["wait_s"] >= 0 and r["attempt"] >= 2 for r in retries), records
    assert retries[0]["logger"] == "adapters.retry" and retries[0]["level"] == "info"
    finished = [r for r in records if r["message"].endswith("finished")]
    assert len(finished) == 1 and finished[0]["tenant"] == "hubspot" and finished[0]["crm"] == "hubspot"
    assert finished[0]["pulled"] >= 60 and finished[0]["failed"] == 0
    assert flaky.token not in captured.out + captured.err


def test_text_logs_from_the_settings_and_no_secret_at_debug(flaky: Any, capfd: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_LOG_LEVEL", "debug")
    code = main(["sync", "--crm", "hubspot", "--now", NOW])
    captured = capfd.readouterr()
    assert code == 0, captured.err
    assert " info    adapters.retry: retrying in " in captured.err
    assert "connector.commands.sync: sync of tenant 'hubspot' on hubspot finished" in captured.err
    assert any(" debug   " in line for line in captured.err.splitlines())
    assert flaky.token not in captured.out + captured.err
    # the default is quiet: nothing below a warning
    monkeypatch.delenv("LEADSCORE_LOG_LEVEL")
    assert main(["sync", "--crm", "hubspot", "--now", NOW]) == 0
    assert "retrying in" not in capfd.readouterr().err


def test_a_secret_in_a_log_line_is_masked(capfd: pytest.CaptureFixture[str]) -> None:
    token = "pat-na1-11111111-2222-3333-4444-555555555555"
    configure("debug", "text", by_option=True)
    try:
        logging.getLogger("leadscore.test").warning("sent Authorization: Bearer %s", token)
        logging.getLogger("leadscore.test").warning("login password=hunter2 and %s", token)
    finally:
        configure(reset=True)
    err = capfd.readouterr().err
    assert token not in err and "hunter2" not in err and err.count("**********") == 3
    assert mask_secrets('{"access_token": "abc123def"}') == '{"access_token": "**********"}'


def test_the_format_option_keeps_the_level_from_the_settings(flaky: Any, capfd: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_LOG_LEVEL", "info")
    monkeypatch.setenv("LEADSCORE_LOG_FORMAT", "text")
    assert main(["--log-format", "json", "sync", "--crm", "hubspot", "--now", NOW, "--json"]) == 0
    records = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    assert any(r["message"].endswith("finished") and r["level"] == "info" for r in records)
