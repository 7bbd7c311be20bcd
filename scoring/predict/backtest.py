"""Replay history under a rules model (backtest) and compare two models (diff).

A backtest scores the leads as of past moments with the batch engine, exactly as the sync
would have, and sets the result against what happened. The rule of thumb it checks: leads
above a threshold (say MQL) should convert at 3-5× the rate of those below; much less and the
threshold does not separate, much more and it is probably too strict to feed sales. And however
well it separates, a threshold with more leads above it than the team can follow up (the
capacity, a share of leads) floods sales: the verdict says both.

A diff scores the same leads under an old and a new model and says what a deploy would change:
grades, priorities, who is above each threshold, and the leads whose score moves most.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from ..engine import score_tables
from ..model import ScoringModel
from ..thresholds import ThresholdState, step
from .metrics import roc_auc

__all__ = ["LIFT_RULE", "DEFAULT_CAPACITY_SHARE", "lift_verdict", "backtest", "crossings_per_week",
           "diff_models", "score_distribution"]

#: Leads above a threshold should convert at 3-5× the rate of leads below it.
LIFT_RULE = (3.0, 5.0)
#: Share of leads a sales team can follow up, unless told otherwise: a threshold with more of the
#: leads above it than this floods the team, however well it separates.
DEFAULT_CAPACITY_SHARE = 0.25
MAX_WEEKS = 104


def score_distribution(scores: np.ndarray) -> dict[str, Any]:
    """Counts in ten 10-point bands from 0 to 100, and the usual quantiles."""
    counts, _ = np.histogram(scores, bins=np.linspace(0, 100, 11))
    return {"bands": [{"from": 10 * i, "to": 10 * (i + 1), "leads": int(c)}
                      for i, c in enumerate(counts)],
            "quantiles": {f"p{q}": float(np.percentile(scores, q)) for q in (10, 25, 50, 75, 90)}
            if len(scores) else {}}


def _by(keys: np.ndarray, y: np.ndarray, name: str) -> list[dict[str, Any]]:
    return [{name: str(k), "leads": int((keys == k).sum()),
             "conversion": float(y[keys == k].mean())} for k in sorted(set(keys.tolist()))]


def lift_verdict(lift: float) -> str:
    """``below``, ``within`` or ``above`` the 3-5× rule, or ``unknown`` (a side empty or no
    conversions below)."""
    low, high = LIFT_RULE
    if np.isnan(lift):
        return "unknown"
    return "below" if lift < low else "above" if lift > high else "within"


def _verdict(lift: float, share_above: float, capacity_share: float) -> str:
    low, high = LIFT_RULE
    verdict = lift_verdict(lift)
    text = {
        "unknown": "cannot tell: no leads on one side of the threshold or none convert below it",
        "below": f"lift {lift:.1f}× is below the {low:g}-{high:g}× rule of thumb: the threshold does not "
                 "separate well",
        "within": f"lift {lift:.1f}× is within the {low:g}-{high:g}× rule of thumb",
        "above": f"lift {lift:.1f}× is above the {low:g}-{high:g}× rule of thumb: strong separation, but "
                 "check the threshold is not so strict that sales is starved",
    }[verdict]
    if not np.isnan(share_above) and share_above > capacity_share:
        text += (f"; {share_above:.0%} of leads are above it, more than the {capacity_share:.0%} the team "
                 "can follow up: raise the threshold")
    elif not np.isnan(share_above):
        text += f"; {share_above:.0%} of leads are above it (team capacity {capacity_share:.0%})"
    return text


def _threshold_rows(model: ScoringModel, scored: pa.Table, y: np.ndarray,
                    capacity_share: float = DEFAULT_CAPACITY_SHARE) -> list[dict[str, Any]]:
    rows = []
    for t in model.thresholds:
        value = scored.column(t.metric).to_numpy()
        above = value >= t.enter
        up = float(y[above].mean()) if above.any() else float("nan")
        down = float(y[~above].mean()) if (~above).any() else float("nan")
        lift = up / down if down and not np.isnan(up) and not np.isnan(down) else float("nan")
        share = float(above.mean()) if len(above) else float("nan")
        verdict = lift_verdict(lift)
        rows.append({"threshold": t.name, "metric": t.metric, "enter": t.enter,
                     "leads_above": int(above.sum()), "leads_below": int((~above).sum()),
                     "conversion_above": up, "conversion_below": down, "lift": lift,
                     "lift_rule": list(LIFT_RULE),
                     "lift_verdict": verdict,
                     "lift_within_rule": verdict == "within",
                     "share_above": share,
                     "capacity_share": capacity_share,
                     "over_capacity": bool(share > capacity_share) if not np.isnan(share) else False,
                     "verdict": _verdict(lift, share, capacity_share)})
    return rows


def _times(leads: pa.Table, column: str) -> list[datetime | None] | None:
    if column not in leads.column_names:
        return None
    values = leads.column(column)
    if not pa.types.is_timestamp(values.type):
        values = values.cast(pa.timestamp("us", tz="UTC"))
    return values.to_pylist()


def _on_or_before(value: datetime | None, cutoff: datetime) -> bool:
    if value is None:
        return False
    return (value if value.tzinfo else value.replace(tzinfo=cutoff.tzinfo)) <= cutoff


def _known_at(leads: pa.Table, as_of: datetime) -> np.ndarray:
    """Leads still open at ``as_of``: created by then (when there is a ``created_at``) and not
    yet converted (when there is a ``converted_at``) — a lead that had already converted
    would make any model look good."""
    keep = np.ones(leads.num_rows, dtype=bool)
    created = _times(leads, "created_at")
    if created is not None:
        keep &= np.array([v is None or _on_or_before(v, as_of) for v in created], dtype=bool)
    converted = _times(leads, "converted_at")
    if converted is not None:
        keep &= ~np.array([_on_or_before(v, as_of) for v in converted], dtype=bool)
    return keep


def backtest(model: ScoringModel, leads: pa.Table, events: pa.Table | None, y: np.ndarray,
             as_of: list[datetime], accounts: pa.Table | None = None,
             capacity_share: float = DEFAULT_CAPACITY_SHARE) -> dict[str, Any]:
    """Score ``leads`` as of each moment in ``as_of`` and measure the scores against ``y``;
    each threshold's verdict weighs its lift against the 3-5× rule and the share of leads above
    it against ``capacity_share``, the share the team can follow up."""
    results = []
    for moment in as_of:
        known = _known_at(leads, moment)
        subset = leads.filter(pa.array(known))
        scored = score_tables(model, subset, events, moment, accounts)
        outcome = y[known]
        score = scored.column("score").to_numpy()
        results.append({
            "as_of": moment.isoformat(),
            "leads": int(known.sum()),
            "conversion_rate": float(outcome.mean()) if len(outcome) else float("nan"),
            "auc": roc_auc(outcome, score),
            "by_grade": _by(np.asarray(scored.column("grade").to_pylist()), outcome, "grade"),
            "by_priority": _by(np.asarray(scored.column("priority").to_pylist()), outcome,
                               "priority"),
            "thresholds": _threshold_rows(model, scored, outcome, capacity_share),
            "score_distribution": score_distribution(score),
        })
    out: dict[str, Any] = {"model": model.name, "model_version": model.version,
                           "as_of": results}
    if events is not None and events.num_rows and model.thresholds:
        out["crossings_per_week"] = crossings_per_week(model, leads, events, max(as_of), accounts)
    return out


def crossings_per_week(model: ScoringModel, leads: pa.Table, events: pa.Table,
                       until: datetime, accounts: pa.Table | None = None) -> list[dict[str, Any]]:
    """How many leads would have entered each threshold in each week up to ``until``.

    Leads are rescored at the end of every week from the first event on (at most
    ``MAX_WEEKS``), and each threshold's hysteresis and cooldown are applied with
    :func:`scoring.thresholds.step`, as the sync would.
    """
    occurred = events.column("occurred_at")
    first = min(v for v in occurred.to_pylist() if v is not None)
    if first.tzinfo is None:
        first = first.replace(tzinfo=until.tzinfo)
    weeks = min(MAX_WEEKS, max(1, int((until - first).days // 7) + 1))
    moments = [until - timedelta(weeks=weeks - 1 - k) for k in range(weeks)]
    states = {t.name: [ThresholdState()] * leads.num_rows for t in model.thresholds}
    rows = []
    for moment in moments:
        known = _known_at(leads, moment)
        scored = score_tables(model, leads, events, moment, accounts)
        row: dict[str, Any] = {"week_ending": moment.date().isoformat()}
        for t in model.thresholds:
            value = scored.column(t.metric).to_numpy()
            entered = 0
            lead_states = states[t.name]
            for i in np.flatnonzero(known):
                move = step(t, lead_states[i], float(value[i]), moment)
                lead_states[i] = move.state
                entered += move.change == "entered"
            row[t.name] = entered
        rows.append(row)
    return rows


def diff_models(old: ScoringModel, new: ScoringModel, leads: pa.Table,
                events: pa.Table | None, now: datetime, top: int = 10,
                accounts: pa.Table | None = None) -> dict[str, Any]:
    """What deploying ``new`` instead of ``old`` would change for these leads at ``now``."""
    a = score_tables(old, leads, events, now, accounts)
    b = score_tables(new, leads, events, now, accounts)
    ga, gb = (np.asarray(t.column("grade").to_pylist()) for t in (a, b))
    pa_, pb = (np.asarray(t.column("priority").to_pylist()) for t in (a, b))
    sa, sb = a.column("score").to_numpy(), b.column("score").to_numpy()
    thresholds = []
    names = [t.name for t in old.thresholds] + [t.name for t in new.thresholds
                                                if t.name not in {x.name for x in old.thresholds}]
    for name in names:
        before = _above(old, name, a)
        after = _above(new, name, b)
        thresholds.append({"threshold": name, "above_before": int(before.sum()),
                           "above_after": int(after.sum()),
                           "enter": int((after & ~before).sum()), "leave": int((before & ~after).sum())})
    grades = sorted(set(ga.tolist()) | set(gb.tolist()))
    matrix = {g: {h: int(((ga == g) & (gb == h)).sum()) for h in grades} for g in grades}
    delta = sb - sa
    order = np.argsort(-np.abs(delta), kind="mergesort")[:top]
    ids = a.column("lead_id").to_pylist()
    movers = [{"lead_id": ids[i], "score_before": float(sa[i]), "score_after": float(sb[i]),
               "change": float(delta[i]), "grade_before": str(ga[i]), "grade_after": str(gb[i]),
               "reasons_after": b.column("reasons")[int(i)].as_py()}
              for i in order if delta[i] != 0]
    return {"leads": int(leads.num_rows), "now": now.isoformat(),
            "old": {"name": old.name, "version": old.version},
            "new": {"name": new.name, "version": new.version},
            "grade_changed": int((ga != gb).sum()), "priority_changed": int((pa_ != pb).sum()),
            "mean_score_change": float(delta.mean()) if len(delta) else 0.0,
            "grade_matrix": matrix, "thresholds": thresholds, "biggest_movers": movers}


def _above(model: ScoringModel, name: str, scored: pa.Table) -> np.ndarray:
    t = next((x for x in model.thresholds if x.name == name), None)
    if t is None:
        return np.zeros(scored.num_rows, dtype=bool)
    return scored.column(t.metric).to_numpy() >= t.enter
