"""The sync through the real HubSpot adapter against the HubSpot sandbox (loopback HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.store import Store
from connector.sync.run import SyncOptions, run_sync
from sandbox.hubspot import create_server

from .hubspot_world import adapter, install, model_with_actions, snapshot, tenant

pytestmark = pytest.mark.slow
NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def small_tenant() -> Any:
    return tenant(150)


@pytest.fixture
def server(small_tenant: Any) -> Iterator[Any]:
    with create_server(small_tenant) as s:
        install(s)
        yield s


def test_sync_writes_scores_then_a_steady_run_writes_nothing(server: Any, store: Store) -> None:
    a = adapter(server)
    owners = [o.id for o in a.owners()][:3]
    model = model_with_actions(owners)
    first = run_sync(store, a, model, SyncOptions(tenant="hs", now=NOW))
    assert first.pulled["leads"] == 150 and first.failed == 0
    crm = snapshot(server)
    scored_companies = [c for c, score in crm["companies"].items() if score is not None]
    assert 0 < len(scored_companies) < len(crm["companies"])  # companies without contacts get no score
    assert first.written == first.writes_planned == 150 + len(scored_companies)
    stored = store.scores("hs")
    for lead_id, s in stored.items():
        assert crm["contacts"][lead_id]["leadscore_score"] == str(int(s.score + 0.5))
        assert crm["contacts"][lead_id]["leadscore_grade"] == s.grade
    hot = sorted(lid for lid, s in stored.items() if s.score >= 55)
    assert hot and first.crossings["mql.entered"] == len(hot)
    assert sorted(subject for subject, _ in crm["tasks"]) == sorted(f"Call {lid}" for lid in hot)
    assert all(crm["contacts"][lid]["lifecyclestage"] == "marketingqualifiedlead" for lid in hot)
    assert all(crm["contacts"][lid]["hubspot_owner_id"] for lid in hot)

    before = a.api_usage()["calls"] or 0
    again = run_sync(store, a, model, SyncOptions(tenant="hs", now=NOW))
    used = (a.api_usage()["calls"] or 0) - before
    assert again.written == 0 and again.new_events == 0 and again.score_changes == 0 and not again.actions
    assert used <= 25, f"a steady run made {used} calls"
    assert snapshot(server) == crm


def test_dry_run_touches_nothing(server: Any, store: Store) -> None:
    a = adapter(server)
    before = snapshot(server)
    dry = run_sync(store, a, model_with_actions([o.id for o in a.owners()][:2]),
                   SyncOptions(tenant="hs", now=NOW, dry_run=True))
    assert dry.writes_planned > 0 and dry.written == 0 and len(dry.would_write) == 20
    assert dry.actions.get("would_create_task", 0) == dry.crossings["mql.entered"]
    assert snapshot(server) == before
    assert store.outbox("hs") == [] and store.scores("hs") == {} and store.actions("hs") == []
    assert all(v[0] is None for v in store.cursors("hs", "hubspot").values())


def test_deleted_contacts_leave_the_store_looked_for_every_few_hours(server: Any, store: Store) -> None:
    a = adapter(server)
    model = model_with_actions([o.id for o in a.owners()][:3])
    first = run_sync(store, a, model, SyncOptions(tenant="hs", now=NOW))
    assert first.removed == 0
    gone = sorted(store.scores("hs"))[:2]
    for contact in gone:
        response = requests.delete(f"{server.url}/crm/v3/objects/contacts/{contact}",
                                   headers={"Authorization": f"Bearer {server.token}"}, timeout=10)
        assert response.status_code == 204
    server.log.reset()
    soon = run_sync(store, a, model, SyncOptions(tenant="hs", now=NOW))
    assert soon.removed == 0 and "GET /crm/objects/2026-09/{objectType}" not in server.log.counts()  # asked recently
    assert set(gone) <= set(store.scores("hs"))

    a.removal_interval = timedelta(0)  # as if the interval had passed
    later = run_sync(store, a, model, SyncOptions(tenant="hs", now=NOW))
    assert later.removed == 2 and later.failed == 0
    assert server.log.counts()["GET /crm/objects/2026-09/{objectType}"] == 1  # two archived contacts: one page
    for contact in gone:
        assert store.lead("hs", contact) is None and contact not in store.scores("hs")
        assert contact not in store.written("hs", "lead") and not store.lead_events("hs", contact)
    assert len(store.scores("hs")) == 148


def test_a_merged_contact_leaves_the_store_at_once_and_its_events_follow(server: Any, store: Store) -> None:
    """Merges show on the contact merged into (hs_merged_object_ids), which the next pull reads:
    no wait for the deletion interval, and no more writes to an id that now means the primary."""
    a = adapter(server)
    model = model_with_actions([o.id for o in a.owners()][:3])
    run_sync(store, a, model, SyncOptions(tenant="hs", now=NOW))
    with_events = sorted({e["lead_id"] for e in store.event_table("hs").select(["lead_id"]).to_pylist()})
    primary, secondary = with_events[0], with_events[1]
    moved, kept = len(store.lead_events("hs", secondary)), len(store.lead_events("hs", primary))
    response = requests.post(f"{server.url}/crm/v3/objects/contacts/merge",
                             json={"primaryObjectId": primary, "objectIdToMerge": secondary},
                             headers={"Authorization": f"Bearer {server.token}"}, timeout=10)
    assert response.status_code == 200
    fresh = adapter(server)  # a later run (a new process): the deletion interval has not passed
    second = run_sync(store, fresh, model, SyncOptions(tenant="hs", now=NOW))
    assert second.removed == 1 and second.failed == 0
    assert store.lead("hs", secondary) is None and secondary not in store.scores("hs")
    assert secondary not in store.written("hs", "lead")
    assert len(store.lead_events("hs", primary)) == kept + moved and not store.lead_events("hs", secondary)
    assert "GET /crm/objects/2026-09/{objectType}" not in server.log.counts()  # no archived-list read for a merge


def test_outcome_times_are_hubspots_own_stage_entry_times(server: Any, store: Store) -> None:
    import time as _time

    a = adapter(server)
    run_sync(store, a, model_with_actions([]), SyncOptions(tenant="hs", now=NOW))
    contact = min(server.portal.stores["contacts"].records)
    requests.patch(f"{server.url}/crm/objects/2026-09/contacts/{contact}", timeout=10,
                   headers={"Authorization": f"Bearer {server.token}"},
                   json={"properties": {"lifecyclestage": "customer"}}).raise_for_status()
    stamped = server.portal.stores["contacts"].records[contact].props["hs_v2_date_entered_customer"]
    _time.sleep(1.1)  # the next sync's search sees the change; HubSpot's stamp stays the moment of entry
    requests.patch(f"{server.url}/crm/objects/2026-09/contacts/{contact}", timeout=10,
                   headers={"Authorization": f"Bearer {server.token}"},
                   json={"properties": {"jobtitle": "CFO"}}).raise_for_status()  # modified later still
    run_sync(store, a, model_with_actions([]), SyncOptions(tenant="hs", now=NOW + timedelta(hours=1)))
    rows = {(r["lead_id"], r["value"]): r["reached_at"] for r in store.stage_times("hs").to_pylist()
            if r["field"] == "lifecycle_stage"}
    reached = rows[(str(contact), "customer")]
    assert reached is not None
    expected = datetime.fromisoformat(stamped.replace("Z", "+00:00"))
    assert abs((reached.replace(tzinfo=timezone.utc) - expected).total_seconds()) < 0.002


def test_a_daily_budget_of_80_calls_finishes_a_first_sync_of_2000_contacts_within_a_week(tmp_path: Path) -> None:
    """A portal that gives leadscore 80 calls a day (the rest of its budget is other integrations'):
    each day's run stops at the daily limit, keeps what it pulled and wrote, and the next day goes
    on; the first sync of 2,000 contacts is complete before a week has passed."""
    from adapters.errors import LimitExhausted
    from sandbox.tenant import generate_tenant

    data = generate_tenant(seed=11, leads=2000, events_per_lead=8)
    with create_server(data, daily_limit=80) as server, create_server(data) as reference:
        install(server)
        install(reference)
        owners = [o.id for o in adapter(reference).owners()][:3]
        model = model_with_actions(owners)
        ref_store = Store.open(f"sqlite:///{tmp_path / 'ref.db'}")
        run_sync(ref_store, adapter(reference), model, SyncOptions(tenant="hubspot", now=NOW))
        ref_store.close()
        store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
        days, stops = 0, []
        while days < 7:
            days += 1
            server.hubspot.daily.reset()  # midnight in the portal's time zone: a new day's budget
            try:
                summary = run_sync(store, adapter(server), model, SyncOptions(tenant="hubspot", now=NOW))
            except LimitExhausted as exc:
                stops.append(str(exc)[:60])
                continue
            if not summary.actions_pending and not store.outbox("hubspot"):
                break
        store.close()
        server.hubspot.daily.reset()  # reading the portal back for the comparison is not leadscore's budget
        print(f"80 calls a day: finished on day {days}, after {len(stops)} stops at the daily limit")
        assert snapshot(server) == snapshot(reference), (days, stops)
    assert stops and days <= 7, (days, stops)  # it did run out of calls, and still finished within the week
