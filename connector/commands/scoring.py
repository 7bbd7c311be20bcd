"""Offline commands: ``init``, ``check``, ``score`` and ``explain`` (files in, files out)."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from connector.app import app
from connector.console import (
    DEFAULT_MODEL,
    EncodingOpt,
    err,
    handle_errors,
    load_model,
    out,
    parse_now,
    print_json,
)
from connector.errors import ConfigError, InputError, Problem
from connector.inputs import BadRow, EventFile, Prepared, load_input, parse_column_map
from connector.memory import keep_freed_memory
from connector.tableio import set_encoding, write_table
from scoring.engine import score_tables
from scoring.explain import explain as explain_lead

ModelOpt = Annotated[Path | None, typer.Option(
    "--model", "-m", help="Scoring model YAML (default: built-in B2B model)")]
LeadsOpt = Annotated[Path, typer.Option("--leads", help="Leads file: CSV, JSONL or Parquet with an 'id' column")]
EventsOpt = Annotated[Path | None, typer.Option(
    "--events", help="Events file: lead_id, type, occurred_at, url, form, campaign, ...")]
AccountsOpt = Annotated[Path | None, typer.Option("--accounts", help="Accounts file joined on the leads' account_id")]
NowOpt = Annotated[str | None, typer.Option(
    "--now", help="Score as of this ISO-8601 time (default: now). Fix it for reproducible runs.")]
ColumnOpt = Annotated[list[str] | None, typer.Option(
    "--column", help="Map a column: TABLE.FIELD=SOURCE, e.g. leads.id='Prospect ID'")]
OnErrorOpt = Annotated[str, typer.Option("--on-error", help="Bad rows: 'skip' them (reported) or 'fail' the run")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout")]


@app.command()
@handle_errors
def init(path: Annotated[Path, typer.Argument(help="Where to write the model")] = Path("model.yaml"),
         force: Annotated[bool, typer.Option(help="Overwrite an existing file")] = False) -> None:
    """Write the built-in B2B scoring model to a file, to edit and keep under version control."""
    if path.exists() and not force:
        raise ConfigError([Problem(str(path), None, "", "file exists", "pass --force to overwrite")])
    text = resources.files("scoring").joinpath("models", DEFAULT_MODEL).read_text("utf-8")
    path.write_text(text, "utf-8")
    out.print(f"wrote {path}; check it with: leadscore check {path}")


@app.command()
@handle_errors
def check(model: Annotated[Path | None, typer.Argument(help="Scoring model YAML")] = None,
          json_out: JsonOpt = False) -> None:
    """Validate a scoring model; every problem names file, line, key path and value."""
    try:
        loaded = load_model(model)
    except ConfigError as exc:
        if json_out:
            print_json({"ok": False, "error": str(exc), "problems": [p.__dict__ for p in exc.problems]})
            raise typer.Exit(2) from None
        raise
    summary: dict[str, Any] = {
        "ok": True, "name": loaded.name, "version": loaded.version,
        "fit_rules": len(loaded.fit_rules()), "intent_rules": len(loaded.intent_rules()),
        "thresholds": [t.name for t in loaded.thresholds],
    }
    if json_out:
        print_json(summary)
        return
    out.print(f"[green]ok[/] {loaded.name} (version {loaded.version}): {summary['fit_rules']} fit rules, "
              f"{summary['intent_rules']} intent rules, thresholds: {', '.join(summary['thresholds']) or 'none'}")


def _load(path: Path | None, kind: str, mapping: dict[str, str], on_error: str,
          bad: list[BadRow], columns: set[str] | None = None) -> pa.Table | None:
    if path is None:
        return None
    prepared: Prepared = load_input(path, kind, mapping, columns)
    bad.extend(prepared.bad)
    if prepared.bad and on_error == "fail":
        raise InputError(prepared.bad)
    return prepared.table


def _check_on_error(on_error: str) -> None:
    if on_error not in ("skip", "fail"):
        raise ConfigError([Problem("--on-error", None, "on_error", f"'{on_error}' is not skip or fail")])


def _report_bad(bad: list[BadRow]) -> None:
    for row in bad[:20]:
        err.print(f"[yellow]skipped[/] {row}", highlight=False)
    if len(bad) > 20:
        err.print(f"[yellow]skipped[/] {len(bad) - 20} more bad rows")


@app.command()
@handle_errors
def score(leads: LeadsOpt,
          out_path: Annotated[Path, typer.Option("--out", "-o", help="Output file (.csv, .jsonl, .parquet)")],
          model: ModelOpt = None, events: EventsOpt = None, accounts: AccountsOpt = None, now: NowOpt = None,
          column: ColumnOpt = None, on_error: OnErrorOpt = "skip", json_out: JsonOpt = False,
          encoding: EncodingOpt = None) -> None:
    """Score a file of leads (and their events) offline; writes id, scores, grade, priority, reasons.

    Example: leadscore score --leads leads.csv --events events.csv --out scores.csv --now 2026-11-01T00:00:00Z
    """
    set_encoding(encoding)
    _check_on_error(on_error)
    scoring_model = load_model(model)
    moment = parse_now(now)
    maps = parse_column_map(column or [])
    keep_freed_memory()
    started = time.perf_counter()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=json_out or not err.is_terminal) as progress:
        task = progress.add_task("reading leads", total=None)
        needed = scoring_model.input_columns()  # read only what the model uses
        found: dict[str, list[BadRow]] = {"leads": [], "accounts": []}
        with ThreadPoolExecutor(max_workers=3) as pool:  # Arrow reads release the GIL: read the files side by side
            reading = {kind: pool.submit(_load, path, kind, maps[kind], on_error, found[kind], needed[kind])
                       for kind, path in (("leads", leads), ("accounts", accounts))}
            opening = pool.submit(EventFile, events, maps["events"], needed["events"],
                                  lambda: progress.advance(task)) if events else None
            event_file = opening.result() if opening else None
            try:
                tables = {kind: future.result() for kind, future in reading.items()}
            except BaseException:
                if event_file is not None:
                    event_file.close()
                raise
        lead_table, account_table = tables["leads"], tables["accounts"]
        assert lead_table is not None
        progress.update(task, description="scoring events, part", completed=0,
                        total=len(event_file.parts.sizes) if event_file else 0)
        try:
            result = score_tables(scoring_model, lead_table, event_file.parts if event_file else None, moment,
                                  account_table, workers=max(1, min(8, os.cpu_count() or 1)))
        finally:
            if event_file is not None:
                event_file.close()  # the temporary parts of a CSV or JSONL file
        bad = found["leads"] + found["accounts"] + (event_file.bad if event_file else [])
        if event_file and event_file.bad and on_error == "fail":
            raise InputError(event_file.bad)
        progress.update(task, description=f"writing {out_path}", total=None)
        write_table(result, out_path)
    seconds = time.perf_counter() - started
    _report_bad(bad)
    summary = {
        "leads": result.num_rows, "events": event_file.usable_rows if event_file else 0,
        "skipped_rows": len(bad), "out": str(out_path), "model_version": scoring_model.version,
        "now": moment.isoformat(), "seconds": round(seconds, 3),
        "grades": {g: int(c) for g, c in _counts(result.column("grade"))},
    }
    if json_out:
        print_json(summary)
    else:
        grades = ", ".join(f"{g} {c}" for g, c in summary["grades"].items())
        out.print(f"scored {summary['leads']:,} leads with {summary['events']:,} events in {seconds:.2f}s "
                  f"(model {scoring_model.name} {scoring_model.version}) → {out_path}\ngrades: {grades}")


def _counts(column: pa.ChunkedArray) -> list[tuple[str, int]]:
    counts = pc.value_counts(column).to_pylist()
    return sorted(((c["values"], c["counts"]) for c in counts), key=lambda gc: gc[0])


@app.command("explain")
@handle_errors
def explain_cmd(lead_id: Annotated[str, typer.Argument(help="The lead's id")], leads: LeadsOpt,
                model: ModelOpt = None, events: EventsOpt = None, accounts: AccountsOpt = None,
                now: NowOpt = None, column: ColumnOpt = None, json_out: JsonOpt = False,
                encoding: EncodingOpt = None) -> None:
    """Show one lead's score rule by rule: signed, decayed points and the caps that applied.

    Example: leadscore explain L-005 --leads leads.csv --events events.csv --now 2026-11-01T00:00:00Z
    """
    set_encoding(encoding)
    scoring_model = load_model(model)
    moment = parse_now(now)
    maps = parse_column_map(column or [])
    bad: list[BadRow] = []
    lead_table = _load(leads, "leads", maps["leads"], "skip", bad)
    assert lead_table is not None
    match = lead_table.filter(pc.equal(lead_table.column("id"), lead_id))
    if match.num_rows == 0:
        raise ConfigError([Problem(str(leads), None, "id", f"no lead with id '{lead_id}'")])
    lead = match.slice(0, 1).to_pylist()[0]
    lead_events: list[dict] = []
    event_table = _load(events, "events", maps["events"], "skip", bad)
    if event_table is not None:
        ids = event_table.column("lead_id").cast(pa.string())
        lead_events = event_table.filter(pc.equal(ids, lead_id)).to_pylist()
    account = None
    account_table = _load(accounts, "accounts", maps["accounts"], "skip", bad)
    if account_table is not None and lead.get("account_id"):
        found = account_table.filter(pc.equal(account_table.column("id"), str(lead["account_id"])))
        account = found.to_pylist()[0] if found.num_rows else None
    result = explain_lead(scoring_model, lead, lead_events, moment, account)
    if json_out:
        print_json(result.as_dict())
        return
    out.print(f"[bold]{lead_id}[/]  score [bold]{result.score:.1f}[/]  fit {result.fit:.1f}  "
              f"intent {result.intent:.1f}  grade {result.grade}  priority [bold]{result.priority}[/]  "
              f"(model {scoring_model.name} {scoring_model.version}, as of {moment.isoformat()})")
    table = Table("rule", "kind", "group", "points", "events", box=None, pad_edge=False)
    for c in result.contributions:
        if c.points == 0 and c.events_matched == 0:
            continue
        capped = " (capped)" if c.points != c.uncapped else ""
        counted = f"{c.events_counted}/{c.events_matched}" if c.kind == "intent" else ""
        table.add_row(c.label, c.kind, c.group, f"{c.points:+.2f}{capped}", counted)
    for group, removed in result.group_caps.items():
        table.add_row(f"cap on {group}", "", "", f"{removed:+.2f}", "")
    out.print(table)
    out.print(f"fit points {result.fit_raw:.2f} / {scoring_model.fit_max_points:g} → {result.fit:.1f}; "
              f"intent points {result.intent_raw:.2f} / {scoring_model.intent.max_points:g} → {result.intent:.1f}")
