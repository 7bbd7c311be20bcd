"""Assembling a Salesforce sandbox: org + app + the shared loopback TLS server.

The server is the shared :class:`sandbox.http.SandboxServer` serving HTTPS (simple-salesforce
only speaks ``https://``) with a fresh CA; :meth:`SalesforceSandbox.connection_info` adds
everything a client needs, and :meth:`SalesforceSandbox.client_session` builds the
``requests.Session`` that makes simple-salesforce reach it (see the package docstring).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from sandbox.http import FaultConfig, SandboxServer, json_response

from .app import CURRENT_VERSION, Limits, SalesforceApp
from .auth import ClientApp, Credentials, Sessions
from .bulk import register_bulk
from .keys import key_pair
from .metadata import register_metadata
from .seed import seed_api_user, seed_tenant
from .store import Org
from .tooling import CustomFields, register_tooling

__all__ = ["AUTH_FLOWS", "LOGIN_DOMAIN", "LoopbackAdapter", "SalesforceSandbox", "create_server"]

#: The ``domain=`` to give simple-salesforce: it logs in at https://{domain}.salesforce.com. A My
#: Domain (``NAME.my``), as the client-credentials flow requires.
LOGIN_DOMAIN = "leadscore-sandbox.my"
#: The login flows :meth:`SalesforceSandbox.env` can configure leadscore for, preferred first.
AUTH_FLOWS = ("jwt", "client-credentials", "password", "soap")


class LoopbackAdapter(HTTPAdapter):
    """A requests transport adapter that sends every request it gets to the sandbox at
    ``target`` (same path and query) and verifies the sandbox's certificate with ``ca_cert``.

    Mounted for ``https://{domain}.salesforce.com/`` it makes logins reach the sandbox; mounted
    for the instance URL it pins the CA, which ``REQUESTS_CA_BUNDLE`` in the environment would
    otherwise override (requests lets the environment win over ``Session.verify``).
    """

    def __init__(self, target: str, ca_cert: str) -> None:
        super().__init__()
        self.target = target.rstrip("/")
        self.ca_cert = ca_cert

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        url = str(request.url)
        scheme_end = url.index("://") + 3
        path_start = url.find("/", scheme_end)
        request.url = self.target + (url[path_start:] if path_start >= 0 else "/")
        kwargs["verify"] = self.ca_cert
        return super().send(request, *args, **kwargs)


def _limit_429(request: Any) -> Any:
    # Salesforce has no 429 of its own for API calls; an injected one looks like a gateway's.
    # The OAuth token endpoint answers errors as {"error", "error_description"} (Salesforce Help,
    # "OAuth 2.0 Token Endpoint errors"), never as the REST API's error list.
    if request.path.startswith("/services/oauth2/"):
        return json_response({"error": "rate_limit_exceeded", "error_description": "too many requests"},
                             429, {"Retry-After": "1"})
    return json_response([{"message": "Too many requests", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                         429, {"Retry-After": "1"})


def _unavailable(request: Any) -> Any:
    if request.path.startswith("/services/oauth2/"):
        return json_response({"error": "server_error", "error_description": "Service Unavailable"}, 503)
    return json_response([{"message": "Service Unavailable", "errorCode": "SERVER_UNAVAILABLE"}],
                         503)


class SalesforceSandbox(SandboxServer):
    """The shared loopback server carrying a :class:`SalesforceApp`, plus its org and login."""

    def __init__(self, app: SalesforceApp, *, faults: FaultConfig | None, port: int,
                 host: str = "127.0.0.1") -> None:
        super().__init__(app, faults=faults, host=host, port=port, tls=True,
                         endpoint_of=app.router.endpoint_of, on_429=_limit_429,
                         on_5xx=_unavailable)
        self.sf = app
        self.org = app.org
        self._session_id: str | None = None
        self.private_key_file: str | None = None

    def start(self) -> SalesforceSandbox:
        super().start()
        if self._tmp is not None:  # beside the CA file; removed with it by stop()
            path = Path(self._tmp.name) / "leadscore-jwt.key"
            path.write_text(key_pair().private_key_pem)
            path.chmod(0o600)
            self.private_key_file = str(path)
        return self

    @property
    def instance_url(self) -> str:
        return self.url

    def connection_info(self, auth: str = "jwt") -> dict[str, Any]:
        """Instance URL, the External Client App's consumer key and secret, the private key
        file whose certificate the app trusts (JWT bearer), the legacy login (username,
        password, security token), domain, a ready session id, the CA certificate file, and
        ``env``: the ``LEADSCORE_SALESFORCE__…`` variables for the ``auth`` flow."""
        creds = self.sf.creds
        if self._session_id is None:
            self._session_id = self.sf.sessions.issue()
        return {
            "crm": "salesforce",
            "base_url": self.url,
            "instance_url": self.url,
            "login_url": self.url,
            "username": creds.username,
            "password": creds.password,
            "security_token": creds.security_token,
            "consumer_key": creds.consumer_key,
            "consumer_secret": creds.consumer_secret,
            "private_key_file": self.private_key_file,
            "domain": LOGIN_DOMAIN,
            "session_id": self._session_id,
            "version": f"{CURRENT_VERSION}.0",
            "ca_cert": self.ca_pem,
            "soap_login": self.sf.soap_login_enabled,
            "auth": auth,
            "env": self.env(auth),
        }

    def env(self, auth: str = "jwt") -> dict[str, str]:
        """The ``LEADSCORE_SALESFORCE__…`` variables that point leadscore at this org with the
        ``auth`` flow (one of :data:`AUTH_FLOWS`)."""
        if auth not in AUTH_FLOWS:
            raise ValueError(f"auth must be one of {', '.join(AUTH_FLOWS)}, not {auth!r}")
        creds = self.sf.creds
        values: dict[str, str | None] = {"DOMAIN": LOGIN_DOMAIN, "LOGIN_URL": self.url, "CA_BUNDLE": self.ca_pem}
        if auth == "jwt":
            values |= {"USERNAME": creds.username, "CONSUMER_KEY": creds.consumer_key,
                       "PRIVATE_KEY_FILE": self.private_key_file}
        elif auth == "client-credentials":
            values |= {"CONSUMER_KEY": creds.consumer_key, "CONSUMER_SECRET": creds.consumer_secret}
        elif auth == "password":
            values |= {"USERNAME": creds.username, "PASSWORD": creds.password, "CONSUMER_KEY": creds.consumer_key,
                       "CONSUMER_SECRET": creds.consumer_secret}
        else:  # SOAP login() exists only up to API version 64.0
            values |= {"USERNAME": creds.username, "PASSWORD": creds.password,
                       "SECURITY_TOKEN": creds.security_token, "API_VERSION": "64.0"}
        return {f"LEADSCORE_SALESFORCE__{k}": v for k, v in values.items() if v is not None}

    def client_session(self) -> requests.Session:
        """A requests Session that trusts the sandbox CA and routes the login host to it."""
        if not self.ca_pem:
            raise RuntimeError("start the Salesforce sandbox before asking for a client session")
        return client_session(self.url, self.ca_pem)

    def expire_sessions(self) -> None:
        """End every session now (the next API call gets INVALID_SESSION_ID)."""
        self._session_id = None
        self.sf.sessions.expire_all()


def client_session(instance_url: str, ca_cert: str,
                   domain: str = LOGIN_DOMAIN) -> requests.Session:
    """The ``session=`` for ``simple_salesforce.Salesforce`` against a sandbox.

    ``verify`` is the sandbox CA; a :class:`LoopbackAdapter` is mounted for
    ``https://{domain}.salesforce.com/`` so SOAP and OAuth logins reach the sandbox, and one
    for the instance URL so the CA is used even when the environment names another bundle.
    """
    session = requests.Session()
    session.verify = ca_cert
    session.mount(f"https://{domain}.salesforce.com/", LoopbackAdapter(instance_url, ca_cert))
    session.mount(instance_url.rstrip("/") + "/", LoopbackAdapter(instance_url, ca_cert))
    return session


def create_server(tenant: Any = None, faults: FaultConfig | None = None, port: int = 0,
                  *, username: str = "integration@leadscore.sandbox",
                  password: str = "sandbox-password", security_token: str = "SANDBOXTOKEN",
                  consumer_key: str = "leadscore-sandbox-key",
                  consumer_secret: str = "leadscore-sandbox-secret",
                  session_ttl: float = 7200.0, daily_api_limit: int = 100_000,
                  limits: Limits | None = None, clock: Callable[[], float] = time.time,
                  host: str = "127.0.0.1", tls: bool = True, custom_fields: bool = False,
                  soap_login: bool = True, client_credentials: bool = True,
                  password_flow: bool = True) -> SalesforceSandbox:
    """A Salesforce sandbox seeded from ``tenant`` (or empty but for the API user); call
    ``start()`` (or use it as a context manager) to serve it.

    ``session_ttl`` (seconds) ends sessions; ``daily_api_limit`` caps API calls before
    ``REQUEST_LIMIT_EXCEEDED``; ``clock`` (epoch seconds) drives timestamps and expiry.
    ``tls`` is accepted for symmetry with the HubSpot sandbox but must stay True:
    simple-salesforce only speaks https. The org is stock (standard fields only) unless
    ``custom_fields`` adds the Account fit fields; ``soap_login=False`` refuses SOAP login as
    orgs created from Winter '26 do; ``client_credentials`` / ``password_flow`` switch those
    OAuth flows of the External Client App on or off (JWT bearer is always on, for the API user).
    """
    if not tls:
        raise ValueError("create_server(tls=False): the Salesforce sandbox always serves HTTPS "
                         "because simple-salesforce rebuilds every URL as https://")
    org = Org(clock=clock, custom_fields=custom_fields)
    user_id = seed_api_user(org, username)
    if tenant is not None:
        seed_tenant(org, tenant)
    creds = Credentials(username=username, password=password, security_token=security_token,
                        consumer_key=consumer_key, consumer_secret=consumer_secret,
                        user_id=user_id, full_name="Integration User", email=username,
                        org_id=org.org_id)
    chosen = limits or Limits()
    chosen.daily_api_requests = daily_api_limit if limits is None else chosen.daily_api_requests
    client_app = ClientApp(consumer_key, consumer_secret, key_pair().certificate_pem, pre_authorised={username},
                           run_as=username, client_credentials_enabled=client_credentials,
                           password_flow_enabled=password_flow)
    app = SalesforceApp(org, creds, Sessions(session_ttl, clock, org.org_id), chosen, client_app=client_app,
                        soap_login_enabled=soap_login, login_hosts=(f"{LOGIN_DOMAIN}.salesforce.com",))
    register_bulk(app)
    fields = CustomFields(org)
    register_tooling(app, fields)
    register_metadata(app, fields)
    return SalesforceSandbox(app, faults=faults, port=port, host=host)
