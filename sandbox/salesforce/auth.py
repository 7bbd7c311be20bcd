"""Logins and sessions: the OAuth JWT bearer and client-credentials flows of an External Client
App, the legacy SOAP ``login`` and OAuth password grant, and session expiry.

JWT bearer (Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration"): the
client POSTs ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and an RS256-signed
``assertion`` whose ``iss`` is the consumer key, ``sub`` the username, ``aud`` the login URL
(``https://login.salesforce.com``, ``https://test.salesforce.com`` or the My Domain login URL) and
``exp`` at most a few minutes ahead; the signature is checked against the certificate uploaded
to the app, and the user must be pre-authorised (the app's policies: admin-approved users, by
profile or permission set). Client credentials (Salesforce Help, "OAuth 2.0 Client Credentials
Flow for Server-to-Server Integration"): consumer key and secret (HTTP Basic or form fields)
give a session as the app's run-as user. Both answer errors as ``{"error", "error_description"}``
with HTTP 400 (Salesforce Help, "OAuth 2.0 Token Endpoint errors").

SOAP ``login()`` is disabled by default in orgs created from Winter '26 and is not available in API
version 65.0 and later (Salesforce Help, "Platform SOAP API login() Retirement", article
005132110): an org built with ``soap_login=False`` answers it with a fault, as does any call on a
version from 65.0.

simple-salesforce logs in by POSTing a partner-WSDL ``login`` envelope to
``https://{domain}.salesforce.com/services/Soap/u/{version}`` and reads ``sessionId`` and
``serverUrl`` (whose host becomes the instance) from the response; the OAuth password grant
POSTs a form to ``/services/oauth2/token``. Both answer here with the documented shapes
(SOAP API Developer Guide, "login()"; REST API Developer Guide, "OAuth Username-Password Flow").

Sessions expire ``ttl`` seconds after they are issued (by the injected clock): any API call
then gets the 401 ``INVALID_SESSION_ID`` body, which makes simple-salesforce log in again.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

import jwt
from werkzeug.wrappers import Request, Response

from .errors import ApiError

__all__ = ["ClientApp", "Credentials", "Sessions", "oauth_token", "soap_login"]

_SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
EXPIRED = ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


@dataclass(frozen=True, slots=True)
class Credentials:
    """The one API user the sandbox accepts."""

    username: str
    password: str
    security_token: str
    consumer_key: str
    consumer_secret: str
    user_id: str
    full_name: str
    email: str
    org_id: str

    def password_ok(self, given: str, token_optional: bool = False) -> bool:
        full = self.password + self.security_token
        if hmac.compare_digest(given.encode(), full.encode()):
            return True
        return token_optional and hmac.compare_digest(given.encode(), self.password.encode())


@dataclass(slots=True)
class ClientApp:
    """The org's External Client App for leadscore: its OAuth settings and policies
    (metadata types ExtlClntAppGlobalOauthSettings and ExtlClntAppOauthConfigurablePolicies)."""

    consumer_key: str
    consumer_secret: str
    certificate_pem: str  # the certificate uploaded for JWT bearer ("Use digital signatures")
    pre_authorised: set[str] = field(default_factory=set)  # usernames approved for JWT bearer
    run_as: str | None = None  # the client-credentials execution user
    jwt_enabled: bool = True
    client_credentials_enabled: bool = True
    password_flow_enabled: bool = True  # "Allow OAuth Username-Password Flows" (org setting)


class Sessions:
    """Issued session ids and when they expire; thread-safe."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.time,
                 org_id: str = "00D") -> None:
        self.ttl = ttl
        self.clock = clock
        self.org_id = org_id
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        token = f"{self.org_id[:15]}!AR{secrets.token_urlsafe(72)}"
        with self._lock:
            self._expires[token] = self.clock() + self.ttl
        return token

    def check(self, request: Request) -> str:
        """The session id of an authorised request, or raise the 401 Salesforce sends."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            token = request.headers.get("X-SFDC-Session", "")
        with self._lock:
            expires = self._expires.get(token.strip())
        if expires is None or expires <= self.clock():
            raise EXPIRED
        return token.strip()

    def check_token(self, token: str) -> None:
        with self._lock:
            expires = self._expires.get(token)
        if expires is None or expires <= self.clock():
            raise EXPIRED

    def expire_all(self) -> None:
        """End every session now (tests use it to force a re-login)."""
        with self._lock:
            self._expires.clear()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _soap_fault(code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_SOAP_NS}" xmlns:sf="urn:fault.partner.soap.sforce.com"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        f'<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}'
        f"</sf:exceptionCode><sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, status=500, content_type="text/xml;charset=UTF-8")


def soap_login(request: Request, creds: Credentials, sessions: Sessions, instance_url: str,
               version: str, enabled: bool = True) -> Response:
    """Answer a partner ``login`` call with a LoginResult (or the INVALID_LOGIN fault). An org
    with SOAP login off, or a version from 65.0 (where ``login()`` does not exist), answers a
    fault (Help article 005132110; the exact fault text is not published)."""
    if _major(version) >= 65:
        return _soap_fault("UNSUPPORTED_API_VERSION", f"login() is not available in API version {version}; "
                           "authenticate with OAuth through an External Client App")
    if not enabled:
        return _soap_fault("INVALID_OPERATION", "SOAP API login() is disabled in this org; authenticate with "
                           "OAuth through an External Client App")
    try:
        root = ET.fromstring(request.get_data())
    except ET.ParseError:
        return _soap_fault("INVALID_XML", "The request body is not well-formed XML")
    fields = {_local(el.tag): (el.text or "") for el in root.iter()}
    if "login" not in fields:
        return _soap_fault("UNKNOWN_EXCEPTION", "Only the login call is served here")
    username, password = fields.get("username", ""), fields.get("password", "")
    if username != creds.username or not creds.password_ok(password):
        return _soap_fault("INVALID_LOGIN",
                           "Invalid username, password, security token; or user locked out.")
    sid = sessions.issue()
    server = f"{instance_url}/services/Soap/u/{version}/{creds.org_id}"
    meta = f"{instance_url}/services/Soap/m/{version}/{creds.org_id}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_SOAP_NS}" xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse>'
        f"<result><metadataServerUrl>{meta}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
        f"<serverUrl>{server}</serverUrl><sessionId>{sid}</sessionId>"
        f"<userId>{creds.user_id}</userId><userInfo>"
        f"<organizationId>{creds.org_id}</organizationId>"
        "<organizationName>leadscore sandbox</organizationName>"
        f"<sessionSecondsValid>{int(sessions.ttl)}</sessionSecondsValid>"
        f"<userEmail>{escape(creds.email)}</userEmail>"
        f"<userFullName>{escape(creds.full_name)}</userFullName>"
        f"<userId>{creds.user_id}</userId><userName>{escape(creds.username)}</userName>"
        "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, status=200, content_type="text/xml;charset=UTF-8")


def _major(version: str) -> int:
    try:
        return int(float(version.lstrip("v")))
    except ValueError:
        return 0


def _fail(error: str, description: str) -> tuple[int, dict[str, str]]:
    return 400, {"error": error, "error_description": description}


def _granted(creds: Credentials, sessions: Sessions, instance_url: str, now_ms: int,
             secret: str) -> tuple[int, dict[str, str]]:
    sid = sessions.issue()
    issued = str(now_ms)
    signature = base64.b64encode(hmac.digest(secret.encode(), (instance_url + issued).encode(), "sha256"))
    return 200, {
        "access_token": sid,
        "scope": "api",
        "instance_url": instance_url,
        "id": f"{instance_url}/id/{creds.org_id}/{creds.user_id}",
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": signature.decode(),
    }


def _audiences(login_hosts: tuple[str, ...]) -> set[str]:
    return {"https://login.salesforce.com", "https://test.salesforce.com",
            *(f"https://{h}" for h in login_hosts)}


def jwt_bearer(assertion: str, creds: Credentials, app: ClientApp, sessions: Sessions, instance_url: str,
               now_ms: int, login_hosts: tuple[str, ...]) -> tuple[int, dict[str, str]]:
    """The JWT bearer grant: the RS256 signature against the app's certificate, then iss, aud,
    sub and exp (Help: "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration")."""
    if not app.jwt_enabled:
        return _fail("invalid_grant", "invalid assertion")
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return _fail("invalid_grant", "invalid assertion")
    if unverified.get("iss") != app.consumer_key:
        return _fail("invalid_client_id", "client identifier invalid")
    from cryptography import x509

    public_key = x509.load_pem_x509_certificate(app.certificate_pem.encode()).public_key()
    try:  # exp is checked below: simple-salesforce sends it as a string, which Salesforce accepts
        claims = jwt.decode(assertion, public_key, algorithms=["RS256"],  # type: ignore[arg-type]
                            options={"verify_exp": False, "verify_aud": False, "verify_iat": False,
                                     "verify_nbf": False})
    except jwt.PyJWTError:
        return _fail("invalid_grant", "invalid assertion")
    if claims.get("aud") not in _audiences(login_hosts):
        return _fail("invalid_grant", "audience is invalid")
    try:
        exp = float(claims.get("exp"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _fail("invalid_grant", "invalid assertion")
    now = now_ms / 1000
    if exp <= now or exp > now + 300:  # expired, or further ahead than the few minutes allowed
        return _fail("invalid_grant", "invalid assertion")
    if claims.get("sub") != creds.username:
        return _fail("invalid_grant", "user hasn't approved this consumer")
    if creds.username not in app.pre_authorised:
        return _fail("invalid_app_access", "user is not admin approved to access this app")
    return _granted(creds, sessions, instance_url, now_ms, app.consumer_secret)


def client_credentials(request: Request, creds: Credentials, app: ClientApp, sessions: Sessions,
                       instance_url: str, now_ms: int) -> tuple[int, dict[str, str]]:
    """The client-credentials grant: key and secret by HTTP Basic (or form), a session as the
    app's run-as user (Help: "OAuth 2.0 Client Credentials Flow for Server-to-Server Integration")."""
    key, secret = request.form.get("client_id", ""), request.form.get("client_secret", "")
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            key, _, secret = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _fail("invalid_client", "invalid client credentials")
    if not hmac.compare_digest(key.encode(), app.consumer_key.encode()) or \
            not hmac.compare_digest(secret.encode(), app.consumer_secret.encode()):
        return _fail("invalid_client", "invalid client credentials")
    if not app.client_credentials_enabled or app.run_as is None:
        return _fail("invalid_grant", "no client credentials user enabled")
    return _granted(creds, sessions, instance_url, now_ms, app.consumer_secret)


