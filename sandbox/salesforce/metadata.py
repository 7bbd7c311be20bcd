"""The Metadata API's ``createMetadata`` / ``readMetadata`` for ``CustomField``, over SOAP.

simple-salesforce's ``sf.mdapi.CustomField.create([...])`` and ``.read([...])`` go through
zeep to ``{instance}/services/Soap/m/{version}/``, with the session in a ``SessionHeader``.
The answers follow the Metadata API WSDL (``createMetadataResponse/result`` SaveResults,
``readMetadataResponse/result/records`` with ``xsi:type="CustomField"``); a bad session is the
``INVALID_SESSION_ID`` SOAP fault. Fields created here behave exactly like Tooling API ones
(hidden until ``FieldPermissions`` grant them). At most 10 components per call, as documented.

zeep opens its own ``requests`` session, so it trusts the sandbox only through
``REQUESTS_CA_BUNDLE`` (point it at ``connection_info()["ca_cert"]``), unlike the REST calls,
which use the injected session.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from .errors import ApiError
from .tooling import CustomFields

if TYPE_CHECKING:
    from .app import SalesforceApp

__all__ = ["register_metadata"]

_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_MD = "http://soap.sforce.com/2006/04/metadata"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_MAX_COMPONENTS = 10
_FIELD_ELEMENTS = ("label", "type", "length", "precision", "scale", "description",
                   "inlineHelpText", "defaultValue", "visibleLines")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _envelope(body: str) -> Response:
    text = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{_SOAP}" '
            f'xmlns="{_MD}" xmlns:xsi="{_XSI}"><soapenv:Body>{body}</soapenv:Body>'
            "</soapenv:Envelope>")
    return Response(text, status=200, content_type="text/xml;charset=UTF-8")


def _fault(code: str, message: str) -> Response:
    text = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{_SOAP}" '
            f'xmlns:sf="{_MD}"><soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode>'
            f"<faultstring>{code}: {escape(message)}</faultstring></soapenv:Fault>"
            "</soapenv:Body></soapenv:Envelope>")
    return Response(text, status=500, content_type="text/xml;charset=UTF-8")


class _Metadata:
    def __init__(self, app: SalesforceApp, fields: CustomFields) -> None:
        self.app = app
        self.fields = fields

    def handle(self, request: Request, version: str, org: str = "") -> Response:
        try:
            root = ET.fromstring(request.get_data())
        except ET.ParseError:
            return _fault("INVALID_XML", "The request body is not well-formed XML")
        session = next((el.text or "" for el in root.iter() if _local(el.tag) == "sessionId"), "")
        try:
            self.app.sessions.check_token(session.strip())
        except ApiError:
            return _fault("INVALID_SESSION_ID",
                          "Invalid Session ID found in SessionHeader: Illegal Session")
        if not self.app.quota.take():
            return _fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        body = next((el for el in root if _local(el.tag) == "Body"), None)
        call = body[0] if body is not None and len(body) else None
        operation = _local(call.tag) if call is not None else ""
        if call is None or operation not in ("createMetadata", "readMetadata"):
            return _fault("UNKNOWN_EXCEPTION", f"The sandbox serves createMetadata and "
                          f"readMetadata only, not '{operation}'")
        if operation == "createMetadata":
            return self._create(call)
        return self._read(call)

    def _create(self, call: ET.Element) -> Response:
        components = [el for el in call if _local(el.tag) == "metadata"]
        if len(components) > _MAX_COMPONENTS:
            return _fault("EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than "
                          f"{_MAX_COMPONENTS} records in this operation")
        results = []
        for component in components:
            kind = (component.get(f"{{{_XSI}}}type") or "").rsplit(":", 1)[-1]
            values = {_local(el.tag): (el.text or "") for el in component}
            full_name = values.get("fullName", "")
            if kind != "CustomField":
                results.append(_save_result(full_name, "INVALID_TYPE", f"The sandbox creates "
                                            f"CustomField components only, not '{kind}'"))
                continue
            metadata = {k: values[k] for k in _FIELD_ELEMENTS if values.get(k)}
            try:
                self.fields.create(full_name, metadata)
            except ApiError as exc:
                results.append(_save_result(full_name, exc.error_code, exc.message))
                continue
            results.append(f"<result><fullName>{escape(full_name)}</fullName>"
                           "<success>true</success></result>")
        return _envelope(f"<createMetadataResponse>{''.join(results)}</createMetadataResponse>")

    def _read(self, call: ET.Element) -> Response:
        kind = next((el.text or "" for el in call if _local(el.tag) == "type"), "")
        names = [el.text or "" for el in call if _local(el.tag) == "fullNames"]
        if len(names) > _MAX_COMPONENTS:
            return _fault("EXCEEDED_ID_LIMIT", f"record limit reached. cannot read more than "
                          f"{_MAX_COMPONENTS} records in this operation")
        records = []
        for name in names:
            found = self.fields.find(name) if kind == "CustomField" else None
            if found is None:
                continue
            parts = [f"<fullName>{escape(found['FullName'])}</fullName>"]
            parts += [f"<{key}>{escape(str(value))}</{key}>"
                      for key, value in found["Metadata"].items() if key in _FIELD_ELEMENTS]
            records.append(f'<records xsi:type="CustomField">{"".join(parts)}</records>')
        return _envelope(f"<readMetadataResponse><result>{''.join(records)}</result>"
                         "</readMetadataResponse>")


def _save_result(full_name: str, code: str, message: str) -> str:
    return (f"<result><errors><message>{escape(message)}</message><statusCode>{code}"
            f"</statusCode></errors><fullName>{escape(full_name)}</fullName>"
            "<success>false</success></result>")


def register_metadata(app: SalesforceApp, fields: CustomFields) -> None:
    """Add the Metadata API SOAP endpoint (it authenticates by SessionHeader itself)."""
    handler = _Metadata(app, fields)
    for template in ("/services/Soap/m/<version>", "/services/Soap/m/<version>/<org>"):
        app.route("POST", template, handler.handle, public=True)
