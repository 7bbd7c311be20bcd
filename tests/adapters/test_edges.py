"""Narrow HTTP edge cases: 207 shapes, 429 with and without Retry-After, 401, 5xx that never end,
an ambiguous failure on a create, OAuth refresh.

The generated hubspot-api-client speaks urllib3, which ``responses`` cannot intercept, so those
cases use a scripted WSGI app on a real loopback server (answers popped from a list, requests
recorded).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from adapters.base import TaskRequest, WriteRequest
from adapters.cursors import Window
from adapters.errors import AuthError
from adapters.hubspot import Credentials, HubSpotAdapter, Transport
from adapters.hubspot.events import event_sources
from adapters.retry import RetryPolicy
from sandbox.http import SandboxServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hubspot"


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    body.pop("_source", None)
    return body


class Script:
    """A WSGI app answering with the queued (status, body, headers), recording each request."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, Any, dict[str, str]]] = []
        self.seen: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        self.seen.append({"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
                          "query": environ.get("QUERY_STRING", ""),
                          "auth": environ.get("HTTP_AUTHORIZATION"), "body": raw.decode()})
        status, body, headers = self.answers.pop(0) if self.answers else (500, {"message": "script ran out"}, {})
        start_response(f"{status} X", [("Content-Type", "application/json"), *headers.items()])
        return [json.dumps(body).encode()]


@pytest.fixture
def script() -> Iterator[tuple[Script, SandboxServer]]:
    app = Script()
    server = SandboxServer(app).start()
    yield app, server
    server.stop()


def adapter(url: str, sleeps: list[float], **creds: Any) -> HubSpotAdapter:
    t = Transport(url, Credentials(**(creds or {"access_token": "pat-test"})), rate_per_10s=1000,
                  search_per_second=100, timeout_s=5, policy=RetryPolicy(max_attempts=4, sleep=sleeps.append, seed=2))
    return HubSpotAdapter(t)


def test_207_maps_to_per_record_results(script: tuple[Script, SandboxServer]) -> None:
    app, server = script
    body = fixture("batch_read_207.json")  # results for 1, OBJECT_NOT_FOUND for 999999, nothing about 7
    app.answers.append((207, body, {}))
    requests = [WriteRequest("lead", i, {"leadscore_score": 3}) for i in ("1", "999999", "7")]
    results = adapter(server.url, []).write(requests)
    assert [(r.record_id, r.ok, r.retriable) for r in results] == [("1", True, False), ("999999", False, False),
                                                                   ("7", False, True)]
    assert "OBJECT_NOT_FOUND" in (results[1].error or "")
    assert json.loads(app.seen[0]["body"])["inputs"][1] == {"id": "999999", "properties": {"leadscore_score": "3"}}


def test_429_with_retry_after_waits_at_least_that_long(script: tuple[Script, SandboxServer]) -> None:
    app, server = script
    app.answers += [(429, fixture("rate_limit_ten_secondly.json"), {"Retry-After": "3"}), (200, {"results": []}, {})]
    sleeps: list[float] = []
    assert adapter(server.url, sleeps).owners() == []
    assert len(sleeps) == 1 and 3.0 <= sleeps[0] <= 3.5
    assert len(app.seen) == 2


def test_429_without_retry_after_backs_off_exponentially(script: tuple[Script, SandboxServer]) -> None:
    app, server = script
    search_429 = {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
                  "policyName": "SECONDLY"}
    app.answers += [(429, search_429, {})] * 3 + [(200, {"total": 0, "results": []}, {})]
    sleeps: list[float] = []
    pages = list(adapter(server.url, sleeps).pull_accounts(None, datetime.now(timezone.utc)))
    assert pages[-1].done and len(app.seen) == 4
    assert len(sleeps) == 3 and all(0 <= s <= 0.5 * 2 ** i for i, s in enumerate(sleeps))


def test_401_is_fatal_and_not_retried(script: tuple[Script, SandboxServer]) -> None:
    app, server = script
    app.answers.append((401, fixture("invalid_authentication.json"), {}))
    sleeps: list[float] = []
    with pytest.raises(AuthError, match="HTTP 401"):
        adapter(server.url, sleeps).owners()
    assert sleeps == [] and len(app.seen) == 1


def test_5xx_that_never_ends_fails_the_rest_as_retriable_and_stops(script: tuple[Script, SandboxServer]) -> None:
    app, server = script
    app.answers += [(200, {"results": [{"id": str(i)} for i in range(100)]}, {})] + [(503, {"message": "down"}, {})] * 4
    results = adapter(server.url, []).write([WriteRequest("lead", str(i), {"leadscore_score": 1}) for i in range(250)])
    assert all(r.ok for r in results[:100])
    assert all(not r.ok and r.retriable and "503" in (r.error or "") for r in results[100:])
    assert len(app.seen) == 1 + 4  # the third batch was never sent


