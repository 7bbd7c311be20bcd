"""From the store's leads and events to a training table: outcomes, fit fields, activity features.

A lead's outcome is read from its canonical fields by an explicit :class:`OutcomeRule`: a lead
whose lifecycle stage or lead status is one the rule lists counts as converted. Activity is
aggregated only from events strictly *before* each lead's cut: its outcome time when the lead
converted and the time is known (``converted_at``), else the training cut-off. An event after
the outcome therefore changes nothing — the model learns what a lead looked like before it
converted, which is what it will see when scoring open leads.

Features per lead: the fit fields as they are, and per event type a count and a decayed count
(half-life ``half_life_days``), plus days since the last activity and the number of active days.
:func:`feature_table` builds the same columns for scoring open leads at a moment (every cut at
that moment), so a model trained here scores the store the same way.

Pure: tables and times in, tables out; ``cutoff``/``now`` are parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import pyarrow as pa

from .dataset import DataError, parse_times

__all__ = ["OutcomeRule", "OUTCOMES", "FIT_FIELDS", "TARGET", "TIME_COLUMN", "SCORECARD_FIELDS", "outcomes",
           "activity_features", "event_types", "feature_table", "training_table", "is_activity",
           "STAGE_TIME_COLUMN", "with_stage_times"]

#: Name of the outcome column in a training table built here.
TARGET = "converted"
#: The time column (lead creation) that orders the holdout.
TIME_COLUMN = "created_at"
#: Canonical lead fields that describe fit; identity, ownership and outcome fields are left out
#: (the lifecycle stage and status *are* the outcome, ``updated_at`` moves when a lead converts).
FIT_FIELDS: tuple[str, ...] = ("title", "country", "state", "industry", "employees", "annual_revenue",
                               "lead_source")
DAY_SECONDS = 86_400.0
#: Activity features a scoring model can state as fit rules, and the derived lead field that
#: means the same at scoring time. The others (per-type and decayed counts, active days) have no
#: such field: a scorecard leaves them out, the learned model keeps them.
SCORECARD_FIELDS = {"n_events": "event_count", "days_since_last": "days_since_last_activity"}


def is_activity(name: str) -> bool:
    """Is this a column :func:`activity_features` makes?"""
    return name in ("n_events", "active_days", "days_since_last") or name.startswith(("n_", "decayed_"))


def _fold(value: object) -> str:
    return " ".join(str(value).split()).casefold()


@dataclass(frozen=True)
class OutcomeRule:
    """Which leads count as converted, and where their outcome time is.

    ``stages`` and ``statuses`` are compared case- and space-insensitively with the lead's
    ``lifecycle_stage`` and ``lead_status``; either match counts. ``time_columns`` (text or
    timestamps; the first non-empty one wins) hold when the outcome happened, when the store knows
    it: e.g. a custom field mapped from HubSpot's ``hs_lifecyclestage_customer_date`` or
    Salesforce's ``ConvertedDate``.
    """

    name: str
    stages: frozenset[str] = field(default_factory=frozenset)
    statuses: frozenset[str] = field(default_factory=frozenset)
    time_columns: tuple[str, ...] = ("converted_at",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", frozenset(_fold(s) for s in self.stages))
        object.__setattr__(self, "statuses", frozenset(_fold(s) for s in self.statuses))
        if not self.stages and not self.statuses:
            raise DataError(f"outcome rule '{self.name}' lists no lifecycle stage and no lead status")


#: ``converted``: became an opportunity or a customer, or the lead was converted (Salesforce's
#: "Closed - Converted" status). ``customer``: the deal was won.
OUTCOMES = {
    "converted": OutcomeRule("converted", frozenset({"customer", "opportunity"}),
                             frozenset({"closed - converted", "converted", "qualified - converted"})),
    "customer": OutcomeRule("customer", frozenset({"customer"})),
}


#: the column :func:`with_stage_times` adds: when the lead was first seen at an outcome stage
STAGE_TIME_COLUMN = "outcome_seen_at"


def with_stage_times(leads: pa.Table, stages: pa.Table, rule: OutcomeRule) -> tuple[pa.Table, OutcomeRule]:
    """The leads with :data:`STAGE_TIME_COLUMN` (the earliest known time each lead reached one of
    the rule's stages or statuses, from a log of ``lead_id, field, value, reached_at``) and the
    rule reading it after its own time columns."""
    earliest: dict[str, datetime] = {}
    for row in stages.to_pylist():
        wanted = rule.stages if row["field"] == "lifecycle_stage" else rule.statuses
        at = row["reached_at"]
        known = earliest.get(row["lead_id"])
        if at is not None and _fold(row["value"]) in wanted and (known is None or at < known):
            earliest[row["lead_id"]] = at
    ids = [str(v) for v in leads.column("id").to_pylist()]
    column = pa.array([earliest.get(i) for i in ids], pa.timestamp("us", tz="UTC"))
    if STAGE_TIME_COLUMN in leads.column_names:
        leads = leads.drop_columns([STAGE_TIME_COLUMN])
    times = (*[c for c in rule.time_columns if c != STAGE_TIME_COLUMN], STAGE_TIME_COLUMN)
    return leads.append_column(STAGE_TIME_COLUMN, column), replace(rule, time_columns=times)


def _text(table: pa.Table, name: str) -> list[str]:
    if name not in table.column_names:
        return [""] * table.num_rows
    return ["" if v is None else _fold(v) for v in table.column(name).to_pylist()]


def outcomes(leads: pa.Table, rule: OutcomeRule) -> tuple[np.ndarray, np.ndarray]:
    """(converted 0/1, outcome time in epoch seconds or NaN when unknown) per lead."""
    stages, statuses = _text(leads, "lifecycle_stage"), _text(leads, "lead_status")
    y = np.array([s in rule.stages or t in rule.statuses for s, t in zip(stages, statuses, strict=True)],
                 dtype=np.int64)
    when = np.full(leads.num_rows, np.nan)
    for name in rule.time_columns:
        if name in leads.column_names:
            when = np.where(np.isnan(when), parse_times(leads, name), when)
    return y, np.where(y == 1, when, np.nan)


def _event_arrays(events: pa.Table, ids: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lead row, type, seconds) of the events of known leads."""
    row_of = {lead_id: i for i, lead_id in enumerate(ids)}
    lead_ids = events.column("lead_id").to_pylist()
    rows = np.array([row_of.get(v, -1) for v in lead_ids], dtype=np.int64)
    seconds = parse_times(events, "occurred_at")
    types = np.array(["" if v is None else str(v) for v in events.column("type").to_pylist()], dtype=object)
    keep = (rows >= 0) & ~np.isnan(seconds)
    return rows[keep], types[keep], seconds[keep]


def activity_features(ids: list[str], events: pa.Table | None, cut: np.ndarray, half_life_days: float = 30.0,
                      types: tuple[str, ...] | None = None) -> pa.Table:
    """Per lead, from its events strictly before ``cut[i]`` (epoch seconds): ``n_<type>``,
    ``decayed_<type>`` for each type in ``types`` (default: every type seen), ``n_events``,
    ``active_days`` and ``days_since_last`` (null when the lead had no activity before its cut)."""
    n = len(ids)
    if events is None or events.num_rows == 0:
        rows, kinds, seconds = np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0)
    else:
        rows, kinds, seconds = _event_arrays(events, ids)
    before = seconds < cut[rows]
    rows, kinds, seconds = rows[before], kinds[before], seconds[before]
    age_days = (cut[rows] - seconds) / DAY_SECONDS
    weight = 0.5 ** (age_days / half_life_days)
    columns: dict[str, np.ndarray] = {}
    for kind in types if types is not None else tuple(sorted(set(kinds.tolist()))):
        mine = kinds == kind
        columns[f"n_{kind}"] = np.bincount(rows[mine], minlength=n).astype(float)
        columns[f"decayed_{kind}"] = np.bincount(rows[mine], weights=weight[mine], minlength=n)
    columns["n_events"] = np.bincount(rows, minlength=n).astype(float)
    day = np.floor(seconds / DAY_SECONDS)
    distinct = np.unique(np.stack([rows, day]), axis=1) if len(rows) else np.zeros((2, 0))
    columns["active_days"] = np.bincount(distinct[0].astype(np.int64), minlength=n).astype(float)
    last = np.full(n, -np.inf)
    np.maximum.at(last, rows, seconds)
    columns["days_since_last"] = np.where(np.isfinite(last), (cut - last) / DAY_SECONDS, np.nan)
    return pa.table({k: pa.array(v, pa.float64(), from_pandas=True) for k, v in columns.items()})  # NaN → null


