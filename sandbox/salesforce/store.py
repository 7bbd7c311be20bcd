"""The sandbox org's data: one :class:`Table` per sObject type, behind one lock.

Rows are plain lists (one slot per field, in schema order) rather than dicts, so a
million-record tenant fits in memory: custom fields added later get new slots and older rows
simply read ``None`` past their end. Every change stamps ``SystemModstamp`` and
``LastModifiedDate`` from the injected clock (never going backwards) and appends
``(modstamp, id)`` to a per-table change log kept in modstamp order, so incremental queries
(``WHERE SystemModstamp > :cursor``) and ``/updated`` bisect instead of scanning every row.

Values are stored normalised: datetimes as epoch milliseconds, dates as ``YYYY-MM-DD``, ids in
their 18-character form. :mod:`.render` turns them back into API text.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import gc
import itertools
import operator
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from .errors import SaveError
from .ids import IdFactory, is_id, to_18, type_of_id
from .schema import NUMERIC_TYPES, FieldDef, ObjectDef, build_schema

__all__ = ["Org", "Table", "parse_datetime", "to_millis"]

#: Change logs are ordered by stamp only (ids within one millisecond stay in insertion order):
#: bisecting with (stamp, "") / (stamp, "\uffff") still finds a millisecond's boundaries.
_STAMP = operator.itemgetter(0)

Row = list[Any]


def to_millis(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1000)


def parse_datetime(text: str) -> int:
    """Epoch ms from the datetime forms clients send (``...Z``, ``+00:00``, ``+0000``)."""
    cleaned = text.strip().replace("Z", "+00:00")
    if len(cleaned) > 5 and cleaned[-5] in "+-" and cleaned[-3] != ":":
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    return to_millis(datetime.fromisoformat(cleaned))


@dataclass(slots=True)
class Table:
    """The rows of one sObject type, with a modstamp-ordered change log."""

    obj: ObjectDef
    slots: dict[str, int] = field(default_factory=dict)
    rows: dict[str, Row] = field(default_factory=dict)
    changes: list[tuple[int, str]] = field(default_factory=list)  # (modstamp ms, id), ascending
    deletions: list[tuple[int, str]] = field(default_factory=list)  # (deleted at ms, id)
    purged_ms: int | None = None  # the delete log holds nothing from before this (a purge)

    def __post_init__(self) -> None:
        self.sync_slots()

    def sync_slots(self) -> None:
        for name in self.obj.fields:
            self.slots.setdefault(name, len(self.slots))

    def value(self, row: Row, name: str) -> Any:
        slot = self.slots[name]
        return row[slot] if slot < len(row) else None

    def set(self, row: Row, name: str, value: Any) -> None:
        slot = self.slots[name]
        if slot >= len(row):
            row.extend([None] * (slot + 1 - len(row)))
        row[slot] = value

    def changes_after(self, after_ms: int, inclusive: bool = False) -> int:
        """How many change-log entries lie after ``after_ms`` (an upper bound on the rows)."""
        key = (after_ms, "") if inclusive else (after_ms, "\uffff")
        return len(self.changes) - bisect.bisect_left(self.changes, key)

    def changed_since(self, after_ms: int,
                      inclusive: bool = False) -> Iterator[tuple[str, Row]]:
        """(id, row) of rows whose latest change is after ``after_ms``, in modstamp order."""
        key = (after_ms, "") if inclusive else (after_ms, "\uffff")
        start = bisect.bisect_left(self.changes, key)
        stamp_slot = self.slots["SystemModstamp"]
        rows = self.rows
        seen: set[str] = set()
        for stamp, rid in itertools.islice(self.changes, start, None):
            row = rows.get(rid)
            if row is None or row[stamp_slot] != stamp or rid in seen:
                continue  # superseded by a later change
            seen.add(rid)
            yield rid, row


class Org:
    """All tables, the id factory, the clock and the lock every request takes."""

    def __init__(self, clock: Callable[[], float] = time.time, org_number: int = 1,
                 custom_fields: bool = False) -> None:
        self.schema: dict[str, ObjectDef] = build_schema(custom_fields)
        self.tables = {name: Table(obj) for name, obj in self.schema.items()}
        self.ids = IdFactory(org_number)
        self.clock = clock
        self.lock = threading.RLock()
        self.org_id = self.ids.new("Organization")
        self.api_user_id = ""
        self._last_ms = 0
        self._journal: list[tuple[str, str, Row | None]] | None = None
        self.secured: set[tuple[str, str]] = set()
        self._loading = False

    # -- time
    def now_ms(self) -> int:
        """The clock in ms, never earlier than a stamp already handed out."""
        with self.lock:
            self._last_ms = max(self._last_ms, int(self.clock() * 1000))
            return self._last_ms

    # -- schema
    def object(self, name: str) -> ObjectDef | None:
        got = self.schema.get(name)
        if got is None:
            lowered = name.lower()
            got = next((o for n, o in self.schema.items() if n.lower() == lowered), None)
        return got

    def set_picklist(self, sobject: str, name: str, values: Sequence[str], default: str | None,
                     restricted: bool = True) -> None:
        """Replace a picklist's values, as an admin edits them in Setup (Object Manager)."""
        with self.lock:
            obj = self.schema[sobject]
            obj.fields[name] = dataclasses.replace(obj.fields[name], picklist=tuple((v, v == default) for v in values),
                                                   restricted=restricted)

    def add_field(self, sobject: str, definition: FieldDef) -> None:
        with self.lock:
            self.schema[sobject].add_field(definition)
            self.tables[sobject].sync_slots()

    # -- reads
    def get(self, sobject: str, record_id: str) -> Row | None:
        return self.tables[sobject].rows.get(to_18(record_id))

    def find(self, record_id: str) -> tuple[str, Row] | None:
        sobject = type_of_id(record_id) if is_id(record_id) else None
        if sobject is None or sobject not in self.tables:
            return None
        row = self.get(sobject, record_id)
        return (sobject, row) if row is not None else None

    # -- writes
    def insert(self, sobject: str, values: Mapping[str, Any], *, stamp: int | None = None,
               record_id: str | None = None, validate: bool = True) -> str:
        """Create a record; returns its id. ``stamp`` back-dates it (seeding only)."""
        table = self.tables[sobject]
        with self.lock:
            clean = self._coerce(table, values, creating=True) if validate else dict(values)
            if validate:
                self._check_required(sobject, clean)
            now = self.now_ms() if stamp is None else stamp
            rid = record_id or self.ids.new(sobject)
            row: Row = [None] * len(table.slots)
            for name, value in clean.items():
                table.set(row, name, value)
            defaults = [("Id", rid), ("IsDeleted", False), ("CreatedDate", now),
                        ("CreatedById", self.api_user_id or None),
                        ("LastModifiedById", self.api_user_id or None)]
            if "OwnerId" in table.slots:  # the creating user owns a record unless told
                defaults.append(("OwnerId", self.api_user_id or None))
            for name, value in defaults:
                if table.value(row, name) is None or name in ("Id", "IsDeleted"):
                    table.set(row, name, value)
            self._defaults(sobject, table, row)
            self._stamp(table, rid, row, now)
            self._remember(sobject, rid, None)
            table.rows[rid] = row
            if sobject == "FieldPermissions":
                self.refresh_field_security()
            return rid

    def load_many(self, sobject: str, columns: Sequence[str],
                  rows: Iterable[tuple[Sequence[Any], int, int]]) -> list[str]:
        """Seed rows fast: ``(values in column order, created ms, modstamp ms)`` each, values
        already in storage form and trusted (no validation). Returns the new ids in order.

        Booleans left ``None`` read as false, ``OwnerId`` ``None`` as the API user; ``Name``
        is not derived here (pass it as a column).
        """
        table = self.tables[sobject]
        slots = [table.slots[c] for c in columns]
        template: Row = [None] * len(table.slots)
        for name, definition in table.obj.fields.items():
            if definition.type == "boolean":
                template[table.slots[name]] = False
        for name in ("CreatedById", "LastModifiedById", "OwnerId"):
            if name in table.slots:
                template[table.slots[name]] = self.api_user_id or None
        # Each row is picked in one C call from (values..., id, created, stamp, template...).
        width, fixed = len(slots), len(columns) + 3
        source = {slot: i for i, slot in enumerate(slots)}
        source[table.slots["Id"]] = width
        source[table.slots["CreatedDate"]] = width + 1
        source[table.slots["SystemModstamp"]] = source[table.slots["LastModifiedDate"]] = \
            width + 2
        pick = operator.itemgetter(*(source.get(k, fixed + k) for k in range(len(template))))
        defaults = [(slot, template[slot]) for slot in slots if template[slot] is not None]
        batch = list(rows)
        ids = self.ids.new_many(sobject, len(batch))
        with self.lock:
            store, changes = table.rows, table.changes
            for rid, (values, created, stamp) in zip(ids, batch, strict=True):
                row = list(pick((*values, rid, created, stamp, *template)))
                for slot, default in defaults:
                    if row[slot] is None:
                        row[slot] = default
                store[rid] = row
                changes.append((stamp, rid))
            if not self._loading:
                changes.sort(key=_STAMP)
        return ids

    def update(self, sobject: str, record_id: str, values: Mapping[str, Any]) -> None:
        """Change fields of one live record, or raise :class:`SaveError` as Salesforce would."""
        table = self.tables[sobject]
        with self.lock:
            rid = to_18(record_id)
            row = table.rows.get(rid)
            if row is None or table.value(row, "IsDeleted"):
                if row is not None:
                    raise SaveError("ENTITY_IS_DELETED", "entity is deleted")
                raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            clean = self._coerce(table, values, creating=False)
            if sobject == "Lead" and table.value(row, "IsConverted"):
                raise SaveError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
            self._remember(sobject, rid, row)
            for name, value in clean.items():
                table.set(row, name, value)
            self._defaults(sobject, table, row)
            table.set(row, "LastModifiedById", self.api_user_id or None)
            self._stamp(table, rid, row, self.now_ms())
            if sobject == "FieldPermissions":
                self.refresh_field_security()

    def purge_deleted(self, sobject: str, before_ms: int) -> int:
        """Physically delete the records deleted before ``before_ms``, as Salesforce does when the
        recycle bin passes its size limit (checked every two hours) or after 15 days: they leave
        the delete log and ``queryAll``, and ``earliestDateAvailable`` moves up to the purge
        (SOAP API Developer Guide, "getDeleted()"). Returns how many were purged."""
        table = self.tables[sobject]
        with self.lock:
            gone = [rid for at, rid in table.deletions if at < before_ms]
            table.deletions = [(at, rid) for at, rid in table.deletions if at >= before_ms]
            for rid in gone:
                table.rows.pop(rid, None)
            table.purged_ms = max(table.purged_ms or 0, before_ms)
            return len(gone)

    def delete(self, sobject: str, record_id: str) -> None:
        table = self.tables[sobject]
        with self.lock:
            rid = to_18(record_id)
            row = table.rows.get(rid)
            if row is None:
                raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if table.value(row, "IsDeleted"):
                raise SaveError("ENTITY_IS_DELETED", "entity is deleted")
            self._remember(sobject, rid, row)
            table.set(row, "IsDeleted", True)
            now = self.now_ms()
            self._stamp(table, rid, row, now)
            table.deletions.append((now, rid))
            if sobject == "FieldPermissions":
                self.refresh_field_security()

    def merge(self, sobject: str, master_id: str, loser_id: str) -> None:
        """Merge as Salesforce does (the SOAP ``merge`` call, or merging duplicates in the UI): the
        loser is deleted with ``MasterRecordId`` pointing at the master, and its tasks and events
        move to the master."""
        master, loser = to_18(master_id), to_18(loser_id)
        with self.lock:
            table = self.tables[sobject]
            if master == loser or master not in table.rows or loser not in table.rows:
                raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            table.set(table.rows[loser], "MasterRecordId", master)
            for child in ("Task", "Event"):
                kids = self.tables[child]
                for rid, row in kids.rows.items():
                    if kids.value(row, "WhoId") == loser:
                        kids.set(row, "WhoId", master)
                        self._stamp(kids, rid, row, self.now_ms())
            self._stamp(table, master, table.rows[master], self.now_ms())
        self.delete(sobject, loser)

    def secure_field(self, sobject: str, name: str) -> None:
        """Hide a (new custom) field from the API user until FieldPermissions grant access."""
        with self.lock:
            self.secured.add((sobject, name))
            self.refresh_field_security()

    def refresh_field_security(self) -> None:
        """Recompute access to secured fields from the live FieldPermissions rows.

        Every permission set counts as assigned to the API user (PermissionSetAssignment rows
        are stored but not required), so any row granting read (or edit) opens the field.
        """
        with self.lock:
            grants: dict[str, str] = {}
            perms = self.tables["FieldPermissions"]
            for row in perms.rows.values():
                if perms.value(row, "IsDeleted"):
                    continue
                target = str(perms.value(row, "Field") or "")
                level = "edit" if perms.value(row, "PermissionsEdit") else \
                    "read" if perms.value(row, "PermissionsRead") else "none"
                if {"none": 0, "read": 1, "edit": 2}[level] > \
                        {"none": 0, "read": 1, "edit": 2}[grants.get(target, "none")]:
                    grants[target] = level
            for sobject, name in self.secured:
                self.schema[sobject].access[name] = grants.get(f"{sobject}.{name}", "none")

    @contextlib.contextmanager
    def loading(self) -> Iterator[None]:
        """Bulk seeding: hold the lock and sort the change logs once at the end instead of
        keeping them ordered on every back-dated insert."""
        with self.lock:
            self._loading = True
            collecting = gc.isenabled()
            gc.disable()  # millions of new lists would trigger full collections over and over
            try:
                yield
            finally:
                self._loading = False
                for table in self.tables.values():
                    table.changes.sort(key=_STAMP)
                if collecting:
                    gc.enable()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Callable[[], None]]:
        """Hold the lock and journal every change; the yielded function rolls them back.

        Used for ``allOrNone``: rows touched so far are restored from the journal (new ones
        removed). Change-log entries they left behind go stale and are skipped on read.
        """
        with self.lock:
            outer, self._journal = self._journal, []
            journal = self._journal

            def rollback() -> None:
                for sobject, rid, before in reversed(journal):
                    rows = self.tables[sobject].rows
                    if before is None:
                        rows.pop(rid, None)
                    else:
                        rows[rid] = before
                journal.clear()

            try:
                yield rollback
            finally:
                self._journal = outer

    def _remember(self, sobject: str, rid: str, row: Row | None) -> None:
        if self._journal is not None:
            self._journal.append((sobject, rid, None if row is None else list(row)))

    # -- internals
    def _stamp(self, table: Table, rid: str, row: Row, now: int) -> None:
        table.set(row, "SystemModstamp", now)
        table.set(row, "LastModifiedDate", now)
        log = table.changes
        if self._loading:
            log.append((now, rid))  # sorted once when loading ends
        elif log and log[-1][0] > now:
            bisect.insort(log, (now, rid), key=_STAMP)  # a back-dated insert
        else:
            log.append((now, rid))

    def _defaults(self, sobject: str, table: Table, row: Row) -> None:
        if "Name" in table.slots and "LastName" in table.slots:
            parts = [table.value(row, "FirstName"), table.value(row, "LastName")]
            table.set(row, "Name", " ".join(p for p in parts if p) or None)
        for name, definition in table.obj.fields.items():
            if definition.type == "boolean" and table.value(row, name) is None:
                table.set(row, name, False)
            elif definition.picklist and table.value(row, name) is None and definition.default_value:
                table.set(row, name, definition.default_value)  # a picklist's default on create
        if sobject == "CampaignMember" and table.value(row, "HasResponded") is False:
            status = (table.value(row, "Status") or "").lower()
            if status in ("responded", "attended", "registered"):
                table.set(row, "HasResponded", True)

    def _check_required(self, sobject: str, values: Mapping[str, Any]) -> None:
        required = {"Lead": ("LastName", "Company"), "Contact": ("LastName",),
                    "Account": ("Name",), "Campaign": ("Name",),
                    "CampaignMember": ("CampaignId",), "PermissionSet": ("Name", "Label"),
                    "PermissionSetAssignment": ("AssigneeId", "PermissionSetId"),
                    "FieldPermissions": ("ParentId", "SobjectType", "Field")}.get(sobject, ())
        missing = [name for name in required if values.get(name) in (None, "")]
        if missing:
            raise SaveError("REQUIRED_FIELD_MISSING",
                            f"Required fields are missing: [{', '.join(missing)}]", missing)

    def _coerce(self, table: Table, values: Mapping[str, Any], creating: bool) -> dict[str, Any]:
        """Validate names, writability and types; returns values in storage form."""
        obj = table.obj
        out: dict[str, Any] = {}
        for raw_name, value in values.items():
            if raw_name == "attributes" or (raw_name == "Id" and not creating):
                continue
            definition = obj.find(raw_name)
            if definition is None:
                raise SaveError("INVALID_FIELD",
                                f"No such column '{raw_name}' on sobject of type {obj.name}")
            writable = definition.createable if creating else definition.updateable
            if not writable or not obj.writable(definition):
                raise SaveError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {definition.name}. Please check the "
                    "security settings of this field and verify that it is read/write for your "
                    "profile or permission set.", [definition.name])
            out[definition.name] = self._convert(obj.name, definition, value)
        return out

    def _convert(self, sobject: str, definition: FieldDef, value: Any) -> Any:
        if value is None or value == "":
            if definition.type == "boolean" or not definition.nillable:
                raise SaveError("REQUIRED_FIELD_MISSING",
                                f"Required fields are missing: [{definition.name}]",
                                [definition.name])
            return None
        kind = definition.type

        def wrong_type() -> SaveError:
            return SaveError("INVALID_TYPE_ON_FIELD_IN_RECORD",
                             f"{definition.label or definition.name}: value not of required "
                             f"type: {value}", [definition.name])

        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise wrong_type()
        if kind in NUMERIC_TYPES:
            if isinstance(value, bool):
                raise wrong_type()
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise wrong_type() from None
            return int(number) if kind == "int" and number.is_integer() else number
        if kind == "datetime":
            if isinstance(value, datetime):
                return to_millis(value)
            try:
                return parse_datetime(str(value))
            except ValueError:
                raise wrong_type() from None
        if kind == "date":
            try:
                return date.fromisoformat(str(value)[:10]).isoformat()
            except ValueError:
                raise wrong_type() from None
        if kind == "reference":
            return self._reference(sobject, definition, str(value))
        text = str(value)
        if definition.restricted and text not in {v for v, _ in definition.picklist}:
            # Object Reference, "Restricted picklists"; the message is the one the API sends
            raise SaveError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                            f"{definition.label or definition.name}: bad value for restricted picklist field: "
                            f"{text}", [definition.name])
        if len(text) > definition.length:
            raise SaveError("STRING_TOO_LONG", f"{definition.label or definition.name}: data "
                            f"value too large: {text[:40]} (max length={definition.length})",
                            [definition.name])
        return text

    def _reference(self, sobject: str, definition: FieldDef, value: str) -> str:
        label = "Owner ID" if definition.name == "OwnerId" else definition.name
        if not is_id(value):
            raise SaveError("MALFORMED_ID", f"{label}: id value of incorrect type: {value}",
                            [definition.name])
        target = type_of_id(value)
        if target not in definition.reference_to:
            raise SaveError("FIELD_INTEGRITY_EXCEPTION",
                            f"{label}: id value of incorrect type: {value}", [definition.name])
        row = self.get(target, value) if target in self.tables else None
        if row is None or self.tables[target].value(row, "IsDeleted"):
            raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                            [definition.name])
        if target == "User" and not self.tables["User"].value(row, "IsActive"):
            raise SaveError("INACTIVE_OWNER_OR_USER",
                            f"operation performed with inactive user [{to_18(value)}] as owner "
                            f"of {sobject.lower()}", [definition.name])
        return to_18(value)

