"""The HubSpot sandbox models how portals differ: tiers (limits and endpoint availability), auth
kinds, a token's exact scopes, dated and numbered paths (and numbered paths past their end of
support), and portal validation rules on writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.hubspot import create_server
from sandbox.hubspot.app import limits_for
from sandbox.tenant import generate_tenant


@pytest.fixture(scope="module")
def tiny() -> Any:
    return generate_tenant(seed=3, leads=30, events_per_lead=4)


@pytest.fixture
def serve(tiny: Any) -> Iterator[Any]:
    started: list[Any] = []

    def start(**options: Any) -> Any:
        server = create_server(tiny, **options).start()
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


def get(server: Any, path: str, token: str | None = None, **params: Any) -> requests.Response:
    return requests.get(server.url + path, params=params, timeout=10,
                        headers={"Authorization": f"Bearer {token or server.token}"})


@pytest.mark.parametrize(("tier", "auth", "burst", "daily"), [
    ("starter", "service-key", "100", "250000"), ("professional", "legacy-private-app", "190", "650000"),
    ("enterprise", "service-key", "190", "1000000"), ("professional", "oauth", "100", None)])
def test_limits_follow_the_tier_and_the_auth_kind(serve: Any, tier: str, auth: str, burst: str,
                                                  daily: str | None) -> None:
    server = serve(tier=tier, auth=auth)
    resp = get(server, "/crm/owners/2026-09")
    assert resp.status_code == 200 and resp.headers["X-HubSpot-RateLimit-Max"] == burst
    assert resp.headers.get("X-HubSpot-RateLimit-Daily") == daily  # OAuth calls carry no daily headers
    assert limits_for(tier, auth)[0] == int(burst)


@pytest.mark.parametrize("tier", ["starter", "professional"])
def test_event_occurrences_need_enterprise(serve: Any, tier: str) -> None:
    server = serve(tier=tier)
    resp = get(server, "/events/event-occurrences/2026-09", objectType="contact")
    assert resp.status_code == 403 and resp.json()["category"] == "MISSING_SCOPES"
    assert "Missing auth details" in resp.json()["message"]
    assert get(serve(tier="enterprise"), "/events/event-occurrences/2026-09", objectType="contact").ok


def test_sequences_need_professional(serve: Any) -> None:
    starter, pro = serve(tier="starter"), serve(tier="professional")
    owner = starter.portal.owners[0]["userId"]
    assert get(starter, "/automation/sequences/2026-09", userId=owner).status_code == 403
    assert get(pro, "/automation/sequences/2026-09", userId=pro.portal.owners[0]["userId"]).ok


def test_the_token_holds_exactly_the_chosen_scopes(serve: Any) -> None:
    server = serve(scopes=frozenset({"crm.objects.contacts.read"}))
    assert get(server, "/crm/objects/2026-09/contacts", limit=1).ok
    resp = get(server, "/crm/objects/2026-09/companies", limit=1)
    assert resp.status_code == 403 and resp.json()["category"] == "MISSING_SCOPES"
    assert server.connection_info()["scopes"] == ["crm.objects.contacts.read"]


def test_dated_and_numbered_paths_until_numbered_ones_retire(serve: Any) -> None:
    live = serve()
    assert get(live, "/crm/v3/objects/contacts", limit=1).json() == get(live, "/crm/objects/2026-09/contacts",
                                                                         limit=1).json()
    assert get(live, "/crm/objects/2026-03/contacts", limit=1).ok  # every supported version
    retired = serve(retire_numbered_paths=True)
    resp = get(retired, "/crm/v3/objects/contacts", limit=1)
    assert resp.status_code == 410 and "/crm/objects/2026-09/contacts" in resp.json()["message"]
    assert get(retired, "/crm/objects/2026-09/contacts", limit=1).ok
    # no dated version yet: these keep answering
    assert get(retired, "/marketing/v3/forms").ok and get(retired, "/email/public/v1/events", limit=1).ok


def test_a_validation_rule_refuses_dated_writes_that_break_it(serve: Any) -> None:
    server = serve(validation_rules={"jobtitle": ("[A-Za-z ]+", "Job titles are letters only")})
    contact = min(server.portal.stores["contacts"].records)

    def patch(path: str, title: str) -> requests.Response:
        return requests.patch(f"{server.url}{path}/{contact}", json={"properties": {"jobtitle": title}}, timeout=10,
                              headers={"Authorization": f"Bearer {server.token}"})

    refused = patch("/crm/objects/2026-09/contacts", "VP 2")
    assert refused.status_code == 400 and "Job titles are letters only" in refused.json()["message"]
    assert patch("/crm/objects/2026-09/contacts", "VP Sales").ok
    assert patch("/crm/v3/objects/contacts", "VP 3").ok  # numbered versions predate the check


def test_forms_without_form_types_are_only_hubspot_forms(serve: Any) -> None:
    server = serve()
    every = get(server, "/marketing/v3/forms", formTypes="all", limit=100).json()["results"]
    default = get(server, "/marketing/v3/forms", limit=100).json()["results"]
    assert {f["formType"] for f in default} == {"hubspot"} and len(default) < len(every)


def test_the_cli_prints_the_env_that_points_leadscore_at_it() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "sandbox", "--crm", "hubspot", "--leads", "20",
                             "--tier", "starter", "--auth", "oauth", "--scopes",
                             "crm.objects.contacts.read,crm.objects.owners.read"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        env = info["env"]
        assert set(env) == {f"LEADSCORE_HUBSPOT__{k}" for k in ("BASE_URL", "AUTH", "REFRESH_TOKEN", "CLIENT_ID",
                                                                 "CLIENT_SECRET")}
        assert env["LEADSCORE_HUBSPOT__AUTH"] == "oauth" and info["tier"] == "starter"
        token = requests.post(f"{env['LEADSCORE_HUBSPOT__BASE_URL']}/oauth/2026-09/token", timeout=10, data={
            "grant_type": "refresh_token", "refresh_token": env["LEADSCORE_HUBSPOT__REFRESH_TOKEN"],
            "client_id": env["LEADSCORE_HUBSPOT__CLIENT_ID"],
            "client_secret": env["LEADSCORE_HUBSPOT__CLIENT_SECRET"]}).json()
        assert sorted(token["scopes"]) == ["crm.objects.contacts.read", "crm.objects.owners.read"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()
