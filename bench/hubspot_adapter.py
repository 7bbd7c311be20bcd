"""Bench: the HubSpot adapter against the sandbox at its default limits, with injected faults.

Pull every contact (search + associations), write a changed score to every one, then check the
sandbox: every contact holds exactly the value written (none lost), and the number of applied
batch updates equals ⌈W/batch⌉ (none applied twice). Prints one JSON object: times and calls.

    .venv/bin/python -m bench.hubspot_adapter --contacts 50000 --fault-429 0.01 --fault-5xx 0.01
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import datetime, timezone
from typing import Any, cast

from adapters.base import WriteRequest
from adapters.hubspot import HubSpotAdapter
from connector.settings import HubSpotSettings
from sandbox.http import FaultConfig
from sandbox.hubspot import create_server
from sandbox.tenant import generate_tenant
from scoring.records import Lead

__all__ = ["main", "run"]

UPDATE = "POST /crm/objects/2026-09/{objectType}/batch/update"


def score_of(contact_id: str, round_: int) -> int:
    return (int(contact_id) * 7 + 13 * round_) % 101


def run(contacts: int, fault_429: float, fault_5xx: float, seed: int, events: bool) -> dict[str, Any]:
    started = time.perf_counter()
    tenant = generate_tenant(seed=seed, leads=contacts, events_per_lead=2.0 if events else 0.0)
    faults = FaultConfig(rate_429=fault_429, rate_5xx=fault_5xx, seed=seed)
    report: dict[str, Any] = {"contacts": contacts, "fault_429": fault_429, "fault_5xx": fault_5xx}
    server = create_server(tenant, faults=faults)
    with server:
        report["seconds_seed"] = round(time.perf_counter() - started, 1)
        settings = HubSpotSettings(access_token=server.token, base_url=server.url)  # defaults: budget, batch
        adapter = HubSpotAdapter.from_settings(settings)
        adapter.install(adapter.plan_install(adapter.fields()))
        server.log.reset()
        until = datetime.now(timezone.utc)

        t0 = time.perf_counter()
        ids: list[str] = []
        with_account = 0
        for page in adapter.pull_leads(None, until):
            leads = cast(list[Lead], page.records)
            ids.extend(r.id for r in leads)
            with_account += sum(1 for r in leads if r.account_id)
        report["seconds_pull"] = round(time.perf_counter() - t0, 1)
        report["pulled"] = len(ids)
        report["pulled_distinct"] = len(set(ids))
        report["pulled_with_account"] = with_account
        report["pull_calls"] = server.log.counts()
        if events:
            server.log.reset()
            t0 = time.perf_counter()
            n = sum(len(p.records) for p in adapter.pull_events(None, until))
            report.update(seconds_events=round(time.perf_counter() - t0, 1), events=n,
                          events_in_tenant=tenant.events.num_rows, events_calls=server.log.counts())

        server.log.reset()
        t0 = time.perf_counter()
        requests = [WriteRequest("lead", i, {"leadscore_score": score_of(i, 1)}) for i in ids]
        results = adapter.write(requests)
        failed = [r for r in results if not r.ok]
        retried = adapter.write([q for q, r in zip(requests, results, strict=True) if not r.ok]) if failed else []
        report["seconds_write"] = round(time.perf_counter() - t0, 1)
        report["write_failed_first_pass"] = len(failed)
        report["write_failed_after_retry"] = sum(1 for r in retried if not r.ok)
        applied = server.log.count(UPDATE, 200) + server.log.count(UPDATE, 207)
        report["update_calls_applied"] = applied
        report["update_calls_expected"] = math.ceil(len(ids) / settings.batch_size) + math.ceil(
            len(failed) / settings.batch_size)
        report["write_calls"] = {f"{k[0]} → {k[1]}": v for k, v in sorted(server.log.status_counts().items())}

        store = server.portal.stores["contacts"]
        wrong = [i for i in ids if store.records[int(i)].props.get("leadscore_score") != str(score_of(i, 1))]
        report["lost_or_wrong"] = len(wrong)
        report["retries_by_status"] = {str(k): v for k, v in adapter.t.policy.retries.items()}
        report["client_waited_for_budget_s"] = round(adapter.t.limiter.waited_s + adapter.t.search_limiter.waited_s, 1)
        report["api_usage"] = adapter.api_usage()
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--fault-429", type=float, default=0.01)
    parser.add_argument("--fault-5xx", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", action="store_true", help="also pull events (2 per contact)")
    args = parser.parse_args(argv)
    report = run(args.contacts, args.fault_429, args.fault_5xx, args.seed, args.events)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    ok = report["pulled_distinct"] == args.contacts and report["lost_or_wrong"] == 0 and \
        report["update_calls_applied"] == report["update_calls_expected"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
