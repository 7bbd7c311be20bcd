"""The HubSpot adapter: :class:`adapters.base.Adapter` over hubspot-api-client.

Reads are incremental (search on the last-modified property, from the cursor minus a look-back,
up to the run's start), writes are batched with one result per record, and every call goes
through one :class:`~adapters.hubspot.transport.Transport` (budget, token refresh, retry policy).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from adapters.base import FieldSpec, InstallPlan, Owner, Page, StreamStatus, TaskRequest, WriteRequest, WriteResult
from adapters.cursors import advance, decode, decode_map, encode, encode_map, last_page_done, ms_of, window
from adapters.errors import AdapterError, PermissionDenied
from adapters.hubspot import install as installer
from adapters.hubspot.convert import ms_of_text, stage_entered_properties, to_account, to_lead, to_property_value
from adapters.hubspot.events import event_sources
from adapters.hubspot.pull import archived_pages, associations, joined, primary_company, search_pages
from adapters.hubspot.streams import StreamSpec, scope_needs, stream_specs, unavailable
from adapters.hubspot.transport import Credentials, Transport
from adapters.hubspot.write import create_tasks, enroll, find_tasks, update_batches
from adapters.retry import RetryPolicy
from mappings.loader import HubSpotMapping, ObjectFields, load_hubspot_mapping
from scoring.errors import ConfigError, Problem

__all__ = ["HubSpotAdapter"]

_OBJECTS = {"lead": "contacts", "account": "companies"}
_UNKNOWN: Any = object()
_MERGED = "hs_merged_object_ids"  # on a contact: the ids of contacts merged into it


class HubSpotAdapter:
    name = "hubspot"
    #: the archived list cannot be filtered by time (one call per 100 archived contacts), so the
    #: sync looks for deletions at most this often
    removal_interval = timedelta(hours=6)

    def __init__(self, transport: Transport, mapping: HubSpotMapping | None = None, *, batch_size: int = 100,
                 search_limit: int = 200, lookback_s: int = 300):
        self.t = transport
        self.mapping = mapping or load_hubspot_mapping()
        self.batch_size = batch_size
        self.search_limit = search_limit
        self.lookback_ms = lookback_s * 1000
        self._emails: dict[str, str] = {}
        self._merged: dict[str, str] = {}  # merged-away contact id -> the contact it went into
        self._owners: list[dict[str, Any]] | None = None
        self._granted: set[str] | None | object = _UNKNOWN  # the token's scopes, asked at most once
        self._streams: dict[str, StreamStatus] = {}  # what this adapter learnt of each stream
        self._properties_checked: set[str] = set()  # objects whose mapped properties a page has shown

    @classmethod
    def from_settings(cls, settings: Any, mapping: HubSpotMapping | None = None,
                      policy: RetryPolicy | None = None) -> HubSpotAdapter:
        """Build from :class:`connector.settings.HubSpotSettings` (secrets stay inside)."""

        def secret(v: Any) -> str | None:
            return v.get_secret_value() if v is not None else None

        creds = Credentials(secret(settings.access_token), secret(settings.refresh_token), settings.client_id,
                            secret(settings.client_secret), kind=settings.auth)
        transport = Transport(settings.base_url, creds, rate_per_10s=settings.rate_per_10s,
                              search_per_second=settings.search_per_second, timeout_s=settings.timeout_s,
                              policy=policy or RetryPolicy(max_attempts=settings.max_attempts),
                              daily_reserve=settings.daily_reserve, api_version=settings.api_version,
                              tier=settings.tier)
        if mapping is None:
            mapping = load_hubspot_mapping(settings.mapping)
        return cls(transport, mapping, batch_size=settings.batch_size, search_limit=settings.search_limit,
                   lookback_s=settings.lookback_s)

    # -- install -------------------------------------------------------------------------------

    def fields(self) -> list[FieldSpec]:
        """The properties the mapping says leadscore writes (what ``install`` creates)."""
        return installer.field_specs(self.mapping)

    def plan_install(self, fields: Sequence[FieldSpec]) -> InstallPlan:
        required, _ = scope_needs(self.mapping)
        return installer.plan(self.t, fields, self.mapping.write_back.group.name, required, self.granted_scopes())

    def granted_scopes(self) -> set[str] | None:
        """The token's scopes (None: the portal will not say), asked once per adapter."""
        if self._granted is _UNKNOWN:
            self._granted = installer.granted_scopes(self.t)
        return self._granted  # type: ignore[return-value]

    def install(self, plan: InstallPlan) -> InstallPlan:
        group = self.mapping.write_back.group
        installer.install(self.t, plan, group.name, group.label)
        return self.plan_install([*plan.existing, *plan.to_create])

    def missing_optional_scopes(self) -> list[str]:
        """Optional scopes of actions the token lacks, with what they enable (empty when it cannot
        tell); those of streams are reported per stream by :meth:`stream_status`."""
        scopes = self.granted_scopes()
        if scopes is None:
            return []
        _, optional = scope_needs(self.mapping)
        streams = {s for spec in stream_specs(self.mapping) for s in spec.scopes}
        return [f"{s} (to {why})" for s, why in sorted(optional.items()) if s not in scopes and s not in streams]

    # -- streams -------------------------------------------------------------------------------

    def stream_status(self) -> list[StreamStatus]:
        """Each stream the mapping reads (:class:`adapters.base.StreamChecker`), in pull order.

        What a sync already learnt (a stream read, or refused with 403) costs nothing; otherwise
        the token's scopes decide (one introspection call per adapter), and a stream HubSpot
        serves to some tiers only is tried with one one-record call when the tier is not set."""
        granted = self.granted_scopes()
        out = []
        for spec in stream_specs(self.mapping):
            known = self._streams.get(spec.name)
            if known is None:
                known = unavailable(spec, granted)
            if known is None and spec.tier:
                known = self._probe(spec, granted)
            out.append(known or StreamStatus(spec.name, True, required=spec.required))
        return out

    def _probe(self, spec: StreamSpec, granted: set[str] | None) -> StreamStatus | None:
        tier = self.t.tier
        if tier is not None:  # told by LEADSCORE_HUBSPOT__TIER: no call
            return None if tier == "enterprise" else StreamStatus(
                spec.name, False, f"needs {spec.tier}", f"HubSpot serves it to portals with {spec.tier} only "
                f"(LEADSCORE_HUBSPOT__TIER is {tier}); upgrade, or drop it from the mapping", required=spec.required)
        try:
            self.t.request("check web analytics events", "GET", "/events/event-occurrences/{version}",
                           query={"objectType": "contact", "limit": 1})
        except PermissionDenied as exc:
            return unavailable(spec, granted, str(exc))
        return None

    def unavailable_streams(self) -> list[StreamStatus]:
        """Streams this adapter found it cannot read (no calls)."""
        return [s for s in self._streams.values() if not s.available]

    def check_mapping(self) -> list[str]:
        return installer.check_mapping(self.t, self.mapping)

    # -- reads ---------------------------------------------------------------------------------

    def pull_leads(self, cursor: str | None, until: datetime) -> Iterator[Page]:
        m = self.mapping.contacts
        by_property = m.account_from == "property"
        props = [*m.properties(), *(["associatedcompanyid"] if by_property else []), _MERGED,
                 *(stage_entered_properties() if m.fields.get("lifecycle_stage") else [])]
        email_prop = m.fields.get("email")

        def pages() -> Iterator[tuple[list[Any], str | None]]:
            mark, until_ms = decode(cursor), ms_of(until)
            found = search_pages(self.t, "contacts", "lastmodifieddate", props,
                                 window(mark, until_ms, self.lookback_ms), self.search_limit)
            for raw in found if by_property else joined(found):  # associations: a call per 1,000 contacts
                self._check_properties("contacts", m, raw)
                if by_property:
                    accounts = {str(r["id"]): (r["properties"] or {}).get("associatedcompanyid") or None for r in raw}
                else:
                    links = associations(self.t, "contacts", "companies", [str(r["id"]) for r in raw])
                    accounts = {k: primary_company(v) for k, v in links.items()}
                leads = [to_lead(r, m, accounts.get(str(r["id"]))) for r in raw]
                for r in raw:  # a merge moves the merged contacts' ids onto this one
                    for old in str((r.get("properties") or {}).get(_MERGED) or "").split(";"):
                        if old.strip() and old.strip() != str(r["id"]):
                            self._merged[old.strip()] = str(r["id"])
                if email_prop:
                    for r in raw:
                        email = (r.get("properties") or {}).get(email_prop)
                        if email:
                            self._emails[str(email).lower()] = str(r["id"])
                high = max(ms_of_text((r.get("properties") or {}).get("lastmodifieddate")) for r in raw)
                mark = advance(mark, high, until_ms)
                yield leads, encode(mark) if mark is not None else None

        return last_page_done(pages(), encode(ms_of(until)))

    def _check_properties(self, obj: str, section: ObjectFields, raw: Sequence[dict[str, Any]]) -> None:
        """Stop, naming each mapping key, when the portal lacks a mapped property. HubSpot answers a
        request for a property it does not have by leaving it out of every record (one it has but
        that is empty comes back as null), so without this check the field would silently be empty
        for every lead. The first page tells, at no extra call; it is checked once per object."""
        if not raw or obj in self._properties_checked:
            return
        self._properties_checked.add(obj)
        shown = raw[0].get("properties") or {}
        singular = "contact" if obj == "contacts" else "company"
        missing = [(f"{obj}.{kind}.{name}", prop) for kind in ("fields", "custom")
                   for name, prop in getattr(section, kind).items() if prop not in shown]
        if missing:
            raise ConfigError([Problem("<hubspot mapping>", None, path, f"the portal has no {singular} property "
                                       f"'{prop}'", "create it in HubSpot or take it out of the mapping "
                                       "(`leadscore check-mapping --crm hubspot` lists them all)")
                               for path, prop in missing])

    def pull_accounts(self, cursor: str | None, until: datetime) -> Iterator[Page]:
        m = self.mapping.companies

        def pages() -> Iterator[tuple[list[Any], str | None]]:
            mark, until_ms = decode(cursor), ms_of(until)
            for raw in search_pages(self.t, "companies", "hs_lastmodifieddate", m.properties(),
                                    window(mark, until_ms, self.lookback_ms), self.search_limit):
                self._check_properties("companies", m, raw)
                high = max(ms_of_text((r.get("properties") or {}).get("hs_lastmodifieddate")) for r in raw)
                mark = advance(mark, high, until_ms)
                yield [to_account(r, m) for r in raw], encode(mark) if mark is not None else None

        return last_page_done(pages(), encode(ms_of(until)))

    def pull_events(self, cursor: str | None, until: datetime) -> Iterator[Page]:
        """Events from every source the mapping names; the cursor is a JSON object of source → mark."""
        until_ms = ms_of(until)
        marks = decode_map(cursor)
        default = marks.pop("*", None)
        sources = event_sources(self.t, self.mapping, self.contact_ids, self.search_limit)

        specs = {s.source: s for s in stream_specs(self.mapping)}
        granted: set[str] | None = None if self._granted is _UNKNOWN else self._granted  # type: ignore[assignment]

        def pages() -> Iterator[tuple[list[Any], str | None]]:
            for source in sources:
                spec = specs[source.name]
                known = self._streams.get(spec.name)
                if known is not None and not known.available:
                    continue  # refused earlier by this portal: named once, not asked again
                start = marks.get(source.name, default)
                try:
                    if source.resume is not None:  # the source checkpoints itself (name and name.* marks)
                        own = {k: v for k, v in marks.items() if k == source.name or k.startswith(source.name + ".")}
                        if source.name not in own and default is not None:
                            own[source.name] = default
                        for events, state in source.resume(own, until_ms, self.lookback_ms):
                            for k in [k for k in marks if k.startswith(source.name + ".")]:
                                del marks[k]
                            marks.update(state)
                            yield events, encode_map(marks)
                    else:
                        for events, high in source.read(window(start, until_ms, self.lookback_ms)):
                            if source.ascending:
                                moved = advance(marks.get(source.name, default), high, until_ms)
                                if moved is not None:
                                    marks[source.name] = moved
                            if events:
                                yield events, encode_map(marks)
                except PermissionDenied as exc:  # a tier or a scope: skip this stream, read the others
                    self._streams[spec.name] = unavailable(spec, granted, str(exc)) or StreamStatus(
                        spec.name, False, str(exc))
                    continue
                marks[source.name] = until_ms
                self._streams[spec.name] = StreamStatus(spec.name, True, required=spec.required)
                yield [], encode_map(marks)  # a checkpoint: this source is done for the run's window

        stream = pages()
        return last_page_done(stream, None) if not sources else self._events_final(stream, marks)

    def _events_final(self, stream: Iterator[tuple[list[Any], str | None]], marks: dict[str, int]) -> Iterator[Page]:
        held: tuple[list[Any], str | None] | None = None
        try:
            for page in stream:
                if held is not None:
                    yield Page(held[0], held[1], False)
                held = page
        except Exception:
            # a source failed (the daily limit, say): the page held back still carries good events
            # and the marks of every source finished before, so the sync can keep them
            if held is not None:
                yield Page(held[0], held[1], False)
            raise
        # every source finished: the final cursor holds each source's mark at the run's start
        yield Page(held[0] if held else [], encode_map(marks), True)

    def contact_ids(self, emails: Sequence[str]) -> dict[str, str]:
        """E-mail (lower case) → contact id, from memory, else a batch read by ``idProperty=email``."""
        found = {e: self._emails[e] for e in emails if e in self._emails}
        missing = [e for e in emails if e not in found]
        for i in range(0, len(missing), 100):
            body = {"idProperty": "email", "properties": ["email"],
                    "inputs": [{"id": e} for e in missing[i:i + 100]]}
            data, _ = self.t.request("read contacts by e-mail", "POST",
                                     "/crm/objects/{version}/{objectType}/batch/read",
                                     path_params={"objectType": "contacts"}, body=body)
            for r in data.get("results") or []:
                email = str((r.get("properties") or {}).get("email") or "").lower()
                if email:
                    found[email] = self._emails[email] = str(r["id"])
        return found

    def merged(self) -> dict[str, str]:
        """Contacts merged away, as the contacts pulled so far say (``hs_merged_object_ids``): id →
        the contact it went into. No extra calls; cleared once read."""
        out, self._merged = self._merged, {}
        return out

    def removed(self, since: datetime, until: datetime) -> dict[str, str | None]:
        """Contacts deleted (archived) in ``[since, until]``, by ``archivedAt``: id → None.

        For the connector to drop them from its store, like the Salesforce adapter's ``removed``.
        HubSpot keeps deleted contacts restorable, and so listed as archived, for 90 days (its
        "Archive a contact" API reference): run at least that often or deletions are missed. The
        archived list has no time filter, so this reads all of it, one call per 100 archived
        contacts. Merged contacts are reported by :meth:`merged` instead.
        """
        lo, hi = ms_of(since), ms_of(until)
        gone: dict[str, str | None] = {}
        for raw in archived_pages(self.t, "contacts"):
            for r in raw:
                if lo <= ms_of_text(r.get("archivedAt")) <= hi:
                    gone[str(r["id"])] = None
        return gone

    # -- writes --------------------------------------------------------------------------------

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        for kind, obj in _OBJECTS.items():
            picked = [(i, r) for i, r in enumerate(requests) if r.object == kind]
            if picked:
                done = update_batches(self.t, obj, [r for _, r in picked], self.batch_size)
                results.update({i: res for (i, _), res in zip(picked, done, strict=True)})
        unknown = [r.object for i, r in enumerate(requests) if i not in results]
        if unknown:
            raise AdapterError(f"write: unknown object kind {unknown[0]!r}; expected 'lead' or 'account'")
        return [results[i] for i in range(len(requests))]

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteResult]:
        return create_tasks(self.t, tasks, to_property_value(datetime.now(timezone.utc)))

    def find_tasks(self, tasks: Sequence[TaskRequest]) -> set[str]:
        """Keys of the tasks that exist (:class:`adapters.base.TaskFinder`)."""
        return find_tasks(self.t, tasks)

    def enroll(self, lead_ids: Sequence[str], target: str) -> list[WriteResult]:
        """``target``: a sequence id, optionally ``/sender@example.com`` (an owner with a connected
        inbox); without a sender, each contact is enrolled by its own owner."""
        sequence_id, _, sender_email = target.partition("/")
        owners = {str(o["id"]): o for o in self._owner_rows()}
        by_email = {str(o.get("email") or "").lower(): o for o in owners.values()}
        if sender_email:
            sender = by_email.get(sender_email.lower())
            if sender is None:
                raise AdapterError(f"enroll: {sender_email} is not a HubSpot owner; pass a sequence id and an "
                                   f"owner's e-mail as SEQUENCE_ID/owner@example.com")
            return enroll(self.t, lead_ids, sequence_id, sender)
        owner_of: dict[str, str] = {}
        for i in range(0, len(lead_ids), 100):
            body = {"properties": ["hubspot_owner_id"], "inputs": [{"id": str(x)} for x in lead_ids[i:i + 100]]}
            data, _ = self.t.request("read contact owners", "POST", "/crm/objects/{version}/{objectType}/batch/read",
                                     path_params={"objectType": "contacts"}, body=body)
            for r in data.get("results") or []:
                owner_of[str(r["id"])] = str((r.get("properties") or {}).get("hubspot_owner_id") or "")
        out: dict[str, WriteResult] = {}
        for lead in lead_ids:
            owner = owners.get(owner_of.get(str(lead), ""))
            if owner is None:
                out[str(lead)] = WriteResult(str(lead), False, "the contact has no owner to send the sequence; "
                                             "pass SEQUENCE_ID/owner@example.com", retriable=False)
            else:
                out[str(lead)] = enroll(self.t, [lead], sequence_id, owner)[0]
        return [out[str(lead)] for lead in lead_ids]

    def _owner_rows(self) -> list[dict[str, Any]]:
        if self._owners is None:
            rows: list[dict[str, Any]] = []
            after = None
            while True:
                query: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
                data, _ = self.t.request("list owners", "GET", "/crm/owners/{version}", query=query)
                rows.extend(data.get("results") or [])
                after = ((data.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
            self._owners = rows
        return self._owners

    def owners(self) -> list[Owner]:
        """Active owners; assign ``Owner.id`` (HubSpot's owner id, not the user id) to contacts."""
        out = []
        for o in self._owner_rows():
            name = " ".join(p for p in (o.get("firstName"), o.get("lastName")) if p) or None
            out.append(Owner(str(o["id"]), o.get("email"), name, active=not o.get("archived", False)))
        return out

    @property
    def tier(self) -> str | None:
        """The portal's subscription tier as the settings give it (LEADSCORE_HUBSPOT__TIER), or None:
        HubSpot's API does not report it, so an unknown tier is learnt stream by stream."""
        return self.t.tier

    def api_usage(self) -> dict[str, int | None]:
        return self.t.usage()
