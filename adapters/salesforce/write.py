"""Writing back: sObject Collections for normal volumes, Bulk API 2.0 ingest for large ones.

Collections (``PATCH /composite/sobjects``, ≤ 200 records, ``allOrNone: false``) answer one
SaveResult per record, in order: ⌈W/200⌉ calls for W records of any mix of Leads, Contacts and
Accounts. ``Sforce-Auto-Assign: FALSE`` rides on every call so Lead assignment rules never
override an ``OwnerId`` we set. Above ``bulk_threshold`` records, one Bulk 2.0 update job per
object (create, upload, close, poll, three result files) replaces the collections.

A record the org refuses (``CANNOT_UPDATE_CONVERTED_LEAD``, ``ENTITY_IS_DELETED``, a validation
rule) is a :class:`WriteResult` with ``ok=False``, never an exception. A field the org does not
have (``INVALID_FIELD``) is a configuration problem: :class:`UnknownField` stops the run, carrying
the results of the records already written (``partial_results``) so the sync can acknowledge them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any

from adapters.base import WriteResult
from adapters.errors import AdapterError, FatalAPIError
from adapters.retry import RequestRejected

from .pull import Reader
from .transport import Transport

__all__ = ["RETRIABLE_CODES", "UnknownField", "bulk_update", "collection_save", "sobject_of"]

#: Per-record status codes worth trying again later (locks and transient platform trouble).
RETRIABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG",
                             "QUERY_TIMEOUT", "UNKNOWN_EXCEPTION"})
#: Per-record codes that mean the mapping or the field-level security is wrong, not the record.
_CONFIG_CODES = frozenset({"INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE"})
_PREFIXES = {"00Q": "Lead", "003": "Contact", "001": "Account", "00T": "Task", "00v": "CampaignMember"}


class UnknownField(FatalAPIError):
    """The org has no such field (or the API user cannot see it); the message names it."""


def sobject_of(record_id: str) -> str | None:
    """The sObject type of an id by its key prefix (the objects leadscore writes)."""
    return _PREFIXES.get(record_id[:3])


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _result(record_id: str, saved: Mapping[str, Any]) -> WriteResult:
    if saved.get("success"):
        return WriteResult(record_id, True)
    errors = saved.get("errors") or [{}]
    codes = {str(e.get("statusCode")) for e in errors}
    text = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors)
    return WriteResult(record_id, False, text, retriable=bool(codes & RETRIABLE_CODES))


def collection_save(t: Transport, method: str, records: Sequence[dict[str, Any]], keys: Sequence[str],
                    what: str, idempotent: bool = True) -> list[WriteResult]:
    """POST/PATCH ``composite/sobjects`` in chunks of 200; one result per record, in order.

    ``records`` carry ``attributes.type`` (and ``id`` for updates); ``keys`` name each record in
    the results (the record id, or the lead id a new Task belongs to).
    """
    out: list[WriteResult] = []
    for start in range(0, len(records), 200):
        chunk = [{k: _json(v) for k, v in r.items()} for r in records[start:start + 200]]
        body = {"allOrNone": False, "records": chunk}
        try:
            saved = t.call(what, t.sf.restful, "composite/sobjects", method=method, json=body,
                           headers={"Sforce-Auto-Assign": "FALSE"}, idempotent=idempotent)
        except RequestRejected as exc:  # the whole call was refused (bad JSON, too many records)
            out.extend(WriteResult(k, False, str(exc)) for k in keys[start:start + 200])
            continue
        except AdapterError as exc:
            exc.partial_results = out  # type: ignore[attr-defined]
            raise
        results = [_result(k, s) for k, s in zip(keys[start:start + 200], saved or [], strict=False)]
        results += [WriteResult(k, False, "no SaveResult returned", True) for k in keys[start + len(results):
                                                                                        start + len(chunk)]]
        out.extend(results)
        unknown = sorted({r.error for r in results if not r.ok and r.error and r.error.split(":")[0] in _CONFIG_CODES})
        if unknown:
            err = UnknownField(f"{what}: the org refused a field: {unknown[0]} — run `leadscore install --crm "
                               f"salesforce` (it creates the fields and grants access), or fix the mapping")
            err.partial_results = out  # type: ignore[attr-defined]
            raise err
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "#N/A"  # Bulk 2.0: an empty cell leaves a field alone, #N/A clears it
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(_json(value))


def bulk_update(t: Transport, reader: Reader, sobject: str, rows: Sequence[tuple[str, Mapping[str, Any]]]
                ) -> list[WriteResult]:
    """Update ``(id, values)`` rows of one object by a Bulk 2.0 ingest job; one result per row."""
    columns = sorted({k for _, values in rows for k in values})
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    out.writerow(["Id", *columns])
    for rid, values in rows:
        out.writerow([rid, *(_cell(values[c]) if c in values else "" for c in columns)])
    t.ensure_fresh()  # raw Bulk 2.0 / Tooling calls: start with a fresh session
    what = f"bulk update {sobject}"
    job = t.http(f"{what}: create job", "POST", "jobs/ingest",
                 json={"object": sobject, "operation": "update", "contentType": "CSV", "lineEnding": "LF"}).json()
    jid = str(job["id"])
    reader.jobs.append(jid)
    t.http(f"{what}: upload", "PUT", f"jobs/ingest/{jid}/batches", data=text.getvalue().encode("utf-8"),
           headers={"Content-Type": "text/csv"})
    t.http(f"{what}: close job", "PATCH", f"jobs/ingest/{jid}", json={"state": "UploadComplete"})
    info = reader.wait(f"jobs/ingest/{jid}", what)
    results: dict[str, WriteResult] = {}
    for kind in ("successfulResults", "failedResults", "unprocessedrecords"):
        resp = t.http(f"{what}: {kind}", "GET", f"jobs/ingest/{jid}/{kind}", headers={"Accept": "text/csv"})
        for r in csv.DictReader(io.StringIO(resp.content.decode("utf-8"), newline="")):
            rid = r.get("sf__Id") or r.get("Id") or ""
            if kind == "successfulResults":
                results[rid[:15]] = WriteResult(rid, True)
            elif kind == "failedResults":
                error = (r.get("sf__Error") or "failed").rstrip(" -")
                results[rid[:15]] = WriteResult(rid, False, error, retriable=error.split(":")[0] in RETRIABLE_CODES)
            else:
                results[rid[:15]] = WriteResult(rid, False, f"unprocessed: job {info.get('state')} "
                                                f"{info.get('errorMessage') or ''}".strip(), retriable=True)
    if info.get("state") == "Failed" and "Field name not found" in str(info.get("errorMessage")):
        raise UnknownField(f"{what}: {info.get('errorMessage')} — run `leadscore install --crm salesforce`")
    return [WriteResult(rid, results[rid[:15]].ok, results[rid[:15]].error, results[rid[:15]].retriable)
            if rid[:15] in results else WriteResult(rid, False, "missing from the job's results", True)
            for rid, _ in rows]
