"""``leadscore install --crm salesforce``: the custom fields leadscore writes, and access to them.

The plan reads the org (``describe`` of Lead, Contact and Account; the permission set or the
profile's permission set); it changes nothing, so ``--dry-run`` prints it as is. Installing:

1. log in afresh (Tooling calls are raw HTTP: simple-salesforce would not refresh them);
2. create the permission set if it does not exist (never a profile: those are the admin's);
3. create each missing field with the Tooling API ``CustomField`` (a field that already exists
   but the API user cannot see answers ``DUPLICATE_DEVELOPER_NAME``: it only needs access);
4. grant read and edit on every field through ``FieldPermissions`` rows (new fields are invisible,
   even to the API user, until field-level security grants them);
5. plan again, so the report says what is there now.

Idempotent: a second run finds everything and does nothing. A refusal for lack of permission is
reported naming the permission the API user needs, not raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from simple_salesforce import format_soql

from adapters.base import FieldSpec, InstallPlan
from adapters.errors import PermissionDenied
from adapters.retry import RequestRejected

from .mapping import SalesforceMapping
from .transport import Transport

__all__ = ["SalesforceInstallPlan", "check_mapping", "field_specs", "install", "mapping_problems", "plan",
           "task_values"]

_METADATA: dict[str, dict[str, Any]] = {
    "number": {"type": "Number", "precision": 18, "scale": 2},
    "text": {"type": "Text", "length": 255},
    "textarea": {"type": "LongTextArea", "length": 32768, "visibleLines": 5},
    "datetime": {"type": "DateTime"},
    "date": {"type": "Date"},
    "bool": {"type": "Checkbox", "defaultValue": "false"},
}
CUSTOMIZE = "Customize Application"
MANAGE_PERMS = "Manage Profiles and Permission Sets"


@dataclass
class SalesforceInstallPlan(InstallPlan):
    """:class:`InstallPlan` plus what field-level security still needs and where it goes."""

    to_grant: list[FieldSpec] = field(default_factory=list)  # exist, but the permission set lacks edit
    permission_set: str | None = None  # the PermissionSet id access goes to (None: to be created)
    target: str = ""  # "permission set Leadscore" / "profile System Administrator", for messages
    done: list[str] = field(default_factory=list)  # what install did, in order

    @property
    def up_to_date(self) -> bool:
        return not self.to_create and not self.to_grant and not self.problems and self.permission_set is not None


def field_specs(mapping: SalesforceMapping) -> list[FieldSpec]:
    out = []
    wb = mapping.write_back
    for objects, section in ((("Lead", "Contact"), wb.people), (("Account",), wb.accounts)):
        for obj in objects:
            for spec in section.values():
                out.append(FieldSpec(obj, spec.name, spec.label, spec.type, spec.description))
    return out


def _visible(t: Transport, obj: str) -> dict[str, bool]:
    """Field name → updateable, for the fields the API user can see."""
    body = t.call(f"describe {obj}", t.sf.restful, f"sobjects/{obj}/describe")
    return {str(f["name"]): bool(f.get("updateable")) for f in (body or {}).get("fields") or []}


def _records(t: Transport, soql: str) -> list[dict[str, Any]]:
    return [r for body in t.query_pages(soql) for r in body.get("records") or []]


def _permission_set(t: Transport, permission_set: str | None, profile: str | None) -> tuple[str | None, str]:
    if profile:
        rows = _records(t, format_soql("SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true AND "
                                       "Profile.Name = {}", profile))
        return (str(rows[0]["Id"]) if rows else None), f"profile '{profile}'"
    name = permission_set or "Leadscore"
    rows = _records(t, format_soql("SELECT Id FROM PermissionSet WHERE Name = {}", name))
    return (str(rows[0]["Id"]) if rows else None), f"permission set '{name}'"


def _grants(t: Transport, parent: str, specs: Sequence[FieldSpec]) -> dict[str, dict[str, Any]]:
    """Existing FieldPermissions rows of ``parent`` for these fields, by ``Object.Field``."""
    names = sorted({f"{s.object}.{s.name}" for s in specs})
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 100):
        soql = format_soql("SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
                           "WHERE ParentId = {} AND Field IN {}", parent, names[start:start + 100])
        out.update({str(r["Field"]): r for r in _records(t, soql)})
    return out


def plan(t: Transport, fields: Sequence[FieldSpec], permission_set: str | None, profile: str | None
         ) -> SalesforceInstallPlan:
    """What exists, what must be created, what needs access; reads only."""
    result = SalesforceInstallPlan()
    result.permission_set, result.target = _permission_set(t, permission_set, profile)
    if result.permission_set is None and profile:
        result.problems.append(f"the {result.target} does not exist; set LEADSCORE_SALESFORCE__PROFILE to an "
                               f"existing profile name, or use a permission set instead")
    visible = {obj: _visible(t, obj) for obj in sorted({s.object for s in fields})}
    granted = _grants(t, result.permission_set, fields) if result.permission_set else {}
    for spec in fields:
        row = granted.get(f"{spec.object}.{spec.name}")
        has_edit = bool(row and row.get("PermissionsEdit"))
        if spec.name not in visible[spec.object]:
            result.to_create.append(spec)
        elif not has_edit:
            result.to_grant.append(spec)
        else:
            result.existing.append(spec)
    return result


def _create_field(t: Transport, spec: FieldSpec) -> str:
    """'created' or 'exists'; raises PermissionDenied naming the permission."""
    metadata = {"label": spec.label, "description": spec.description or f"Written by leadscore ({spec.label})",
                **_METADATA[spec.type]}
    try:
        t.http(f"create field {spec.object}.{spec.name}", "POST", "tooling/sobjects/CustomField",
               json={"FullName": f"{spec.object}.{spec.name}", "Metadata": metadata})  # a repeat is a duplicate
    except RequestRejected as exc:
        body = exc.body if isinstance(exc.body, list) else []
        codes = {str(e.get("errorCode")) for e in body if isinstance(e, dict)}
        if "DUPLICATE_DEVELOPER_NAME" in codes:
            return "exists"
        if codes & {"INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY", "API_DISABLED_FOR_ORG"}:
            raise PermissionDenied(f"{exc} — the API user needs the '{CUSTOMIZE}' permission") from None
        raise
    except PermissionDenied as exc:
        raise PermissionDenied(f"{exc} — the API user needs the '{CUSTOMIZE}' permission") from None
    return "created"


def install(t: Transport, current: InstallPlan, permission_set: str | None, profile: str | None
            ) -> SalesforceInstallPlan:
    """Apply a plan (see the module docstring); returns the plan after, with ``done`` filled in."""
    t.ensure_fresh()  # raw Bulk 2.0 / Tooling calls: start with a fresh session
    done: list[str] = []
    problems: list[str] = []
    parent = getattr(current, "permission_set", None)
    if parent is None and not profile:
        name = permission_set or "Leadscore"
        try:  # retried like a read: names are unique, so a repeat cannot make a second one
            saved = t.call("create permission set", t.sf.restful, "sobjects/PermissionSet", method="POST",
                           json={"Name": name, "Label": name})
            parent = str((saved or {}).get("id") or "") or None
            done.append(f"created permission set '{name}'")
        except RequestRejected as exc:
            parent = _permission_set(t, name, None)[0]
            if parent is None:
                raise PermissionDenied(f"{exc} — the API user needs the '{MANAGE_PERMS}' permission") from None
    to_grant = list(getattr(current, "to_grant", []))
    for spec in current.to_create:
        try:
            outcome = _create_field(t, spec)
        except (PermissionDenied, RequestRejected) as exc:
            problems.append(f"{spec.object}.{spec.name}: {exc}")
            continue
        done.append(f"{outcome if outcome == 'created' else 'found (hidden)'} {spec.object}.{spec.name}")
        to_grant.append(spec)
    if parent and to_grant:
        problems.extend(_grant(t, parent, to_grant, done))
    after = plan(t, [*current.existing, *current.to_create, *getattr(current, "to_grant", [])], permission_set, profile)
    after.done = done
    after.problems = [*problems, *after.problems]
    return after


def _grant(t: Transport, parent: str, specs: Sequence[FieldSpec], done: list[str]) -> list[str]:
    """Read + edit on each field for ``parent``: update rows that lack it, insert the rest."""
    from .write import collection_save

    existing = _grants(t, parent, specs)
    updates, inserts, keys_u, keys_i = [], [], [], []
    for spec in specs:
        full = f"{spec.object}.{spec.name}"
        row = existing.get(full)
        if row and row.get("PermissionsEdit"):
            continue
        if row:
            updates.append({"attributes": {"type": "FieldPermissions"}, "id": row["Id"], "PermissionsRead": True,
                            "PermissionsEdit": True})
            keys_u.append(full)
        else:
            inserts.append({"attributes": {"type": "FieldPermissions"}, "ParentId": parent, "SobjectType": spec.object,
                            "Field": full, "PermissionsRead": True, "PermissionsEdit": True})
            keys_i.append(full)
    problems = []
    try:
        results = [*collection_save(t, "PATCH", updates, keys_u, "grant field access"),
                   *collection_save(t, "POST", inserts, keys_i, "grant field access")]
    except PermissionDenied as exc:
        return [f"{exc} — the API user needs the '{MANAGE_PERMS}' permission"]
    for r in results:
        if r.ok:
            done.append(f"granted read/edit on {r.record_id}")
        elif r.error and "INSUFFICIENT_ACCESS" in r.error:
            problems.append(f"{r.record_id}: {r.error} — the API user needs the '{MANAGE_PERMS}' permission")
        else:
            problems.append(f"{r.record_id}: could not grant access: {r.error}")
    return problems


def describe(t: Transport, obj: str) -> dict[str, dict[str, Any]] | None:
    """Field name → its describe, for the fields the API user can see; None: no such object."""
    try:
        body = t.call(f"describe {obj}", t.sf.restful, f"sobjects/{obj}/describe")
    except RequestRejected:  # 404: no such object (e.g. a marketing package not installed)
        return None
    return {str(f["name"]): f for f in (body or {}).get("fields") or []}


def _picklist(field: dict[str, Any]) -> tuple[list[str], str | None]:
    """The active values of a picklist field and its default value (None: none marked)."""
    values = [v for v in field.get("picklistValues") or [] if v.get("active", True)]
    default = next((str(v["value"]) for v in values if v.get("defaultValue")), None)
    return [str(v["value"]) for v in values], default


def task_values(mapping: SalesforceMapping, task_fields: dict[str, dict[str, Any]] | None
                ) -> tuple[dict[str, str], list[tuple[str, str, str | None]]]:
    """Status and Priority for the Tasks leadscore creates, from the mapping's ``tasks`` or else
    the org's picklist defaults (Task describe); and the problems (key path, message, hint) with
    a mapped value the org's restricted picklist lacks."""
    values: dict[str, str] = {}
    problems: list[tuple[str, str, str | None]] = []
    for key, name in (("status", "Status"), ("priority", "Priority")):
        field = (task_fields or {}).get(name)
        chosen = getattr(mapping.tasks, key)
        allowed, default = _picklist(field) if field else ([], None)
        if chosen is not None:
            if field is not None and field.get("restrictedPicklist") and allowed and chosen not in allowed:
                problems.append((f"tasks.{key}", f"'{chosen}' is not a value of the org's Task {name} picklist",
                                 f"one of: {', '.join(allowed)}"))
            values[name] = chosen
        elif default is not None:
            values[name] = default
        elif allowed:  # no default marked: the first active value, as the Task page would offer
            values[name] = allowed[0]
    return values, problems


