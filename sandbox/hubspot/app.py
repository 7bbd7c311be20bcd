"""The HubSpot sandbox WSGI application: routing, bearer auth, scopes and rate limits.

Every request goes through the same steps, in HubSpot's order: route → authenticate the bearer
token (401 ``INVALID_AUTHENTICATION`` / ``EXPIRED_AUTHENTICATION``) → check the token's scopes
(403 ``MISSING_SCOPES``) → daily limit and the rolling 10-second window, or for search its own
per-second limit (429 ``RATE_LIMIT``) → the handler. Responses to private-app tokens carry the
``X-HubSpot-RateLimit-*`` headers (https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details);
search responses do not, and a search 429 has no ``Retry-After``.

HubSpot's variation is modelled, each from the page it follows:

- **Dated API versions** (https://developers.hubspot.com/docs/api-reference/latest/overview): every
  route with a dated equivalent is served at both paths (``/crm/v3/objects/…`` and
  ``/crm/objects/2026-09/…``, versions in :data:`VERSIONS`). With ``retire_numbered_paths`` the
  numbered ones answer as after their end of support (v4 on 2027-03-30, v1–v3 in September 2027:
  https://developers.hubspot.com/changelog/legacy-apis-and-legacy-apps-whats-going-unsupported-and-when);
  the few with no dated equivalent (forms, form submissions, marketing e-mail events, private-app
  token info) keep answering.
- **Tiers** (https://developers.hubspot.com/docs/developer-tooling/platform/apis-by-tier and each
  spec's ``x-hubspot-product-tier-requirements``): event occurrences need Enterprise, sequences
  Professional; below that HubSpot answers 403.
- **Limits by tier and auth kind**
  (https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines): Service Keys
  and legacy private apps 100 / 10 s and 250,000 a day on Free and Starter, 190 / 10 s on
  Professional (650,000 a day) and Enterprise (1,000,000); OAuth apps 100 / 10 s and no daily headers.
- **Validation rules** (from 2026-09, writes are checked against the portal's property validation
  rules: https://developers.hubspot.com/docs/api-reference/latest/crm/property-validations): a
  write through a dated path whose value breaks a rule is refused with 400, the whole batch, as
  for any invalid value.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from sandbox.http import ENDPOINT_KEY, DailyQuota, RollingWindowLimiter, Router, json_response
from sandbox.hubspot import crm, marketing
from sandbox.hubspot.errors import (
    HubSpotError,
    error_body,
    missing_scopes,
    property_errors,
    rate_limited,
    unauthorized,
)
from sandbox.hubspot.portal import Portal, Token
from sandbox.hubspot.schema import object_type

__all__ = ["AUTH_KINDS", "HubSpotApp", "HubSpotOptions", "TIERS", "VERSIONS", "dated_template", "limits_for"]

#: The dated versions served (March and September releases, each supported at least 18 months).
VERSIONS = ("2026-03", "2026-09")
TIERS = ("free", "starter", "professional", "enterprise")
AUTH_KINDS = ("service-key", "oauth", "legacy-private-app")
_RANK = {t: i for i, t in enumerate(TIERS)}

#: numbered prefix → dated prefix ({v}: the version), per the dated reference's paths
_DATED = (("/crm/v3/objects/", "/crm/objects/{v}/"), ("/crm/v4/objects/", "/crm/objects/{v}/"),
          ("/crm/v3/properties/", "/crm/properties/{v}/"), ("/crm/v4/associations/", "/crm/associations/{v}/"),
          ("/crm/v3/owners", "/crm/owners/{v}"), ("/events/v3/events", "/events/event-occurrences/{v}"),
          ("/automation/v4/sequences", "/automation/sequences/{v}"), ("/account-info/v3/", "/account-info/{v}/"),
          ("/oauth/v1/token", "/oauth/{v}/token"), ("/oauth/v3/token/", "/oauth/{v}/token/"))

#: the tier an endpoint kind needs (else every tier)
_TIER_OF = {"events": "enterprise", "sequences_read": "professional", "sequences_write": "professional"}


def dated_template(template: str, version: str) -> str | None:
    """The dated path of a numbered route, or None when HubSpot publishes none."""
    for numbered, dated in _DATED:
        if template.startswith(numbered):
            return dated.replace("{v}", version) + template[len(numbered):]
    return None


def limits_for(tier: str, auth: str) -> tuple[int, int]:
    """(requests per 10 s, requests per day) HubSpot allows this auth kind on this tier."""
    if auth == "oauth":
        return 100, 1_000_000 if tier == "enterprise" else 650_000 if tier == "professional" else 250_000
    return {"free": (100, 250_000), "starter": (100, 250_000), "professional": (190, 650_000),
            "enterprise": (190, 1_000_000)}[tier]


@dataclass
class HubSpotOptions:
    """Limits of the simulated portal (defaults: a Professional/Enterprise private app)."""

    burst_limit: int = 190  # requests per rolling window, per token
    burst_window_s: float = 10.0
    daily_limit: int = 1_000_000  # per portal
    search_per_second: int = 4  # per token, search endpoints only
    batch_limit: int = 100  # inputs per CRM object batch request
    limiter_clock: Callable[[], float] = time.monotonic
    tier: str = "enterprise"  # the portal's highest subscription tier
    retire_numbered_paths: bool = False  # numbered paths answer as after their end of support


class HubSpotApp:
    def __init__(self, portal: Portal, options: HubSpotOptions | None = None) -> None:
        self.portal = portal
        self.options = options or HubSpotOptions()
        self.router = Router()
        self.kinds: dict[str, str] = {}
        self.numbered: set[str] = set()  # numbered routes that have a dated equivalent
        for method, template, handler, kind in crm.ROUTES + marketing.ROUTES:
            name = self.router.add(method, template, handler)
            self.kinds[name] = kind
            for version in VERSIONS:
                dated = dated_template(template, version)
                if dated is not None:
                    self.kinds[self.router.add(method, dated, handler)] = kind
                    self.numbered.add(name)
        if self.options.tier not in TIERS:
            raise ValueError(f"tier must be one of {TIERS}, not {self.options.tier!r}")
        self.daily = DailyQuota(self.options.daily_limit)
        self._burst: dict[str, RollingWindowLimiter] = {}
        self._search: dict[str, RollingWindowLimiter] = {}
        self._lock = threading.Lock()

    def daily_for(self, request: Request) -> DailyQuota:
        return self.daily

    def _limiter(self, table: dict[str, RollingWindowLimiter], token: str, limit: int,
                 window: float) -> RollingWindowLimiter:
        with self._lock:
            limiter = table.get(token)
            if limiter is None:
                limiter = table[token] = RollingWindowLimiter(limit, window,
                                                              self.options.limiter_clock)
            return limiter

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        environ["sandbox.hubspot.app"] = self
        environ["sandbox.hubspot.batch_cap"] = self.options.batch_limit
        try:
            name, handler, args = self.router.match(environ)
        except NotFound:
            response = json_response(error_body(
                "OBJECT_NOT_FOUND", f"No route for {request.method} {request.path}"), 404)
            return response(environ, start_response)
        except MethodNotAllowed:
            response = json_response(error_body(
                "VALIDATION_ERROR", f"Method {request.method} is not allowed on {request.path}"),
                405)
            return response(environ, start_response)
        environ[ENDPOINT_KEY] = name
        headers: dict[str, str] = {}
        try:
            kind = self.kinds[name]
            if self.options.retire_numbered_paths and name in self.numbered:
                raise HubSpotError(410, error_body(
                    "API_VERSION_UNSUPPORTED", f"{request.method} {request.path} is a numbered API version past its "
                    f"end of support; use the dated path (e.g. {dated_template(request.path, VERSIONS[-1])})"))
            if kind != "public":
                token = self._authenticate(request)
                self._check_scopes(token, kind, args)
                self._check_tier(kind)
                headers = self._rate_limit(token, kind)
                if kind == "write" and self.portal.validation_rules and "/v3/" not in name and "/v4/" not in name:
                    self._check_rules(request)
            response = handler(self.portal, request, **args)
        except HubSpotError as exc:
            response = exc.response()
        response.headers.update(headers)
        return response(environ, start_response)

    def _authenticate(self, request: Request) -> Token:
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        token = self.portal.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise unauthorized()
        if token.expires_at_ms is not None and token.expires_at_ms <= self.portal.now_ms():
            days = (self.portal.now_ms() - token.expires_at_ms) // 86_400_000
            raise unauthorized(expired_ago_days=int(days))
        return token

    def _check_scopes(self, token: Token, kind: str, args: dict[str, Any]) -> None:
        needed = self.required_scopes(kind, args)
        missing = [s for s in needed if s not in token.scopes]
        if missing:
            raise missing_scopes(missing)

    def _check_tier(self, kind: str) -> None:
        needed = _TIER_OF.get(kind)
        if needed is None or _RANK[self.options.tier] >= _RANK[needed]:
            return
        # What a Free portal got from the event-analytics endpoint, as reported in
        # https://github.com/PipedreamHQ/pipedream/issues/11810: a 403 MISSING_SCOPES naming no scope
        # the app could add, only the portal's missing features.
        details = "event-detail-read,web-analytics-api-access" if kind == "events" else "sequences-access"
        raise HubSpotError(403, error_body(
            "MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call. "
            f"Missing auth details: {details} (the portal's tier is {self.options.tier}; this API needs {needed})"))

    def _check_rules(self, request: Request) -> None:
        body = request.get_json(silent=True)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        records: list[Any] = inputs if isinstance(inputs, list) else [body]
        problems: list[tuple[str, str, str]] = []
        for record in records:
            props = record.get("properties") if isinstance(record, dict) else None
            for name, (pattern, message) in self.portal.validation_rules.items():
                value = (props or {}).get(name) if isinstance(props, dict) else None
                if value is not None and not re.fullmatch(pattern, str(value)):
                    problems.append((name, "INVALID_PROPERTY_VALIDATION", message))
        if problems:
            raise property_errors(self.portal.portal_id, problems[:1])

    @staticmethod
    def required_scopes(kind: str, args: dict[str, Any]) -> list[str]:
        if kind in ("read", "write", "search", "schema_read", "schema_write"):
            t = object_type(str(args.get("objectType", "")))
            if t is None:
                return []  # the handler answers 400 for an unknown object type
            return [{"read": t.read_scope, "search": t.read_scope, "write": t.write_scope,
                     "schema_read": t.schema_read_scope,
                     "schema_write": t.schema_write_scope}[kind]]
        if kind in ("associations", "associations_write"):
            types = [object_type(str(args.get(k, ""))) for k in ("fromObjectType", "objectType",
                                                                  "toObjectType")]
            return sorted({(t.write_scope if kind == "associations_write" else t.read_scope)
                           for t in types if t is not None})
        return {
            "owners": ["crm.objects.owners.read"],
            "events": ["oauth"],  # the events spec's security: oauth2 / private_apps [oauth]
            "forms": ["forms"],
            "content": ["content"],
            "sequences_read": ["automation.sequences.read"],
            "sequences_write": ["automation.sequences.enrollments.write"],
        }.get(kind, [])

    def _rate_limit(self, token: Token, kind: str) -> dict[str, str]:
        o = self.options
        daily = self.daily
        if kind == "search":
            decision = self._limiter(self._search, token.value, o.search_per_second,
                                     1.0).acquire()
            if not decision.allowed:
                raise rate_limited("SECONDLY", "You have reached your secondly limit.", {})
            if not daily.take():
                raise rate_limited("DAILY", "You have reached your daily limit.", {})
            return {}
        if not daily.take():
            raise rate_limited("DAILY", "You have reached your daily limit.",
                               self._headers(token, 0))
        decision = self._limiter(self._burst, token.value, o.burst_limit,
                                 o.burst_window_s).acquire()
        if not decision.allowed:
            headers = self._headers(token, 0)
            headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
            raise rate_limited("TEN_SECONDLY_ROLLING",
                               "You have reached your ten_secondly_rolling limit.", headers)
        return self._headers(token, decision.remaining)

    def _headers(self, token: Token, remaining: int) -> dict[str, str]:
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.options.burst_window_s
                                                                 * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.options.burst_limit),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
        }
        if token.kind != "oauth":  # OAuth calls carry no daily headers
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily.total)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(self.daily.remaining)
        return headers

    def fault_429(self, request: Request) -> Response:
        """The body an injected 429 fault answers with: HubSpot's own."""
        return rate_limited("TEN_SECONDLY_ROLLING",
                            "You have reached your ten_secondly_rolling limit.",
                            {"Retry-After": "1", "X-HubSpot-RateLimit-Remaining": "0",
                             "X-HubSpot-RateLimit-Max": str(self.options.burst_limit)}).response()

    @staticmethod
    def fault_5xx(request: Request) -> Response:
        return HubSpotError(502, error_body(
            "BAD_GATEWAY", "The server encountered a temporary error (injected fault).")
        ).response()

