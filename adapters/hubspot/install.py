"""``install``: the ``leadscore`` property group and the properties leadscore writes, idempotently;
the token's scopes, naming exactly the missing ones; and the mapping's properties checked against
the portal.

A plan is computed first (what exists, what would be created, what is wrong), so ``--dry-run``
prints it without changing anything; ``install`` applies a plan and returns a fresh one, which is
"up to date" when everything is in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.base import FieldSpec, InstallPlan
from adapters.hubspot.transport import Transport
from adapters.retry import RequestRejected
from mappings.loader import HubSpotMapping

__all__ = ["REQUIRED_SCOPES", "OPTIONAL_SCOPES", "check_mapping", "field_specs", "granted_scopes", "hubspot_type",
           "install", "plan"]

#: scope → why leadscore needs it (sync and install cannot work without these).
REQUIRED_SCOPES: dict[str, str] = {
    "crm.objects.contacts.read": "read contacts and their engagement",
    "crm.objects.contacts.write": "write scores and tasks to contacts",
    "crm.objects.companies.read": "read companies",
    "crm.schemas.contacts.read": "check the contact properties",
    "crm.schemas.contacts.write": "create the leadscore contact properties",
    "crm.objects.owners.read": "list owners to assign leads",
}
#: Needed only for some features; reported, not required.
OPTIONAL_SCOPES: dict[str, str] = {
    "crm.objects.companies.write": "write account scores to companies",
    "crm.schemas.companies.read": "check the company properties",
    "crm.schemas.companies.write": "create the leadscore company properties",
    "forms": "read form submissions",
    "content": "read marketing email events (opens, clicks, bounces, unsubscribes)",
    "automation.sequences.enrollments.write": "enroll contacts in sequences",
}

_TYPES = {"number": ("number", "number"), "text": ("string", "text"), "textarea": ("string", "textarea"),
          "datetime": ("datetime", "date"), "date": ("date", "date"), "bool": ("bool", "booleancheckbox"),
          "enumeration": ("enumeration", "select")}


def hubspot_type(spec: FieldSpec) -> tuple[str, str]:
    """(HubSpot ``type``, ``fieldType``) for a field spec."""
    return _TYPES[spec.type]


def field_specs(mapping: HubSpotMapping) -> list[FieldSpec]:
    """The properties leadscore writes, per the mapping's ``write_back``."""
    out = []
    for obj in ("contacts", "companies"):
        for spec in getattr(mapping.write_back, obj).values():
            out.append(FieldSpec(obj, spec.name, spec.label, spec.type, spec.description or
                                 f"Written by leadscore ({spec.label.lower()})", tuple(spec.options)))
    return out


def granted_scopes(t: Transport) -> set[str] | None:
    """The token's scopes by introspection, or None when the portal will not say."""
    token = t.token
    try:
        if t.credentials.oauth:
            data, _ = t.raw("read the token's scopes", "GET", f"/oauth/v1/access-tokens/{token}")
        else:
            data, _ = t.raw("read the token's scopes", "POST", "/oauth/v2/private-apps/get/access-token-info",
                            body={"tokenKey": token})
    except RequestRejected:
        return None
    return {str(s) for s in (data or {}).get("scopes") or []}


def _properties(t: Transport, obj: str) -> dict[str, dict[str, Any]]:
    api = t.api("crm.properties.core_api")
    data, _ = t.call(f"list {obj} properties", api.get_all, obj, endpoint="GET /crm/v3/properties/{objectType}")
    return {p["name"]: p for p in data.get("results") or []}


def _groups(t: Transport, obj: str) -> set[str]:
    api = t.api("crm.properties.groups_api")
    data, _ = t.call(f"list {obj} property groups", api.get_all, obj,
                     endpoint="GET /crm/v3/properties/{objectType}/groups")
    return {g["name"] for g in data.get("results") or []}