def test_a_create_is_not_retried_after_an_ambiguous_failure(script: tuple[Script, SandboxServer]) -> None:
    app, server = script
    app.answers.append((502, {"message": "bad gateway"}, {}))
    [result] = adapter(server.url, []).create_tasks([TaskRequest("5", None, "Call", "now", "k1")])
    assert not result.ok and not result.retriable and "outcome unknown" in (result.error or "")
    assert len(app.seen) == 1


def test_oauth_refreshes_before_expiry(script: tuple[Script, SandboxServer]) -> None:
    app, server = script
    owners: tuple[int, Any, dict[str, str]] = (200, {"results": []}, {})
    app.answers += [(200, {"access_token": "at-1", "refresh_token": "rt-2", "expires_in": 1800}, {}), owners, owners,
                    (200, {"access_token": "at-2", "expires_in": 1800}, {}), owners]
    clock = [1000.0]
    a = adapter(server.url, [], refresh_token="rt-1", client_id="cid", client_secret="secret")
    a.t.clock = lambda: clock[0]
    a.owners()
    a._owners = None
    clock[0] += 1400  # 400 s left: still more than the 300 s margin
    a.owners()
    a._owners = None
    clock[0] += 200  # 200 s left: refresh first
    a.owners()
    paths = [(s["path"], s["auth"]) for s in app.seen]
    token, owners_path = "/oauth/2026-09/token", "/crm/owners/2026-09"  # the dated paths
    assert paths == [(token, None), (owners_path, "Bearer at-1"), (owners_path, "Bearer at-1"),
                     (token, None), (owners_path, "Bearer at-2")]
    assert "refresh_token=rt-2" in app.seen[3]["body"]  # the rotated refresh token is used
    assert "secret" not in repr(a.t.credentials)


def test_email_events_retry_a_429_without_retry_after(script: tuple[Script, SandboxServer]) -> None:
    app, server = script
    event = {"id": "e1", "created": 1_700_000_000_000, "type": "OPEN", "recipient": "Ann@Example.com",
             "emailCampaignId": 5}
    unsub = {"id": "e2", "created": 1_700_000_000_001, "type": "STATUSCHANGE", "recipient": "ann@example.com",
             "portalSubscriptionStatus": "UNSUBSCRIBED"}
    app.answers += [(429, {"status": "error", "errorType": "RATE_LIMIT", "policyName": "SECONDLY",
                           "message": "slow down"}, {}),
                    (200, {"hasMore": False, "offset": "2", "events": [event, unsub]}, {})]
    sleeps: list[float] = []
    a = adapter(server.url, sleeps)
    [source] = [s for s in event_sources(a.t, a.mapping, lambda emails: {e: "42" for e in emails}, 100)
                if s.name == "email"]
    pages = list(source.read(Window(1_600_000_000_000, 1_800_000_000_000)))
    events = [e for evs, _ in pages for e in evs]
    assert [(e.lead_id, e.type, e.campaign) for e in events] == [("42", "email_open", "5"),
                                                                 ("42", "email_unsubscribe", None)]
    assert len(sleeps) == 1 and len(app.seen) == 2
    assert app.seen[1]["auth"] == "Bearer pat-test" and app.seen[1]["path"] == "/email/public/v1/events"


def test_email_events_walk_down_in_bounded_queries_from_the_history_horizon(
        script: tuple[Script, SandboxServer]) -> None:
    from urllib.parse import parse_qs

    from adapters.hubspot.events import EMAIL_HISTORY_DAYS

    app, server = script
    until = 1_800_000_000_000

    def event(i: str, ms: int) -> dict[str, Any]:
        return {"id": i, "created": ms, "type": "OPEN", "recipient": "ann@example.com"}

    # page 1: the newest two (one at until - 50); page 2 repeats the one at the boundary; page 3: the last
    pages = [{"hasMore": True, "offset": "x", "events": [event("a", until - 10), event("b", until - 50)]},
             {"hasMore": True, "offset": "y", "events": [event("b", until - 50), event("c", until - 90)]},
             {"hasMore": False, "events": [event("d", until - 99)]}]
    app.answers += [(200, p, {}) for p in pages]
    a = adapter(server.url, [])
    [source] = [s for s in event_sources(a.t, a.mapping, lambda e: {e: "7" for e in e}, 100) if s.name == "email"]
    assert source.resume is not None
    out = list(source.resume({}, until, 0))
    assert [e.id for evs, _ in out for e in evs] == ["email:a", "email:b", "email:c", "email:d"]  # b once
    start = until - EMAIL_HISTORY_DAYS * 86_400_000
    assert [state for _, state in out] == [{"email": start, "email.top": until, "email.down": until - 50},
                                           {"email": start, "email.top": until, "email.down": until - 90},
                                           {"email": until}]
    queries = [parse_qs(s["query"]) for s in app.seen]
    assert [(int(q["startTimestamp"][0]), int(q["endTimestamp"][0])) for q in queries] == [
        (start, until), (start, until - 50), (start, until - 90)]
    assert not any("offset" in q for q in queries)  # each call is a query of its own, resumable


