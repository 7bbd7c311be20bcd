"""Write-back: batch updates with one result per record, tasks for reps, sequence enrollment.

Batch update (``POST /crm/objects/{version}/{type}/batch/update``, ≤ ``batch_size`` inputs): a 200 means
all written; a 207 lists what failed in ``errors[].context.ids`` (checked every time — the client
returns, not raises, a 207). A 400/409 for a bad value fails the *whole* batch in HubSpot, so the
batch is split in halves until the bad records stand alone: per-record failures never fail the
others. Writing W records costs ⌈W/batch_size⌉ calls when nothing is wrong.

A fatal error (auth, scope, daily limit, unknown property) stops the write; the exception carries
``partial_results`` (what was acknowledged before it) so the caller can record them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.base import TaskRequest, WriteRequest, WriteResult
from adapters.errors import FatalAPIError, RetriableAPIError
from adapters.hubspot.convert import to_property_value
from adapters.hubspot.transport import Transport
from adapters.retry import RequestRejected

__all__ = ["create_tasks", "enroll", "find_tasks", "task_marker", "update_batches"]

#: HubSpot-defined association type: task → contact.
TASK_TO_CONTACT = 204
#: 207 error categories that mean "try again later" rather than "this record is wrong".
_TRANSIENT = frozenset({"RATE_LIMITS", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE", "LOCKED", "TIMEOUT"})


def _properties(req: WriteRequest) -> dict[str, str]:
    props = {k: to_property_value(v) for k, v in req.values.items()}
    if req.owner_id is not None:
        props["hubspot_owner_id"] = str(req.owner_id)
    return props


def _ids_of(error: dict[str, Any]) -> list[str]:
    ctx = error.get("context") or {}
    return [str(i) for i in ctx.get("ids") or ctx.get("fromObjectId") or []]


def _send(t: Transport, object_type: str, inputs: list[dict[str, Any]]) -> dict[str, WriteResult]:
    """One batch, split on a rejected value until the culprit stands alone."""
    try:
        data, status = t.request(f"update {len(inputs)} {object_type}", "POST",
                                 "/crm/objects/{version}/{objectType}/batch/update",
                                 path_params={"objectType": object_type}, body={"inputs": inputs},
                                 endpoint=f"POST {t.path('/crm/objects/{version}')}/{object_type}/batch/update")
    except RequestRejected as exc:
        if len(inputs) == 1:
            return {inputs[0]["id"]: WriteResult(inputs[0]["id"], False, str(exc), retriable=False)}
        half = len(inputs) // 2
        return {**_send(t, object_type, inputs[:half]), **_send(t, object_type, inputs[half:])}
    out: dict[str, WriteResult] = {}
    for r in data.get("results") or []:
        out[str(r["id"])] = WriteResult(str(r["id"]), True)
    for err in data.get("errors") or []:
        message = f"{err.get('category', 'ERROR')}: {err.get('message', '')}"
        retriable = err.get("category") in _TRANSIENT
        for id_ in _ids_of(err):
            out[id_] = WriteResult(id_, False, message, retriable=retriable)
    for item in inputs:  # in neither list: HubSpot said nothing about it, so it is not known written
        out.setdefault(item["id"], WriteResult(item["id"], False, f"HTTP {status}: no result for this record",
                                               retriable=True))
    return out


def update_batches(t: Transport, object_type: str, requests: Sequence[WriteRequest], batch_size: int
                   ) -> list[WriteResult]:
    """One result per request, in order; a record named twice is written once (its values merged)."""
    merged: dict[str, dict[str, str]] = {}
    for req in requests:
        merged.setdefault(req.record_id, {}).update(_properties(req))
    inputs: list[dict[str, Any]] = [{"id": id_, "properties": props} for id_, props in merged.items()]
    results: dict[str, WriteResult] = {}
    for i in range(0, len(inputs), batch_size):
        chunk = inputs[i:i + batch_size]
        try:
            results.update(_send(t, object_type, chunk))
        except RetriableAPIError as exc:  # the policy gave up: say so for what is left, send nothing more
            for item in inputs[i:]:
                results[item["id"]] = WriteResult(item["id"], False, str(exc), retriable=True)
            break
        except FatalAPIError as exc:
            exc.partial_results = [results[r.record_id] for r in requests if r.record_id in results]  # type: ignore[attr-defined]
            raise
    return [results[r.record_id] for r in requests]


def task_marker(key: str) -> str:
    """The line closing a task's body that names its idempotency key (searchable as a token)."""
    return f"[leadscore {key}]"


