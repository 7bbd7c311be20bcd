"""Creating custom fields through the Tooling API, the way an installer does it.

``POST /services/data/vXX.X/tooling/sobjects/CustomField`` with ``FullName``
(``Lead.Lead_Score__c``) and ``Metadata`` (``type``, ``label``, ``length`` or
``precision``/``scale``) creates the field; ``GET .../CustomField/{id}`` reads it back. As in a
real org, a new field is invisible to the API user (describe omits it, SOQL and writes get
``INVALID_FIELD``) until field-level security grants it: insert a ``FieldPermissions`` row
(``ParentId`` a PermissionSet, ``SobjectType``, ``Field`` = the full name,
``PermissionsRead``/``PermissionsEdit``) through the ordinary REST sObject endpoints.
Shapes: Tooling API Developer Guide, "CustomField"; Metadata API, "CustomField".
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response

from .errors import ApiError, not_found
from .schema import FieldDef
from .store import Org

if TYPE_CHECKING:
    from .app import SalesforceApp

__all__ = ["METADATA_TYPES", "CustomFields", "register_tooling"]

#: Metadata ``type`` → REST describe type.
METADATA_TYPES = {
    "Text": "string", "TextArea": "textarea", "LongTextArea": "textarea", "Number": "double",
    "Percent": "percent", "Currency": "currency", "Checkbox": "boolean", "Date": "date",
    "DateTime": "datetime", "Picklist": "picklist", "MultiselectPicklist": "multipicklist",
    "Email": "email", "Url": "url", "Phone": "phone",
}
_API_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*__c")


class CustomFields:
    """Custom fields created at run time (by the Tooling or the Metadata API), by id."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.by_id: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def create(self, full_name: str, metadata: dict[str, Any]) -> str:
        """Add ``Object.Field__c`` (hidden until FieldPermissions grant it); returns its id or
        raises :class:`ApiError` with the code Salesforce uses."""
        sobject_name, _, field_name = full_name.partition(".")
        obj = self.org.object(sobject_name)
        if obj is None or not field_name:
            raise ApiError(400, "INVALID_INPUT", f"FullName must be Object.Field__c, got "
                           f"'{full_name}'", [])
        if not _API_NAME.fullmatch(field_name):
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", "The Field Name field can only "
                           "contain underscores and alphanumeric characters. It must be unique, "
                           "begin with a letter, not include spaces, not end with an underscore, "
                           "and not contain two consecutive underscores.", ["FullName"])
        kind = METADATA_TYPES.get(str(metadata.get("type")))
        if kind is None:
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"Unsupported field type "
                           f"'{metadata.get('type')}'; use one of {sorted(METADATA_TYPES)}",
                           ["Metadata"])
        with self.org.lock:
            if field_name.lower() in (f.lower() for f in obj.fields):
                raise ApiError(400, "DUPLICATE_DEVELOPER_NAME", f"There is already a field "
                               f"named {field_name[:-3]} on {obj.name}.", [])
            length = int(metadata.get("length") or (32768 if kind == "textarea" else 255))
            self.org.add_field(obj.name, FieldDef(
                field_name, kind, label=str(metadata.get("label") or field_name),
                length=length, custom=True, nillable=kind != "boolean"))
            self.org.secure_field(obj.name, field_name)
            field_id = self.org.ids.new("CustomField")
        with self.lock:
            self.by_id[field_id] = {"FullName": f"{obj.name}.{field_name}",
                                    "DeveloperName": field_name[:-3],
                                    "TableEnumOrId": obj.name, "Metadata": dict(metadata)}
        return field_id

    def find(self, full_name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((f for f in self.by_id.values()
                         if f["FullName"].lower() == full_name.lower()), None)


class _Tooling:
    def __init__(self, fields: CustomFields) -> None:
        self.fields = fields

    def create(self, request: Request, version: str) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        field_id = self.fields.create(str(body.get("FullName") or ""),
                                      dict(body.get("Metadata") or {}))
        return json_response({"id": field_id, "success": True, "errors": [], "warnings": [],
                              "infos": []}, 201)

    def read(self, request: Request, version: str, field_id: str) -> Response:
        with self.fields.lock:
            found = self.fields.by_id.get(field_id)
        if found is None:
            raise not_found()
        return json_response({"attributes": {"type": "CustomField", "url": f"/services/data/"
                              f"v{version}/tooling/sobjects/CustomField/{field_id}"},
                              "Id": field_id, **found})


def register_tooling(app: SalesforceApp, fields: CustomFields) -> None:
    """Add the Tooling API CustomField routes to a :class:`SalesforceApp`."""
    tooling = _Tooling(fields)
    base = "/services/data/v<version>/tooling/sobjects/CustomField"
    app.router.add("POST", base, tooling.create)
    app.router.add("GET", f"{base}/<field_id>", tooling.read)
