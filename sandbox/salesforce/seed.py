"""Filling an org from a tenant (:class:`sandbox.tenant_schema.Tenant`, canonical columns).

owners → User; accounts → Account; leads with ``kind == "lead"`` → Lead (converted ones with
``IsConverted``), ``kind == "contact"`` → Contact under its Account; campaigns → Campaign;
events → where a stock org keeps engagement: logged calls → Task (``TaskSubtype = 'Call'``,
``CallDurationInSeconds``), e-mails sent or received → Task (``TaskSubtype = 'Email'``, subject
``Email: <subject>``, as Salesforce logs them; Object Reference, "Task"), meetings → Event,
campaign responses / webinars / campaign forms → CampaignMember with ``HasResponded`` (one per
campaign and person). Opens, clicks, bounces and unsubscribes are not activities in a stock org
(they belong to a marketing platform's objects), and page views and product usage have no
standard object: none of them is loaded. The tenant's tech stack and segment go into the
Account custom fields only when the org has them (``create_server(custom_fields=True)``).

Records keep the tenant's timestamps (``CreatedDate`` from ``created_at``, ``SystemModstamp``
from ``updated_at``; an event's records are stamped when it happened), so incremental reads of
a fresh sandbox see a realistic history. Columns are converted with Arrow compute and rows go
in through :meth:`Org.load_many`, so a million-lead tenant loads in tens of seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .store import Org

__all__ = ["EMAIL_SUBJECTS", "seed_api_user", "seed_tenant"]

#: Subjects of logged e-mails (``TaskSubtype = 'Email'``) by canonical event type: a sent e-mail
#: and a reply are both logged as e-mail tasks; nothing else e-mail-like is an activity.
EMAIL_SUBJECTS: dict[str, str] = {"email_sent": "Email: Following up", "email_reply": "Email: Re: Following up"}
_CAMPAIGN_STATUS = {"campaign_response": "Responded", "webinar_attended": "Attended",
                    "form_submit": "Responded"}
_MEETINGS = {"meeting_booked": "Meeting", "meeting_held": "Meeting"}


def seed_api_user(org: Org, username: str, first: str = "Integration",
                  last: str = "User") -> str:
    """The user the API logs in as; it owns whatever the tenant leaves unowned."""
    uid = org.insert("User", {"Username": username, "FirstName": first, "LastName": last,
                              "Email": username, "IsActive": True, "Title": "API Integration"})
    org.api_user_id = uid
    users = org.tables["User"]
    users.set(users.rows[uid], "CreatedById", uid)
    users.set(users.rows[uid], "LastModifiedById", uid)
    return uid


def _columns(table: pa.Table, names: Sequence[str]) -> dict[str, list[Any]]:
    """Python lists per column; timestamps as epoch ms, ``<name>__day`` as ``YYYY-MM-DD``."""
    out: dict[str, list[Any]] = {}
    for name in names:
        base = name.removesuffix("__day")
        if base not in table.column_names:
            out[name] = [None] * table.num_rows
            continue
        column = table.column(base)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_timestamp(column.type):
            if name.endswith("__day"):
                column = column.cast(pa.date32()).cast(pa.string())
            else:
                column = pc.divide(column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()),
                                   1000)
        out[name] = column.to_pylist()
    return out


def _by_time(table: pa.Table, column: str) -> pa.Table:
    """Rows in time order, so storage order follows the change log (cache-friendly scans)
    and ids grow with SystemModstamp as they do in a real org."""
    if column not in table.column_names or table.num_rows < 2:
        return table
    return table.take(pc.sort_indices(table, sort_keys=[(column, "ascending")]))


def _name(first: str | None, last: str | None) -> str | None:
    return " ".join(p for p in (first, last) if p) or None


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def seed_tenant(org: Org, tenant: Any) -> dict[str, str]:
    """Load a tenant; returns tenant id → Salesforce id for every record loaded."""
    now = org.now_ms()
    ids: dict[str, str] = {}
    with org.loading():
        _seed_owners(org, tenant.owners, ids, now)
        _seed_accounts(org, tenant.accounts, ids, now)
        c = _columns(tenant.campaigns, ["id", "name", "type"])
        ids.update(zip(c["id"], org.load_many(
            "Campaign", ("Name", "Type", "Status", "IsActive"),
            (((n, t, "Completed", True), now, now) for n, t in zip(c["name"], c["type"],
                                                                   strict=True))), strict=True))
        _seed_people(org, tenant.leads, ids, now)
        _seed_events(org, _salesforce_events(tenant.events), ids)
    return ids


def _seed_owners(org: Org, owners: pa.Table, ids: dict[str, str], now: int) -> None:
    c = _columns(owners, ["id", "first_name", "last_name", "email", "team", "territory",
                          "active"])
    rows = (((e, f, la, _name(f, la), e, t, te, True if a is None else bool(a)), now, now)
            for f, la, e, t, te, a in zip(c["first_name"], c["last_name"], c["email"],
                                          c["team"], c["territory"], c["active"], strict=True))
    ids.update(zip(c["id"], org.load_many(
        "User", ("Username", "FirstName", "LastName", "Name", "Email", "Department", "State",
                 "IsActive"), rows), strict=True))


def _seed_accounts(org: Org, accounts: pa.Table, ids: dict[str, str], now: int) -> None:
    names = ["id", "name", "domain", "industry", "employees", "annual_revenue", "country",
             "state", "city", "tech_stack", "segment", "owner_id", "created_at", "updated_at"]
    accounts = _by_time(accounts, "updated_at")
    c = _columns(accounts, names)
    extra = "Tech_Stack__c" in org.schema["Account"].fields  # a stock org has no custom fields
    rows: list[tuple[tuple[Any, ...], int, int]] = []
    for i in range(accounts.num_rows):
        created = c["created_at"][i] or now
        custom = (c["tech_stack"][i], c["segment"][i]) if extra else ()
        rows.append(((c["name"][i], c["domain"][i], c["industry"][i], _int(c["employees"][i]),
                      c["annual_revenue"][i], c["country"][i], c["state"][i], c["city"][i],
                      *custom, ids.get(c["owner_id"][i] or "")),
                     created, c["updated_at"][i] or created))
    columns = ("Name", "Website", "Industry", "NumberOfEmployees", "AnnualRevenue", "BillingCountry",
               "BillingState", "BillingCity", *(("Tech_Stack__c", "Segment__c") if extra else ()), "OwnerId")
    ids.update(zip(c["id"], org.load_many("Account", columns, rows), strict=True))


def _seed_people(org: Org, leads: pa.Table, ids: dict[str, str], now: int) -> None:
    names = ["id", "email", "first_name", "last_name", "title", "company", "phone", "country",
             "state", "city", "industry", "employees", "annual_revenue", "lead_source",
             "lead_status", "owner_id", "account_id", "kind", "converted", "converted_at__day",
             "created_at", "updated_at"]
    leads = _by_time(leads, "updated_at")
    c = _columns(leads, names)
    lead_ids, lead_rows, contact_ids, contact_rows = [], [], [], []
    for i in range(leads.num_rows):
        first, last = c["first_name"][i], c["last_name"][i] or "Unknown"
        created = c["created_at"][i] or now
        stamp = c["updated_at"][i] or created
        common = (first, last, _name(first, last), c["email"][i], c["title"][i], c["phone"][i],
                  c["lead_source"][i], ids.get(c["owner_id"][i] or ""))
        account = ids.get(c["account_id"][i] or "")
        if c["kind"][i] == "contact" and account is not None:
            contact_ids.append(c["id"][i])
            contact_rows.append(((*common, account, c["country"][i], c["state"][i],
                                  c["city"][i]), created, stamp))
            continue
        converted = bool(c["converted"][i])
        lead_ids.append(c["id"][i])
        lead_rows.append(((*common, c["company"][i] or "Unknown", c["country"][i],
                           c["state"][i], c["city"][i], c["industry"][i],
                           _int(c["employees"][i]), c["annual_revenue"][i],
                           "Closed - Converted" if converted else c["lead_status"][i] or "Open",
                           converted, c["converted_at__day"][i] if converted else None),
                          created, stamp))
    person = ("FirstName", "LastName", "Name", "Email", "Title", "Phone", "LeadSource",
              "OwnerId")
    ids.update(zip(lead_ids, org.load_many("Lead", (
        *person, "Company", "Country", "State", "City", "Industry", "NumberOfEmployees",
        "AnnualRevenue", "Status", "IsConverted", "ConvertedDate"), lead_rows), strict=True))
    ids.update(zip(contact_ids, org.load_many("Contact", (
        *person, "AccountId", "MailingCountry", "MailingState", "MailingCity"), contact_rows),
        strict=True))


def _salesforce_events(events: pa.Table) -> pa.Table:
    """Only the event types Salesforce stores (skips page views etc. without a Python loop)."""
    wanted = pa.array(["call_logged", *_MEETINGS, *EMAIL_SUBJECTS, *_CAMPAIGN_STATUS])
    column = events.column("type")
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return _by_time(events.filter(pc.is_in(column, value_set=wanted)), "occurred_at")


def _batches(table: pa.Table, size: int = 200_000) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, size):
        yield table.slice(start, size)


def _seed_events(org: Org, events: pa.Table, ids: dict[str, str]) -> None:
    names = ["lead_id", "type", "occurred_at", "occurred_at__day", "url", "campaign",
             "duration_seconds"]
    seen_members: set[tuple[str, str]] = set()
    for chunk in _batches(events):
        c = _columns(chunk, names)
        tasks, meetings, members = [], [], []
        for who_key, kind, at, day, url, campaign, seconds in zip(
                *(c[n] for n in names), strict=True):
            who = ids.get(who_key or "")
            if who is None or at is None:
                continue
            if kind == "call_logged":
                tasks.append((("Call", who, "Call", "Call", "Completed", day, None,
                               _int(seconds), at), at, at))
            elif kind in EMAIL_SUBJECTS:
                tasks.append(((EMAIL_SUBJECTS[kind], who, "Email", "Email", "Completed", day,
                               url, None, at), at, at))
            elif kind in _MEETINGS:
                minutes = _int((seconds or 1800) / 60) or 30
                meetings.append(((_MEETINGS[kind], who, at, at, at + minutes * 60_000, minutes,
                                  "Meeting"), at, at))
            elif kind in _CAMPAIGN_STATUS and campaign in ids:
                key = (ids[campaign], who)
                if key not in seen_members:  # one membership per campaign and person
                    seen_members.add(key)
                    lead, contact = (who, None) if who.startswith("00Q") else (None, who)
                    members.append(((key[0], lead, contact, _CAMPAIGN_STATUS[kind], True, day),
                                    at, at))
        org.load_many("Task", ("Subject", "WhoId", "TaskSubtype", "Type", "Status",
                               "ActivityDate", "Description", "CallDurationInSeconds",
                               "CompletedDateTime"), tasks)
        org.load_many("Event", ("Subject", "WhoId", "StartDateTime", "ActivityDateTime",
                                "EndDateTime", "DurationInMinutes", "Type"), meetings)
        org.load_many("CampaignMember", ("CampaignId", "LeadId", "ContactId", "Status",
                                         "HasResponded", "FirstRespondedDate"), members)
