"""Bulk API 2.0: ingest jobs (CSV upload → UploadComplete → results) and query jobs (CSV pages).

Shapes follow the Bulk API 2.0 Developer Guide as simple-salesforce's ``bulk2`` module reads
them: job info JSON with ``id``/``state``/``numberRecordsProcessed``/``numberRecordsFailed``;
``PUT .../batches`` answers 201; ``successfulResults`` (``sf__Id``, ``sf__Created``),
``failedResults`` (``sf__Id``, ``sf__Error``) and ``unprocessedrecords`` as CSV; query
results as CSV pages with ``Sforce-Locator`` (``null`` on the last page) and
``Sforce-NumberOfRecords``. A job is processed synchronously when its upload completes (ingest)
or when it is created (query, against a snapshot of matching ids), so the first poll sees
``JobComplete``. An unknown column fails the whole ingest job, as Salesforce does
(``InvalidBatch : Field name not found``); an empty cell leaves a field unchanged and
``#N/A`` clears it.
"""

from __future__ import annotations

import base64
import csv
import io
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response

from .errors import ApiError, SaveError, not_found
from .ids import type_of_id
from .query import Plan, plan_query, render_csv, select_ids
from .render import format_datetime

if TYPE_CHECKING:
    from .app import SalesforceApp

__all__ = ["register_bulk"]

_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
               "BACKQUOTE": "`"}
_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_INGEST_OPS = ("insert", "update", "upsert", "delete", "hardDelete")


@dataclass(slots=True)
class _Job:
    info: dict[str, Any]
    data: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    plan: Plan | None = None
    ids: list[str] = field(default_factory=list)

    @property
    def delimiter(self) -> str:
        return _DELIMITERS[self.info["columnDelimiter"]]

    @property
    def line_ending(self) -> str:
        return _ENDINGS[self.info["lineEnding"]]


