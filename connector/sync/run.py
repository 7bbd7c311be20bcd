"""One sync run, start to end, in the order data flows:

1. take the tenant's lock (a second run exits with :class:`StoreLocked`);
2. pull accounts, leads, events changed since the committed cursors; store each page (events
   de-duplicated) and *stage* its cursor; forget people the CRM deleted, merged or converted
   away since the last run (adapters that can tell, :class:`adapters.base.RemovalFinder`);
3. rescore every lead with the batch engine (decay moves scores without new events) and store
   the scores whose visible values changed, with history;
4. decide threshold crossings and plan their actions, recorded in one transaction;
5. derive the writes: desired values vs the values last acknowledged by the CRM, ranked; the
   outbox becomes exactly that list; send what the budget allows, record acknowledgements;
6. carry out planned actions (recorded before and after each);
7. commit the staged cursors and the run summary.

A run stopped by the CRM's daily limit commits the cursors of what it pulled and stored (step 2)
before it stops: a budget smaller than one full pull still makes progress, day after day.

Why this is safe to kill anywhere: pulled data is stored before its cursor is even staged, and
a staged cursor counts only at step 7, so a killed run re-pulls (duplicates are dropped). Writes
are re-derived every run from the store against what the CRM *acknowledged*, so an unacknowledged
write is sent again with the same values — the CRM ends in the same state — and an acknowledged
one never again. Threshold states and their actions are recorded together with idempotency
keys before any action runs (see :mod:`connector.automation.execute`). Cursors are committed
once every write of the run has been sent or carried in the outbox; carried writes do not need
the old cursor, because they are derived from the store, not from the pull.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pyarrow as pa

from adapters.base import Page, RemovalFinder, WriteRequest
from adapters.errors import FatalAPIError, LimitExhausted, RetriableAPIError
from connector.automation.config import all_actions
from connector.automation.execute import PENDING, execute_actions
from connector.automation.notify import Notifier
from connector.automation.plan import plan_actions
from connector.automation.rollup import Method, rollup
from connector.store import PendingWrite, Store, SyncLock
from scoring.engine import score_tables
from scoring.model import ScoringModel

from .diff import Change, demote_failing, held_back, plan_writes, split_budget
from .fields import FieldNames, field_names_for
from .scores import predicted_values, rows_from_table, score_changes, visible
from .screen import Rejected, screen, summarise
from .thresholds import Crossings, arm_only, decide_thresholds

__all__ = ["Predictor", "SyncOptions", "SyncSummary", "run_sync"]

#: progress(what, how many more, total=None): a phase's count, and its total where it is known
Progress = Callable[..., None]
#: (leads, events, now) → ``scoring.predict.explain.predict_table`` rows (lead_id, probability, tier)
Predictor = Callable[[pa.Table, pa.Table, datetime], pa.Table]
_FLUSH_ROWS = 5_000  # pulled records stored per transaction


@dataclass(frozen=True)
class SyncOptions:
    tenant: str
    now: datetime | None = None  # score as of (default: the wall clock at the start)
    dry_run: bool = False
    write_budget: int | None = None  # API calls for field writes this run; None: no limit
    batch_size: int = 100
    rollup: Method = "max"
    rollup_top_n: int = 3
    arm_only: bool = False  # record threshold entries without running their actions (first sync of a portal)
    predictor: Predictor | None = None  # also write a predictive model's probability and tier
    action_retry: timedelta = timedelta(minutes=15)  # first wait before a failed action is tried again
    retry_held: bool = False  # send writes the CRM refused too often (held back) again
    actor: str = field(default_factory=lambda: f"sync@{socket.gethostname()} pid {os.getpid()}")


@dataclass
class SyncSummary:
    run_id: str
    tenant: str
    adapter: str
    now: str
    dry_run: bool
    pulled: dict[str, int] = field(default_factory=dict)
    new_events: int = 0
    removed: int = 0  # stored leads the CRM deleted, merged or converted away
    rejected: int = 0  # pulled records left out for a value no record should hold (NaN, a date in year 20000)
    rejected_records: list[dict[str, str]] = field(default_factory=list)  # the first of them: object, id, field
    rescored: int = 0
    score_changes: int = 0
    crossings: dict[str, int] = field(default_factory=dict)
    writes_planned: int = 0
    written: int = 0
    failed: int = 0
    deferred: int = 0
    held: int = 0  # writes held back: the CRM refused them HOLD_AFTER times (kept in the outbox)
    held_records: list[dict[str, Any]] = field(default_factory=list)  # the first of them, with the CRM's message
    write_calls: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    actions_pending: int = 0  # actions (of this run or earlier ones) that did not happen: retry, parked, ...
    api: dict[str, int | None] = field(default_factory=dict)
    seconds: float = 0.0
    would_write: list[dict[str, Any]] = field(default_factory=list)  # dry run: a sample
    #: streams the CRM would not serve this run (tier, scope): name, reason, enable; the rest went on
    unavailable: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pull(store: Store, adapter: Any, tenant: str, obj: str, until: datetime, dry_run: bool,
          lock: SyncLock, progress: Progress | None, rejected: list[Rejected]) -> tuple[int, int]:
    """Store every page of one object; stage the cursor after each page. Returns (records, new events);
    records with values no record should hold are left out and added to ``rejected``."""
    cursor = store.cursor(tenant, adapter.name, obj)
    pages = {"accounts": adapter.pull_accounts, "leads": adapter.pull_leads, "events": adapter.pull_events}[obj]
    total = new = 0
    last_renew = time.monotonic()
    page: Page
    buffer: list[Any] = []
    staged: tuple[str, str] | None = None
    try:
        for page in pages(cursor, until):
            records: Sequence[Any] = page.records
            kept, bad = screen(obj, records)
            rejected.extend(bad)
            buffer.extend(kept)
            if page.cursor is not None and not dry_run:
                staged = (adapter.name, page.cursor)
            total += len(records)
            # several pages per transaction (one commit costs more than a thousand rows), always
            # together with the cursor of the last page they hold
            if len(buffer) >= _FLUSH_ROWS or page.done:
                new += store.ingest(tenant, obj, buffer, staged, until)
                buffer, staged = [], None
            if progress:
                progress(f"pulled {obj}", len(records))
            if time.monotonic() - last_renew > 30:
                lock.renew()
                last_renew = time.monotonic()
    except Exception:
        # the pages read before the failure are good: keep them with their cursor, so a run stopped
        # by the daily limit resumes after them instead of reading them again (a kill keeps less)
        if buffer or staged:
            new += store.ingest(tenant, obj, buffer, staged, until)
        raise
    if buffer or staged:
        new += store.ingest(tenant, obj, buffer, staged, until)
    return total, new


def _remove(store: Store, adapter: Any, tenant: str, until: datetime, dry_run: bool) -> int:
    """Forget the people removed in the CRM since the last run (and those merged away, as the
    pull just saw); stage the cursor for the next. A first run has nothing stored to forget."""
    if not isinstance(adapter, RemovalFinder) or dry_run:
        return 0
    merged = getattr(adapter, "merged", None)
    gone: dict[str, str | None] = dict(merged()) if callable(merged) else {}
    name = str(getattr(adapter, "name", "crm"))
    since = store.cursor(tenant, name, "removed")
    interval = getattr(adapter, "removal_interval", None) or timedelta(0)
    if since is None or until - datetime.fromisoformat(since) >= interval:
        covered = None
        if since is not None:
            gone.update(adapter.removed(datetime.fromisoformat(since), until))
            # an adapter may say how far its answer reached (Salesforce's latestDateCovered), and
            # that its change log lost entries it never reported: then it checks the stored ids
            covered = getattr(adapter, "removal_covered", None)
            reconcile = getattr(adapter, "reconcile", None)
            if getattr(adapter, "reconcile_needed", False) and callable(reconcile):
                stored = store.lead_table(tenant).column("id").to_pylist()
                gone.update(reconcile([i for i in stored if i not in gone]))
        store.stage_cursor(tenant, name, "removed", (covered or until).isoformat(), until)
    return store.remove_leads(tenant, gone) if gone else 0


def _fired_leads(store: Store, tenant: str, crossings: Crossings) -> dict[str, dict[str, Any]]:
    """The stored record of each lead whose crossing fired, with its account as ``account.<field>``
    (territory rules may look at either)."""
    out = {}
    for lead_id, _, _ in crossings.fired:
        lead = store.lead(tenant, lead_id) or {}
        account = store.account(tenant, lead["account_id"]) if lead.get("account_id") else None
        out[lead_id] = {**{f"account.{k}": v for k, v in (account or {}).items()}, **lead}
    return out


def _desired(model: ScoringModel, names: FieldNames, scores: Sequence[Any],
             states: dict[tuple[str, str], Any]) -> dict[str, dict[str, Any]]:
    """What every lead's leadscore fields should say: visible scores, plus threshold flags the
    mapping names (``mql`` true/false and ``mql_date``, the moment it entered)."""
    out: dict[str, dict[str, Any]] = {}
    flags = [th.name for th in model.thresholds if names.has("lead", th.name)]
    for s in scores:
        values = visible(s)
        for name in flags:
            st = states.get((s.lead_id, name))
            values[name] = bool(st and st.active)
            if st and st.active and st.since and names.has("lead", f"{name}_date"):
                values[f"{name}_date"] = _iso(st.since)
        out[s.lead_id] = values
    return out


def _usage(raw: dict[str, int | None]) -> dict[str, int | None]:
    """The adapter's counters plus ``used``/``left`` under one name whatever the adapter calls them."""
    used = raw.get("used", raw.get("calls"))
    left = raw.get("left", raw.get("daily_remaining", raw.get("remaining")))
    limit, used_today = raw.get("daily_limit"), raw.get("daily_used")
    if left is None and limit is not None and used_today is not None:  # Salesforce: Sforce-Limit-Info used/total
        left = max(limit - used_today, 0)
    return {**raw, "used": used, "left": left}


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _account_desired(store: Store, tenant: str, scores: dict[str, Any], method: Method, top_n: int,
                     version: str) -> dict[str, dict[str, Any]]:
    leads = store.lead_table(tenant)
    if "account_id" not in leads.column_names:
        return {}
    titles = leads.column("title").to_pylist() if "title" in leads.column_names else [None] * leads.num_rows
    rows = [(acc, scores[lid].score, title) for lid, acc, title in
            zip(leads.column("id").to_pylist(), leads.column("account_id").to_pylist(), titles, strict=True)
            if acc and lid in scores]
    return {acc: {"score": int(value + 0.5), "model_version": version}
            for acc, value in rollup(rows, method, top_n).items()}