def plan(t: Transport, fields: Sequence[FieldSpec], group: str) -> InstallPlan:
    """What exists, what to create, and what is wrong (missing scopes, a property of another type)."""
    result = InstallPlan()
    scopes = granted_scopes(t)
    objects = sorted({f.object for f in fields})
    if scopes is not None:
        needed = dict(REQUIRED_SCOPES)
        if "companies" in objects:
            needed.update({s: OPTIONAL_SCOPES[s] for s in ("crm.objects.companies.write", "crm.schemas.companies.read",
                                                           "crm.schemas.companies.write")})
        for scope, why in sorted(needed.items()):
            if scope not in scopes:
                result.problems.append(f"missing scope {scope} (to {why}): add it to the app and issue a new token")
        if result.problems:
            return result
    for obj in objects:
        existing = _properties(t, obj)
        for spec in (f for f in fields if f.object == obj):
            prop = existing.get(spec.name)
            if prop is None:
                result.to_create.append(spec)
                continue
            kind = hubspot_type(spec)[0]
            missing = sorted(set(spec.options) - {str(o.get("value")) for o in prop.get("options") or []})
            if prop.get("type") != kind:
                result.problems.append(f"{obj} property {spec.name} exists with type {prop.get('type')}, "
                                       f"leadscore writes {kind}: rename it in the mapping or delete it")
            elif spec.type == "enumeration" and missing:
                result.problems.append(f"{obj} property {spec.name} lacks the option(s) {', '.join(missing)} "
                                       f"leadscore writes: add them in HubSpot's property settings")
            else:
                result.existing.append(spec)
    return result


def _definition(spec: FieldSpec, group: str) -> dict[str, Any]:
    kind, field_type = hubspot_type(spec)
    body: dict[str, Any] = {"name": spec.name, "label": spec.label, "type": kind, "fieldType": field_type,
                            "groupName": group, "description": spec.description, "formField": False}
    if spec.type == "bool":
        body["options"] = [{"label": "Yes", "value": "true", "displayOrder": 0},
                           {"label": "No", "value": "false", "displayOrder": 1}]
    elif spec.options:
        body["options"] = [{"label": o, "value": o, "displayOrder": i} for i, o in enumerate(spec.options)]
    return body


def install(t: Transport, planned: InstallPlan, group: str, group_label: str) -> None:
    """Create the group and the planned properties; ones that appeared meanwhile are fine (409)."""
    if planned.problems:
        raise ValueError("install: the plan has problems; fix them first")
    groups = t.api("crm.properties.groups_api")
    batch = t.api("crm.properties.batch_api")
    core = t.api("crm.properties.core_api")
    for obj in sorted({s.object for s in planned.to_create}):
        if group not in _groups(t, obj):
            try:
                t.call(f"create the {group} {obj} property group", groups.create, obj,
                       {"name": group, "label": group_label, "displayOrder": -1},
                       endpoint="POST /crm/v3/properties/{objectType}/groups")
            except RequestRejected as exc:
                if exc.status != 409:
                    raise
        specs = [_definition(s, group) for s in planned.to_create if s.object == obj]
        try:
            t.call(f"create {len(specs)} {obj} properties", batch.create, obj, {"inputs": specs},
                   endpoint="POST /crm/v3/properties/{objectType}/batch/create")
        except RequestRejected as exc:
            if exc.status != 409:
                raise
            for body in specs:  # some exist already: create the rest one by one
                try:
                    t.call(f"create {obj} property {body['name']}", core.create, obj, body,
                           endpoint="POST /crm/v3/properties/{objectType}")
                except RequestRejected as inner:
                    if inner.status != 409:
                        raise


def check_mapping(t: Transport, mapping: HubSpotMapping) -> list[str]:
    """Every mapped property the portal lacks, as "key path → property: problem" lines."""
    missing: list[str] = []
    cache: dict[str, dict[str, dict[str, Any]]] = {}

    def has(obj: str, prop: str) -> bool:
        if obj not in cache:
            cache[obj] = _properties(t, obj)
        return prop in cache[obj]

    for obj, singular in (("contacts", "contact"), ("companies", "company")):
        section = getattr(mapping, obj)
        for kind in ("fields", "custom"):
            for name, prop in getattr(section, kind).items():
                if not has(obj, prop):
                    missing.append(f"{obj}.{kind}.{name}: the portal has no {singular} property '{prop}'")
        for key, spec in getattr(mapping.write_back, obj).items():
            if not has(obj, spec.name):
                missing.append(f"write_back.{obj}.{key}: the portal has no {singular} property '{spec.name}' "
                               f"(run `leadscore install --crm hubspot`)")
    if mapping.contacts.account_from == "property" and not has("contacts", "associatedcompanyid"):
        missing.append("contacts.account_from: the portal has no contact property 'associatedcompanyid'")
    for i, e in enumerate(mapping.events.engagements):
        if e.property and not has(e.object, e.property):
            missing.append(f"events.engagements[{i}].property: the portal has no {e.object} property '{e.property}'")
    return missing
