"""``leadscore demo``: the whole product end to end on a local sandbox CRM, with no credentials.

It starts a sandbox CRM (HubSpot by default, ``--crm salesforce``) seeded with a deterministic
synthetic tenant, installs leadscore's fields, runs a first sync (pull, score, write back, tasks
for new MQLs), lets a week pass in which a few warm leads book meetings, runs again (decay lowers
the quiet leads, the new activity lifts the others over the MQL line), then prints the queue a rep
would work and what a rep sees on a contact record. ``--offline`` scores the same kind of tenant
from files instead, without servers or a store.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import typer
from rich.table import Table

from connector.app import app
from connector.console import Phases, handle_errors, load_model, out, print_json
from connector.tableio import write_table
from scoring.engine import score_tables
from scoring.model import ScoringModel, parse_model

TENANT = "demo"
WEEK = timedelta(days=7)


class Crm(str, Enum):
    hubspot = "hubspot"
    salesforce = "salesforce"


@app.command()
@handle_errors
def demo(crm: Annotated[Crm, typer.Option("--crm", help="Which sandbox CRM to run against")] = Crm.hubspot,
         leads: Annotated[int, typer.Option(min=1, help="How many synthetic leads")] = 2000,
         seed: Annotated[int, typer.Option(help="Seed of the synthetic tenant")] = 7,
         model: Annotated[Path | None, typer.Option(help="Scoring model YAML (default: built-in)")] = None,
         out_dir: Annotated[Path, typer.Option("--out", help="Where the demo's store and files go")] = Path("out/demo"),
         offline: Annotated[bool, typer.Option("--offline", help="Score files only: no sandbox, no store")] = False,
         json_out: Annotated[bool, typer.Option("--json", help="Machine-readable summary")] = False) -> None:
    """Run leadscore end to end against a sandbox CRM (no credentials) and show the queue."""
    if offline:
        _offline(leads, seed, model, out_dir, json_out)
    else:
        _sandbox(crm, leads, seed, model, out_dir, json_out)


# ---- the full product against a sandbox CRM ---------------------------------------------------

#: a lead status the CRM accepts for "a rep is on it" (HubSpot's internal value, Salesforce's default)
WORKING = {"hubspot": "IN_PROGRESS", "salesforce": "Working - Contacted"}


def _demo_model(base: ScoringModel, model_path: Path | None, owner_ids: list[str], crm: Crm) -> ScoringModel:
    """The chosen model with an MQL threshold whose actions touch the CRM: assign an owner from
    the first sales reps, create a task for them, set the lifecycle stage / lead status."""
    if base.thresholds and any(t.actions for t in base.thresholds):
        return base
    import yaml

    doc = base.model_dump(mode="json", exclude_none=True)
    team = [{"id": o} for o in owner_ids[:4]]
    doc["thresholds"] = [{
        "name": "mql", "metric": "score", "enter": 70, "exit": 60, "cooldown_days": 30,
        "actions": [
            {"type": "assign_owner", "team": team, "keep_existing": True},
            {"type": "create_task", "due_days": 1},
            {"type": "set_fields", "lifecycle_stage": "marketingqualifiedlead", "lead_status": WORKING[crm.value]},
        ],
    }]
    return parse_model(yaml.safe_dump(doc, sort_keys=False), str(model_path or "<built-in model + demo actions>"))


class _World:
    """One sandbox CRM, the adapter talking to it, and a way to add activity as a prospect would."""

    def __init__(self, crm: Crm, tenant: Any):
        self.crm = crm
        self.server: Any
        self.adapter: Any
        if crm is Crm.hubspot:
            self._start_hubspot(tenant)
        else:
            self._start_salesforce(tenant)

    def _start_hubspot(self, tenant: Any) -> None:
        from adapters.hubspot.adapter import HubSpotAdapter
        from connector.settings import HubSpotSettings
        from sandbox.hubspot import create_server

        self.server = create_server(tenant).start()  # the sandbox's default: an Enterprise portal, a Service Key
        self.adapter = HubSpotAdapter.from_settings(HubSpotSettings(
            access_token=self.server.token, base_url=self.server.url, auth=self.server.auth,
            tier=self.server.hubspot.options.tier))

    def _start_salesforce(self, tenant: Any) -> None:
        from adapters.salesforce.adapter import SalesforceAdapter
        from connector.settings import SalesforceSettings
        from sandbox.salesforce import client_session, create_server

        self.server = create_server(tenant).start()  # a stock org, logged in to as the README says: JWT bearer
        info = self.server.connection_info()
        settings = SalesforceSettings(username=info["username"], consumer_key=info["consumer_key"],
                                      private_key_file=info["private_key_file"], domain=info["domain"])
        self.version = info["version"]
        self.session = client_session(info["instance_url"], info["ca_cert"])
        self.instance_url = info["instance_url"]
        self.adapter = SalesforceAdapter.from_settings(settings, session=self.session)

    def stop(self) -> None:
        self.server.stop()

    def reply_and_meet(self, lead_id: str, when: datetime) -> int:
        """A prospect's good week, as the CRM records it: they answer an e-mail and book a meeting
        (in Salesforce, a discovery meeting and a demo: a stock org records a reply only as a logged
        e-mail Task, which says nothing of its direction). Returns how many records it made."""
        stamp = when.astimezone(timezone.utc)
        if self.crm is Crm.hubspot:
            hs_time = stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            self._hubspot("emails", {"hs_email_direction": "INCOMING_EMAIL", "hs_email_subject": "Re: pricing",
                                     "hs_timestamp": hs_time}, lead_id, 198)
            self._hubspot("meetings", {"hs_meeting_title": "Intro call", "hs_meeting_outcome": "SCHEDULED",
                                       "hs_timestamp": hs_time}, lead_id, 200)
        else:
            sf_time = stamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            self._salesforce("Task", {"Subject": "Email: Re: pricing", "WhoId": lead_id, "TaskSubtype": "Email",
                                      "Status": "Completed", "ActivityDate": sf_time[:10]})
            self._salesforce("Event", {"Subject": "Meeting: Intro call", "WhoId": lead_id, "DurationInMinutes": 30,
                                       "StartDateTime": sf_time, "ActivityDateTime": sf_time})
            demo_time = (stamp + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            self._salesforce("Event", {"Subject": "Meeting: Product demo", "WhoId": lead_id, "DurationInMinutes": 45,
                                       "StartDateTime": demo_time, "ActivityDateTime": demo_time})
            return 3
        return 2

    def _hubspot(self, objects: str, properties: dict[str, str], contact_id: str, association_type: int) -> None:
        import requests

        body = {"properties": properties, "associations": [{"to": {"id": contact_id}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": association_type}]}]}
        requests.post(f"{self.server.url}/crm/objects/2026-09/{objects}", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {self.server.token}"}).raise_for_status()

    def _salesforce(self, sobject: str, fields: dict[str, Any]) -> None:
        session_id = self.server.connection_info()["session_id"]
        self.session.post(f"{self.instance_url}/services/data/v{self.version}/sobjects/{sobject}/", json=fields,
                          timeout=30, headers={"Authorization": f"Bearer {session_id}"}).raise_for_status()


def _sandbox(crm: Crm, n_leads: int, seed: int, model_path: Path | None, out_dir: Path, json_out: bool) -> None:
    from connector.store import Store
    from connector.sync.run import SyncOptions, run_sync
    from sandbox.tenant import generate_tenant

    started = time.perf_counter()
    today = datetime.now(timezone.utc).replace(microsecond=0)
    phase = Phases(not json_out).start()  # stopped in the finally below, or here if the sandbox cannot start
    phase(f"making a synthetic tenant of {n_leads:,} leads")
    try:
        tenant = generate_tenant(seed=seed, leads=n_leads, events_per_lead=12, now=today)
        out_dir.mkdir(parents=True, exist_ok=True)
        db = out_dir / "leadscore.db"
        db.unlink(missing_ok=True)
        store = Store.open(f"sqlite:///{db}")
        phase(f"starting the {crm.value} sandbox")
        world = _World(crm, tenant)
    except BaseException:
        phase.stop()
        raise
    try:
        adapter = world.adapter
        phase("installing leadscore's fields")
        plan = adapter.install(adapter.plan_install(adapter.fields()))
        installed = len(plan.existing) + len(plan.to_create)
        reps = [o.id for o in adapter.owners() if o.active]
        scoring_model = _demo_model(load_model(model_path), model_path, reps, crm)
        first = run_sync(store, adapter, scoring_model, SyncOptions(tenant=TENANT, now=today),
                         progress=_synced(phase, "first sync"))
        events = store.event_table(TENANT)
        met = set(events.filter(pc.is_in(events.column("type"), pa.array(["meeting_booked", "meeting_held"])))
                  .column("lead_id").to_pylist())
        # the warmest leads below the MQL line that have not met anyone yet (queue is hottest first)
        warm = [r["lead_id"] for r in store.queue(TENANT, n_leads) if r["score"] < 68 and r["lead_id"] not in met][:5]
        phase("a week passes: warm leads book meetings", total=len(warm))
        week_events = 0
        for i, lead_id in enumerate(warm):
            week_events += world.reply_and_meet(lead_id, today + timedelta(days=5, hours=i))
            phase.advance(1)
        second = run_sync(store, adapter, scoring_model, SyncOptions(tenant=TENANT, now=today + WEEK),
                          progress=_synced(phase, "second sync"))
        queue = store.queue(TENANT, 10)
        final = store.scores(TENANT)
        shown = max(warm, key=lambda lead_id: final[lead_id].score) if warm else None
        record = _what_a_rep_sees(world, shown) if shown else {}
        conversion = _store_conversion(store, tenant)
    finally:
        phase.stop()
        world.stop()
        store.close()
    seconds = time.perf_counter() - started
    summary = {
        "crm": crm.value, "leads": n_leads, "events": tenant.events.num_rows, "fields_installed": installed,
        "model": scoring_model.name, "model_version": scoring_model.version,
        "first_sync": first.as_dict(), "second_sync": second.as_dict(), "active_this_week": warm,
        "week_events": week_events,
        "queue": [{k: r[k] for k in ("lead_id", "score", "grade", "priority", "reasons", "owner_id")} for r in queue],
        "conversion_by_grade": conversion, "store": str(db), "seconds": round(seconds, 1),
    }
    if json_out:
        print_json(summary)
        return
    out.print(f"sandbox {crm.value}: {n_leads:,} leads, {tenant.events.num_rows:,} engagement events; "
              f"installed {installed} leadscore fields")
    _print_run("first sync", first)
    meetings = "book a meeting" if crm is Crm.hubspot else "have two meetings"
    out.print(f"a week passes: {len(warm)} warm leads answer an e-mail and {meetings}, the rest go quiet")
    _print_run("second sync", second)
    _print_store_queue(queue)
    if record:
        out.print(f"\nwhat a rep sees on {shown}'s record in {crm.value} after the meeting:")
        for name, value in record.items():
            out.print(f"  {name}: {value}", highlight=False)
    _print_conversion(conversion)
    out.print(f"\ndone in {seconds:.0f}s. The store is {db}; look around with:\n"
              f"  leadscore queue --store sqlite:///{db} --tenant {TENANT}\n"
              f"  leadscore explain-stored {queue[0]['lead_id'] if queue else 'LEAD_ID'} "
              f"--store sqlite:///{db} --tenant {TENANT}\n"
              f"Connect your own CRM: see 'Connecting to HubSpot / Salesforce' in the README.")


def _synced(phase: Phases, title: str) -> Any:
    """A sync's progress shown as phases of the demo: "first sync: pulled leads 2,000", ..."""
    def progress(what: str, n: int, total: int | None = None) -> None:
        if total is not None:
            phase(f"{title}: {what}", total=total)
        phase.advance(n, f"{title}: {what}")
    return progress


