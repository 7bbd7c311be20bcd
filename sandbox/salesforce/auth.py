"""Logins and sessions: SOAP ``login``, the OAuth password grant, and session expiry.

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
import hmac
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from werkzeug.wrappers import Request, Response

from .errors import ApiError

__all__ = ["Credentials", "Sessions", "oauth_token", "soap_login"]

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
               version: str) -> Response:
    """Answer a partner ``login`` call with a LoginResult (or the INVALID_LOGIN fault)."""
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


def oauth_token(request: Request, creds: Credentials, sessions: Sessions,
                instance_url: str, now_ms: int) -> tuple[int, dict[str, str]]:
    """The password grant: (status, JSON body). Loopback counts as a trusted IP range, so the
    security token may be left off the password, as Salesforce allows for trusted IPs."""
    form = request.form
    if form.get("grant_type") != "password":
        return 400, {"error": "unsupported_grant_type", "error_description": "grant type not "
                     "supported"}
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
