"""The contract every adapter honours, run against each adapter's sandbox through its real client.

Expected values come from the tenant the sandbox was seeded from, or from the sandbox's own
state read directly, never from the adapter under test.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from adapters.base import Adapter, Page, TaskFinder, TaskRequest, WriteRequest
from adapters.cursors import decode, ms_of
from scoring.records import Account, Lead, is_valid_event_type
from tests.adapters.harness import FACTORIES, Harness


def now() -> datetime:
    return datetime.now(timezone.utc)


def id_order(record_id: str) -> tuple[int, str]:
    """Numeric order for HubSpot's decimal ids, creation order for Salesforce's base-62 ones."""
    return len(record_id), record_id


def pull_all(pages: list[Page]) -> list[object]:
    return [r for p in pages for r in p.records]


def test_adapter_satisfies_the_protocol(harness: Harness) -> None:
    assert isinstance(harness.adapter, Adapter)


def test_install_is_idempotent(harness: Harness) -> None:
    plan = harness.adapter.plan_install(harness.fields)
    assert plan.up_to_date, plan
    assert {f.name for f in plan.existing} == {f.name for f in harness.fields}
    again = harness.adapter.install(plan)
    assert again.up_to_date and not again.to_create


def test_full_pull_reads_every_lead_once_with_its_account(harness: Harness) -> None:
    until = now()
    pages = list(harness.adapter.pull_leads(None, until))
    leads = pull_all(pages)
    assert all(isinstance(r, Lead) for r in leads)
    ids = [r.id for r in leads]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids)) and set(ids) == harness.lead_ids
    assert {r.id: r.account_id for r in leads} == harness.account_of  # type: ignore[attr-defined]
    assert [p.done for p in pages] == [False] * (len(pages) - 1) + [True]
    assert decode(pages[-1].cursor) == ms_of(until)  # capped at the run's start, not later


def test_incremental_pull_reads_only_what_changed(harness: Harness) -> None:
    first = list(harness.adapter.pull_leads(None, now()))
    changed = sorted(harness.lead_ids)[:3]
    for lead in changed:
        harness.touch(lead)
    second = pull_all(list(harness.adapter.pull_leads(first[-1].cursor, now() + timedelta(seconds=1))))
    assert sorted(r.id for r in second) == changed  # type: ignore[attr-defined]


def test_changes_after_the_run_start_wait_for_the_next_run(harness: Harness) -> None:
    until = now() - timedelta(seconds=2)
    lead = sorted(harness.lead_ids)[0]
    harness.touch(lead)  # modified after `until`
    pages = list(harness.adapter.pull_leads(None, until))
    assert lead not in {r.id for r in pull_all(pages)}  # type: ignore[attr-defined]
    later = pull_all(list(harness.adapter.pull_leads(pages[-1].cursor, now() + timedelta(seconds=1))))
    assert lead in {r.id for r in later}  # type: ignore[attr-defined]


def test_nothing_changed_yields_one_empty_page_without_cursor(harness: Harness) -> None:
    pages = list(harness.adapter.pull_leads(None, datetime(2000, 1, 1, tzinfo=timezone.utc)))
    assert [(list(p.records), p.cursor, p.done) for p in pages] == [([], None, True)]


def test_accounts(harness: Harness) -> None:
    accounts = pull_all(list(harness.adapter.pull_accounts(None, now())))
    assert all(isinstance(a, Account) for a in accounts)
    assert sorted(a.id for a in accounts) == sorted(harness.account_ids)  # type: ignore[attr-defined]


def test_events_are_canonical_and_belong_to_known_leads(harness: Harness) -> None:
    pages = list(harness.adapter.pull_events(None, now()))
    events = pull_all(pages)
    assert len(events) == harness.event_count
    assert all(is_valid_event_type(e.type) and e.lead_id in harness.lead_ids for e in events)  # type: ignore[attr-defined]
    ids = Counter(e.id for e in events)  # type: ignore[attr-defined]
    assert max(ids.values()) == 1
    assert pages[-1].done and pages[-1].cursor


def test_write_then_read_back(harness: Harness) -> None:
    leads = sorted(harness.lead_ids, key=id_order)[:250]
    value = {i: n % 97 for n, i in enumerate(leads)}
    results = harness.adapter.write([WriteRequest("lead", i, {harness.score_field: value[i]}) for i in leads])
    assert [(r.record_id, r.ok) for r in results] == [(i, True) for i in leads]
    assert all(float(harness.stored(i, harness.score_field)) == value[i] for i in leads)


def test_one_bad_record_does_not_fail_the_batch(harness: Harness) -> None:
    good = sorted(harness.lead_ids, key=id_order)[:5]
    bad = good.pop(2)
    requests = [WriteRequest("lead", i, {harness.score_field: 42}) for i in good]
    requests.insert(1, WriteRequest("lead", harness.missing_id, {harness.score_field: 42}))
    requests.insert(3, WriteRequest("lead", bad, {harness.score_field: harness.bad_score}))
    results = harness.adapter.write(requests)
    by_id = {r.record_id: r for r in results}
    assert [r.record_id for r in results] == [q.record_id for q in requests]
    assert all(by_id[i].ok for i in good) and all(float(harness.stored(i, harness.score_field)) == 42 for i in good)
    for failed in (harness.missing_id, bad):
        assert not by_id[failed].ok and by_id[failed].error and not by_id[failed].retriable
    assert harness.stored(bad, harness.score_field) in (None, "")


def test_owner_assignment_uses_owner_ids(harness: Harness) -> None:
    owners = [o for o in harness.adapter.owners() if o.active]
    assert owners and all(o.id for o in owners)
    lead = sorted(harness.lead_ids)[0]
    [result] = harness.adapter.write([WriteRequest("lead", lead, {}, owner_id=owners[-1].id)])
    assert result.ok


def test_tasks_are_associated_to_the_lead(harness: Harness) -> None:
    lead = sorted(harness.lead_ids)[1]
    owner = harness.adapter.owners()[0]
    [result] = harness.adapter.create_tasks([TaskRequest(lead, owner.id, "Call now: score 91", "Visited /pricing 3x",
                                                         "task-key-1")])
    assert result.ok
    [task] = harness.tasks_of(lead)
    assert "Call now: score 91" in str(task) and "task-key-1" in str(task)


def test_tasks_are_found_by_their_idempotency_key(harness: Harness) -> None:
    assert isinstance(harness.adapter, TaskFinder)
    first, second = sorted(harness.lead_ids)[2:4]
    made = [TaskRequest(first, None, "Call now", "Why: pricing", "a1b2c3"),
            TaskRequest(second, None, "Call now", "Why: pricing", "d4e5f6")]
    assert harness.adapter.find_tasks(made) == set()
    harness.adapter.create_tasks(made[:1])
    # the same lead and subject with another key (another crossing) is another task: not found
    other = TaskRequest(first, None, "Call now", "Why: pricing", "a1b2c4")
    assert harness.adapter.find_tasks([*made, other]) == {"a1b2c3"}


def test_api_usage_counts_calls(harness: Harness) -> None:
    before = harness.adapter.api_usage()["calls"] or 0
    list(harness.adapter.pull_accounts(None, now()))
    assert (harness.adapter.api_usage()["calls"] or 0) > before


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_faults_are_retried_without_losing_or_duplicating(tenant: object, make_harness: object, name: str) -> None:
    """15% of calls answered 429 or 5xx: everything is still read once and written once."""
    from sandbox.http import FaultConfig

    h = make_harness(name, tenant, faults=FaultConfig(rate_429=0.075, rate_5xx=0.075, seed=3))  # type: ignore[operator]
    h.adapter.install(h.adapter.plan_install(h.fields))
    ids = [r.id for r in pull_all(list(h.adapter.pull_leads(None, now())))]  # type: ignore[attr-defined]
    assert sorted(ids) == sorted(h.lead_ids)
    results = h.adapter.write([WriteRequest("lead", i, {h.score_field: 7}) for i in ids])
    assert all(r.ok for r in results)
    assert all(float(h.stored(i, h.score_field)) == 7 for i in ids)
    assert h.sleeps, "faults were injected, so the policy must have backed off"


def test_a_run_killed_after_any_page_resumes_without_losing_records(harness: Harness) -> None:
    until = now()
    pages = list(harness.adapter.pull_leads(None, until))
    assert len(pages) >= 2
    for k, page in enumerate(pages[:-1]):
        read = {r.id for p in pages[:k + 1] for r in p.records}  # type: ignore[attr-defined]
        resumed = {r.id for r in pull_all(list(harness.adapter.pull_leads(page.cursor, until)))}  # type: ignore[attr-defined]
        assert read | resumed == harness.lead_ids


def test_account_scores_are_written_to_accounts(harness: Harness) -> None:
    account = sorted(harness.account_ids)[0]
    field = next(f.name for f in harness.fields if f.object in ("companies", "Account") and f.type == "number")
    [result] = harness.adapter.write([WriteRequest("account", account, {field: 77})])
    assert result.ok and result.record_id == account


def test_a_lead_changed_during_the_pull_does_not_make_it_skip_others(harness: Harness) -> None:
    until = now()
    seen: list[str] = []
    pages = harness.adapter.pull_leads(None, until)
    first = next(pages)
    seen.extend(r.id for r in first.records)  # type: ignore[union-attr]
    harness.touch(seen[0])  # a rep edits a lead already read: it now reads as changed after `until`
    seen.extend(r.id for p in pages for r in p.records)  # type: ignore[union-attr]
    assert sorted(set(seen)) == sorted(harness.lead_ids) and len(seen) == len(set(seen))
