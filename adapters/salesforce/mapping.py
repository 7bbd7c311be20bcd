"""The Salesforce mapping file (``mappings/salesforce.yaml``): which field feeds which canonical
field, what leadscore writes back, and which engagement objects become which event types.

Admins override the built-in file with ``LEADSCORE_SALESFORCE__MAPPING``. Every problem names the
file, the line and the key path (the same :class:`~scoring.errors.Problem` shape the HubSpot
mapping and scoring models use). Field names are validated as Salesforce API names here, so a
mapping can never smuggle SOQL into a query: values are only ever used as field names.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mappings.loader import WriteKey, parse_mapping, read_mapping_text
from scoring.records import ACCOUNT_FIELDS, EVENT_ATTRIBUTES, LEAD_FIELDS, is_valid_event_type

__all__ = ["BUILTIN", "EventSource", "ObjectFields", "SalesforceMapping", "TaskSettings", "WriteField",
           "load_salesforce_mapping", "parse_salesforce_mapping"]

BUILTIN = "salesforce.yaml"
#: A Salesforce field or object API name (standard or ``__c``): letters, digits, single underscores.
_API_NAME = r"^[A-Za-z][A-Za-z0-9_]*$"
_CUSTOM_FIELD = r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*__c$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectFields(_Strict):
    fields: dict[str, str] = Field(description="canonical field → Salesforce field")
    custom: dict[str, str] = Field(default_factory=dict, description="custom name → Salesforce field")

    def columns(self) -> list[str]:
        """Every field to select, Id first, then in a stable order."""
        return ["Id", *sorted({*self.fields.values(), *self.custom.values()} - {"Id"})]


class Rule(_Strict):
    match: dict[str, str]
    type: str

    def fits(self, row: dict[str, Any]) -> bool:
        return all(fnmatch.fnmatchcase(str(row.get(k) if row.get(k) is not None else ""), pattern)
                   for k, pattern in self.match.items())


class EventSource(_Strict):
    object: str = Field(pattern=_API_NAME)
    who: list[str] = Field(min_length=1)
    when: list[str] = Field(min_length=1)
    filters: dict[str, str | bool | int | float] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    type: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)

    def columns(self) -> list[str]:
        named = {*self.who, *self.when, *self.attributes.values(), *(k for r in self.rules for k in r.match)}
        return ["Id", "SystemModstamp", *sorted(named - {"Id", "SystemModstamp"})]

    def event_type(self, row: dict[str, Any]) -> str | None:
        return next((r.type for r in self.rules if r.fits(row)), self.type)


class WriteField(_Strict):
    name: str = Field(pattern=_CUSTOM_FIELD, description="custom field API name, ending in __c")
    label: str = Field(max_length=40)
    type: Literal["number", "text", "textarea", "datetime", "date", "bool"]
    description: str = ""


class WriteBack(_Strict):
    people: dict[WriteKey, WriteField]
    accounts: dict[WriteKey, WriteField] = Field(default_factory=dict)

    # The sync names write-back sections as HubSpot does (contacts/companies).
    @property
    def contacts(self) -> dict[WriteKey, WriteField]:
        return self.people

    @property
    def companies(self) -> dict[WriteKey, WriteField]:
        return self.accounts


class TaskSettings(_Strict):
    """Status and Priority of the Tasks leadscore creates (None: the org's picklist default)."""

    status: str | None = None
    priority: str | None = None


class SalesforceMapping(_Strict):
    version: Literal[1]
    leads: ObjectFields
    contacts: ObjectFields
    accounts: ObjectFields
    write_back: WriteBack
    events: list[EventSource] = Field(default_factory=list)
    tasks: TaskSettings = Field(default_factory=TaskSettings)

    def write_property(self, obj: str, key: str) -> str | None:
        section = self.write_back.accounts if obj in ("account", "accounts", "companies") else self.write_back.people
        spec = section.get(key)  # type: ignore[call-overload]
        return spec.name if spec else None


def _semantic(m: SalesforceMapping) -> list[tuple[tuple[str | int, ...], str, str | None]]:
    out: list[tuple[tuple[str | int, ...], str, str | None]] = []
    api = re.compile(_API_NAME)
    for obj, allowed in (("leads", LEAD_FIELDS), ("contacts", LEAD_FIELDS), ("accounts", ACCOUNT_FIELDS)):
        section: ObjectFields = getattr(m, obj)
        for name, field in section.fields.items():
            if name not in allowed:
                out.append(((obj, "fields", name), f"'{name}' is not a canonical field",
                            f"one of {', '.join(allowed)}; put other fields under 'custom'"))
            if not api.match(field):
                out.append(((obj, "fields", name), f"'{field}' is not a Salesforce field API name", None))
        for name, field in section.custom.items():
            if not api.match(field):
                out.append(((obj, "custom", name), f"'{field}' is not a Salesforce field API name", None))
    for i, src in enumerate(m.events):
        for key in ("who", "when"):
            for j, field in enumerate(getattr(src, key)):
                if not api.match(field):
                    out.append((("events", i, key, j), f"'{field}' is not a Salesforce field API name", None))
        for field in [*src.filters, *src.attributes.values(), *(k for r in src.rules for k in r.match)]:
            if not api.match(field):
                out.append((("events", i), f"'{field}' is not a Salesforce field API name", None))
        for attr in src.attributes:
            if attr not in EVENT_ATTRIBUTES:
                out.append((("events", i, "attributes", attr), f"'{attr}' is not an event attribute",
                            f"one of {', '.join(EVENT_ATTRIBUTES)}"))
        for j, rule in enumerate(src.rules):
            if not is_valid_event_type(rule.type):
                out.append((("events", i, "rules", j, "type"), f"'{rule.type}' is not a valid event type", None))
        if src.type is not None and not is_valid_event_type(src.type):
            out.append((("events", i, "type"), f"'{src.type}' is not a valid event type", None))
        if src.type is None and not src.rules:
            out.append((("events", i), "needs 'type', or 'rules'", None))
    return out


def parse_salesforce_mapping(text: str, source: str = "<string>") -> SalesforceMapping:
    """Validate YAML text as a Salesforce mapping, or raise ConfigError listing every problem."""
    return parse_mapping(text, source, SalesforceMapping, _semantic)


def load_salesforce_mapping(path: Path | None = None) -> SalesforceMapping:
    """The admin's mapping file, or the built-in one when ``path`` is None."""
    return parse_salesforce_mapping(*read_mapping_text(path, BUILTIN))
