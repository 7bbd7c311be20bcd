"""Benchmark: score 1,000,000 leads with 20,000,000 events, end to end, against DuckDB.

    python -m bench.scoring [--leads 1000000] [--events 20000000] [--seed 1] [--data bench/data]

Steps: generate the input files once (deterministic, Parquet) → run ``leadscore score`` on them
in a fresh process (read files → score → write scores) → run the same model restated by hand in
SQL (``bench/reference.sql``) in DuckDB in another fresh process → check the two agree → print
one JSON object: both times, the ratio, events per second, both peak RSS figures.

Each side runs in its own process so its peak RSS is its own; the timed part of each is the
work from reading the files to writing the scores (library imports are outside it on both
sides; whole-process times are reported too). Targets on a 2-core machine:
leadscore ≤ 1.2 × DuckDB, ≥ 5 million events/s, peak RSS < 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOW = "2026-11-01T00:00:00+00:00"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def side_engine(leads: Path, events: Path, out: Path) -> dict:
    from connector.cli import _load_commands, main

    _load_commands(["score"])  # library imports stay outside the timing, as duckdb's import does
    started = time.perf_counter()
    code = main(["score", "--model", str(HERE / "model.yaml"), "--leads", str(leads), "--events", str(events),
                 "--now", NOW, "--out", str(out), "--json"])
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"leadscore score exited {code}")
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def side_duckdb(leads: Path, events: Path, out: Path) -> dict:
    import duckdb

    now_us = int(datetime.fromisoformat(NOW).timestamp() * 1_000_000)
    sql = (HERE / "reference.sql").read_text().format(events=events, leads=leads, now_us=now_us, out=out)
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(sql)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "threads": con.execute(
        "SELECT current_setting('threads')").fetchone()[0]}


def _run_side(name: str, leads: Path, events: Path, out: Path) -> dict:
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "bench.scoring", "--side", name, "--leads-file", str(leads),
                             "--events-file", str(events), "--out", str(out)],
                            capture_output=True, text=True, check=False, cwd=HERE.parent)
    if result.returncode != 0:
        raise SystemExit(f"{name} side failed:\n{result.stderr[-3000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    measured["process_seconds"] = time.perf_counter() - began  # interpreter start and imports included
    return measured


def compare(ours: Path, reference: Path) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    a = pq.read_table(ours, columns=["lead_id", "fit", "intent", "score"]).sort_by("lead_id")
    b = pq.read_table(reference).sort_by("lead_id")
    if a.num_rows != b.num_rows or not a.column("lead_id").equals(b.column("lead_id")):
        return {"agree": False, "why": f"lead sets differ ({a.num_rows} vs {b.num_rows} rows)"}
    worst = {}
    for column in ("fit", "intent", "score"):
        diff = pc.abs(pc.subtract(a.column(column), pc.round(b.column(column), 2)))
        worst[column] = pc.max(diff).as_py()
    # ours is rounded to 2 decimals; equal values may round apart by one unit at most
    return {"agree": all(v <= 0.0100001 for v in worst.values()), "max_abs_diff": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating")
    parser.add_argument("--side", choices=["engine", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--leads-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--events-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        side = side_engine if args.side == "engine" else side_duckdb
        print(json.dumps(side(args.leads_file, args.events_file, args.out)))
        return

    from bench.generate import generate_files

    folder = args.data / f"{args.leads}-{args.events}-{args.seed}"
    leads, events = folder / "leads.parquet", folder / "events.parquet"
    generated = None
    if not (leads.exists() and events.exists()):
        started = time.perf_counter()
        leads, events = generate_files(folder, args.leads, args.events, args.seed, "parquet")
        generated = round(time.perf_counter() - started, 2)
    ours, reference = folder / "scores.parquet", folder / "reference.parquet"
    engines, ducks = [], []
    for _ in range(max(1, args.repeat)):  # alternate, so background load hits both sides alike
        engines.append(_run_side("engine", leads, events, ours))
        ducks.append(_run_side("duckdb", leads, events, reference))
    ours_s = sorted(r["seconds"] for r in engines)
    duck_s = sorted(r["seconds"] for r in ducks)
    report = {
        "leads": args.leads, "events": args.events, "seed": args.seed, "generated_seconds": generated,
        "runs": len(engines), "leadscore_seconds_all": [round(x, 3) for x in ours_s],
        "duckdb_seconds_all": [round(x, 3) for x in duck_s],
        "leadscore_seconds_best": round(ours_s[0], 3), "duckdb_seconds_best": round(duck_s[0], 3),
        "ratio_best": round(ours_s[0] / duck_s[0], 3),
        "ratio_median": round(statistics.median(ours_s) / statistics.median(duck_s), 3),
        "events_per_second_best": round(args.events / ours_s[0]),
        "leadscore_process_seconds_best": round(min(r["process_seconds"] for r in engines), 3),
        "duckdb_process_seconds_best": round(min(r["process_seconds"] for r in ducks), 3),
        "leadscore_peak_rss_mb": round(max(r["peak_rss_mb"] for r in engines)),
        "duckdb_peak_rss_mb": round(max(r["peak_rss_mb"] for r in ducks)),
        "duckdb_threads": ducks[0]["threads"], "load_average_1m": round(os.getloadavg()[0], 2),
        **compare(ours, reference),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
