"""Load and validate a CRM mapping file (which CRM property feeds which canonical field, what
leadscore writes back, which engagement becomes which event type).

The package ships ``mappings/hubspot.yaml``; an admin overrides it with their own file (setting
``LEADSCORE_HUBSPOT__MAPPING`` or ``--mapping``) without editing the package. Every problem names
the file, the line and the key path, as scoring models do (:class:`scoring.yamlsource.YamlSource`).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from scoring.errors import ConfigError, Problem
from scoring.records import ACCOUNT_FIELDS, LEAD_FIELDS, is_valid_event_type
from scoring.yamlsource import YamlSource, format_path, validate

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "BUILTIN_HUBSPOT",
    "parse_mapping",
    "read_mapping_text",
    "Engagement",
    "HubSpotMapping",
    "WriteKey",
    "WriteProperty",
    "load_hubspot_mapping",
    "parse_hubspot_mapping",
]

BUILTIN_HUBSPOT = "hubspot.yaml"

#: What the connector writes; the mapping gives each its CRM property.
#: ``probability``/``probability_tier``: a predictive model's output (``leadscore sync --predictive-model``),
#: written beside the rules score so both can be compared in the CRM.
WriteKey = Literal["score", "fit", "intent", "grade", "priority", "reasons", "model_version", "scored_at",
                   "mql", "mql_date", "probability", "probability_tier"]
_NAME = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectFields(_Strict):
    fields: dict[str, str] = Field(description="canonical field → CRM property")
    custom: dict[str, str] = Field(default_factory=dict, description="custom field name → CRM property")

    def properties(self) -> list[str]:
        """Every CRM property to request, in a stable order."""
        return sorted({*self.fields.values(), *self.custom.values()})


class ContactFields(ObjectFields):
    account_from: Literal["associations", "property"] = "associations"


class WriteProperty(_Strict):
    name: str = Field(pattern=_NAME)
    label: str
    type: Literal["number", "text", "textarea", "datetime", "date", "bool", "enumeration"]
    description: str = ""
    options: tuple[str, ...] = ()


class Group(_Strict):
    name: str = Field(pattern=_NAME)
    label: str


class WriteBack(_Strict):
    group: Group
    contacts: dict[WriteKey, WriteProperty]
    companies: dict[WriteKey, WriteProperty] = Field(default_factory=dict)


class Engagement(_Strict):
    object: Literal["emails", "meetings", "calls", "notes", "tasks"]
    property: str | None = None
    values: dict[str, str] = Field(default_factory=dict)
    type: str | None = None

    def event_type(self, props: dict[str, Any]) -> str | None:
        if self.property is not None:
            return self.values.get(str(props.get(self.property) or ""), self.type)
        return self.type


class Events(_Strict):
    web: dict[str, str] = Field(default_factory=dict)
    email: dict[str, str] = Field(default_factory=dict)
    forms: str | None = None
    engagements: list[Engagement] = Field(default_factory=list)


class HubSpotMapping(_Strict):
    version: Literal[1]
    contacts: ContactFields
    companies: ObjectFields
    write_back: WriteBack
    events: Events = Events()

    def write_property(self, obj: Literal["contacts", "companies"], key: str) -> str | None:
        spec = getattr(self.write_back, obj).get(key)
        return spec.name if spec else None


def _semantic(m: HubSpotMapping) -> list[tuple[tuple[str | int, ...], str, str | None]]:
    out: list[tuple[tuple[str | int, ...], str, str | None]] = []
    for obj, allowed in (("contacts", LEAD_FIELDS), ("companies", ACCOUNT_FIELDS)):
        for name in getattr(m, obj).fields:
            if name not in allowed:
                out.append(((obj, "fields", name), f"'{name}' is not a canonical field",
                            f"one of {', '.join(allowed)}; put other properties under 'custom'"))
    if "account_id" in m.contacts.fields:
        out.append((("contacts", "fields", "account_id"), "account_id comes from account_from, not a property",
                    "set contacts.account_from: property to use associatedcompanyid"))

    def check_type(loc: tuple[str | int, ...], value: str | None) -> None:
        if value is not None and not is_valid_event_type(value):
            out.append((loc, f"'{value}' is not a valid event type", "use lower-case words joined by _ . or :"))

    for section in ("web", "email"):
        for key, value in getattr(m.events, section).items():
            check_type(("events", section, key), value)
    check_type(("events", "forms"), m.events.forms)
    for i, e in enumerate(m.events.engagements):
        for key, value in e.values.items():
            check_type(("events", "engagements", i, "values", key), value)
        check_type(("events", "engagements", i, "type"), e.type)
        if e.type is None and not (e.property and e.values):
            out.append((("events", "engagements", i), "needs 'type', or 'property' with 'values'", None))
    for obj in ("contacts", "companies"):
        for key, spec in getattr(m.write_back, obj).items():
            if spec.type == "enumeration" and not spec.options:
                out.append((("write_back", obj, key, "options"), "an enumeration needs options", None))
    return out


Located = tuple[tuple[str | int, ...], str, str | None]  # (key path, message, hint)


def parse_mapping(text: str, source: str, model: type[M], semantic: Callable[[M], list[Located]]) -> M:
    """Validate YAML text as a mapping of either CRM, or raise ConfigError listing every problem."""
    src = YamlSource(text, source)
    if not isinstance(src.data, dict):
        raise ConfigError([Problem(source, 1, "", "a mapping file must be a mapping of keys",
                                   "start with 'version: 1'")])
    mapping = validate(src, model)
    found = semantic(mapping)
    if found:
        raise ConfigError([Problem(source, src.line_of(loc), format_path(loc), msg, hint) for loc, msg, hint in found])
    return mapping


def read_mapping_text(path: Path | None, builtin: str) -> tuple[str, str]:
    """(text, source label) of the admin's mapping file, or of the built-in one when ``path`` is None."""
    if path is None:
        return resources.files("mappings").joinpath(builtin).read_text("utf-8"), f"<built-in {builtin}>"
    try:
        return Path(path).read_text("utf-8"), str(path)
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, "", f"cannot read the mapping: {exc.strerror}")]) from None


def parse_hubspot_mapping(text: str, source: str = "<string>") -> HubSpotMapping:
    """Validate YAML text as a HubSpot mapping, or raise ConfigError listing every problem."""
    return parse_mapping(text, source, HubSpotMapping, _semantic)


def load_hubspot_mapping(path: Path | None = None) -> HubSpotMapping:
    """The admin's mapping file, or the built-in one when ``path`` is None."""
    return parse_hubspot_mapping(*read_mapping_text(path, BUILTIN_HUBSPOT))
