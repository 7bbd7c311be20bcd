"""Benchmark: the Salesforce adapter syncing a 50,000-person org through faults, printing JSON.

    .venv/bin/python -m bench.salesforce_adapter [--leads 50000] [--rate-429 0.05] [--rate-5xx 0.05]

Against a sandbox org seeded with a synthetic tenant (Leads and Contacts), with injected 429s and
5xx answers on every endpoint (logins included) and one session expiry in the middle of the
writes, it: installs the fields; pulls every lead/contact (REST, switching to a Bulk 2.0 query
job above the threshold); writes a changed score to every one of them in 200-record sObject
Collections calls (the sync's path); writes a second score with Bulk 2.0 ingest jobs; and checks
after each step, from the org itself, that nothing was lost or duplicated. Times are wall-clock
seconds on this machine; calls come from the sandbox's request log (what reached the server,
faulted answers included).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from adapters.base import WriteRequest
from adapters.retry import RetryPolicy
from adapters.salesforce import ApiSession, Credentials, SalesforceAdapter, Transport
from sandbox.http import FaultConfig
from sandbox.salesforce import client_session, create_server
from sandbox.tenant import generate_tenant

FIELD = "Leadscore_Score__c"


def _live(org: Any) -> set[str]:
    leads, contacts = org.tables["Lead"], org.tables["Contact"]
    return ({r for r, row in leads.rows.items() if not leads.value(row, "IsConverted")} | set(contacts.rows))


def _check(org: Any, ids: list[str], value: Any) -> int:
    """How many of ``ids`` do not hold ``value`` in the org (0 = nothing lost)."""
    bad = 0
    with org.lock:
        for rid in ids:
            table = org.tables["Lead" if rid.startswith("00Q") else "Contact"]
            bad += table.value(table.rows[rid], FIELD) != value
    return bad


def _calls(log: Any, since: dict[str, int]) -> dict[str, int]:
    now = Counter(log.counts())
    now.subtract(since)
    return {k: v for k, v in sorted(now.items()) if v}


def _bound(adapter: SalesforceAdapter, used_before: int | None, seconds: float) -> dict[str, Any]:
    """The step's rate-limit bound. Salesforce paces no calls per second: its one rate is the daily
    API allocation, of which leadscore takes its share (``max_api_share``). The bound is the time
    that budget takes to allow the requests the org counted for the step (``Sforce-Limit-Info``)."""
    usage = adapter.api_usage()
    used, limit, share = usage.get("daily_used"), usage.get("daily_limit"), adapter.t.max_api_share
    if used is None or used_before is None or not limit:
        return {"rate_limit_bound": None, "rate_limit_bound_seconds": None, "seconds_over_bound": None}
    calls = used - used_before
    budget = limit * share
    bound = round(calls * 86_400 / budget, 1)
    return {"rate_limit_bound": {"daily_api_requests": {"calls": calls, "budget": f"{budget:.0f} / 24 h",
                                                        "seconds": bound}},
            "rate_limit_bound_seconds": bound, "seconds_over_bound": round(seconds / bound, 2) if bound else None}


def _used(adapter: SalesforceAdapter) -> int | None:
    used = adapter.api_usage().get("daily_used")
    return int(used) if used is not None else None


def run(leads: int, rate_429: float, rate_5xx: float, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"leads": leads, "faults": {"rate_429": rate_429, "rate_5xx": rate_5xx, "seed": seed}}
    started = time.perf_counter()
    tenant = generate_tenant(seed=seed, leads=leads, events_per_lead=1)
    faults = FaultConfig(rate_429=rate_429, rate_5xx=rate_5xx, seed=seed)
    with create_server(tenant, faults=faults, daily_api_limit=1_000_000) as started_server:
        server: Any = started_server
        out["seed_s"] = round(time.perf_counter() - started, 2)
        info = server.connection_info()
        creds = Credentials(username=info["username"], consumer_key=info["consumer_key"],
                            private_key_file=info["private_key_file"], domain=info["domain"])
        session = ApiSession.adopt(client_session(info["instance_url"], info["ca_cert"]), timeout_s=60)
        adapter = SalesforceAdapter(Transport(creds, session, policy=RetryPolicy(max_attempts=10, seed=seed)))
        log = server.log

        t0, before = time.perf_counter(), log.counts()
        plan = adapter.install(adapter.plan_install(adapter.fields()))
        out["install"] = {"s": round(time.perf_counter() - t0, 2), "up_to_date": plan.up_to_date,
                          "calls": _calls(log, before)}
        used = _used(adapter)  # known from the first API answer on

        t0, before = time.perf_counter(), log.counts()
        ids = [str(r.id) for page in adapter.pull_leads(None, datetime.now(timezone.utc)) for r in page.records]
        expected = _live(server.org)
        seconds = time.perf_counter() - t0
        out["pull"] = {"s": round(seconds, 2), **_bound(adapter, used, seconds), "records": len(ids),
                       "duplicates": len(ids) - len(set(ids)), "missing": len(expected - set(ids)),
                       "unexpected": len(set(ids) - expected), "calls": _calls(log, before)}
        used = _used(adapter)

        t0, before = time.perf_counter(), log.counts()
        results = []
        batches = math.ceil(len(ids) / adapter.batch_size)
        for b in range(batches):
            if b == batches // 2:
                server.expire_sessions()  # the one session expiry, mid-run
            chunk = ids[b * adapter.batch_size:(b + 1) * adapter.batch_size]
            results += adapter.write([WriteRequest("lead", rid, {FIELD: 42}) for rid in chunk])
        seconds = time.perf_counter() - t0
        out["write_collections"] = {
            "s": round(seconds, 2), **_bound(adapter, used, seconds), "records": len(results),
            "ok": sum(r.ok for r in results), "results_match_requests": [r.record_id for r in results] == ids,
            "not_stored": _check(server.org, ids, 42), "collection_calls_expected": batches,
            "calls": _calls(log, before)}
        used = _used(adapter)

        t0, before = time.perf_counter(), log.counts()
        bulk = adapter.write([WriteRequest("lead", rid, {FIELD: 43}) for rid in ids])  # > threshold: Bulk 2.0
        seconds = time.perf_counter() - t0
        out["write_bulk"] = {
            "s": round(seconds, 2), **_bound(adapter, used, seconds), "records": len(bulk),
            "ok": sum(r.ok for r in bulk),
            "results_match_requests": [r.record_id for r in bulk] == ids, "not_stored": _check(server.org, ids, 43),
            "calls": _calls(log, before)}

        statuses = Counter(status for (_, status), n in log.status_counts().items() for _ in range(n))
        out["totals"] = {"s": round(time.perf_counter() - started, 2), "requests": log.total(),
                         "by_status": dict(sorted(statuses.items())), "adapter": adapter.api_usage(),
                         "retries_by_status": {str(k): v for k, v in adapter.t.policy.retries.items()}}
        out["ok"] = (out["pull"]["duplicates"] == out["pull"]["missing"] == out["pull"]["unexpected"] == 0
                     and out["write_collections"]["not_stored"] == 0 and out["write_bulk"]["not_stored"] == 0
                     and out["write_collections"]["ok"] == out["write_bulk"]["ok"] == len(ids))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=50_000, help="people in the org (Leads + Contacts)")
    parser.add_argument("--rate-429", type=float, default=0.05, help="share of requests answered 429")
    parser.add_argument("--rate-5xx", type=float, default=0.05, help="share of requests answered 503")
    parser.add_argument("--seed", type=int, default=1, help="tenant and fault dice")
    args = parser.parse_args(argv)
    result = run(args.leads, args.rate_429, args.rate_5xx, args.seed)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