def _fit_columns(leads: pa.Table, fit_fields: tuple[str, ...]) -> dict[str, pa.ChunkedArray | pa.Array]:
    """The fit fields, a column of nulls for one the leads lack (so scoring sees every column)."""
    return {name: leads.column(name) if name in leads.column_names else pa.nulls(leads.num_rows, pa.string())
            for name in fit_fields}


def event_types(table: pa.Table) -> tuple[str, ...]:
    """The event types a feature table built here has columns for."""
    return tuple(name[len("n_"):] for name in table.column_names
                 if name.startswith("n_") and name != "n_events")


def feature_table(leads: pa.Table, events: pa.Table | None, now: datetime, *,
                  fit_fields: tuple[str, ...] = FIT_FIELDS, half_life_days: float = 30.0,
                  types: tuple[str, ...] | None = None) -> pa.Table:
    """The features of every lead as of ``now``, for scoring: ``id``, fit fields, activity."""
    ids = [str(v) for v in leads.column("id").to_pylist()]
    cut = np.full(len(ids), now.timestamp())
    activity = activity_features(ids, events, cut, half_life_days, types)
    table = pa.table({"id": pa.array(ids, pa.string()), **_fit_columns(leads, fit_fields)})
    for name in activity.column_names:
        table = table.append_column(name, activity.column(name))
    return table


