"""``leadscore doctor``: what leadscore would use and whether it will work, before a sync finds out.

First the effective settings, each with where it came from (an environment variable, ``.env``,
the config file and line, or the default), secrets masked, and any setting that is wrong. Then, for
each configured CRM (or ``--crm``): whether its host answers, the kind of credentials, the scopes
or permissions granted and missing, the portal or org's tier when the adapter can tell, which
streams can be read (from the adapter's ``stream_status()``), which write-backs and actions will
work, and the API budget left. Then the store: reachable, and whether its schema is current.
The exit code is 0 when everything will work, 1 when something will fail, 2 when a setting is
wrong.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from adapters.base import StreamChecker
from adapters.errors import AdapterError, AuthError, PermissionDenied, RetriableAPIError
from connector.app import app
from connector.console import err, handle_errors, out, print_json
from connector.settings import Settings, describe, load_settings
from scoring.errors import LeadscoreError

__all__ = ["doctor", "check_crm"]


class Crm(str, Enum):
    hubspot = "hubspot"
    salesforce = "salesforce"


def configured(settings: Settings) -> list[str]:
    """The CRMs the settings have credentials for."""
    hs, sf = settings.hubspot, settings.salesforce
    found = []
    if hs.access_token or hs.refresh_token:
        found.append("hubspot")
    if sf.username or sf.session_id or sf.consumer_key:
        found.append("salesforce")
    return found


def _auth_kind(crm: str, settings: Settings) -> str:
    if crm == "hubspot":
        hs = settings.hubspot
        if hs.refresh_token:
            return "OAuth (refresh token" + (", client id and secret)" if hs.client_id and hs.client_secret
                                             else "; client id or secret missing)")
        return "private-app access token" if hs.access_token else "none"
    sf = settings.salesforce
    if sf.session_id:
        return "session id (cannot be refreshed)"
    if sf.private_key_file:
        return "JWT bearer (connected app + private key)"
    if sf.consumer_key and sf.consumer_secret and not sf.password:
        return "client credentials (connected app)"
    return "username, password and security token" if sf.username else "none"


def _host(crm: str, settings: Settings) -> str:
    if crm == "hubspot":
        return urlsplit(settings.hubspot.base_url).netloc or settings.hubspot.base_url
    sf = settings.salesforce
    if sf.instance_url:
        return urlsplit(sf.instance_url).netloc or sf.instance_url
    return sf.domain if "." in sf.domain else f"{sf.domain}.salesforce.com"


def _adapter(crm: str, settings: Settings, session: Any = None) -> Any:
    """The CRM's adapter with few retries: a doctor reports a dead host, it does not wait it out."""
    if crm == "hubspot":
        from adapters.hubspot.adapter import HubSpotAdapter

        hs = settings.hubspot.model_copy(update={"max_attempts": min(2, settings.hubspot.max_attempts),
                                                 "timeout_s": min(15.0, settings.hubspot.timeout_s)})
        return HubSpotAdapter.from_settings(hs)
    from adapters.salesforce.adapter import SalesforceAdapter

    sf = settings.salesforce.model_copy(update={"max_attempts": min(2, settings.salesforce.max_attempts),
                                                "timeout_s": min(15.0, settings.salesforce.timeout_s)})
    return SalesforceAdapter.from_settings(sf, session=session)


def _scopes(crm: str, adapter: Any) -> list[str] | None:
    """Granted scopes, when the CRM says (HubSpot's token introspection)."""
    if crm != "hubspot":
        return None
    from adapters.hubspot.install import granted_scopes

    found = granted_scopes(adapter.t)
    return sorted(found) if found is not None else None


