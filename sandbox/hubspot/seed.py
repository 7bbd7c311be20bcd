"""Fill a sandbox portal from a synthetic tenant (:class:`sandbox.tenant_schema.Tenant`).

Where each canonical record lands in HubSpot:

- owners → ``/crm/v3/owners`` (ids ``10000001…`` in tenant order; inactive owners archived);
- accounts → companies, leads (both kinds) → contacts, ids ``1…`` in tenant order, so the
  i-th lead of the tenant is contact ``i + 1`` (:func:`contact_id_of` maps tenant ids);
- ``email_reply`` → ``emails`` (incoming), ``meeting_booked``/``meeting_held`` → ``meetings``
  (SCHEDULED/COMPLETED), ``call_logged`` → ``calls``; each associated to its contact;
- ``page_view`` → web analytics event ``e_visited_page``; ``product_usage``,
  ``webinar_attended`` and ``campaign_response`` → custom behavioural events
  ``pe<portalId>_<type>`` in the same events API;
- ``form_submit`` → a submission of the form (one HubSpot form per tenant form name);
- ``email_sent/open/click/bounce/unsubscribe`` → marketing email events
  SENT/OPEN/CLICK/BOUNCE/STATUSCHANGE, ``emailCampaignId`` one per tenant email id.

Events stay columnar (:class:`~sandbox.hubspot.eventlog.EventLog`); only engagement objects
become records. Everything is vectorised except building the record dicts.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sandbox.hubspot.eventlog import EventLog
from sandbox.hubspot.marketing import EMAIL_EVENT_TYPES
from sandbox.hubspot.portal import Portal
from sandbox.hubspot.schema import iso_ms, property_definition

__all__ = ["contact_id_of", "seed_portal"]

_LEAD_STATUS = {"Open - Not Contacted": "NEW", "Working - Contacted": "IN_PROGRESS",
                "Closed - Converted": "OPEN_DEAL", "Closed - Not Converted": "UNQUALIFIED"}
_SOURCE = {"Web": "DIRECT_TRAFFIC", "Organic Search": "ORGANIC_SEARCH",
           "Paid Search": "PAID_SEARCH", "Referral": "REFERRALS", "Partner": "REFERRALS",
           "Social": "SOCIAL_MEDIA", "Event": "OFFLINE", "Outbound": "OFFLINE",
           "Purchased List": "OFFLINE", "Webinar": "OTHER_CAMPAIGNS"}
_BANDS = ((5, "1-5"), (25, "5-25"), (50, "25-50"), (100, "50-100"), (500, "100-500"),
          (1000, "500-1000"))
_WEB = ("page_view", "product_usage", "webinar_attended", "campaign_response")
_EMAIL = {"email_sent": "SENT", "email_open": "OPEN", "email_click": "CLICK",
          "email_bounce": "BOUNCE", "email_unsubscribe": "STATUSCHANGE"}
_ENGAGEMENT = ("email_reply", "meeting_booked", "meeting_held", "call_logged")
_FORM_NAMESPACE = uuid.UUID("8f2b8f0e-3c53-4f36-9d7e-6b1c1e0a5a11")


def contact_id_of(tenant: Any) -> dict[str, int]:
    """Tenant lead id → HubSpot contact id."""
    return {lead_id: i + 1 for i, lead_id in enumerate(tenant.leads.column("id").to_pylist())}


def _ms(column: pa.ChunkedArray) -> np.ndarray:
    us = pc.cast(column, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(us.to_numpy(zero_copy_only=False), dtype=np.int64) // 1000


def _positions(column: pa.ChunkedArray | pa.Array, values: list[str]) -> np.ndarray:
    """For each cell, its index in ``values`` (-1 when absent or null); works on dictionary
    columns without decoding them."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lookup = pa.array(values, pa.string())
    if pa.types.is_dictionary(arr.type):
        dict_pos = pc.index_in(arr.dictionary, value_set=lookup).fill_null(-1)
        table = np.asarray(dict_pos.to_numpy(zero_copy_only=False), dtype=np.int64)
        idx = np.asarray(arr.indices.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
        out = table[idx] if len(table) else np.full(len(arr), -1, np.int64)
        if arr.null_count:
            out[np.asarray(arr.is_null().to_numpy(zero_copy_only=False))] = -1
        return out
    pos = pc.index_in(arr, value_set=lookup).fill_null(-1)
    return np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.int64)


