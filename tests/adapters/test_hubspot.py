"""HubSpot-specific behaviour against the sandbox: call counts from its request log, the 10,000-
result search cap, auth/scope/limit/property errors, events per source, sequences, mappings."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
import requests

from adapters.base import WriteRequest
from adapters.errors import AuthError, LimitExhausted, PermissionDenied
from adapters.hubspot import Credentials, HubSpotAdapter, Transport, UnknownProperty
from adapters.retry import RetryPolicy
from mappings.loader import load_hubspot_mapping
from sandbox.hubspot import ALL_SCOPES, contact_id_of
from sandbox.tenant import generate_tenant
from scoring.records import Lead
from tests.adapters.harness import Harness

SEARCH = "POST /crm/objects/2026-09/{objectType}/search"
ASSOC = "POST /crm/associations/2026-09/{fromObjectType}/{toObjectType}/batch/read"
UPDATE = "POST /crm/objects/2026-09/{objectType}/batch/update"
LIST = "GET /crm/objects/2026-09/{objectType}"
MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "hubspot.yaml"


def now() -> datetime:
    return datetime.now(timezone.utc)


def adapter_for(h: Harness, token: str | None = None, **kw: Any) -> HubSpotAdapter:
    sleeps: list[float] = []
    t = Transport(h.server.url, Credentials(token or h.server.token), rate_per_10s=2000, search_per_second=50,
                  policy=RetryPolicy(sleep=sleeps.append), timeout_s=10)
    return HubSpotAdapter(t, kw.pop("mapping", None), **kw)


@pytest.fixture
def hub(tenant: Any, make_harness: Any) -> Harness:
    h: Harness = make_harness("hubspot", tenant)
    h.adapter.install(h.adapter.plan_install(h.fields))
    return h


@pytest.mark.parametrize(("limit", "batch"), [(200, 100), (100, 10)])
def test_call_counts_match_the_formula(hub: Harness, limit: int, batch: int) -> None:
    adapter = adapter_for(hub, search_limit=limit, batch_size=batch)
    n = len(hub.lead_ids)
    hub.server.log.reset()
    leads = [cast(Lead, r) for p in adapter.pull_leads(None, now()) for r in p.records]
    assert len(leads) == n
    # ⌈N/limit⌉ searches, plus one v4 association read (for Lead.account_id) per 1,000 contacts:
    # whole pages are joined until the next would pass 1,000 (at most five pages)
    pages = math.ceil(n / limit)
    assert hub.server.log.counts() == {SEARCH: pages, ASSOC: math.ceil(pages / min(5, 1000 // limit))}
    hub.server.log.reset()
    w = 317
    results = adapter.write([WriteRequest("lead", lead.id, {"leadscore_score": 5}) for lead in leads[:w]])
    assert all(r.ok for r in results)
    assert hub.server.log.counts() == {UPDATE: math.ceil(w / batch)}


def test_account_from_property_costs_no_association_calls(hub: Harness, tmp_path: Path) -> None:
    text = MAPPING.read_text().replace("account_from: associations", "account_from: property").replace(
        "  custom: {}\n  # how", "  custom: {source_detail: hs_latest_source}\n  # how", 1)
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    adapter = adapter_for(hub, mapping=load_hubspot_mapping(path))
    hub.server.log.reset()
    leads = [r for p in adapter.pull_leads(None, now()) for r in p.records]
    assert {lead.id: lead.account_id for lead in leads} == hub.account_of  # type: ignore[union-attr]
    assert ASSOC not in hub.server.log.counts()
    assert any(lead.custom.get("source_detail") for lead in leads)  # type: ignore[union-attr]


def test_search_restarts_past_the_10k_cap_without_duplicates(make_harness: Any) -> None:
    tenant = generate_tenant(seed=5, leads=10_300, events_per_lead=0)
    h: Harness = make_harness("hubspot", tenant, clock=lambda: 1_900_000_000.0)
    contacts = h.server.portal.stores["contacts"]
    # 500 contacts share one last-modified time, straddling the 10,000th result
    oldest = sorted(contacts.records.values(), key=lambda r: (r.updated_ms, r.id))[:500]
    for rec in oldest:
        h.touch(str(rec.id))
    h.server.log.reset()
    pages = list(adapter_for(h, search_limit=200).pull_leads(None, datetime(2030, 4, 1, tzinfo=timezone.utc)))
    ids = [r.id for p in pages for r in p.records]
    assert len(ids) == len(set(ids)) == 10_300
    searches = h.server.log.count(SEARCH)
    assert searches >= math.ceil(10_300 / 200) and searches <= math.ceil(10_300 / 200) + 3
    assert h.server.log.count(SEARCH, 400) == 0  # never asked past the cap


def test_invalid_token_is_an_auth_error_without_retries(hub: Harness) -> None:
    adapter = adapter_for(hub, token="pat-na1-not-a-token")
    with pytest.raises(AuthError, match="token is invalid"):
        list(adapter.pull_accounts(None, now()))
    assert adapter.t.policy.retries == Counter()


def test_expired_token_says_so(hub: Harness) -> None:
    token = hub.server.portal.add_token(kind="oauth", expires_in_s=-86400).value
    with pytest.raises(AuthError, match="expired"):
        list(adapter_for(hub, token=token).pull_leads(None, now()))


def test_missing_scope_is_named(hub: Harness) -> None:
    token = hub.server.portal.add_token(scopes=ALL_SCOPES - {"crm.objects.contacts.write"}).value
    adapter = adapter_for(hub, token=token)
    with pytest.raises(PermissionDenied, match=r"missing scope crm\.objects\.contacts\.write"):
        adapter.write([WriteRequest("lead", "1", {"leadscore_score": 1})])
    plan = adapter.plan_install(hub.fields)
    assert [p.split(" (")[0] for p in plan.problems] == ["missing scope crm.objects.contacts.write"]


def test_daily_limit_stops_safely(tenant: Any, make_harness: Any) -> None:
    h: Harness = make_harness("hubspot", tenant, daily_limit=3)
    with pytest.raises(LimitExhausted, match="daily API limit"):
        for _ in h.adapter.pull_leads(None, now()):
            pass
    assert h.sleeps == []  # not retried: retrying a spent daily budget only wastes it


def test_unknown_property_stops_with_its_name(hub: Harness) -> None:
    ids = sorted(hub.lead_ids, key=int)[:150]
    requests = [WriteRequest("lead", i, {"leadscore_score": 1}) for i in ids[:100]]
    requests += [WriteRequest("lead", i, {"leadscore_scroe": 1}) for i in ids[100:]]
    with pytest.raises(UnknownProperty, match="leadscore_scroe") as info:
        hub.adapter.write(requests)
    assert info.value.names == ["leadscore_scroe"]
    partial = info.value.partial_results  # type: ignore[attr-defined]
    assert [r.record_id for r in partial] == ids[:100] and all(r.ok for r in partial)


def test_invalid_owner_is_a_per_record_failure(hub: Harness) -> None:
    owner = hub.adapter.owners()[0].id
    results = hub.adapter.write([WriteRequest("lead", "1", {}, owner_id=owner),
                                 WriteRequest("lead", "2", {}, owner_id="123")])
    assert [r.ok for r in results] == [True, False] and "INVALID_OWNER_ID" in (results[1].error or "")
    assert hub.stored("1", "hubspot_owner_id") == owner


def test_events_match_the_tenant_source_by_source(tenant: Any, hub: Harness) -> None:
    ids = {k: str(v) for k, v in contact_id_of(tenant).items()}
    expected = Counter((ids[row["lead_id"]], str(row["type"])) for row in tenant.events.select(
        ["lead_id", "type"]).to_pylist())
    pages = list(hub.adapter.pull_events(None, now()))
    got = Counter((e.lead_id, e.type) for p in pages for e in p.records)  # type: ignore[union-attr]
    assert got == expected
    views = [e for p in pages for e in p.records if e.type == "page_view"]  # type: ignore[union-attr]
    assert views and all(e.url for e in views)  # type: ignore[union-attr]
    forms = [e for p in pages for e in p.records if e.type == "form_submit"]  # type: ignore[union-attr]
    assert forms and all(e.form for e in forms)  # type: ignore[union-attr]
    # nothing new since: the next run reads nothing and keeps every source's mark
    again = list(hub.adapter.pull_events(pages[-1].cursor, now() + timedelta(seconds=1)))
    assert sum(len(p.records) for p in again) == 0 and again[-1].done


def test_sequence_enrollment_is_safe_to_repeat(hub: Harness) -> None:
    owner = hub.server.portal.owners[0]
    target = f"400001/{owner['email']}"
    assert all(r.ok for r in hub.adapter.enroll(["1", "2"], target))
    assert all(r.ok for r in hub.adapter.enroll(["1"], target))  # already in this sequence: fine
    other = hub.adapter.enroll(["1"], f"400002/{owner['email']}")
    assert not other[0].ok and "already enrolled" in (other[0].error or "")
    assert set(hub.server.portal.enrollments) == {1, 2}


def test_mapping_check_names_missing_properties(hub: Harness, tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.read_text().replace("title: jobtitle", "title: job_title_typo"))
    adapter = adapter_for(hub, mapping=load_hubspot_mapping(path))
    assert adapter.check_mapping() == ["contacts.fields.title: the portal has no contact property 'job_title_typo'"]
    assert hub.adapter.check_mapping() == []  # type: ignore[attr-defined]


def test_daily_reserve_stops_before_the_budget_other_integrations_need(tenant: Any, make_harness: Any) -> None:
    h: Harness = make_harness("hubspot", tenant, daily_limit=40)
    adapter = adapter_for(h, search_limit=10)
    adapter.t.daily_reserve = 35
    with pytest.raises(LimitExhausted, match="DAILY_RESERVE keeps 35"):
        for _ in adapter.pull_leads(None, now()):
            pass
    # search answers carry no rate-limit headers, association reads do; nothing is sent after the stop
    remaining = adapter.t.daily_remaining
    assert remaining is not None and remaining <= 35
    assert h.server.hubspot.daily.used == 40 - remaining


def test_oauth_refresh_grant_end_to_end(tenant: Any, make_harness: Any) -> None:
    """OAuth settings only (no access token): the adapter gets one from the sandbox's refresh grant
    and gets a new one before the old one expires, on the portal's clock."""
    from connector.settings import HubSpotSettings

    clock = [2_000_000_000.0]
    h: Harness = make_harness("hubspot", tenant, clock=lambda: clock[0])
    oauth = h.server.connection_info()["oauth"]
    settings = HubSpotSettings(base_url=h.server.url, refresh_token=oauth["refresh_token"],
                               client_id=oauth["client_id"], client_secret=oauth["client_secret"],
                               search_per_second=50)
    adapter = HubSpotAdapter.from_settings(settings, policy=RetryPolicy(sleep=lambda s: None))
    adapter.t.clock = lambda: clock[0]
    until = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert sum(len(p.records) for p in adapter.pull_accounts(None, until)) == len(h.account_ids)
    first = adapter.t.token
    clock[0] += 1_600  # 200 s before expiry: inside the 300 s margin
    assert sum(len(p.records) for p in adapter.pull_accounts(None, until)) == len(h.account_ids)
    assert adapter.t.calls["POST /oauth/2026-09/token"] == 2 and adapter.t.token != first
    assert h.server.portal.tokens[adapter.t.token].kind == "oauth"
    assert oauth["client_secret"] not in repr(adapter.t.credentials)


