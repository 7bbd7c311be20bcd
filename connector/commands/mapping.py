"""``leadscore check-mapping --crm hubspot|salesforce [--mapping FILE]``: validate a mapping file,
then check that every property/field it names exists in the CRM (each missing one named with its
key path).

``--offline`` only validates the file (file, line and key path for every problem).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from connector.app import app
from connector.commands.install import ConfigOpt, Crm, CrmOpt, JsonOpt, MappingOpt, _only_hubspot, crm_adapter
from connector.console import err, handle_errors, out, print_json
from connector.settings import load_settings
from scoring.errors import ConfigError, Problem

__all__ = ["check_mapping_cmd"]


@app.command("check-mapping")
@handle_errors
def check_mapping_cmd(crm: CrmOpt, mapping: MappingOpt = None, config: ConfigOpt = None,
                      offline: Annotated[bool, typer.Option("--offline", help="Validate the file only")] = False,
                      json_out: JsonOpt = False) -> None:
    """Check a mapping file, and that the CRM has every property it names."""
    counts: dict[str, int]
    if crm is Crm.salesforce:
        from adapters.salesforce import load_salesforce_mapping

        path = mapping or load_settings(config, ("salesforce",)).salesforce.mapping
        source = str(path) if path else "<built-in salesforce.yaml>"
        sf = load_salesforce_mapping(path)
        counts = {"lead_fields": len(sf.leads.columns()), "contact_fields": len(sf.contacts.columns()),
                  "account_fields": len(sf.accounts.columns()), "event_sources": len(sf.events)}
    else:
        _only_hubspot(crm)
        from mappings.loader import load_hubspot_mapping

        path = mapping or load_settings(config, ("hubspot",)).hubspot.mapping
        source = str(path) if path else "<built-in hubspot.yaml>"
        loaded = load_hubspot_mapping(path)
        counts = {"contact_properties": len(loaded.contacts.properties()),
                  "company_properties": len(loaded.companies.properties())}
    missing: list[str] = []
    calls = 0
    if not offline:
        adapter = crm_adapter(crm, config, path)
        missing = adapter.check_mapping()
        calls = adapter.api_usage()["calls"] or 0
    summary: dict[str, Any] = {"ok": not missing, "mapping": source, "offline": offline, "missing": missing,
                               **counts, "api_calls": calls}
    if json_out:
        print_json(summary)
        if missing:
            raise typer.Exit(2)
        return
    if missing:
        for line in missing:
            err.print(f"[red]missing:[/] {line}", highlight=False)
        noun = ("field" if len(missing) == 1 else "fields") if crm is Crm.salesforce else \
            ("property" if len(missing) == 1 else "properties")
        place = "org" if crm is Crm.salesforce else "portal"
        raise ConfigError([Problem(source, None, "", f"{len(missing)} mapped {noun} missing in the {place} "
                                   "(listed above)")])
    where = "valid" if offline else ("valid, and every field exists in the org" if crm is Crm.salesforce
                                     else "valid, and every property exists in the portal")
    out.print(f"[green]ok[/] {source}: {where}", highlight=False)