def _print_run(title: str, run: Any) -> None:
    out.print(f"{title}: pulled {run.pulled.get('leads', 0):,} leads and {run.new_events:,} new events, "
              f"rescored {run.rescored:,}, {run.score_changes:,} scores changed, wrote {run.written:,} records "
              f"in {run.write_calls} calls, {run.crossings.get('mql.entered', 0)} new MQLs "
              f"({', '.join(f'{k} {v}' for k, v in sorted(run.actions.items())) or 'no actions'}), "
              f"{run.failed} failed, {run.seconds:.1f}s", highlight=False)


def _print_store_queue(queue: list[dict[str, Any]]) -> None:
    table = Table("lead", "name", "score", "grade", "priority", "owner", "why", title="\nQueue: hottest first",
                  box=None)
    for r in queue:
        person = r.get("payload") or {}
        name = f"{person.get('first_name') or ''} {person.get('last_name') or ''}".strip()
        table.add_row(str(r["lead_id"]), name, f"{r['score']:.0f}", r["grade"], r["priority"],
                      str(r.get("owner_id") or ""), r["reasons"] or "")
    out.print(table)


def _what_a_rep_sees(world: _World, lead_id: str) -> dict[str, Any]:
    names = [spec.name for spec in world.adapter.fields() if spec.object in ("contacts", "Lead", "Contact")]
    if world.crm is Crm.hubspot:
        import requests

        r = requests.get(f"{world.server.url}/crm/objects/2026-09/contacts/{lead_id}",
                         params={"properties": ",".join([*names, "hubspot_owner_id", "lifecyclestage"])},
                         headers={"Authorization": f"Bearer {world.server.token}"}, timeout=30)
        r.raise_for_status()
        props = r.json()["properties"]
        return {k: props.get(k) for k in [*names, "hubspot_owner_id", "lifecyclestage"] if props.get(k) is not None}
    kind = "Lead" if lead_id.startswith("00Q") else "Contact"
    session_id = world.server.connection_info()["session_id"]
    r = world.session.get(f"{world.instance_url}/services/data/v{world.version}/sobjects/{kind}/{lead_id}", timeout=30,
                          headers={"Authorization": f"Bearer {session_id}"})
    r.raise_for_status()
    body = r.json()
    return {k: body.get(k) for k in [*dict.fromkeys(names), "OwnerId"] if body.get(k) is not None}


