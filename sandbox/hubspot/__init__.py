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

import secrets
from typing import Any

from sandbox.http import FaultConfig, SandboxServer
from sandbox.hubspot.app import AUTH_KINDS, TIERS, HubSpotApp, HubSpotOptions, limits_for
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

    def __init__(self, portal: Portal, app: HubSpotApp, auth: str = "service-key", **kwargs: Any) -> None:
        super().__init__(app, endpoint_of=app.router.endpoint_of, on_429=app.fault_429,
                         on_5xx=app.fault_5xx, **kwargs)
        self.portal = portal
        self.hubspot = app
        self.auth = auth

    @property
    def token(self) -> str:
        """The static token of the chosen auth kind (a Service Key or a legacy private-app token),
        holding the chosen scopes; with OAuth, a token from the same install."""
        return self.portal.default_token

    def env(self) -> dict[str, str]:
        """The LEADSCORE_ variables that point leadscore at this portal with the chosen auth."""
        portal = self.portal
        out = {"LEADSCORE_HUBSPOT__BASE_URL": self.url, "LEADSCORE_HUBSPOT__AUTH": self.auth}
        if self.auth == "oauth":
            out.update({"LEADSCORE_HUBSPOT__REFRESH_TOKEN": next(iter(portal.refresh_tokens)),
                        "LEADSCORE_HUBSPOT__CLIENT_ID": portal.oauth_client_id,
                        "LEADSCORE_HUBSPOT__CLIENT_SECRET": portal.oauth_client_secret})
        else:
            out["LEADSCORE_HUBSPOT__ACCESS_TOKEN"] = self.token
        return out

    def connection_info(self) -> dict[str, Any]:
        portal = self.portal
        return {"crm": "hubspot", "base_url": self.url, "token": self.token, "env": self.env(),
                "auth": self.auth, "tier": self.hubspot.options.tier,
                "scopes": sorted(portal.tokens[self.token].scopes),
                "ca_cert": self.ca_pem, "portal_id": portal.portal_id,
                "oauth": {"client_id": portal.oauth_client_id,
                          "client_secret": portal.oauth_client_secret,
                          "refresh_token": next(iter(portal.refresh_tokens)),
                          "expires_in": int(portal.oauth_ttl_s)}}


def create_server(tenant: Any = None, faults: FaultConfig | None = None, port: int = 0,
                  **options: Any) -> HubSpotSandboxServer:
    """A HubSpot sandbox seeded from ``tenant`` (a :class:`sandbox.tenant_schema.Tenant`, or
    None for an empty portal); not started — use ``with`` or ``.start()``.

    ``options``: any :class:`HubSpotOptions` field (``tier``, ``retire_numbered_paths``,
    ``burst_limit``, ``burst_window_s``, ``daily_limit``, ``search_per_second``, ``batch_limit``,
    ``limiter_clock``; the limits default to the tier's and auth kind's), plus ``auth``
    (``service-key``, ``oauth`` or ``legacy-private-app``: the default token's kind), ``scopes``
    (the default token holds exactly these; default all), ``validation_rules`` (property →
    (regex the written value must match, message)),
    ``portal_id``, ``clock`` (the portal's wall clock, for ``lastmodifieddate`` and token
    expiry), ``oauth_ttl_s`` (lifetime of OAuth access tokens from ``POST /oauth/v1/token``,
    default 1800), ``host`` and ``tls`` (serve HTTPS with a fresh CA; see ``ca_pem``).
    """
    server_kw = {k: options.pop(k) for k in ("host", "tls") if k in options}
    portal_kw = {k: options.pop(k) for k in ("portal_id", "clock", "search_lag_s") if k in options}
    oauth_ttl_s = options.pop("oauth_ttl_s", None)
    auth = str(options.pop("auth", "service-key"))
    scopes = options.pop("scopes", None)
    rules = dict(options.pop("validation_rules", None) or {})
    if auth not in AUTH_KINDS:
        raise TypeError(f"create_server: auth must be one of {AUTH_KINDS}, not {auth!r}")
    tier = str(options.get("tier", "enterprise"))
    if tier in TIERS:
        burst, daily = limits_for(tier, auth)
        options.setdefault("burst_limit", burst)
        options.setdefault("daily_limit", daily)
    unknown = set(options) - set(HubSpotOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"create_server: unknown HubSpot sandbox options {sorted(unknown)}; "
                        f"expected {sorted(HubSpotOptions.__dataclass_fields__)}")
    portal = Portal(**portal_kw)
    if oauth_ttl_s is not None:
        portal.oauth_ttl_s = float(oauth_ttl_s)
    granted = ALL_SCOPES if scopes is None else frozenset(scopes)
    portal.oauth_scopes = granted
    portal.validation_rules = rules
    # the default token: a Service Key (value format undocumented; opaque to clients), a legacy
    # private-app token (pat-…), or with OAuth an access token of the app's install
    del portal.tokens[portal.default_token]
    prefix = {"service-key": "sk-na1-", "legacy-private-app": "pat-na1-", "oauth": "CO"}[auth]
    kind = {"service-key": "service-key", "legacy-private-app": "private", "oauth": "oauth"}[auth]
    portal.default_token = portal.add_token(f"{prefix}{secrets.token_hex(16)}", granted, kind,
                                            expires_in_s=portal.oauth_ttl_s if auth == "oauth" else None).value
    if tenant is not None:
        seed_portal(portal, tenant)
    else:
        seed_portal_defaults(portal)
    app = HubSpotApp(portal, HubSpotOptions(**options))
    return HubSpotSandboxServer(portal, app, auth=auth, faults=faults, port=port, **server_kw)


def seed_portal_defaults(portal: Portal) -> None:
    from sandbox.hubspot.seed import _sequences

    _sequences(portal)
