"""The objects and fields the sandbox org knows, and their ``describe`` payloads.

Each object is a list of :class:`FieldDef`. The types are the REST describe types
(``id``, ``string``, ``reference``, ``datetime``, ...) because those decide how a SOQL literal
must be written and how a value is rendered in JSON and CSV. Custom fields created through the
Tooling API are appended at run time with :meth:`ObjectDef.add_field`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FieldDef", "ObjectDef", "build_schema", "NUMERIC_TYPES"]

NUMERIC_TYPES = frozenset({"double", "int", "currency", "percent"})
_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "string": "xsd:string", "email": "xsd:string",
    "phone": "xsd:string", "url": "xsd:string", "picklist": "xsd:string",
    "multipicklist": "xsd:string", "textarea": "xsd:string", "boolean": "xsd:boolean",
    "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double", "int": "xsd:int",
    "datetime": "xsd:dateTime", "date": "xsd:date",
}


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field: its API name, describe type and whether the API may write it."""

    name: str
    type: str
    label: str = ""
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    length: int = 255
    custom: bool = False
    #: picklist values in order, each (value, is the default); ``restricted``: only these save
    picklist: tuple[tuple[str, bool], ...] = ()
    restricted: bool = False

    @property
    def default_value(self) -> str | None:
        return next((v for v, default in self.picklist if default), None)

    def describe(self) -> dict[str, object]:
        """The field as ``sobjects/{Type}/describe`` lists it (the keys clients read)."""
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "length": self.length if self.type not in NUMERIC_TYPES else 0,
            "custom": self.custom,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "filterable": self.type != "textarea",
            "sortable": self.type != "textarea",
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "calculated": False,
            "unique": False,
            "externalId": False,
            # REST API Developer Guide, "sObject Describe": picklistValues[] (active, defaultValue,
            # label, validFor, value) and restrictedPicklist
            "picklistValues": [{"active": True, "defaultValue": default, "label": value, "validFor": None,
                                "value": value} for value, default in self.picklist],
            "restrictedPicklist": self.restricted,
            "defaultValue": None,
        }


