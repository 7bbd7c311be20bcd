"""Training and evaluation: models learn a known signal; the numbers are out of sample."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from scoring.predict.dataset import parse_target
from scoring.predict.explain import contributions, predict_table
from scoring.predict.metrics import evaluate_scores, roc_auc
from scoring.predict.train import train

from .conftest import XEDU_DROP


@pytest.fixture(scope="module")
def trained(history: pa.Table):
    return train(history, "Converted", drop=["id", "Created"], folds=3)


def test_both_models_learn_the_signal_and_the_best_is_chosen(trained) -> None:
    models = trained.evaluation["models"]
    assert set(models) == {"logistic", "gbm", "trees", "ensemble"}  # trees: an ensemble member
    assert [k for k, m in models.items() if m["candidate"]] == ["logistic", "gbm", "ensemble"]
    for m in models.values():
        assert 0.7 < m["auc"] < 1.0
        assert len(m["auc_folds"]) == 3
        assert 0 < m["brier"] < 0.25 and m["log_loss"] > 0
        assert m["top_decile_lift"] > 1.5
    best = max((k for k in models if models[k]["candidate"]), key=lambda k: models[k]["auc"])
    assert trained.evaluation["chosen"] == best == trained.kind
    assert trained.evaluation["auc"] == models[best]["auc"]


def test_the_ensemble_is_its_members_blended(trained, history: pa.Table) -> None:
    from scoring.predict.dataset import encode
    from scoring.predict.learners import ENSEMBLE_WEIGHTS, blend, make_learner

    x = encode(trained.schema, history)
    y = parse_target(history, "Converted")
    ensemble = make_learner("ensemble", trained.schema).fit(x, y)
    parts = {k: make_learner(k, trained.schema).fit(x, y).probability(x) for k in ENSEMBLE_WEIGHTS}
    assert ensemble.probability(x) == pytest.approx(blend(parts))
    assert sum(ENSEMBLE_WEIGHTS.values()) == pytest.approx(1.0)


def test_scores_of_shuffled_labels_are_near_chance(history: pa.Table) -> None:
    rng = np.random.default_rng(3)
    shuffled = history.set_column(history.column_names.index("Converted"), "Converted",
                                  pa.array(rng.permutation(history.column("Converted").to_pylist())))
    result = train(shuffled, "Converted", drop=["id", "Created"], kinds=("logistic",), folds=3)
    assert abs(result.evaluation["auc"] - 0.5) < 0.06  # out of sample: no signal, no skill


def test_time_ordered_holdout_trains_on_earlier_leads(history: pa.Table) -> None:
    result = train(history, "Converted", drop=["id"], time_column="Created", kinds=("logistic",))
    assert "time-ordered holdout on 'Created'" in result.evaluation["validation"]
    assert "Created" not in result.schema.names
    tested = result.extra["tested"]
    assert len(tested) == pytest.approx(0.2 * history.num_rows, abs=2)
    assert tested.min() >= 0.79 * history.num_rows  # the table is in time order: the latest rows


def test_tiers_hold_the_intended_shares_and_convert_in_order(trained, history: pa.Table) -> None:
    y = parse_target(history, "Converted")
    p = trained.probability(history)
    metrics = evaluate_scores(y, p, cuts=trained.tier_cuts)
    shares = [t["leads"] / len(y) for t in metrics["tiers"]]
    assert shares == pytest.approx([0.1, 0.2, 0.3, 0.2, 0.2], abs=0.06)
    rates = [t["conversion"] for t in metrics["tiers"]]
    assert rates == sorted(rates, reverse=True)


def test_on_its_training_table_a_model_is_judged_out_of_sample(trained, history) -> None:
    y = parse_target(history, "Converted")
    p, rows, honest = trained.honest_probability(history, y)
    assert honest and len(rows) == history.num_rows
    assert np.array_equal(p, trained.extra["out_of_sample"])
    assert roc_auc(y, p) < roc_auc(y, trained.probability(history))  # refitted looks better
    other = history.slice(0, 700)
    p2, rows2, honest2 = trained.honest_probability(other, y[:700])
    assert not honest2 and len(rows2) == 700


def test_predict_table_gives_probability_tier_and_factors(trained, history: pa.Table) -> None:
    out = predict_table(trained, history.slice(0, 50))
    assert out.column_names == ["lead_id", "probability", "tier", "factors", "model_version"]
    assert set(out.column("model_version").to_pylist()) == {trained.version}
    assert out.column("lead_id").to_pylist()[:2] == ["L00000", "L00001"]
    p = np.asarray(out.column("probability").to_pylist())
    assert ((p > 0) & (p < 1)).all()
    assert set(out.column("tier").to_pylist()) <= {"A", "B", "C", "D", "F"}
    assert any("Lead Source = Referral (+" in f or "Occupation = " in f
               for f in out.column("factors").to_pylist())


def test_contributions_point_the_way_the_signal_does(trained, history: pa.Table) -> None:
    from scoring.predict.dataset import encode

    x = encode(trained.schema, history)
    c = contributions(trained, x)
    j = trained.schema.names.index("Occupation")
    codes = trained.schema.features[j].categories
    pro = x[:, j] == codes.index("working professional")
    student = x[:, j] == codes.index("student")
    assert c[pro, j].mean() > 0.3
    assert c[pro, j].mean() - c[student, j].mean() > 1.0


def test_importance_ranks_the_fields_that_carry_signal_first(trained, history: pa.Table) -> None:
    from scoring.predict.dataset import encode
    from scoring.predict.explain import importance

    ranked = [name for name, _ in importance(trained, encode(trained.schema, history), limit=400)]
    assert set(ranked[:3]) == {"Lead Source", "TotalVisits", "Occupation"}
    assert ranked[-1] == "Noise"


def test_x_education_subset_reaches_a_good_auc(xedu: pa.Table) -> None:
    """A 4,000-lead sample, 3 folds, boosted trees only (the full run is bench/predict_xeducation.py)."""
    rng = np.random.default_rng(0)
    sample = xedu.take(np.sort(rng.choice(xedu.num_rows, 4000, replace=False)))
    result = train(sample, "Converted", drop=XEDU_DROP, kinds=("gbm",), folds=3)
    assert result.evaluation["auc"] > 0.89
    assert "Tags" not in result.schema.names
    y = parse_target(sample, "Converted")
    oos = result.extra["out_of_sample"]
    assert roc_auc(y, oos) == pytest.approx(result.evaluation["auc"], abs=0.01)