def oauth_token(request: Request, creds: Credentials, sessions: Sessions,
                instance_url: str, now_ms: int, app: ClientApp | None = None,
                login_hosts: tuple[str, ...] = ()) -> tuple[int, dict[str, str]]:
    """``/services/oauth2/token``: (status, JSON body) for the JWT bearer, client-credentials and
    password grants. For the password grant loopback counts as a trusted IP range, so the
    security token may be left off the password, as Salesforce allows for trusted IPs."""
    form = request.form
    grant = form.get("grant_type")
    if app is not None and grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return jwt_bearer(form.get("assertion", ""), creds, app, sessions, instance_url, now_ms, login_hosts)
    if app is not None and grant == "client_credentials":
        return client_credentials(request, creds, app, sessions, instance_url, now_ms)
    if grant != "password":
        return 400, {"error": "unsupported_grant_type", "error_description": "grant type not "
                     "supported"}
    if app is not None and not app.password_flow_enabled:  # Help: "Block OAuth Username-Password Flows"
        return _fail("invalid_grant", "authentication failure")
    if form.get("client_id") != creds.consumer_key or \
            form.get("client_secret") != creds.consumer_secret:
        return 400, {"error": "invalid_client_id", "error_description": "client identifier "
                     "invalid"}
    if form.get("username") != creds.username or \
            not creds.password_ok(form.get("password", ""), token_optional=True):
        return 400, {"error": "invalid_grant", "error_description": "authentication failure"}
    sid = sessions.issue()
    issued = str(now_ms)
    signature = base64.b64encode(hmac.digest(creds.consumer_secret.encode(),
                                             (instance_url + issued).encode(), "sha256"))
    return 200, {
        "access_token": sid,
        "instance_url": instance_url,
        "id": f"{instance_url}/id/{creds.org_id}/{creds.user_id}",
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": signature.decode(),
    }
