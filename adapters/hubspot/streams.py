"""What each stream leadscore reads needs from a portal: scopes and, for some, a tier.

A portal's tier and a token's scopes are facts, not errors (:class:`adapters.base.StreamStatus`):
the sources of engagement events are optional streams, skipped with one line when the portal
cannot serve them; contacts and companies are required. The scopes are those HubSpot's OpenAPI
specs list for each endpoint (https://github.com/HubSpot/HubSpot-public-api-spec-collection), the
tiers those of ``x-hubspot-product-tier-requirements`` and HubSpot's "APIs by tier" page
(https://developers.hubspot.com/docs/developer-tooling/platform/apis-by-tier).

:func:`scope_needs` derives the required and optional scopes from the mapping, so ``install``,
manifest.yaml and the README agree with what a sync really calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import StreamStatus
from mappings.loader import HubSpotMapping

__all__ = ["ENTERPRISE", "ACTION_SCOPES", "StreamSpec", "scope_needs", "stream_specs", "unavailable"]

#: The tier ``GET /events/event-occurrences`` needs: any hub at Enterprise (its spec's
#: ``x-hubspot-product-tier-requirements`` names ENTERPRISE for every hub).
ENTERPRISE = "a HubSpot Enterprise subscription (any hub)"

#: Scopes only an action needs: scope → why (optional: the action reports it per record).
ACTION_SCOPES: dict[str, str] = {
    # POST /automation/sequences/{version}/enrollments; sequences also need Sales or Service Hub
    # Professional and the sender's connected inbox (sequences spec, tier requirements)
    "automation.sequences.enrollments.write": "enroll contacts in sequences (Sales or Service Hub Professional)",
}


@dataclass(frozen=True)
class StreamSpec:
    name: str  # as StreamStatus names it
    source: str  # the key of the stream's mark in the events cursor ("" for contacts/companies)
    scopes: tuple[str, ...]
    why: str
    tier: str | None = None  # the subscription HubSpot serves it to, when not every portal
    required: bool = False


def stream_specs(mapping: HubSpotMapping) -> list[StreamSpec]:
    """Every stream the mapping reads, in the order a sync pulls them."""
    out = [StreamSpec("contacts", "", ("crm.objects.contacts.read",), "read contacts", required=True),
           StreamSpec("companies", "", ("crm.objects.companies.read",), "read companies", required=True)]
    ev = mapping.events
    if ev.web:
        # events spec: security [{oauth2: [oauth]}, {private_apps: [oauth]}]
        out.append(StreamSpec("web_events", "web", ("oauth",), "read web analytics and custom behavioural events",
                              tier=ENTERPRISE))
    if ev.email:
        out.append(StreamSpec("email_events", "email", ("content",),
                              "read marketing e-mail events (opens, clicks, bounces, unsubscribes)"))
    if ev.forms:
        out.append(StreamSpec("forms", "forms", ("forms",), "read form submissions"))
    for e in ev.engagements:  # engagement objects answer to the contact scopes (e.g. the meetings spec)
        out.append(StreamSpec(e.object, e.object, ("crm.objects.contacts.read",), f"read {e.object}"))
    return out


def scope_needs(mapping: HubSpotMapping) -> tuple[dict[str, str], dict[str, str]]:
    """(required, optional) scopes → why, for this mapping. Required: what install and a sync cannot
    do without; optional: what an optional stream or an action needs."""
    required = {
        "crm.objects.contacts.read": "read contacts and their engagement",
        "crm.objects.contacts.write": "write scores and tasks to contacts",
        "crm.schemas.contacts.read": "check the contact properties",
        "crm.schemas.contacts.write": "create the leadscore contact properties",
        "crm.objects.companies.read": "read companies",
        "crm.objects.owners.read": "list owners to assign leads",
    }
    if mapping.write_back.companies:
        required.update({
            "crm.objects.companies.write": "write account scores to companies",
            "crm.schemas.companies.read": "check the company properties",
            "crm.schemas.companies.write": "create the leadscore company properties",
        })
    optional: dict[str, str] = {}
    for spec in stream_specs(mapping):
        for scope in spec.scopes:
            if scope not in required:
                optional[scope] = spec.why + (f" (needs {spec.tier})" if spec.tier else "")
    optional.update(ACTION_SCOPES)
    return required, optional


def unavailable(spec: StreamSpec, granted: set[str] | None, refused: str | None = None) -> StreamStatus | None:
    """The stream's status when it cannot be read, else None. ``granted``: the token's scopes (None:
    unknown); ``refused``: HubSpot's 403 message when a call was refused."""
    missing = [s for s in spec.scopes if granted is not None and s not in granted]
    if missing:
        return StreamStatus(spec.name, False, f"needs scope {', '.join(missing)}",
                            f"add scope {', '.join(missing)} to the Service Key or app (to {spec.why}) and use the new "
                            f"token", required=spec.required)
    if refused is None:
        return None
    named = [s for s in spec.scopes if s in refused]  # a MISSING_SCOPES answer names the token's gap
    if named:
        return StreamStatus(spec.name, False, f"needs scope {', '.join(named)}",
                            f"add scope {', '.join(named)} to the Service Key or app (to {spec.why}) and use the new "
                            f"token", required=spec.required)
    if spec.tier:  # refused though the token's scopes are not in question: the portal's tier
        return StreamStatus(spec.name, False, f"needs {spec.tier}",
                            f"HubSpot serves it to portals with {spec.tier} only; upgrade, or drop it from the "
                            f"mapping", required=spec.required)
    return StreamStatus(spec.name, False, f"HubSpot refused it ({refused})",
                        f"check that the token holds scope {', '.join(spec.scopes)}", required=spec.required)
