"""A task whose create was cut off is looked up by its idempotency key on the next run, against
each sandbox CRM through its real client: created when absent, marked done when present."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from connector.automation.execute import execute_actions, task_of
from connector.automation.notify import Notifier
from connector.store import Store
from connector.sync.fields import DEFAULT
from sandbox.tenant import generate_tenant
from tests.adapters.harness import FACTORIES, Harness

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(params=sorted(FACTORIES))
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    h = FACTORIES[request.param](generate_tenant(seed=11, leads=20, events_per_lead=1))
    yield h
    h.server.stop()


def _plan_task(store: Store, key: str, lead: str) -> None:
    store.plan("t", {}, [{"key": key, "lead_id": lead, "threshold": "mql", "kind": "create_task", "seq": 1,
                          "payload": {"owner_id": None, "subject": "Call now", "body": "Why: pricing +20",
                                      "due": NOW.isoformat()}}], {}, NOW)


def test_cut_off_task_creates_are_resolved_without_duplicates_or_gaps(harness: Harness, store: Store) -> None:
    never_sent, landed, left_uncertain = sorted(harness.lead_ids)[:3]
    for key, lead in (("k-sent", never_sent), ("k-landed", landed), ("k-old", left_uncertain)):
        _plan_task(store, key, lead)
        store.mark_action(key, "running", NOW)  # a process died during the call...
    (row,) = [r for r in store.actions("t") if r.key == "k-landed"]
    assert harness.adapter.create_tasks([task_of(row)])[0].ok  # ...after the CRM made this one
    store.mark_action("k-old", "uncertain", NOW)  # left by a run whose adapter could not look tasks up

    counts = execute_actions(store, "t", harness.adapter, DEFAULT, Notifier(env={}), NOW)

    assert counts == {"done": 3}
    assert {r.key: r.status for r in store.actions("t")} == {"k-sent": "done", "k-landed": "done", "k-old": "done"}
    assert [len(harness.tasks_of(lead)) for lead in (never_sent, landed, left_uncertain)] == [1, 1, 1]
    assert execute_actions(store, "t", harness.adapter, DEFAULT, Notifier(env={}), NOW) == {}
