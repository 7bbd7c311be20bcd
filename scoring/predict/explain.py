"""Per-lead predictions and why: probability, tier, and the fields that moved it most.

A rep who sees "78 % likely to convert" wants the reason in the same breath. For any model
(trees included) the effect of a field on one lead is measured the same simple way: how much
the lead's log-odds change when that field is replaced by its most typical value (the median
of a number, the most common category). "+0.9" means the field raises the odds ×2.5 compared
with an otherwise identical, typical lead.

:func:`predict_table` is the output the sync engine writes back beside the rules score:
one row per lead with ``lead_id``, ``probability``, ``tier``, ``factors`` and ``model_version``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .dataset import FeatureSchema, encode
from .train import TrainedModel

__all__ = ["contributions", "importance", "describe_value", "top_factors", "predict_table"]


def contributions(model: TrainedModel, x: np.ndarray) -> np.ndarray:
    """(rows × features) change in log-odds due to each field versus the typical value."""
    ref = model.extra.get("reference")
    if ref is None:
        raise ValueError("this model has no reference row; retrain it with this version")
    base = model.learner.logit(x)
    out = np.zeros(x.shape)
    for j in range(x.shape[1]):
        same = (x[:, j] == ref[j]) | (np.isnan(x[:, j]) & np.isnan(ref[j]))
        if same.all():
            continue
        swapped = x.copy()
        swapped[:, j] = ref[j]
        out[:, j] = np.where(same, 0.0, base - model.learner.logit(swapped))
    return out


def importance(model: TrainedModel, x: np.ndarray, limit: int = 2000) -> list[tuple[str, float]]:
    """Fields by how much they move leads' log-odds on average (mean |contribution|), largest
    first, over at most ``limit`` evenly spaced rows (the cost is one prediction per field)."""
    rows = np.unique(np.linspace(0, max(len(x) - 1, 0), num=min(limit, len(x))).astype(int))
    means = (np.abs(contributions(model, x[rows])).mean(axis=0) if len(rows)
             else np.zeros(x.shape[1]))
    order = np.argsort(-means, kind="mergesort")
    return [(model.schema.features[j].name, float(means[j])) for j in order]


def describe_value(schema: FeatureSchema, j: int, value: float) -> str:
    feat = schema.features[j]
    if np.isnan(value):
        return "(missing)"
    if feat.is_numeric:
        return f"{value:g}"
    code = int(value)
    return feat.labels[code] if code < len(feat.labels) else "(other)"


def top_factors(model: TrainedModel, x: np.ndarray, k: int = 3) -> list[str]:
    """For each row, its ``k`` strongest fields as text: ``Lead Origin = Lead Add Form (+1.9)``."""
    contrib = contributions(model, x)
    out = []
    for i in range(x.shape[0]):
        order = np.argsort(-np.abs(contrib[i]), kind="mergesort")[:k]
        parts = [f"{model.schema.features[j].name} = "
                 f"{describe_value(model.schema, j, x[i, j])} ({contrib[i, j]:+.2f})"
                 for j in order if abs(contrib[i, j]) >= 0.005]
        out.append("; ".join(parts))
    return out


def predict_table(model: TrainedModel, table: pa.Table, *, id_column: str | None = None,
                  factors: int = 3) -> pa.Table:
    """``lead_id``, ``probability``, ``tier`` (A-F, the training cut-offs), ``factors`` and
    ``model_version``.

    ``id_column`` defaults to ``id`` when the table has one, else the row number.
    """
    x = encode(model.schema, table)
    p = model.learner.probability(x)
    if id_column is None and "id" in table.column_names:
        id_column = "id"
    if id_column is not None:
        if id_column not in table.column_names:
            raise ValueError(f"id column '{id_column}' is not in the table; its columns are: "
                             + ", ".join(repr(c) for c in table.column_names))
        ids = table.column(id_column).cast(pa.string())
    else:
        ids = pa.array([str(i + 1) for i in range(table.num_rows)])
    columns = {
        "lead_id": ids,
        "probability": pa.array(np.round(model.calibrated(p), 4)),
        "tier": pa.array(model.tiers(p).astype(str).tolist()),  # cut-offs are on the learner's scale
    }
    if factors:
        columns["factors"] = pa.array(top_factors(model, x, factors))
    columns["model_version"] = pa.repeat(model.version, table.num_rows)
    return pa.table(columns)
