"""The store on both backends: migrations, upserts, event de-duplication, bookkeeping, the lock."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from connector.store import SCHEMA_VERSION, PendingWrite, Store, StoredScore, StoreError, StoreLocked, SyncLock
from connector.store import schema as s
from scoring.records import Account, Event, Lead
from scoring.thresholds import ThresholdState

NOW = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)


def test_migrations_apply_once_and_refuse_a_newer_store(store_url: str) -> None:
    first = Store.open(store_url)
    again = Store.open(store_url)
    assert first.schema_version() == again.schema_version() == SCHEMA_VERSION
    with first.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(s.schema_migrations)).scalar() == SCHEMA_VERSION
    with first.engine.begin() as conn:
        conn.execute(s.schema_migrations.insert().values(version=SCHEMA_VERSION + 1, description="future",
                                                         applied_at=NOW))
    with pytest.raises(StoreError, match="newer than this leadscore"):
        Store.open(store_url)
    first.close()
    again.close()


def test_a_version_1_store_is_upgraded_in_place(store_url: str) -> None:
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:  # a store as the first release left it
        s.schema_migrations.create(conn, checkfirst=True)
        s.MIGRATIONS[0].apply(conn)
        conn.execute(s.schema_migrations.insert().values(version=1, description="initial", applied_at=NOW))
        conn.execute(s.leads.insert().values(tenant="t", id="L1", payload={"id": "L1", "lifecycle_stage": "lead"}))
    assert not sa.inspect(engine).has_table("lead_stages")
    engine.dispose()
    store = Store.open(store_url)
    assert store.schema_version() == SCHEMA_VERSION >= 2
    store.upsert_leads("t", [Lead(id="L1", lifecycle_stage="customer", updated_at=NOW)])
    assert store.stage_times("t").to_pylist() == [
        {"lead_id": "L1", "field": "lifecycle_stage", "value": "customer", "reached_at": NOW}]
    store.close()


def test_leads_upsert_and_read_back_as_arrow(store: Store) -> None:
    store.upsert_leads("t", [Lead(id="L1", email="a@x.com", employees=50, custom={"plan": "pro"}),
                             Lead(id="L2", title="CTO")])
    store.upsert_leads("t", [Lead(id="L1", email="new@x.com", employees=60, account_id="A1")])
    store.upsert_leads("other", [Lead(id="L9")])
    store.upsert_accounts("t", [Account(id="A1", name="Acme", employees=500)])
    table = store.lead_table("t")
    assert table.column("id").to_pylist() == ["L1", "L2"]
    assert table.column("email").to_pylist() == ["new@x.com", None]
    assert table.column("employees").to_pylist() == [60.0, None]
    assert "plan" not in table.column_names  # the second upsert replaced the whole payload
    assert store.lead("t", "L1")["account_id"] == "A1"  # type: ignore[index]
    assert store.account_table("t").column("name").to_pylist() == ["Acme"]  # type: ignore[union-attr]
    assert store.count("t", "leads") == 2 and store.count("other", "leads") == 1


def test_events_are_deduplicated_by_crm_id_or_content(store: Store) -> None:
    at = datetime(2026, 10, 1, tzinfo=timezone.utc)
    e1 = Event(lead_id="L1", type="page_view", occurred_at=at, url="/pricing")
    same_content = Event(lead_id="L1", type="page_view", occurred_at=at, url="/pricing")
    other_url = Event(lead_id="L1", type="page_view", occurred_at=at, url="/blog")
    with_id = Event(lead_id="L1", type="email_open", occurred_at=at, id="crm-1")
    same_id_later_pull = Event(lead_id="L1", type="email_open", occurred_at=at + timedelta(seconds=1), id="crm-1")
    assert store.add_events("t", [e1, same_content, with_id]) == 2
    assert store.add_events("t", [same_content, other_url, same_id_later_pull]) == 1
    assert store.count("t", "events") == 3
    events = store.event_table("t")
    assert sorted(events.column("url").to_pylist(), key=str) == ["/blog", "/pricing", None]
    assert events.column("occurred_at").to_pylist()[0] == at


def test_scores_history_and_queue(store: Store) -> None:
    store.upsert_leads("t", [Lead(id="L1", owner_id="O1"), Lead(id="L2")])
    s1 = StoredScore("L1", 80.0, 60.0, 70.2, "A", "A2", "pricing +20", "v1")
    s2 = StoredScore("L2", 10.0, 5.0, 7.5, "F", "F4", "", "v1")
    store.save_scores("t", [s1, s2], [{"lead_id": "L1", "at": NOW, "run_id": "r1", "actor": "test",
                                       "old_score": None, "score": 70, "old_grade": None, "grade": "A",
                                       "old_priority": None, "priority": "A2", "reasons": "pricing +20",
                                       "model_version": "v1"}], NOW)
    assert store.scores("t") == {"L1": s1, "L2": s2}
    assert [r["lead_id"] for r in store.queue("t", 10)] == ["L1", "L2"]
    assert store.queue("t", 10)[0]["owner_id"] == "O1"
    (h,) = store.history("t", "L1")
    assert (h["score"], h["grade"], h["actor"], h["at"]) == (70, "A", "test", NOW)


def test_cursor_counts_only_after_commit(store: Store) -> None:
    store.stage_cursor("t", "hubspot", "leads", "c1", NOW)
    assert store.cursor("t", "hubspot", "leads") is None
    store.commit_cursors("t", "hubspot", NOW)
    assert store.cursor("t", "hubspot", "leads") == "c1"
    store.stage_cursor("t", "hubspot", "leads", "c2", NOW)
    store.drop_pending_cursors("t", "hubspot")
    store.commit_cursors("t", "hubspot", NOW)
    assert store.cursors("t", "hubspot") == {"leads": ("c1", None)}


def test_outbox_acknowledge_moves_values_to_written(store: Store) -> None:
    writes = [PendingWrite("lead", "L1", {"score": 70, "grade": "A"}, 5.0, 0),
              PendingWrite("lead", "L2", {"score": 10}, 1.0, 0)]
    store.replace_outbox("t", writes, "r1", NOW)
    assert [w.record_id for w in store.outbox("t")] == ["L1", "L2"]
    store.acknowledge("t", "lead", [("L1", {"score": 70, "grade": "A"})], [("L2", "INVALID")], NOW)
    assert store.written("t", "lead") == {"L1": {"score": 70, "grade": "A"}}
    (left,) = store.outbox("t")
    assert (left.record_id, left.attempts) == ("L2", 1)
    store.replace_outbox("t", [], "r2", NOW)
    assert store.outbox("t") == []


def test_plan_records_states_and_actions_once(store: Store) -> None:
    state = ThresholdState(active=True, since=NOW, last_fired=NOW)
    action = {"key": "k1", "lead_id": "L1", "threshold": "mql", "kind": "notify", "seq": 0, "payload": {"a": 1}}
    store.plan("t", {("L1", "mql"): state}, [action], {"rr:team": 3}, NOW)
    store.plan("t", {("L1", "mql"): state}, [{**action, "payload": {"a": 2}}], {}, NOW)
    (row,) = store.actions("t")
    assert (row.key, row.status, row.payload) == ("k1", "planned", {"a": 1})
    assert store.threshold_states("t") == {("L1", "mql"): state}
    assert store.get_kv("t", "rr:") == {"rr:team": 3}
    store.mark_action("k1", "running", NOW)
    store.mark_action("k1", "done", NOW, "task 55")
    (row,) = store.actions("t", ["done"])
    assert (row.attempts, row.result) == (1, "task 55")


def test_removed_leads_are_forgotten_and_a_successor_keeps_their_events(store: Store) -> None:
    at = datetime(2026, 10, 1, tzinfo=timezone.utc)
    store.upsert_leads("t", [Lead(id=i) for i in ("L1", "L2", "C1", "L3")])
    store.upsert_leads("other", [Lead(id="L1")])
    store.add_events("t", [Event(lead_id=i, type="page_view", occurred_at=at, url=f"/{i}") for i in ("L1", "L2", "C1")])
    store.add_events("other", [Event(lead_id="L1", type="page_view", occurred_at=at)])
    store.save_scores("t", [StoredScore(i, 1.0, 1.0, 1.0, "F", "F4", "", "v1") for i in ("L1", "L2", "L3")], [], NOW)
    store.replace_outbox("t", [PendingWrite("lead", i, {"score": 1}, 1.0, 0) for i in ("L1", "L3")], "r1", NOW)
    store.acknowledge("t", "lead", [("L2", {"score": 1})], [], NOW)
    action = {"lead_id": "L1", "threshold": "mql", "kind": "notify", "seq": 0, "payload": {}}
    store.plan("t", {("L1", "mql"): ThresholdState(True, NOW, NOW)},
               [{**action, "key": "k1"}, {**action, "key": "k2", "lead_id": "L3"}], {}, NOW)

    assert store.remove_leads("t", {"L1": None, "L2": "C1", "gone-before": None}) == 2
    assert store.lead_table("t").column("id").to_pylist() == ["C1", "L3"]
    assert set(store.scores("t")) == {"L3"} and store.written("t", "lead") == {}
    assert [w.record_id for w in store.outbox("t")] == ["L3"] and store.threshold_states("t") == {}
    assert sorted(e["url"] for e in store.lead_events("t", "C1")) == ["/C1", "/L2"]  # L2 was converted into C1
    assert not store.lead_events("t", "L1") and not store.lead_events("t", "L2")
    assert {r.key: r.status for r in store.actions("t")} == {"k1": "cancelled", "k2": "planned"}
    assert store.count("other", "leads") == 1 and store.count("other", "events") == 1  # other tenants untouched
    assert store.remove_leads("t", {"L1": None}) == 0  # told twice: nothing more to do


def test_stage_log_keeps_when_each_lead_was_first_seen_at_each_stage(store: Store) -> None:
    t1, t2, t3 = NOW - timedelta(days=3), NOW - timedelta(days=2), NOW - timedelta(days=1)
    store.upsert_leads("t", [Lead(id="L1", lifecycle_stage="lead", updated_at=t1),
                             Lead(id="L2", lifecycle_stage="customer", lead_status="Won", updated_at=t1)])
    store.upsert_leads("t", [Lead(id="L1", lifecycle_stage="opportunity", updated_at=t2),  # seen to change
                             Lead(id="L2", lifecycle_stage="customer", lead_status="Won", updated_at=t2)])
    store.upsert_leads("t", [Lead(id="L1", lifecycle_stage="customer", lead_status="Won", updated_at=t3),
                             Lead(id="L1", lifecycle_stage="customer", lead_status="Won", updated_at=t3)])
    store.upsert_leads("t", [Lead(id="L1", lifecycle_stage="opportunity", updated_at=NOW)])  # back: first time stays
    rows = {(r["lead_id"], r["field"], r["value"]): r["reached_at"] for r in store.stage_times("t").to_pylist()}
    assert rows == {
        ("L1", "lifecycle_stage", "lead"): None,  # had it when first seen: time unknown
        ("L1", "lifecycle_stage", "opportunity"): t2,
        ("L1", "lifecycle_stage", "customer"): t3,
        ("L1", "lead_status", "Won"): t3,
        ("L2", "lifecycle_stage", "customer"): None,
        ("L2", "lead_status", "Won"): None,
    }
    store.remove_leads("t", {"L2": None})
    assert {r["lead_id"] for r in store.stage_times("t").to_pylist()} == {"L1"}


def test_second_lock_holder_is_refused_with_a_clear_message(store: Store) -> None:
    with SyncLock(store, "t:sync"):
        with pytest.raises(StoreLocked, match="another sync of 't:sync' is running"):
            SyncLock(store, "t:sync").acquire()
        SyncLock(store, "other:sync").acquire().release()  # tenants do not block each other
    SyncLock(store, "t:sync").acquire().release()  # released on exit


def test_lock_of_a_dead_process_or_expired_lease_is_taken_over(store: Store) -> None:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(child.stdout)
    held = SyncLock(store, "t:sync").acquire()
    with store.engine.begin() as conn:
        conn.execute(s.locks.update().values(pid=dead_pid))
    fresh = SyncLock(store, "t:sync").acquire()
    assert fresh.took_over_from and "gone" in fresh.took_over_from
    with pytest.raises(StoreLocked, match="taken over"):
        held.renew()
    with store.engine.begin() as conn:
        conn.execute(s.locks.update().values(host="elsewhere", expires_at=NOW - timedelta(minutes=1)))
    later = SyncLock(store, "t:sync").acquire()
    assert later.took_over_from and "lease expired" in later.took_over_from
