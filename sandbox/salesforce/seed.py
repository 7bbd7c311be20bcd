"""Filling an org from a tenant (:class:`sandbox.tenant_schema.Tenant`, canonical columns).

owners → User; accounts → Account; leads with ``kind == "lead"`` → Lead (converted ones with
``IsConverted``), ``kind == "contact"`` → Contact under its Account; campaigns → Campaign;
events → where Salesforce keeps engagement: calls and e-mails → Task, meetings → Event,
campaign responses / webinars / campaign forms → CampaignMember with ``HasResponded``.
Page views and product usage have no standard Salesforce object and are not loaded.

Records keep the tenant's timestamps (``CreatedDate`` from ``created_at``, ``SystemModstamp``
from ``updated_at``), so incremental reads of a fresh sandbox see a realistic history.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from .store import Org, to_millis

__all__ = ["EMAIL_SUBJECTS", "seed_api_user", "seed_tenant"]

#: Task subjects for e-mail engagement (``TaskSubtype = 'Email'``), by canonical event type.
EMAIL_SUBJECTS: dict[str, str] = {
    "email_sent": "Email: Sent", "email_open": "Email: Opened", "email_click": "Email: Clicked",
    "email_reply": "Email: Replied", "email_bounce": "Email: Bounced",
    "email_unsubscribe": "Email: Unsubscribed",
}
_CAMPAIGN_STATUS = {"campaign_response": "Responded", "webinar_attended": "Attended",
                    "form_submit": "Responded"}


def seed_api_user(org: Org, username: str, first: str = "Integration",
                  last: str = "User") -> str:
    """The user the API logs in as; it owns whatever the tenant leaves unowned."""
    uid = org.insert("User", {"Username": username, "FirstName": first, "LastName": last,
                              "Email": username, "IsActive": True, "Title": "API Integration"})
    org.api_user_id = uid
    org.tables["User"].set(org.tables["User"].rows[uid], "CreatedById", uid)
    org.tables["User"].set(org.tables["User"].rows[uid], "LastModifiedById", uid)
    return uid


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_millis(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    return int(value)


def _rows(table: Any) -> Iterator[dict[str, Any]]:
    """Rows of an Arrow table as dicts, a batch at a time (keeps memory flat)."""
    for batch in table.to_batches(max_chunksize=50_000):
        yield from batch.to_pylist()


def _put(org: Org, sobject: str, values: Mapping[str, Any], created: int | None,
         updated: int | None, fallback: int) -> str:
    stamp = updated or created or fallback
    clean = {k: v for k, v in values.items() if v is not None}
    clean["CreatedDate"] = created or stamp
    return org.insert(sobject, clean, stamp=stamp, validate=False)


def seed_tenant(org: Org, tenant: Any) -> dict[str, str]:
    """Load a tenant; returns tenant id → Salesforce id for every record loaded."""
    now = _ms(getattr(tenant, "now", None)) or org.now_ms()
    ids: dict[str, str] = {}
    api_user = org.api_user_id
    with org.lock:
        for o in _rows(tenant.owners):
            ids[o["id"]] = _put(org, "User", {
                "Username": o.get("email"), "FirstName": o.get("first_name"),
                "LastName": o.get("last_name"), "Email": o.get("email"),
                "Department": o.get("team"), "State": o.get("territory"),
                "IsActive": bool(o.get("active", True)),
                "Name": " ".join(p for p in (o.get("first_name"), o.get("last_name")) if p),
            }, None, None, now)
        for a in _rows(tenant.accounts):
            ids[a["id"]] = _put(org, "Account", {
                "Name": a.get("name"), "Website": a.get("domain"), "Industry": a.get("industry"),
                "NumberOfEmployees": _int(a.get("employees")),
                "AnnualRevenue": a.get("annual_revenue"), "BillingCountry": a.get("country"),
                "BillingState": a.get("state"), "BillingCity": a.get("city"),
                "Tech_Stack__c": a.get("tech_stack"), "Segment__c": a.get("segment"),
                "OwnerId": ids.get(a.get("owner_id") or "", api_user),
            }, _ms(a.get("created_at")), _ms(a.get("updated_at")), now)
        for c in _rows(tenant.campaigns):
            ids[c["id"]] = _put(org, "Campaign", {
                "Name": c.get("name"), "Type": c.get("type"), "Status": "Completed",
                "IsActive": True, "OwnerId": api_user}, None, None, now)
        for lead in _rows(tenant.leads):
            ids[lead["id"]] = _seed_person(org, lead, ids, api_user, now)
        _seed_events(org, _rows(_salesforce_events(tenant.events)), ids, api_user)
    return ids


def _salesforce_events(events: Any) -> Any:
    """Only the event types Salesforce stores (skips page views etc. without a Python loop)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = pa.array(["call_logged", "meeting_booked", "meeting_held", *EMAIL_SUBJECTS,
                       *_CAMPAIGN_STATUS])
    column = events.column("type")
    if pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    return events.filter(pc.is_in(column, value_set=wanted))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _seed_person(org: Org, lead: dict[str, Any], ids: Mapping[str, str], api_user: str,
                 now: int) -> str:
    name = " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p)
    common = {
        "FirstName": lead.get("first_name"), "LastName": lead.get("last_name") or "Unknown",
        "Name": name or None, "Email": lead.get("email"), "Title": lead.get("title"),
        "Phone": lead.get("phone"), "LeadSource": lead.get("lead_source"),
        "OwnerId": ids.get(lead.get("owner_id") or "", api_user),
    }
    created, updated = _ms(lead.get("created_at")), _ms(lead.get("updated_at"))
    if lead.get("kind") == "contact" and lead.get("account_id") in ids:
        return _put(org, "Contact", {
            **common, "AccountId": ids[lead["account_id"]], "MailingCountry": lead.get("country"),
            "MailingState": lead.get("state"), "MailingCity": lead.get("city"),
        }, created, updated, now)
    converted = bool(lead.get("converted"))
    converted_at = lead.get("converted_at")
    return _put(org, "Lead", {
        **common, "Company": lead.get("company") or "Unknown", "Country": lead.get("country"),
        "State": lead.get("state"), "City": lead.get("city"), "Industry": lead.get("industry"),
        "NumberOfEmployees": _int(lead.get("employees")),
        "AnnualRevenue": lead.get("annual_revenue"),
        "Status": "Closed - Converted" if converted else (lead.get("lead_status") or "Open"),
        "IsConverted": converted,
        "ConvertedDate": converted_at.date().isoformat() if converted and converted_at else None,
    }, created, updated, now)


