"""Carry out planned actions, recording each one before and after it runs.

``planned`` → ``running`` (recorded before the call) → ``done`` | ``failed``. A row still
``running`` when a run starts belongs to a process that died during the call: whether the call
landed is unknown. Actions that are safe to repeat (assign an owner, set fields, enroll: the CRM
ends in the same state) run again; a task runs again only if the adapter can look it up by its
idempotency key (``adapter.find_task(key)``), and a notification never does — it is marked
``uncertain`` and counted, because a second message is worse than a missing one.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from adapters.base import TaskRequest, WriteRequest, WriteResult
from adapters.errors import FatalAPIError, RetriableAPIError
from connector.store import ActionRow, Store
from connector.sync.fields import FieldNames

from .notify import Notifier, NotifyError

__all__ = ["REPEATABLE", "execute_actions", "perform"]

REPEATABLE = frozenset({"assign_owner", "set_fields", "enroll"})


def perform(row: ActionRow, adapter: Any, names: FieldNames, notifier: Notifier) -> WriteResult:
    p = row.payload
    if row.kind == "assign_owner":
        return adapter.write([WriteRequest("lead", row.lead_id, {}, owner_id=p["owner_id"])])[0]
    if row.kind == "set_fields":
        return adapter.write([WriteRequest("lead", row.lead_id, names.crm("lead", p["values"]))])[0]
    if row.kind == "enroll":
        return adapter.enroll([row.lead_id], p["target"])[0]
    if row.kind == "create_task":
        due = datetime.fromisoformat(p["due"]) if p.get("due") else None
        task = TaskRequest(row.lead_id, p.get("owner_id"), p["subject"], p["body"], row.key, due)
        return adapter.create_tasks([task])[0]
    if row.kind == "notify":
        said = []
        if p.get("webhook_env"):
            said.append(notifier.webhook(p["webhook_env"], p["text"]))
        if p.get("email_to"):
            said.append(notifier.email(p["email_to"], p["text"].split(". ")[0][:150], p["text"]))
        return WriteResult(row.lead_id, True, "; ".join(said) or "nothing to notify")
    raise ValueError(f"unknown action kind '{row.kind}'")


def execute_actions(store: Store, tenant: str, adapter: Any, names: FieldNames, notifier: Notifier,
                    now: datetime, dry_run: bool = False) -> Counter[str]:
    """Run every planned (and interrupted) action; returns counts by outcome."""
    counts: Counter[str] = Counter()
    for row in store.actions(tenant, ["planned", "running"]):
        if dry_run:
            counts[f"would_{row.kind}"] += 1
            continue
        if row.status == "running" and row.kind not in REPEATABLE:
            finder = getattr(adapter, "find_task", None) if row.kind == "create_task" else None
            if finder is None:
                store.mark_action(row.key, "uncertain", now, "interrupted during the call; not repeated")
                counts["uncertain"] += 1
                continue
            if finder(row.key):
                store.mark_action(row.key, "done", now, "found after an interrupted run")
                counts["done"] += 1
                continue
        store.mark_action(row.key, "running", now)
        try:
            result = perform(row, adapter, names, notifier)
        except RetriableAPIError as exc:
            store.mark_action(row.key, "planned", now, f"will retry: {exc}")
            counts["retry"] += 1
            continue
        except FatalAPIError:
            store.mark_action(row.key, "planned", now, "stopped by a fatal API error")
            raise
        except NotifyError as exc:
            store.mark_action(row.key, "failed", now, str(exc))
            counts["failed"] += 1
            continue
        if result.ok:
            store.mark_action(row.key, "done", now, result.error)
            counts["done"] += 1
        elif result.retriable:
            store.mark_action(row.key, "planned", now, f"will retry: {result.error}")
            counts["retry"] += 1
        else:
            store.mark_action(row.key, "failed", now, result.error)
            counts["failed"] += 1
    return counts