class _Bulk:
    def __init__(self, app: SalesforceApp) -> None:
        self.app = app
        self.org = app.org
        self.jobs: dict[str, _Job] = {}
        self.lock = threading.Lock()

    # -- shared
    def _new_info(self, body: dict[str, Any], version: str, kind: str) -> dict[str, Any]:
        now = format_datetime(self.org.now_ms())
        delimiter = str(body.get("columnDelimiter") or "COMMA")
        ending = str(body.get("lineEnding") or "LF")
        if delimiter not in _DELIMITERS or ending not in _ENDINGS:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : columnDelimiter {delimiter!r} or "
                           f"lineEnding {ending!r} is not supported")
        job_id = self.org.ids.new("Job")
        return {"id": job_id, "operation": body.get("operation"), "object": body.get("object"),
                "createdById": self.org.api_user_id, "createdDate": now, "systemModstamp": now,
                "state": "Open", "concurrencyMode": "Parallel", "contentType": "CSV",
                "apiVersion": float(version), "lineEnding": ending,
                "columnDelimiter": delimiter, "jobType": "V2Query" if kind == "query"
                else "V2Ingest", "numberRecordsProcessed": 0, "numberRecordsFailed": 0,
                "retries": 0, "totalProcessingTime": 0}

    def _job(self, job_id: str, kind: str) -> _Job:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None or job.info["jobType"] != ("V2Query" if kind == "query" else "V2Ingest"):
            raise not_found()
        return job

    def _csv(self, job: _Job, header: list[str], rows: list[list[str]],
             quote_all: bool = False) -> str:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=job.delimiter, lineterminator=job.line_ending,
                            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue()

    # -- ingest
    def create_ingest(self, request: Request, version: str) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        sobject = self.org.object(str(body.get("object") or ""))
        if sobject is None:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
        if body.get("operation") not in _INGEST_OPS:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: "
                           f"{body.get('operation')}")
        info = self._new_info(body, version, "ingest")
        info["object"] = sobject.name
        info["contentUrl"] = f"services/data/v{version}/jobs/ingest/{info['id']}/batches"
        with self.lock:
            self.jobs[info["id"]] = _Job(info)
        return json_response(info)

    def upload(self, request: Request, version: str, job_id: str) -> Response:
        job = self._job(job_id, "ingest")
        if job.info["state"] != "Open":
            raise ApiError(409, "INVALIDJOBSTATE", f"Job {job_id} is not open for uploads "
                           f"(state {job.info['state']})")
        job.data.append(request.get_data(as_text=True))
        return Response(status=201)

    def ingest_info(self, request: Request, version: str, job_id: str) -> Response:
        return json_response(self._job(job_id, "ingest").info)

    def ingest_state(self, request: Request, version: str, job_id: str) -> Response:
        job = self._job(job_id, "ingest")
        state = (request.get_json(force=True, silent=True) or {}).get("state")
        if state == "Aborted":
            job.info["state"] = "Aborted"
            job.header, job.unprocessed = self._parse(job)
            return json_response(job.info)
        if state != "UploadComplete" or job.info["state"] != "Open":
            raise ApiError(400, "INVALIDJOBSTATE", f"InvalidJobState : cannot change state "
                           f"from {job.info['state']} to {state}")
        job.info["state"] = "UploadComplete"
        response = json_response(dict(job.info))
        self._process(job)
        return response

    def _parse(self, job: _Job) -> tuple[list[str], list[list[str]]]:
        header: list[str] = []
        rows: list[list[str]] = []
        for chunk in job.data:
            reader = csv.reader(io.StringIO(chunk, newline=""), delimiter=job.delimiter)
            part = list(reader)
            if not part:
                continue
            header = header or part[0]
            rows.extend(r for r in part[1:] if r)
        return header, rows

    def _process(self, job: _Job) -> None:
        header, rows = self._parse(job)
        job.header = header
        sobject = job.info["object"]
        obj = self.org.schema[sobject]
        unknown = [h for h in header if obj.find(h) is None]
        if unknown:
            job.info.update(state="Failed", errorMessage=f"InvalidBatch : Field name not found "
                            f": {unknown[0]}")
            job.unprocessed = rows
            return
        operation = job.info["operation"]
        for row in rows:
            values = dict(zip(header, row, strict=False))
            record_id = next((v for k, v in values.items() if k.lower() == "id"), "")
            fields = {k: (None if v == "#N/A" else v) for k, v in values.items()
                      if k.lower() != "id" and v != ""}
            try:
                created = operation == "insert" or (operation == "upsert" and not record_id)
                if created:
                    record_id = self.org.insert(sobject, fields)
                elif type_of_id(record_id) != sobject:
                    raise SaveError("MALFORMED_ID", f"bad id {record_id}", ["Id"])
                elif operation in ("delete", "hardDelete"):
                    self.org.delete(sobject, record_id)
                else:
                    self.org.update(sobject, record_id, fields)
                job.successful.append([record_id, "true" if created else "false", *row])
            except SaveError as exc:
                message = f"{exc.status_code}:{exc.message}:{','.join(exc.fields)} --"
                job.failed.append([record_id, message, *row])
        job.info.update(state="JobComplete", numberRecordsProcessed=len(rows),
                        numberRecordsFailed=len(job.failed),
                        systemModstamp=format_datetime(self.org.now_ms()))

    def ingest_results(self, request: Request, version: str, job_id: str,
                       kind: str) -> Response:
        job = self._job(job_id, "ingest")
        if kind == "successfulResults":
            text = self._csv(job, ["sf__Id", "sf__Created", *job.header], job.successful)
        elif kind == "failedResults":
            text = self._csv(job, ["sf__Id", "sf__Error", *job.header], job.failed)
        else:
            text = self._csv(job, job.header, job.unprocessed) if job.header else ""
        return Response(text, content_type="text/csv")

    def delete_job(self, request: Request, version: str, job_id: str) -> Response:
        with self.lock:
            if self.jobs.pop(job_id, None) is None:
                raise not_found()
        return Response(status=204)

    # -- query
    def create_query(self, request: Request, version: str) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        plan = plan_query(self.org, str(body.get("query") or ""),
                          include_deleted=operation == "queryAll")
        if plan.count is not None:
            raise ApiError(400, "API_ERROR", "Aggregate queries are not supported by Bulk API "
                           "2.0 query jobs")
        info = self._new_info(body, version, "query")
        info.update(object=plan.sobject, query=body.get("query"), state="UploadComplete")
        job = _Job(dict(info), plan=plan, ids=select_ids(self.org, plan))
        job.info.update(state="JobComplete", numberRecordsProcessed=len(job.ids))
        with self.lock:
            self.jobs[info["id"]] = job
        return json_response(info)

    def query_info(self, request: Request, version: str, job_id: str) -> Response:
        return json_response(self._job(job_id, "query").info)

    def query_abort(self, request: Request, version: str, job_id: str) -> Response:
        job = self._job(job_id, "query")
        if job.info["state"] == "JobComplete":
            raise ApiError(400, "INVALIDJOBSTATE", "InvalidJobState : the job is complete")
        job.info["state"] = "Aborted"
        return json_response(job.info)

    def query_results(self, request: Request, version: str, job_id: str) -> Response:
        job = self._job(job_id, "query")
        assert job.plan is not None
        locator = request.args.get("locator") or ""
        try:
            start = int(base64.urlsafe_b64decode(locator + "==").decode()) if locator else 0
        except ValueError:
            raise ApiError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None
        max_records = request.args.get("maxRecords", type=int) or len(job.ids) or 1
        end = min(start + max_records, len(job.ids))
        rows = render_csv(self.org, job.plan, job.ids[start:end])
        text = self._csv(job, [c.name for c in job.plan.columns], rows, quote_all=True)
        following = base64.urlsafe_b64encode(str(end).encode()).decode().rstrip("=") \
            if end < len(job.ids) else "null"
        return Response(text, content_type="text/csv", headers={
            "Sforce-Locator": following, "Sforce-NumberOfRecords": str(len(rows))})


def register_bulk(app: SalesforceApp) -> None:
    """Add the Bulk API 2.0 routes to a :class:`SalesforceApp`."""
    bulk = _Bulk(app)
    base = "/services/data/v<version>/jobs"
    r = app.router.add
    r("POST", f"{base}/ingest", bulk.create_ingest)
    r("GET", f"{base}/ingest/<job_id>", bulk.ingest_info)
    r("PATCH", f"{base}/ingest/<job_id>", bulk.ingest_state)
    r("DELETE", f"{base}/ingest/<job_id>", bulk.delete_job)
    r("PUT", f"{base}/ingest/<job_id>/batches", bulk.upload)
    for kind in ("successfulResults", "failedResults", "unprocessedrecords"):
        r("GET", f"{base}/ingest/<job_id>/{kind}",
          lambda request, version, job_id, kind=kind: bulk.ingest_results(
              request, version, job_id, kind))
    r("POST", f"{base}/query", bulk.create_query)
    r("GET", f"{base}/query/<job_id>", bulk.query_info)
    r("PATCH", f"{base}/query/<job_id>", bulk.query_abort)
    r("DELETE", f"{base}/query/<job_id>", bulk.delete_job)
    r("GET", f"{base}/query/<job_id>/results", bulk.query_results)