def _send(store: Store, adapter: Any, tenant: str, names: FieldNames, changes: Sequence[Change], batch_size: int,
          now: datetime, summary: SyncSummary, progress: Progress | None, fence: Callable[[], None]) -> None:
    """Write in batches of one object; record each batch's acknowledgements as they come. ``fence``
    runs before each batch: it raises when this run no longer holds the tenant's lock."""
    stamp = _iso(now)
    bulk = getattr(adapter, "bulk_write_threshold", None)  # Salesforce: above it, one Bulk API 2.0 job
    for obj in ("lead", "account"):
        mine = [c for c in changes if c.object == obj]
        size = len(mine) if isinstance(bulk, int) and len(mine) > bulk else batch_size
        for start in range(0, len(mine), size):
            batch = mine[start:start + size]
            # "scored at" goes along with a record's changes, never alone (it would change every run)
            stamped = [{**c.values, "scored_at": stamp} if names.has(obj, "scored_at") else c.values for c in batch]
            requests = [WriteRequest(obj, c.record_id, names.crm(obj, values))
                        for c, values in zip(batch, stamped, strict=True)]
            fence()
            summary.write_calls += 1
            try:
                results = adapter.write(requests)
            except RetriableAPIError as exc:  # the retry policy gave up: leave the batch in the outbox
                store.acknowledge(tenant, obj, [], [(c.record_id, str(exc)) for c in batch], now)
                summary.failed += len(batch)
                continue
            except FatalAPIError as exc:
                partial = getattr(exc, "partial_results", None) or []
                ok = {r.record_id for r in partial if r.ok}
                store.acknowledge(tenant, obj, [(c.record_id, c.values) for c in batch if c.record_id in ok], [], now)
                raise
            by_id = {r.record_id: r for r in results}
            done = [(c.record_id, c.values) for c in batch if by_id.get(c.record_id) and by_id[c.record_id].ok]
            failed = [(c.record_id, (by_id[c.record_id].error or "failed") if c.record_id in by_id else "no result")
                      for c in batch if not (by_id.get(c.record_id) and by_id[c.record_id].ok)]
            store.acknowledge(tenant, obj, done, failed, now)
            summary.written += len(done)
            summary.failed += len(failed)
            if progress:
                progress("written", len(batch))


