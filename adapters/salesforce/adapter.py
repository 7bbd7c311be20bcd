"""The Salesforce adapter: :class:`adapters.base.Adapter` over simple-salesforce.

Reads are incremental on ``SystemModstamp`` from the cursor minus a look-back, up to the run's
start (:mod:`.pull`); Leads and Contacts are both canonical leads, each with its own mark in one
JSON cursor. A converted lead is not yielded: its contact is the person now, and its engagement
rows (``WhoId`` still naming the lead) are credited to that contact, so the score follows it.
Deleted rows are not returned by ``query`` and so are never yielded. Writes go through
:mod:`.write`; every call goes through one :class:`~.transport.Transport`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from simple_salesforce import format_soql

from adapters.base import (
    FieldSpec,
    InstallPlan,
    Owner,
    Page,
    StreamStatus,
    TaskRequest,
    WriteRequest,
    WriteResult,
)
from adapters.cursors import advance, decode_map, encode, encode_map, last_page_done, ms_of, window
from adapters.errors import AdapterError
from adapters.retry import RetryPolicy
from scoring.errors import ConfigError, Problem

from . import install as installer
from .auth import Credentials
from .convert import as_bool, as_datetime, as_ms, to_account, to_event, to_lead, who_of
from .mapping import SalesforceMapping, load_salesforce_mapping
from .pull import Reader, ids_soql, incremental_soql
from .transport import ApiSession, Transport
from .write import bulk_update, collection_save, sobject_of

#: people per task lookup: 18-character ids, quoted and comma-separated, are about 21 bytes each
#: URL-encoded, so 300 of them keep a query URI near 7 KB (the limit is 16,384 bytes)
_FIND_TASK_IDS = 300

__all__ = ["SalesforceAdapter"]

_LEAD_EXTRA = ["IsConverted", "ConvertedContactId", "SystemModstamp"]


def _task_marker(key: str) -> str:
    """The line closing a task's description that names its idempotency key."""
    return f"[leadscore {key}]"


def _marks(cursor: str | None, objects: Iterable[str]) -> dict[str, int]:
    """Object → mark from a cursor; a plain time (a finished run's cursor) applies to every object,
    so a page cursor staged mid-run still carries the objects not read yet."""
    marks = decode_map(cursor)
    default = marks.pop("*", None)
    if default is not None:
        for obj in objects:
            marks.setdefault(obj, default)
    return marks


