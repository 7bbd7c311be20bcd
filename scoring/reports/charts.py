"""The report's charts, as PNG bytes (matplotlib's Agg canvas; no pyplot, no global state).

Each chart answers one question a sales leader asks:

- ``distribution``: how are scores spread, and do converted leads score higher?
- ``deciles``: if reps work the top 10 % first, how much better do those leads convert?
- ``tiers``: what does each tier (A-F) convert at?
- ``calibration``: when the model says 30 %, do 30 % convert? (probabilities only)
- ``roc``: how well does the score separate converted from not, at every cut-off?
- ``gains``: what share of all conversions do the top x % of leads hold?
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..predict.metrics import roc_curve

__all__ = ["CHART_TITLES", "render_charts"]

INK = "#1f2937"
ACCENT = "#2563eb"
MUTED = "#9ca3af"
GOOD = "#16a34a"
CHART_TITLES = {
    "distribution": "Score distribution",
    "deciles": "Conversion by score decile",
    "tiers": "Conversion by tier (grade for a rules model)",
    "calibration": "Calibration: predicted vs actual",
    "roc": "ROC curve",
    "gains": "Cumulative gains (lift)",
    "drivers": "What moves the prediction most",
}


def _figure() -> tuple[Figure, Any]:
    fig = Figure(figsize=(6.4, 3.8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(colors=INK, labelsize=9)
    return fig, ax


def _png(fig: Figure) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _percent_axis(ax: Any, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0, decimals=0))


def _distribution(y: np.ndarray, score: np.ndarray, label: str) -> bytes:
    fig, ax = _figure()
    bins = np.linspace(float(np.min(score)), float(np.max(score)), 31)
    ax.hist(score[y == 0], bins=bins, color=MUTED, alpha=0.8, label="not converted")
    ax.hist(score[y == 1], bins=bins, color=ACCENT, alpha=0.75, label="converted")
    ax.set_xlabel(label)
    ax.set_ylabel("leads")
    ax.legend(frameon=False, fontsize=9)
    return _png(fig)


def _bars(rows: list[dict[str, Any]], key: str, base: float, xlabel: str) -> bytes:
    fig, ax = _figure()
    names = [str(r[key]) for r in rows]
    rates = [0.0 if np.isnan(r["conversion"]) else r["conversion"] for r in rows]
    bars = ax.bar(names, rates, color=ACCENT)
    ax.axhline(base, color=INK, linestyle="--", linewidth=1)
    ax.text(len(names) - 0.5, base, f" average {base:.0%}", va="bottom", ha="right", fontsize=8,
            color=INK)
    for bar, r in zip(bars, rows, strict=True):
        if r["leads"]:
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(),
                    f"{r['conversion']:.0%}", ha="center", va="bottom", fontsize=8, color=INK)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("conversion rate")
    _percent_axis(ax)
    return _png(fig)


def _calibration(rows: list[dict[str, Any]]) -> bytes:
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], color=MUTED, linestyle="--", linewidth=1, label="perfect")
    ax.plot([r["predicted"] for r in rows], [r["observed"] for r in rows], marker="o",
            color=ACCENT, label="model")
    ax.set_xlabel("predicted probability (mean of each tenth of leads)")
    ax.set_ylabel("actual conversion")
    _percent_axis(ax)
    _percent_axis(ax, "x")
    ax.legend(frameon=False, fontsize=9)
    return _png(fig)


def _roc(y: np.ndarray, score: np.ndarray, auc: float) -> bytes:
    fig, ax = _figure()
    fpr, tpr = roc_curve(y, score)
    ax.plot([0, 1], [0, 1], color=MUTED, linestyle="--", linewidth=1, label="random (0.50)")
    ax.plot(fpr, tpr, color=ACCENT, label=f"model (AUC {auc:.3f})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(frameon=False, fontsize=9, loc="lower right")
    return _png(fig)


def _gains(y: np.ndarray, score: np.ndarray) -> bytes:
    fig, ax = _figure()
    order = np.argsort(-score, kind="mergesort")
    captured = np.r_[0, np.cumsum(y[order]) / max(y.sum(), 1)]
    share = np.linspace(0, 1, len(captured))
    ax.plot(share, share, color=MUTED, linestyle="--", linewidth=1, label="random")
    ax.plot(share, captured, color=GOOD, label="model")
    k = max(1, len(y) // 5)
    ax.annotate(f"top 20 % hold {captured[k]:.0%} of conversions", (share[k], captured[k]),
                xytext=(0.35, 0.25), textcoords="axes fraction", fontsize=8,
                arrowprops={"arrowstyle": "->", "color": INK})
    ax.set_xlabel("share of leads, best scores first")
    ax.set_ylabel("share of all conversions")
    _percent_axis(ax)
    _percent_axis(ax, "x")
    ax.legend(frameon=False, fontsize=9, loc="lower right")
    return _png(fig)


def drivers_chart(drivers: list[tuple[str, float]], top: int = 12) -> bytes:
    """Horizontal bars: mean |change in log-odds| per field, largest on top."""
    shown = drivers[:top][::-1]
    fig = Figure(figsize=(6.4, 0.32 * len(shown) + 1.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.barh([name[:40] for name, _ in shown], [v for _, v in shown], color=ACCENT)
    ax.tick_params(colors=INK, labelsize=8)
    ax.set_xlabel("mean |effect on log-odds| vs a typical lead")
    return _png(fig)


def render_charts(y: np.ndarray, score: np.ndarray, metrics: dict[str, Any], *,
                  score_label: str = "predicted probability",
                  tier_word: str = "tier") -> dict[str, bytes]:
    """Every chart the metrics support, as ``{name: png bytes}`` in report order."""
    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    base = float(metrics["conversion_rate"])
    charts = {
        "distribution": _distribution(y, score, score_label),
        "deciles": _bars(metrics["deciles"], "decile", base, "decile (1 = best scores)"),
        "tiers": _bars(metrics["tiers"], "tier", base, tier_word),
    }
    if "calibration" in metrics:
        charts["calibration"] = _calibration(metrics["calibration"])
    charts["roc"] = _roc(y, score, metrics["auc"])
    charts["gains"] = _gains(y, score)
    return charts
