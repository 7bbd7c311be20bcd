"""Every HubSpot call goes through :meth:`Transport.request`: rate limit → fresh token → the call →
errors classified → retried by the one policy (:mod:`adapters.retry`).

hubspot-api-client does the HTTP: its ``ApiClient`` (configuration, bearer auth, serialisation,
urllib3 pool) is asked to call each path directly (``call_api(resource_path, …)``), because the
generated API classes of hubspot-api-client 12 only know the numbered paths (``/crm/v3/…``) and
HubSpot tells integrations to use the latest dated version (``/crm/objects/2026-09/…``,
https://developers.hubspot.com/docs/api-reference/latest/overview). A path holding ``{version}``
gets :attr:`Transport.api_version` (``LEADSCORE_HUBSPOT__API_VERSION``); the few endpoints with no
dated equivalent yet keep their numbered path (:data:`NUMBERED`, with HubSpot's end-of-support
dates). We ask for the raw response (``_preload_content=False``) and parse the JSON ourselves,
which keeps records as plain dicts and lets us read the rate-limit headers. The client's own
urllib3 retry is switched off so that exactly one policy retries.

Auth (:class:`Credentials`): a Service Key or a legacy private-app token is used as is. With
OAuth (a project app's refresh token + client id/secret) the access token is refreshed at the
dated token endpoint (``POST /oauth/{version}/token``) before ``expires_in`` runs out (a 401
alone is not a reliable signal), never after a failure in the middle of a batch.

Budget: HubSpot's limits depend on the auth kind and the portal's tier
(https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines): privately
distributed apps, Service Keys and legacy private apps get 190 requests / 10 s on Professional and
Enterprise and 100 on Free and Starter; OAuth (publicly distributed) apps get 100 / 10 s.
:func:`default_budget` keeps a margin below those.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import urllib3
from hubspot import HubSpot

from adapters.errors import AuthError, LimitExhausted, RetriableAPIError
from adapters.hubspot.errors import translate
from adapters.retry import RateLimiter, RequestRejected, RetryPolicy

__all__ = ["API_VERSION", "AuthKind", "Credentials", "NUMBERED", "Tier", "Transport", "default_budget"]

_NO_RETRY = urllib3.Retry(0, read=False, redirect=0, raise_on_status=False, respect_retry_after_header=False)

#: The dated API version used unless LEADSCORE_HUBSPOT__API_VERSION says otherwise.
API_VERSION = "2026-09"
_VERSION = re.compile(r"^20\d\d-(03|09)$")

AuthKind = Literal["service-key", "oauth", "legacy-private-app"]
Tier = Literal["free", "starter", "professional", "enterprise"]

#: The numbered paths still called, because HubSpot publishes no dated (GA) equivalent yet, with the
#: end of support HubSpot announced for their version
#: (https://developers.hubspot.com/changelog/legacy-apis-and-legacy-apps-whats-going-unsupported-and-when).
NUMBERED: dict[str, str] = {
    "GET /marketing/v3/forms": "September 2027 (v3; only a 2026-09-beta dated version exists)",
    "GET /form-integrations/v1/submissions/forms/{formGuid}": "September 2027 (v1)",
    "GET /email/public/v1/events": "September 2027 (v1)",
    "POST /oauth/v2/private-apps/get/access-token-info": "September 2027 (v2; legacy private apps and Service Keys)",
}

#: HubSpot's burst limits per 10 s, by auth kind and tier (usage guidelines); None: tier unknown.
_BURST: dict[tuple[str, str | None], int] = {
    **{(kind, tier): limit for kind in ("service-key", "legacy-private-app")
       for tier, limit in (("free", 100), ("starter", 100), ("professional", 190), ("enterprise", 190),
                           (None, 100))},
    **{("oauth", tier): 100 for tier in ("free", "starter", "professional", "enterprise", None)},
}


def default_budget(auth: AuthKind, tier: Tier | None) -> int:
    """Requests per 10 s leadscore allows itself: about 80% of HubSpot's burst limit for this auth
    kind and tier, leaving room for the portal's other integrations (150 of 190, 80 of 100). An
    unknown tier is taken as the lowest."""
    return 150 if _BURST[(auth, tier)] == 190 else 80


@dataclass
class Credentials:
    """What authenticates us; secrets stay in this object and are never logged or printed."""

    access_token: str | None = None
    refresh_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_margin_s: float = 300.0
    kind: AuthKind | None = None  # None: OAuth when refresh credentials are given, else a Service Key

    @property
    def oauth(self) -> bool:
        return bool(self.refresh_token and self.client_id and self.client_secret)

    @property
    def auth(self) -> AuthKind:
        if self.kind is not None:
            return self.kind
        return "oauth" if self.oauth else "service-key"

    def __repr__(self) -> str:
        return f"Credentials(auth={self.auth!r})"


class Transport:
    """One portal connection: the client's ApiClient, the budget, the retry policy, the call log."""

    def __init__(self, base_url: str, credentials: Credentials, *, rate_per_10s: int | None = None,
                 search_per_second: int = 4, timeout_s: float = 30.0, policy: RetryPolicy | None = None,
                 daily_reserve: int = 0, api_version: str = API_VERSION, tier: Tier | None = None,
                 clock: Callable[[], float] = time.time):
        if not credentials.access_token and not credentials.oauth:
            raise AuthError("HubSpot: no credentials; set LEADSCORE_HUBSPOT__ACCESS_TOKEN (a Service Key or a legacy "
                            "private-app token) or LEADSCORE_HUBSPOT__REFRESH_TOKEN with CLIENT_ID and CLIENT_SECRET "
                            "(a project app's OAuth)")
        if not _VERSION.match(api_version):
            raise AuthError(f"LEADSCORE_HUBSPOT__API_VERSION={api_version!r} is not a HubSpot API version; HubSpot "
                            f"dates them YYYY-03 or YYYY-09 (default {API_VERSION})")
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.api_version = api_version
        self.tier = tier
        self.timeout_s = timeout_s
        self.daily_reserve = daily_reserve
        self.policy = policy or RetryPolicy()
        self.limiter = RateLimiter(rate_per_10s or default_budget(credentials.auth, tier), 10.0)
        # HubSpot counts search per second; a slightly wider window absorbs arrival jitter.
        self.search_limiter = RateLimiter(search_per_second, 1.1)
        self.clock = clock
        self.calls: collections.Counter[str] = collections.Counter()
        self.daily_limit: int | None = None
        self.daily_remaining: int | None = None
        self._lock = threading.Lock()
        self._expires_at: float | None = None
        self._token: str | None = credentials.access_token
        self._client: Any = None
        self._scopes: list[str] | None = None  # as the token endpoint said, with OAuth

    # -- the client ----------------------------------------------------------------------------

    def api_client(self) -> Any:
        """hubspot-api-client's ``ApiClient`` (one configuration: host, token, no urllib3 retry)."""
        with self._lock:
            if self._client is None:
                hub = HubSpot(access_token=self._token, host=self.base_url, retry=_NO_RETRY)
                self._client = hub.crm.objects.basic_api.api_client
            return self._client

    def path(self, template: str) -> str:
        """``template`` with ``{version}`` set to the configured dated version."""
        return template.replace("{version}", self.api_version)

    # -- auth ----------------------------------------------------------------------------------

    def _ensure_token(self) -> None:
        creds = self.credentials
        if not creds.oauth:
            return
        if self._token and self._expires_at is not None and self.clock() < self._expires_at - creds.refresh_margin_s:
            return
        self.refresh()

    def refresh(self) -> None:
        """Trade the refresh token for a new access token at the dated token endpoint (OAuth only)."""
        creds = self.credentials
        form = {"grant_type": "refresh_token", "client_id": creds.client_id, "client_secret": creds.client_secret,
                "refresh_token": creds.refresh_token}
        endpoint = f"POST {self.path('/oauth/{version}/token')}"
        try:
            body, _ = self._send("refresh the OAuth access token", "POST", "/oauth/{version}/token", form=form,
                                 auth=False)
        except RequestRejected as err:  # 400 invalid_grant: the refresh token is dead
            raise AuthError(f"{err} — the refresh token was revoked or is wrong; reconnect the app") from None
        token = (body or {}).get("access_token")
        if not token:
            raise AuthError("refresh the OAuth access token: the answer had no access_token")
        with self._lock:
            self._token = str(token)
            self._expires_at = self.clock() + float(body.get("expires_in") or 1800)
            if body.get("refresh_token"):
                creds.refresh_token = str(body["refresh_token"])
            if isinstance(body.get("scopes"), list):
                self._scopes = [str(s) for s in body["scopes"]]
            if self._client is not None:  # the one configuration every call reads
                self._client.configuration.access_token = self._token
        self.calls[endpoint] += 1

    @property
    def token(self) -> str:
        self._ensure_token()
        assert self._token is not None
        return self._token

    @property
    def oauth_scopes(self) -> list[str] | None:
        """The scopes the last token refresh reported (OAuth only; HubSpot sends them since 2025-08)."""
        return self._scopes

    # -- calls ---------------------------------------------------------------------------------

    def request(self, what: str, method: str, path: str, *, path_params: Mapping[str, Any] | None = None,
                query: Mapping[str, Any] | None = None, body: Any = None, form: Mapping[str, Any] | None = None,
                search: bool = False, idempotent: bool = True, endpoint: str | None = None,
                auth: bool = True) -> tuple[Any, int]:
        """One call under the policy; returns the parsed JSON body and the HTTP status.

        ``path`` is a template (``/crm/objects/{version}/{objectType}/search``) filled from
        ``path_params``; list values in ``query`` repeat the parameter. ``what`` names the call in
        errors; ``endpoint`` names it in :attr:`calls` (default: method and template, versioned)."""

        def attempt() -> tuple[Any, int]:
            self._check_daily(what)
            self.limiter.acquire()
            if search:
                self.search_limiter.acquire()
            self._ensure_token()
            self.calls[endpoint or f"{method} {self.path(path)}"] += 1
            return self._send(what, method, path, path_params=path_params, query=query, body=body, form=form,
                              auth=auth)

        result: tuple[Any, int] = self.policy.call(attempt, idempotent=idempotent)
        return result

    def _send(self, what: str, method: str, path: str, *, path_params: Mapping[str, Any] | None = None,
              query: Mapping[str, Any] | None = None, body: Any = None, form: Mapping[str, Any] | None = None,
              auth: bool = True) -> tuple[Any, int]:
        client = self.api_client()
        params: list[tuple[str, Any]] = []
        for key, value in (query or {}).items():
            for v in value if isinstance(value, (list, tuple)) else [value]:
                params.append((key, ("true" if v else "false") if isinstance(v, bool) else v))
        headers = {"Accept": "application/json",
                   "Content-Type": "application/x-www-form-urlencoded" if form is not None else "application/json"}
        try:
            resp = client.call_api(
                self.path(path), method, path_params=dict(path_params or {}), query_params=params or None,
                header_params=headers, body=body,
                post_params=[(k, v) for k, v in form.items() if v is not None] if form is not None else None,
                auth_settings=["oauth2"] if auth else [], _preload_content=False,
                _request_timeout=self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - every failure is classified in one place
            err = translate(exc, what)
            token = self._token
            if token and token in str(err):  # never quote a secret, whatever the transport says
                err = RetriableAPIError(str(err).replace(token, "<token>"), None, None)
            raise err from None
        self._note_headers(resp.headers)
        data = resp.data
        return (json.loads(data) if data else None), int(resp.status)

    def _check_daily(self, what: str) -> None:
        """Stop before the portal's daily budget falls to the share other integrations need."""
        remaining = self.daily_remaining
        if remaining is not None and self.daily_reserve and remaining <= self.daily_reserve:
            raise LimitExhausted(f"{what}: the portal has {remaining} API calls left today and "
                                 f"LEADSCORE_HUBSPOT__DAILY_RESERVE keeps {self.daily_reserve} for other integrations; "
                                 f"stopped before the call, run again after the daily reset")

    def _note_headers(self, headers: Mapping[str, str] | None) -> None:
        if not headers:
            return
        limit = headers.get("X-HubSpot-RateLimit-Daily")
        remaining = headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        if limit is not None and remaining is not None:
            self.daily_limit, self.daily_remaining = int(limit), int(remaining)

    def usage(self) -> dict[str, int | None]:
        return {"calls": sum(self.calls.values()), "retries": sum(self.policy.retries.values()),
                "daily_limit": self.daily_limit, "daily_remaining": self.daily_remaining}
