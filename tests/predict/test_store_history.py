"""Learning from the store: a synthetic tenant loaded into a SQLite store, trained on through the CLI.

The outcome is read from the canonical lifecycle stage and lead status (as a sync stores them);
``converted_at`` rides along as a custom field, the way a mapped "became customer" date would.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from connector.cli import main
from connector.predict_store import store_training_table
from connector.store import Store
from sandbox.tenant import Tenant, generate_tenant
from scoring.predict.history import OUTCOMES
from scoring.records import Event, Lead

TENANT = "acme"
_LEAD_FIELDS = ("id", "email", "title", "company", "country", "state", "industry", "employees",
                "annual_revenue", "lead_source", "lifecycle_stage", "lead_status", "owner_id", "account_id",
                "created_at", "updated_at")


def _leads(leads: pa.Table, with_outcome_time: bool) -> list[Lead]:
    records = []
    for row in leads.to_pylist():
        custom = {}
        if with_outcome_time and row["converted_at"] is not None:
            custom["converted_at"] = row["converted_at"].isoformat()
        records.append(Lead(**{k: row[k] for k in _LEAD_FIELDS}, custom=custom))
    return records


def _events(events: pa.Table) -> list[Event]:
    return [Event(lead_id=r["lead_id"], type=r["type"], occurred_at=r["occurred_at"], id=r["id"])
            for r in events.select(["id", "lead_id", "type", "occurred_at"]).to_pylist()]


def _fill(url: str, tenant: Tenant, with_outcome_time: bool = True) -> None:
    store = Store.open(url)
    try:
        store.upsert_leads(TENANT, _leads(tenant.leads, with_outcome_time))
        store.add_events(TENANT, _events(tenant.events))
    finally:
        store.close()


@pytest.fixture(scope="module")
def tenant() -> Tenant:
    return generate_tenant(seed=3, leads=1000, events_per_lead=12)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory, tenant: Tenant) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'store.db'}"
    _fill(url, tenant)
    return url


def test_train_from_the_store_beats_chance_on_a_time_ordered_holdout(
        store_url: str, tenant: Tenant, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model.pkl"
    code = main(["train", "--store", store_url, "--tenant", TENANT, "--cutoff", tenant.now.isoformat(),
                 "--models", "logistic", "--out", str(model), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["validation"].startswith("time-ordered holdout on 'created_at'")
    assert result["auc"] > 0.68
    expected = sum(tenant.leads.column("converted").to_pylist())
    assert result["store"]["converted"] == expected  # stage/status read as the sandbox writes outcomes
    assert result["store"]["converted_time_known"] == expected
    assert not {"lifecycle_stage", "lead_status", "updated_at", "email"} & set(result["features"])


def test_a_lead_created_or_converted_after_the_cutoff_is_open_or_absent(store_url: str, tenant: Tenant) -> None:
    store = Store.open(store_url)
    try:
        cutoff = tenant.now - timedelta(days=30)
        table, counts = store_training_table(store, TENANT, OUTCOMES["converted"], cutoff)
    finally:
        store.close()
    created = tenant.leads.column("created_at").to_pylist()
    converted_at = tenant.leads.column("converted_at").to_pylist()
    assert counts["leads"] == sum(c < cutoff for c in created)
    assert counts["converted"] == sum(c < cutoff and v is not None and v < cutoff
                                      for c, v in zip(created, converted_at, strict=True))


def _post_outcome_burst(tenant: Tenant) -> list[Event]:
    """Twenty meetings and a pricing visit for every converted lead, an hour after it converted."""
    kinds = ["meeting_held"] * 20 + ["page_view"]
    burst = []
    for row in tenant.leads.select(["id", "converted_at"]).to_pylist():
        if row["converted_at"] is not None:
            at: datetime = row["converted_at"] + timedelta(hours=1)
            burst += [Event(lead_id=row["id"], type=kind, occurred_at=at + timedelta(minutes=i),
                            id=f"late-{row['id']}-{i}") for i, kind in enumerate(kinds)]
    return burst


@pytest.mark.parametrize("with_outcome_time", [True, False])
def test_events_after_the_outcome_change_nothing_when_its_time_is_known(
        tmp_path: Path, with_outcome_time: bool) -> None:
    small = generate_tenant(seed=5, leads=200, events_per_lead=5)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _fill(url, small, with_outcome_time)
    store = Store.open(url)
    try:
        before, _ = store_training_table(store, TENANT, OUTCOMES["converted"], small.now)
        store.add_events(TENANT, _post_outcome_burst(small))
        after, _ = store_training_table(store, TENANT, OUTCOMES["converted"], small.now)
    finally:
        store.close()
    # with the outcome time known the late events are cut off; without it (the control) they leak in
    assert before.equals(after) is with_outcome_time