def training_table(leads: pa.Table, events: pa.Table | None, rule: OutcomeRule, cutoff: datetime, *,
                   fit_fields: tuple[str, ...] = FIT_FIELDS, half_life_days: float = 30.0
                   ) -> tuple[pa.Table, dict[str, int]]:
    """Leads created before ``cutoff`` with their outcome (``converted``), ``created_at``, fit
    fields and activity cut at the outcome (when known) or at ``cutoff``; and counts for notes.

    A lead that converted only after ``cutoff`` counts as not converted: at the cut-off it was
    still open, and its activity is cut there.
    """
    if "id" not in leads.column_names:
        raise DataError("the leads have no 'id' column")
    limit = cutoff.timestamp()
    created = (parse_times(leads, TIME_COLUMN) if TIME_COLUMN in leads.column_names
               else np.full(leads.num_rows, np.nan))
    keep = ~(created >= limit)  # undated leads stay
    leads = leads.filter(pa.array(keep))
    created = created[keep]
    y, when = outcomes(leads, rule)
    late = (y == 1) & (when >= limit)
    y = np.where(late, 0, y)
    cut = np.where((y == 1) & ~np.isnan(when), when, limit)
    ids = [str(v) for v in leads.column("id").to_pylist()]
    activity = activity_features(ids, events, cut, half_life_days)
    table = pa.table({"id": pa.array(ids, pa.string()), TARGET: pa.array(y, pa.int64()),
                      TIME_COLUMN: pa.array(created, pa.float64(), from_pandas=True),
                      **_fit_columns(leads, fit_fields)})
    for name in activity.column_names:
        table = table.append_column(name, activity.column(name))
    counts = {"leads": int(len(y)), "converted": int(y.sum()),
              "converted_time_known": int(((y == 1) & ~np.isnan(when)).sum()),
              "converted_after_cutoff": int(late.sum()), "created_after_cutoff": int((~keep).sum())}
    return table, counts
