"""The sync run against the in-process CRM double, on SQLite and PostgreSQL: diff write-back,
decay without new events, de-duplicated re-pulls, budget carry-over, actions once, crash recovery."""

from __future__ import annotations

import functools
import tempfile
from collections import Counter
from datetime import timedelta

import pytest

from connector.store import Store, StoreLocked, SyncLock
from connector.sync.run import SyncOptions, run_sync

from .fakes import Crash, FakeCRM
from .world import T0, crm_state, model, seed


def _sync(store: Store, crm: FakeCRM, hours: float = 0, **kw: object):  # type: ignore[no-untyped-def]
    return run_sync(store, crm, model(), SyncOptions(tenant="t", now=T0 + timedelta(hours=hours), batch_size=5,
                                                     **kw))  # type: ignore[arg-type]


def test_first_run_writes_everything_then_a_steady_run_writes_nothing(store: Store) -> None:
    crm = FakeCRM()
    seed(crm)
    first = _sync(store, crm)
    assert first.pulled == {"accounts": 2, "leads": 12, "events": 18} and first.new_events == 18
    assert first.rescored == 12 and first.written == 12 + 2 and first.failed == 0
    visits = sum(25 * 0.5 ** (hours / 24 / 7) for hours in (1, 2))  # L10: two pricing visits, 1 h and 2 h ago
    assert crm.fields[("lead", "L10")]["leadscore_score"] == int(0.5 * 100 + 0.5 * visits + 0.5)
    assert crm.fields[("lead", "L01")]["leadscore_grade"] == "F"
    assert crm.fields[("account", "A1")]["leadscore_account_score"] == max(
        crm.fields[("lead", f"L{i:02d}")]["leadscore_score"] for i in range(6))
    calls = crm.calls
    steady = _sync(store, crm, hours=0.25)
    assert steady.written == 0 and steady.writes_planned == 0 and steady.new_events == 0
    assert crm.calls - calls <= 3  # one (empty) page read per object, nothing written
    assert store.cursors("t", "fake")["events"] == (str(max(c for c, _ in crm.events)), None)


def test_decay_alone_moves_scores_and_only_changed_fields_are_written(store: Store) -> None:
    crm = FakeCRM()
    seed(crm)
    _sync(store, crm)
    before = {k: dict(v) for k, v in crm.fields.items()}
    later = _sync(store, crm, hours=24 * 14)  # two half-lives, no new events
    assert later.new_events == 0 and later.written > 0
    for (obj, rid), values in crm.fields.items():
        if obj == "lead" and rid in ("L03", "L07", "L11"):  # engineers with 3 visits: intent fell
            assert values["leadscore_score"] < before[(obj, rid)]["leadscore_score"]
    sent = store.history("t", "L11")
    assert sent[0]["old_score"] > sent[0]["score"]  # audit trail says what changed


def test_repulled_events_count_once(store: Store) -> None:
    crm = FakeCRM()
    seed(crm)
    _sync(store, crm)
    scores = store.scores("t")
    with store.engine.begin() as conn:  # forget the cursors: everything is pulled again
        from connector.store import schema

        conn.execute(schema.cursors.delete())
    again = _sync(store, crm)
    assert again.pulled["events"] == 18 and again.new_events == 0
    assert store.scores("t") == scores and again.written == 0


def test_budget_sends_hottest_first_and_carries_the_rest(store: Store) -> None:
    crm = FakeCRM()
    seed(crm)
    first = _sync(store, crm, write_budget=1)
    assert first.written == 5 and first.deferred == 9 and first.write_calls == 1
    written = {rid for (obj, rid) in crm.fields}
    top = sorted(store.scores("t").values(), key=lambda s: -s.score)[:5]
    assert written == {s.lead_id for s in top}
    assert len(store.outbox("t")) == 9
    second = _sync(store, crm, write_budget=10)
    assert second.written == 9 and store.outbox("t") == []


def test_per_record_failures_stay_in_the_outbox_and_are_retried(store: Store) -> None:
    crm = FakeCRM()
    seed(crm)
    crm.reject = {"L04"}
    first = _sync(store, crm)
    assert first.failed == 1 and ("lead", "L04") not in crm.fields
    (left,) = store.outbox("t")
    assert (left.record_id, left.attempts) == ("L04", 1)
    crm.reject = set()
    assert _sync(store, crm).written == 1 and ("lead", "L04") in crm.fields


