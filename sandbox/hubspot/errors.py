"""HubSpot's error bodies, as its public API sends them, and the exception that carries one.

Shapes come from HubSpot's responses quoted in its SDKs' issue trackers and docs:

- 401 ``INVALID_AUTHENTICATION``: hubspot-api-nodejs#148, #432.
- 403 ``MISSING_SCOPES`` with ``errors[].context.requiredGranularScopes``: hubspot-api-nodejs#268.
- 429 ``RATE_LIMIT`` with ``policyName``: https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details
- 409 ``CONFLICT`` ("Contact already exists. Existing ID: ..."): hubspot-api-python#51.
- 400 ``VALIDATION_ERROR`` whose ``message`` embeds the per-property errors
  (``PROPERTY_DOESNT_EXIST``, ``INVALID_OPTION``, ...) as JSON text, as the CRM objects API does.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

from sandbox.http import correlation_id, json_response

__all__ = [
    "HubSpotError",
    "error_body",
    "missing_scopes",
    "not_found",
    "property_errors",
    "rate_limited",
    "unauthorized",
    "validation",
]


class HubSpotError(Exception):
    """Raised by a handler to answer with a HubSpot error response."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> Response:
        return json_response(self.body, self.status, self.headers)


def error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    }
    body.update(extra)
    return body


def unauthorized(expired_ago_days: int | None = None) -> HubSpotError:
    if expired_ago_days is not None:
        return HubSpotError(401, error_body(
            "EXPIRED_AUTHENTICATION",
            f"The OAuth token used to make this call expired {expired_ago_days} day(s) ago.",
        ), {"X-HubSpot-Auth-Failure": "401 Unauthorized"})
    return HubSpotError(401, error_body(
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
        "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    ), {"X-HubSpot-Auth-Failure": "401 Unauthorized"})


def missing_scopes(required: list[str]) -> HubSpotError:
    return HubSpotError(403, error_body(
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about "
        "required scopes here: https://developers.hubspot.com/scopes.",
        errors=[{
            "message": "One or more of the following scopes are required.",
            "context": {"requiredGranularScopes": list(required)},
        }],
        links={"scopes": "https://developers.hubspot.com/scopes"},
    ))


def not_found(message: str = "") -> HubSpotError:
    return HubSpotError(404, error_body("OBJECT_NOT_FOUND", message or "resource not found"))


def validation(message: str, **extra: Any) -> HubSpotError:
    return HubSpotError(400, error_body("VALIDATION_ERROR", message, **extra))


def property_errors(portal_id: int, problems: list[tuple[str, str, str]]) -> HubSpotError:
    """400 for invalid property values; ``problems`` are (property, error code, message)."""
    details = [
        {"isValid": False, "message": msg, "error": code, "name": name,
         "localizedErrorMessage": msg, "portalId": portal_id}
        for name, code, msg in problems
    ]
    return validation(
        f"Property values were not valid: {json.dumps(details, separators=(',', ':'))}",
        errors=[{"message": msg, "code": code, "context": {"propertyName": [name]}}
                for name, code, msg in problems],
    )


def rate_limited(policy: str, message: str, headers: dict[str, str]) -> HubSpotError:
    body = {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
    }
    return HubSpotError(429, body, headers)
