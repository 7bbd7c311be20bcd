"""The one retry policy and the one rate limiter every adapter uses.

Why one place: a CRM's budget is shared by every call an adapter makes, and retry decisions must
be the same for reads and writes. Adapters turn their SDK's exceptions into a status, a body and
headers and hand them to :func:`classify_http`; anything transport-level goes through
:func:`classify_exception`. :class:`RetryPolicy` then retries what is retriable (tenacity,
exponential backoff with full jitter, honouring ``Retry-After``) and lets everything else through.

Rate limiting is client-side on purpose: :class:`RateLimiter` keeps the adapter under the portal's
budget (a sliding window of request times) so a 429 is the exception, not the control loop.
"""

from __future__ import annotations

import collections
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
import tenacity
import urllib3

from adapters.errors import (
    AdapterError,
    AuthError,
    LimitExhausted,
    PermissionDenied,
    RetriableAPIError,
)

log = logging.getLogger(__name__)

__all__ = ["RateLimiter", "RequestRejected", "RetryPolicy", "classify_exception", "classify_http", "error_body"]

T = TypeVar("T")


class RequestRejected(AdapterError):
    """A 4xx that is neither auth, scope nor limit: this request is wrong, retrying will not help.

    The caller decides what it means (a batch with one bad value is split to find the record; an
    unknown property stops the run). Carries the status and the parsed body.
    """

    def __init__(self, message: str, status: int, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


def error_body(raw: Any) -> Any:
    """The body of an error response as JSON when it is JSON, else the text (or None)."""
    if raw is None or isinstance(raw, dict | list):
        return raw
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error_description") or body)
    if isinstance(body, list) and body and isinstance(body[0], dict):  # Salesforce: [{errorCode, message}]
        return "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in body)
    return str(body or "")[:500]


def _codes(body: Any) -> set[str]:
    if isinstance(body, dict):
        return {str(body.get(k)) for k in ("category", "errorType", "policyName", "errorCode") if body.get(k)}
    if isinstance(body, list):
        return {str(e.get("errorCode")) for e in body if isinstance(e, dict) and e.get("errorCode")}
    return set()


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date: rare from CRMs; back off by the exponential rule instead


def _missing_scopes(body: Any) -> list[str]:
    """HubSpot's 403 MISSING_SCOPES names the scopes in ``errors[].context.requiredGranularScopes``."""
    if not isinstance(body, dict):
        return []
    out: list[str] = []
    for e in body.get("errors") or []:
        ctx = e.get("context") or {} if isinstance(e, dict) else {}
        for key in ("requiredGranularScopes", "requiredScopes"):
            out.extend(str(s) for s in ctx.get(key) or [])
    return out


def classify_http(status: int, body: Any, headers: Mapping[str, str] | None, what: str) -> AdapterError:
    """The error an HTTP failure means, for both CRMs; ``what`` names the call ("search contacts").

    401 → AuthError; 403 missing scope → PermissionDenied naming it; a daily/org limit (HubSpot 429
    ``policyName: DAILY``, Salesforce 403 ``REQUEST_LIMIT_EXCEEDED``) → LimitExhausted; other 429,
    408 and 5xx → RetriableAPIError (with ``Retry-After`` when sent); other 4xx → RequestRejected.
    """
    body = error_body(body)
    codes = _codes(body)
    message = _message(body)
    if status == 401:
        expired = "EXPIRED_AUTHENTICATION" in codes or "expired" in message.lower()
        hint = ("the access token expired: refresh it (OAuth) or issue a new private-app token"
                if expired else "the token is invalid: check LEADSCORE_HUBSPOT__ACCESS_TOKEN "
                "(or the Salesforce credentials)")
        return AuthError(f"{what}: HTTP 401 {message} — {hint}")
    if "DAILY" in codes or "REQUEST_LIMIT_EXCEEDED" in codes:
        return LimitExhausted(f"{what}: the daily API limit is used up ({message}); stop and run again "
                              f"after it resets")
    if status == 403:
        scopes = _missing_scopes(body)
        if scopes:
            return PermissionDenied(f"{what}: missing scope {', '.join(scopes)} — add it to the private app "
                                    f"(or OAuth app) and issue a new token")
        return PermissionDenied(f"{what}: HTTP 403 {message}")
    if status in (408, 429) or status >= 500:
        return RetriableAPIError(f"{what}: HTTP {status} {message}", status, _retry_after(headers))
    return RequestRejected(f"{what}: HTTP {status} {message}", status, body)


_TRANSPORT = (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError,
              socket.timeout)


def classify_exception(exc: BaseException, what: str) -> AdapterError | None:
    """A dropped connection, reset or timeout → RetriableAPIError; None when ``exc`` is not one."""
    if isinstance(exc, AdapterError):
        return exc
    if isinstance(exc, _TRANSPORT):
        return RetriableAPIError(f"{what}: {type(exc).__name__}: {exc}", None, None)
    return None


@dataclass
class _Wait:
    """Exponential backoff with full jitter; a server's ``Retry-After`` is a floor, not a suggestion."""

    base: float
    cap: float
    rng: random.Random

    def __call__(self, state: tenacity.RetryCallState) -> float:
        exp = min(self.cap, self.base * 2 ** (state.attempt_number - 1))
        delay = self.rng.uniform(0, exp)
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            delay = min(self.cap, float(after)) + self.rng.uniform(0, self.base)
        return delay


@dataclass
class RetryPolicy:
    """Retry retriable failures of one call; everything else passes through unchanged.

    ``idempotent=False`` (creating a task) retries only a 429, the one failure that guarantees the
    request was not applied; a 5xx or dropped connection on a create is returned to the caller so a
    second record is never made.
    """

    max_attempts: int = 8
    base_s: float = 0.5
    cap_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    seed: int | None = None
    retries: collections.Counter[int | None] = field(default_factory=collections.Counter)

    def call(self, fn: Callable[[], T], idempotent: bool = True) -> T:
        def retriable(exc: BaseException) -> bool:
            if not isinstance(exc, RetriableAPIError):
                return False
            # a 429, or an error that says the request was refused before it ran, was not applied
            return idempotent or exc.status == 429 or bool(getattr(exc, "not_applied", False))

        def count(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.retries[getattr(exc, "status", None)] += 1
            wait = state.next_action.sleep if state.next_action else 0.0
            log.info("retrying in %.1fs (attempt %d of %d): %s", wait, state.attempt_number + 1, self.max_attempts,
                     exc, extra={"wait_s": round(wait, 3), "attempt": state.attempt_number + 1,
                                 "status": getattr(exc, "status", None)})

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=_Wait(self.base_s, self.cap_s, random.Random(self.seed)),
            retry=tenacity.retry_if_exception(retriable),
            sleep=self.sleep, before_sleep=count, reraise=True,
        )
        return retrying(fn)


class RateLimiter:
    """At most ``limit`` calls in any ``window_s`` seconds; :meth:`acquire` waits for a slot.

    A sliding log of call times (the shape HubSpot's own ten-second window has), thread-safe,
    with an injectable clock and sleep so tests need not wait.
    """

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if limit < 1 or window_s <= 0:
            raise ValueError(f"RateLimiter needs limit >= 1 and window_s > 0, got {limit}, {window_s}")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._times and self._times[0] <= now - self.window_s:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                wait = self._times[0] + self.window_s - now
            self.waited_s += wait
            log.log(logging.INFO if wait >= 1 else logging.DEBUG, "rate limit: waiting %.2fs for a slot (%d calls "
                    "per %gs)", wait, self.limit, self.window_s, extra={"wait_s": round(wait, 3)})
            self._sleep(max(wait, 0.001))