class SalesforceAdapter:
    name = "salesforce"
    batch_size = 200  # records per write() the sync should send: one sObject Collections call

    def __init__(self, transport: Transport, mapping: SalesforceMapping | None = None, *,
                 bulk_query_threshold: int = 10_000, bulk_write_threshold: int = 2_000, lookback_s: int = 300,
                 permission_set: str | None = "Leadscore", profile: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, bulk_poll_max_s: float = 600.0):
        self.t = transport
        self.mapping = mapping or load_salesforce_mapping()
        self.reader = Reader(transport, bulk_threshold=bulk_query_threshold, sleep=sleep, poll_max_s=bulk_poll_max_s)
        self.bulk_write_threshold = bulk_write_threshold
        self.lookback_ms = lookback_s * 1000
        self.permission_set = permission_set
        self.profile = profile
        self.converted: dict[str, str | None] = {}  # converted lead id → its contact (None: gone)
        self._live: set[str] = set()  # lead ids seen unconverted in this process
        self.mapping_source = "<built-in salesforce.yaml>"  # how problems name the mapping file
        self._checked = False  # the mapping was checked against the org in this process
        self._task_values: dict[str, str] | None = None
        self.removal_covered: datetime | None = None  # latestDateCovered of the last removed()
        self.reconcile_needed = False  # the delete log was purged past the last removed() start

    @classmethod
    def from_settings(cls, settings: Any, mapping: SalesforceMapping | None = None, policy: RetryPolicy | None = None,
                      session: Any = None) -> SalesforceAdapter:
        """Build from :class:`connector.settings.SalesforceSettings` (secrets stay inside);
        ``session`` is a ``requests.Session`` to adopt (trust store, proxies, a sandbox's loopback)."""

        def secret(v: Any) -> str | None:
            return v.get_secret_value() if v is not None else None

        creds = Credentials(
            username=settings.username, password=secret(settings.password),
            security_token=secret(settings.security_token), consumer_key=settings.consumer_key,
            consumer_secret=secret(settings.consumer_secret),
            private_key_file=str(settings.private_key_file) if settings.private_key_file else None,
            domain=settings.domain, session_id=secret(settings.session_id), instance_url=settings.instance_url)
        api = ApiSession.adopt(session, settings.timeout_s) if session is not None else ApiSession(settings.timeout_s)
        if settings.ca_bundle:
            api.ca_bundle = str(settings.ca_bundle)
        if settings.login_url:
            api.route_logins(settings.domain, settings.login_url)
        transport = Transport(creds, api, version=settings.api_version,
                              policy=policy or RetryPolicy(max_attempts=settings.max_attempts),
                              max_api_share=settings.max_api_share)
        if mapping is None:
            mapping = load_salesforce_mapping(settings.mapping)
        adapter = cls(transport, mapping, bulk_query_threshold=settings.bulk_query_threshold,
                   bulk_write_threshold=settings.bulk_write_threshold, lookback_s=settings.lookback_s,
                   permission_set=settings.permission_set, profile=settings.profile,
                   bulk_poll_max_s=settings.bulk_poll_max_s)
        if settings.mapping:
            adapter.mapping_source = str(settings.mapping)
        return adapter

    # -- install ---------------------------------------------------------------------------------

    def fields(self) -> list[FieldSpec]:
        """The custom fields the mapping says leadscore writes (what ``install`` creates)."""
        return installer.field_specs(self.mapping)

    def plan_install(self, fields: Sequence[FieldSpec]) -> installer.SalesforceInstallPlan:
        return installer.plan(self.t, fields, self.permission_set, self.profile)

    def install(self, plan: InstallPlan) -> installer.SalesforceInstallPlan:
        return installer.install(self.t, plan, self.permission_set, self.profile)

    def check_mapping(self) -> list[str]:
        """Mapped fields the org lacks, each with its key path (``leadscore check-mapping``)."""
        return installer.check_mapping(self.t, self.mapping)

    def preflight(self) -> None:
        """Check the mapping against the org (one describe per object) before anything is
        written: ``install`` calls it first and every sync before its first read. Raises one
        :class:`ConfigError` naming every field the org lacks with its mapping key (exit 2). The
        fields ``install`` creates are not asked for here."""
        problems = installer.mapping_problems(self.t, self.mapping, write_back=False)
        if problems:
            raise ConfigError([Problem(self.mapping_source, None, path, message, hint)
                               for path, message, hint in problems])
        self._checked = True

    def stream_status(self) -> list[StreamStatus]:
        """Which objects the mapping reads this user can query (:class:`adapters.base.StreamChecker`):
        one describeGlobal call. People and accounts are required; an engagement object that is
        missing (a marketing package not installed, no Read access) is skipped by name."""
        body = self.t.call("describe objects", self.t.sf.restful, "sobjects") or {}
        queryable = {str(o.get("name")) for o in body.get("sobjects") or [] if o.get("queryable")}
        out = []
        for name, obj, required in (("leads", "Lead", True), ("contacts", "Contact", True),
                                    ("accounts", "Account", True),
                                    *((f"events:{src.object}", src.object, False) for src in self.mapping.events)):
            ok = obj in queryable
            out.append(StreamStatus(name, ok, None if ok else f"the API user cannot query {obj}",
                                    None if ok else f"grant Read on {obj} to the permission set "
                                    f"'{self.permission_set or 'Leadscore'}' (or install the package that adds it)",
                                    required))
        return out

    def _preflight_once(self) -> None:
        if not self._checked:
            self.preflight()

    def person_fields(self, record_id: str) -> dict[str, str]:
        """Canonical field → field of this person's object: a Lead's (``Status`` for ``lead_status``)
        or a Contact's (no standard status; an admin may map a custom one under ``contacts``)."""
        section = self.mapping.leads if sobject_of(record_id) == "Lead" else self.mapping.contacts
        return dict(section.fields)

    # -- reads -----------------------------------------------------------------------------------

    def _stream(self, sobject: str, columns: list[str], marks: dict[str, int], until_ms: int,
                convert: Callable[[list[dict[str, Any]]], list[Any]], filters: dict[str, Any] | None = None
                ) -> Iterator[tuple[list[Any], str]]:
        """Pages of one object's changes; the cursor after each page is the JSON map of marks."""
        start = window(marks.get(sobject), until_ms, self.lookback_ms).start_ms
        for rows, ordered in self.reader.pages(sobject, columns, start, until_ms, filters):
            if ordered and rows:
                moved = advance(marks.get(sobject), as_ms(rows[-1]["SystemModstamp"]), until_ms)
                if moved is not None:
                    marks[sobject] = moved
            yield convert(rows), encode_map(marks)
        marks[sobject] = until_ms

    def pull_leads(self, cursor: str | None, until: datetime) -> Iterator[Page]:
        """Leads (unconverted) and Contacts changed since the cursor."""
        self._preflight_once()
        until_ms = ms_of(until)
        marks = _marks(cursor, ("Lead", "Contact"))
        m = self.mapping
        lead_cols = sorted(set(m.leads.columns()) | set(_LEAD_EXTRA), key=lambda c: (c != "Id", c))
        contact_cols = sorted(set(m.contacts.columns()) | {"SystemModstamp"}, key=lambda c: (c != "Id", c))

        def leads(rows: list[dict[str, Any]]) -> list[Any]:
            out = []
            for r in rows:
                if as_bool(r.get("IsConverted")):
                    self.converted[str(r["Id"])] = str(r["ConvertedContactId"] or "") or None
                    continue
                self._live.add(str(r["Id"]))
                out.append(to_lead(r, m.leads))
            return out

        def pages() -> Iterator[tuple[list[Any], str]]:
            yield from self._stream("Lead", lead_cols, marks, until_ms, leads)
            yield from self._stream("Contact", contact_cols, marks, until_ms,
                                    lambda rows: [to_lead(r, m.contacts) for r in rows])

        return last_page_done(pages(), encode(until_ms), skip_empty=True)

    def pull_accounts(self, cursor: str | None, until: datetime) -> Iterator[Page]:
        self._preflight_once()
        until_ms = ms_of(until)
        marks = _marks(cursor, ("Account",))
        cols = sorted(set(self.mapping.accounts.columns()) | {"SystemModstamp"}, key=lambda c: (c != "Id", c))
        stream = self._stream("Account", cols, marks, until_ms,
                              lambda rows: [to_account(r, self.mapping.accounts) for r in rows])
        return last_page_done(stream, encode(until_ms), skip_empty=True)

    def pull_events(self, cursor: str | None, until: datetime) -> Iterator[Page]:
        """Engagement from every source the mapping names; the cursor maps object → mark."""
        self._preflight_once()
        until_ms = ms_of(until)
        marks = _marks(cursor, [s.object for s in self.mapping.events])

        def pages() -> Iterator[tuple[list[Any], str]]:
            for source in self.mapping.events:
                def convert(rows: list[dict[str, Any]], source: Any = source) -> list[Any]:
                    people = {r["Id"]: who_of(r, source) for r in rows}
                    self._learn_conversions([w for w in people.values() if w and w.startswith("00Q")])
                    events = []
                    for r in rows:
                        who = people[r["Id"]]
                        person = self.converted.get(who, who) if who else None
                        if person:  # None: a converted lead whose contact is gone
                            event = to_event(r, source, person)
                            if event is not None:
                                events.append(event)
                    return events

                yield from self._stream(source.object, source.columns(), marks, until_ms, convert,
                                        dict(source.filters))

        final = encode_map({s.object: until_ms for s in self.mapping.events})
        return last_page_done(pages(), final, skip_empty=True)

    def _learn_conversions(self, lead_ids: Sequence[str]) -> None:
        """Which of these leads were converted (and to which contact), for those not seen yet."""
        unknown = sorted({i for i in lead_ids if i not in self._live and i not in self.converted})
        for start in range(0, len(unknown), 300):  # 300 ids keep the query URI well under 16 KB
            soql = ids_soql("Lead", ["Id", "ConvertedContactId"], unknown[start:start + 300], {"IsConverted": True})
            for body in self.t.query_pages(soql):
                for r in body.get("records") or []:
                    self.converted[str(r["Id"])] = str(r.get("ConvertedContactId") or "") or None
            self._live.update(i for i in unknown[start:start + 300] if i not in self.converted)

    def removed(self, since: datetime, until: datetime) -> dict[str, str | None]:
        """People who stopped being people to score in ``[since, until]``: id → the id their score
        moves to (a converted lead's contact, a merged record's master), or None (deleted; or
        converted with no contact).

        ``/deleted`` per object, by the getDeleted rules (SOAP API Developer Guide, "getDeleted()"):
        seconds are ignored and the end must be more than a minute after the start, so a window
        is widened to two whole minutes (a deletion seen twice is harmless to the connector); the
        log keeps 15 days, so an older start is moved up to that; the next start is the answer's
        ``latestDateCovered`` (:attr:`removal_covered`, which the sync keeps as its cursor). When
        ``earliestDateAvailable`` is past the start, the org purged deletions we never saw:
        :attr:`reconcile_needed` asks the sync for the stored ids to check with :meth:`reconcile`.
        Conversions come from a query.
        """
        start, end = since.astimezone(timezone.utc), until.astimezone(timezone.utc)
        if end.second or end.microsecond:
            end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
        start = start.replace(second=0, microsecond=0)
        start = min(max(start, end - timedelta(days=15) + timedelta(minutes=2)), end - timedelta(minutes=2))
        gone: dict[str, str | None] = {}
        covered: list[datetime] = []
        self.reconcile_needed = False
        for sobject in ("Lead", "Contact"):
            body = self.t.call(f"deleted {sobject}s", self.t.sf.restful, f"sobjects/{sobject}/deleted/",
                               params={"start": start.isoformat(timespec="seconds"),
                                       "end": end.isoformat(timespec="seconds")}) or {}
            earliest = as_datetime(body.get("earliestDateAvailable"))
            if earliest is not None and earliest > start:
                self.reconcile_needed = True  # the log was purged past our start
            latest = as_datetime(body.get("latestDateCovered"))
            covered.append(latest if latest is not None else end)
            deleted = [str(d["id"]) for d in body.get("deletedRecords") or []]
            gone.update(dict.fromkeys(deleted))
            gone.update(self._masters(sobject, deleted))
        self.removal_covered = min(covered)
        soql = incremental_soql("Lead", ["Id", "ConvertedContactId"], ms_of(start), ms_of(end), {"IsConverted": True})
        for body in self.t.query_pages(soql):
            for r in body.get("records") or []:
                gone[str(r["Id"])] = self.converted[str(r["Id"])] = str(r.get("ConvertedContactId") or "") or None
        return gone

    def _masters(self, sobject: str, ids: Sequence[str]) -> dict[str, str]:
        """Of these deleted ids, those merged away → their master record (``queryAll``)."""
        out: dict[str, str] = {}
        for i in range(0, len(ids), 300):  # 300 ids keep the query URI well under 16 KB
            soql = ids_soql(sobject, ["Id", "MasterRecordId"], ids[i:i + 300])
            for page in self.t.query_pages(soql + " AND MasterRecordId != null", include_deleted=True):
                out.update({str(r["Id"]): str(r["MasterRecordId"]) for r in page.get("records") or []})
        return out

    def reconcile(self, ids: Sequence[str]) -> dict[str, str | None]:
        """Of these stored people, those the org no longer has (deleted, maybe merged) → None or
        their master: asked when the delete log was purged before leadscore read it. ⌈N/300⌉
        queries per object; converted leads still exist here and come from :meth:`removed`."""
        gone: dict[str, str | None] = {}
        for sobject, prefix in (("Lead", "00Q"), ("Contact", "003")):
            mine = sorted({i for i in ids if i.startswith(prefix)})
            alive: set[str] = set()
            for i in range(0, len(mine), 300):
                for body in self.t.query_pages(ids_soql(sobject, ["Id"], mine[i:i + 300])):
                    alive.update(str(r["Id"]) for r in body.get("records") or [])
            missing = [i for i in mine if i not in alive]
            gone.update(dict.fromkeys(missing))
            gone.update(self._masters(sobject, missing))
        self.reconcile_needed = False
        return gone

    # -- writes ----------------------------------------------------------------------------------

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Field values (and owners) of Leads, Contacts and Accounts; one result per request."""
        bad = [r for r in requests if sobject_of(r.record_id) not in ("Lead", "Contact", "Account")]
        if bad:
            raise AdapterError(f"write: {bad[0].record_id!r} is not a Lead, Contact or Account id "
                               f"(expected a key prefix 00Q, 003 or 001)")
        rows = [(r.record_id, {**r.values, **({"OwnerId": r.owner_id} if r.owner_id else {})}) for r in requests]
        if len(rows) > self.bulk_write_threshold:
            by_type: dict[str, list[int]] = {}
            for i, (rid, _) in enumerate(rows):
                by_type.setdefault(str(sobject_of(rid)), []).append(i)
            results: dict[int, WriteResult] = {}
            for sobject, index in by_type.items():
                done = bulk_update(self.t, self.reader, sobject, [rows[i] for i in index])
                results.update(zip(index, done, strict=True))
            return [results[i] for i in range(len(rows))]
        records = [{"attributes": {"type": sobject_of(rid)}, "id": rid, **values} for rid, values in rows]
        return collection_save(self.t, "PATCH", records, [rid for rid, _ in rows], "update records")

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteResult]:
        """One open Task per request, for the owner, on the lead/contact (``WhoId``)."""
        if self._task_values is None:  # the org's picklists decide (Task describe), once per process
            fields = installer.describe(self.t, "Task")
            self._task_values = installer.task_values(self.mapping, fields)[0]
        records = []
        for task in tasks:
            values: dict[str, Any] = {"attributes": {"type": "Task"}, "WhoId": task.lead_id,
                                      "Subject": task.subject[:255],
                                      "Description": f"{task.body}\n\n{_task_marker(task.idempotency_key)}",
                                      **self._task_values}
            if task.owner_id:
                values["OwnerId"] = task.owner_id
            if task.due:
                values["ActivityDate"] = task.due.date()
            records.append(values)
        return collection_save(self.t, "POST", records, [t.lead_id for t in tasks], "create tasks", idempotent=False)

    def find_tasks(self, tasks: Sequence[TaskRequest]) -> set[str]:
        """Keys of the tasks that exist (:class:`adapters.base.TaskFinder`). ``Description`` (where
        the key is) cannot be filtered in SOQL, so the Tasks of the people concerned are selected by
        ``WhoId`` (indexed) and the key is looked for in the descriptions returned. A query reads the
        org's data as it is (no search index that could lag behind a create just made). The ids go in
        chunks that keep the URI well under Salesforce's 16,384-byte limit whatever the subjects hold."""
        found: set[str] = set()
        people = sorted({t.lead_id for t in tasks})
        for start in range(0, len(people), _FIND_TASK_IDS):
            chunk = set(people[start:start + _FIND_TASK_IDS])
            soql = format_soql("SELECT WhoId, Description FROM Task WHERE WhoId IN {}", sorted(chunk))
            texts: dict[str, list[str]] = {}
            for body in self.t.query_pages(soql):
                for r in body.get("records") or []:
                    texts.setdefault(str(r.get("WhoId")), []).append(str(r.get("Description") or ""))
            found.update(t.idempotency_key for t in tasks if t.lead_id in chunk
                         and any(_task_marker(t.idempotency_key) in text for text in texts.get(t.lead_id, [])))
        return found

    def enroll(self, lead_ids: Sequence[str], target: str) -> list[WriteResult]:
        """Add leads/contacts to a campaign: ``target`` is a Campaign id, optionally ``/Status``.
        Existing memberships count as done (enrolling twice is a no-op)."""
        campaign, _, status = target.partition("/")
        if sobject_of(campaign) is not None or not campaign.startswith("701"):
            raise AdapterError(f"enroll: {campaign!r} is not a Campaign id (key prefix 701); pass CAMPAIGN_ID[/Status]")
        members: set[str] = set()
        for start in range(0, len(lead_ids), 300):
            chunk = list(lead_ids[start:start + 300])
            soql = format_soql("SELECT LeadId, ContactId FROM CampaignMember WHERE CampaignId = {} AND "
                               "(LeadId IN {} OR ContactId IN {})", campaign, chunk, chunk)
            for body in self.t.query_pages(soql):
                for r in body.get("records") or []:
                    members.update(str(v) for v in (r.get("LeadId"), r.get("ContactId")) if v)
        todo = [i for i in lead_ids if i not in members]
        records = []
        for lead in todo:
            person = "LeadId" if sobject_of(lead) == "Lead" else "ContactId"
            records.append({"attributes": {"type": "CampaignMember"}, "CampaignId": campaign, person: lead,
                            **({"Status": status} if status else {})})
        made = dict(zip(todo, collection_save(self.t, "POST", records, todo, "enroll in campaign", idempotent=False),
                        strict=True))
        return [made.get(i) or WriteResult(i, True, "already a member") for i in lead_ids]

    def owners(self) -> list[Owner]:
        out = []
        for body in self.t.query_pages("SELECT Id, Email, Name, IsActive FROM User ORDER BY Id"):
            for r in body.get("records") or []:
                out.append(Owner(str(r["Id"]), r.get("Email"), r.get("Name"), active=as_bool(r.get("IsActive"))))
        return out

    def api_usage(self) -> dict[str, int | None]:
        return self.t.usage()
