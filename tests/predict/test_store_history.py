"""Learning from the store: a synthetic tenant loaded into a SQLite store, trained on through the CLI.

The outcome is read from the canonical lifecycle stage and lead status (as a sync stores them);
``converted_at`` rides along as a custom field, the way a mapped "became customer" date would.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from connector.cli import main
from connector.predict_store import outcome_rule, store_training_table
from connector.store import Store
from sandbox.tenant import Tenant, generate_tenant
from sandbox.tenant_schema import EVENT_SCHEMA
from scoring.model import parse_model
from scoring.predict.backtest import backtest
from scoring.predict.history import OUTCOMES
from scoring.records import LEAD_FIELDS, Event, Lead
from tests.helpers import DEFAULT_MODEL_TEXT

TENANT = "acme"


def _leads(leads: pa.Table, with_outcome_time: bool) -> list[Lead]:
    records = []
    for row in leads.to_pylist():
        custom = {}
        if with_outcome_time and row["converted_at"] is not None:
            custom["converted_at"] = row["converted_at"].isoformat()
        records.append(Lead(**{k: row[k] for k in LEAD_FIELDS if k != "custom"}, custom=custom))
    return records


def _events(events: pa.Table) -> list[Event]:
    return [Event(**r) for r in events.cast(EVENT_SCHEMA).to_pylist()]


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


@pytest.fixture(scope="module")
def rules_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("rules")
    old, new = root / "old.yaml", root / "new.yaml"
    old.write_text(DEFAULT_MODEL_TEXT)
    stricter = DEFAULT_MODEL_TEXT.replace("    enter: 70\n    exit: 60", "    enter: 85\n    exit: 75")
    assert stricter != DEFAULT_MODEL_TEXT
    new.write_text(stricter)
    return old, new


def test_backtest_on_the_store_matches_the_same_history_read_from_tables(
        store_url: str, tenant: Tenant, rules_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    moments = [tenant.now - timedelta(days=60), tenant.now - timedelta(days=20)]
    assert main(["backtest", "--model", str(rules_files[0]), "--store", store_url, "--tenant", TENANT,
                 *[a for m in moments for a in ("--as-of", m.isoformat())], "--json"]) == 0
    from_store = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    y = np.array(tenant.leads.column("converted").to_pylist(), dtype=np.int64)
    from_tables = backtest(parse_model(DEFAULT_MODEL_TEXT, "<default>"), tenant.leads, tenant.events, y, moments)
    for got, want in zip(from_store["as_of"], from_tables["as_of"], strict=True):
        assert (got["leads"], got["conversion_rate"]) == (want["leads"], want["conversion_rate"])
        assert got["leads"] < tenant.leads.num_rows  # leads converted before each date are left out
        assert got["auc"] == pytest.approx(want["auc"], abs=1e-9) and got["auc"] > 0.6


def test_diff_on_the_store(store_url: str, tenant: Tenant, rules_files: tuple[Path, Path],
                           capsys: pytest.CaptureFixture[str]) -> None:
    old, new = rules_files
    assert main(["diff", str(old), str(new), "--store", store_url, "--tenant", TENANT,
                 "--now", tenant.now.isoformat(), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["leads"] == tenant.leads.num_rows
    mql = next(t for t in result["thresholds"] if t["threshold"] == "mql")
    assert mql["above_before"] > 0 and mql["leave"] > 0 and mql["enter"] == 0


def test_the_outcome_time_comes_from_the_first_named_field_that_holds_one(store_url: str, tenant: Tenant) -> None:
    store = Store.open(store_url)
    try:
        known = {}
        for fields in (["became_customer_at", "converted_at"], ["became_customer_at"]):
            rule = outcome_rule("converted", time_fields=fields)
            _, counts = store_training_table(store, TENANT, rule, tenant.now)
            known[fields[-1]] = (counts["converted"], counts["converted_time_known"])
    finally:
        store.close()
    converted = sum(tenant.leads.column("converted").to_pylist())
    assert known == {"converted_at": (converted, converted), "became_customer_at": (converted, 0)}


def test_scorecard_from_the_store_scores_the_same_at_sync_time(
        store_url: str, tenant: Tenant, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A scorecard learned from the store names activity by the fields the engine derives from
    events (event_count, days_since_last_activity) and leaves out what it cannot state; scored
    by the engine on the store's leads and events, it gives the points it was fitted to."""
    from scoring.engine import score_detail
    from scoring.predict.history import feature_table
    from scoring.predict.scorecard import yaml_fit_points

    card = tmp_path / "card.yaml"
    code = main(["train", "--store", store_url, "--tenant", TENANT, "--cutoff", tenant.now.isoformat(),
                 "--models", "logistic", "--out", str(tmp_path / "m.pkl"), "--export-scorecard", str(card), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    left_out = result["scorecard"]["left_out"]
    assert "n_page_view" in left_out and "active_days" in left_out and "n_events" not in left_out
    model = parse_model(card.read_text(), str(card))
    fields = {rule.field for _, _, rule in model.fit_rules()}
    assert {"lead.event_count", "lead.days_since_last_activity"} <= fields
    assert not any(f.split(".", 1)[1].startswith(("n_", "decayed_")) or f == "lead.active_days" for f in fields)

    store = Store.open(store_url)
    try:
        leads, events = store.lead_table(TENANT), store.event_table(TENANT)
    finally:
        store.close()
    detail = score_detail(model, leads, events, tenant.now)
    engine_points = np.sum(detail.contributions[:, :len(model.fit_rules())], axis=1)
    features = feature_table(leads, events, tenant.now)
    expected = yaml_fit_points(model, features, {"event_count": "n_events",
                                                 "days_since_last_activity": "days_since_last"})
    np.testing.assert_allclose(engine_points, expected, atol=1e-9)
    for field in ("lead.event_count", "lead.days_since_last_activity"):  # each field's rules give points
        rules = [k for k, (_, _, rule) in enumerate(model.fit_rules()) if rule.field == field]
        assert (detail.contributions[:, rules] != 0).any()


def test_outcome_times_the_sync_saw_happen_cut_activity_without_a_time_field(tmp_path: Path) -> None:
    """No field holds the outcome time, but the sync saw each lead reach its outcome stage (the
    CRM's last-modified time of that change): activity after it is cut off all the same."""
    import dataclasses

    small = generate_tenant(seed=5, leads=200, events_per_lead=5)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        leads = _leads(small.leads, with_outcome_time=False)
        store.upsert_leads(TENANT, [dataclasses.replace(lead, lifecycle_stage="lead", lead_status="Open")
                                    for lead in leads])  # the first sync: nobody has converted yet
        store.add_events(TENANT, _events(small.events))
        converted_at = small.leads.column("converted_at").to_pylist()
        store.upsert_leads(TENANT, [dataclasses.replace(lead, updated_at=when)  # later syncs see them convert
                                    for lead, when in zip(leads, converted_at, strict=True) if when is not None])
        before, counts = store_training_table(store, TENANT, OUTCOMES["converted"], small.now)
        store.add_events(TENANT, _post_outcome_burst(small))
        after, _ = store_training_table(store, TENANT, OUTCOMES["converted"], small.now)
    finally:
        store.close()
    assert counts["converted"] > 0 and counts["converted_time_known"] == counts["converted"]
    assert before.equals(after)
