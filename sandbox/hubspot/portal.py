"""The state of one sandbox HubSpot portal and the rules HubSpot applies when it changes.

The WSGI layer (:mod:`sandbox.hubspot.app`) turns requests into calls here; seeding
(:mod:`sandbox.hubspot.seed`) fills it from a synthetic tenant. Every read and write takes the
portal's lock, so concurrent requests see consistent records and indexes.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.hubspot.errors import HubSpotError, error_body, not_found, property_errors, validation
from sandbox.hubspot.eventlog import EventLog
from sandbox.hubspot.schema import (
    OBJECT_TYPES,
    ObjectType,
    default_groups,
    default_properties,
    iso_ms,
    object_type,
    parse_time_ms,
)
from sandbox.hubspot.store import ObjectStore, Record

__all__ = ["ALL_SCOPES", "ASSOCIATION_TYPES", "Portal", "Token"]

#: Every scope an endpoint of the sandbox checks; the default token has them all.
ALL_SCOPES: frozenset[str] = frozenset({
    "oauth",
    "crm.objects.contacts.read", "crm.objects.contacts.write",
    "crm.objects.companies.read", "crm.objects.companies.write",
    "crm.schemas.contacts.read", "crm.schemas.contacts.write",
    "crm.schemas.companies.read", "crm.schemas.companies.write",
    "crm.objects.owners.read",
    "behavioral_events.event_definitions.read_write",
    "forms", "content",
    "automation.sequences.read", "automation.sequences.enrollments.write",
})

#: HubSpot-defined association type ids (v4), by (from, to) object type.
#: https://developers.hubspot.com/docs/api/crm/associations/association-details
ASSOCIATION_TYPES: dict[tuple[str, str], list[tuple[int, str | None]]] = {
    ("contacts", "companies"): [(279, None), (1, "Primary")],
    ("companies", "contacts"): [(280, None), (2, "Primary")],
    ("tasks", "contacts"): [(204, None)], ("contacts", "tasks"): [(203, None)],
    ("notes", "contacts"): [(202, None)], ("contacts", "notes"): [(201, None)],
    ("meetings", "contacts"): [(200, None)], ("contacts", "meetings"): [(199, None)],
    ("emails", "contacts"): [(198, None)], ("contacts", "emails"): [(197, None)],
    ("calls", "contacts"): [(194, None)], ("contacts", "calls"): [(193, None)],
}


@dataclass
class Token:
    value: str
    scopes: frozenset[str]
    kind: str = "private"  # "private" (legacy private app) | "service-key" | "oauth"
    expires_at_ms: int | None = None
    user_id: int = 2_000_001
    app_id: int = 1_234_567


@dataclass
class Portal:
    portal_id: int = 62_515
    clock: Callable[[], float] = time.time
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: seconds before a new record shows in search results: HubSpot's CRM search guide says "it may
    #: take a few moments for created or updated objects to appear in search results" (the index is
    #: updated asynchronously); reads by id and associations see it at once
    search_lag_s: float = 0.0

    def __post_init__(self) -> None:
        self.stores = {name: ObjectStore(t) for name, t in OBJECT_TYPES.items()}
        self.properties = {name: {p["name"]: p for p in default_properties(t)}
                           for name, t in OBJECT_TYPES.items()}
        self.groups = {name: {g["name"]: g for g in default_groups(t)}
                       for name, t in OBJECT_TYPES.items()}
        self.owners: list[dict[str, Any]] = []
        self.owner_ids: dict[str, dict[str, Any]] = {}
        self.assoc: dict[tuple[str, str], dict[int, list[int]]] = {}
        self.web_events = EventLog.empty()
        self.web_event_types: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self.form_submissions = EventLog.empty()
        self.email_events = EventLog.empty()
        self.sequences: dict[str, dict[str, Any]] = {}
        self.enrollments: dict[int, dict[str, Any]] = {}
        self.tokens: dict[str, Token] = {}
        self.default_token = self.add_token(f"pat-na1-{secrets.token_hex(16)}").value
        # OAuth app credentials: refresh tokens are exchanged at POST /oauth/v1/token for
        # access tokens that expire after oauth_ttl_s.
        self.oauth_client_id = "leadscore-sandbox-client"
        self.oauth_client_secret = secrets.token_hex(16)
        self.oauth_ttl_s = 1800.0
        self.refresh_tokens = {f"na1-{secrets.token_hex(12)}"}
        self.oauth_scopes: frozenset[str] = ALL_SCOPES  # what the app's install granted
        #: portal validation rules on writes: property → (pattern the value must match, message)
        self.validation_rules: dict[str, tuple[str, str]] = {}

    # -- tokens -----------------------------------------------------------------------------

    def add_token(self, value: str | None = None, scopes: frozenset[str] | set[str] = ALL_SCOPES,
                  kind: str = "private", expires_in_s: float | None = None) -> Token:
        """Register an access token (a limited one to test MISSING_SCOPES, or an expiring one)."""
        token = Token(value or f"pat-na1-{secrets.token_hex(16)}", frozenset(scopes), kind,
                      None if expires_in_s is None else self.now_ms() + int(expires_in_s * 1000))
        self.tokens[token.value] = token
        return token

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- properties -------------------------------------------------------------------------

    def kind_of(self, type_name: str) -> Callable[[str], str]:
        defs = self.properties[type_name]

        def kind(prop: str) -> str:
            p = defs.get(prop)
            if p is None:
                return "string"
            return {"number": "number", "datetime": "datetime", "date": "datetime"}.get(
                p["type"], "string")
        return kind

    def clean_properties(self, type_: ObjectType, props: Any) -> dict[str, str]:
        """Validate values to write; raise the 400 HubSpot sends for the first bad batch."""
        if not isinstance(props, dict):
            raise validation("Invalid input JSON: properties must be an object")
        defs = self.properties[type_.name]
        problems: list[tuple[str, str, str]] = []
        out: dict[str, str] = {}
        for name, raw in props.items():
            d = defs.get(name)
            if d is None:
                problems.append((name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
                continue
            if d["modificationMetadata"]["readOnlyValue"]:
                problems.append((name, "READ_ONLY_VALUE",
                                 f'"{name}" is a read only property; its value cannot be set.'))
                continue
            value = "" if raw is None else ("true" if raw is True else "false" if raw is False
                                            else str(raw))
            problem = _check_value(d, value)
            if name == "hubspot_owner_id" and value and value not in self.owner_ids:
                problem = ("INVALID_OWNER_ID", f"{value} is not a valid owner id")
            if problem:
                problems.append((name, *problem))
                continue
            if d["type"] == "datetime" and value:
                value = iso_ms(parse_time_ms(value) or 0)
            out[name] = value
        if problems:
            raise property_errors(self.portal_id, problems)
        return out

    # -- records ----------------------------------------------------------------------------

    def store(self, type_name: str) -> ObjectStore:
        t = object_type(type_name)
        if t is None:
            raise HubSpotError(400, error_body(
                "VALIDATION_ERROR", f"Unable to infer object type from: {type_name}"))
        return self.stores[t.name]

    def render(self, type_: ObjectType, rec: Record, names: list[str] | None,
               with_defaults: bool = True) -> dict[str, Any]:
        """A ``SimplePublicObject``: requested properties (null when unset) plus the basics;
        an archived record also carries ``archivedAt``."""
        wanted = list(names) if names else list(type_.default_properties)
        defs = self.properties[type_.name]
        wanted = [n for n in wanted if n in defs]
        if with_defaults:
            for base in (type_.created_property, type_.modified_property, "hs_object_id"):
                if base not in wanted:
                    wanted.append(base)
        out: dict[str, Any] = {
            "id": str(rec.id),
            "properties": rec.render(type_, wanted),
            "createdAt": iso_ms(rec.created_ms),
            "updatedAt": iso_ms(rec.updated_ms),
            "archived": rec.archived,
        }
        if rec.archived_ms is not None:
            out["archivedAt"] = iso_ms(rec.archived_ms)
        return out

    def lookup(self, store: ObjectStore, key: str, id_property: str | None) -> Record | None:
        if id_property and id_property != "hs_object_id":
            if id_property not in store.type.unique_properties:
                raise validation(f"Unable to perform update/upsert by non-unique "
                                 f"{store.type.type_id} property {id_property} in portal ID "
                                 f"{self.portal_id}")
            return store.find_unique(id_property, str(key))
        try:
            return store.get(int(key))
        except (TypeError, ValueError):
            return None

    def create(self, store: ObjectStore, props: dict[str, str]) -> Record:
        """Create a record from already-cleaned properties; 409 on a duplicate unique value."""
        for name in store.type.unique_properties:
            value = props.get(name)
            existing = store.find_unique(name, value) if value else None
            if existing is not None:
                raise HubSpotError(409, error_body(
                    "CONFLICT", f"{store.type.singular.title()} already exists. Existing ID: "
                                f"{existing.id}"))
        now = self.now_ms()
        created = parse_time_ms(props.pop(store.type.created_property, None)) or now
        self._stamp_stage(store, None, props, now)
        return store.add(props, created, now)

    @staticmethod
    def _stamp_stage(store: ObjectStore, rec: Record | None, props: dict[str, str], now: int) -> None:
        """A contact entering a lifecycle stage gets its ``hs_v2_date_entered_<stage>`` stamp."""
        stage = props.get("lifecyclestage")
        if store.type.name == "contacts" and stage and (rec is None or rec.props.get("lifecyclestage") != stage):
            props[f"hs_v2_date_entered_{stage}"] = iso_ms(now)

    def update(self, store: ObjectStore, rec: Record, props: dict[str, str]) -> None:
        for name in store.type.unique_properties:
            value = props.get(name)
            other = store.find_unique(name, value) if value else None
            if other is not None and other.id != rec.id:
                raise HubSpotError(409, error_body(
                    "CONFLICT", f"A {store.type.singular} with {name} {value} already exists. "
                                f"Existing ID: {other.id}"))
        self._stamp_stage(store, rec, props, self.now_ms())
        store.update(rec, props, self.now_ms())

    def merge(self, store: ObjectStore, secondary: Record, primary: Record) -> None:
        """Merge two records (``POST .../merge``): the secondary's id answers with the primary."""
        store.merge(secondary, primary, self.now_ms())

    def archive(self, store: ObjectStore, rec: Record) -> None:
        """Delete a record as HubSpot does: archived now, kept, gone from reads and search."""
        store.archive(rec, self.now_ms())

    # -- associations -----------------------------------------------------------------------

    def associate(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        for a, b, x, y in ((from_type, to_type, from_id, to_id), (to_type, from_type, to_id,
                                                                    from_id)):
            targets = self.assoc.setdefault((a, b), {}).setdefault(x, [])
            if y not in targets:
                targets.append(y)
        if (from_type, to_type) == ("contacts", "companies"):
            contact = self.stores["contacts"].records.get(from_id)
            if contact is not None and "associatedcompanyid" not in contact.props:
                contact.props["associatedcompanyid"] = str(to_id)

    def associated(self, from_type: str, to_type: str, from_id: int) -> list[int]:
        return list(self.assoc.get((from_type, to_type), {}).get(from_id, ()))

    def association_types(self, from_type: str, to_type: str, from_id: int, to_id: int
                          ) -> list[dict[str, Any]]:
        specs = ASSOCIATION_TYPES.get((from_type, to_type), [(0, None)])
        out = []
        for type_id, label in specs:
            if label == "Primary":
                contact_id, company_id = (from_id, to_id) if from_type == "contacts" else (
                    to_id, from_id)
                contact = self.stores["contacts"].records.get(contact_id)
                if contact is None or contact.props.get("associatedcompanyid") != str(company_id):
                    continue
            out.append({"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label})
        return out

    # -- owners -----------------------------------------------------------------------------

    def add_owner(self, email: str, first_name: str, last_name: str, teams: tuple[str, ...] | list[str] = (),
                  owner_id: int | None = None, user_id: int | None = None) -> dict[str, Any]:
        n = len(self.owners)
        oid = owner_id if owner_id is not None else 10_000_001 + n
        uid = user_id if user_id is not None else 5_000_001 + n
        stamp = iso_ms(1_577_836_800_000 + n * 86_400_000)
        owner: dict[str, Any] = {
            "id": str(oid), "email": email, "firstName": first_name, "lastName": last_name,
            "userId": uid, "userIdIncludingInactive": uid, "type": "PERSON",
            "createdAt": stamp, "updatedAt": stamp, "archived": False,
            "teams": [{"id": str(900 + i), "name": t, "primary": i == 0}
                      for i, t in enumerate(teams)],
        }
        self.owners.append(owner)
        self.owner_ids[owner["id"]] = owner
        return owner


def _check_value(d: dict[str, Any], value: str) -> tuple[str, str] | None:
    if not value:
        return None
    t = d["type"]
    name = d["name"]
    if t == "number":
        try:
            float(value)
        except ValueError:
            return "INVALID_FLOAT", f"{value} was not a valid number."
    elif t in ("datetime", "date"):
        if parse_time_ms(value) is None:
            return "INVALID_DATE", f"{value} was not a valid date or datetime for {name}."
    elif t == "bool":
        if value not in ("true", "false"):
            return "INVALID_BOOLEAN", f"{value} was not a valid boolean."
    elif t == "enumeration" and d["options"] and name != "hubspot_owner_id":
        allowed = {o["value"] for o in d["options"]}
        parts = value.split(";") if d["fieldType"] == "checkbox" else [value]
        bad = [p for p in parts if p not in allowed]
        if bad:
            return ("INVALID_OPTION",
                    f"{bad[0]} was not one of the allowed options: "
                    + ", ".join(f"[label: {o['label']!r}, value: {o['value']!r}]"
                                for o in d["options"]))
    return None


def find_record_or_404(store: ObjectStore, id_: str) -> Record:
    try:
        rec = store.get(int(id_))
    except ValueError:
        rec = None
    if rec is None:
        raise not_found(f"resource not found: {store.type.singular} {id_} does not exist")
    return rec
