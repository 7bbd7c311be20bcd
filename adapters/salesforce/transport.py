"""Every Salesforce call goes through :meth:`Transport.call` (or :meth:`Transport.http` for the
Bulk 2.0 and Tooling calls simple-salesforce does not wrap): daily-budget check → the call →
errors classified → retried by the one shared policy (:mod:`adapters.retry`).

Why our own pieces around simple-salesforce: it has no timeout (its default session waits
forever), no retry on 429/5xx, and it refreshes an expired session only for its own REST calls.
So it is given an :class:`ApiSession` (a ``requests.Session`` with a timeout and a response hook
that reads ``Sforce-Limit-Info`` and counts calls), and raw calls refresh the session themselves
on ``INVALID_SESSION_ID`` and before Bulk 2.0 work.

Classification looks at the HTTP status before the error code: a 429 is a rate limit to wait out
even when its body says ``REQUEST_LIMIT_EXCEEDED`` (gateways and the sandbox send that), while a
403 ``REQUEST_LIMIT_EXCEEDED`` is the org's 24-hour limit: :class:`LimitExhausted`, stop.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from adapters.errors import AdapterError, AuthError, LimitExhausted, RetriableAPIError
from adapters.retry import RetryPolicy, classify_exception, classify_http, error_body
from scoring.errors import ConfigError, Problem

from .auth import Credentials, flow_of, login, login_busy

__all__ = ["ApiSession", "ConcurrencyLimit", "Transport", "client_id", "translate"]

T = TypeVar("T")
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def client_id() -> str:
    """``leadscore/<version>``: how an admin tells leadscore's calls from other integrations' in
    API usage and event logs (REST API Developer Guide, "Call Options Header")."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"leadscore/{version('leadscore')}"
    except PackageNotFoundError:
        return "leadscore"


class ConcurrencyLimit(RetriableAPIError):
    """``REQUEST_LIMIT_EXCEEDED`` "ConcurrentPerOrgLongTxn": too many long-running requests in the
    org at once. Transient (not the daily limit) and the request was refused before it ran, so
    even a create is safe to send again (Salesforce Developer Limits, "API Request Limits")."""

    not_applied = True


class _LoginRoute(HTTPAdapter):
    """Sends requests for the login host to ``login_url`` instead (same path and query):
    simple-salesforce always logs in at ``https://{domain}.salesforce.com``."""

    def __init__(self, prefix: str, login_url: str) -> None:
        super().__init__()
        self.prefix = prefix
        self.login_url = login_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = str(request.url)
        if url.startswith(self.prefix):
            request.url = self.login_url + url[len(self.prefix):]
        return super().send(request, *args, **kwargs)


