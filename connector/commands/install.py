"""``leadscore install --crm hubspot``: create the property group and the properties leadscore
writes, idempotently (a second run says "up to date"), after checking the token's scopes.

``--dry-run`` prints the plan and changes nothing. Problems (a missing scope, a property that
exists with another type) are printed one per line and exit 1 without changing anything.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.base import StreamChecker
from adapters.errors import PermissionDenied
from connector.app import app
from connector.console import Phases, err, handle_errors, out, print_json, settings_for

__all__ = ["crm_adapter", "hubspot_adapter", "install_cmd"]


class Crm(str, Enum):
    hubspot = "hubspot"
    salesforce = "salesforce"


CrmOpt = Annotated[Crm, typer.Option("--crm", help="Which CRM", case_sensitive=False)]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings YAML (else LEADSCORE_CONFIG / env)")]
MappingOpt = Annotated[Path | None, typer.Option(
    "--mapping", help="Mapping YAML (default: LEADSCORE_<CRM>__MAPPING, else the built-in mappings/<crm>.yaml)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout")]


def hubspot_adapter(config: Path | None, mapping: Path | None) -> Any:
    """The HubSpot adapter from settings (env, .env, config file) and an optional mapping file."""
    from adapters.hubspot import HubSpotAdapter
    from mappings.loader import load_hubspot_mapping

    settings = settings_for(config, ("hubspot",)).hubspot
    return HubSpotAdapter.from_settings(settings, load_hubspot_mapping(mapping or settings.mapping))


def _only_hubspot(crm: Crm) -> None:
    if crm is not Crm.hubspot:
        raise typer.BadParameter("only --crm hubspot is available for this command", param_hint="--crm")


def crm_adapter(crm: Crm, config: Path | None, mapping: Path | None) -> Any:
    """The adapter for ``--crm``; an adapter that is not in this build is a usage error."""
    if crm is Crm.hubspot:
        return hubspot_adapter(config, mapping)
    try:
        from adapters.salesforce import SalesforceAdapter
    except ImportError as exc:
        raise typer.BadParameter(f"the Salesforce adapter is not available in this build ({exc})",
                                 param_hint="--crm") from None
    from adapters.salesforce import load_salesforce_mapping

    settings = settings_for(config, ("salesforce",)).salesforce
    adapter = SalesforceAdapter.from_settings(settings, load_salesforce_mapping(mapping or settings.mapping))
    if mapping or settings.mapping:
        adapter.mapping_source = str(mapping or settings.mapping)
    return adapter


@app.command("install")
@handle_errors
def install_cmd(crm: CrmOpt, dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only")] = False,
                config: ConfigOpt = None, mapping: MappingOpt = None, json_out: JsonOpt = False) -> None:
    """Create the fields leadscore writes in the CRM (idempotent; checks permissions first)."""
    adapter = crm_adapter(crm, config, mapping)
    preflight = getattr(adapter, "preflight", None)
    if callable(preflight):  # the mapping against the CRM, before anything is planned or written (exit 2)
        preflight()
    write_back = getattr(getattr(adapter, "mapping", None), "write_back", None)
    group = write_back.group.name if write_back is not None and hasattr(write_back, "group") else "leadscore"
    with Phases(not json_out) as phase:
        phase(f"checking permissions and fields in {crm.value}")
        plan = adapter.plan_install(adapter.fields())
        optional = getattr(adapter, "missing_optional_scopes", None)
        warnings = optional() if optional is not None and not plan.problems else []
        streams = adapter.stream_status() if isinstance(adapter, StreamChecker) and not plan.problems else []
        created: list[str] = []
        if not plan.problems and not plan.up_to_date and not dry_run:  # Salesforce: also access to grant
            created = [f"{s.object}.{s.name}" for s in plan.to_create]
            phase(f"creating {len(created)} fields" if created else "granting access to leadscore's fields")
            plan = adapter.install(plan)
    summary: dict[str, Any] = {
        "crm": crm.value, "group": group, "dry_run": dry_run, "up_to_date": plan.up_to_date and not created,
        "existing": [f"{s.object}.{s.name}" for s in plan.existing], "created": created,
        "to_create": [f"{s.object}.{s.name}" for s in plan.to_create], "problems": plan.problems,
        "warnings": [f"missing optional scope {w}" for w in warnings],
        "streams": [{"name": s.name, "available": s.available, "reason": s.reason, "enable": s.enable,
                     "required": s.required} for s in streams],
        "api_calls": adapter.api_usage()["calls"],
    }
    if hasattr(plan, "to_grant"):  # Salesforce: field-level security and what install did
        summary.update(access=getattr(plan, "target", ""), to_grant=[f"{s.object}.{s.name}" for s in plan.to_grant],
                       done=list(getattr(plan, "done", [])))
    if json_out:
        print_json(summary)
    else:
        for w in summary["warnings"]:
            err.print(f"[yellow]warning:[/] {w}", highlight=False)
        for s in streams:
            if s.available:
                err.print(f"stream {s.name}: available", highlight=False)
            else:
                err.print(f"[yellow]stream {s.name}: {s.reason}[/] — {s.enable} "
                          f"({'required' if s.required else 'skipped by each sync until then'})", highlight=False)
        if plan.problems:
            for p in plan.problems:
                err.print(f"[red]problem:[/] {p}", highlight=False)
        elif summary.get("done"):
            for line in summary["done"]:
                out.print(line, highlight=False)
        elif created:
            out.print(f"created {len(created)} properties in group '{group}': {', '.join(created)}", highlight=False)
        elif dry_run and summary.get("to_grant"):
            out.print(f"would grant read/edit to the {summary['access']} on: {', '.join(summary['to_grant'])} "
                      f"(dry run: nothing changed)", highlight=False)
        elif plan.to_create:
            out.print(f"would create {len(plan.to_create)} properties in group '{group}': "
                      f"{', '.join(summary['to_create'])} (dry run: nothing changed)", highlight=False)
        else:
            out.print(f"up to date: {len(plan.existing)} leadscore properties in group '{group}'", highlight=False)
    if plan.problems:
        if json_out:
            raise typer.Exit(1)
        raise PermissionDenied(f"install stopped with {len(plan.problems)} problem(s); nothing was changed")