def mapping_problems(t: Transport, mapping: SalesforceMapping, write_back: bool = True
                     ) -> list[tuple[str, str, str | None]]:
    """Every mapped field the org lacks (or the API user cannot see), as (key path, message,
    hint), plus Task picklist values it lacks; one ``describe`` per object. ``write_back=False``
    leaves out the fields ``install`` creates."""
    missing: list[tuple[str, str, str | None]] = []
    cache: dict[str, dict[str, dict[str, Any]] | None] = {}

    def fields_of(obj: str) -> dict[str, dict[str, Any]] | None:
        if obj not in cache:
            cache[obj] = describe(t, obj)
        return cache[obj]

    def check(path: str, obj: str, name: str, hint: str | None = None) -> None:
        known = fields_of(obj)
        if known is None:
            missing.append((path, f"the org has no object '{obj}' (or the API user cannot see it)", None))
        elif name not in known:
            missing.append((path, f"the org has no {obj} field '{name}' (or the API user cannot see it)", hint))

    custom_hint = "create it in Setup → Object Manager, or remove the line from the mapping"
    for section, obj in (("leads", "Lead"), ("contacts", "Contact"), ("accounts", "Account")):
        fields = getattr(mapping, section)
        for kind in ("fields", "custom"):
            for key, name in getattr(fields, kind).items():
                check(f"{section}.{kind}.{key}", obj, name, custom_hint if name.endswith("__c") else None)
    if write_back:
        for group, objects in (("people", ("Lead", "Contact")), ("accounts", ("Account",))):
            for key, spec in getattr(mapping.write_back, group).items():
                for obj in objects:
                    check(f"write_back.{group}.{key}", obj, spec.name, "run `leadscore install --crm salesforce`")
    for i, src in enumerate(mapping.events):
        for name in src.columns():
            check(f"events[{i}] ({src.object})", src.object, name)
    if mapping.tasks.status is not None or mapping.tasks.priority is not None:
        missing.extend(task_values(mapping, fields_of("Task"))[1])
    return missing


def check_mapping(t: Transport, mapping: SalesforceMapping) -> list[str]:
    """Every mapped field the org lacks (or the API user cannot see), as "key path: problem" lines;
    one ``describe`` per object."""
    return [f"{path}: {message}" + (f" — {hint}" if hint else "") for path, message, hint in
            mapping_problems(t, mapping)]