def test_install_reports_a_property_it_cannot_use(hub: Harness) -> None:
    props = hub.server.portal.properties["contacts"]
    props["leadscore_grade"]["options"] = props["leadscore_grade"]["options"][:4]  # A-D only
    props["leadscore_score"]["type"] = "string"
    plan = hub.adapter.plan_install(hub.fields)
    assert sorted(plan.problems) == [
        "contacts property leadscore_grade lacks the option(s) E, F leadscore writes: add them in HubSpot's "
        "property settings",
        "contacts property leadscore_score exists with type string, leadscore writes number: rename it in the "
        "mapping or delete it"]
    assert not plan.up_to_date


def _archive(h: Harness, *ids: str) -> None:
    """Delete contacts through the sandbox's HTTP API, as a HubSpot user or integration would."""
    for i in ids:
        resp = requests.delete(f"{h.server.url}/crm/v3/objects/contacts/{i}",
                               headers={"Authorization": f"Bearer {h.server.token}"}, timeout=10)
        assert resp.status_code == 204, resp.text


def _archive_batch(h: Harness, ids: list[str]) -> None:
    for start in range(0, len(ids), 100):
        resp = requests.post(f"{h.server.url}/crm/v3/objects/contacts/batch/archive",
                             json={"inputs": [{"id": i} for i in ids[start:start + 100]]},
                             headers={"Authorization": f"Bearer {h.server.token}"}, timeout=10)
        assert resp.status_code == 204, resp.text


