"""The sync writes a predictive model's probability and tier beside the rules score (HubSpot sandbox)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from connector.cli import main
from connector.predict_io import save_model
from connector.predict_store import StorePredictor, predict_store, remember_features
from connector.store import Store
from connector.sync.run import SyncOptions, run_sync
from sandbox.hubspot import create_server
from sandbox.tenant import generate_tenant
from scoring.errors import ConfigError
from scoring.model import parse_model
from scoring.predict.history import OUTCOMES, training_table
from scoring.predict.train import train
from tests.helpers import DEFAULT_MODEL_TEXT
from tests.sync.hubspot_world import _pages, adapter, install, tenant

pytestmark = pytest.mark.slow
NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
PROPERTIES = "leadscore_probability,leadscore_probability_tier,leadscore_score,leadscore_grade"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model learned from another synthetic tenant's history, as `train --store` makes one."""
    history = generate_tenant(seed=3, leads=600, events_per_lead=10)
    table, _ = training_table(history.leads, history.events, OUTCOMES["converted"], history.now)
    model = train(table, "converted", drop=("id",), time_column="created_at", kinds=("logistic",))
    remember_features(model, table, OUTCOMES["converted"], 30.0)
    path = tmp_path_factory.mktemp("model") / "model.pkl"
    save_model(model, path)
    return path


@pytest.fixture
def server() -> Iterator[Any]:
    with create_server(tenant(150)) as s:
        install(s)
        yield s


def _crm(server: Any) -> dict[str, dict[str, Any]]:
    return {c["id"]: {k: c["properties"].get(k) for k in PROPERTIES.split(",")}
            for c in _pages(server, "/crm/v3/objects/contacts", {"properties": PROPERTIES})}


def test_probability_and_tier_are_written_beside_the_score_then_a_steady_run_writes_nothing(
        server: Any, model_path: Path, tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        a = adapter(server)
        rules = parse_model(DEFAULT_MODEL_TEXT, "<default>")
        options = SyncOptions(tenant="hs", now=NOW, predictor=StorePredictor.load(model_path))
        first = run_sync(store, a, rules, options)
        assert first.failed == 0 and first.pulled["leads"] == 150
        crm = _crm(server)
        expected = predict_store(options.predictor.model, store.lead_table("hs"),  # type: ignore[union-attr]
                                 store.event_table("hs"), NOW)
        stored = store.scores("hs")
        assert len(expected) == len(stored) == 150
        for row in expected.to_pylist():
            written = crm[row["lead_id"]]
            assert written["leadscore_probability"] == str(int(row["probability"] * 100 + 0.5))
            assert written["leadscore_probability_tier"] == row["tier"]
            assert written["leadscore_score"] == str(int(stored[row["lead_id"]].score + 0.5))  # side by side
        assert len({v["leadscore_probability_tier"] for v in crm.values()}) > 1

        again = run_sync(store, a, rules, options)
        assert again.written == 0 and again.writes_planned == 0
        assert _crm(server) == crm
    finally:
        store.close()


def test_a_model_trained_on_a_plain_table_is_refused_before_the_sync(tmp_path: Path) -> None:
    history = generate_tenant(seed=4, leads=300, events_per_lead=4)
    table, _ = training_table(history.leads, history.events, OUTCOMES["converted"], history.now)
    path = tmp_path / "plain.pkl"
    save_model(train(table, "converted", drop=("id",), kinds=("logistic",)), path)
    with pytest.raises(ConfigError, match="trained on a table"):
        StorePredictor.load(path)


def test_the_sync_command_takes_the_model_from_its_option_or_the_setting(
        model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with create_server(tenant(60)) as created:
        server: Any = created
        install(server)
        monkeypatch.delenv("LEADSCORE_CONFIG", raising=False)
        for k, v in {"LEADSCORE_HUBSPOT__ACCESS_TOKEN": server.token, "LEADSCORE_HUBSPOT__BASE_URL": server.url,
                     "LEADSCORE_STORE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
                     "LEADSCORE_PREDICTIVE_MODEL": str(model_path)}.items():
            monkeypatch.setenv(k, v)
        assert main(["sync", "--crm", "hubspot", "--now", NOW.isoformat(), "--json"]) == 0
        first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert first["written"] >= 60 and first["failed"] == 0
        crm = _crm(server)
        assert all(v["leadscore_probability"] is not None and v["leadscore_probability_tier"] for v in crm.values())
        monkeypatch.delenv("LEADSCORE_PREDICTIVE_MODEL")
        assert main(["sync", "--crm", "hubspot", "--now", NOW.isoformat(), "--predictive-model", str(model_path),
                     "--json"]) == 0
        again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert again["written"] == 0 and again["writes_planned"] == 0
        assert _crm(server) == crm


def test_salesforce_gets_probability_and_tier_on_leads_and_contacts(model_path: Path, tmp_path: Path) -> None:
    """The same through the Salesforce adapter: Leadscore_Probability__c and _Tier__c land on
    Leads and Contacts, next to the rules score."""
    from sandbox.salesforce import create_server as create_salesforce
    from tests.adapters.test_salesforce import install as install_salesforce
    from tests.adapters.test_salesforce import live, make_adapter

    with create_salesforce(generate_tenant(seed=11, leads=120, events_per_lead=8)) as server:
        adapter = make_adapter(server)
        install_salesforce(adapter)
        store = Store.open(f"sqlite:///{tmp_path / 'sf.db'}")
        try:
            rules = parse_model(DEFAULT_MODEL_TEXT, "<default>")
            options = SyncOptions(tenant="sf", now=NOW, predictor=StorePredictor.load(model_path))
            first = run_sync(store, adapter, rules, options)
            assert first.failed == 0
            expected = predict_store(options.predictor.model, store.lead_table("sf"),  # type: ignore[union-attr]
                                     store.event_table("sf"), NOW).to_pylist()
            people = set(live(server, "Lead") + live(server, "Contact"))
            assert {row["lead_id"] for row in expected} == people
            stored = store.scores("sf")
            for row in expected:
                table = server.org.tables["Lead" if row["lead_id"].startswith("00Q") else "Contact"]
                record = table.rows[row["lead_id"]]
                assert table.value(record, "Leadscore_Probability__c") == int(row["probability"] * 100 + 0.5)
                assert table.value(record, "Leadscore_Probability_Tier__c") == row["tier"]
                assert table.value(record, "Leadscore_Score__c") == int(stored[row["lead_id"]].score + 0.5)
            assert len({row["tier"] for row in expected}) > 1
            again = run_sync(store, adapter, rules, options)
            assert again.written == 0 and again.writes_planned == 0
        finally:
            store.close()


def test_the_write_back_warns_when_the_leads_drift_from_the_training_leads(
        model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The predictor the sync calls compares the leads it scores with the training leads."""
    predictor = StorePredictor.load(model_path)
    like = generate_tenant(seed=3, leads=600, events_per_lead=10)  # the training portal itself
    predictor(like.leads, like.events, like.now)
    assert predictor.drift is not None
    assert all(f["psi"] < 0.25 for f in predictor.drift["features"])  # its inputs look like training's
    assert "input drift" not in capsys.readouterr().err
    # the same portal after a campaign that brought only leads without any activity
    quiet = generate_tenant(seed=3, leads=600, events_per_lead=0)
    predictor(quiet.leads, None, quiet.now)
    drift = predictor.drift
    assert drift is not None and drift["features"][0]["psi"] >= 0.25
    err = capsys.readouterr().err
    assert "warning: predictive model" in err and "input drift" in err and "--recalibrate" in err
