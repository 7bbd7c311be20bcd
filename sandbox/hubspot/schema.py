"""The HubSpot object types and default property definitions the sandbox portal starts with.

Only the objects and properties leadscore reads or writes are here, with HubSpot's internal
names, types and groups (https://knowledge.hubspot.com/properties/hubspots-default-contact-properties
and the CRM v3 properties API). Values are stored and returned as strings, as HubSpot does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "OBJECT_TYPES",
    "ObjectType",
    "default_groups",
    "default_properties",
    "iso_ms",
    "object_type",
    "parse_time_ms",
    "property_definition",
]


@dataclass(frozen=True)
class ObjectType:
    name: str  # path name: "contacts"
    singular: str  # "contact"
    type_id: str  # "0-1"
    modified_property: str  # maintained on every change
    created_property: str
    default_properties: tuple[str, ...]  # returned when the request names none
    read_scope: str
    write_scope: str
    schema_read_scope: str
    schema_write_scope: str
    unique_properties: tuple[str, ...] = ()
    query_properties: tuple[str, ...] = ()  # what a search "query" string matches

    @property
    def label(self) -> str:
        return self.singular.upper()


def _engagement(name: str, singular: str, type_id: str) -> ObjectType:
    # Engagement objects are read and written with the contacts scopes
    # (https://developers.hubspot.com/docs/api/crm/engagements).
    return ObjectType(
        name, singular, type_id, "hs_lastmodifieddate", "hs_createdate",
        ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
        "crm.objects.contacts.read", "crm.objects.contacts.write",
        "crm.schemas.contacts.read", "crm.schemas.contacts.write",
    )


OBJECT_TYPES: dict[str, ObjectType] = {
    t.name: t
    for t in (
        ObjectType(
            "contacts", "contact", "0-1", "lastmodifieddate", "createdate",
            ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
            "crm.objects.contacts.read", "crm.objects.contacts.write",
            "crm.schemas.contacts.read", "crm.schemas.contacts.write",
            unique_properties=("email",),
            query_properties=("email", "firstname", "lastname", "phone", "company"),
        ),
        ObjectType(
            "companies", "company", "0-2", "hs_lastmodifieddate", "createdate",
            ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
            "crm.objects.companies.read", "crm.objects.companies.write",
            "crm.schemas.companies.read", "crm.schemas.companies.write",
            query_properties=("name", "domain", "website", "phone"),
        ),
        _engagement("tasks", "task", "0-27"),
        _engagement("emails", "email", "0-49"),
        _engagement("meetings", "meeting", "0-47"),
        _engagement("calls", "call", "0-48"),
        _engagement("notes", "note", "0-46"),
    )
}

_ALIASES: dict[str, str] = {}
for _t in OBJECT_TYPES.values():
    for _alias in (_t.name, _t.singular, _t.type_id):
        _ALIASES[_alias] = _t.name


def object_type(name: str) -> ObjectType | None:
    """Resolve ``contacts`` / ``contact`` / ``0-1`` (HubSpot accepts all three in paths)."""
    key = _ALIASES.get(name.lower())
    return OBJECT_TYPES[key] if key else None


def property_definition(
    name: str,
    label: str,
    type: str = "string",
    field_type: str = "text",
    group: str = "",
    options: list[str] | None = None,
    *,
    hubspot_defined: bool = True,
    unique: bool = False,
    read_only: bool = False,
    description: str = "",
    created_ms: int | None = None,
) -> dict[str, Any]:
    """A property in the shape ``GET /crm/v3/properties/{objectType}/{name}`` returns."""
    stamp = iso_ms(created_ms if created_ms is not None else 1_577_836_800_000)
    return {
        "updatedAt": stamp,
        "createdAt": stamp,
        "name": name,
        "label": label,
        "type": type,
        "fieldType": field_type,
        "description": description,
        "groupName": group,
        "options": [
            {"label": o, "value": o, "displayOrder": i, "hidden": False}
            for i, o in enumerate(options or [])
        ],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": unique,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
        "formField": not read_only,
        "archived": False,
    }


_LIFECYCLE = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
              "opportunity", "customer", "evangelist", "other"]
_LEAD_STATUS = ["NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED",
                "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING"]
_EMPLOYEE_BANDS = ["1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+"]


def _common(type_: ObjectType, group: str) -> list[dict[str, Any]]:
    d = property_definition
    return [
        d("hs_object_id", "Record ID", "number", "number", group, read_only=True),
        d(type_.created_property, "Create Date", "datetime", "date", group),
        d(type_.modified_property, "Last Modified Date", "datetime", "date", group,
          read_only=True),
        d("hubspot_owner_id", "Owner", "enumeration", "select", group),
    ]


def default_properties(type_: ObjectType) -> list[dict[str, Any]]:
    d = property_definition
    if type_.name == "contacts":
        g = "contactinformation"
        return _common(type_, g) + [
            d("email", "Email", "string", "text", g, unique=True),
            d("firstname", "First Name", group=g),
            d("lastname", "Last Name", group=g),
            d("jobtitle", "Job Title", group=g),
            d("company", "Company Name", group=g),
            d("phone", "Phone Number", "string", "phonenumber", g),
            d("country", "Country/Region", group=g),
            d("state", "State/Region", group=g),
            d("city", "City", group=g),
            d("industry", "Industry", group=g),
            d("numemployees", "Number of Employees", "enumeration", "select", g, _EMPLOYEE_BANDS),
            d("annualrevenue", "Annual Revenue", group=g),
            d("website", "Website URL", group=g),
            d("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", g, _LIFECYCLE),
            d("hs_lead_status", "Lead Status", "enumeration", "radio", "sales_properties",
              _LEAD_STATUS),
            d("hs_analytics_source", "Original Source", "enumeration", "select",
              "analyticsinformation", ["ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING",
                                       "SOCIAL_MEDIA", "REFERRALS", "OTHER_CAMPAIGNS",
                                       "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL"]),
            d("hs_latest_source", "Latest Source", group="analyticsinformation"),
            d("associatedcompanyid", "Primary Associated Company ID", "number", "number", g),
            d("hs_merged_object_ids", "Merged Contact IDs", "enumeration", "checkbox", g, read_only=True),
            # "Date entered <stage>": HubSpot stamps the moment a contact enters each lifecycle
            # stage (https://knowledge.hubspot.com/records/use-lifecycle-stages, calculated
            # properties hs_v2_date_entered_<stage id>)
            *(d(f"hs_v2_date_entered_{stage}", f"Date entered {stage}", "datetime", "date", g, read_only=True)
              for stage in _LIFECYCLE),
        ]
    if type_.name == "companies":
        g = "companyinformation"
        return _common(type_, g) + [
            d("name", "Company name", group=g),
            d("domain", "Company Domain Name", group=g),
            d("website", "Website URL", group=g),
            d("industry", "Industry", group=g),
            d("numberofemployees", "Number of Employees", "number", "number", g),
            d("annualrevenue", "Annual Revenue", "number", "number", g),
            d("country", "Country/Region", group=g),
            d("state", "State/Region", group=g),
            d("city", "City", group=g),
            d("phone", "Phone Number", "string", "phonenumber", g),
            d("web_technologies", "Web Technologies", "enumeration", "checkbox", g),
            d("type", "Type", "enumeration", "select", g,
              ["PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER"]),
        ]
    g = f"{type_.singular}information"
    specific = {
        "tasks": [d("hs_task_subject", "Task Title", group=g),
                  d("hs_task_body", "Notes", "string", "html", g),
                  d("hs_task_status", "Task Status", "enumeration", "select", g,
                    ["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"]),
                  d("hs_task_priority", "Priority", "enumeration", "select", g,
                    ["NONE", "LOW", "MEDIUM", "HIGH"]),
                  d("hs_task_type", "Task Type", "enumeration", "select", g,
                    ["CALL", "EMAIL", "LINKED_IN", "MEETING", "TODO"])],
        "emails": [d("hs_email_subject", "Subject", group=g),
                   d("hs_email_text", "Body", "string", "textarea", g),
                   d("hs_email_direction", "Email direction", "enumeration", "select", g,
                     ["EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"]),
                   d("hs_email_status", "Email send status", "enumeration", "select", g,
                     ["BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"])],
        "meetings": [d("hs_meeting_title", "Meeting name", group=g),
                     d("hs_meeting_body", "Meeting description", "string", "html", g),
                     d("hs_meeting_start_time", "Start Time", "datetime", "date", g),
                     d("hs_meeting_end_time", "End Time", "datetime", "date", g),
                     d("hs_meeting_outcome", "Meeting outcome", "enumeration", "select", g,
                       ["SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"])],
        "calls": [d("hs_call_title", "Call Title", group=g),
                  d("hs_call_body", "Call notes", "string", "html", g),
                  d("hs_call_duration", "Call duration (ms)", "number", "number", g),
                  d("hs_call_direction", "Call direction", "enumeration", "select", g,
                    ["INBOUND", "OUTBOUND"]),
                  d("hs_call_status", "Call status", "enumeration", "select", g,
                    ["BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING",
                     "FAILED", "IN_PROGRESS", "NO_ANSWER", "QUEUED", "RINGING"])],
        "notes": [d("hs_note_body", "Note body", "string", "html", g)],
    }[type_.name]
    return _common(type_, g) + specific + [
        d("hs_timestamp", "Activity date", "datetime", "date", g),
    ]


def default_groups(type_: ObjectType) -> list[dict[str, Any]]:
    names = {
        "contacts": [("contactinformation", "Contact information"),
                     ("emailinformation", "Email information"),
                     ("analyticsinformation", "Web analytics history"),
                     ("sales_properties", "Sales properties")],
        "companies": [("companyinformation", "Company information")],
    }.get(type_.name, [(f"{type_.singular}information", f"{type_.singular.title()} information")])
    return [{"name": n, "label": label, "displayOrder": i, "archived": False}
            for i, (n, label) in enumerate(names)]


def iso_ms(ms: int | float) -> str:
    """Epoch milliseconds → HubSpot's datetime string (``2024-01-31T09:15:00.123Z``)."""
    ms = int(ms)
    secs, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:03d}Z"


def parse_time_ms(value: Any) -> int | None:
    """A filter or property value as epoch ms: digits (ms), ISO datetime, or ISO date."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    from datetime import datetime, timezone

    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)
