"""``leadscore sandbox``: serve a local Salesforce or HubSpot seeded with a synthetic tenant.

The first line on stdout is one JSON object with what a client needs to connect (base URL,
token or username/password/security token, CA certificate), so a script can start the command,
read one line and connect; everything else goes to stderr. It serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from connector.app import app
from sandbox.http import FaultConfig

__all__ = ["sandbox"]


class Crm(str, Enum):
    hubspot = "hubspot"
    salesforce = "salesforce"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _build_tenant(seed: int, leads: int, events_per_lead: float, accounts: int | None,
                  months: int, from_csv: Path | None) -> Any:
    from sandbox.tenant import generate_tenant, load_tenant_csv

    if from_csv is not None:
        return load_tenant_csv(from_csv)
    return generate_tenant(seed=seed, leads=leads, accounts=accounts,
                           events_per_lead=events_per_lead, months=months)


def _create_server(crm: Crm, tenant: Any, faults: FaultConfig, port: int, host: str,
                   hubspot_options: dict[str, Any], salesforce_extra: dict[str, Any] | None = None) -> Any:
    if crm is Crm.hubspot:
        from sandbox.hubspot import create_server as create_hubspot

        return create_hubspot(tenant, faults=faults, port=port, host=host, **hubspot_options)
    try:
        from sandbox.salesforce import create_server as create_salesforce
    except ImportError:
        try:
            from sandbox.salesforce.server import create_server as create_salesforce
        except ImportError as exc:
            raise typer.BadParameter(
                f"the Salesforce sandbox is not available in this build ({exc})",
                param_hint="--crm") from None
    salesforce_options = ({"daily_api_limit": hubspot_options["daily_limit"]}
                          if "daily_limit" in hubspot_options else {})
    salesforce_options.update(salesforce_extra or {})
    return create_salesforce(tenant, faults=faults, port=port, host=host, **salesforce_options)


def _write_env(path: Path, env: dict[str, str]) -> None:
    """``export NAME='value'`` lines: both a shell (``. FILE``) and a ``.env`` reader take them."""
    lines = [f"export {name}='{value}'" for name, value in env.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # it may hold the sandbox's secrets


@app.command()
def sandbox(
    crm: Annotated[Crm, typer.Option("--crm", help="Which CRM to serve", case_sensitive=False)],
    seed: Annotated[int, typer.Option("--seed", help="Tenant seed (same seed, same data)")] = 0,
    leads: Annotated[int, typer.Option("--leads", help="Number of leads/contacts")] = 1000,
    events_per_lead: Annotated[float, typer.Option(
        "--events-per-lead", help="Average engagement events per lead")] = 20.0,
    accounts: Annotated[int | None, typer.Option(
        "--accounts", help="Number of accounts/companies (default: a third of the leads)")] = None,
    months: Annotated[int, typer.Option("--months", help="Months of history")] = 6,
    from_csv: Annotated[Path | None, typer.Option(
        "--from-csv", help="Load the tenant from this folder of CSV files instead",
        exists=True, file_okay=False)] = None,
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: a free one)")] = 0,
    host: Annotated[str, typer.Option("--host", help="Address to bind")] = "127.0.0.1",
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="Added latency")] = 0.0,
    fault_429: Annotated[float, typer.Option(
        "--fault-429", help="Fraction of requests answered 429")] = 0.0,
    fault_5xx: Annotated[float, typer.Option(
        "--fault-5xx", help="Fraction answered with a 5xx")] = 0.0,
    fault_timeout: Annotated[float, typer.Option(
        "--fault-timeout", help="Fraction held until the client times out")] = 0.0,
    fault_drop: Annotated[float, typer.Option(
        "--fault-drop", help="Fraction whose connection is dropped")] = 0.0,
    fault_seed: Annotated[int, typer.Option("--fault-seed", help="Seed of the fault dice")] = 0,
    rate_limit: Annotated[int | None, typer.Option(
        "--rate-limit", help="HubSpot: requests per 10-second window (default 190)")] = None,
    daily_limit: Annotated[int | None, typer.Option(
        "--daily-limit", help="API requests per day before the CRM refuses (HubSpot default "
        "1,000,000; Salesforce 100,000)")] = None,
    custom_fields: Annotated[bool, typer.Option(
        "--custom-fields", help="Salesforce: add the Account fit fields Tech_Stack__c and Segment__c "
        "(a stock org has no custom fields)")] = False,
    soap_login: Annotated[bool, typer.Option(
        "--soap-login/--no-soap-login", help="Salesforce: accept SOAP login() (orgs created from "
        "Winter '26 refuse it)")] = True,
    env_file: Annotated[Path | None, typer.Option(
        "--env-file", help="Also write the connection's LEADSCORE_… variables to this file as "
        "`export NAME=value` lines (source it, or use it as .env)", dir_okay=False)] = None,
    tier: Annotated[str, typer.Option(
        "--tier", help="HubSpot: the portal's tier, starter|professional|enterprise (limits and "
        "endpoint availability as HubSpot documents them)")] = "enterprise",
    auth: Annotated[str | None, typer.Option(
        "--auth", help="The credentials the first line's env holds. HubSpot: service-key (default), oauth "
        "or legacy-private-app; Salesforce: the login flow, jwt (default), client-credentials, password "
        "or soap")] = None,
    scopes: Annotated[str | None, typer.Option(
        "--scopes", help="HubSpot: comma-separated scopes the token holds (default: all)")] = None,
    retire_numbered_paths: Annotated[bool, typer.Option(
        "--retire-numbered-paths", help="HubSpot: answer numbered paths (/crm/v3/…) as after their "
        "end of support; dated paths keep working")] = False,
    validation_rule: Annotated[list[str] | None, typer.Option(
        "--validation-rule", help="HubSpot: PROPERTY=REGEX, a portal validation rule on writes "
        "through dated paths (repeatable)")] = None,
) -> None:
    """Start a local CRM sandbox; prints connection details as JSON on the first line."""
    try:
        faults = FaultConfig(latency_ms=latency_ms, rate_429=fault_429, rate_5xx=fault_5xx,
                             rate_timeout=fault_timeout, rate_drop=fault_drop, seed=fault_seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fault-*") from None
    hubspot_options: dict[str, Any] = {}
    if auth is None:
        auth = "service-key" if crm is Crm.hubspot else "jwt"
    if crm is Crm.hubspot:
        if tier not in ("free", "starter", "professional", "enterprise"):
            raise typer.BadParameter(f"'{tier}' is not starter, professional or enterprise", param_hint="--tier")
        if auth not in ("service-key", "oauth", "legacy-private-app"):
            raise typer.BadParameter(f"'{auth}' is not service-key, oauth or legacy-private-app",
                                     param_hint="--auth")
        rules: dict[str, tuple[str, str]] = {}
        for rule in validation_rule or []:
            prop, sep, pattern = rule.partition("=")
            if not sep or not prop:
                raise typer.BadParameter(f"'{rule}' is not PROPERTY=REGEX", param_hint="--validation-rule")
            rules[prop] = (pattern, f"The value of {prop} does not match this portal's validation rule "
                                    f"(pattern {pattern})")
        hubspot_options.update(tier=tier, auth=auth, retire_numbered_paths=retire_numbered_paths,
                               validation_rules=rules)
        if scopes is not None:
            hubspot_options["scopes"] = frozenset(s.strip() for s in scopes.split(",") if s.strip())
    if rate_limit is not None:
        hubspot_options["burst_limit"] = rate_limit
    if daily_limit is not None:
        hubspot_options["daily_limit"] = daily_limit
    from sandbox.salesforce.server import AUTH_FLOWS

    if crm is Crm.salesforce and auth not in AUTH_FLOWS:
        raise typer.BadParameter(f"'{auth}' is not one of {', '.join(AUTH_FLOWS)}", param_hint="--auth")
    salesforce_extra = {"custom_fields": custom_fields, "soap_login": soap_login}
    started = time.perf_counter()
    tenant = _build_tenant(seed, leads, events_per_lead, accounts, months, from_csv)
    server = _create_server(crm, tenant, faults, port, host, hubspot_options,
                            salesforce_extra if crm is Crm.salesforce else None)
    server.start()
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        info = server.connection_info(auth) if crm is Crm.salesforce else server.connection_info()
        if env_file is not None:
            _write_env(env_file, info.get("env") or {})
        print(json.dumps(info), flush=True)
        _say(f"{crm.value} sandbox serving {tenant.leads.num_rows} leads at {server.url} "
             f"(ready in {time.perf_counter() - started:.1f}s); Ctrl-C to stop")
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        _say(f"{crm.value} sandbox stopped after {server.log.total()} requests")