def _seed_events(org: Org, events: Iterable[dict[str, Any]], ids: Mapping[str, str],
                 api_user: str) -> None:
    members: dict[tuple[str, str], str] = {}
    for e in events:
        kind, who = e.get("type"), ids.get(e.get("lead_id") or "")
        at = _ms(e.get("occurred_at"))
        if who is None or at is None:
            continue
        day = datetime.fromtimestamp(at / 1000, tz=timezone.utc).date().isoformat()
        if kind == "call_logged":
            _put(org, "Task", {"Subject": "Call", "WhoId": who, "TaskSubtype": "Call",
                               "Type": "Call", "Status": "Completed", "ActivityDate": day,
                               "CallDurationInSeconds": _int(e.get("duration_seconds")),
                               "CompletedDateTime": at, "OwnerId": api_user}, at, at, at)
        elif kind in EMAIL_SUBJECTS:
            _put(org, "Task", {"Subject": EMAIL_SUBJECTS[kind], "WhoId": who,
                               "TaskSubtype": "Email", "Type": "Email", "Status": "Completed",
                               "ActivityDate": day, "Description": e.get("url"),
                               "CompletedDateTime": at, "OwnerId": api_user}, at, at, at)
        elif kind in ("meeting_booked", "meeting_held"):
            minutes = _int((e.get("duration_seconds") or 1800) / 60) or 30
            _put(org, "Event", {"Subject": "Meeting booked" if kind == "meeting_booked"
                                else "Meeting", "WhoId": who, "StartDateTime": at,
                                "ActivityDateTime": at, "EndDateTime": at + minutes * 60_000,
                                "DurationInMinutes": minutes, "Type": "Meeting",
                                "OwnerId": api_user}, at, at, at)
        elif kind in _CAMPAIGN_STATUS and e.get("campaign") in ids:
            key = (ids[e["campaign"]], who)
            if key in members:
                continue  # one membership per campaign and person, as in Salesforce
            person = "LeadId" if who.startswith("00Q") else "ContactId"
            members[key] = _put(org, "CampaignMember", {
                "CampaignId": key[0], person: who, "Status": _CAMPAIGN_STATUS[str(kind)],
                "HasResponded": True, "FirstRespondedDate": day}, at, at, at)
