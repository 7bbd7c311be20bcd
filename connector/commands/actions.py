"""``leadscore actions``: the threshold actions that did not happen, and what to do about them.

An action that fails is tried again by later syncs with a growing back-off; after
:data:`connector.automation.execute.MAX_ATTEMPTS` attempts it is *parked*. A notification whose
answer was lost is *uncertain* (it may have arrived, so it is never sent twice by itself). This
command lists them (``--failed``), sends them again on the next sync (``--retry KEY`` or
``--retry all``) or gives them up (``--drop KEY``). Keys may be given by their first 8+ characters.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Annotated, Any

import typer
from rich.table import Table

from connector.app import app
from connector.automation.execute import PENDING
from connector.commands.sync import ConfigOpt, Crm, CrmOpt, JsonOpt, StoreOpt, TenantOpt
from connector.console import handle_errors, out, print_json, settings_for, terminal_text
from connector.errors import ConfigError, Problem
from connector.store import ActionRow, Store

__all__ = ["actions"]


def _pick(rows: list[ActionRow], keys: list[str], option: str) -> list[ActionRow]:
    if keys == ["all"]:
        return rows
    chosen, problems = [], []
    for key in keys:
        found = [r for r in rows if r.key.startswith(key)] if len(key) >= 8 else []
        if len(found) == 1:
            chosen.append(found[0])
        else:
            why = ("give at least 8 characters of the key" if len(key) < 8 else
                   "no failed, parked or uncertain action has that key" if not found else
                   f"{len(found)} actions start with it: give more characters")
            problems.append(Problem(option, None, option.lstrip("-"), f"'{key}': {why}",
                                    "see `leadscore actions --failed`"))
    if problems:
        raise ConfigError(problems)
    return chosen


@app.command()
@handle_errors
def actions(failed: Annotated[bool, typer.Option("--failed", help="List the actions that did not happen: "
                                                 "waiting to retry, parked, failed or uncertain")] = False,
            retry: Annotated[list[str] | None, typer.Option(
                "--retry", help="Try these again on the next sync (a key, or 'all'); repeatable")] = None,
            drop: Annotated[list[str] | None, typer.Option(
                "--drop", help="Give these up for good (a key, or 'all'); repeatable")] = None,
            crm: CrmOpt = Crm.hubspot, store: StoreOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
            json_out: JsonOpt = False) -> None:
    """Threshold actions by status; with --failed, the ones that did not happen, to retry or drop.

    Examples: leadscore actions --failed; leadscore actions --retry 3f9c2a1b; leadscore actions --drop all
    """
    settings = settings_for(config, ("store", "log"))
    opened = Store.open(store or settings.store_url)
    name = tenant or crm.value
    now = datetime.now(timezone.utc)
    try:
        rows = opened.actions(name)
        pending = [r for r in rows if r.status in PENDING]
        changed: dict[str, list[str]] = {}
        for option, keys, status in (("--retry", retry, "planned"), ("--drop", drop, "dropped")):
            if keys:
                for row in _pick(pending, keys, option):
                    opened.mark_action(row.key, status, now, f"{option} by an admin",
                                       reset_attempts=status == "planned")
                    changed.setdefault(status, []).append(row.key)
        if changed:
            rows = opened.actions(name)
            pending = [r for r in rows if r.status in PENDING]
    finally:
        opened.close()
    counts = Counter((r.kind, r.status) for r in rows)
    listed: list[dict[str, Any]] = [
        {"key": r.key, "lead_id": r.lead_id, "threshold": r.threshold, "kind": r.kind, "status": r.status,
         "attempts": r.attempts, "result": r.result,
         "last_attempt": r.finished_at.isoformat(timespec="seconds") if r.finished_at else None}
        for r in pending]
    if json_out:
        print_json({"tenant": name, "counts": [{"kind": k, "status": s, "actions": n} for (k, s), n in
                                               sorted(counts.items())],
                    "retried": changed.get("planned", []), "dropped": changed.get("dropped", []),
                    "failed": listed if failed else None})
        return
    for status, keys in changed.items():
        out.print(f"{'will retry on the next sync' if status == 'planned' else 'dropped'}: {len(keys)} action(s)")
    if failed:
        if not listed:
            out.print(f"no failed, parked or uncertain actions for tenant '{name}'")
            return
        table = Table("key", "lead", "kind", "status", "attempts", "last attempt", "why", box=None, pad_edge=False)
        for it in listed:
            table.add_row(it["key"][:12], terminal_text(it["lead_id"]), str(it["kind"]), str(it["status"]),
                          str(it["attempts"]), str(it["last_attempt"] or "-"), terminal_text(it["result"] or ""))
        out.print(table)
        out.print("retry with `leadscore actions --retry KEY` (or all), give up with `--drop KEY`")
        return
    if not counts:
        out.print(f"no actions recorded for tenant '{name}' yet")
        return
    table = Table("kind", "status", "actions", box=None, pad_edge=False)
    for (kind, status), n in sorted(counts.items()):
        table.add_row(kind, status, f"{n:,}")
    out.print(table)
    if pending:
        out.print(f"{len(pending)} did not happen: `leadscore actions --failed` lists them")
