"""``leadscore sync``, ``run`` (the scheduler), ``queue`` and ``explain-stored``: the store-backed commands.

``sync`` is one run (see :mod:`connector.sync.run`); ``run`` repeats it ``--every 15m`` or on a
``--cron`` expression in one process, printing one health line per run and stopping cleanly on
SIGTERM/SIGINT (the run under way finishes first; a second signal stops at once). ``queue`` and
``explain-stored`` only read the store, so they work beside a running sync.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from connector.app import app
from connector.automation.notify import Notifier, SmtpConfig
from connector.console import (
    Phases,
    err,
    handle_errors,
    load_model,
    out,
    parse_now,
    print_json,
    settings_for,
    terminal_text,
)
from connector.store import Store, StoreLocked, redact_url
from connector.sync.adapters import make_adapter
from connector.sync.diff import HOLD_AFTER, whole_points
from connector.sync.run import SyncOptions, SyncSummary, run_sync
from connector.sync.schedule import check_cron, next_run, parse_every
from scoring.explain import explain as explain_lead

__all__ = ["sync", "run", "queue", "explain_stored"]

log = logging.getLogger(__name__)

class Crm(str, Enum):
    hubspot = "hubspot"
    salesforce = "salesforce"


CrmOpt = Annotated[Crm, typer.Option("--crm", help="hubspot or salesforce", case_sensitive=False)]
ModelOpt = Annotated[Path | None, typer.Option("--model", "-m", help="Scoring model YAML (default: settings, "
                                               "else the built-in B2B model)")]
StoreOpt = Annotated[str | None, typer.Option("--store", help="Store URL (default: LEADSCORE_STORE_URL, "
                                              "sqlite:///leadscore.db)")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant name in the store (default: the CRM)")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML settings file (else LEADSCORE_CONFIG)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout")]
NowOpt = Annotated[str | None, typer.Option("--now", help="Score as of this ISO-8601 time (default: now)")]
BudgetOpt = Annotated[int | None, typer.Option("--budget", min=0, help="At most this many write API calls this "
                                               "run; the rest waits in the outbox, hottest first")]
RollupOpt = Annotated[str, typer.Option("--rollup", help="Account score from contacts: max, sum, top_n, seniority")]


def _context(config: Path | None, store_url: str | None, crm: str | None, tenant: str | None,
             uses: tuple[str, ...] = ("store", "log"), read_only: bool = False) -> tuple[Any, Store, str]:
    settings = settings_for(config, uses)
    store = Store.open(store_url or settings.store_url, read_only=read_only)
    return settings, store, tenant or crm or "hubspot"


#: the settings a sync uses, besides its CRM's section
_RUN_USES = ("store", "model", "smtp", "log", "actions")


def _model(path: Path | None, settings: Any) -> tuple[Any, str]:
    chosen = path or settings.model
    return load_model(chosen), str(chosen) if chosen else "<built-in model>"


def _one_run(settings: Any, store: Store, crm: str, tenant: str, model_path: Path | None, now: str | None,
             dry_run: bool, budget: int | None, rollup: str, show_progress: bool, arm: bool = False,
             predictive_model: Path | None = None, retry_held: bool = False) -> SyncSummary:
    if rollup not in ("max", "sum", "top_n", "seniority"):
        raise typer.BadParameter(f"'{rollup}' is not max, sum, top_n or seniority", param_hint="--rollup")
    model, source = _model(model_path, settings)
    adapter = make_adapter(crm, settings)
    options = SyncOptions(tenant=tenant, now=parse_now(now) if now else None, dry_run=dry_run, write_budget=budget,
                          batch_size=getattr(adapter, "batch_size", 100), rollup=rollup,  # type: ignore[arg-type]
                          arm_only=arm, predictor=_predictor(predictive_model or settings.predictive_model),
                          action_retry=timedelta(minutes=settings.action_retry_minutes), retry_held=retry_held)
    with Phases(show_progress, transient=True) as phase:
        def progress(what: str, n: int, total: int | None = None) -> None:
            if total is not None:
                phase(what, total=total)
            phase.advance(n, what)

        log.info("sync of tenant '%s' on %s starting", tenant, crm, extra={"tenant": tenant, "crm": crm})
        summary = run_sync(store, adapter, model, options, notifier=_notifier(settings), progress=progress,
                           model_source=source)
    log.info("sync of tenant '%s' on %s finished", tenant, crm, extra={
        "tenant": tenant, "crm": crm, "run": summary.run_id[:8], "dry_run": summary.dry_run,
        "pulled": sum(summary.pulled.values()), "rescored": summary.rescored, "written": summary.written,
        "failed": summary.failed, "deferred": summary.deferred, "api_used": summary.api.get("used"),
        "api_left": summary.api.get("left"), "seconds": summary.seconds})
    return summary


def _notifier(settings: Any) -> Notifier:
    """Notifications as the settings say (SMTP from the environment, .env or the YAML config)."""
    smtp = None
    if settings.smtp_host:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        smtp = SmtpConfig(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
                          user=settings.smtp_user, password=password, starttls=settings.smtp_starttls)
    return Notifier(smtp=smtp, redirect_hosts=settings.webhook_redirect_hosts)


def _predictor(path: Path | None) -> Any:
    if path is None:
        return None
    from connector.predict_store import StorePredictor  # scikit-learn loads only when a model is given

    return StorePredictor.load(path)


def _print_summary(s: SyncSummary) -> None:
    pulled = ", ".join(f"{n:,} {k}" for k, n in s.pulled.items())
    actions = ", ".join(f"{k} {v}" for k, v in sorted(s.actions.items()) if v) or "none"
    used, left = s.api.get("used"), s.api.get("left")
    verb = "would write" if s.dry_run else "written"
    out.print(f"{'[yellow]dry run[/] ' if s.dry_run else ''}{s.adapter} sync of '{s.tenant}' as of {s.now}")
    removed = f"; {s.removed:,} removed in the CRM" if s.removed else ""
    out.print(f"  pulled     {pulled} ({s.new_events:,} new events){removed}")
    if s.held:
        out.print(f"  [yellow]held[/]       {s.held:,} writes the CRM refused {HOLD_AFTER} times (fix the cause, then "
                  "`leadscore sync --retry-held`):")
        for h in s.held_records[:10]:
            out.print(f"    {terminal_text(h['object'])} {terminal_text(h['id'])}: {terminal_text(h['error'] or '')}",
                      highlight=False)
    if s.rejected:
        out.print(f"  [yellow]rejected[/]   {s.rejected:,} records with a value no record should hold (fix them "
                  "in the CRM; they are pulled again once changed):")
        for r in s.rejected_records[:10]:
            out.print(f"    {terminal_text(r['object'][:-1])} {terminal_text(r['id'])}: {terminal_text(r['field'])}: "
                      f"{terminal_text(r['problem'])}", highlight=False)
    out.print(f"  rescored   {s.rescored:,} leads, {s.score_changes:,} visible changes; crossings: "
              f"{', '.join(f'{k} {v}' for k, v in s.crossings.items()) or 'none'}")
    out.print(f"  {verb:<10} {s.written if not s.dry_run else s.writes_planned - s.deferred:,} of "
              f"{s.writes_planned:,} records in {s.write_calls} calls; failed {s.failed:,}; carried to next run "
              f"{s.deferred:,}")
    pending = (f"; [yellow]{s.actions_pending:,} did not happen[/] (`leadscore actions --failed`)"
               if s.actions_pending else "")
    out.print(f"  actions    {actions}{pending}")
    for u in s.unavailable:  # one line per stream and run: which, why, what would enable it
        out.print(f"  skipped    {u['name']}: {u['reason']} — {u['enable']}", highlight=False)
    out.print(f"  API calls  used {used if used is not None else '?'}, left {left if left is not None else '?'}; "
              f"{s.seconds:.1f}s")
    for w in s.would_write[:10]:
        out.print(f"    {w['object']} {w['id']}: {w['values']}", highlight=False)


@app.command()
@handle_errors
def sync(crm: CrmOpt = Crm.hubspot, dry_run: Annotated[bool, typer.Option(
             "--dry-run", help="Show what would be written and done; writes nothing to the CRM")] = False,
         json_out: JsonOpt = False, model: ModelOpt = None, store: StoreOpt = None, tenant: TenantOpt = None,
         config: ConfigOpt = None, now: NowOpt = None, budget: BudgetOpt = None, rollup: RollupOpt = "max",
         arm_only: Annotated[bool, typer.Option(
             "--arm-only", help="Record threshold entries without running their actions (first sync of a "
                                "portal full of already-hot leads: no flood of tasks)")] = False,
         predictive_model: Annotated[Path | None, typer.Option(
             help="A model from `leadscore train --store`: also write its probability and tier (fields of "
                  "their own, beside the rules score)")] = None,
         retry_held: Annotated[bool, typer.Option(
             "--retry-held", help="Also send the writes held back after the CRM refused them 5 times (once "
                                  "their cause, e.g. a portal validation rule, is fixed)")] = False) -> None:
    """Pull what changed, rescore every lead, write back only what changed, run threshold actions."""
    crm = Crm(crm).value  # type: ignore[assignment]
    settings, opened, name = _context(config, store, crm, tenant, _RUN_USES + (crm,))
    try:
        summary = _one_run(settings, opened, crm, name, model, now, dry_run, budget, rollup,
                           show_progress=not json_out and err.is_terminal, arm=arm_only,
                           predictive_model=predictive_model, retry_held=retry_held)
    finally:
        opened.close()
    if json_out:
        print_json(summary.as_dict())
    else:
        _print_summary(summary)
    if failed_any(summary):
        raise typer.Exit(4)


def failed_any(s: SyncSummary) -> bool:
    """Exit 4: some records failed or were rejected, or some actions did not happen (now or before)."""
    return bool(s.failed or s.held or s.rejected or s.actions_pending or s.actions.get("failed")
                or s.actions.get("uncertain"))


def _health(s: SyncSummary | None, status: str, next_at: datetime | None, error: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "status": status}
    if s is not None:
        acted = sum(v for k, v in s.actions.items() if k != "planned")
        line.update(run=s.run_id[:8], pulled=sum(s.pulled.values()), rescored=s.rescored, written=s.written,
                    failed=s.failed, deferred=s.deferred, actions=acted, api_used=s.api.get("used"),
                    api_left=s.api.get("left"), seconds=s.seconds)
        if s.unavailable:  # streams the CRM would not serve this run: which, and why
            line["unavailable"] = "; ".join(f"{u['name']} ({u['reason']})" for u in s.unavailable)
    if error:
        line["error"] = error
    if next_at is not None:
        line["next"] = next_at.isoformat(timespec="seconds")
    return line


@app.command()
@handle_errors
def run(crm: CrmOpt = Crm.hubspot,
        every: Annotated[str | None, typer.Option("--every", help="Run every 15m, 1h, ...")] = None,
        cron: Annotated[str | None, typer.Option("--cron", help="Or a cron expression (UTC): '*/15 * * * *'")] = None,
        max_runs: Annotated[int | None, typer.Option("--max-runs", help="Stop after this many runs")] = None,
        json_out: JsonOpt = False, model: ModelOpt = None, store: StoreOpt = None, tenant: TenantOpt = None,
        config: ConfigOpt = None, budget: BudgetOpt = None, rollup: RollupOpt = "max") -> None:
    """Run syncs on a schedule in this process, one health line per run; SIGTERM stops after the current run."""
    crm = Crm(crm).value  # type: ignore[assignment]
    if (every is None) == (cron is None):
        raise typer.BadParameter("give exactly one of --every or --cron", param_hint="--every/--cron")
    interval = parse_every(every) if every else None
    expression = check_cron(cron) if cron else None
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        err.print(f"received {signal.Signals(signum).name}: finishing the current run, then stopping")

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    settings, opened, name = _context(config, store, crm, tenant, _RUN_USES + (crm,))
    err.print(f"scheduler: {crm} tenant '{name}', store {redact_url(str(opened.engine.url))}, "
              f"{'every ' + every if every else 'cron ' + str(cron)}")
    runs = failures = 0
    try:
        while not stop.is_set():
            started = datetime.now(timezone.utc)
            summary: SyncSummary | None = None
            try:
                summary = _one_run(settings, opened, crm, name, model, None, False, budget, rollup, False)
                status, problem = ("ok" if not failed_any(summary) else "partial"), None
            except StoreLocked as exc:
                status, problem = "skipped", str(exc).split(";")[0]
            except Exception as exc:  # noqa: BLE001 - a scheduler reports and keeps going
                status, problem = "failed", f"{type(exc).__name__}: {exc}"
                failures += 1
            runs += 1
            done = max_runs is not None and runs >= max_runs
            due = None if done else next_run(started, datetime.now(timezone.utc), interval, expression)
            line = _health(summary, status, due, problem)
            if json_out:
                print_json(line)
            else:
                out.print(" ".join(f"{k}={v}" for k, v in line.items()), highlight=False)
            if done or due is None:
                break
            stop.wait(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()))
    finally:
        opened.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err.print(f"scheduler stopped after {runs} run(s)")
    if failures and failures == runs:
        raise typer.Exit(1)


@app.command()
@handle_errors
def queue(limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many leads")] = 20,
          crm: CrmOpt = Crm.hubspot, store: StoreOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
          json_out: JsonOpt = False) -> None:
    """The hottest leads first, from the store: score, grade, priority, owner and the top reasons."""
    crm = Crm(crm).value  # type: ignore[assignment]
    _, opened, name = _context(config, store, crm, tenant, read_only=True)
    try:
        rows = opened.queue(name, limit)
        last = opened.last_runs(name, 1)
    finally:
        opened.close()
    items = [{"lead_id": r["lead_id"], "name": _name(r["payload"]), "email": r["payload"].get("email"),
              "score": int(r["score"] + 0.5), "grade": r["grade"], "priority": r["priority"],
              "owner_id": r["owner_id"], "reasons": whole_points(r["reasons"])} for r in rows]
    if json_out:
        print_json({"tenant": name, "leads": items})
        return
    if not items:
        out.print(f"no scored leads for tenant '{name}' yet: run `leadscore sync --crm {crm}` first")
        return
    table = Table("#", "lead", "name", "score", "grade", "priority", "owner", "why", box=None, pad_edge=False)
    for i, it in enumerate(items, 1):
        table.add_row(str(i), *(terminal_text(v) for v in (it["lead_id"], it["name"] or "", it["score"], it["grade"],
                                                             it["priority"], it["owner_id"] or "-", it["reasons"])))
    out.print(table)
    if last:
        out.print(f"as of the {last[0]['status']} run started {last[0]['started_at']:%Y-%m-%d %H:%M} UTC")


def _name(payload: dict[str, Any]) -> str:
    return " ".join(str(p) for p in (payload.get("first_name"), payload.get("last_name")) if p)


@app.command("explain-stored")
@handle_errors
def explain_stored(lead_id: Annotated[str, typer.Argument(help="The lead's CRM id")], crm: CrmOpt = Crm.hubspot,
                   model: ModelOpt = None, store: StoreOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
                   now: NowOpt = None, json_out: JsonOpt = False) -> None:
    """One lead's score rule by rule from the store (its synced fields and events), with its score history."""
    crm = Crm(crm).value  # type: ignore[assignment]
    settings, opened, name = _context(config, store, crm, tenant, ("store", "model", "log"), read_only=True)
    try:
        lead = opened.lead(name, lead_id)
        if lead is None:
            raise typer.BadParameter(f"no lead '{lead_id}' in tenant '{name}' of the store", param_hint="LEAD_ID")
        account = opened.account(name, lead["account_id"]) if lead.get("account_id") else None
        events = opened.lead_events(name, lead_id)
        history = opened.history(name, lead_id, 5)
    finally:
        opened.close()
    scoring_model, _ = _model(model, settings)
    moment = parse_now(now)
    result = explain_lead(scoring_model, lead, events, moment, account)
    if json_out:
        print_json({**result.as_dict(), "history": history})
        return
    out.print(f"[bold]{terminal_text(lead_id)}[/] {terminal_text(_name(lead))}  "
              f"score [bold]{result.score:.1f}[/]  fit {result.fit:.1f}  "
              f"intent {result.intent:.1f}  grade {result.grade}  priority [bold]{result.priority}[/]  "
              f"({len(events)} events, as of {moment.isoformat(timespec='seconds')})")
    table = Table("rule", "kind", "points", box=None, pad_edge=False)
    for c in result.contributions:
        if c.points or c.events_matched:
            table.add_row(terminal_text(c.label), c.kind, f"{c.points:+.2f}")
    out.print(table)
    for h in history:
        before = "new" if h["old_score"] is None else f"{h['old_score']} {h['old_grade']}"
        out.print(f"  {h['at']:%Y-%m-%d %H:%M} {before} → {h['score']} {h['grade']} {h['priority']} "
                  f"by {terminal_text(h['actor'])} (model {h['model_version']}): {terminal_text(h['reasons'])}",
                  highlight=False)
