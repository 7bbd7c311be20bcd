"""From raw points to what a rep sees: 0–100 scores, grade, intent band, priority, reason text.

Each rule exists once as a scalar function (the explain path) and once over NumPy arrays (the
batch engine); the pairs are kept side by side so they cannot drift apart.
"""

from __future__ import annotations

import numpy as np

from .model import GRADES, ScoringModel

__all__ = [
    "normalise", "normalise_array", "combine", "combine_array", "grade", "grade_array",
    "band", "band_array", "priority", "format_points", "clip_cap", "clip_cap_array",
]


def clip_cap(total: float, cap: float | None) -> float:
    """A cap bounds the magnitude of a total, for positive and negative rules alike."""
    if cap is None:
        return total
    return min(max(total, -cap), cap)


def clip_cap_array(total: np.ndarray, cap: float | None) -> np.ndarray:
    return total if cap is None else np.clip(total, -cap, cap)


def normalise(raw: float, max_points: float) -> float:
    return min(max(raw * 100.0 / max_points, 0.0), 100.0)


def normalise_array(raw: np.ndarray, max_points: float) -> np.ndarray:
    return np.clip(raw * 100.0 / max_points, 0.0, 100.0)


def combine(fit: float, intent: float, model: ScoringModel) -> float:
    w = model.outputs.weights
    return (w.fit * fit + w.intent * intent) / (w.fit + w.intent)


def combine_array(fit: np.ndarray, intent: np.ndarray, model: ScoringModel) -> np.ndarray:
    w = model.outputs.weights
    return (w.fit * fit + w.intent * intent) / (w.fit + w.intent)


def grade(fit: float, model: ScoringModel) -> str:
    for g in GRADES:
        if fit >= model.outputs.grades[g]:
            return g
    return "F"


def grade_array(fit: np.ndarray, model: ScoringModel) -> np.ndarray:
    conditions = [fit >= model.outputs.grades[g] for g in GRADES]
    return np.select(conditions, list(GRADES), default="F")


def band(intent: float, model: ScoringModel) -> int:
    for i, minimum in enumerate(model.outputs.intent_bands):
        if intent >= minimum:
            return i + 1
    return len(model.outputs.intent_bands) + 1


def band_array(intent: np.ndarray, model: ScoringModel) -> np.ndarray:
    bands = model.outputs.intent_bands
    conditions = [intent >= minimum for minimum in bands]
    return np.select(conditions, list(range(1, len(bands) + 1)), default=len(bands) + 1)


def priority(grade_letter: str, intent_band: int) -> str:
    """The fit × intent matrix cell, e.g. ``A1`` (best fit, hottest) to ``F4``."""
    return f"{grade_letter}{intent_band}"


def format_points(value: float) -> str:
    """Signed points with one decimal, dropping a trailing ``.0``: ``+12``, ``-7.5``."""
    text = f"{value:+.1f}"
    return text[:-2] if text.endswith(".0") else text
