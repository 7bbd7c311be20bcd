"""Bench: `leadscore sync` against the HubSpot sandbox at HubSpot's default rate limit, and a naive
writer (one record per call, as many sync tools do) on the same changed data.

A first full sync, then 1% of contacts change in the portal (a new job title), then an incremental
sync. For each: wall time, API calls by endpoint against the minimum that data needs (pages of
the largest size each endpoint allows, plus ⌈records/100⌉ batch updates), and the sync process's
peak RSS — the sandbox runs in a process of its own so its memory is not counted. Then the naive
writer sends the incremental sync's writes again, one ``PATCH /crm/objects/2026-09/contacts/{id}`` each,
through the same client budget. Prints one JSON object.

    .venv/bin/python -m bench.sync_hubspot                      # 10,000 contacts / 200,000 events
    .venv/bin/python -m bench.sync_hubspot --contacts 100000 --events 2000000
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import resources
from typing import Any

from adapters.base import WriteRequest, WriteResult
from adapters.hubspot import HubSpotAdapter
from adapters.hubspot.convert import to_property_value
from connector.settings import HubSpotSettings
from connector.store import Store
from connector.sync.run import SyncOptions, run_sync
from scoring.model import parse_model

__all__ = ["main", "run"]

#: the most records one call of each endpoint returns or takes (HubSpot's documented maxima)
PAGE_MAX = {"search": 200, "associations": 1000,
            "GET /events/event-occurrences/2026-09": 1000, "read marketing email events": 1000, "list forms": 100,
            "read form submissions": 50, "POST /crm/objects/2026-09/{objectType}/batch/read": 100,
            "GET /crm/owners/2026-09": 100}
UPDATE = "POST /crm/objects/2026-09/{objectType}/batch/update"
CHANGED_TITLE = "VP Marketing"


def _serve(contacts: int, events: int, seed: int, pipe: Any) -> None:
    """The sandbox, in its own process: answers ("touch", fraction) and ("stop",) on the pipe."""
    from sandbox.hubspot import create_server
    from sandbox.tenant import generate_tenant

    tenant = generate_tenant(seed=seed, leads=contacts, events_per_lead=events / contacts)
    server = create_server(tenant)  # HubSpot's default limits: 190 requests / 10 s, 4 searches / s
    with server:
        pipe.send((server.url, server.token, tenant.events.num_rows))
        portal = server.portal
        store = portal.stores["contacts"]
        while True:
            command = pipe.recv()
            if command[0] == "stop":
                return
            ids = sorted(store.records)[::round(1 / command[1])]
            with portal.lock:
                for i in ids:
                    portal.update(store, store.records[i], {"jobtitle": CHANGED_TITLE})
            pipe.send(len(ids))


class _Counting(HubSpotAdapter):
    """The adapter, noting what each read endpoint returned and every write request."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.items: Counter[str] = Counter()
        self.writes: list[WriteRequest] = []
        t = self.t
        request = t.request

        def counted(what: str, method: str, path: str, *, endpoint: str | None = None,
                    **kw: Any) -> tuple[Any, int]:
            data, status = request(what, method, path, endpoint=endpoint, **kw)
            body = data if isinstance(data, dict) else {}
            self.items[endpoint or f"{method} {t.path(path)}"] += len(body.get("results") or body.get("events") or [])
            return data, status

        t.request = counted  # type: ignore[method-assign]
        self.limiters = {name: getattr(t, name) for name in ("limiter", "search_limiter") if hasattr(t, name)}
        self.acquired: Counter[str] = Counter()
        for name, limiter in self.limiters.items():
            limiter.acquire = self._counted_acquire(name, limiter.acquire)

    def _counted_acquire(self, name: str, acquire: Any) -> Any:
        def counted() -> None:
            self.acquired[name] += 1
            acquire()
        return counted

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        self.writes.extend(requests)
        return super().write(requests)


def _key(endpoint: str) -> str:
    if endpoint.endswith("/search"):
        return "search"
    return "associations" if endpoint.startswith("POST /crm/associations/2026-09/") else endpoint


def _minimum(calls: Counter[str], items: Counter[str], writes: Sequence[WriteRequest],
             upstream: dict[str, int] | None = None) -> dict[str, int]:
    """The fewest calls that move this data: each read endpoint's records in pages of its largest size
    (at least one call: asking is how a run learns nothing changed), each object's written records in
    batches of 100; any other call (token, tasks) counted as made. ``upstream``: endpoint → records
    that really changed, when the run read more (its own earlier writes look changed to a search)."""
    out: dict[str, int] = {}
    items = Counter({**items, **(upstream or {})})
    for endpoint, made in calls.items():
        if endpoint.endswith("/batch/update"):
            continue
        size = PAGE_MAX.get(_key(endpoint))
        out[endpoint] = made if size is None else max(1, math.ceil(items[endpoint] / size))
    for kind in ("lead", "account"):
        records = {w.record_id for w in writes if w.object == kind}
        if records:
            out[f"{UPDATE} ({kind})"] = math.ceil(len(records) / 100)
    return out