def check_crm(crm: str, settings: Settings, session: Any = None) -> dict[str, Any]:
    """Every check of one CRM; never raises for what the CRM answers, only reports it."""
    report: dict[str, Any] = {"crm": crm, "host": _host(crm, settings), "auth": _auth_kind(crm, settings),
                              "reachable": None, "authenticated": None, "scopes": None, "tier": None,
                              "problems": [], "warnings": [], "streams": None, "actions": [], "fields": None,
                              "api": None}
    problems: list[str] = report["problems"]
    try:
        adapter = _adapter(crm, settings, session)
    except LeadscoreError as exc:
        problems.append(f"credentials: {exc}")
        return report
    try:
        plan = adapter.plan_install(adapter.fields())
        report["reachable"] = report["authenticated"] = True
    except AuthError as exc:
        report["reachable"], report["authenticated"] = True, False
        problems.append(f"authentication rejected by {report['host']}: {exc}")
        return report
    except RetriableAPIError as exc:
        report["reachable"] = False
        problems.append(f"cannot reach {report['host']}: {exc}")
        return report
    except PermissionDenied as exc:
        report["reachable"] = report["authenticated"] = True
        problems.append(str(exc))
        return report
    except AdapterError as exc:
        report["reachable"] = True
        problems.append(f"{report['host']}: {exc}")
        return report
    problems.extend(plan.problems)
    report["fields"] = {"installed": len(plan.existing), "to_create": [f"{s.object}.{s.name}" for s in plan.to_create],
                        "to_grant": [f"{s.object}.{s.name}" for s in getattr(plan, "to_grant", [])]}
    try:
        report["scopes"] = _scopes(crm, adapter)
        optional = getattr(adapter, "missing_optional_scopes", None)
        report["warnings"].extend(f"missing optional scope {w}" for w in (optional() if optional else []))
        missing = adapter.check_mapping()
        problems.extend(f"mapping: {m}" for m in missing if "leadscore install" not in m)
        tier = getattr(adapter, "tier", None)
        report["tier"] = tier() if callable(tier) else tier
        if isinstance(adapter, StreamChecker):
            report["streams"] = [{"name": s.name, "available": s.available, "reason": s.reason, "enable": s.enable,
                                  "required": s.required} for s in adapter.stream_status()]
            problems.extend(f"stream {s['name']} unavailable: {s['reason'] or 'no reason given'}"
                            for s in report["streams"] if s["required"] and not s["available"])
    except AdapterError as exc:
        problems.append(f"{report['host']}: {exc}")
    fields_ready = not plan.to_create and not report["fields"]["to_grant"]
    write_ok = fields_ready and not plan.problems
    report["actions"] = [
        {"action": "write scores back", "ok": write_ok,
         "why": None if write_ok else (f"run `leadscore install --crm {crm}` first" if not fields_ready
                                       else "; ".join(plan.problems))},
        *({"action": w.split("(to ", 1)[1].rstrip(")") if "(to " in w else w, "ok": False, "why": w}
          for w in report["warnings"]),
        *({"action": _stream_action(st), "ok": False, "why": f"{st['reason']}: {st['enable']}"}
          for st in report["streams"] or [] if not st["available"]),
    ]
    if not fields_ready:
        problems.append(f"leadscore's fields are not installed: run `leadscore install --crm {crm}`")
    usage = adapter.api_usage()
    limit, left = usage.get("daily_limit"), usage.get("daily_remaining")
    if left is None and limit is not None and usage.get("daily_used") is not None:
        left = limit - usage["daily_used"]
    report["api"] = {"daily_limit": limit, "daily_left": left, "calls_by_doctor": usage.get("calls")}
    return report


def _stream_action(stream: dict[str, Any]) -> str:
    """What a person loses with a stream: the adapter's own words ("... (to read form submissions)")."""
    enable = str(stream.get("enable") or "")
    if "(to " in enable:
        return enable.split("(to ", 1)[1].split(")", 1)[0]
    return f"read {stream['name']}"


def _store(url: str) -> dict[str, Any]:
    from connector.store import Store, redact_url
    from connector.store.store import _must_exist

    report: dict[str, Any] = {"url": redact_url(url), "ok": False, "problem": None, "note": None}
    try:
        _must_exist(url)
    except LeadscoreError:
        report.update(ok=True, note="no store yet: the first sync creates it")
        return report
    try:
        status = Store.status(url)
    except LeadscoreError as exc:
        report["problem"] = str(exc)
        return report
    report.update(status)
    report["ok"] = not status["newer"]
    if status["newer"]:
        report["problem"] = f"the store's schema {status['revision']} is newer than this leadscore: upgrade leadscore"
    elif status["revision"] is None:
        report["note"] = "no leadscore tables yet: the first sync creates them"
    elif not status["current"]:
        report["note"] = (f"the schema is behind ({status['revision']}, this leadscore has {status['head']}): "
                          "queue and other read-only commands refuse it until `leadscore store upgrade` or the "
                          "next sync")
    return report


