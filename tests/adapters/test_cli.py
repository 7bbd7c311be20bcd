"""``leadscore install --crm hubspot`` and ``leadscore check-mapping`` against a sandbox portal,
configured the way an admin would: ``LEADSCORE_HUBSPOT__*`` environment variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.cli import main
from sandbox.hubspot import ALL_SCOPES

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "hubspot.yaml"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def portal(tenant: Any, make_harness: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    h = make_harness("hubspot", tenant)
    monkeypatch.delenv("LEADSCORE_CONFIG", raising=False)
    monkeypatch.setenv("LEADSCORE_HUBSPOT__BASE_URL", h.server.url)
    monkeypatch.setenv("LEADSCORE_HUBSPOT__ACCESS_TOKEN", h.server.token)
    monkeypatch.setenv("LEADSCORE_HUBSPOT__RATE_PER_10S", "1000")
    return h.server


def test_install_dry_run_then_install_then_up_to_date(portal: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["install", "--crm", "hubspot", "--dry-run"], capsys)
    assert code == 0 and "would create 15 properties" in out and "dry run" in out
    assert "leadscore_score" not in portal.portal.properties["contacts"]
    code, out, _ = run(["install", "--crm", "hubspot"], capsys)
    assert code == 0 and out.startswith("created 15 properties in group 'leadscore'")
    props = portal.portal.properties["contacts"]
    assert props["leadscore_score"]["type"] == "number" and props["leadscore_mql"]["type"] == "bool"
    assert props["leadscore_grade"]["groupName"] == "leadscore"
    assert props["leadscore_probability"]["type"] == "number"  # the predictive fields are installed too
    assert props["leadscore_probability_tier"]["options"]
    code, out, _ = run(["install", "--crm", "hubspot", "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["up_to_date"] and summary["created"] == [] and len(summary["existing"]) == 15
    assert portal.token not in out  # the token is never printed


def test_install_names_exactly_the_missing_scope(portal: Any, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    token = portal.portal.add_token(scopes=ALL_SCOPES - {"crm.schemas.contacts.write"}).value
    monkeypatch.setenv("LEADSCORE_HUBSPOT__ACCESS_TOKEN", token)
    code, _, err = run(["install", "--crm", "hubspot"], capsys)
    assert code == 1
    assert "missing scope crm.schemas.contacts.write" in err and err.count("missing scope") == 1
    assert "leadscore_score" not in portal.portal.properties["contacts"]


def test_check_mapping_names_the_missing_property(portal: Any, capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    run(["install", "--crm", "hubspot"], capsys)
    code, out, _ = run(["check-mapping", "--crm", "hubspot"], capsys)
    assert code == 0 and "every property exists" in out
    path = tmp_path / "mine.yaml"
    path.write_text(MAPPING.read_text().replace("industry: industry\n    employees: numemployees",
                                                "industry: industry_v2\n    employees: numemployees"))
    code, _, err = run(["check-mapping", "--crm", "hubspot", "--mapping", str(path)], capsys)
    assert code == 2 and "contacts.fields.industry: the portal has no contact property 'industry_v2'" in err


def test_check_mapping_offline_reports_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MAPPING.read_text().replace("account_from: associations", "account_from: guess"))
    code, _, err = run(["check-mapping", "--crm", "hubspot", "--offline", "--mapping", str(path)], capsys)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "account_from" in t)
    assert code == 2 and f"{path}:{line}: contacts.account_from" in err
