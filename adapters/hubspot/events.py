"""Engagement → canonical :class:`~scoring.records.Event`, one source at a time.

Sources, each with its own mark in the (JSON) events cursor, read for the run's window:

- ``web``: ``GET /events/event-occurrences/{version}`` (page views, custom behavioural events;
  HubSpot serves it to Enterprise portals only), oldest first, so the mark moves page by page;
  types by the mapping's ``events.web`` (shell patterns).
- ``email``: ``GET /email/public/v1/events`` (sent/open/click/bounce/unsubscribe; scope
  ``content``; no dated version yet). HubSpot answers newest first (``startTimestamp`` and
  ``endTimestamp`` inclusive), so each call is a query bounded above by the oldest time read so
  far (the ids read at that millisecond are skipped) rather than an offset into one query: after
  every page the cursor says which range is left, and a killed run resumes there instead of
  starting over. A first run reads back :data:`EMAIL_HISTORY_DAYS`, not the portal's whole
  history. Pages of 1,000, as many calls as offset paging. Events name the recipient's e-mail
  address; contact ids come from the adapter's e-mail → id memory (filled while pulling
  contacts) or a batch read by ``idProperty=email`` (≤ 100 per call).
- ``forms``: every form (``formTypes=all``: HubSpot lists only ``hubspot`` forms without it, not
  captured, pop-up or flow forms), each form's submissions (newest first, ≤ 50 per call), read
  back to the window start. Scope ``forms``; no dated version yet.
- ``emails`` / ``meetings`` / ``calls`` (the mapping's ``events.engagements``): CRM search on
  ``hs_lastmodifieddate`` plus a batch read of their contact associations per page.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.cursors import Window, encode, ms_of
from adapters.hubspot.convert import parse_number, parse_time
from adapters.hubspot.pull import associations, joined, search_pages
from adapters.hubspot.transport import Transport
from mappings.loader import Engagement, HubSpotMapping
from scoring.records import Event

__all__ = ["EMAIL_HISTORY_DAYS", "EventSource", "event_sources"]

#: How far back a first run reads marketing e-mail events.
EMAIL_HISTORY_DAYS = 365
_DAY_MS = 86_400_000

#: Resolves e-mail addresses to contact ids (the adapter's memory plus a batch read).
Resolver = Callable[[Sequence[str]], dict[str, str]]


@dataclass
class EventSource:
    """One stream of events: ``read(window)`` yields ``(events, high-water ms or None)`` per page."""

    name: str
    ascending: bool  # True: the mark may move after every page
    read: Callable[[Window], Iterator[tuple[list[Event], int | None]]]
    #: a source that checkpoints its own progress: ``resume(marks, until_ms, lookback_ms)`` yields
    #: ``(events, its marks after them)`` (the source's name and ``name.*`` keys of the cursor)
    resume: Callable[[dict[str, int], int, int], Iterator[tuple[list[Event], dict[str, int]]]] | None = None


def _web(t: Transport, mapping: HubSpotMapping, limit: int) -> EventSource:
    patterns = list(mapping.events.web.items())

    def type_of(name: str) -> str | None:
        return next((v for p, v in patterns if fnmatch.fnmatchcase(name, p)), None)

    def read(win: Window) -> Iterator[tuple[list[Event], int | None]]:
        after: str | None = None
        while True:
            query: dict[str, Any] = {"objectType": "contact", "limit": limit, "sort": ["ASCENDING"],
                                     "occurredBefore": encode(win.until_ms)}
            if win.start_ms is not None:
                query["occurredAfter"] = encode(win.start_ms)
            if after:
                query["after"] = after
            data, _ = t.request("read web analytics events", "GET", "/events/event-occurrences/{version}",
                                query=query)
            events, high = [], None
            for r in data.get("results") or []:
                when = parse_time(r.get("occurredAt"))
                if when is None:
                    continue
                ms = ms_of(when)
                high = ms if high is None else max(high, ms)
                kind = type_of(str(r.get("eventType") or ""))
                if kind is None:
                    continue
                p = r.get("properties") or {}
                events.append(Event(lead_id=str(r["objectId"]), type=kind, occurred_at=when, id=f"web:{r.get('id')}",
                                    url=p.get("hs_url") or None, campaign=p.get("hs_campaign") or None,
                                    duration_seconds=parse_number(p.get("hs_time_on_page")),
                                    attributes={"event_type": r.get("eventType")}))
            yield events, high
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    return EventSource("web", True, read)


def _email(t: Transport, mapping: HubSpotMapping, resolve: Resolver) -> EventSource:
    types = mapping.events.email

    def kind_of(e: dict[str, Any]) -> str | None:
        kind = types.get(str(e.get("type")))
        if e.get("type") == "STATUSCHANGE" and e.get("portalSubscriptionStatus") != "UNSUBSCRIBED":
            return None
        return kind

    def page(lo: int, hi: int, offset: str | None) -> tuple[list[Event], list[dict[str, Any]], dict[str, Any]]:
        params: dict[str, Any] = {"startTimestamp": lo, "endTimestamp": hi, "limit": 1000}
        if offset:
            params["offset"] = offset
        data, _ = t.request("read marketing email events", "GET", "/email/public/v1/events", query=params,
                            endpoint="read marketing email events")
        rows = [e for e in data.get("events") or [] if isinstance(e, dict)]
        raw = [(e, k) for e in rows if (k := kind_of(e)) is not None]
        ids = resolve(sorted({str(e.get("recipient") or "").lower() for e, _ in raw if e.get("recipient")}))
        events = []
        for e, kind in raw:
            lead = ids.get(str(e.get("recipient") or "").lower())
            when = parse_time(e.get("created"))
            if lead is None or when is None:
                continue
            campaign = str(e["emailCampaignId"]) if e.get("emailCampaignId") else None
            events.append(Event(lead_id=lead, type=kind, occurred_at=when, id=f"email:{e.get('id')}",
                                url=e.get("url") or None, campaign=campaign, email_id=campaign,
                                attributes={"hubspot_type": e.get("type")}))
        return events, rows, data

    def walk(lo: int, top: int, state: Callable[[int], dict[str, int]]) -> Iterator[tuple[list[Event], dict[str, int]]]:
        """[lo, top] newest first, each call a query bounded by the oldest time read so far: the
        state after each page says what is left ([lo, hi]), so a killed run resumes there."""
        hi, skip, offset = top, frozenset[str](), None
        while True:
            events, rows, data = page(lo, hi, offset)
            fresh = [e for e in events if e.id not in skip]
            if not data.get("hasMore") or not rows:
                yield fresh, {}
                return
            oldest = min(int(r.get("created") or hi) for r in rows)
            if oldest == hi:  # a whole page at one millisecond: page on within it by offset
                skip, offset = skip | {e.id for e in events if e.id}, str(data.get("offset"))
            else:
                at_oldest = {f"email:{r.get('id')}" for r in rows if int(r.get("created") or 0) == oldest}
                hi, skip, offset = oldest, frozenset(at_oldest), None
            yield fresh, state(hi)

    def resume(marks: dict[str, int], until_ms: int, lookback_ms: int) -> Iterator[tuple[list[Event], dict[str, int]]]:
        """The source's marks: ``email`` (every event up to it is read), and while a run is under way
        ``email.top`` / ``email.down`` (the events in (down, top] are read too, [email, down] not yet)."""
        lo = marks.get("email")
        start = lo - lookback_ms if lo is not None else until_ms - EMAIL_HISTORY_DAYS * _DAY_MS
        base = lo if lo is not None else start
        top, down = marks.get("email.top"), marks.get("email.down")
        if top is not None and down is not None:  # a killed run's range first, down to the old mark
            for events, state in walk(max(0, start), down, lambda hi: {"email": base, "email.top": top,
                                                                      "email.down": hi}):
                yield events, state or {"email": top}
            base, start = top, top - lookback_ms
        for events, state in walk(max(0, start), until_ms, lambda hi: {"email": base, "email.top": until_ms,
                                                                       "email.down": hi}):
            yield events, state or {"email": until_ms}

    def read(win: Window) -> Iterator[tuple[list[Event], int | None]]:
        marks = {} if win.start_ms is None else {"email": win.start_ms}
        for events, _ in resume(marks, win.until_ms, 0):
            yield events, None

    return EventSource("email", False, read, resume=resume)


def _forms(t: Transport, kind: str, resolve: Resolver) -> EventSource:
    def read(win: Window) -> Iterator[tuple[list[Event], int | None]]:
        forms: list[dict[str, Any]] = []
        after = None
        while True:
            params: dict[str, Any] = {"limit": 100, "formTypes": ["all"], **({"after": after} if after else {})}
            data, _ = t.request("list forms", "GET", "/marketing/v3/forms", query=params, endpoint="list forms")
            forms.extend(data.get("results") or [])
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
        for form in forms:
            after = None
            while True:
                params = {"limit": 50, **({"after": after} if after else {})}
                data, _ = t.request("read form submissions", "GET",
                                    "/form-integrations/v1/submissions/forms/{formGuid}",
                                    path_params={"formGuid": form["id"]}, query=params,
                                    endpoint="read form submissions")
                rows = data.get("results") or []
                inside = [r for r in rows if int(r.get("submittedAt") or 0) <= win.until_ms
                          and (win.start_ms is None or int(r.get("submittedAt") or 0) >= win.start_ms)]
                emails = {i: next((str(v.get("value") or "").lower() for v in r.get("values") or []
                                   if v.get("name") == "email"), "") for i, r in enumerate(inside)}
                ids = resolve(sorted({e for e in emails.values() if e}))
                events = []
                for i, r in enumerate(inside):
                    lead = ids.get(emails[i])
                    when = parse_time(r.get("submittedAt"))
                    if lead and when:
                        key = r.get("conversionId") or f"{form['id']}:{r.get('submittedAt')}"
                        events.append(Event(lead_id=lead, type=kind, occurred_at=when, id=f"form:{key}",
                                            form=form.get("name"), url=r.get("pageUrl") or None,
                                            attributes={"form_id": form["id"]}))
                if events:
                    yield events, None
                oldest = min((int(r.get("submittedAt") or 0) for r in rows), default=0)
                after = ((data.get("paging") or {}).get("next") or {}).get("after")
                if not after or (win.start_ms is not None and oldest < win.start_ms):
                    break

    return EventSource("forms", False, read)


def _engagement(t: Transport, e: Engagement, limit: int) -> EventSource:
    props = [p for p in ("hs_timestamp", e.property) if p]

    def read(win: Window) -> Iterator[tuple[list[Event], int | None]]:
        for page in joined(search_pages(t, e.object, "hs_lastmodifieddate", props, win, limit)):
            links = associations(t, e.object, "contacts", [str(r["id"]) for r in page])
            events, high = [], None
            for r in page:
                p = r.get("properties") or {}
                modified = parse_time(p.get("hs_lastmodifieddate"))
                if modified is not None:
                    ms = ms_of(modified)
                    high = ms if high is None else max(high, ms)
                kind = e.event_type(p)
                when = parse_time(p.get("hs_timestamp")) or parse_time(r.get("createdAt"))
                if kind is None or when is None:
                    continue
                for link in links.get(str(r["id"]), []):
                    events.append(Event(lead_id=str(link["toObjectId"]), type=kind, occurred_at=when,
                                        id=f"{e.object}:{r['id']}", attributes={"object": e.object}))
            yield events, high

    return EventSource(e.object, True, read)


def event_sources(t: Transport, mapping: HubSpotMapping, resolve: Resolver, search_limit: int,
                  page_limit: int = 1000) -> list[EventSource]:
    """The sources the mapping asks for, in a fixed order (the cursor names them)."""
    ev = mapping.events
    out: list[EventSource] = []
    if ev.web:
        out.append(_web(t, mapping, page_limit))
    if ev.email:
        out.append(_email(t, mapping, resolve))
    if ev.forms:
        out.append(_forms(t, ev.forms, resolve))
    out.extend(_engagement(t, e, search_limit) for e in ev.engagements)
    return out