def create_tasks(t: Transport, tasks: Sequence[TaskRequest], scored_at: str) -> list[WriteResult]:
    """One task per request, associated to its contact; one POST each (a create is not retried on
    an ambiguous failure, so it can never be made twice)."""
    out = []
    for task in tasks:
        props = {"hs_task_subject": task.subject, "hs_task_body": f"{task.body}\n\n{task_marker(task.idempotency_key)}",
                 "hs_task_status": "NOT_STARTED", "hs_task_type": "TODO",
                 "hs_timestamp": to_property_value(task.due) if task.due else scored_at}
        if task.owner_id:
            props["hubspot_owner_id"] = str(task.owner_id)
        body = {"properties": props, "associations": [{"to": {"id": task.lead_id}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_CONTACT}]}]}
        try:
            data, _ = t.request("create a task", "POST", "/crm/objects/{version}/{objectType}",
                                path_params={"objectType": "tasks"}, body=body, idempotent=False)
            out.append(WriteResult(str(data.get("id") or task.lead_id), True))
        except RequestRejected as exc:
            out.append(WriteResult(task.lead_id, False, str(exc), retriable=False))
        except RetriableAPIError as exc:
            outcome = "not created" if exc.status == 429 else "outcome unknown, not retried to avoid a duplicate"
            out.append(WriteResult(task.lead_id, False, f"{exc} ({outcome})", retriable=exc.status == 429))
    return out


def find_tasks(t: Transport, tasks: Sequence[TaskRequest]) -> set[str]:
    """The idempotency keys of ``tasks`` that exist. Not by search: HubSpot's search index lags
    behind a create ("it may take a few moments for created or updated objects to appear in
    search", CRM search guide), so a task created just before a crash would look absent and be
    made twice. Instead the contacts' task associations are read (written with the task, in the
    same create) and those tasks' bodies by batch read, both from the CRM's records themselves:
    one association call per 1,000 contacts and one read per 100 tasks."""
    from adapters.hubspot.pull import associations

    people = sorted({str(task.lead_id) for task in tasks})
    linked = associations(t, "contacts", "tasks", people)
    task_ids = sorted({str(link["toObjectId"]) for links in linked.values() for link in links})
    bodies: list[str] = []
    for i in range(0, len(task_ids), 100):
        body = {"properties": ["hs_task_body"], "inputs": [{"id": x} for x in task_ids[i:i + 100]]}
        data, _ = t.request(f"read {len(task_ids[i:i + 100])} tasks", "POST",
                            "/crm/objects/{version}/{objectType}/batch/read", path_params={"objectType": "tasks"},
                            body=body)
        bodies.extend(str((r.get("properties") or {}).get("hs_task_body") or "") for r in data.get("results") or [])
    return {task.idempotency_key for task in tasks if any(task_marker(task.idempotency_key) in b for b in bodies)}


def enroll(t: Transport, lead_ids: Sequence[str], sequence_id: str, sender: dict[str, Any]) -> list[WriteResult]:
    """Enroll contacts in a sequence as ``sender`` (an owner: ``userId`` and ``email``). Already being
    enrolled in this same sequence counts as success (re-runs are safe)."""
    out = []
    for lead in lead_ids:
        body = {"contactId": str(lead), "sequenceId": str(sequence_id), "senderEmail": sender["email"]}
        try:
            t.request("enroll in a sequence", "POST", "/automation/sequences/{version}/enrollments",
                      query={"userId": sender["userId"]}, body=body, idempotent=False)
            out.append(WriteResult(str(lead), True))
        except RequestRejected as exc:
            same = exc.status == 409 and f"sequence {sequence_id}" in str(exc)
            out.append(WriteResult(str(lead), same, None if same else str(exc), retriable=False))
        except RetriableAPIError as exc:
            out.append(WriteResult(str(lead), False, str(exc), retriable=exc.status == 429))
    return out
