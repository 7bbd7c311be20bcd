"""The sync engine end to end through the Salesforce adapter against the Salesforce sandbox:
what HubSpot gets (scores on every person, account rollups, owner and task on an MQL crossing, a
steady run that writes nothing), Salesforce gets too; a set_fields lead status lands on Lead.Status."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from connector.store import Store
from connector.sync.run import SyncOptions, run_sync
from sandbox.salesforce import create_server
from sandbox.tenant import generate_tenant
from scoring.model import parse_model
from tests.adapters.test_salesforce import _convert, install, live, make_adapter
from tests.sync.hubspot_world import model_text

pytestmark = pytest.mark.slow
NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
ENTER = 35  # the MQL bar: low enough that Leads and Contacts both cross it


@pytest.fixture
def server() -> Iterator[Any]:
    with create_server(generate_tenant(seed=11, leads=150, events_per_lead=8)) as srv:
        yield srv


def test_sync_writes_scores_tasks_and_owners_then_a_steady_run_writes_nothing(server: Any, tmp_path: Path) -> None:
    adapter = make_adapter(server)
    install(adapter)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    owners = [o.id for o in adapter.owners() if o.active][:3]
    text = model_text(owners, enter=ENTER).replace("lifecycle_stage: marketingqualifiedlead}",
                                      'lifecycle_stage: marketingqualifiedlead, lead_status: "Working - Contacted"}')
    model = parse_model(text, "<test model>")
    org = server.org
    seeded_status = {rid: org.tables["Lead"].value(row, "Status") for rid, row in org.tables["Lead"].rows.items()}
    first = run_sync(store, adapter, model, SyncOptions(tenant="sf", now=NOW))
    people = live(server, "Lead") + live(server, "Contact")
    assert first.pulled["leads"] == len(people) and first.failed == 0
    api = first.api  # the org's 24-hour allocation, as Sforce-Limit-Info reports it
    assert api["left"] is not None and api["left"] == api["daily_limit"] - api["daily_used"]  # type: ignore[operator]
    scores = store.scores("sf")
    assert set(scores) == set(people)
    for rid, s in scores.items():
        table = org.tables["Lead" if rid.startswith("00Q") else "Contact"]
        row = table.rows[rid]
        assert table.value(row, "Leadscore_Score__c") == int(s.score + 0.5)
        assert table.value(row, "Leadscore_Grade__c") == s.grade
    accounts = org.tables["Account"]
    assert any(accounts.value(row, "Leadscore_Account_Score__c") is not None for row in accounts.rows.values())
    hot = sorted(rid for rid, s in scores.items() if s.score >= ENTER)
    assert hot and first.crossings["mql.entered"] == len(hot)
    tasks = org.tables["Task"]
    made = sorted(str(tasks.value(row, "WhoId")) for row in tasks.rows.values()
                  if str(tasks.value(row, "Subject") or "").startswith("Call "))
    assert made == hot
    for rid in hot:
        table = org.tables["Lead" if rid.startswith("00Q") else "Contact"]
        assert table.value(table.rows[rid], "OwnerId")  # kept (keep_existing) or assigned from the team
        assert table.value(table.rows[rid], "Leadscore_MQL__c") is True
    assert first.actions.get("done", 0) > 0 and set(first.actions) <= {"done", "planned"}, first.actions
    leads = org.tables["Lead"]
    status = {rid: leads.value(row, "Status") for rid, row in leads.rows.items()}
    hot_leads = [rid for rid in hot if rid.startswith("00Q")]
    assert hot_leads and all(status[rid] == "Working - Contacted" for rid in hot_leads)
    assert all(status[rid] == seeded_status[rid] for rid in status if rid not in hot)
    assert any(rid.startswith("003") for rid in hot)  # Contacts have no status field: their action is done too

    before = adapter.api_usage()["calls"] or 0
    again = run_sync(store, adapter, model, SyncOptions(tenant="sf", now=NOW))
    used = (adapter.api_usage()["calls"] or 0) - before
    assert again.written == 0 and again.score_changes == 0 and not again.actions
    assert used <= 10, f"a steady run made {used} calls"


def test_people_removed_in_the_crm_leave_the_store(server: Any, tmp_path: Path) -> None:
    """A deleted lead is forgotten (no score, no writes to it, its events gone); a converted
    lead's events follow its contact, a merged lead's its master; nobody is written to who is no
    longer there."""
    adapter = make_adapter(server)
    install(adapter)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    model = parse_model(model_text([o.id for o in adapter.owners() if o.active][:3], enter=ENTER), "<test model>")
    first = run_sync(store, adapter, model, SyncOptions(tenant="sf", now=NOW))
    assert first.removed == 0 and first.failed == 0
    with_events = {e["lead_id"] for e in store.event_table("sf").select(["lead_id"]).to_pylist()}
    leads = [rid for rid in live(server, "Lead") if rid in with_events]
    deleted, converted, loser, master = leads[0], leads[1], leads[2], leads[3]
    contact = next(rid for rid in live(server, "Contact") if rid in with_events)
    moved = len(store.lead_events("sf", converted))
    before = len(store.lead_events("sf", contact))
    merged, kept = len(store.lead_events("sf", loser)), len(store.lead_events("sf", master))
    assert moved and before and merged and store.scores("sf").get(deleted)
    server.org.delete("Lead", deleted)
    _convert(server, converted, contact)
    server.org.merge("Lead", master, loser)  # duplicates merged: the loser is deleted, pointing at the master

    second = run_sync(store, adapter, model, SyncOptions(tenant="sf", now=NOW))
    assert second.removed == 3 and second.failed == 0
    assert len(store.lead_events("sf", master)) == kept + merged  # the loser's history follows the master
    for gone in (deleted, converted, loser):
        assert store.lead("sf", gone) is None and gone not in store.scores("sf")
        assert gone not in store.written("sf", "lead") and not store.lead_events("sf", gone)
        assert all(w.record_id != gone for w in store.outbox("sf"))
    assert len(store.lead_events("sf", contact)) == before + moved  # the converted lead's history follows

    third = run_sync(store, adapter, model, SyncOptions(tenant="sf", now=NOW))
    assert third.failed == 0 and third.written == 0  # nothing left that points at removed people


def test_a_write_back_above_the_bulk_threshold_goes_through_one_bulk_job(tmp_path: Path) -> None:
    """``bulk_write_threshold`` (LEADSCORE_SALESFORCE__BULK_WRITE_THRESHOLD) is reached by a sync:
    a first write-back of more people than it sends one Bulk API 2.0 ingest job per object type
    instead of a Collections call per 200 records (which alone never pass a threshold of 200)."""
    with create_server(generate_tenant(seed=11, leads=320, events_per_lead=2)) as server:
        _bulk_write_back(server, tmp_path)


def _bulk_write_back(server: Any, tmp_path: Path) -> None:
    adapter = make_adapter(server, bulk_write_threshold=200)
    assert adapter.batch_size == 200
    install(adapter)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    model = parse_model(model_text([o.id for o in adapter.owners() if o.active][:3], enter=99), "<test model>")
    server.log.reset()
    first = run_sync(store, adapter, model, SyncOptions(tenant="sf", now=NOW))
    people = live(server, "Lead") + live(server, "Contact")
    assert first.failed == 0 and first.written >= len(people) > 200
    jobs = sum(n for endpoint, n in server.log.counts().items() if endpoint.startswith("POST") and
               endpoint.endswith("/jobs/ingest"))
    collections = sum(n for endpoint, n in server.log.counts().items() if endpoint.endswith("/composite/sobjects"))
    assert jobs >= 2 and collections <= 1, server.log.counts()  # Leads and Contacts in bulk; accounts are fewer
    for rid in people[:20]:
        table = server.org.tables["Lead" if rid.startswith("00Q") else "Contact"]
        assert table.value(table.rows[rid], "Leadscore_Score__c") == store.written("sf", "lead")[rid]["score"]
