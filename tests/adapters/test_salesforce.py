"""The Salesforce adapter against the Salesforce sandbox, through the real simple-salesforce.

Call counts come from the sandbox's request log (what reached the server), stored values from
the sandbox's org directly, never from the adapter under test.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from adapters.base import TaskRequest, WriteRequest
from adapters.errors import AuthError, LimitExhausted, RetriableAPIError
from adapters.retry import RetryPolicy
from adapters.salesforce import ApiSession, Credentials, SalesforceAdapter, Transport
from sandbox.http import FaultConfig
from sandbox.salesforce import client_session, create_server
from sandbox.tenant import generate_tenant

QUERY = ("GET /services/data/v{version}/query", "GET /services/data/v{version}/query/{locator}")
COLLECTIONS = "PATCH /services/data/v{version}/composite/sobjects"
LOGIN = "POST /services/oauth2/token"  # JWT bearer


def now() -> datetime:
    return datetime.now(timezone.utc)


def make_adapter(server: Any, *, direct: bool = False, share: float = 0.8, sleeps: list[float] | None = None,
                 **options: Any) -> SalesforceAdapter:
    info = server.connection_info()
    creds = (Credentials(session_id=info["session_id"], instance_url=info["instance_url"]) if direct else
             Credentials(username=info["username"], consumer_key=info["consumer_key"],
                         private_key_file=info["private_key_file"], domain=info["domain"]))
    sleeps = [] if sleeps is None else sleeps
    session = ApiSession.adopt(client_session(info["instance_url"], info["ca_cert"]), timeout_s=10)
    transport = Transport(creds, session, policy=RetryPolicy(sleep=sleeps.append, seed=1, max_attempts=6),
                          max_api_share=share)
    return SalesforceAdapter(transport, sleep=sleeps.append, **options)


def queries(server: Any) -> int:
    return sum(server.log.count(e) for e in QUERY)


@pytest.fixture(scope="module")
def big() -> Any:
    """~6,000 people (about half Leads, half Contacts): several REST pages per object."""
    return generate_tenant(seed=5, leads=6000, events_per_lead=1)


@pytest.fixture
def server(big: Any) -> Iterator[Any]:
    with create_server(big) as srv:
        yield srv


def live(server: Any, sobject: str) -> list[str]:
    table = server.org.tables[sobject]
    return [rid for rid, row in table.rows.items()
            if not table.value(row, "IsDeleted") and not (sobject == "Lead" and table.value(row, "IsConverted"))]


def install(adapter: SalesforceAdapter) -> None:
    after = adapter.install(adapter.plan_install(adapter.fields()))
    assert after.up_to_date, after.problems


# -- reading -------------------------------------------------------------------------------------

def test_rest_pull_costs_one_query_call_per_2000_changed_records(server: Any) -> None:
    adapter = make_adapter(server, bulk_query_threshold=10**9, lookback_s=0)
    first = list(adapter.pull_leads(None, now()))
    n_lead, n_contact = len(server.org.tables["Lead"].rows), len(server.org.tables["Contact"].rows)
    assert queries(server) == math.ceil(n_lead / 2000) + math.ceil(n_contact / 2000)
    assert sorted(r.id for p in first for r in p.records) == sorted(live(server, "Lead") + live(server, "Contact"))

    changed_leads, changed_contacts = live(server, "Lead")[:2001], live(server, "Contact")[:4000]
    for rid in changed_leads:
        server.org.update("Lead", rid, {"City": "Moved"})
    for rid in changed_contacts:
        server.org.update("Contact", rid, {"MailingCity": "Moved"})
    server.log.reset()
    second = [r for p in adapter.pull_leads(first[-1].cursor, now() + timedelta(seconds=1)) for r in p.records]
    assert sorted(r.id for r in second) == sorted(changed_leads + changed_contacts)
    assert queries(server) == math.ceil(2001 / 2000) + math.ceil(4000 / 2000) == 4


def test_bulk_query_above_the_threshold_gives_the_same_records(server: Any) -> None:
    rest = {r.id: r for p in make_adapter(server, bulk_query_threshold=10**9).pull_leads(None, now())
            for r in p.records}
    server.log.reset()
    bulk_pages = list(make_adapter(server, bulk_query_threshold=1000).pull_leads(None, now()))
    bulk = [r for p in bulk_pages for r in p.records]
    assert len(bulk) == len({r.id for r in bulk}) == len(rest)
    assert {r.id: r for r in bulk} == rest  # CSV text converts to the same canonical values as JSON
    assert server.log.count("POST /services/data/v{version}/jobs/query") == 2  # one job per object
    assert server.log.count("GET /services/data/v{version}/query") == 2  # the first REST page of each
    assert server.log.count("GET /services/data/v{version}/query/{locator}") == 0


def test_session_expiry_mid_pull_relogs_in_and_loses_nothing(server: Any) -> None:
    adapter = make_adapter(server, bulk_query_threshold=10**9)
    ids: list[str] = []
    for i, page in enumerate(adapter.pull_leads(None, now())):
        ids += [r.id for r in page.records]
        if i == 0:
            server.expire_sessions()
    assert sorted(ids) == sorted(live(server, "Lead") + live(server, "Contact"))
    assert server.log.count(LOGIN, 200) == 2  # the first login and one refresh


def test_direct_session_expiry_is_an_auth_error_naming_the_fix(server: Any) -> None:
    adapter = make_adapter(server, direct=True)
    list(adapter.pull_accounts(None, now()))
    server.expire_sessions()
    with pytest.raises(AuthError, match="SESSION_ID"):
        list(adapter.pull_accounts(None, now()))


# -- writing -------------------------------------------------------------------------------------

def test_collections_cost_one_call_per_200_records(server: Any) -> None:
    adapter = make_adapter(server)
    install(adapter)
    people = live(server, "Lead")[:230] + live(server, "Contact")[:220]  # 450, mixed in one stream
    server.log.reset()
    results = adapter.write([WriteRequest("lead", rid, {"Leadscore_Score__c": n % 100, "Leadscore_Grade__c": "B"})
                             for n, rid in enumerate(people)])
    assert [(r.record_id, r.ok) for r in results] == [(rid, True) for rid in people]
    assert server.log.count(COLLECTIONS) == math.ceil(450 / 200) == 3
    assert server.log.total() == 3
    for n, rid in enumerate(people):
        table = server.org.tables["Lead" if rid.startswith("00Q") else "Contact"]
        assert table.value(table.rows[rid], "Leadscore_Score__c") == n % 100


def test_bulk_ingest_above_the_threshold_costs_a_fixed_handful(server: Any) -> None:
    adapter = make_adapter(server, bulk_write_threshold=1000)
    install(adapter)
    people = live(server, "Lead")[:2500] + live(server, "Contact")[:2500]
    server.log.reset()
    results = adapter.write([WriteRequest("lead", rid, {"Leadscore_Score__c": 61}) for rid in people])
    assert all(r.ok for r in results) and [r.record_id for r in results] == people
    assert server.log.count(COLLECTIONS) == 0
    # per object: create job, upload, close, poll, three result files (the session is fresh: no login)
    assert server.log.total() == 2 * 7
    for rid in people:
        table = server.org.tables["Lead" if rid.startswith("00Q") else "Contact"]
        assert table.value(table.rows[rid], "Leadscore_Score__c") == 61


def _convert(server: Any, lead: str, contact: str) -> None:
    """Mark ``lead`` converted into ``contact`` as Lead Convert would (read-only fields)."""
    org = server.org
    with org.lock:
        org.update("Lead", lead, {"Status": "Closed - Converted"})  # stamps SystemModstamp, as conversion does
        table = org.tables["Lead"]
        row = table.rows[lead]
        table.set(row, "IsConverted", True)
        table.set(row, "ConvertedContactId", contact)


def test_converted_lead_is_not_pulled_and_its_engagement_follows_the_contact(server: Any) -> None:
    adapter = make_adapter(server)
    install(adapter)
    lead, contact = live(server, "Lead")[0], live(server, "Contact")[0]
    task = server.org.insert("Task", {"Subject": "Call", "TaskSubtype": "Call", "WhoId": lead,
                                      "ActivityDate": "2026-11-20"})
    _convert(server, lead, contact)
    pulled = {r.id for p in adapter.pull_leads(None, now()) for r in p.records}
    assert lead not in pulled and contact in pulled
    fresh = make_adapter(server)  # a later run that never saw the lead: it asks the org
    events = [e for p in fresh.pull_events(None, now()) for e in p.records]
    [mine] = [e for e in events if e.id == f"Task:{task}"]
    assert mine.lead_id == contact and mine.type == "call_logged"

    other = live(server, "Lead")[1]
    server.org.delete("Lead", live(server, "Lead")[2])
    deleted = [rid for rid, row in server.org.tables["Lead"].rows.items()
               if server.org.tables["Lead"].value(row, "IsDeleted")][0]
    results = adapter.write([WriteRequest("lead", i, {"Leadscore_Score__c": 5}) for i in (lead, other, deleted)])
    assert [r.ok for r in results] == [False, True, False]
    assert results[0].error.startswith("CANNOT_UPDATE_CONVERTED_LEAD") and not results[0].retriable  # type: ignore
    assert results[2].error.startswith("ENTITY_IS_DELETED")  # type: ignore[union-attr]
    assert deleted not in {r.id for p in adapter.pull_leads(None, now()) for r in p.records}
    # what the connector should drop from its store (deletions are listed by whole minutes)
    gone = adapter.removed(now() - timedelta(hours=1), now() + timedelta(minutes=2))
    assert gone == {lead: contact, deleted: None}


def test_owner_task_and_campaign_enrollment(server: Any) -> None:
    adapter = make_adapter(server)
    owner = [o for o in adapter.owners() if o.active][-1]
    lead, contact = live(server, "Lead")[3], live(server, "Contact")[3]
    server.log.reset()
    sent: list[str | None] = []
    hooks = adapter.t.session.hooks["response"]
    hooks.append(lambda r, *a, **k: sent.append(r.request.headers.get("Sforce-Auto-Assign")))
    [moved] = adapter.write([WriteRequest("lead", lead, {}, owner_id=owner.id)])
    assert sent == ["FALSE"]  # assignment rules must not override the owner we set
    assert moved.ok and server.org.tables["Lead"].value(server.org.tables["Lead"].rows[lead], "OwnerId") == owner.id
    [task] = adapter.create_tasks([TaskRequest(contact, owner.id, "Call: score 88", "Viewed /pricing", "k-1")])
    assert task.ok
    campaign = next(iter(server.org.tables["Campaign"].rows))
    first = adapter.enroll([lead, contact], f"{campaign}/Responded")
    again = adapter.enroll([lead, contact], campaign)
    assert all(r.ok for r in first + again)
    members = server.org.tables["CampaignMember"]
    mine = [row for row in members.rows.values() if members.value(row, "CampaignId") == campaign and
            {members.value(row, "LeadId"), members.value(row, "ContactId")} & {lead, contact}]
    assert len(mine) == 2  # enrolling twice made no second membership


# -- limits and faults ---------------------------------------------------------------------------

def test_stops_before_the_configured_share_of_the_daily_limit(big: Any) -> None:
    with create_server(big, daily_api_limit=100) as srv:
        adapter = make_adapter(srv, share=0.5, bulk_query_threshold=10**9)
        install(adapter)
        people = live(srv, "Lead")[:1500]  # collections: 8 calls per write
        with pytest.raises(LimitExhausted, match="MAX_API_SHARE") as err:
            for _ in range(40):
                adapter.write([WriteRequest("lead", rid, {"Leadscore_Score__c": 3}) for rid in people])
        assert srv.sf.quota.used == 50  # stopped exactly at 50% of 100, before the next call
        partial = err.value.partial_results  # type: ignore[attr-defined]
        assert all(r.ok for r in partial) and len(partial) % 200 == 0


def test_request_limit_exceeded_403_stops_at_once_but_429_is_retried(big: Any) -> None:
    with create_server(big, daily_api_limit=1000) as srv:
        sleeps: list[float] = []
        adapter = make_adapter(srv, share=0.8, sleeps=sleeps)
        adapter.owners()  # one call: the adapter has seen 1/1000 used
        srv.sf.quota.reset(used=1000)  # other integrations spend the rest of the org's day
        with pytest.raises(LimitExhausted, match="daily API limit"):
            list(adapter.pull_leads(None, now()))
        assert not sleeps  # not retried
    faults = FaultConfig(rate_429=1.0, exempt_paths=("/services/Soap", "/services/oauth2"))
    with create_server(big, faults=faults) as srv:
        sleeps = []
        adapter = make_adapter(srv, sleeps=sleeps)
        with pytest.raises(RetriableAPIError):
            list(adapter.pull_accounts(None, now()))
        assert len(sleeps) == 5 and all(s >= 1.0 for s in sleeps)  # Retry-After: 1 honoured


def test_faults_and_a_session_expiry_lose_and_duplicate_nothing(big: Any) -> None:
    faults = FaultConfig(rate_429=0.1, rate_5xx=0.1, seed=7)
    with create_server(big, faults=faults) as srv:
        adapter = make_adapter(srv, bulk_query_threshold=10**9)
        install(adapter)
        ids = []
        for i, page in enumerate(adapter.pull_leads(None, now())):
            ids += [r.id for r in page.records]
            if i == 1:
                srv.expire_sessions()
        assert len(ids) == len(set(ids)) and set(ids) == set(live(srv, "Lead") + live(srv, "Contact"))
        results = adapter.write([WriteRequest("lead", rid, {"Leadscore_Score__c": 9}) for rid in ids[:1000]])
        assert all(r.ok for r in results)
        assert adapter.api_usage()["retries"]


def test_a_page_cursor_staged_mid_run_keeps_the_marks_of_objects_not_read_yet(server: Any) -> None:
    adapter = make_adapter(server, lookback_s=0)
    final = list(adapter.pull_leads(None, now()))[-1].cursor
    lead, contact = live(server, "Lead")[5], live(server, "Contact")[5]
    server.org.update("Lead", lead, {"City": "Moved"})
    server.org.update("Contact", contact, {"MailingCity": "Moved"})
    pages = list(adapter.pull_leads(final, now() + timedelta(seconds=1)))
    assert [[r.id for r in p.records] for p in pages] == [[lead], [contact]]
    resumed = [r.id for p in adapter.pull_leads(pages[0].cursor, now() + timedelta(seconds=1)) for r in p.records]
    assert resumed == [lead, contact]  # not every contact again: the plain cursor's mark was carried