def test_a_write_the_crm_keeps_refusing_is_held_back_not_sent_forever(store: Store) -> None:
    from connector.sync.diff import HOLD_AFTER

    crm = FakeCRM()
    seed(crm)
    crm.reject = {"L04"}  # e.g. a portal validation rule refuses this record's values
    for run in range(1, HOLD_AFTER + 1):
        summary = _sync(store, crm, hours=run)
        assert summary.failed == 1 and summary.held == 0, run
    held = _sync(store, crm, hours=HOLD_AFTER + 1)
    assert held.failed == 0 and held.held == 1 and held.held_records[0]["id"] == "L04"
    assert "INVALID: rejected by the fake" in (held.held_records[0]["error"] or "")
    (left,) = [w for w in store.outbox("t") if w.record_id == "L04"]
    assert left.attempts == HOLD_AFTER and "INVALID" in (left.last_error or "")  # kept, with the CRM's message
    crm.reject = set()  # the admin fixed the rule
    again = _sync(store, crm, hours=HOLD_AFTER + 2, retry_held=True)
    assert again.held == 0 and ("lead", "L04") in crm.fields and not store.outbox("t")


def test_crossing_runs_each_action_once(store: Store) -> None:
    crm = FakeCRM()
    seed(crm)
    first = _sync(store, crm)
    hot = sorted(s.lead_id for s in store.scores("t").values() if s.score >= 70)
    assert hot == ["L02", "L06", "L10"]
    assert first.crossings == {"mql.entered": 3} and first.actions["done"] == 3 * 4 - 1  # L02 keeps its owner
    assert crm.owners_of == {"L06": "O1", "L10": "O2"}
    assert sorted(t.lead_id for t in crm.tasks) == hot
    assert [t.owner_id for t in crm.tasks if t.lead_id == "L02"] == ["O9"]
    assert crm.fields[("lead", "L06")]["lifecycle_stage"] == "marketingqualifiedlead"
    again = _sync(store, crm, hours=1)
    assert again.crossings == {} and len(crm.tasks) == 3 and len(crm.enrollments) == 3


def test_a_second_concurrent_run_is_refused(store: Store) -> None:
    crm = FakeCRM()
    seed(crm)
    with SyncLock(store, "t:sync"), pytest.raises(StoreLocked, match="another sync of 't:sync' is running"):
        _sync(store, crm)
    assert crm.calls == 0


@functools.cache
def _uninterrupted() -> str:
    """The CRM state after one uninterrupted sync of the seeded world (computed once)."""
    reference = FakeCRM()
    seed(reference)
    with tempfile.TemporaryDirectory() as folder:
        ref_store = Store.open(f"sqlite:///{folder}/ref.db")
        _sync(ref_store, reference)
        ref_store.close()
    return repr(crm_state(reference))


# mutations: 1-3 lead batches, 4 accounts, then actions (L02: task, enroll, set; L06: assign, task, ...)
@pytest.mark.parametrize("crash_after", [1, 3, 4, 5, 7, 9, 12, 14])
def test_killed_at_any_mutation_then_rerun_ends_like_an_uninterrupted_run(store_url: str, crash_after: int) -> None:
    crm = FakeCRM()
    seed(crm)
    crm.crash_after = crash_after  # dies right after the CRM applied that call
    store = Store.open(store_url)
    with pytest.raises(Crash):
        _sync(store, crm)
    with store.engine.begin() as conn:  # the dead process's lock: same host, its pid is gone
        from connector.store import schema

        conn.execute(schema.locks.update().values(pid=2**22 + 1))
    rerun = _sync(store, crm)
    assert repr(crm_state(crm)) == _uninterrupted()
    assert rerun.actions.get("uncertain", 0) == 0
    assert max(Counter(t.idempotency_key for t in crm.tasks).values()) == 1
    store.close()


def test_arm_only_records_entries_without_actions_and_they_fire_on_the_next_entry(store: Store) -> None:
    crm = FakeCRM()
    seed(crm)
    first = _sync(store, crm, arm_only=True)
    assert first.crossings == {"mql.armed": 3} and crm.tasks == [] and crm.enrollments == []
    assert crm.fields[("lead", "L06")]["leadscore_score"] >= 70
    states = store.threshold_states("t")
    assert all(s.active and s.last_fired is None for s in states.values()) and len(states) == 3
    later = _sync(store, crm, hours=24 * 21)  # decay: the armed leads fall below the exit bar
    assert later.crossings == {"mql.left": 3}
    from scoring.records import Event

    for k in range(6):
        crm.put_event(Event(lead_id="L06", type="page_view", url="/pricing",
                            occurred_at=T0 + timedelta(hours=24 * 21 - k - 1)))
    back = _sync(store, crm, hours=24 * 21)
    assert back.crossings == {"mql.entered": 1} and [t.lead_id for t in crm.tasks] == ["L06"]