def rate_bound(acquired: Counter[str], limiters: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The run's rate-limit bound: per client limiter, the calls that passed it ÷ its budget
    (``limit`` calls per ``window_s``), the largest of them, and the wall time over it."""
    per = {name: {"calls": acquired[name], "budget": f"{limiter.limit} / {limiter.window_s:g} s",
                  "seconds": round(acquired[name] * limiter.window_s / limiter.limit, 1)}
           for name, limiter in limiters.items()}
    bound = max((p["seconds"] for p in per.values()), default=0.0)
    return {"rate_limit_bound": per, "rate_limit_bound_seconds": bound,
            "seconds_over_bound": round(seconds / bound, 2) if bound else None}


def _sync(adapter: _Counting, store: Store, model: Any, changed: int | None = None) -> dict[str, Any]:
    before, items_before, writes_before = Counter(adapter.t.calls), Counter(adapter.items), len(adapter.writes)
    acquired_before = Counter(adapter.acquired)
    t0 = time.perf_counter()
    summary = run_sync(store, adapter, model, SyncOptions(tenant="bench", now=datetime.now(timezone.utc)))
    seconds = time.perf_counter() - t0
    calls = Counter(adapter.t.calls)
    calls.subtract(before)
    items = Counter(adapter.items)
    items.subtract(items_before)
    calls = +calls
    acquired = Counter(adapter.acquired)
    acquired.subtract(acquired_before)
    writes = adapter.writes[writes_before:]
    minimum = _minimum(calls, items, writes)
    report: dict[str, Any] = {}
    if changed is not None:
        upstream = {"POST /crm/objects/2026-09/contacts/search": changed,
                    "POST /crm/objects/2026-09/companies/search": 0,
                    "POST /crm/associations/2026-09/contacts/companies/batch/read": changed}
        report["api_calls_minimum_upstream_changes_only"] = sum(_minimum(calls, items, writes, upstream).values())
    return {"seconds": round(seconds, 1), **rate_bound(acquired, adapter.limiters, seconds),
            "pulled": summary.pulled, "new_events": summary.new_events,
            "rescored": summary.rescored, "records_written": len({(w.object, w.record_id) for w in writes}),
            "failed": summary.failed, "api_calls": sum(calls.values()), "api_calls_minimum": sum(minimum.values()),
            "calls_by_endpoint": dict(sorted(calls.items())), "minimum_by_endpoint": dict(sorted(minimum.items())),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), **report}


def _naive(adapter: HubSpotAdapter, writes: Sequence[WriteRequest]) -> dict[str, Any]:
    """One PATCH per record, through the same client budget and retry policy."""
    objects = {"lead": "contacts", "account": "companies"}
    before = sum(adapter.t.calls.values())
    t0 = time.perf_counter()
    for w in writes:
        props = {k: to_property_value(v) for k, v in w.values.items()}
        if w.owner_id is not None:
            props["hubspot_owner_id"] = str(w.owner_id)
        adapter.t.request("update one record", "PATCH", "/crm/objects/{version}/{objectType}/{objectId}",
                          path_params={"objectType": objects[w.object], "objectId": w.record_id},
                          body={"properties": props})
    return {"seconds": round(time.perf_counter() - t0, 1), "records": len(writes),
            "api_calls": sum(adapter.t.calls.values()) - before}


def run(contacts: int, events: int, seed: int, changed: float) -> dict[str, Any]:
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(contacts, events, seed, theirs), daemon=True)
    server.start()
    url, token, event_rows = ours.recv()
    report: dict[str, Any] = {"contacts": contacts, "events": event_rows, "changed_fraction": changed,
                              "seconds_seed": round(time.perf_counter() - started, 1),
                              "rate_limit": "sandbox 190 requests / 10 s and 4 searches / s (Enterprise, Service Key); "
                                            "client budget 150 / 10 s"}
    try:
        settings = HubSpotSettings(access_token=token, base_url=url, tier="enterprise")  # else the shipped defaults
        adapter = _Counting.from_settings(settings)
        assert isinstance(adapter, _Counting)
        adapter.install(adapter.plan_install(adapter.fields()))
        text = resources.files("scoring").joinpath("models", "default_b2b.yaml").read_text("utf-8")
        model = parse_model(text, "default_b2b.yaml")
        with tempfile.TemporaryDirectory() as folder:
            store = Store.open(f"sqlite:///{folder}/bench.db")
            report["first_sync"] = _sync(adapter, store, model)
            ours.send(("touch", changed))
            report["contacts_changed"] = ours.recv()
            time.sleep(1.0)  # the edits are in the past when the next run starts
            first_writes = len(adapter.writes)
            report["incremental_sync"] = _sync(adapter, store, model, report["contacts_changed"])
            incremental = adapter.writes[first_writes:]
            store.close()
        report["naive_incremental"] = _naive(adapter, incremental)
        full = {(w.object, w.record_id) for w in adapter.writes[:first_writes]}
        report["naive_first_sync_writes"] = {
            "records": len(full), "api_calls": len(full),
            "seconds_at_least": round(len(full) / (adapter.t.limiter.limit / 10), 1),
            "note": "not sent: one call per record at the client budget; the incremental comparison is measured"}
    finally:
        ours.send(("stop",))
        server.join(30)
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of contacts changed before run 2")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.contacts, args.events, args.seed, args.changed), indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