def test_removed_lists_contacts_archived_in_the_window(tenant: Any, make_harness: Any) -> None:
    clock = [2_000_000_000.0]
    h: Harness = make_harness("hubspot", tenant, clock=lambda: clock[0])
    first = datetime.fromtimestamp(clock[0], timezone.utc)
    _archive(h, "3")  # before the window asked about below
    clock[0] += 3600
    later = datetime.fromtimestamp(clock[0], timezone.utc)
    _archive(h, "5", "8")
    clock[0] += 3600
    ms = timedelta(milliseconds=1)
    adapter = cast(HubSpotAdapter, h.adapter)
    h.server.log.reset()
    assert adapter.removed(later - timedelta(minutes=1), later + timedelta(minutes=1)) == {"5": None, "8": None}
    assert adapter.removed(later, later) == {"5": None, "8": None}  # both ends of the window count
    assert adapter.removed(first, later - ms) == {"3": None}
    assert adapter.removed(later + ms, later + timedelta(hours=2)) == {}
    assert adapter.removed(first - timedelta(hours=1), first - ms) == {}  # ends before any deletion
    assert h.server.log.counts() == {LIST: 5}  # one page each: three archived contacts
    live = {r.id for p in adapter.pull_leads(None, later + timedelta(hours=2)) for r in p.records}
    assert live == h.lead_ids - {"3", "5", "8"}


