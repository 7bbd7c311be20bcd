"""Logging in to a Salesforce org through simple-salesforce.

Which flow runs is decided by which credentials are present, most capable first, because only
the login flows can refresh an expired session (a direct session id cannot):

1. JWT bearer: ``username`` + ``consumer_key`` + ``private_key_file`` (an External Client App
   with a certificate; server-to-server, RS256) — the recommended flow
2. OAuth password grant: ``username`` + ``password`` + ``consumer_key`` + ``consumer_secret``
   (legacy: admins can block it)
3. SOAP login: ``username`` + ``password`` + ``security_token`` (legacy: off by default in orgs
   created from Winter '26, absent from API 65.0 on, retired in Summer '27)
4. client credentials: ``consumer_key`` + ``consumer_secret`` with a My Domain ``domain`` (an
   External Client App with a run-as user)
5. direct session: ``session_id`` + ``instance_url`` (no refresh: an expiry stops the run)

Secrets live only in :class:`Credentials` (its ``repr`` hides them) and in simple-salesforce.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import requests
from simple_salesforce import Salesforce

from adapters.errors import AuthError
from scoring.errors import ConfigError, Problem

__all__ = ["Credentials", "flow_of", "login", "login_busy"]


@dataclass
class Credentials:
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    private_key_file: str | None = None
    domain: str = "login"
    session_id: str | None = None
    instance_url: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(flow={flow_of(self)!r}, username={self.username!r}, domain={self.domain!r})"


def flow_of(c: Credentials) -> str | None:
    """The login flow these credentials select (see the module docstring), or None."""
    if c.username and c.consumer_key and c.private_key_file:
        return "jwt"
    if c.username and c.password and c.consumer_key and c.consumer_secret:
        return "oauth-password"
    if c.username and c.password and c.security_token is not None:
        return "soap"
    if c.consumer_key and c.consumer_secret and not c.username:
        return "client-credentials"
    if c.session_id and c.instance_url:
        return "direct"
    return None


def _problem(message: str) -> ConfigError:
    return ConfigError([Problem("settings", None, "salesforce", message,
                                "set LEADSCORE_SALESFORCE__USERNAME/CONSUMER_KEY/PRIVATE_KEY_FILE (JWT bearer), "
                                "or CONSUMER_KEY/CONSUMER_SECRET with a My Domain DOMAIN (client credentials); "
                                "see 'Connecting to Salesforce' in the README")])


#: What to do instead of a legacy login the org refuses: one line, no traceback.
FIX = ("log in with JWT bearer through an External Client App instead: set LEADSCORE_SALESFORCE__USERNAME, "
       "__CONSUMER_KEY and __PRIVATE_KEY_FILE (README: Connecting to Salesforce; deploy/salesforce/)")
_SOAP_OFF = {"INVALID_OPERATION", "UNSUPPORTED_API_VERSION", "API_DISABLED_FOR_ORG", "INVALID_SOAP_LOGIN"}


def _refused(flow: str, code: Any, message: str, c: Credentials) -> AuthError:
    """The AuthError for a refused login, naming the fix when the org refuses the flow itself."""
    who = f"as {c.username or c.consumer_key!s} at domain '{c.domain}'"
    if flow == "soap" and (str(code) in _SOAP_OFF or "login()" in message):
        return AuthError(f"Salesforce refused SOAP login {who} ({code}: {message}); SOAP login() is off by "
                         f"default in orgs created from Winter '26, absent from API 65.0 and retired in Summer '27 — "
                         f"{FIX}")
    if flow == "oauth-password" and str(code) == "invalid_grant":
        return AuthError(f"Salesforce login (OAuth username-password) {who} failed: {code}: {message} — check the "
                         f"password; if the org blocks the username-password flow, {FIX}")
    hints = {"invalid_client_id": "the consumer key is not the External Client App's",
             "invalid_client": "the consumer key or secret is wrong",
             "invalid_app_access": "pre-authorise the user: add the Leadscore permission set to the app's policies",
             "invalid_grant": ("check the user name, that the app's certificate matches PRIVATE_KEY_FILE, and that "
                               "the user is pre-authorised" if flow == "jwt" else
                               "enable the client credentials flow and set its run-as user in the app's policies"
                               if flow == "client-credentials" else "")}
    hint = hints.get(str(code), "")
    return AuthError(f"Salesforce login ({flow}) {who} failed: {code}: {message}" + (f" — {hint}" if hint else ""))


def login_busy(code: Any, last_status: int | None) -> bool:
    """Whether a failed login means a busy endpoint (retry) rather than a refusal: a 429, or a
    5xx that is not a SOAP fault naming a reason (SOAP faults arrive as HTTP 500)."""
    if last_status is None:
        return False
    fault = isinstance(code, str) and not code.isdigit() and code.isupper() and \
        code not in ("SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION")
    return last_status == 429 or (last_status >= 500 and not fault)


def login(c: Credentials, session: requests.Session, version: str) -> Salesforce:
    """A logged-in client using ``session`` for every call (timeouts, trust, the call log).

    Raises :class:`AuthError` when the org refuses the credentials and :class:`ConfigError` when
    the credentials do not select any flow. Transport failures propagate for the retry policy.
    """
    flow = flow_of(c)
    common: dict[str, Any] = {"session": session, "version": version, "object_pairs_hook": dict}
    if flow is None:
        raise _problem("no usable Salesforce credentials")
    if flow == "client-credentials" and c.domain in ("login", "test"):
        raise _problem(f"client credentials need your My Domain as domain (e.g. 'acme.my'), not '{c.domain}'")
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed

    try:
        with warnings.catch_warnings():
            # simple-salesforce warns with a browser authorisation URL when a user has not approved
            # the app: leadscore says what to do in its own one-line error instead
            warnings.simplefilter("ignore", UserWarning)
            return _client(flow, c, common)
    except SalesforceAuthenticationFailed as exc:
        if login_busy(exc.code, getattr(session, "last_status", None)):
            raise  # the login endpoint was busy, not a refusal: the transport retries it
        raise _refused(flow, exc.code, str(getattr(exc, "auth_message", exc.message)), c) from None


def _client(flow: str, c: Credentials, common: dict[str, Any]) -> Salesforce:
    if flow == "jwt":
        return Salesforce(username=c.username, consumer_key=c.consumer_key, privatekey_file=c.private_key_file,
                          domain=c.domain, **common)
    if flow == "oauth-password":
        return Salesforce(username=c.username, password=c.password, consumer_key=c.consumer_key,
                          consumer_secret=c.consumer_secret, domain=c.domain, **common)
    if flow == "soap":
        return Salesforce(username=c.username, password=c.password, security_token=c.security_token,
                          domain=c.domain, **common)
    if flow == "client-credentials":
        return Salesforce(consumer_key=c.consumer_key, consumer_secret=c.consumer_secret, domain=c.domain,
                          **common)
    return Salesforce(session_id=c.session_id, instance_url=c.instance_url, **common)
