"""HubSpot as portals really differ: tiers, auth kinds, scopes, retired numbered paths and
validation rules, each against a sandbox configured that way, through the CLI as an admin runs it
(``LEADSCORE_HUBSPOT__*`` from the sandbox's own ``env``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.hubspot.streams import scope_needs
from connector.cli import main
from mappings.loader import load_hubspot_mapping
from sandbox.hubspot import create_server
from sandbox.tenant import generate_tenant

REQUIRED, OPTIONAL = scope_needs(load_hubspot_mapping())


@pytest.fixture(scope="module")
def small() -> Any:
    return generate_tenant(seed=5, leads=120, events_per_lead=6)


@pytest.fixture
def portal(small: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Any]:
    servers: list[Any] = []

    def start(**options: Any) -> Any:
        server = create_server(small, **options).start()
        servers.append(server)
        monkeypatch.delenv("LEADSCORE_CONFIG", raising=False)
        for key in ("ACCESS_TOKEN", "REFRESH_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "AUTH", "TIER"):
            monkeypatch.delenv(f"LEADSCORE_HUBSPOT__{key}", raising=False)
        for key, value in server.connection_info()["env"].items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("LEADSCORE_HUBSPOT__RATE_PER_10S", "1000")
        monkeypatch.setenv("LEADSCORE_STORE_URL", f"sqlite:///{tmp_path}/s{len(servers)}.db")
        return server

    yield start
    for s in servers:
        s.stop()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("tier", ["starter", "professional"])
def test_lower_tiers_with_only_the_required_scopes_install_and_sync(
        portal: Any, tier: str, capsys: pytest.CaptureFixture[str]) -> None:
    server = portal(tier=tier, auth="service-key", scopes=frozenset(REQUIRED))
    code, out, err = run(["install", "--crm", "hubspot", "--dry-run", "--json"], capsys)
    plan = json.loads(out)
    assert code == 0 and not plan["problems"]
    streams = {s["name"]: s for s in plan["streams"]}
    assert streams["contacts"]["available"] and streams["emails"]["available"]
    assert streams["web_events"]["reason"] == "needs scope oauth"
    assert streams["email_events"]["reason"] == "needs scope content"
    assert streams["forms"]["reason"] == "needs scope forms"
    code, out, err = run(["install", "--crm", "hubspot"], capsys)
    assert code == 0 and "created 15 properties" in out
    code, out, err = run(["sync", "--crm", "hubspot"], capsys)
    assert code == 0, err
    skipped = [line for line in out.splitlines() if "skipped" in line]
    assert [line.split()[1] for line in skipped] == ["web_events:", "email_events:", "forms:"]  # once each
    code, out, _ = run(["sync", "--crm", "hubspot", "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and {u["name"] for u in summary["unavailable"]} == {"web_events", "email_events", "forms"}
    scored = [r for r in server.portal.stores["contacts"].records.values() if r.props.get("leadscore_score")]
    assert len(scored) == len(server.portal.stores["contacts"].records)


def test_a_starter_portal_refuses_web_events_for_its_tier_not_a_scope(
        portal: Any, capsys: pytest.CaptureFixture[str]) -> None:
    portal(tier="starter", auth="legacy-private-app")  # every scope, but the tier lacks the API
    code, out, _ = run(["install", "--crm", "hubspot", "--dry-run", "--json"], capsys)
    streams = {s["name"]: s for s in json.loads(out)["streams"]}
    assert code == 0 and streams["web_events"]["reason"] == "needs a HubSpot Enterprise subscription (any hub)"
    assert streams["email_events"]["available"] and streams["forms"]["available"]
    run(["install", "--crm", "hubspot"], capsys)
    code, out, err = run(["sync", "--crm", "hubspot", "--json"], capsys)
    summary = json.loads(out)
    assert code == 0, err
    assert [u["name"] for u in summary["unavailable"]] == ["web_events"]
    assert "Enterprise" in summary["unavailable"][0]["reason"]
    assert summary["pulled"]["events"] > 0  # e-mail, forms and engagements still came in


def test_oauth_with_numbered_paths_retired_syncs_through_dated_paths(
        portal: Any, capsys: pytest.CaptureFixture[str]) -> None:
    server = portal(tier="enterprise", auth="oauth", retire_numbered_paths=True)
    code, out, err = run(["install", "--crm", "hubspot", "--json"], capsys)
    assert code == 0, err
    assert all(s["available"] for s in json.loads(out)["streams"])
    code, out, err = run(["sync", "--crm", "hubspot", "--json"], capsys)
    assert code == 0, err and json.loads(out)["unavailable"] == []
    used = server.log.counts()
    numbered = {e for e in used if "/v3/" in e or "/v4/" in e or "/v1/" in e or "/v2/" in e}
    # only the listed exceptions, which have no dated version yet
    from adapters.hubspot.transport import NUMBERED

    assert numbered <= set(NUMBERED)
    assert "POST /oauth/2026-09/token" in used


def test_oauth_budget_defaults_below_hubspots_oauth_limit() -> None:
    from adapters.hubspot.transport import default_budget

    assert default_budget("oauth", "enterprise") == 80
    assert default_budget("service-key", "professional") == 150
    assert default_budget("legacy-private-app", "starter") == 80
    assert default_budget("service-key", None) == 80


def test_a_write_refused_by_a_validation_rule_is_reported_per_record(
        portal: Any, capsys: pytest.CaptureFixture[str]) -> None:
    server = portal(validation_rules={"leadscore_grade": ("[A-D]", "Grades E and F are not allowed here")})
    run(["install", "--crm", "hubspot"], capsys)
    code, out, err = run(["sync", "--crm", "hubspot", "--json"], capsys)
    summary = json.loads(out)
    assert code == 4, err  # some records were refused: the sync's documented exit for failed writes
    contacts = server.portal.stores["contacts"].records.values()
    refused = [r for r in contacts if not r.props.get("leadscore_score")]
    written = [r for r in contacts if r.props.get("leadscore_score")]
    assert refused and written and summary["failed"] >= len(refused)
    assert all(r.props.get("leadscore_grade") in "ABCD" for r in written)
    import os

    import sqlalchemy as sa

    from connector.store import Store, schema

    store = Store.open(os.environ["LEADSCORE_STORE_URL"])
    try:
        with store.engine.connect() as conn:
            errors = dict(conn.execute(sa.select(schema.outbox.c.record_id, schema.outbox.c.last_error)).all())
    finally:
        store.close()
    assert set(errors) >= {str(r.id) for r in refused}  # one per record, with HubSpot's message
    assert all("Grades E and F are not allowed here" in (errors[str(r.id)] or "") for r in refused)


def test_a_tier_the_admin_states_costs_no_probe(portal: Any, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    server = portal(tier="professional", auth="service-key")
    monkeypatch.setenv("LEADSCORE_HUBSPOT__TIER", "professional")
    code, out, _ = run(["install", "--crm", "hubspot", "--dry-run", "--json"], capsys)
    streams = {s["name"]: s for s in json.loads(out)["streams"]}
    assert code == 0 and not streams["web_events"]["available"]
    assert "LEADSCORE_HUBSPOT__TIER is professional" in streams["web_events"]["enable"]
    assert not any("event-occurrences" in e for e in server.log.counts())  # known without asking
    assert json.loads(out)["warnings"] == []  # stream scopes are reported per stream, not twice


def test_doctor_names_the_tier_and_the_streams_a_starter_portal_cannot_serve(
        portal: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    web = next(s for s, why in OPTIONAL.items() if "web analytics" in why)  # a scope the token holds ...
    server = portal(tier="starter", auth="service-key", scopes=frozenset(REQUIRED) | {web})
    assert run(["install", "--crm", "hubspot"], capsys)[0] == 0
    monkeypatch.setenv("LEADSCORE_HUBSPOT__TIER", "starter")  # ... but a tier that lacks the API
    code, out, _ = run(["doctor", "--crm", "hubspot", "--json"], capsys)
    crm = json.loads(out.strip().splitlines()[-1])["crms"][0]
    assert code == 0 and crm["tier"] == "starter", crm  # only optional streams are missing: a sync works
    streams = {s["name"]: s for s in crm["streams"]}
    assert streams["contacts"]["available"] and streams["companies"]["available"]
    assert not streams["web_events"]["available"] and "Enterprise" in (streams["web_events"]["reason"] or "") + (
        streams["web_events"]["enable"] or "")
    assert not streams["email_events"]["available"] and "content" in (streams["email_events"]["reason"] or "")
    assert {a["ok"] for a in crm["actions"] if a["action"] != "write scores back"} == {False}
    assert server.token not in out