@dataclass(slots=True)
class ObjectDef:
    """An sObject type: its fields (in a stable order) and its key prefix."""

    name: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    label: str = ""
    #: Field-level security for fields that need it (custom fields created through the
    #: Tooling API): "none" hides the field from the API user, "read" makes it read-only.
    access: dict[str, str] = field(default_factory=dict)

    def add_field(self, definition: FieldDef) -> None:
        self.fields[definition.name] = definition

    def find(self, name: str) -> FieldDef | None:
        """Look a field the API user can see up, case-insensitively, as the API does."""
        got = self.fields.get(name)
        if got is None:
            lowered = name.lower()
            got = next((f for f in self.fields.values() if f.name.lower() == lowered), None)
        if got is not None and self.access.get(got.name) == "none":
            return None
        return got

    def writable(self, definition: FieldDef) -> bool:
        """False when field-level security grants read but not edit."""
        return self.access.get(definition.name, "edit") == "edit"

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is ``name`` (``Account`` → AccountId)."""
        lowered = name.lower()
        for candidate in self.fields.values():
            if candidate.relationship_name and candidate.relationship_name.lower() == lowered:
                return candidate
        return None

    def describe(self, base: str) -> dict[str, object]:
        url = f"{base}/sobjects/{self.name}"
        return {
            **self.describe_global(base),
            "fields": [{**f.describe(), "updateable": f.updateable and self.writable(f),
                        "createable": f.createable and self.writable(f)}
                       for f in self.fields.values() if self.access.get(f.name) != "none"],
            "childRelationships": [],
            "recordTypeInfos": [],
            "urls": {"sobject": url, "describe": f"{url}/describe", "rowTemplate": f"{url}/{{ID}}"},
        }

    def describe_global(self, base: str) -> dict[str, object]:
        url = f"{base}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label or self.name,
            "labelPlural": (self.label or self.name) + "s",
            "keyPrefix": self.key_prefix,
            "custom": False,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "urls": {"sobject": url, "describe": f"{url}/describe", "rowTemplate": f"{url}/{{ID}}"},
        }


def _f(name: str, type_: str, **kw: object) -> FieldDef:
    return FieldDef(name, type_, **kw)  # type: ignore[arg-type]


def _ref(name: str, to: str | tuple[str, ...], rel: str, **kw: object) -> FieldDef:
    targets = (to,) if isinstance(to, str) else to
    return FieldDef(name, "reference", reference_to=targets, relationship_name=rel, length=18,
                    **kw)  # type: ignore[arg-type]


def _system(owner: bool = True) -> list[FieldDef]:
    ro = {"updateable": False, "createable": False}
    out = [
        _f("Id", "id", nillable=False, length=18, **ro),
        _f("IsDeleted", "boolean", nillable=False, **ro),
        _f("CreatedDate", "datetime", **ro),
        _ref("CreatedById", "User", "CreatedBy", **ro),
        _f("LastModifiedDate", "datetime", **ro),
        _ref("LastModifiedById", "User", "LastModifiedBy", **ro),
        _f("SystemModstamp", "datetime", **ro),
    ]
    if owner:
        out.append(_ref("OwnerId", ("User", "Group"), "Owner"))
    return out


def _person() -> list[FieldDef]:
    return [
        _f("FirstName", "string", length=40), _f("LastName", "string", length=80),
        _f("Name", "string", updateable=False, createable=False, length=121),
        _f("Email", "email", length=80), _f("Title", "string", length=128),
        _f("Phone", "phone", length=40), _f("LeadSource", "picklist"),
        _f("HasOptedOutOfEmail", "boolean", nillable=False),
    ]


#: A stock org's Task Status and Priority values, defaults marked (Object Reference, "Task").
TASK_STATUS = (("Not Started", True), ("In Progress", False), ("Completed", False),
               ("Waiting on someone else", False), ("Deferred", False))
TASK_PRIORITY = (("High", False), ("Normal", True), ("Low", False))
TASK_SUBTYPE = (("Task", True), ("Email", False), ("ListEmail", False), ("Cadence", False), ("Call", False),
                ("LinkedIn", False))

#: Fit fields some orgs add on Account (``create_server(custom_fields=True)``); a stock org has none.
EXTRA_ACCOUNT_FIELDS = (
    FieldDef("Tech_Stack__c", "multipicklist", label="Tech Stack", custom=True, length=4099),
    FieldDef("Segment__c", "picklist", label="Segment", custom=True),
)


def build_schema(custom_fields: bool = False) -> dict[str, ObjectDef]:
    """A fresh schema (custom fields are per server, so each server gets its own copy): the
    standard objects and fields of a stock org; ``custom_fields`` adds
    :data:`EXTRA_ACCOUNT_FIELDS`, as an admin would have."""
    ro = {"updateable": False, "createable": False}
    specs: dict[str, tuple[str, list[FieldDef]]] = {
        "User": ("005", _system(owner=False) + [
            _f("Username", "string", length=80), _f("FirstName", "string", length=40),
            _f("LastName", "string", length=80), _f("Name", "string", length=121, **ro),
            _f("Email", "email", length=128), _f("Title", "string", length=80),
            _f("Department", "string", length=80), _f("Country", "string", length=80),
            _f("State", "string", length=80), _f("IsActive", "boolean", nillable=False),
        ]),
        "Account": ("001", _system() + [
            _f("Name", "string"), _f("Website", "url"), _f("Industry", "picklist"),
            _f("NumberOfEmployees", "int"), _f("AnnualRevenue", "currency"),
            _f("BillingCountry", "string", length=80), _f("BillingState", "string", length=80),
            _f("BillingCity", "string", length=40), _f("Type", "picklist"),
            *(EXTRA_ACCOUNT_FIELDS if custom_fields else ()),
        ]),
        "Lead": ("00Q", _system() + _person() + [
            _f("Company", "string"), _f("Country", "string", length=80),
            _f("State", "string", length=80), _f("City", "string", length=40),
            _f("Industry", "picklist"), _f("NumberOfEmployees", "int"),
            _f("AnnualRevenue", "currency"), _f("Status", "picklist"), _f("Rating", "picklist"),
            _f("Website", "url"), _f("IsConverted", "boolean", nillable=False, **ro),
            _f("ConvertedDate", "date", **ro),
            _ref("ConvertedAccountId", "Account", "ConvertedAccount", **ro),
            _ref("ConvertedContactId", "Contact", "ConvertedContact", **ro),
            _ref("MasterRecordId", "Lead", "MasterRecord", **ro),
        ]),
        "Contact": ("003", _system() + _person() + [
            _ref("AccountId", "Account", "Account"), _f("Department", "string", length=80),
            _f("MailingCountry", "string", length=80), _f("MailingState", "string", length=80),
            _f("MailingCity", "string", length=40),
            _ref("MasterRecordId", "Contact", "MasterRecord", **ro),
        ]),
        "Campaign": ("701", _system() + [
            _f("Name", "string", length=80), _f("Type", "picklist"), _f("Status", "picklist"),
            _f("StartDate", "date"), _f("EndDate", "date"),
            _f("IsActive", "boolean", nillable=False),
        ]),
        "CampaignMember": ("00v", _system(owner=False) + [
            _ref("CampaignId", "Campaign", "Campaign"), _ref("LeadId", "Lead", "Lead"),
            _ref("ContactId", "Contact", "Contact"), _f("Status", "picklist"),
            _f("HasResponded", "boolean", nillable=False, **ro),
            _f("FirstRespondedDate", "date", **ro),
        ]),
        "Task": ("00T", _system() + [
            _f("Subject", "string"), _ref("WhoId", ("Lead", "Contact"), "Who"),
            _ref("WhatId", ("Account", "Campaign"), "What"), _f("ActivityDate", "date"),
            _f("Status", "picklist", picklist=TASK_STATUS, restricted=True, nillable=False),
            _f("Priority", "picklist", picklist=TASK_PRIORITY, restricted=True, nillable=False),
            _f("TaskSubtype", "picklist", picklist=TASK_SUBTYPE, updateable=False),
            _f("Type", "picklist"), _f("Description", "textarea", length=32000),
            _f("CallDurationInSeconds", "int"), _f("CallType", "picklist"),
            _f("CompletedDateTime", "datetime", **ro),
        ]),
        "Event": ("00U", _system() + [
            _f("Subject", "string"), _ref("WhoId", ("Lead", "Contact"), "Who"),
            _ref("WhatId", ("Account", "Campaign"), "What"), _f("StartDateTime", "datetime"),
            _f("EndDateTime", "datetime"), _f("ActivityDateTime", "datetime"),
            _f("DurationInMinutes", "int"), _f("Type", "picklist"),
            _f("Description", "textarea", length=32000),
        ]),
        "PermissionSet": ("0PS", _system(owner=False) + [
            _f("Name", "string", length=80), _f("Label", "string", length=80),
            _f("IsOwnedByProfile", "boolean", nillable=False, **ro),
        ]),
        "PermissionSetAssignment": ("0Pa", _system(owner=False) + [
            _ref("AssigneeId", "User", "Assignee"),
            _ref("PermissionSetId", "PermissionSet", "PermissionSet"),
        ]),
        "FieldPermissions": ("01k", _system(owner=False) + [
            _ref("ParentId", "PermissionSet", "Parent"), _f("SobjectType", "picklist"),
            _f("Field", "picklist"), _f("PermissionsRead", "boolean", nillable=False),
            _f("PermissionsEdit", "boolean", nillable=False),
        ]),
    }
    schema: dict[str, ObjectDef] = {}
    for name, (prefix, fields) in specs.items():
        obj = ObjectDef(name, prefix, label=name)
        for definition in fields:
            obj.add_field(definition)
        schema[name] = obj
    return schema