def _store_conversion(store: Any, tenant: Any) -> list[tuple[str, int, float]]:
    """Conversion by grade, joining the store's leads to the tenant's hidden outcomes by e-mail."""
    scores = store.scores(TENANT)
    leads = store.lead_table(TENANT).select(["id", "email"]).to_pylist()
    email_of = {r["id"]: (r["email"] or "").lower() for r in leads}
    truth = {(e or "").lower(): bool(c) for e, c in zip(tenant.leads.column("email").to_pylist(),
                                                       tenant.leads.column("converted").to_pylist(), strict=True)}
    by_grade: dict[str, list[bool]] = {}
    for lead_id, s in scores.items():
        outcome = truth.get(email_of.get(lead_id, ""))
        if outcome is not None:
            by_grade.setdefault(s.grade, []).append(outcome)
    return [(g, len(v), sum(v) / len(v)) for g, v in sorted(by_grade.items())]


def _print_conversion(rows: list[tuple[str, int, float]]) -> None:
    table = Table("grade", "leads", "converted", title="\nConversion by grade (outcomes the model never saw)",
                  box=None)
    for grade, count, rate in rows:
        table.add_row(grade, f"{count:,}", f"{rate:.1%}")
    out.print(table)


# ---- offline: files only ------------------------------------------------------------------------

def _conversion_by(scored: pa.Table, converted: np.ndarray, column: str) -> list[tuple[str, int, float]]:
    keys = np.asarray(scored.column(column).to_pylist())
    rows = []
    for key in sorted(set(keys.tolist())):
        chosen = keys == key
        rows.append((key, int(chosen.sum()), float(converted[chosen].mean())))
    return rows


def _offline(leads: int, seed: int, model: Path | None, out_dir: Path, json_out: bool) -> None:
    from sandbox.tenant import generate_tenant, write_tenant_csv

    started = time.perf_counter()
    scoring_model = load_model(model)
    with Phases(not json_out) as phase:
        phase(f"making a synthetic tenant of {leads:,} leads")
        tenant = generate_tenant(seed=seed, leads=leads)
        phase(f"scoring {leads:,} leads and {tenant.events.num_rows:,} events")
        scored = score_tables(scoring_model, tenant.leads, tenant.events, tenant.now, tenant.accounts)
        phase(f"writing {out_dir}")
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
    _print_conversion(summary["conversion_by_grade"])
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
