"""Logging in to a Salesforce org, four ways, through simple-salesforce.

Which flow runs is decided by which credentials are present, most capable first, because only
the login flows can refresh an expired session (a direct session id cannot):

1. JWT bearer: ``username`` + ``consumer_key`` + ``private_key_file`` (server-to-server; RS256)
2. OAuth password grant: ``username`` + ``password`` + ``consumer_key`` + ``consumer_secret``
3. SOAP login: ``username`` + ``password`` + ``security_token``
4. client credentials: ``consumer_key`` + ``consumer_secret`` with a My Domain ``domain``
5. direct session: ``session_id`` + ``instance_url`` (no refresh: an expiry stops the run)

Secrets live only in :class:`Credentials` (its ``repr`` hides them) and in simple-salesforce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from simple_salesforce import Salesforce

from adapters.errors import AuthError
from scoring.errors import ConfigError, Problem

__all__ = ["Credentials", "flow_of", "login"]


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
                                "set LEADSCORE_SALESFORCE__USERNAME/PASSWORD/SECURITY_TOKEN, or USERNAME/"
                                "CONSUMER_KEY/PRIVATE_KEY_FILE (JWT), or CONSUMER_KEY/CONSUMER_SECRET with a "
                                "My Domain DOMAIN (client credentials), or SESSION_ID/INSTANCE_URL")])


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
    except SalesforceAuthenticationFailed as exc:
        raise AuthError(f"Salesforce login ({flow}) as {c.username or c.consumer_key!s} at domain "
                        f"'{c.domain}' failed: {exc.code}: {exc.message}") from None
