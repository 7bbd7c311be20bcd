"""The HubSpot sandbox WSGI application: routing, bearer auth, scopes and rate limits.

Every request goes through the same steps, in HubSpot's order: route → authenticate the bearer
token (401 ``INVALID_AUTHENTICATION`` / ``EXPIRED_AUTHENTICATION``) → check the token's scopes
(403 ``MISSING_SCOPES``) → daily limit and the rolling 10-second window, or for search its own
per-second limit (429 ``RATE_LIMIT``) → the handler. Responses to private-app tokens carry the
``X-HubSpot-RateLimit-*`` headers (https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details);
search responses do not, and a search 429 has no ``Retry-After``.
"""

from __future__ import annotations

import math
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
    rate_limited,
    unauthorized,
)
from sandbox.hubspot.portal import Portal, Token
from sandbox.hubspot.schema import object_type

__all__ = ["HubSpotApp", "HubSpotOptions"]


@dataclass
class HubSpotOptions:
    """Limits of the simulated portal (defaults: a Professional/Enterprise private app)."""

    burst_limit: int = 190  # requests per rolling window, per token
    burst_window_s: float = 10.0
    daily_limit: int = 1_000_000  # per portal
    search_per_second: int = 4  # per token, search endpoints only
    batch_limit: int = 100  # inputs per CRM object batch request
    limiter_clock: Callable[[], float] = time.monotonic


class HubSpotApp:
    def __init__(self, portal: Portal, options: HubSpotOptions | None = None) -> None:
        self.portal = portal
        self.options = options or HubSpotOptions()
        self.router = Router()
        self.kinds: dict[str, str] = {}
        for method, template, handler, kind in crm.ROUTES + marketing.ROUTES:
            self.kinds[self.router.add(method, template, handler)] = kind
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
            if kind != "public":
                token = self._authenticate(request)
                self._check_scopes(token, kind, args)
                headers = self._rate_limit(token, kind)
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
            "events": ["crm.objects.contacts.read"],
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
        if token.kind == "private":
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