@app.command()
@handle_errors
def doctor(crm: Annotated[Crm | None, typer.Option("--crm", help="Check only this CRM (default: every configured "
                                                   "one)", case_sensitive=False)] = None,
           config: Annotated[Path | None, typer.Option("--config", help="YAML settings file (else "
                                                       "LEADSCORE_CONFIG)")] = None,
           json_out: Annotated[bool, typer.Option("--json", help="Machine-readable report on stdout")] = False,
           ) -> None:
    """Check settings, each CRM (reach, credentials, scopes, streams, actions, API budget) and the store.

    Examples: leadscore doctor · leadscore doctor --crm hubspot --json
    """
    settings = load_settings(config, uses=())  # every problem is reported below, none is fatal here
    crms = [crm.value] if crm else configured(settings)
    report: dict[str, Any] = {"settings": describe(settings), "settings_problems": list(settings._ignored),
                              "crms": [check_crm(c, settings) for c in crms], "store": _store(settings.store_url)}
    if not crms:
        report["problems"] = ["no CRM is configured: set LEADSCORE_HUBSPOT__ACCESS_TOKEN or the "
                              "LEADSCORE_SALESFORCE__ settings (see the README)"]
    failing = bool(report.get("problems")) or any(c["problems"] for c in report["crms"]) or \
        (report["store"]["problem"] is not None)
    report["ok"] = not failing and not report["settings_problems"]
    if json_out:
        print_json(report)
    else:
        _print(report)
    if report["settings_problems"]:
        raise typer.Exit(2)
    if failing:
        raise typer.Exit(1)


def _mark(ok: bool | None) -> str:
    return "[green]ok[/]" if ok else ("[red]no[/]" if ok is False else "[yellow]?[/]")


def _print(report: dict[str, Any]) -> None:
    out.print("[bold]settings[/]")
    for row in report["settings"]:
        if row["value"] is None and row["source"] == "default":
            continue
        out.print(f"  {row['key']:<34} {escape(str(row['value'])):<40} {escape(row['source'])}", highlight=False)
    for p in report["settings_problems"]:
        err.print(f"[red]setting:[/] {escape(p)}", highlight=False)
    for p in report.get("problems", []):
        err.print(f"[red]problem:[/] {escape(p)}", highlight=False)
    for c in report["crms"]:
        out.print(f"\n[bold]{c['crm']}[/] at {escape(c['host'])}")
        out.print(f"  reachable      {_mark(c['reachable'])}")
        out.print(f"  credentials    {escape(c['auth'])}: {_mark(c['authenticated'])}")
        if c["scopes"] is not None:
            out.print(f"  scopes         {escape(', '.join(c['scopes']) or 'none')}", highlight=False)
        if c["tier"]:
            out.print(f"  tier           {escape(str(c['tier']))}")
        if c["streams"] is not None:
            for s in c["streams"]:
                why = "" if s["available"] else f" ({escape(s['reason'] or '')}" + \
                    (f"; {escape(s['enable'])}" if s["enable"] else "") + ")"
                out.print(f"  stream         {s['name']}: {_mark(s['available'])}{why}", highlight=False)
        elif c["reachable"]:
            out.print("  streams        not reported by this adapter")
        for a in c["actions"]:
            out.print(f"  action         {escape(a['action'])}: {_mark(a['ok'])}"
                      + (f" ({escape(a['why'])})" if a["why"] and not a["ok"] and a["why"] != a["action"] else ""),
                      highlight=False)
        if c["api"]:
            left, limit = c["api"]["daily_left"], c["api"]["daily_limit"]
            out.print(f"  API budget     {left if left is not None else '?'} of "
                      f"{limit if limit is not None else '?'} calls left today")
        for w in c["warnings"]:
            err.print(f"[yellow]warning:[/] {c['crm']}: {escape(w)}", highlight=False)
        for p in c["problems"]:
            err.print(f"[red]problem:[/] {c['crm']}: {escape(p)}", highlight=False)
    s = report["store"]
    out.print(f"\n[bold]store[/] {escape(s['url'])}: {_mark(s['ok'])}"
              + (f" schema {s.get('revision')} of {s.get('head')}" if s.get("head") else ""), highlight=False)
    if s["note"]:
        out.print(f"  {escape(s['note'])}", highlight=False)
    if s["problem"]:
        err.print(f"[red]problem:[/] store: {escape(s['problem'])}", highlight=False)
    out.print("\n" + ("[green]everything checked will work[/]" if report["ok"] else
                      "[red]something will fail: see the problems above[/]"))
