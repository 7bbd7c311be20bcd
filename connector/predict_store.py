"""Predictive scoring on the state store: the store's leads and events as training and scoring tables.

Only the data source is here; outcomes, the cut of each lead's activity and the features are the
pure functions of :mod:`scoring.predict.history`. A model trained from the store remembers how its
features were built (``model.extra["store_features"]``) so scoring the store later builds the
same columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from connector.store import Store
from scoring.errors import ConfigError, Problem
from scoring.predict.history import (
    FIT_FIELDS,
    OUTCOMES,
    STAGE_TIME_COLUMN,
    OutcomeRule,
    event_types,
    feature_table,
    training_table,
    with_stage_times,
)

if TYPE_CHECKING:
    from scoring.predict.train import TrainedModel

__all__ = ["outcome_rule", "store_training_table", "remember_features", "store_feature_table",
           "predict_store", "backtest_tables", "StorePredictor", "drift_of"]


def outcome_rule(outcome: str, stages: list[str] | None = None, statuses: list[str] | None = None,
                 time_fields: list[str] | None = None) -> OutcomeRule:
    """The named rule (``converted`` or ``customer``), or the admin's own stages/statuses; the
    outcome time read from ``time_fields`` (default ``converted_at``)."""
    times = tuple(time_fields or ("converted_at",))
    if stages or statuses:
        return OutcomeRule(outcome, frozenset(stages or ()), frozenset(statuses or ()), times)
    if outcome not in OUTCOMES:
        raise ConfigError([Problem("--outcome", None, outcome, "unknown outcome",
                                   f"use one of {', '.join(OUTCOMES)}, or list --converted-stage/"
                                   "--converted-status values")])
    named = OUTCOMES[outcome]
    return OutcomeRule(named.name, named.stages, named.statuses, times)


def store_training_table(store: Store, tenant: str, rule: OutcomeRule, cutoff: datetime,
                         half_life_days: float = 30.0) -> tuple[pa.Table, dict[str, int]]:
    leads = store.lead_table(tenant)
    if leads.num_rows == 0:
        raise ConfigError([Problem("--tenant", None, tenant, "the store holds no leads for this tenant",
                                   "run `leadscore sync` first, or check --tenant")])
    leads, rule = with_stage_times(leads, store.stage_times(tenant), rule)  # outcome times the sync saw happen
    return training_table(leads, store.event_table(tenant), rule, cutoff, half_life_days=half_life_days)


def remember_features(model: TrainedModel, table: pa.Table, rule: OutcomeRule, half_life_days: float) -> None:
    """Record on the model how its store features were built, for scoring the store later."""
    model.extra["store_features"] = {"types": event_types(table), "fit_fields": FIT_FIELDS,
                                     "half_life_days": half_life_days, "outcome": rule.name}


def _settings(model: TrainedModel, source: str) -> dict[str, Any]:
    settings = model.extra.get("store_features")
    if settings is None:
        raise ConfigError([Problem(source, None, "", "this model was trained on a table, not on the store",
                                   "train one with `leadscore train --store URL --tenant T --out MODEL`")])
    return dict(settings)


def store_feature_table(model: TrainedModel, leads: pa.Table, events: pa.Table | None, now: datetime,
                        source: str = "model") -> pa.Table:
    """Every lead's features as of ``now``, built as the model's training features were."""
    settings = _settings(model, source)
    return feature_table(leads, events, now, fit_fields=tuple(settings["fit_fields"]),
                         half_life_days=float(settings["half_life_days"]), types=tuple(settings["types"]))


def predict_store(model: TrainedModel, leads: pa.Table, events: pa.Table | None, now: datetime,
                  source: str = "model", factors: int = 0) -> pa.Table:
    """``predict_table`` output (lead_id, probability, tier, factors, model_version) for the store's leads."""
    from scoring.predict.explain import predict_table

    features = store_feature_table(model, leads, events, now, source)
    return predict_table(model, features, id_column="id", factors=factors)


def backtest_tables(store: Store, tenant: str, rule: OutcomeRule) -> tuple[pa.Table, Any, pa.Table | None]:
    """(leads with ``converted``/``converted_at``/timestamps, outcomes 0/1, events) for a backtest or diff."""
    from scoring.predict.history import outcomes

    leads, rule = with_stage_times(store.lead_table(tenant), store.stage_times(tenant), rule)
    y, when = outcomes(leads, rule)
    leads = leads.drop_columns([STAGE_TIME_COLUMN])
    if "converted_at" in leads.column_names:  # replaced by the rule's reading of it (None when not converted)
        leads = leads.drop_columns(["converted_at"])
    stamps = pa.array([None if w != w else int(w * 1_000_000) for w in when], pa.int64()).cast(
        pa.timestamp("us", tz="UTC"))
    leads = leads.append_column("converted_at", stamps)
    if "created_at" in leads.column_names and not pa.types.is_timestamp(leads.column("created_at").type):
        from connector.inputs import parse_timestamps

        created, _bad = parse_timestamps(leads.column("created_at"))
        leads = leads.set_column(leads.column_names.index("created_at"), "created_at", created)
    return leads, y, store.event_table(tenant)


@dataclass
class StorePredictor:
    """What ``leadscore sync --predictive-model`` hands the sync: the store's leads and events at
    ``now`` → ``predict_table`` rows (lead_id, probability, tier, ...).

    Each call also compares the leads it scores with the training leads (population stability
    of every feature and of the tiers, :mod:`scoring.predict.drift`): past the documented
    thresholds it warns on stderr, and ``drift`` keeps the last report."""

    model: TrainedModel
    source: str
    drift: dict[str, Any] | None = None

    @classmethod
    def load(cls, path: Any) -> StorePredictor:
        from connector.predict_io import load_model

        model = load_model(path)
        _settings(model, str(path))  # a model trained on a plain table is refused before the sync starts
        return cls(model, str(path))

    def __call__(self, leads: pa.Table, events: pa.Table | None, now: datetime) -> pa.Table:
        from connector.predict_io import single_thread

        with single_thread(1):
            features = store_feature_table(self.model, leads, events, now, self.source)
            from scoring.predict.explain import predict_table

            rows = predict_table(self.model, features, id_column="id", factors=0)
        self.drift = drift_of(self.model, features, rows.column("tier").to_numpy(zero_copy_only=False))
        if self.drift is not None and self.drift["warnings"]:
            from connector.console import err

            for warning in self.drift["warnings"]:
                err.print(f"warning: predictive model {self.source}: {warning}")
            err.print("  recalibrate it on recent outcomes: leadscore evaluate --model MODEL --data RECENT "
                      "--target T --recalibrate NEW_MODEL")
        return rows


def drift_of(model: TrainedModel, table: pa.Table, tiers: Any, y: Any = None, p: Any = None) -> dict[str, Any] | None:
    """The drift report of ``table`` against the model's training leads (None for a model
    trained before it kept a reference)."""
    from scoring.predict.dataset import encode
    from scoring.predict.drift import drift_report

    reference = model.extra.get("drift_reference")
    if reference is None:
        return None
    return drift_report(reference, model.schema, encode(model.schema, table), tiers, y, p)
