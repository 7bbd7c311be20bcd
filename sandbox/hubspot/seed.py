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


def _values(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """The cells as Python values; repeated strings share one object (a million contacts
    carry only a few hundred distinct countries, industries or titles)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not (pa.types.is_string(arr.type) or pa.types.is_dictionary(arr.type)):
        return arr.to_pylist()
    encoded = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    if not pa.types.is_dictionary(arr.type) and len(encoded.dictionary) > len(arr) // 2:
        return arr.to_pylist()  # mostly distinct (emails, phones): nothing to share
    uniques = encoded.dictionary.to_pylist() + [None]
    idx = encoded.indices.fill_null(len(uniques) - 1).to_numpy(zero_copy_only=False)
    return [uniques[i] for i in idx.tolist()]


def _iso(column: pa.ChunkedArray | pa.Array) -> list[str | None]:
    """Timestamps as HubSpot datetime strings, formatted by Arrow in one pass."""
    ms_ts = pc.cast(column, pa.timestamp("ms", tz="UTC"))
    return pc.strftime(ms_ts, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()


def _rows(columns: dict[str, list[Any]], created: np.ndarray, updated: np.ndarray,
          first_id: int = 1) -> list[tuple[int, dict[str, str], int, int]]:
    """Record tuples for :meth:`ObjectStore.bulk_load`, skipping empty values."""
    names = list(columns)
    cols = [columns[n] for n in names]
    created_l, updated_l = created.tolist(), np.maximum(updated, created).tolist()
    out = []
    for i, cells in enumerate(zip(*cols, strict=True)):
        props = {n: v for n, v in zip(names, cells, strict=True) if v is not None and v != ""}
        out.append((first_id + i, props, created_l[i], updated_l[i]))
    return out


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
    col = accounts.column
    domains = _values(col("domain"))
    techs = _values(col("tech_stack"))
    columns = {
        "name": _values(col("name")), "domain": domains, "industry": _values(col("industry")),
        "numberofemployees": [_num(v) for v in col("employees").to_pylist()],
        "annualrevenue": [_num(v) for v in col("annual_revenue").to_pylist()],
        "country": _values(col("country")), "state": _values(col("state")),
        "city": _values(col("city")), "web_technologies": techs,
        "segment": _values(col("segment")),
        "hubspot_owner_id": [owner_ids.get(o or "") for o in _values(col("owner_id"))],
        "website": [f"https://www.{d}" if d else None for d in domains],
    }
    portal.stores["companies"].bulk_load(_rows(columns, _ms(col("created_at")),
                                               _ms(col("updated_at"))))
    options = sorted({t for stack in set(techs) if stack for t in stack.split(";")})
    props["web_technologies"]["options"] = [
        {"label": t, "value": t, "displayOrder": i, "hidden": False}
        for i, t in enumerate(options)]
    return {a: i + 1 for i, a in enumerate(col("id").to_pylist())}


def _num(value: Any) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else str(value)


def _bands(employees: pa.ChunkedArray) -> list[str | None]:
    values = np.asarray(employees.to_numpy(), dtype=float)
    tops = np.array([top for top, _ in _BANDS], dtype=float)
    labels = [label for _, label in _BANDS] + ["1000+"]
    idx = np.searchsorted(tops, values, side="left").tolist()
    return [None if v != v else labels[i] for v, i in zip(values.tolist(), idx, strict=True)]


def _contacts(portal: Portal, leads: pa.Table, owner_ids: dict[str, str],
              company_ids: dict[str, int]) -> None:
    col = leads.column
    companies = [company_ids.get(a) if a else None for a in _values(col("account_id"))]
    columns = {
        "email": _values(col("email")), "firstname": _values(col("first_name")),
        "lastname": _values(col("last_name")), "jobtitle": _values(col("title")),
        "company": _values(col("company")), "phone": _values(col("phone")),
        "country": _values(col("country")), "state": _values(col("state")),
        "city": _values(col("city")), "industry": _values(col("industry")),
        "numemployees": _bands(col("employees")),
        "annualrevenue": [_num(v) for v in col("annual_revenue").to_pylist()],
        "lifecyclestage": _values(col("lifecycle_stage")),
        "hs_lead_status": [_LEAD_STATUS.get(v or "", v) for v in _values(col("lead_status"))],
        "hs_analytics_source": [_SOURCE.get(v or "") for v in _values(col("lead_source"))],
        "hs_latest_source": _values(col("lead_source")),
        "hubspot_owner_id": [owner_ids.get(o or "") for o in _values(col("owner_id"))],
        "associatedcompanyid": [str(c) if c else None for c in companies],
    }
    portal.stores["contacts"].bulk_load(_rows(columns, _ms(col("created_at")),
                                              _ms(col("updated_at"))))
    forward = portal.assoc.setdefault(("contacts", "companies"), {})
    backward = portal.assoc.setdefault(("companies", "contacts"), {})
    for contact, company in enumerate(companies, start=1):
        if company:
            forward[contact] = [company]
            backward.setdefault(company, []).append(contact)


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
        # portals hold captured (non-HubSpot) and flow (pop-up) forms besides "hubspot" ones
        # (https://developers.hubspot.com/docs/api-reference/latest/marketing/forms: formTypes)
        "id": str(uuid.uuid5(_FORM_NAMESPACE, n)), "name": n, "formType": ("hubspot", "captured", "flow")[i % 3],
        "createdAt": stamp, "updatedAt": stamp, "archived": False,
        "fieldGroups": [{"groupType": "default_group", "richTextType": "text", "fields": [
            {"objectTypeId": "0-1", "name": f, "label": f, "fieldType": "single_line_text",
             "required": f == "email", "hidden": False}
            for f in ("email", "firstname", "lastname", "company")]}],
    } for i, n in enumerate(names)]
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
    lead_owner = [owner_ids.get(o or "") for o in _values(tenant.leads.column("owner_id"))]
    kinds = (code[rows] - lo).tolist()
    whens = ms[rows].tolist()
    whos = contact[rows].tolist()
    duration = _plain(events.column("duration_seconds"), rows).to_pylist()
    url = _values(_plain(events.column("url"), rows))
    start_iso = _iso(pa.array(ms[rows], pa.timestamp("ms", tz="UTC")))
    ends = ms[rows] + (np.nan_to_num(np.asarray(
        pa.array(duration, pa.float64()).to_numpy(zero_copy_only=False)), nan=1800.0)
        * 1000).astype(np.int64)
    end_iso = _iso(pa.array(ends, pa.timestamp("ms", tz="UTC")))
    batches: dict[str, list[tuple[int, dict[str, str], int, int]]] = {
        "emails": [], "meetings": [], "calls": []}
    next_ids = {t: portal.stores[t].next_id for t in batches}
    for k, kind in enumerate(kinds):
        kind_name = _ENGAGEMENT[kind]
        when, who = whens[k], whos[k]
        props: dict[str, str] = {"hs_timestamp": start_iso[k] or ""}
        owner = lead_owner[who - 1]
        if owner:
            props["hubspot_owner_id"] = owner
        if kind_name == "email_reply":
            target = "emails"
            props.update(hs_email_direction="INCOMING_EMAIL", hs_email_status="SENT",
                         hs_email_subject="Re: your message")
        elif kind_name == "call_logged":
            target = "calls"
            props.update(hs_call_title="Call", hs_call_direction="OUTBOUND",
                         hs_call_status="COMPLETED",
                         hs_call_duration=str(int((duration[k] or 0) * 1000)))
        else:
            target = "meetings"
            props.update(hs_meeting_title=url[k] or "Meeting",
                         hs_meeting_start_time=start_iso[k] or "",
                         hs_meeting_end_time=end_iso[k] or "",
                         hs_meeting_outcome="SCHEDULED" if kind_name == "meeting_booked"
                         else "COMPLETED")
        id_ = next_ids[target] + len(batches[target])
        batches[target].append((id_, props, when, when))
        forward = portal.assoc.setdefault((target, "contacts"), {})
        forward[id_] = [who]
        portal.assoc.setdefault(("contacts", target), {}).setdefault(who, []).append(id_)
    for target, batch in batches.items():
        portal.stores[target].bulk_load(batch)


def _sequences(portal: Portal) -> None:
    for i, name in enumerate(("Inbound MQL follow-up", "Trial nurture", "Re-engage dormant")):
        sid = str(400_001 + i)
        portal.sequences[sid] = {"id": sid, "name": name, "createdAt": iso_ms(1_672_531_200_000),
                                 "updatedAt": iso_ms(1_672_531_200_000),
                                 "userId": str(portal.owners[0]["userId"]) if portal.owners
                                 else "", "steps": []}
