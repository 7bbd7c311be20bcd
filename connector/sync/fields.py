"""Canonical names of what leadscore writes → the CRM's field names.

The sync thinks in canonical keys (``score``, ``grade``, ``reasons``, ``mql``, ``lifecycle_stage``
...); adapters write CRM field names. An adapter that carries a mapping (``adapter.mapping`` with
``write_property(obj, key)`` and ``contacts.fields`` / ``companies.fields``, as the HubSpot
mapping does) decides; otherwise ``leadscore_<key>`` is used. A key the mapping does not list is
not written at all, so a threshold flag is written only when the admin mapped it.

``set_fields`` actions (lifecycle stage, lead status) write ordinary CRM fields, which can differ
by the kind of person: in Salesforce a Lead's status is ``Lead.Status`` while a Contact has none
unless the admin maps one. An adapter whose people come in more than one kind says which fields
a record has with ``person_fields(record_id)`` (canonical field → CRM field); otherwise the
lead mapping (``contacts.fields``) applies to everyone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SET_FIELDS", "FieldNames", "field_names_for"]

#: canonical fields a ``set_fields`` action may write
SET_FIELDS = ("lifecycle_stage", "lead_status")

_CRM_OBJECT = {"lead": "contacts", "account": "companies"}


@dataclass(frozen=True)
class FieldNames:
    lead: Mapping[str, str]
    account: Mapping[str, str]
    #: record id → canonical field → CRM field of that person's kind (None: ``lead`` for all)
    person: Callable[[str], Mapping[str, str]] | None = None

    def crm(self, obj: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """The values under their CRM names, dropping keys with no CRM field."""
        names = self.lead if obj == "lead" else self.account
        return {names[k]: v for k, v in values.items() if k in names}

    def for_person(self, record_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """``set_fields`` values under the CRM names of this record's kind, dropping fields it lacks."""
        if self.person is None:
            return self.crm("lead", values)
        names = self.person(record_id)
        return {names[k]: v for k, v in values.items() if k in SET_FIELDS and k in names}

    def has(self, obj: str, key: str) -> bool:
        return key in (self.lead if obj == "lead" else self.account)


DEFAULT = FieldNames(
    lead={k: f"leadscore_{k}" for k in ("score", "fit", "intent", "grade", "priority", "reasons", "model_version",
                                        "scored_at", "probability", "probability_tier")}
    | {"lifecycle_stage": "lifecycle_stage", "lead_status": "lead_status"},
    account={"score": "leadscore_account_score", "model_version": "leadscore_model_version",
             "scored_at": "leadscore_scored_at"},
)


def field_names_for(adapter: Any) -> FieldNames:
    mapping: Any = getattr(adapter, "mapping", None)
    write_back = getattr(mapping, "write_back", None)
    if write_back is None:
        return DEFAULT
    lead = {k: v.name for k, v in write_back.contacts.items()}
    account = {k: v.name for k, v in write_back.companies.items()}
    for key in SET_FIELDS:  # set_fields actions write ordinary CRM fields
        crm_name = mapping.contacts.fields.get(key)
        if crm_name:
            lead.setdefault(key, crm_name)
    return FieldNames(lead, account, getattr(adapter, "person_fields", None))
