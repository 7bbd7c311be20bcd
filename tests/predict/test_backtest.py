"""Backtest and diff on a synthetic tenant with events, scored by the real engine."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from connector.console import load_model
from sandbox.tenant import generate_tenant
from scoring.model import parse_model
from scoring.predict.backtest import LIFT_RULE, backtest, diff_models


@pytest.fixture(scope="module")
def tenant():
    return generate_tenant(seed=3, leads=400, events_per_lead=12, months=3)


def test_backtest_reports_tiers_threshold_lift_and_weekly_crossings(tenant) -> None:
    model = load_model(None)
    y = np.asarray(tenant.leads.column("converted").to_pylist(), dtype=int)
    as_of = [tenant.now - timedelta(days=30), tenant.now]
    result = backtest(model, tenant.leads, tenant.events, y, as_of, tenant.accounts)
    early, late = result["as_of"]
    assert early["leads"] <= late["leads"] <= tenant.leads.num_rows  # open leads only
    assert sum(g["leads"] for g in late["by_grade"]) == late["leads"]
    mql = late["thresholds"][0]
    assert mql["leads_above"] + mql["leads_below"] == late["leads"]
    assert mql["meets_rule"] == (mql["lift"] >= LIFT_RULE[0])
    assert "rule of thumb" in mql["verdict"] or "cannot tell" in mql["verdict"]
    assert sum(b["leads"] for b in late["score_distribution"]["bands"]) == late["leads"]
    weeks = result["crossings_per_week"]
    assert 10 <= len(weeks) <= 15  # three months of events, week by week
    assert all(w["mql"] >= 0 for w in weeks) and sum(w["mql"] for w in weeks) > 0


def test_diff_of_a_model_with_itself_changes_nothing(tenant) -> None:
    model = load_model(None)
    d = diff_models(model, model, tenant.leads, tenant.events, tenant.now, accounts=tenant.accounts)
    assert d["grade_changed"] == d["priority_changed"] == 0
    assert d["biggest_movers"] == [] and d["thresholds"][0]["enter"] == 0


def test_diff_of_a_stricter_threshold_moves_leads_out(tenant) -> None:
    from importlib import resources

    text = resources.files("scoring").joinpath("models", "default_b2b.yaml").read_text("utf-8")
    old = load_model(None)
    stricter = parse_model(text.replace("enter: 70", "enter: 90", 1), "strict.yaml")
    assert stricter.thresholds[0].enter == 90
    d = diff_models(old, stricter, tenant.leads, tenant.events, tenant.now, accounts=tenant.accounts)
    mql = d["thresholds"][0]
    assert mql["enter"] == 0 and mql["leave"] == mql["above_before"] - mql["above_after"]
