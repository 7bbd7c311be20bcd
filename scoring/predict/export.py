"""Export a trained model's history as a scorecard YAML, and say what that costs in AUC.

The scorecard is learned on the same rows and judged on the same splits as the learned model
(:mod:`scoring.predict.train`), so the two AUCs compare like with like. The exported text is
then parsed back with :func:`scoring.model.parse_model` and scored through its own rules, and
those points must equal the in-memory ones: the file is checked, not just the arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import DataError
from ..model import parse_model
from .dataset import encode, parse_target
from .metrics import auc_interval, evaluate_scores, roc_auc
from .scorecard import (
    cross_validate_scorecard,
    fit_scorecard,
    grade_cuts_for,
    group_points,
    scorecard_yaml,
    yaml_fit_points,
)
from .train import TrainedModel, make_splits

__all__ = ["ScorecardExport", "export_scorecard"]


@dataclass
class ScorecardExport:
    yaml_text: str
    evaluation: dict[str, Any]


def export_scorecard(trained: TrainedModel, table: pa.Table, *, name: str | None = None,
                     source: str = "<scorecard>", fields: Mapping[str, str] | None = None,
                     leave_out: Sequence[str] = ()) -> ScorecardExport:
    """Fit the scorecard on ``table`` (the training table), evaluate it out of sample, and
    render it as YAML that ``parse_model`` accepts.

    ``fields`` maps a feature to the lead field a scoring model knows it by (activity features
    the engine derives from events: ``n_events`` → ``event_count``); features in ``leave_out``
    have no such field, so the scorecard is learned without them (and judged so)."""
    fields = dict(fields or {})
    # a date's month, weekday and age have no lead field a scoring model can test
    leave_out = [*leave_out, *(f.name for f in trained.schema.features if f.derived and f.name not in leave_out)]
    schema = replace(trained.schema, features=tuple(f for f in trained.schema.features if f.name not in leave_out))
    y = parse_target(table, schema.target)
    x = encode(schema, table)
    folds = int(trained.extra.get("folds", 5))
    seed = int(trained.extra.get("seed", 0))
    splits, method = make_splits(table, y, trained.time_column, folds, seed)
    points, aucs = cross_validate_scorecard(schema, x, y, splits)
    tested = np.sort(np.concatenate([t for _, t in splits]))
    card = fit_scorecard(schema, x, y)
    fit_scores = card.fit_score(x)
    text = scorecard_yaml(card, name=name or f"scorecard-{_slug(schema.target)}",
                          grade_cuts=grade_cuts_for(fit_scores), fields=fields,
                          source_note=f"Trained on {len(y)} leads; validated by {method}.")
    model = parse_model(text, source)
    _self_check(card, model, table, x, fields)
    metrics = evaluate_scores(y[tested], points[tested], probability=False)
    learned_auc = float(trained.evaluation["auc"])
    evaluation = {
        "auc": float(np.mean(aucs)),
        "auc_sd": float(np.std(aucs)),
        "auc_folds": [float(a) for a in aucs],
        "auc_pooled": roc_auc(y[tested], points[tested]),
        "auc_interval": auc_interval(y[tested], points[tested], seed=seed),
        "learned_auc": learned_auc,
        "auc_cost": learned_auc - float(np.mean(aucs)),
        "top_decile_lift": metrics["top_decile_lift"],
        "deciles": metrics["deciles"],
        "tiers": metrics["tiers"],
        "rules": sum(len(g.rules) for g in model.fit.groups),
        "fields": len(model.fit.groups),
        "max_points": model.fit.max_points,
        "model_version": model.version,
        "validation": method,
        "left_out": [name for name in leave_out if name in trained.schema.names],
    }
    return ScorecardExport(text, evaluation)


def _self_check(card: Any, model: Any, table: pa.Table, x: np.ndarray, fields: Mapping[str, str]) -> None:
    """The YAML, scored through its own rules, must give every training lead the fitted points;
    if not, say which field and value differ (the scorecard is then not written)."""
    columns = {field: feature for feature, field in fields.items()}
    fitted = card.points_for(x)
    from_yaml = yaml_fit_points(model, table, columns)
    if np.allclose(from_yaml, fitted):
        return
    row = int(np.argmax(np.abs(from_yaml - fitted)))
    culprit = ""
    for group in model.fit.groups:
        j = card.schema.names.index(group.name)
        got = float(group_points(group, table.slice(row, 1), columns)[0])
        members = [k for k, b in enumerate(card.bins) if b.feature == j]
        want = float(card.indicators(x[row:row + 1])[0, members] @ card.points[members])
        if got != want:
            value = table.column(card.schema.features[j].column)[row].as_py()
            culprit = f": field '{group.name}' with value {value!r} gets {got:g} points from the YAML, {want:g} fitted"
            break
    raise DataError(f"the exported scorecard does not score the training leads as fitted (row {row + 1}: "
                    f"{from_yaml[row]:g} points from the YAML, {fitted[row]:g} fitted){culprit}; "
                    "the scorecard was not written", None)


def _slug(name: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in name.lower()).split()) or "target"
