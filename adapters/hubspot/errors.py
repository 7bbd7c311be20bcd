"""HubSpot failures as adapter errors (the tree is in :mod:`adapters.errors`).

Each generated sub-client of hubspot-api-client has its own ``ApiException`` class (with
``status``, ``body``, ``headers``), so we recognise them by shape, then let
:func:`adapters.retry.classify_http` decide. One HubSpot-specific case is added here: a 400 naming
a property the portal lacks (``PROPERTY_DOESNT_EXIST``) is a configuration problem, not a bad
record, so it stops the run with the property's name (:class:`UnknownProperty`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from adapters.errors import FatalAPIError
from adapters.retry import RequestRejected, classify_exception, classify_http, error_body

__all__ = ["UnknownProperty", "property_problems", "translate"]


class UnknownProperty(FatalAPIError):
    """The mapping names a property the portal does not have; the message names it."""

    def __init__(self, message: str, names: list[str]):
        super().__init__(message)
        self.names = names


_EMBEDDED = re.compile(r"(\[\{.*\}\])", re.S)


def property_problems(body: Any) -> list[dict[str, str]]:
    """Per-property errors of a 400 (``{name, error, message}``), from ``errors[]`` or from the JSON
    HubSpot embeds in ``message`` ("Property values were not valid: [...]")."""
    if not isinstance(body, dict):
        return []
    out: list[dict[str, str]] = []
    for e in body.get("errors") or []:
        names = ((e.get("context") or {}).get("propertyName") or []) if isinstance(e, dict) else []
        for n in names:
            out.append({"name": str(n), "error": str(e.get("code") or ""), "message": str(e.get("message") or "")})
    if not out:
        m = _EMBEDDED.search(str(body.get("message") or ""))
        if m:
            try:
                for d in json.loads(m.group(1)):
                    out.append({"name": str(d.get("name")), "error": str(d.get("error")),
                                "message": str(d.get("message"))})
            except (ValueError, AttributeError):
                pass
    return out


def translate(exc: BaseException, what: str) -> BaseException:
    """The adapter error ``exc`` means; exceptions that are not API or transport errors (bugs)
    come back unchanged."""
    transport = classify_exception(exc, what)
    if transport is not None:
        return transport
    if not (type(exc).__module__.startswith("hubspot") and hasattr(exc, "status")):
        return exc
    status = int(getattr(exc, "status", 0) or 0)
    if status == 0:  # the client could not send it (TLS trust, bad arguments): not transient
        return FatalAPIError(f"{what}: {getattr(exc, 'reason', exc)}")
    body = error_body(getattr(exc, "body", None))
    headers = dict(getattr(exc, "headers", None) or {})
    err = classify_http(status, body, headers, what)
    if isinstance(err, RequestRejected) and status == 400:
        unknown = sorted({p["name"] for p in property_problems(body) if p["error"] == "PROPERTY_DOESNT_EXIST"})
        if unknown:
            return UnknownProperty(
                f"{what}: the portal has no property {', '.join(unknown)} — run `leadscore install --crm hubspot`, "
                f"or fix the mapping (`leadscore check-mapping --crm hubspot`)", unknown)
    return err
