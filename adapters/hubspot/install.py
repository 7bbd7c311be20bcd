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
from adapters.hubspot.streams import scope_needs
from adapters.hubspot.transport import Transport
from adapters.retry import RequestRejected
from mappings.loader import HubSpotMapping, load_hubspot_mapping

__all__ = ["REQUIRED_SCOPES", "OPTIONAL_SCOPES", "check_mapping", "field_specs", "granted_scopes", "hubspot_type",
           "install", "plan"]

#: scope → why, for the default mapping (see :func:`adapters.hubspot.streams.scope_needs`).
REQUIRED_SCOPES, OPTIONAL_SCOPES = scope_needs(load_hubspot_mapping())

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
    """The token's scopes, or None when the portal will not say.

    OAuth (a project app): the scopes the token endpoint reported, else the dated introspection
    endpoint ``POST /oauth/{version}/token/introspect`` (form: client id and secret, token), which
    replaces ``GET /oauth/v1/access-tokens/{token}``. A Service Key or legacy private-app token:
    ``POST /oauth/v2/private-apps/get/access-token-info`` (no dated version yet).
    """
    token = t.token
    try:
        if t.credentials.oauth:
            if t.oauth_scopes is not None:
                return set(t.oauth_scopes)
            creds = t.credentials
            data, _ = t.request("read the token's scopes", "POST", "/oauth/{version}/token/introspect",
                                form={"client_id": creds.client_id, "client_secret": creds.client_secret,
                                      "token": token, "token_type_hint": "access_token"}, auth=False,
                                endpoint="introspect the token")
            if isinstance(data, dict) and data.get("active") is False:
                return None
        else:
            data, _ = t.request("read the token's scopes", "POST", "/oauth/v2/private-apps/get/access-token-info",
                                body={"tokenKey": token}, endpoint="read the token's scopes")
    except RequestRejected:
        return None
    data = data or {}
    scopes = data.get("scopes")
    if scopes is None and isinstance(data.get("scope"), str):  # RFC 7662 spells it as one string
        scopes = data["scope"].split()
    return {str(s) for s in scopes or []} if scopes is not None else None


def _properties(t: Transport, obj: str) -> dict[str, dict[str, Any]]:
    data, _ = t.request(f"list {obj} properties", "GET", "/crm/properties/{version}/{objectType}",
                        path_params={"objectType": obj})
    return {p["name"]: p for p in data.get("results") or []}


def _groups(t: Transport, obj: str) -> set[str]:
    data, _ = t.request(f"list {obj} property groups", "GET", "/crm/properties/{version}/{objectType}/groups",
                        path_params={"objectType": obj})
    return {g["name"] for g in data.get("results") or []}


_ASK: Any = object()


def plan(t: Transport, fields: Sequence[FieldSpec], group: str, required: dict[str, str] | None = None,
         granted: set[str] | None = _ASK) -> InstallPlan:
    """What exists, what to create, and what is wrong (missing scopes, a property of another type)."""
    result = InstallPlan()
    scopes = granted_scopes(t) if granted is _ASK else granted
    objects = sorted({f.object for f in fields})
    if scopes is not None:
        needed = dict(required or REQUIRED_SCOPES)
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
        body["options"] = [{"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                           {"label": "No", "value": "false", "displayOrder": 1, "hidden": False}]
    elif spec.options:  # OptionInput requires displayOrder, hidden, label and value (properties spec)
        body["options"] = [{"label": o, "value": o, "displayOrder": i, "hidden": False}
                           for i, o in enumerate(spec.options)]
    return body


def install(t: Transport, planned: InstallPlan, group: str, group_label: str) -> None:
    """Create the group and the planned properties; ones that appeared meanwhile are fine (409).

    ``POST /crm/properties/{version}/{objectType}/batch/create`` answers 201 when all were made or
    207 with per-property ``errors[]`` (``BatchResponsePropertyWithErrors``): a property that exists
    already (``context.name`` / a 409 status) is fine, any other error stops install naming the
    property and HubSpot's message."""
    if planned.problems:
        raise ValueError("install: the plan has problems; fix them first")
    for obj in sorted({s.object for s in planned.to_create}):
        if group not in _groups(t, obj):
            try:
                t.request(f"create the {group} {obj} property group", "POST",
                          "/crm/properties/{version}/{objectType}/groups", path_params={"objectType": obj},
                          body={"name": group, "label": group_label, "displayOrder": -1})
            except RequestRejected as exc:
                if exc.status != 409:
                    raise
        specs = [_definition(s, group) for s in planned.to_create if s.object == obj]
        try:
            data, _ = t.request(f"create {len(specs)} {obj} properties", "POST",
                                "/crm/properties/{version}/{objectType}/batch/create",
                                path_params={"objectType": obj}, body={"inputs": specs})
        except RequestRejected as exc:
            if exc.status != 409:
                raise
            for body in specs:  # a 409 fails the whole batch: some exist already, create the rest one by one
                try:
                    t.request(f"create {obj} property {body['name']}", "POST", "/crm/properties/{version}/{objectType}",
                              path_params={"objectType": obj}, body=body)
                except RequestRejected as inner:
                    if inner.status != 409:
                        raise
            continue
        problems = {n: m for n, m in _batch_errors(data, [b["name"] for b in specs]).items() if m is not None}
        if problems:
            raise RequestRejected(f"create {obj} properties: HubSpot refused "
                                  + "; ".join(f"{n} ({m})" for n, m in sorted(problems.items())), 400, data)


def _batch_errors(data: Any, names: list[str]) -> dict[str, str | None]:
    """Property name → HubSpot's message for each error of a 207 (None: it exists already, fine)."""
    out: dict[str, str | None] = {}
    for err in (data or {}).get("errors") or []:
        ctx = err.get("context") or {}
        hit = [str(n) for n in ctx.get("name") or ctx.get("propertyName") or []]
        if not hit:  # some errors name the property only in the message
            hit = [n for n in names if n in str(err.get("message") or "")]
        exists = str(err.get("status")) == "409" or err.get("category") == "CONFLICT" or "already exists" in str(
            err.get("message") or "")
        for n in hit:
            out[n] = None if exists else f"{err.get('category', 'ERROR')}: {err.get('message', '')}"
    return out


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
