"""Scorecard export: a valid scoring model whose points, scored by the real engine, rank leads
about as well as the learned model."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from scoring.engine import score_tables
from scoring.model import parse_model
from scoring.predict.dataset import encode, infer_schema, parse_target
from scoring.predict.export import export_scorecard
from scoring.predict.metrics import roc_auc
from scoring.predict.scorecard import fit_scorecard, scorecard_yaml, yaml_fit_points
from scoring.predict.train import train

from .conftest import XEDU_DROP

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _with_ids(table: pa.Table) -> pa.Table:
    if "id" in table.column_names:
        return table
    return table.append_column("id", pa.array([str(i) for i in range(table.num_rows)]))


def test_points_are_integers_each_field_starts_at_zero_and_max_points_adds_up(history) -> None:
    schema = infer_schema(history, "Converted", ["id", "Created"])
    x = encode(schema, history)
    card = fit_scorecard(schema, x, parse_target(history, "Converted"))
    assert card.points.dtype.kind == "i" and (card.points >= 0).all()
    for j in range(len(schema.features)):
        assert min(p for b, p in zip(card.bins, card.points, strict=True) if b.feature == j) == 0
    fit = card.fit_score(x)
    assert fit.min() >= 0 and fit.max() <= 100
    model = parse_model(scorecard_yaml(card, name="t", grade_cuts=[80, 60, 40, 20]), "t.yaml")
    assert model.fit.max_points == card.max_points
    assert set(model.custom_fields.lead) <= set(schema.names)
    assert np.array_equal(yaml_fit_points(model, history), card.points_for(x))


def test_placeholders_and_unseen_categories_score_like_missing_and_other(history) -> None:
    schema = infer_schema(history, "Converted", ["id", "Created"])
    card = fit_scorecard(schema, encode(schema, history), parse_target(history, "Converted"))
    model = parse_model(scorecard_yaml(card, name="t", grade_cuts=[80, 60, 40, 20]), "t.yaml")
    probe = pa.table({"Lead Source": ["Referral", "Referral"], "TotalVisits": ["4", "4"],
                      "Occupation": ["Select", None], "Noise": ["0", "0"]})
    select, blank = yaml_fit_points(model, probe)
    assert select == blank  # "Select" is read as missing by the YAML too
    assert np.array_equal(yaml_fit_points(model, probe), card.points_for(encode(schema, probe)))


def test_export_reports_the_auc_cost(history) -> None:
    trained = train(history, "Converted", drop=["id", "Created"], kinds=("logistic",), folds=3)
    exported = export_scorecard(trained, history)
    ev = exported.evaluation
    assert ev["learned_auc"] == trained.evaluation["auc"]
    assert ev["auc_cost"] == pytest.approx(ev["learned_auc"] - ev["auc"])
    assert abs(ev["auc_cost"]) < 0.03 and ev["auc"] > 0.7
    parse_model(exported.yaml_text, "scorecard.yaml")


def test_x_education_scorecard_through_the_engine_on_unseen_leads(xedu: pa.Table) -> None:
    """Learn the scorecard on 6,000 leads; score the other 3,240 with score_tables."""
    rng = np.random.default_rng(0)
    order = rng.permutation(xedu.num_rows)
    learn, unseen = xedu.take(np.sort(order[:6000])), xedu.take(np.sort(order[6000:]))
    schema = infer_schema(learn, "Converted", XEDU_DROP)
    card = fit_scorecard(schema, encode(schema, learn), parse_target(learn, "Converted"))
    model = parse_model(scorecard_yaml(card, name="xedu", grade_cuts=[80, 60, 40, 20]), "x.yaml")
    scored = score_tables(model, _with_ids(unseen), None, NOW)
    y = parse_target(unseen, "Converted")
    fit = scored.column("fit").to_numpy()
    assert roc_auc(y, fit) >= 0.89
    expected = 100 * card.points_for(encode(schema, unseen)) / card.max_points
    assert fit == pytest.approx(np.round(expected, 2), abs=0.006)
    assert scored.column("score").to_numpy() == pytest.approx(fit)  # weights: fit only


@pytest.mark.parametrize(("a", "b", "edge"), [(1071, 1073, 1071.5), (2.3, 2.5, 2.35),
                                              (2.33, 2.5, 2.335), (0, 1, 0.5), (-3, -1, -2.5)])
def test_range_edges_cannot_equal_a_value_of_the_datas_precision(a, b, edge) -> None:
    from scoring.predict.scorecard import _edge_between

    assert _edge_between(a, b) == pytest.approx(edge)
