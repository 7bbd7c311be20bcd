"""The Salesforce sandbox WSGI app: routing, auth, API limits, and the REST resources.

Every request goes through :meth:`SalesforceApp.__call__`: route → (unless it is a login)
session check → daily API quota → handler. Handlers raise :class:`ApiError` / return JSON;
the ``Sforce-Limit-Info: api-usage=USED/MAX`` header goes on every API response, and once the
daily quota is spent every API call gets 403 ``REQUEST_LIMIT_EXCEEDED``.

REST resources here: versions, describe (global and per object), sObject rows (GET, POST,
PATCH, DELETE), ``updated``/``deleted``, SOQL ``query``/``queryAll`` with ``nextRecordsUrl``
paging, ``composite/sobjects`` and ``limits``. Bulk API 2.0 lives in :mod:`.bulk`, the Tooling
API's ``CustomField`` in :mod:`.tooling`.
"""

from __future__ import annotations

import collections
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from sandbox.http import ENDPOINT_KEY, DailyQuota, Router, json_response

from .auth import ClientApp, Credentials, Sessions, oauth_token, soap_login
from .errors import ApiError, SaveError, not_found
from .ids import is_id, to_18, type_of_id
from .query import Plan, plan_query, render_json, select_ids
from .render import format_datetime
from .store import Org, parse_datetime

__all__ = ["Limits", "SalesforceApp"]

DATA = "/services/data/v<version>"
#: The newest API version the org offers (Winter '27).
CURRENT_VERSION = 68
_RELEASES = {64: "Summer '25", 65: "Winter '26", 66: "Spring '26", 67: "Summer '26", 68: "Winter '27"}
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)")
_DAY_MS = 86_400_000


@dataclass(slots=True)
class Limits:
    """The org's limits that the sandbox enforces or reports."""

    daily_api_requests: int = 100_000
    composite_records: int = 200
    query_batch_default: int = 2000
    query_batch_min: int = 200
    updated_days: int = 30
    deleted_days: int = 15
    updated_max_ids: int = 600_000
    open_cursors: int = 200
    #: a query matching more rows than this runs past the 120 s limit: 400 QUERY_TIMEOUT (None: never)
    query_timeout_rows: int | None = None
    #: concurrent long-running (20 s+) requests allowed per org (Developer Limits, "API Request Limits")
    concurrent_long_requests: int = 25


@dataclass(slots=True)
class _Cursor:
    plan: Plan
    ids: list[str]
    batch: int
    endpoint: str
    total: int = 0


