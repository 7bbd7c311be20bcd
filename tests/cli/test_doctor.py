"""``leadscore doctor`` against both sandboxes: settings with their sources, a healthy CRM, a
missing scope, a missing field and an unreachable host, each named; the exit code says whether
something will fail."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.cli import main
from sandbox.hubspot import ALL_SCOPES
from sandbox.hubspot import create_server as create_hubspot
from sandbox.salesforce import create_server as create_salesforce
from tests.helpers import ROOT
from tests.sync.hubspot_world import install, tenant

pytestmark = pytest.mark.slow


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in [k for k in os.environ if k.startswith("LEADSCORE_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADSCORE_STORE_URL", f"sqlite:///{tmp_path / 's.db'}")


def _doctor(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["doctor", *argv, "--json"])
    captured = capfd.readouterr()
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.out + captured.err


@pytest.fixture
def hubspot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    with create_hubspot(tenant(30)) as server:
        _clean(monkeypatch, tmp_path)
        monkeypatch.setenv("LEADSCORE_HUBSPOT__ACCESS_TOKEN", server.token)
        monkeypatch.setenv("LEADSCORE_HUBSPOT__BASE_URL", server.url)
        yield server


def test_hubspot_healthy_after_install_with_settings_and_their_sources(
        hubspot: Any, capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, report, output = _doctor(capfd)
    assert code == 1 and "leadscore's fields are not installed" in " ".join(report["crms"][0]["problems"])
    install(hubspot)
    (tmp_path / "conf.yaml").write_text("hubspot:\n  batch_size: 50\n")
    code, report, output = _doctor(capfd, "--config", str(tmp_path / "conf.yaml"))
    assert code == 0 and report["ok"], output
    settings = {row["key"]: row for row in report["settings"]}
    assert settings["hubspot.access_token"]["value"] == "**********"
    assert settings["hubspot.access_token"]["source"] == "environment variable LEADSCORE_HUBSPOT__ACCESS_TOKEN"
    assert settings["hubspot.batch_size"] == {"key": "hubspot.batch_size", "value": "50",
                                              "source": f"{tmp_path / 'conf.yaml'}:2",
                                              "env": "LEADSCORE_HUBSPOT__BATCH_SIZE"}
    assert settings["hubspot.rate_per_10s"]["source"] == "default"
    crm = report["crms"][0]
    assert crm["crm"] == "hubspot" and crm["reachable"] and crm["authenticated"]
    assert crm["auth"] == "private-app access token"
    assert "crm.schemas.contacts.write" in crm["scopes"]
    assert crm["actions"][0] == {"action": "write scores back", "ok": True, "why": None}
    assert crm["api"]["daily_limit"] == 1_000_000 and 0 < crm["api"]["daily_left"] < 1_000_000
    assert report["store"]["ok"] and report["store"]["note"]
    assert hubspot.token not in output
    assert main(["doctor"]) == 0
    text = capfd.readouterr().out
    assert "everything checked will work" in text and hubspot.token not in text


def test_hubspot_missing_scope_is_named(hubspot: Any, capfd: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    install(hubspot)
    token = hubspot.portal.add_token(scopes=ALL_SCOPES - {"crm.schemas.contacts.write", "forms"}).value
    monkeypatch.setenv("LEADSCORE_HUBSPOT__ACCESS_TOKEN", token)
    code, report, output = _doctor(capfd, "--crm", "hubspot")
    crm = report["crms"][0]
    assert code == 1 and not report["ok"]
    assert [p for p in crm["problems"] if "crm.schemas.contacts.write" in p], crm
    assert "forms" not in crm["scopes"], crm
    forms = next(st for st in crm["streams"] if st["name"] == "forms")  # the adapter's stream_status()
    assert not forms["available"] and forms["reason"] == "needs scope forms", crm["streams"]
    action = {k: v for k, v in crm["actions"][1].items() if k != "why"}
    assert action == {"action": "read form submissions", "ok": False}
    assert token not in output
    assert main(["doctor", "--crm", "hubspot"]) == 1
    assert "crm.schemas.contacts.write" in capfd.readouterr().err


def test_hubspot_missing_field_is_named(hubspot: Any, capfd: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(hubspot)
    mine = tmp_path / "mine.yaml"
    mine.write_text((ROOT / "mappings" / "hubspot.yaml").read_text().replace(
        "industry: industry\n    employees: numemployees", "industry: industry_v2\n    employees: numemployees"))
    monkeypatch.setenv("LEADSCORE_HUBSPOT__MAPPING", str(mine))
    code, report, _ = _doctor(capfd)
    assert code == 1
    assert "mapping: contacts.fields.industry: the portal has no contact property 'industry_v2'" in \
        report["crms"][0]["problems"]


def test_hubspot_unreachable_host_is_named(hubspot: Any, capfd: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    monkeypatch.setenv("LEADSCORE_HUBSPOT__BASE_URL", f"http://127.0.0.1:{port}")
    code, report, output = _doctor(capfd)
    crm = report["crms"][0]
    assert code == 1 and crm["reachable"] is False and crm["host"] == f"127.0.0.1:{port}"
    assert crm["problems"][0].startswith(f"cannot reach 127.0.0.1:{port}: ")
    assert hubspot.token not in output


@pytest.fixture
def salesforce(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    with create_salesforce(None) as server:
        info = server.connection_info()
        _clean(monkeypatch, tmp_path)
        monkeypatch.setenv("LEADSCORE_SALESFORCE__INSTANCE_URL", info["instance_url"])
        monkeypatch.setenv("LEADSCORE_SALESFORCE__SESSION_ID", info["session_id"])
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", info["ca_cert"])
        yield info


def test_salesforce_healthy_then_missing_field(salesforce: dict[str, Any], capfd: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, report, _ = _doctor(capfd)
    crm = report["crms"][0]
    assert code == 1 and crm["crm"] == "salesforce" and crm["reachable"] and crm["authenticated"]
    assert crm["auth"] == "session id (cannot be refreshed)" and crm["fields"]["to_create"]
    assert main(["install", "--crm", "salesforce"]) == 0
    capfd.readouterr()
    code, report, output = _doctor(capfd)
    assert code == 0 and report["ok"], output
    assert report["crms"][0]["api"]["daily_limit"] and report["crms"][0]["api"]["daily_left"] is not None
    assert salesforce["session_id"] not in output
    mine = tmp_path / "mine.yaml"
    mine.write_text((ROOT / "mappings" / "salesforce.yaml").read_text().replace(
        "custom: {}", "custom: {nps: NPS_Score__c}", 1))
    monkeypatch.setenv("LEADSCORE_SALESFORCE__MAPPING", str(mine))
    code, report, _ = _doctor(capfd, "--crm", "salesforce")
    assert code == 1
    assert [p for p in report["crms"][0]["problems"] if "leads.custom.nps" in p and "NPS_Score__c" in p], report


def test_salesforce_unreachable_host_is_named(salesforce: dict[str, Any], capfd: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    monkeypatch.setenv("LEADSCORE_SALESFORCE__INSTANCE_URL", f"https://127.0.0.1:{port}")
    code, report, output = _doctor(capfd)
    crm = report["crms"][0]
    assert code == 1 and crm["reachable"] is False and crm["host"] == f"127.0.0.1:{port}", report
    assert crm["problems"][0].startswith(f"cannot reach 127.0.0.1:{port}")
    assert salesforce["session_id"] not in output


def test_bad_settings_are_listed_and_exit_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    _clean(monkeypatch, tmp_path)
    (tmp_path / ".env").write_text("LEADSCORE_HUBSPOT__BATCH_SISE=5\nLEADSCORE_SMTP_PORT=0\n")
    monkeypatch.setenv("LEADSCORE_HUBSPOT__ACCESS_TOKEN", "pat-na1-doctor-secret-value")
    monkeypatch.setenv("LEADSCORE_HUBSPOT__BASE_URL", f"http://127.0.0.1:{_closed_port()}")
    code, report, output = _doctor(capfd)
    assert code == 2
    assert report["settings_problems"] == [
        ".env:1: hubspot.batch_sise: unknown setting (did you mean hubspot.batch_size?)",
        ".env:2: smtp_port: '0' is not an integer from 1 to 65535"]
    assert "pat-na1-doctor-secret-value" not in output


def test_no_crm_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    _clean(monkeypatch, tmp_path)
    code, report, _ = _doctor(capfd)
    assert code == 1 and report["crms"] == [] and "no CRM is configured" in report["problems"][0]


def test_streams_from_an_adapter_that_reports_them(hubspot: Any, capfd: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An adapter with ``stream_status()`` (adapters.base.StreamChecker) has its streams shown, and
    a required one that is unavailable fails the check."""
    from adapters.base import StreamStatus
    from connector.commands import doctor

    install(hubspot)
    real = doctor._adapter
    statuses = [StreamStatus("contacts", True, required=True),
                StreamStatus("email_events", False, "needs scope content", "grant the content scope")]

    class Reporting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def stream_status(self) -> list[StreamStatus]:
            return statuses

    monkeypatch.setattr(doctor, "_adapter", lambda *a: Reporting(real(*a)))
    code, report, _ = _doctor(capfd)
    assert code == 0 and report["crms"][0]["streams"] == [
        {"name": "contacts", "available": True, "reason": None, "enable": None, "required": True},
        {"name": "email_events", "available": False, "reason": "needs scope content",
         "enable": "grant the content scope", "required": False}]
    assert main(["doctor"]) == 0
    assert "email_events: no (needs scope content; grant the content scope)" in capfd.readouterr().out
    statuses[0] = StreamStatus("contacts", False, "needs scope crm.objects.contacts.read", required=True)
    code, report, _ = _doctor(capfd)
    assert code == 1 and "stream contacts unavailable: needs scope crm.objects.contacts.read" in \
        report["crms"][0]["problems"]


def test_install_reports_unavailable_streams(hubspot: Any, capfd: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.base import StreamStatus
    from connector.commands import install as install_module

    real = install_module.crm_adapter

    class Reporting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def stream_status(self) -> list[StreamStatus]:
            return [StreamStatus("forms", False, "needs scope forms", "grant the forms scope")]

    monkeypatch.setattr(install_module, "crm_adapter", lambda *a: Reporting(real(*a)))
    assert main(["install", "--crm", "hubspot", "--dry-run", "--json"]) == 0
    summary = json.loads(capfd.readouterr().out)
    assert summary["streams"][0]["name"] == "forms"
    assert summary["streams"][0] == {"name": "forms", "available": False, "reason": "needs scope forms",
                                     "enable": "grant the forms scope", "required": False}
    assert not any("forms" in w for w in summary["warnings"])  # per stream, not twice
