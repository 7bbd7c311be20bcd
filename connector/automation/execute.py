"""Carry out planned actions, recording each one before and after it runs.

``planned`` → ``running`` (recorded before the call) → ``done``, or ``retry`` when it did not
happen: a later run tries it again once its back-off has passed (:func:`retry_delay`: 15 minutes,
doubling, at most a day), and after :data:`MAX_ATTEMPTS` attempts it is ``parked`` for a person
(``leadscore actions --failed``, which can retry or drop it). A row still
``running`` when a run starts belongs to a process that died during the call: whether the call
landed is unknown. Actions that are safe to repeat (assign an owner, set fields, enroll: the CRM
ends in the same state) run again. A task is looked up by its idempotency key first when the
adapter can (:class:`adapters.base.TaskFinder`): found, it is done; absent, it is created — so it
is neither duplicated nor lost. Without a finder it is marked ``uncertain`` and not repeated; such
rows are resolved by a later run with an adapter that has one. A notification never runs twice —
it is marked ``uncertain`` and counted, because a second message is worse than a missing one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from adapters.base import TaskFinder, TaskRequest, WriteRequest, WriteResult
from adapters.errors import FatalAPIError, RetriableAPIError
from connector.store import ActionRow, Store
from connector.sync.fields import FieldNames

from .notify import Notifier, NotifyError

__all__ = ["REPEATABLE", "MAX_ATTEMPTS", "PENDING", "execute_actions", "perform", "retry_delay", "task_of"]

REPEATABLE = frozenset({"assign_owner", "set_fields", "enroll"})
#: attempts an action gets before it is parked for a person to look at
MAX_ATTEMPTS = 6
#: statuses of actions that still have to happen (or be looked at): the run summary counts them
PENDING = ("retry", "parked", "failed", "uncertain")


def retry_delay(attempts: int, base: timedelta = timedelta(minutes=15)) -> timedelta:
    """How long after its last failed attempt an action is tried again: 15 min, 30 min, 1 h, ... 24 h
    (setting ``action_retry_minutes`` sets the first wait)."""
    return min(base * 2 ** max(attempts - 1, 0), timedelta(days=1))


def _due(row: ActionRow, now: datetime, base: timedelta) -> bool:
    return (row.status != "retry" or row.finished_at is None
            or row.finished_at + retry_delay(row.attempts, base) <= now)


def task_of(row: ActionRow) -> TaskRequest:
    """The task a ``create_task`` row creates (the same request on every attempt)."""
    p = row.payload
    due = datetime.fromisoformat(p["due"]) if p.get("due") else None
    return TaskRequest(row.lead_id, p.get("owner_id"), p["subject"], p["body"], row.key, due)


def perform(row: ActionRow, adapter: Any, names: FieldNames, notifier: Notifier) -> WriteResult:
    p = row.payload
    if row.kind == "assign_owner":
        return adapter.write([WriteRequest("lead", row.lead_id, {}, owner_id=p["owner_id"])])[0]
    if row.kind == "set_fields":
        values = names.for_person(row.lead_id, p["values"])
        if not values:  # e.g. a lead status for a Salesforce Contact, which has no such field
            return WriteResult(row.lead_id, True, f"nothing to set: this record has no {', '.join(p['values'])} field")
        return adapter.write([WriteRequest("lead", row.lead_id, values)])[0]
    if row.kind == "enroll":
        return adapter.enroll([row.lead_id], p["target"])[0]
    if row.kind == "create_task":
        return adapter.create_tasks([task_of(row)])[0]
    if row.kind == "notify":
        said = []
        if p.get("webhook_env"):
            said.append(notifier.webhook(p["webhook_env"], p["text"]))
        if p.get("email_to"):
            said.append(notifier.email(p["email_to"], p["text"].split(". ")[0][:150], p["text"]))
        return WriteResult(row.lead_id, True, "; ".join(said) or "nothing to notify")
    raise ValueError(f"unknown action kind '{row.kind}'")


def _doubtful_task(row: ActionRow) -> bool:
    """A task create that may have landed: cut off by a crash, or answered by a 5xx, a timeout or a
    dropped connection (then ``retry``): it is looked up before it is sent again."""
    return row.kind == "create_task" and row.status in ("running", "uncertain", "retry")


def _found_tasks(store: Store, adapter: TaskFinder, rows: list[ActionRow], now: datetime,
                 counts: Counter[str], fence: Callable[[], None]) -> set[str]:
    """Look up the tasks whose create may have landed; mark those found done. Returns the keys
    settled here (found, or not looked up because the lookup failed: they wait for the next run)."""
    doubtful = [row for row in rows if _doubtful_task(row)]
    if not doubtful:
        return set()
    fence()
    try:
        found = adapter.find_tasks([task_of(row) for row in doubtful])
    except RetriableAPIError:
        counts["retry"] += len(doubtful)
        return {row.key for row in doubtful}
    for row in doubtful:
        if row.key in found:
            store.mark_action(row.key, "done", now, "found after an interrupted run")
            counts["done"] += 1
    return found


def _no_fence() -> None:
    pass


def execute_actions(store: Store, tenant: str, adapter: Any, names: FieldNames, notifier: Notifier,
                    now: datetime, dry_run: bool = False, fence: Callable[[], None] = _no_fence,
                    retry_base: timedelta = timedelta(minutes=15)) -> Counter[str]:
    """Run every planned (and interrupted) action; returns counts by outcome.

    ``fence`` runs before each action is marked running (the sync passes its lock's check): when it
    raises, this run no longer holds the tenant and stops before it acts; the rows it did not reach
    stay planned for the run that holds it."""
    counts: Counter[str] = Counter()
    finder = adapter if isinstance(adapter, TaskFinder) else None
    statuses = ["planned", "running", "retry"] + (["uncertain"] if finder is not None and not dry_run else [])
    rows = [row for row in store.actions(tenant, statuses) if row.status != "uncertain" or row.kind == "create_task"]
    waiting = [row for row in rows if not _due(row, now, retry_base)]
    if waiting:
        counts["waiting"] += len(waiting)
        rows = [row for row in rows if _due(row, now, retry_base)]

    def again(row: ActionRow, why: str) -> None:
        """It did not happen: a later run tries again, or a person once it is out of attempts."""
        if row.attempts + 1 >= MAX_ATTEMPTS:
            store.mark_action(row.key, "parked", now, f"gave up after {row.attempts + 1} attempts: {why}")
            counts["parked"] += 1
        else:
            store.mark_action(row.key, "retry", now,
                              f"will retry after {retry_delay(row.attempts + 1, retry_base)}: {why}")
            counts["retry"] += 1

    settled = _found_tasks(store, finder, rows, now, counts, fence) if finder is not None and not dry_run else set()
    for row in rows:
        if row.key in settled:
            continue
        if dry_run:
            counts[f"would_{row.kind}"] += 1
            continue
        if row.status == "running" and row.kind not in REPEATABLE and not (finder is not None and _doubtful_task(row)):
            store.mark_action(row.key, "uncertain", now, "interrupted during the call; not repeated")
            counts["uncertain"] += 1
            continue
        fence()
        store.mark_action(row.key, "running", now)
        try:
            result = perform(row, adapter, names, notifier)
        except RetriableAPIError as exc:
            again(row, str(exc))
            continue
        except FatalAPIError:
            store.mark_action(row.key, "planned", now, "stopped by a fatal API error")
            raise
        except NotifyError as exc:
            if exc.delivered is None:  # it may have arrived: a second message is worse than a missing one
                store.mark_action(row.key, "uncertain", now, str(exc))
                counts["uncertain"] += 1
            else:
                again(row, str(exc))
            continue
        if result.ok:
            store.mark_action(row.key, "done", now, result.error)
            counts["done"] += 1
        else:
            again(row, result.error or "failed")
    return counts