@dataclass
class SalesforceApp:
    """A WSGI app serving one org. Build it with :func:`sandbox.salesforce.create_server`."""

    org: Org
    creds: Credentials
    sessions: Sessions
    limits: Limits = field(default_factory=Limits)
    router: Router = field(default_factory=Router)
    client_app: ClientApp | None = None
    soap_login_enabled: bool = True
    login_hosts: tuple[str, ...] = ()  # the My Domain login host(s), a valid JWT ``aud``

    def __post_init__(self) -> None:
        #: ``Sforce-Call-Options`` value → requests that carried it (None: no header), as the
        #: event log files' CLIENT column shows them (REST API Developer Guide, "Call Options Header")
        self.call_options: collections.Counter[str | None] = collections.Counter()
        #: long-running requests of other integrations in flight, per coming API request: while
        #: the org is at its limit, requests are refused (see :meth:`hold_long_requests`)
        self._elsewhere: list[int] = []
        self.quota = DailyQuota(self.limits.daily_api_requests)
        self._cursors: collections.OrderedDict[str, _Cursor] = collections.OrderedDict()
        self._cursor_lock = threading.Lock()
        self._cursor_seq = 0
        self.public: set[str] = set()
        r = self.route
        r("POST", "/services/Soap/u/<version>", self.login_soap, public=True)
        r("POST", "/services/oauth2/token", self.login_oauth, public=True)
        r("GET", "/services/data", self.versions, public=True)
        r("GET", f"{DATA}/", self.resources)
        r("GET", f"{DATA}/limits", self.get_limits)
        r("GET", f"{DATA}/sobjects", self.describe_global)
        r("GET", f"{DATA}/sobjects/<sobject>", self.sobject_info)
        r("POST", f"{DATA}/sobjects/<sobject>", self.create)
        r("GET", f"{DATA}/sobjects/<sobject>/describe", self.describe)
        r("GET", f"{DATA}/sobjects/<sobject>/updated", self.updated)
        r("GET", f"{DATA}/sobjects/<sobject>/deleted", self.deleted)
        r("GET", f"{DATA}/sobjects/<sobject>/<record_id>", self.get_record)
        r("PATCH", f"{DATA}/sobjects/<sobject>/<record_id>", self.update_record)
        r("DELETE", f"{DATA}/sobjects/<sobject>/<record_id>", self.delete_record)
        for kind in ("query", "queryAll"):
            r("GET", f"{DATA}/{kind}", self.query)
            r("GET", f"{DATA}/{kind}/<locator>", self.query_more)
        for method in ("POST", "PATCH", "DELETE"):
            r(method, f"{DATA}/composite/sobjects", self.composite)

    def route(self, method: str, template: str, handler: Callable[..., Response],
              public: bool = False) -> None:
        """Serve ``handler``; ``public`` routes skip the session check and the API quota."""
        self.router.add(method, template, handler)
        if public:
            self.public.add(f"{method} {_braces(template)}")

    # -- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        request = Request(environ)
        self.call_options[request.headers.get("Sforce-Call-Options")] += 1
        counted = False
        try:
            try:
                name, handler, args = self.router.match(environ)
            except NotFound:
                raise not_found() from None
            except MethodNotAllowed as exc:
                allowed = ",".join(sorted(exc.valid_methods or []))
                raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not "
                               f"allowed. Allowed are {allowed}") from None
            environ[ENDPOINT_KEY] = name
            if name not in self.public and not _supported(str(args.get("version", f"{CURRENT_VERSION}.0"))):
                raise not_found()  # REST API Developer Guide, "Versions": an unknown version is a 404
            if name not in self.public:
                self.sessions.check(request)
                if self._elsewhere and self._elsewhere.pop(0) >= self.limits.concurrent_long_requests:
                    # Developer Limits, "API Request Limits and Allocations": the concurrent
                    # long-running request limit answers 403 REQUEST_LIMIT_EXCEEDED naming it
                    raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
                if not self.quota.take():
                    raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
                counted = True
            response = handler(request, **args)
        except ApiError as exc:
            response = json_response(exc.body(), exc.status, exc.headers)
            counted = counted or exc.error_code == "REQUEST_LIMIT_EXCEEDED"
        if counted:
            response.headers["Sforce-Limit-Info"] = \
                f"api-usage={self.quota.used}/{self.quota.total}"
        return response(environ, start_response)

    def hold_long_requests(self, in_flight: Iterable[int]) -> None:
        """Other integrations' long-running requests in flight as each of the next API requests
        arrives (one number per request): at the org's limit, a request is refused."""
        self._elsewhere.extend(in_flight)

    def instance_url(self, request: Request) -> str:
        return f"https://{request.host}"

    # -- login -----------------------------------------------------------------------------
    def login_soap(self, request: Request, version: str) -> Response:
        return soap_login(request, self.creds, self.sessions, self.instance_url(request),
                          version, self.soap_login_enabled)

    def login_oauth(self, request: Request) -> Response:
        status, body = oauth_token(request, self.creds, self.sessions,
                                   self.instance_url(request), self.org.now_ms(), self.client_app,
                                   self.login_hosts)
        return json_response(body, status)

    # -- metadata --------------------------------------------------------------------------
    def versions(self, request: Request) -> Response:
        # REST API Developer Guide, "Versions": every supported version, oldest first; 21.0-30.0
        # were retired in Summer '25, so 31.0 is the oldest; 68.0 is Winter '27.
        return json_response([{"label": _RELEASES.get(v, f"v{v}"), "url": f"/services/data/v{v}.0",
                               "version": f"{v}.0"} for v in range(31, CURRENT_VERSION + 1)])

    def resources(self, request: Request, version: str) -> Response:
        base = f"/services/data/v{version}"
        return json_response({k: f"{base}/{k}" for k in
                              ("sobjects", "query", "queryAll", "limits", "composite", "jobs",
                               "tooling")})

    def get_limits(self, request: Request, version: str) -> Response:
        used, total = self.quota.used, self.quota.total
        return json_response({
            "DailyApiRequests": {"Max": total, "Remaining": max(0, total - used)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DataStorageMB": {"Max": 1024, "Remaining": 1024},
        })

    def _object(self, sobject: str) -> str:
        obj = self.org.object(sobject)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj.name

    def describe_global(self, request: Request, version: str) -> Response:
        base = f"/services/data/v{version}"
        return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
            obj.describe_global(base) for obj in self.org.schema.values()]})

    def sobject_info(self, request: Request, version: str, sobject: str) -> Response:
        obj = self.org.schema[self._object(sobject)]
        return json_response({"objectDescribe": obj.describe_global(f"/services/data/v{version}"),
                              "recentItems": []})

    def describe(self, request: Request, version: str, sobject: str) -> Response:
        obj = self.org.schema[self._object(sobject)]
        with self.org.lock:
            return json_response(obj.describe(f"/services/data/v{version}"))

    # -- records ---------------------------------------------------------------------------
    def get_record(self, request: Request, version: str, sobject: str,
                   record_id: str) -> Response:
        name = self._object(sobject)
        obj = self.org.schema[name]
        wanted = request.args.get("fields")
        if wanted:
            columns = [obj.find(f.strip()) for f in wanted.split(",")]
            missing = [f for f, c in zip(wanted.split(","), columns, strict=True) if c is None]
            if missing:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{missing[0].strip()}' on "
                               f"sobject of type {name}")
        if not is_id(record_id):
            raise not_found()
        fields = wanted or ", ".join(obj.fields)
        text = f"SELECT {fields} FROM {name} WHERE Id = '{to_18(record_id)}'"
        plan = plan_query(self.org, text, include_deleted=False)
        records = render_json(self.org, plan, select_ids(self.org, plan), version)
        if not records:
            raise not_found()
        return json_response(records[0])

    def create(self, request: Request, version: str, sobject: str) -> Response:
        name = self._object(sobject)
        body = _json_object(request)
        try:
            rid = self.org.insert(name, body)
        except SaveError as exc:
            return json_response(exc.as_rest_error(), 400)
        return json_response({"id": rid, "success": True, "errors": []}, 201)

    def update_record(self, request: Request, version: str, sobject: str,
                      record_id: str) -> Response:
        name = self._object(sobject)
        if type_of_id(record_id) != name:
            raise not_found()
        try:
            self.org.update(name, record_id, _json_object(request))
        except SaveError as exc:
            status = 404 if exc.status_code == "ENTITY_IS_DELETED" else 400
            return json_response(exc.as_rest_error(), status)
        return Response(status=204)

    def delete_record(self, request: Request, version: str, sobject: str,
                      record_id: str) -> Response:
        name = self._object(sobject)
        if type_of_id(record_id) != name:
            raise not_found()
        try:
            self.org.delete(name, record_id)
        except SaveError as exc:
            return json_response(exc.as_rest_error(), 404)
        return Response(status=204)

    # -- replication -----------------------------------------------------------------------
    def _window(self, request: Request, days: int) -> tuple[int, int]:
        try:
            start = parse_datetime(request.args["start"])
            end = parse_datetime(request.args["end"])
        except (KeyError, ValueError):
            raise ApiError(400, "MALFORMED_QUERY", "start and end must be ISO-8601 date-times, "
                           "e.g. 2024-01-01T00:00:00+00:00") from None
        now = self.org.now_ms()
        if start < now - days * _DAY_MS:
            raise ApiError(400, "INVALID_REPLICATION_DATE",
                           f"startDate cannot be more than {days} days ago")
        # SOAP API Developer Guide, "getDeleted()" / "getUpdated()": seconds are ignored, and the
        # end must be more than one minute after the start
        start, end = start - start % 60_000, end - end % 60_000
        if end - start <= 60_000:
            raise ApiError(400, "INVALID_REPLICATION_DATE",
                           "endDate must chronologically follow startDate by more than one minute")
        return start, min(end, now)

    def updated(self, request: Request, version: str, sobject: str) -> Response:
        table = self.org.tables[self._object(sobject)]
        start, end = self._window(request, self.limits.updated_days)
        with self.org.lock:
            ids = []
            for rid, row in table.changed_since(start, inclusive=True):
                if table.value(row, "SystemModstamp") > end:
                    break
                if not table.value(row, "IsDeleted"):
                    ids.append(rid)
        if len(ids) > self.limits.updated_max_ids:
            raise ApiError(400, "EXCEEDED_ID_LIMIT", "The getUpdated call exceeded the "
                           f"{self.limits.updated_max_ids} id limit: use a shorter time span")
        return json_response({"ids": ids, "latestDateCovered": format_datetime(end)})

    def deleted(self, request: Request, version: str, sobject: str) -> Response:
        table = self.org.tables[self._object(sobject)]
        start, end = self._window(request, self.limits.deleted_days)
        with self.org.lock:
            out = [{"id": rid, "deletedDate": format_datetime(at)}
                   for at, rid in table.deletions
                   if start <= at <= end and rid in table.rows
                   and table.value(table.rows[rid], "IsDeleted")]
            # earliestDateAvailable: the delete log is complete from here on (its last purge, else
            # the 15 days it keeps); latestDateCovered: the next call's start
            earliest = max(table.purged_ms or 0, self.org.now_ms() - self.limits.deleted_days * _DAY_MS)
        return json_response({"deletedRecords": out,
                              "earliestDateAvailable": format_datetime(earliest),
                              "latestDateCovered": format_datetime(end)})

    # -- SOQL ------------------------------------------------------------------------------
    def _batch_size(self, request: Request) -> int:
        match = _BATCH_SIZE.search(request.headers.get("Sforce-Query-Options", ""))
        size = int(match.group(1)) if match else self.limits.query_batch_default
        return max(self.limits.query_batch_min, min(size, self.limits.query_batch_default))

    def query(self, request: Request, version: str) -> Response:
        text = request.args.get("q")
        if not text:
            raise ApiError(400, "MALFORMED_QUERY", "A query string (q) is required")
        endpoint = "queryAll" if request.path.rstrip("/").endswith("queryAll") else "query"
        plan = plan_query(self.org, text, include_deleted=endpoint == "queryAll")
        ids = select_ids(self.org, plan)
        if self.limits.query_timeout_rows is not None and len(ids) > self.limits.query_timeout_rows:
            # REST API Developer Guide, "Status Codes and Error Responses": a query that runs past
            # its time limit (a non-selective filter over many rows) is a 400 QUERY_TIMEOUT
            raise ApiError(400, "QUERY_TIMEOUT", "Your query request was running for too long.")
        if plan.count is not None:
            if plan.count.field is None:
                return json_response({"totalSize": len(ids), "done": True, "records": []})
            alias = plan.count.alias or "expr0"
            return json_response({"totalSize": 1, "done": True, "records": [
                {"attributes": {"type": "AggregateResult"}, alias: len(ids)}]})
        cursor = _Cursor(plan, ids, self._batch_size(request), endpoint, len(ids))
        return json_response(self._page(cursor, 0, version))

    def query_more(self, request: Request, version: str, locator: str) -> Response:
        key, _, offset = locator.rpartition("-")
        with self._cursor_lock:
            cursor = self._cursors.get(key)
            if cursor is not None:
                self._cursors.move_to_end(key)
        if cursor is None or not offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return json_response(self._page(cursor, int(offset), version, key))

    def _page(self, cursor: _Cursor, start: int, version: str,
              key: str | None = None) -> dict[str, Any]:
        end = min(start + cursor.batch, len(cursor.ids))
        records = render_json(self.org, cursor.plan, cursor.ids[start:end], version)
        body: dict[str, Any] = {"totalSize": cursor.total, "done": end >= len(cursor.ids)}
        if not body["done"]:
            key = key or self._remember(cursor)
            body["nextRecordsUrl"] = f"/services/data/v{version}/{cursor.endpoint}/{key}-{end}"
        elif key is not None:
            with self._cursor_lock:
                self._cursors.pop(key, None)
        body["records"] = records
        return body

    def _remember(self, cursor: _Cursor) -> str:
        with self._cursor_lock:
            self._cursor_seq += 1
            key = to_18(f"01g{self.org.org_id[3:5]}{self._cursor_seq:010d}")
            self._cursors[key] = cursor
            while len(self._cursors) > self.limits.open_cursors:
                self._cursors.popitem(last=False)
            return key

    # -- sObject Collections ---------------------------------------------------------------
    def composite(self, request: Request, version: str) -> Response:
        if request.method == "DELETE":
            ids = [i for i in request.args.get("ids", "").split(",") if i]
            all_or_none = request.args.get("allOrNone", "false").lower() == "true"
            items: list[dict[str, Any]] = [{"id": i} for i in ids]
        else:
            body = _json_object(request)
            items = body.get("records") or []
            all_or_none = bool(body.get("allOrNone", False))
            if not isinstance(items, list):
                raise ApiError(400, "JSON_PARSER_ERROR", "records must be a JSON array")
        if len(items) > self.limits.composite_records:
            raise ApiError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more "
                           f"than {self.limits.composite_records} records into this call")
        results: list[dict[str, Any]] = []
        with self.org.atomic() as rollback:
            for item in items:
                results.append(self._save_one(request.method, item))
            if all_or_none and not all(r["success"] for r in results):
                rollback()
                rolled = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                          "message": "Record rolled back because not all records were valid and "
                                     "the request was using AllOrNone header", "fields": []}
                for result in results:
                    if result["success"]:
                        result.update(success=False, errors=[rolled],
                                      id=None if request.method == "POST" else result["id"])
        return json_response(results)

    def _save_one(self, method: str, item: Any) -> dict[str, Any]:
        rid = item.get("id") or item.get("Id") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict):
                raise SaveError("JSON_PARSER_ERROR", "each record must be a JSON object")
            if method == "POST":
                sobject = (item.get("attributes") or {}).get("type")
                if not sobject or self.org.object(sobject) is None:
                    raise SaveError("INVALID_TYPE", f"sObject type '{sobject}' is not supported")
                values = {k: v for k, v in item.items() if k != "attributes"}
                rid = self.org.insert(self.org.object(sobject).name,  # type: ignore[union-attr]
                                      values)
                return {"id": rid, "success": True, "errors": []}
            if not rid:
                raise SaveError("MISSING_ARGUMENT", "Id not specified in an update call")
            sobject = type_of_id(str(rid))
            if sobject is None or sobject not in self.org.tables:
                raise SaveError("MALFORMED_ID", f"malformed id {rid}")
            if method == "PATCH":
                self.org.update(sobject, str(rid), {k: v for k, v in item.items()
                                                    if k not in ("attributes", "id", "Id")})
            else:
                self.org.delete(sobject, str(rid))
            return {"id": to_18(str(rid)), "success": True, "errors": []}
        except SaveError as exc:
            return {"id": to_18(str(rid)) if rid and method != "POST" else None,
                    "success": False, "errors": [exc.as_save_error()]}


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.get_json(force=True, silent=False)
    except Exception:  # werkzeug raises BadRequest subclasses for bad JSON
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body


def _supported(version: str) -> bool:
    try:
        number = float(version)
    except ValueError:
        return False
    return number.is_integer() and 31 <= number <= CURRENT_VERSION


def _braces(template: str) -> str:
    return re.sub(r"<(?:[^:>]*:)?([^>]+)>", r"{\1}", template)

