"""From the engine's output table to what the store keeps: current scores and the audit trail.

A lead's stored score changes only when something a person could see changes (the rounded
score, fit or intent, the grade, the priority, the reasons or the model version), so a run where
decay moved nothing visible writes no rows; each such change leaves one history row saying who
(the run's actor), when (the run's ``now``), what (old → new) and why (the reasons).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa

from connector.store import StoredScore

from .diff import desired_lead_values

__all__ = ["rows_from_table", "visible", "score_changes", "predicted_values"]


def rows_from_table(table: pa.Table) -> list[StoredScore]:
    cols = [table.column(n).to_pylist() for n in
            ("lead_id", "fit", "intent", "score", "grade", "priority", "reasons", "model_version")]
    return [StoredScore(*values) for values in zip(*cols, strict=True)]


def visible(s: StoredScore) -> dict[str, Any]:
    """The values a rep sees, as written to the CRM."""
    return desired_lead_values(s.score, s.fit, s.intent, s.grade, s.priority, s.reasons, s.model_version)


def predicted_values(predictions: pa.Table) -> dict[str, dict[str, Any]]:
    """A predictive model's output as written to the CRM: the probability as a whole percent (as
    scores are whole points, so a small drift in decayed activity writes nothing) and the tier."""
    ids = predictions.column("lead_id").to_pylist()
    probability = predictions.column("probability").to_pylist()
    tiers = predictions.column("tier").to_pylist()
    return {str(lead_id): {"probability": int(p * 100 + 0.5), "probability_tier": tier}
            for lead_id, p, tier in zip(ids, probability, tiers, strict=True)}


def score_changes(old: Mapping[str, StoredScore], new: list[StoredScore], now: datetime, run_id: str,
                  actor: str) -> tuple[list[StoredScore], list[dict[str, Any]]]:
    """(scores to store, history rows) for the leads whose visible values changed."""
    changed: list[StoredScore] = []
    history: list[dict[str, Any]] = []
    for s in new:
        before = old.get(s.lead_id)
        if before is not None and visible(before) == visible(s):
            continue
        changed.append(s)
        history.append({
            "lead_id": s.lead_id, "at": now, "run_id": run_id, "actor": actor,
            "old_score": None if before is None else visible(before)["score"], "score": visible(s)["score"],
            "old_grade": None if before is None else before.grade, "grade": s.grade,
            "old_priority": None if before is None else before.priority, "priority": s.priority,
            "reasons": s.reasons, "model_version": s.model_version,
        })
    return changed, history