class _TakenOverMidActions(FakeCRM):
    """The first run's lease runs out while it carries out actions (its process stalled past the
    lease) and a second run takes over at the worst moment: just after a task create landed."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.second: object = None

    def create_tasks(self, tasks):  # type: ignore[no-untyped-def]
        results = super().create_tasks(tasks)
        if self.second is None:
            from connector.store import schema

            with self.store.engine.begin() as conn:  # the stalled holder's lease is over
                conn.execute(schema.locks.update().values(expires_at=T0 - timedelta(days=1)))
            self.second = _sync(self.store, self, hours=0.25)
        return results


def test_a_run_that_lost_its_lease_stops_before_acting_and_the_next_does_the_work_once(store: Store) -> None:
    crm = _TakenOverMidActions(store)
    seed(crm)
    with pytest.raises(StoreLocked, match="taken over by another run"):
        _sync(store, crm)
    second = crm.second
    assert second is not None and second.actions["done"] >= 1  # type: ignore[attr-defined]
    hot = ["L02", "L06", "L10"]
    assert sorted(t.lead_id for t in crm.tasks) == hot  # each task once: none lost, none twice
    assert sorted(lead for lead, _ in crm.enrollments) == hot
    assert {a.status for a in store.actions("t")} == {"done"}
    runs = {r["status"] for r in store.last_runs("t", 5)}
    assert runs == {"ok", "failed"}


def test_the_lease_is_renewed_while_a_run_works(store: Store) -> None:
    import time

    from connector.store import schema

    with SyncLock(store, "t:sync", lease=timedelta(seconds=0.6), heartbeat=timedelta(seconds=0.1)) as lock:
        time.sleep(1.5)  # more than twice the lease, with no renew() call of the run's own
        with pytest.raises(StoreLocked, match="is running"):
            SyncLock(store, "t:sync").acquire()
        lock.check()
    with store.engine.connect() as conn:
        assert conn.execute(schema.locks.select()).all() == []


def test_a_killed_run_is_marked_interrupted_by_the_next(store: Store) -> None:
    store.start_run("t", "killed", T0)
    crm = FakeCRM()
    seed(crm)
    _sync(store, crm)
    runs = [(r["id"] == "killed", r["status"]) for r in store.last_runs("t", 5)]
    assert runs == [(False, "ok"), (True, "interrupted")]


def test_actions_that_did_not_happen_are_counted_and_make_the_exit_code_4(store: Store) -> None:
    from connector.commands.sync import failed_any
    from tests.sync.world import model as world_model

    crm = FakeCRM()
    seed(crm)
    broken = world_model([{"type": "notify", "webhook_env": "LEADSCORE_TEST_UNSET_WEBHOOK"}])
    first = run_sync(store, crm, broken, SyncOptions(tenant="t", now=T0, batch_size=5))
    assert first.actions.get("retry") == 3 and first.actions_pending == 3 and first.failed == 0
    assert failed_any(first)
    later = run_sync(store, crm, broken, SyncOptions(tenant="t", now=T0 + timedelta(minutes=1), batch_size=5))
    assert later.actions == {"waiting": 3} and later.actions_pending == 3 and failed_any(later)


class _DailyLimit(FakeCRM):
    """A CRM that allows ``per_day`` calls a day, then answers every call with the daily limit."""

    def __init__(self, per_day: int) -> None:
        super().__init__(page_size=4)
        self.per_day = per_day
        self.today = 0

    def _spend(self) -> None:
        from adapters.errors import LimitExhausted

        if self.today >= self.per_day:
            raise LimitExhausted("the daily API limit is used up")
        self.today += 1

    def _pages(self, items, cursor):  # type: ignore[no-untyped-def]
        for page in super()._pages(items, cursor):
            if page.records:
                self._spend()
            yield page

    def write(self, requests):  # type: ignore[no-untyped-def]
        self._spend()
        return super().write(requests)

    def create_tasks(self, tasks):  # type: ignore[no-untyped-def]
        self._spend()
        return super().create_tasks(tasks)

    def enroll(self, lead_ids, target):  # type: ignore[no-untyped-def]
        self._spend()
        return super().enroll(lead_ids, target)


def test_a_daily_budget_smaller_than_one_pull_still_finishes_in_a_few_days(store: Store) -> None:
    from adapters.errors import LimitExhausted

    crm = _DailyLimit(per_day=6)
    seed(crm, leads=40)  # 2 + 40 + 60 records in pages of 4: 26 page reads, 9 write calls, 30 actions
    days = 0
    while True:
        days += 1
        crm.today = 0  # a new day: the limit resets
        try:
            _sync(store, crm)
            break
        except LimitExhausted:
            assert days < 30, "no progress"
    reference = FakeCRM(page_size=4)
    seed(reference, leads=40)
    _sync(Store.open(f"sqlite:///{tempfile.mkdtemp()}/ref.db"), reference)
    assert crm_state(crm)["tasks"] and len(crm.tasks) == len(reference.tasks)
    assert crm_state(crm)["fields"] == crm_state(reference)["fields"]
    calls = crm.calls + len(crm.tasks)  # what the whole first sync needs, counted once
    assert days <= -(-calls // crm.per_day) + 3, (days, calls)  # a few days' slack: each stop wastes the day's rest
