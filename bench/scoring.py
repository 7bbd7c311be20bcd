"""Benchmark: score leads with their events end to end, against DuckDB and Polars.

    python -m bench.scoring [--leads 1000000] [--events 20000000] [--format parquet] [--seed 1]
    python -m bench.scoring --sizes [SIZE ...] [--formats parquet csv] [--repeat 1]

Steps: generate the input files once (deterministic, bench/generate.py) → run ``leadscore score``
on them in a fresh process (read files → score → write scores) → run the same model restated by
hand in SQL (``bench/reference.sql``) in DuckDB, and as Polars lazy expressions on Polars'
streaming engine (``bench/reference_polars.py``), each in another fresh process → check all
three agree → print JSON: each side's time and peak RSS, and leadscore's time over the faster of
the two peers.

Each side runs in its own process so its peak RSS is its own; the timed part of each is the
work from reading the files to writing the scores (library imports are outside it on every
side; whole-process times are reported too). Runs alternate between the sides, so background
load hits them alike.

``--sizes`` runs every size given (default: 100k × 2M, 1M × 20M and 5M × 100M; a size is
``LEADSxEVENTS`` with k/M suffixes) in every format of ``--formats``, printing one JSON object per
size and format as it is done, then one with all of them. Leads and events are in the same format
(a CSV run reads leads.csv and events.csv). Targets on a 2-core machine: leadscore at most 0.8 ×
the faster peer at every size, and under 8 GB peak RSS at 5M × 100M.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOW = "2026-11-01T00:00:00+00:00"
SIZES = ("100kx2M", "1Mx20M", "5Mx100M")
PEERS = ("duckdb", "polars")
_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _now_us() -> int:
    return int(datetime.fromisoformat(NOW).timestamp() * 1_000_000)


def side_engine(leads: Path, events: Path, out: Path) -> dict:
    from connector.cli import _load_commands, main

    _load_commands(["score"])  # library imports stay outside the timing, as the peers' imports do
    started = time.perf_counter()
    code = main(["score", "--model", str(HERE / "model.yaml"), "--leads", str(leads), "--events", str(events),
                 "--now", NOW, "--out", str(out), "--json"])
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"leadscore score exited {code}")
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def _duckdb_scans(leads: Path, events: Path) -> dict[str, str]:
    """How DuckDB reads the two files. A CSV has no file row number: equal-time events in one
    window then rank in any order, which cannot change a score (they have the same age)."""
    if events.suffix == ".parquet":
        return {"events_scan": f"read_parquet('{events}', file_row_number = true)",
                "leads_scan": f"read_parquet('{leads}')"}
    return {"events_scan": f"(SELECT *, 0 AS file_row_number FROM read_csv('{events}', header = true, "
                           "types = {'occurred_at': 'TIMESTAMPTZ'}))",
            "leads_scan": f"read_csv('{leads}', header = true)"}


def side_duckdb(leads: Path, events: Path, out: Path) -> dict:
    import duckdb

    sql = (HERE / "reference.sql").read_text().format(now_us=_now_us(), out=out, **_duckdb_scans(leads, events))
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(sql)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "threads": con.execute(
        "SELECT current_setting('threads')").fetchone()[0]}


def side_polars(leads: Path, events: Path, out: Path) -> dict:
    import polars as pl

    from bench import reference_polars

    started = time.perf_counter()
    reference_polars.run(events, leads, _now_us(), out)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "threads": pl.thread_pool_size(),
            "version": pl.__version__}


SIDES = {"engine": side_engine, "duckdb": side_duckdb, "polars": side_polars}


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
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def read(path: Path) -> pa.Table:  # Polars writes large_string ids
        table = pq.read_table(path, columns=["lead_id", "fit", "intent", "score"])
        return table.set_column(0, "lead_id", table.column(0).cast(pa.string())).sort_by("lead_id")

    a, b = read(ours), read(reference)
    if a.num_rows != b.num_rows or not a.column("lead_id").equals(b.column("lead_id")):
        return {"agree": False, "why": f"lead sets differ ({a.num_rows} vs {b.num_rows} rows)"}
    worst = {}
    for column in ("fit", "intent", "score"):
        diff = pc.abs(pc.subtract(a.column(column), pc.round(b.column(column), 2)))
        worst[column] = pc.max(diff).as_py()
    # ours is rounded to 2 decimals; equal values may round apart by one unit at most
    return {"agree": all(v <= 0.0100001 for v in worst.values()), "max_abs_diff": worst}


def parse_size(text: str) -> tuple[int, int]:
    """``5Mx100M`` → (5_000_000, 100_000_000)."""
    match = re.fullmatch(r"(\d+)([kKmM]?)[xX](\d+)([kKmM]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size like 1Mx20M (LEADSxEVENTS)")
    leads, lead_unit, events, event_unit = match.groups()
    return int(leads) * _SUFFIX[lead_unit.lower()], int(events) * _SUFFIX[event_unit.lower()]


def measure(leads_n: int, events_n: int, fmt: str, seed: int, data: Path, repeat: int) -> dict:
    """Generate (once) and score one size in one format on every side; the report for it."""
    from bench.generate import generate_files

    folder = data / f"{leads_n}-{events_n}-{seed}"
    leads, events = folder / f"leads.{fmt}", folder / f"events.{fmt}"
    generated = None
    if not (leads.exists() and events.exists()):
        started = time.perf_counter()
        leads, events = generate_files(folder, leads_n, events_n, seed, fmt)
        generated = round(time.perf_counter() - started, 2)
    outs = {name: folder / f"scores-{name}-{fmt}.parquet" for name in SIDES}
    runs: dict[str, list[dict]] = {name: [] for name in SIDES}
    loads = []
    for _ in range(max(1, repeat)):  # alternate, so background load hits every side alike
        for name in SIDES:
            loads.append(os.getloadavg()[0])
            runs[name].append(_run_side(name, leads, events, outs[name]))
    best = {name: min(r["seconds"] for r in found) for name, found in runs.items()}
    median = {name: statistics.median(r["seconds"] for r in found) for name, found in runs.items()}
    faster = min(PEERS, key=lambda p: best[p])
    report: dict = {
        "leads": leads_n, "events": events_n, "format": fmt, "seed": seed, "generated_seconds": generated,
        "runs": max(1, repeat),
    }
    for name, found in runs.items():
        label = "leadscore" if name == "engine" else name
        report[f"{label}_seconds_all"] = [round(r["seconds"], 3) for r in found]
        report[f"{label}_seconds_best"] = round(best[name], 3)
        report[f"{label}_process_seconds_best"] = round(min(r["process_seconds"] for r in found), 3)
        report[f"{label}_peak_rss_mb"] = round(max(r["peak_rss_mb"] for r in found))
    report.update({
        "faster_peer": faster,
        "ratio_best": round(best["engine"] / best[faster], 3),
        "ratio_median": round(median["engine"] / min(median[p] for p in PEERS), 3),
        "ratio_best_duckdb": round(best["engine"] / best["duckdb"], 3),
        "ratio_best_polars": round(best["engine"] / best["polars"], 3),
        "events_per_second_best": round(events_n / best["engine"]),
        "duckdb_threads": runs["duckdb"][0]["threads"], "polars_threads": runs["polars"][0]["threads"],
        "polars_version": runs["polars"][0]["version"],
        "load_average_1m": [round(min(loads), 2), round(max(loads), 2)],
    })
    checks = {peer: compare(outs["engine"], outs[peer]) for peer in PEERS}
    report["agree"] = all(c["agree"] for c in checks.values())
    report["checks"] = checks
    report["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--sizes", nargs="*", type=parse_size, metavar="SIZE",
                        help=f"run these sizes (default {' '.join(SIZES)}) in each of --formats")
    parser.add_argument("--formats", nargs="+", choices=["parquet", "csv"], default=["parquet", "csv"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating")
    parser.add_argument("--side", choices=list(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--leads-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--events-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(SIDES[args.side](args.leads_file, args.events_file, args.out)))
        return
    if args.sizes is None:
        print(json.dumps(measure(args.leads, args.events, args.format, args.seed, args.data, args.repeat)))
        return
    sizes = args.sizes or [parse_size(s) for s in SIZES]
    reports = []
    for leads_n, events_n in sizes:
        for fmt in args.formats:
            reports.append(measure(leads_n, events_n, fmt, args.seed, args.data, args.repeat))
            print(json.dumps(reports[-1]), flush=True)
    print(json.dumps({"sizes": reports}))


if __name__ == "__main__":
    main()