class ApiSession(requests.Session):
    """A session with a default timeout that remembers the org's API usage and counts calls.

    Every request carries ``Sforce-Call-Options: client=leadscore/<version>``; ``ca_bundle``
    (a PEM file) is the trust store for every call, winning over ``REQUESTS_CA_BUNDLE``;
    ``login_url`` receives the logins meant for ``https://{domain}.salesforce.com``.
    """

    def __init__(self, timeout_s: float = 30.0, ca_bundle: str | None = None) -> None:
        super().__init__()
        self.headers["Sforce-Call-Options"] = f"client={client_id()}"
        self.ca_bundle = ca_bundle
        self.timeout_s = timeout_s
        self.used: int | None = None
        self.total: int | None = None
        self.requests_sent = 0
        self.last_status: int | None = None
        self.logins = 0
        self.last_headers: Mapping[str, str] = {}
        self._lock = threading.Lock()
        self.hooks["response"].append(self._note)

    @classmethod
    def adopt(cls, other: requests.Session, timeout_s: float = 30.0) -> ApiSession:
        """Take over another session's transport adapters, trust, proxies and headers (e.g. the
        sandbox's loopback session, or a corporate proxy setup)."""
        new = cls(timeout_s)
        new.adapters = collections.OrderedDict(other.adapters)
        new.verify, new.cert, new.proxies, new.trust_env = other.verify, other.cert, other.proxies, other.trust_env
        new.headers.update(other.headers)
        new.headers["Sforce-Call-Options"] = f"client={client_id()}"
        return new

    def route_logins(self, domain: str, login_url: str) -> None:
        """Send the logins for ``domain`` to ``login_url`` (a gateway, or a local sandbox)."""
        prefix = f"https://{domain}.salesforce.com"
        self.mount(prefix + "/", _LoginRoute(prefix, login_url))

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        if self.ca_bundle:
            kwargs.setdefault("verify", self.ca_bundle)
        with self._lock:
            self.requests_sent += 1
        return super().request(method, url, *args, **kwargs)

    def _note(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_status, self.last_headers = response.status_code, response.headers
        if response.status_code == 200 and ("/services/Soap/u/" in response.url or "/oauth2/token" in response.url):
            self.logins += 1  # counted here so simple-salesforce's own re-logins count too
        m = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if m:
            self.used, self.total = int(m.group(1)), int(m.group(2))


def translate(exc: BaseException, what: str, session: ApiSession | None = None) -> BaseException:
    """The adapter error ``exc`` means; other exceptions (bugs) come back unchanged."""
    transport = classify_exception(exc, what)
    if transport is not None:
        return transport
    last = session.last_status if session else None
    if isinstance(exc, SalesforceAuthenticationFailed):
        if login_busy(exc.code, last):  # the login endpoint was busy, not a refusal
            return RetriableAPIError(f"{what}: login answered HTTP {last}", last, None)
        return AuthError(f"{what}: Salesforce refused the login: {exc.code}: {exc.auth_message}")
    if not isinstance(exc, SalesforceError):
        return exc
    status = int(exc.status or 0)
    body = error_body(exc.content)
    headers = session.last_headers if session and last == status else {}
    concurrency = _concurrency(status, body, what)
    if concurrency is not None:
        return concurrency
    if status == 429:
        after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        return RetriableAPIError(f"{what}: HTTP 429 {body}", 429, float(after) if after and after.isdigit() else None)
    if status == 401:
        return AuthError(f"{what}: HTTP 401 {body} — the session expired or was revoked and cannot be "
                         f"refreshed; configure a login (username + password + token, JWT or client "
                         f"credentials) instead of LEADSCORE_SALESFORCE__SESSION_ID")
    return classify_http(status, body, headers, what)


class Transport:
    """One org connection: the client, the session, the policy, the budget and the call log."""

    def __init__(self, credentials: Credentials, session: ApiSession, *, version: str = "68.0",
                 policy: RetryPolicy | None = None, max_api_share: float = 0.8,
                 login_fn: Callable[[Credentials, requests.Session, str], Salesforce] = login):
        self.credentials = credentials
        self.session = session
        self.version = version
        self.policy = policy or RetryPolicy()
        self.max_api_share = max_api_share
        self.calls: collections.Counter[str] = collections.Counter()
        self._login_fn = login_fn
        self._sf: Salesforce | None = None
        self._fresh_at = 0.0  # time.monotonic() of the last login

    @property
    def can_refresh(self) -> bool:
        return flow_of(self.credentials) not in (None, "direct")

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            sf = self._guarded("log in", lambda: self._login_fn(self.credentials, self.session, self.version))
            self._fresh_at = time.monotonic()
            self._check_version(sf)
            self._sf = sf
        return self._sf

    def _check_version(self, sf: Salesforce) -> None:
        """Stop with a clear message when the org does not offer the configured API version
        (``GET /services/data`` lists them; it needs no session and costs no API request)."""
        def versions() -> Any:
            resp = self.session.get(f"https://{sf.sf_instance}/services/data", headers={"Accept": "application/json"})
            if resp.status_code == 429 or resp.status_code >= 500:
                after = resp.headers.get("Retry-After")
                raise RetriableAPIError(f"list API versions: HTTP {resp.status_code}", resp.status_code,
                                        float(after) if after and after.isdigit() else None)
            return resp.json() if resp.status_code == 200 else None

        offered = self._guarded("list API versions", versions)
        if not isinstance(offered, list) or not offered:
            return  # an org that does not answer the list is not judged by it
        numbers = [str(v.get("version")) for v in offered if isinstance(v, dict)]
        if self.version not in numbers:
            newest = max(numbers, key=lambda v: float(v) if v.replace(".", "", 1).isdigit() else 0.0)
            raise ConfigError([Problem("settings", None, "salesforce.api_version",
                                       f"the org does not offer API version {self.version} (it offers "
                                       f"{numbers[0]} to {newest})",
                                       f"set LEADSCORE_SALESFORCE__API_VERSION={newest}")])

    def refresh(self) -> None:
        """Log in again (before Bulk 2.0 / Tooling work, or after ``INVALID_SESSION_ID``)."""
        if not self.can_refresh:
            return
        sf = self.sf
        self._guarded("refresh the session", sf._refresh_session)  # noqa: SLF001 - the library's own re-login
        self._fresh_at = time.monotonic()

    def ensure_fresh(self, max_age_s: float = 300.0) -> None:
        """Log in again unless the session is younger than ``max_age_s``: Bulk 2.0 and Tooling
        calls are raw HTTP that simple-salesforce would not re-authenticate mid-job."""
        if self._sf is None:
            self.sf  # noqa: B018 - logs in
        elif time.monotonic() - self._fresh_at > max_age_s:
            self.refresh()

    # -- budget ----------------------------------------------------------------------------------

    def check_budget(self, what: str) -> None:
        used, total = self.session.used, self.session.total
        if used is not None and total and used >= total * self.max_api_share:
            raise LimitExhausted(
                f"{what}: the org has used {used} of its {total} daily API requests, at or past leadscore's "
                f"share of {self.max_api_share:.0%} (LEADSCORE_SALESFORCE__MAX_API_SHARE); stopped before the "
                f"call, the run resumes from its last checkpoint")

    # -- calls -----------------------------------------------------------------------------------

    def _guarded(self, what: str, fn: Callable[[], T], idempotent: bool = True) -> T:
        def attempt() -> T:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified in one place
                raise translate(exc, what, self.session) from None

        return self.policy.call(attempt, idempotent=idempotent)

    def call(self, what: str, fn: Callable[..., T], *args: Any, idempotent: bool = True, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` (a simple-salesforce method) under the budget and the policy;
        ``what`` names the call in errors and in :attr:`calls`."""

        def run() -> T:
            self.check_budget(what)
            self.calls[what] += 1
            return fn(*args, **kwargs)

        return self._guarded(what, run, idempotent)

    def http(self, what: str, method: str, path: str, *, idempotent: bool = True,
             headers: Mapping[str, str] | None = None, **kwargs: Any) -> requests.Response:
        """A raw call to ``/services/data/vXX.X/<path>`` with the session id, under the budget and
        the policy; ``INVALID_SESSION_ID`` triggers one re-login and a retry."""

        def send() -> requests.Response:
            sf = self.sf
            url = f"https://{sf.sf_instance}/services/data/v{self.version}/{path}"
            sent = {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json", **(headers or {})}
            self.calls[what] += 1
            return self.session.request(method, url, headers=sent, **kwargs)

        def attempt() -> requests.Response:
            self.check_budget(what)
            try:
                resp = send()
                if resp.status_code == 401 and self.can_refresh and b"INVALID_SESSION_ID" in resp.content:
                    self.refresh()
                    resp = send()
            except AdapterError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified in one place
                raise translate(exc, what, self.session) from None
            if resp.status_code >= 300:
                raise _as_error(resp, what)
            return resp

        result: requests.Response = self.policy.call(attempt, idempotent=idempotent)
        return result

    def query_pages(self, soql: str, batch_size: int = 2000, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """The REST query's pages (one call each), following ``nextRecordsUrl``; with
        ``include_deleted``, ``queryAll`` (deleted and merged-away records too)."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        body: dict[str, Any] = self.call("query", self.sf.query, soql, include_deleted=include_deleted,
                                         headers=headers)
        yield body
        while not body.get("done", True):
            body = self.call("query", self.sf.query_more, body["nextRecordsUrl"], identifier_is_url=True,
                             include_deleted=include_deleted, headers=headers)
            yield body

    def usage(self) -> dict[str, int | None]:
        return {"calls": sum(self.calls.values()), "retries": sum(self.policy.retries.values()),
                "logins": self.session.logins, "daily_used": self.session.used, "daily_limit": self.session.total}


def _concurrency(status: int, body: Any, what: str) -> ConcurrencyLimit | None:
    """The org's concurrent long-running request limit (403 ``REQUEST_LIMIT_EXCEEDED`` whose
    message names ConcurrentPerOrgLongTxn), which passes: unlike the 24-hour limit, retry it."""
    errors = body if isinstance(body, list) else []
    for e in errors:
        if isinstance(e, dict) and e.get("errorCode") == "REQUEST_LIMIT_EXCEEDED" and \
                "ConcurrentPerOrgLongTxn" in str(e.get("message")):
            return ConcurrencyLimit(f"{what}: HTTP {status} REQUEST_LIMIT_EXCEEDED: {e.get('message')} (too many "
                                    f"long-running requests in the org at once; retried with backoff)", status)
    return None


def _as_error(resp: requests.Response, what: str) -> AdapterError:
    body = error_body(resp.content)
    concurrency = _concurrency(resp.status_code, body, what)
    if concurrency is not None:
        return concurrency
    if resp.status_code == 429:
        after = resp.headers.get("Retry-After")
        return RetriableAPIError(f"{what}: HTTP 429 {body}", 429, float(after) if after and after.isdigit() else None)
    if resp.status_code == 401:
        return AuthError(f"{what}: HTTP 401 {body} — the session expired and cannot be refreshed; configure a "
                         f"login instead of LEADSCORE_SALESFORCE__SESSION_ID")
    return classify_http(resp.status_code, body, resp.headers, what)
