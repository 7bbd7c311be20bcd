"""A local HubSpot portal: the CRM v3 subset leadscore uses, over real HTTP on loopback.

``hubspot.HubSpot(access_token=server.token, host=server.url)`` (hubspot-api-client 12.x) talks
to it as to api.hubapi.com; calls outside the generated client go through
``client.api_request({...})``, which reads ``base_url`` from the client config, so pass
``base_url=server.url`` as well. Usage::

    from sandbox.hubspot import create_server
    with create_server(tenant) as server:
        client = HubSpot(access_token=server.token, host=server.url, base_url=server.url)
        client.crm.contacts.basic_api.get_page(limit=10)
        server.log.counts()   # {"GET /crm/v3/objects/{objectType}": 1}

Modules: :mod:`.app` (auth, scopes, rate limits, routing), :mod:`.crm` and :mod:`.marketing`
(handlers), :mod:`.portal` (state and rules), :mod:`.store` / :mod:`.search` /
:mod:`.eventlog` (indexes), :mod:`.seed` (tenant → portal), :mod:`.schema`, :mod:`.errors`.
"""

from __future__ import annotations

from typing import Any

from sandbox.http import FaultConfig, SandboxServer
from sandbox.hubspot.app import HubSpotApp, HubSpotOptions
from sandbox.hubspot.portal import ALL_SCOPES, Portal
from sandbox.hubspot.seed import contact_id_of, seed_portal

__all__ = [
    "ALL_SCOPES",
    "HubSpotApp",
    "HubSpotOptions",
    "HubSpotSandboxServer",
    "Portal",
    "contact_id_of",
    "create_server",
]


class HubSpotSandboxServer(SandboxServer):
    """A :class:`~sandbox.http.SandboxServer` with the portal, the app and a default token."""

    def __init__(self, portal: Portal, app: HubSpotApp, **kwargs: Any) -> None:
        super().__init__(app, endpoint_of=app.router.endpoint_of, on_429=app.fault_429,
                         on_5xx=app.fault_5xx, **kwargs)
        self.portal = portal
        self.hubspot = app

    @property
    def token(self) -> str:
        """A private-app access token with every scope the sandbox knows."""
        return self.portal.default_token

    def connection_info(self) -> dict[str, Any]:
        portal = self.portal
        return {"crm": "hubspot", "base_url": self.url, "token": self.token,
                "ca_cert": self.ca_pem, "portal_id": portal.portal_id,
                "oauth": {"client_id": portal.oauth_client_id,
                          "client_secret": portal.oauth_client_secret,
                          "refresh_token": next(iter(portal.refresh_tokens)),
                          "expires_in": int(portal.oauth_ttl_s)}}


def create_server(tenant: Any = None, faults: FaultConfig | None = None, port: int = 0,
                  **options: Any) -> HubSpotSandboxServer:
    """A HubSpot sandbox seeded from ``tenant`` (a :class:`sandbox.tenant_schema.Tenant`, or
    None for an empty portal); not started — use ``with`` or ``.start()``.

    ``options``: any :class:`HubSpotOptions` field (``burst_limit``, ``burst_window_s``,
    ``daily_limit``, ``search_per_second``, ``batch_limit``, ``limiter_clock``), plus
    ``portal_id``, ``clock`` (the portal's wall clock, for ``lastmodifieddate`` and token
    expiry), ``oauth_ttl_s`` (lifetime of OAuth access tokens from ``POST /oauth/v1/token``,
    default 1800), ``host`` and ``tls`` (serve HTTPS with a fresh CA; see ``ca_pem``).
    """
    server_kw = {k: options.pop(k) for k in ("host", "tls") if k in options}
    portal_kw = {k: options.pop(k) for k in ("portal_id", "clock") if k in options}
    oauth_ttl_s = options.pop("oauth_ttl_s", None)
    unknown = set(options) - set(HubSpotOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"create_server: unknown HubSpot sandbox options {sorted(unknown)}; "
                        f"expected {sorted(HubSpotOptions.__dataclass_fields__)}")
    portal = Portal(**portal_kw)
    if oauth_ttl_s is not None:
        portal.oauth_ttl_s = float(oauth_ttl_s)
    if tenant is not None:
        seed_portal(portal, tenant)
    else:
        seed_portal_defaults(portal)
    app = HubSpotApp(portal, HubSpotOptions(**options))
    return HubSpotSandboxServer(portal, app, faults=faults, port=port, **server_kw)


def seed_portal_defaults(portal: Portal) -> None:
    from sandbox.hubspot.seed import _sequences

    _sequences(portal)
