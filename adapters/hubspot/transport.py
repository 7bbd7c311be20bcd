"""Every HubSpot call goes through :meth:`Transport.call`: rate limit → fresh token → the call →
errors classified → retried by the one policy (:mod:`adapters.retry`).

The generated hubspot-api-client does the HTTP (URL building, auth header, serialisation); we ask
it for the raw response (``_preload_content=False``) and parse the JSON ourselves, which keeps
records as plain dicts and lets us read the rate-limit headers. Its own urllib3 retry is switched
off so that exactly one policy retries. The few endpoints the generated client lacks (forms,
marketing email events, sequence enrollment, token introspection) go through a ``requests.Session``
with the same token and a timeout: ``client.api_request`` has no timeout and prints errors.

Auth: a private-app token is used as is. With OAuth (refresh token + client id/secret) the access
token is refreshed before ``expires_in`` runs out (a 401 alone is not a reliable signal), never
after a failure in the middle of a batch.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from hubspot import HubSpot

from adapters.errors import AuthError, LimitExhausted, RetriableAPIError
from adapters.hubspot.errors import translate
from adapters.retry import RateLimiter, RequestRejected, RetryPolicy, classify_exception, classify_http

__all__ = ["Credentials", "Transport"]

_NO_RETRY = urllib3.Retry(0, read=False, redirect=0, raise_on_status=False, respect_retry_after_header=False)


@dataclass
class Credentials:
    """What authenticates us; secrets stay in this object and are never logged or printed."""

    access_token: str | None = None
    refresh_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_margin_s: float = 300.0

    @property
    def oauth(self) -> bool:
        return bool(self.refresh_token and self.client_id and self.client_secret)

    def __repr__(self) -> str:
        return f"Credentials(oauth={self.oauth})"


class Transport:
    """One portal connection: the generated client, the budget, the retry policy, the call log."""

    def __init__(self, base_url: str, credentials: Credentials, *, rate_per_10s: int = 150,
                 search_per_second: int = 4, timeout_s: float = 30.0, policy: RetryPolicy | None = None,
                 daily_reserve: int = 0,
                 clock: Callable[[], float] = time.time, session: requests.Session | None = None):
        if not credentials.access_token and not credentials.oauth:
            raise AuthError("HubSpot: no access token; set LEADSCORE_HUBSPOT__ACCESS_TOKEN (private app) or "
                            "LEADSCORE_HUBSPOT__REFRESH_TOKEN with CLIENT_ID and CLIENT_SECRET (OAuth)")
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout_s = timeout_s
        self.daily_reserve = daily_reserve
        self.policy = policy or RetryPolicy()
        self.limiter = RateLimiter(rate_per_10s, 10.0)
        # HubSpot counts search per second; a slightly wider window absorbs arrival jitter.
        self.search_limiter = RateLimiter(search_per_second, 1.1)
        self.clock = clock
        self.session = session or requests.Session()
        self.calls: collections.Counter[str] = collections.Counter()
        self.daily_limit: int | None = None
        self.daily_remaining: int | None = None
        self._lock = threading.Lock()
        self._expires_at: float | None = None
        self._token: str | None = credentials.access_token
        self._client: HubSpot | None = None
        self._apis: dict[str, Any] = {}

    # -- auth ----------------------------------------------------------------------------------

    def _hubspot(self) -> HubSpot:
        if self._client is None:
            self._client = HubSpot(access_token=self._token, host=self.base_url, base_url=self.base_url,
                                   retry=_NO_RETRY)
        return self._client

    def api(self, path: str) -> Any:
        """A generated API object by attribute path (``"crm.contacts.search_api"``), cached."""
        with self._lock:
            api = self._apis.get(path)
            if api is None:
                api = self._hubspot()
                for part in path.split("."):
                    api = getattr(api, part)
                self._apis[path] = api
            return api

    def _ensure_token(self) -> None:
        creds = self.credentials
        if not creds.oauth:
            return
        if self._token and self._expires_at is not None and self.clock() < self._expires_at - creds.refresh_margin_s:
            return
        self.refresh()

    def refresh(self) -> None:
        """Trade the refresh token for a new access token (OAuth only)."""
        creds = self.credentials
        api = HubSpot(host=self.base_url, retry=_NO_RETRY).oauth.tokens_api
        try:
            resp = api.create(grant_type="refresh_token", client_id=creds.client_id,
                              client_secret=creds.client_secret, refresh_token=creds.refresh_token,
                              _preload_content=False, _request_timeout=self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - classified below
            err = translate(exc, "refresh the OAuth access token")
            if isinstance(err, RequestRejected):  # 400 invalid_grant: the refresh token is dead
                raise AuthError(f"{err} — the refresh token was revoked or is wrong; reconnect the app") from None
            raise err from None
        body = json.loads(resp.data or b"{}")
        token = body.get("access_token")
        if not token:
            raise AuthError("refresh the OAuth access token: the answer had no access_token")
        with self._lock:
            self._token = str(token)
            self._expires_at = self.clock() + float(body.get("expires_in") or 1800)
            if body.get("refresh_token"):
                creds.refresh_token = str(body["refresh_token"])
            # API objects already handed out keep working: their configuration gets the new token
            if self._client is not None:
                self._client.access_token = self._token
            for api in self._apis.values():
                api.api_client.configuration.access_token = self._token
        self.calls["POST /oauth/v1/token"] += 1

    @property
    def token(self) -> str:
        self._ensure_token()
        assert self._token is not None
        return self._token

    # -- calls ---------------------------------------------------------------------------------

    def call(self, what: str, fn: Callable[..., Any], *args: Any, search: bool = False, idempotent: bool = True,
             endpoint: str | None = None, **kwargs: Any) -> tuple[Any, int]:
        """Run ``fn(*args, **kwargs)`` (a generated-client method, asked for the raw response) under
        the policy; returns the parsed JSON body and the HTTP status. ``what`` names the call in
        errors; ``endpoint`` names it in :attr:`calls`."""

        def attempt() -> tuple[Any, int]:
            self._check_daily(what)
            self.limiter.acquire()
            if search:
                self.search_limiter.acquire()
            self._ensure_token()
            self.calls[endpoint or what] += 1
            try:
                resp = fn(*args, _preload_content=False, _request_timeout=self.timeout_s, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure is classified in one place
                raise translate(exc, what) from None
            self._note_headers(resp.headers)
            data = resp.data
            return (json.loads(data) if data else None), int(resp.status)

        result: tuple[Any, int] = self.policy.call(attempt, idempotent=idempotent)
        return result

    def raw(self, what: str, method: str, path: str, *, params: Mapping[str, Any] | None = None,
            body: Any = None, idempotent: bool = True) -> tuple[Any, int]:
        """A call outside the generated client, through the same budget, auth and policy."""

        def attempt() -> tuple[Any, int]:
            self._check_daily(what)
            self.limiter.acquire()
            token = self.token
            self.calls[what] += 1  # by description: a path may hold a token (/oauth/v1/access-tokens/…)
            try:
                resp = self.session.request(method, self.base_url + path, params=params, json=body,
                                            headers={"Authorization": f"Bearer {token}"}, timeout=self.timeout_s)
            except Exception as exc:  # noqa: BLE001
                err = classify_exception(exc, what)
                if err is None:
                    raise
                if token in str(err):  # a transport error quotes the URL, and one path holds the token
                    err = RetriableAPIError(str(err).replace(token, "<token>"), None, None)
                raise err from None
            if resp.status_code >= 400:
                raise classify_http(resp.status_code, resp.content, resp.headers, what)
            self._note_headers(resp.headers)
            return (resp.json() if resp.content else None), resp.status_code

        result: tuple[Any, int] = self.policy.call(attempt, idempotent=idempotent)
        return result

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
