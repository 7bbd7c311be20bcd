"""``leadscore demo``: the whole scoring story on a synthetic tenant, with no credentials.

It builds a deterministic synthetic B2B tenant (the same generator that seeds the sandbox CRMs),
scores every lead with the built-in model, prints the hottest-first queue a rep would see,
shows how conversion rises with grade and priority (the tenant's outcomes come from a hidden
propensity the model never sees), and writes the scores to ``out/demo/``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import typer
from rich.table import Table

from connector.app import app
from connector.console import handle_errors, load_model, out, print_json
from connector.tableio import write_table
from scoring.engine import score_tables


def _conversion_by(scored: pa.Table, converted: np.ndarray, column: str) -> list[tuple[str, int, float]]:
    keys = np.asarray(scored.column(column).to_pylist())
    rows = []
    for key in sorted(set(keys.tolist())):
        chosen = keys == key
        rows.append((key, int(chosen.sum()), float(converted[chosen].mean())))
    return rows


@app.command()
@handle_errors
def demo(leads: Annotated[int, typer.Option(help="How many synthetic leads")] = 5000,
         seed: Annotated[int, typer.Option(help="Seed of the synthetic tenant")] = 7,
         model: Annotated[Path | None, typer.Option(help="Scoring model YAML (default: built-in)")] = None,
         out_dir: Annotated[Path, typer.Option("--out", help="Where to write the scores")] = Path("out/demo"),
         json_out: Annotated[bool, typer.Option("--json", help="Machine-readable summary")] = False) -> None:
    """Score a synthetic tenant end to end and show the queue (no CRM, no credentials)."""
    from sandbox.tenant import generate_tenant, write_tenant_csv

    started = time.perf_counter()
    scoring_model = load_model(model)
    tenant = generate_tenant(seed=seed, leads=leads)
    scored = score_tables(scoring_model, tenant.leads, tenant.events, tenant.now, tenant.accounts)
    write_tenant_csv(tenant, out_dir)
    write_table(scored, out_dir / "scores.csv")
    seconds = time.perf_counter() - started
    converted = np.asarray(tenant.leads.column("converted").to_pylist(), dtype=float)
    scores = scored.column("score").to_numpy()
    mql = next((t for t in scoring_model.thresholds if t.metric == "score"), None)
    lift = None
    if mql is not None:
        above = scores >= mql.enter
        if above.any() and (~above).any() and converted[~above].mean() > 0:
            lift = float(converted[above].mean() / converted[~above].mean())
    summary = {
        "leads": tenant.leads.num_rows, "events": tenant.events.num_rows, "now": tenant.now.isoformat(),
        "model": scoring_model.name, "model_version": scoring_model.version, "seconds": round(seconds, 2),
        "conversion_by_grade": _conversion_by(scored, converted, "grade"),
        "mql_threshold": None if mql is None else mql.enter,
        "mql_leads": int((scores >= mql.enter).sum()) if mql else None,
        "lift_above_threshold": None if lift is None else round(lift, 2),
        "out": str(out_dir / "scores.csv"),
    }
    if json_out:
        print_json(summary)
        return
    hottest = _print_queue(tenant.leads, scored)
    table = Table("grade", "leads", "converted", title="Conversion by grade (outcomes the model never saw)",
                  box=None)
    for grade, count, rate in summary["conversion_by_grade"]:
        table.add_row(grade, f"{count:,}", f"{rate:.1%}")
    out.print(table)
    if lift is not None and mql is not None:
        out.print(f"leads at or above the {mql.name.upper()} threshold ({mql.enter:g}) convert "
                  f"[bold]{lift:.1f}×[/] as often as those below")
    out.print(f"\nscored {summary['leads']:,} leads and {summary['events']:,} events as of {tenant.now:%Y-%m-%d} "
              f"in {seconds:.1f}s with model {scoring_model.name} {scoring_model.version}; "
              f"all scores in {summary['out']}")
    files = f"--leads {out_dir}/leads.csv --events {out_dir}/events.csv --accounts {out_dir}/accounts.csv"
    out.print(f"next: see why the top lead scores {hottest[1]:.0f}:\n  leadscore explain {hottest[0]} {files} "
              f"--now {tenant.now:%Y-%m-%dT%H:%M:%SZ}\nor write the model to edit: leadscore init model.yaml")


def _print_queue(leads: pa.Table, scored: pa.Table, size: int = 10) -> tuple[str, float]:
    """Print the hottest leads; return the hottest one's id and score."""
    order = pc.sort_indices(scored, sort_keys=[("score", "descending"), ("lead_id", "ascending")])[:size]
    top = scored.take(order)
    people = {r["id"]: r for r in leads.select(["id", "first_name", "last_name", "title"]).to_pylist()}
    table = Table("lead", "title", "score", "grade", "priority", "why", title="Queue: hottest first", box=None)
    for row in top.to_pylist():
        person = people[row["lead_id"]]
        table.add_row(f"{person['first_name']} {person['last_name']}", person["title"] or "",
                      f"{row['score']:.0f}", row["grade"], row["priority"], row["reasons"])
    out.print(table)
    first = top.slice(0, 1).to_pylist()[0]
    return first["lead_id"], first["score"]