def _plain(column: pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    taken = column.take(pa.array(rows, pa.int64())).combine_chunks()
    if pa.types.is_dictionary(taken.type):
        taken = taken.dictionary_decode()
    return taken


def seed_portal(portal: Portal, tenant: Any) -> None:
    """Load owners, companies, contacts, engagements and events of ``tenant`` into ``portal``."""
    with portal.lock:
        owner_ids = _owners(portal, tenant.owners)
        company_ids = _companies(portal, tenant.accounts, owner_ids)
        _contacts(portal, tenant.leads, owner_ids, company_ids)
        _events(portal, tenant, owner_ids)
        _sequences(portal)


def _owners(portal: Portal, owners: pa.Table) -> dict[str, str]:
    mapping = {}
    for row in owners.to_pylist():
        owner = portal.add_owner(row.get("email") or "", row.get("first_name") or "",
                                 row.get("last_name") or "",
                                 [t for t in (row.get("team"), row.get("territory")) if t])
        if row.get("active") is False:
            owner["archived"] = True
        mapping[row["id"]] = owner["id"]
    return mapping


def _companies(portal: Portal, accounts: pa.Table, owner_ids: dict[str, str]) -> dict[str, int]:
    props = portal.properties["companies"]
    if "segment" not in props:
        props["segment"] = property_definition("segment", "Segment", "string", "text",
                                               "companyinformation", hubspot_defined=False)
    techs: set[str] = set()
    rows = []
    mapping = {}
    created = _ms(accounts.column("created_at"))
    updated = _ms(accounts.column("updated_at"))
    for i, a in enumerate(accounts.drop_columns(["created_at", "updated_at"]).to_pylist()):
        if a.get("tech_stack"):
            techs.update(a["tech_stack"].split(";"))
        p = {
            "name": a.get("name"), "domain": a.get("domain"), "industry": a.get("industry"),
            "numberofemployees": _num(a.get("employees")),
            "annualrevenue": _num(a.get("annual_revenue")), "country": a.get("country"),
            "state": a.get("state"), "city": a.get("city"),
            "web_technologies": a.get("tech_stack"), "segment": a.get("segment"),
            "hubspot_owner_id": owner_ids.get(a.get("owner_id") or ""),
            "website": f"https://www.{a['domain']}" if a.get("domain") else None,
        }
        rows.append((i + 1, {k: v for k, v in p.items() if v not in (None, "")},
                     int(created[i]), int(max(updated[i], created[i]))))
        mapping[a["id"]] = i + 1
    portal.stores["companies"].bulk_load(rows)
    props["web_technologies"]["options"] = [
        {"label": t, "value": t, "displayOrder": i, "hidden": False}
        for i, t in enumerate(sorted(techs))]
    return mapping


def _num(value: Any) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else str(value)


def _band(employees: Any) -> str | None:
    if employees is None:
        return None
    return next((label for top, label in _BANDS if employees <= top), "1000+")


def _contacts(portal: Portal, leads: pa.Table, owner_ids: dict[str, str],
              company_ids: dict[str, int]) -> None:
    created = _ms(leads.column("created_at"))
    updated = _ms(leads.column("updated_at"))
    keep = [c for c in leads.column_names if c not in ("created_at", "updated_at",
                                                          "converted_at")]
    rows = []
    links = []
    for i, lead in enumerate(leads.select(keep).to_pylist()):
        company = company_ids.get(lead.get("account_id") or "")
        p = {
            "email": lead.get("email"), "firstname": lead.get("first_name"),
            "lastname": lead.get("last_name"), "jobtitle": lead.get("title"),
            "company": lead.get("company"), "phone": lead.get("phone"),
            "country": lead.get("country"), "state": lead.get("state"),
            "city": lead.get("city"), "industry": lead.get("industry"),
            "numemployees": _band(lead.get("employees")),
            "annualrevenue": _num(lead.get("annual_revenue")),
            "lifecyclestage": lead.get("lifecycle_stage"),
            "hs_lead_status": _LEAD_STATUS.get(lead.get("lead_status") or "",
                                               lead.get("lead_status")),
            "hs_analytics_source": _SOURCE.get(lead.get("lead_source") or ""),
            "hs_latest_source": lead.get("lead_source"),
            "hubspot_owner_id": owner_ids.get(lead.get("owner_id") or ""),
            "associatedcompanyid": str(company) if company else None,
        }
        rows.append((i + 1, {k: v for k, v in p.items() if v not in (None, "")},
                     int(created[i]), int(max(updated[i], created[i]))))
        if company:
            links.append((i + 1, company))
    portal.stores["contacts"].bulk_load(rows)
    for contact, company in links:
        portal.associate("contacts", contact, "companies", company)


def _events(portal: Portal, tenant: Any, owner_ids: dict[str, str]) -> None:
    events: pa.Table = tenant.events
    if events.num_rows == 0:
        return
    lead_ids = tenant.leads.column("id").to_pylist()
    contact = _positions(events.column("lead_id"), lead_ids) + 1  # 0 = unknown lead
    types = list(_WEB) + list(_EMAIL) + list(_ENGAGEMENT) + ["form_submit"]
    code = _positions(events.column("type"), types)
    ms = _ms(events.column("occurred_at"))
    valid = contact > 0
    # Web analytics and custom behavioural events.
    web = np.flatnonzero(valid & (code >= 0) & (code < len(_WEB)))
    portal.web_event_types = ["e_visited_page"] + [f"pe{portal.portal_id}_{t}" for t in _WEB[1:]]
    portal.web_events = EventLog(contact[web], ms[web], pa.table({
        "id": _plain(events.column("id"), web),
        "hs_url": _plain(events.column("url"), web),
        "hs_time_on_page": _plain(events.column("duration_seconds"), web),
        "hs_campaign": _plain(events.column("campaign"), web),
    }), codes=code[web])
    # Marketing email events.
    lo = len(_WEB)
    mail = np.flatnonzero(valid & (code >= lo) & (code < lo + len(_EMAIL)))
    email_ids = sorted(set(_plain(events.column("email_id"), mail).drop_null().to_pylist()))
    campaign_pos = _positions(_plain(events.column("email_id"), mail), email_ids)
    mail_types = [EMAIL_EVENT_TYPES.index(v) for v in _EMAIL.values()]
    mail_codes = np.asarray(mail_types, np.int32)[code[mail] - lo]
    portal.email_events = EventLog(contact[mail], ms[mail], pa.table({
        "id": _plain(events.column("id"), mail),
        "type": pa.array([EMAIL_EVENT_TYPES[c] for c in mail_codes.tolist()], pa.string()),
        "campaign_id": pa.array(np.where(campaign_pos >= 0, 100_001 + campaign_pos, 0)),
        "url": _plain(events.column("url"), mail),
    }), codes=mail_codes)
    # Form submissions: one form per tenant form name.
    forms = np.flatnonzero(valid & (code == len(types) - 1))
    names = sorted(set(_plain(events.column("form"), forms).drop_null().to_pylist()))
    stamp = iso_ms(int(ms.min()))
    portal.forms = [{
        "id": str(uuid.uuid5(_FORM_NAMESPACE, n)), "name": n, "formType": "hubspot",
        "createdAt": stamp, "updatedAt": stamp, "archived": False,
        "fieldGroups": [{"groupType": "default_group", "richTextType": "text", "fields": [
            {"objectTypeId": "0-1", "name": f, "label": f, "fieldType": "single_line_text",
             "required": f == "email", "hidden": False}
            for f in ("email", "firstname", "lastname", "company")]}],
    } for n in names]
    form_index = _positions(_plain(events.column("form"), forms), names)
    ok = form_index >= 0
    portal.form_submissions = EventLog(form_index[ok], ms[forms][ok], pa.table({
        "contact_id": pa.array(contact[forms][ok]),
        "page_url": _plain(events.column("url"), forms[ok]),
        "conversion_id": _plain(events.column("id"), forms[ok]),
    }))
    _engagements(portal, tenant, events, contact, code, ms, valid, owner_ids)


def _engagements(portal: Portal, tenant: Any, events: pa.Table, contact: np.ndarray,
                 code: np.ndarray, ms: np.ndarray, valid: np.ndarray,
                 owner_ids: dict[str, str]) -> None:
    lo = len(_WEB) + len(_EMAIL)
    rows = np.flatnonzero(valid & (code >= lo) & (code < lo + len(_ENGAGEMENT)))
    rows = rows[np.argsort(ms[rows], kind="stable")]  # ids increase with time
    owners = tenant.leads.column("owner_id").to_pylist()
    duration = _plain(events.column("duration_seconds"), rows).to_pylist()
    url = _plain(events.column("url"), rows).to_pylist()
    batches: dict[str, list[tuple[int, dict[str, str], int, int]]] = {
        "emails": [], "meetings": [], "calls": []}
    links: list[tuple[str, int, int]] = []
    for k, row in enumerate(rows.tolist()):
        kind = _ENGAGEMENT[code[row] - lo]
        when, who = int(ms[row]), int(contact[row])
        props = {"hs_timestamp": iso_ms(when)}
        owner = owner_ids.get(owners[who - 1] or "")
        if owner:
            props["hubspot_owner_id"] = owner
        if kind == "email_reply":
            target = "emails"
            props.update(hs_email_direction="INCOMING_EMAIL", hs_email_status="SENT",
                         hs_email_subject="Re: your message")
        elif kind == "call_logged":
            target = "calls"
            props.update(hs_call_title="Call", hs_call_direction="OUTBOUND",
                         hs_call_status="COMPLETED",
                         hs_call_duration=str(int((duration[k] or 0) * 1000)))
        else:
            target = "meetings"
            end = when + int((duration[k] or 1800) * 1000)
            props.update(hs_meeting_title=url[k] or "Meeting", hs_meeting_start_time=iso_ms(when),
                         hs_meeting_end_time=iso_ms(end), hs_meeting_outcome="SCHEDULED"
                         if kind == "meeting_booked" else "COMPLETED")
        store = portal.stores[target]
        id_ = store.next_id + len(batches[target])
        batches[target].append((id_, props, when, when))
        links.append((target, id_, who))
    for target, batch in batches.items():
        portal.stores[target].bulk_load(batch)
    for target, id_, who in links:
        portal.associate(target, id_, "contacts", who)


def _sequences(portal: Portal) -> None:
    for i, name in enumerate(("Inbound MQL follow-up", "Trial nurture", "Re-engage dormant")):
        sid = str(400_001 + i)
        portal.sequences[sid] = {"id": sid, "name": name, "createdAt": iso_ms(1_672_531_200_000),
                                 "updatedAt": iso_ms(1_672_531_200_000),
                                 "userId": str(portal.owners[0]["userId"]) if portal.owners
                                 else "", "steps": []}
