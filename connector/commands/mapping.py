"""``leadscore check-mapping --crm hubspot [--mapping FILE]``: validate a mapping file, then check
that every property it names exists in the portal (each missing one named with its key path).

``--offline`` only validates the file (file, line and key path for every problem).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from connector.app import app
from connector.commands.install import ConfigOpt, CrmOpt, JsonOpt, MappingOpt, _only_hubspot, hubspot_adapter
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
    _only_hubspot(crm)
    from mappings.loader import load_hubspot_mapping

    path = mapping or load_settings(config).hubspot.mapping
    source = str(path) if path else "<built-in hubspot.yaml>"
    loaded = load_hubspot_mapping(path)
    missing: list[str] = []
    calls = 0
    if not offline:
        adapter = hubspot_adapter(config, path)
        missing = adapter.check_mapping()
        calls = adapter.api_usage()["calls"] or 0
    summary: dict[str, Any] = {"ok": not missing, "mapping": source, "offline": offline, "missing": missing,
                               "contact_properties": len(loaded.contacts.properties()),
                               "company_properties": len(loaded.companies.properties()), "api_calls": calls}
    if json_out:
        print_json(summary)
        if missing:
            raise typer.Exit(2)
        return
    if missing:
        for line in missing:
            err.print(f"[red]missing:[/] {line}", highlight=False)
        noun = "property" if len(missing) == 1 else "properties"
        raise ConfigError([Problem(source, None, "", f"{len(missing)} mapped {noun} missing in the portal "
                                   "(listed above)")])
    where = "valid" if offline else "valid, and every property exists in the portal"
    out.print(f"[green]ok[/] {source}: {where}", highlight=False)