def test_401_outside_the_client_is_an_auth_error(script: tuple[Script, SandboxServer]) -> None:
    app, server = script
    app.answers.append((401, fixture("invalid_authentication.json"), {}))
    a = adapter(server.url, [])
    [source] = [s for s in event_sources(a.t, a.mapping, lambda e: {}, 100) if s.name == "forms"]
    with pytest.raises(AuthError):
        list(source.read(Window(None, 1)))
    assert app.seen[0]["path"] == "/marketing/v3/forms" and "formTypes=all" in app.seen[0]["query"]


def test_a_transport_error_never_quotes_the_token() -> None:
    token = "pat-na1-secret-value"
    t = Transport("http://127.0.0.1:9", Credentials(token), policy=RetryPolicy(max_attempts=2, sleep=lambda s: None))
    from adapters.errors import RetriableAPIError
    from adapters.hubspot.install import granted_scopes

    with pytest.raises(RetriableAPIError) as info:
        granted_scopes(t)
    assert token not in str(info.value)


def test_a_207_from_property_batch_create_names_what_failed(script: tuple[Script, SandboxServer]) -> None:
    from adapters.base import FieldSpec, InstallPlan
    from adapters.hubspot.install import install
    from adapters.retry import RequestRejected

    app, server = script
    specs = [FieldSpec("contacts", "leadscore_score", "Lead score", "number"),
             FieldSpec("contacts", "leadscore_grade", "Lead grade", "enumeration", options=("A", "B"))]
    app.answers += [(200, {"results": [{"name": "leadscore"}]}, {}),
                    (207, {"status": "COMPLETE", "results": [{"name": "leadscore_score"}], "errors": [
                        {"status": "error", "category": "VALIDATION_ERROR", "message": "Label is taken",
                         "context": {"name": ["leadscore_grade"]}}]}, {})]
    t = adapter(server.url, []).t
    with pytest.raises(RequestRejected) as info:
        install(t, InstallPlan(to_create=specs), "leadscore", "leadscore")
    assert "leadscore_grade (VALIDATION_ERROR: Label is taken)" in str(info.value)
    sent = json.loads(app.seen[1]["body"])
    assert app.seen[1]["path"] == "/crm/properties/2026-09/contacts/batch/create"
    grade = next(i for i in sent["inputs"] if i["name"] == "leadscore_grade")
    assert all(o["hidden"] is False and {"label", "value", "displayOrder"} <= set(o) for o in grade["options"])


def test_a_207_naming_only_existing_properties_is_fine(script: tuple[Script, SandboxServer]) -> None:
    from adapters.base import FieldSpec, InstallPlan
    from adapters.hubspot.install import install

    app, server = script
    specs = [FieldSpec("contacts", "leadscore_score", "Lead score", "number")]
    app.answers += [(200, {"results": [{"name": "leadscore"}]}, {}),
                    (207, {"status": "COMPLETE", "results": [], "errors": [
                        {"status": "error", "category": "OBJECT_ALREADY_EXISTS",
                         "message": "Property named 'leadscore_score' already exists.",
                         "context": {"name": ["leadscore_score"]}}]}, {})]
    install(adapter(server.url, []).t, InstallPlan(to_create=specs), "leadscore", "leadscore")
    assert len(app.seen) == 2


def test_oauth_scopes_come_from_the_dated_introspection_endpoint(script: tuple[Script, SandboxServer]) -> None:
    from urllib.parse import parse_qs

    from adapters.hubspot.install import granted_scopes

    app, server = script
    app.answers += [(200, {"access_token": "at-1", "expires_in": 1800}, {}),  # an answer without scopes
                    (200, {"active": True, "scopes": ["oauth", "forms"]}, {})]
    a = adapter(server.url, [], refresh_token="rt-1", client_id="cid", client_secret="secret")
    assert granted_scopes(a.t) == {"oauth", "forms"}
    assert app.seen[1]["path"] == "/oauth/2026-09/token/introspect" and app.seen[1]["auth"] is None
    form = parse_qs(app.seen[1]["body"])
    assert form["token"] == ["at-1"] and form["client_id"] == ["cid"] and form["client_secret"] == ["secret"]