def test_removed_pages_through_the_whole_recycling_bin(hub: Harness) -> None:
    since = now()
    gone = sorted(hub.lead_ids, key=int)[10:260]
    _archive_batch(hub, gone)
    hub.server.log.reset()
    adapter = adapter_for(hub)
    assert adapter.removed(since, now()) == dict.fromkeys(gone)
    assert hub.server.log.counts() == {LIST: math.ceil(len(gone) / 100)}
    assert adapter.t.calls == Counter({LIST: 3})


def test_a_killed_event_pull_resumes_where_the_email_events_were(make_harness: Any) -> None:
    from adapters.cursors import decode_map, ms_of

    hub = make_harness("hubspot", generate_tenant(seed=4, leads=300, events_per_lead=25))  # some 1,000s of e-mails
    a = adapter_for(hub)
    seen: list[dict[str, Any]] = []
    request = a.t.request

    def recording(what: str, method: str, path: str, **kw: Any) -> tuple[Any, int]:
        if path == "/email/public/v1/events":
            seen.append(dict(kw.get("query") or {}))
        return request(what, method, path, **kw)

    a.t.request = recording  # type: ignore[method-assign]
    until = now()
    checkpoint = None
    for page in a.pull_events(None, until):
        marks = decode_map(page.cursor)
        if "email.down" in marks:  # e-mail events under way: the run is killed here
            checkpoint = page.cursor
            break
    assert checkpoint is not None and seen  # (pages are handed on one behind: the next call may be made)
    down = decode_map(checkpoint)["email.down"]
    assert down < ms_of(until)
    seen.clear()
    b = adapter_for(hub)
    b.t.request = recording  # type: ignore[method-assign]
    list(b.pull_events(checkpoint, until))
    # resumed below what the killed run read, not from the top
    assert int(seen[0]["endTimestamp"]) == down and len(seen) >= 1


def test_a_task_just_created_is_found_though_search_has_not_indexed_it(hub: Harness) -> None:
    """HubSpot's search index lags behind creates; the task lookup (used before re-sending a create
    whose answer was lost) must not trust it, or a lost answer makes a second task."""
    from adapters.base import TaskRequest

    hub.server.portal.search_lag_s = 60.0  # nothing created in the last minute shows in search
    first, second = sorted(hub.lead_ids)[:2]
    made = TaskRequest(first, None, "Call them", "Why: pricing", "k-lagging-0001")
    other = TaskRequest(second, None, "Call them", "Why: pricing", "k-never-made-02")
    assert all(r.ok for r in hub.adapter.create_tasks([made]))
    by_key = {"propertyName": "hs_task_body", "operator": "CONTAINS_TOKEN", "value": "k-lagging-0001"}
    api = requests.post(f"{hub.server.url}/crm/v3/objects/tasks/search", timeout=10,
                        headers={"Authorization": f"Bearer {hub.server.token}"},
                        json={"filterGroups": [{"filters": [by_key]}]})
    assert api.json()["total"] == 0  # search does not see it yet
    hub.server.log.reset()
    assert hub.adapter.find_tasks([made, other]) == {"k-lagging-0001"}
    assert SEARCH not in hub.server.log.counts()
