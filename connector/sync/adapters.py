"""Build the adapter a command asked for from settings; the only place the sync names a CRM."""

from __future__ import annotations

from typing import Any

from scoring.errors import ConfigError, Problem

__all__ = ["CRMS", "make_adapter"]

CRMS = ("hubspot", "salesforce")


def make_adapter(crm: str, settings: Any) -> Any:
    if crm == "hubspot":
        from adapters.hubspot.adapter import HubSpotAdapter

        return HubSpotAdapter.from_settings(settings.hubspot)
    if crm == "salesforce":
        try:
            from adapters.salesforce.adapter import SalesforceAdapter
        except ImportError:
            raise ConfigError([Problem("--crm", None, "crm", "the Salesforce adapter is not available in this build",
                                       "use --crm hubspot")]) from None
        return SalesforceAdapter.from_settings(settings.salesforce)
    raise ConfigError([Problem("--crm", None, "crm", f"unknown CRM '{crm}'", "use hubspot or salesforce")])