def run_sync(store: Store, adapter: Any, model: ScoringModel, options: SyncOptions,
             notifier: Notifier | None = None, progress: Progress | None = None,
             model_source: str = "<model>") -> SyncSummary:
    """One complete sync of ``options.tenant`` through ``adapter``; see the module docstring."""
    started = time.perf_counter()
    wall = datetime.now(timezone.utc)
    now = options.now or wall
    tenant = options.tenant
    specs = all_actions(model.thresholds, model_source)  # a bad action config fails before anything runs
    names = field_names_for(adapter)
    summary = SyncSummary(uuid.uuid4().hex, tenant, adapter.name, now.isoformat(), options.dry_run)
    with SyncLock(store, f"{tenant}:sync") as lock:
        if not options.dry_run:
            store.start_run(tenant, summary.run_id, wall)
        status = "failed"
        try:
            store.drop_pending_cursors(tenant, adapter.name)  # a killed run's staged cursors never count
            rejected: list[Rejected] = []
            for obj in ("accounts", "leads", "events"):
                count, new = _pull(store, adapter, tenant, obj, wall, options.dry_run, lock, progress, rejected)
                summary.pulled[obj] = count
                summary.new_events += new
            summary.rejected, summary.rejected_records = len(rejected), summarise(rejected)
            summary.removed = _remove(store, adapter, tenant, wall, options.dry_run)
            learnt = getattr(adapter, "unavailable_streams", None)  # what the pulls found, no calls
            if callable(learnt):
                summary.unavailable = [{"name": s.name, "reason": s.reason, "enable": s.enable} for s in learnt()]

            leads, events = store.lead_table(tenant), store.event_table(tenant)
            if progress:
                progress("scoring", 0, total=leads.num_rows)
            new_scores = rows_from_table(score_tables(model, leads, events, now, store.account_table(tenant)))
            summary.rescored = len(new_scores)
            if progress:
                progress("scoring", len(new_scores))
            changed, history = score_changes(store.scores(tenant), new_scores, now, summary.run_id, options.actor)
            summary.score_changes = len(changed)

            states = store.threshold_states(tenant)
            crossings = decide_thresholds(model.thresholds, states, new_scores, now)
            if options.arm_only:
                crossings = arm_only(crossings)
            summary.crossings = dict(crossings.counts)
            by_id = {s.lead_id: s for s in new_scores}
            planned, counters = plan_actions(tenant, crossings.fired, specs, _fired_leads(store, tenant, crossings),
                                             by_id, store.get_kv(tenant, "assign:"))
            if not options.dry_run:
                store.save_scores(tenant, changed, history, now)
                store.plan(tenant, crossings.states, planned, counters, now)

            desired = _desired(model, names, new_scores, {**states, **crossings.states})
            if options.predictor is not None:  # in fields of their own, beside the rules score
                for lead_id, values in predicted_values(options.predictor(leads, events, now)).items():
                    desired.setdefault(lead_id, {}).update({k: v for k, v in values.items() if names.has("lead", k)})
            changes = plan_writes("lead", desired, store.written(tenant, "lead"))
            accounts = _account_desired(store, tenant, by_id, options.rollup, options.rollup_top_n, model.version)
            changes += plan_writes("account", accounts, store.written(tenant, "account"))
            summary.writes_planned = len(changes)
            pending = store.outbox(tenant)
            attempts = {(w.object, w.record_id): w.attempts for w in pending}
            errors = {(w.object, w.record_id): w.last_error for w in pending}
            sendable, held = held_back(changes, attempts, options.retry_held)
            summary.held = len(held)
            summary.held_records = [{"object": c.object, "id": c.record_id,
                                     "error": errors.get((c.object, c.record_id))} for c in held[:20]]
            send_now, later = split_budget(demote_failing(sendable, attempts), options.write_budget,
                                           options.batch_size)
            summary.deferred = len(later)
            if options.dry_run:
                summary.write_calls = sum(-(-sum(1 for c in send_now if c.object == o) // options.batch_size)
                                          for o in ("lead", "account"))
                summary.would_write = [{"object": c.object, "id": c.record_id, "values": c.values}
                                       for c in send_now[:20]]
                would = execute_actions(store, tenant, adapter, names, notifier or Notifier(), now, dry_run=True)
                summary.actions = dict(would + Counter(f"would_{r['kind']}" for r in planned))
                status = "dry-run"
                return summary
            store.replace_outbox(tenant, [PendingWrite(c.object, c.record_id, c.values, c.rank,
                                                       attempts.get((c.object, c.record_id), 0),
                                                       errors.get((c.object, c.record_id))) for c in changes],
                                 summary.run_id, now)
            if progress:
                progress("written", 0, total=len(send_now))
            _send(store, adapter, tenant, names, send_now, options.batch_size, now, summary, progress, lock.check)

            summary.actions = dict(execute_actions(store, tenant, adapter, names, notifier or Notifier(), now,
                                                   fence=lock.check, retry_base=options.action_retry)
                                   + Counter({"planned": len(planned)}))
            summary.actions_pending = len(store.actions(tenant, PENDING))
            store.commit_cursors(tenant, adapter.name, wall)
            status = "ok"
        except LimitExhausted:
            # Progress under any budget: what was pulled is stored with its cursors, and writes and
            # actions are derived from the store, never from the pull, so the pull's cursors can count
            # now; the next run (after the limit resets) goes on from here instead of starting over.
            if not options.dry_run:
                merged = getattr(adapter, "merged", None)  # merges the pulled contacts told of count too
                gone = dict(merged()) if callable(merged) else {}
                if gone:
                    store.remove_leads(tenant, gone)
                store.commit_cursors(tenant, adapter.name, wall)
            raise
        finally:
            try:
                summary.api = _usage(adapter.api_usage())
            except Exception:  # noqa: BLE001 - usage is informative; never mask the run's own outcome
                summary.api = {}
            summary.seconds = round(time.perf_counter() - started, 3)
            if not options.dry_run:
                store.finish_run(summary.run_id, status, summary.as_dict(), datetime.now(timezone.utc))
    return summary
