"""A self-contained HTML report: one file, charts inlined as base64 PNG, no scripts, no CDN.

Written for the person an admin forwards it to: the headline first in plain words ("the top
10 % of leads convert at 3.1× the average"), then the charts, then the tables behind them.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..predict.metrics import evaluate_scores
from .charts import CHART_TITLES, drivers_chart, render_charts

__all__ = ["Report", "build_report"]


@dataclass
class Report:
    html: str
    images: dict[str, bytes]  # chart name → PNG, also written beside the HTML
    metrics: dict[str, Any]


_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#1f2937;
margin:0;background:#f9fafb}
main{max-width:1080px;margin:0 auto;padding:28px}
h1{font-size:26px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 10px}
.sub{color:#6b7280;margin:0 0 18px}
.kpis{display:grid;grid-template-columns:repeat(4,1fr);gap:12px}
.kpi{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:14px}
.kpi b{display:block;font-size:26px;color:#2563eb} .kpi span{color:#6b7280;font-size:13px}
.headline{background:#eff6ff;border-left:4px solid #2563eb;padding:12px 16px;margin:18px 0;
border-radius:6px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:14px}
figure{background:#fff;border:1px solid #e5e7eb;border-radius:10px;margin:0;padding:10px}
figure img{width:100%;height:auto} figcaption{font-weight:600;margin:0 0 6px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:14px}
th,td{border-bottom:1px solid #e5e7eb;padding:6px 10px;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#f3f4f6}
footer{color:#9ca3af;font-size:12px;margin-top:28px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _pct(x: float) -> str:
    return "–" if x is None or np.isnan(x) else f"{x:.1%}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _headline(metrics: dict[str, Any], tier_word: str) -> str:
    top = metrics["deciles"][0]
    tiers = metrics["tiers"]
    a = tiers[0]
    rest = [t for t in tiers[1:] if t["leads"]]
    below = sum(t["conversion"] * t["leads"] for t in rest) / max(sum(t["leads"] for t in rest), 1)
    ratio = a["conversion"] / below if below else float("nan")
    return (f"The top 10 % of leads by score convert at <b>{_pct(top['conversion'])}</b>, "
            f"<b>{top['lift']:.1f}×</b> the average of {_pct(metrics['conversion_rate'])}. "
            f"{tier_word.capitalize()} {a['tier']} converts at {_pct(a['conversion'])}, "
            f"{ratio:.1f}× the rest of the leads "
            f"({_pct(below)}). AUC {metrics['auc']:.3f}: a random converted lead outscores a random "
            f"unconverted one {metrics['auc']:.0%} of the time.")


def _interval(pair: list[float] | None) -> str:
    return f"{pair[0]:.3f}-{pair[1]:.3f}" if pair else "–"


def build_report(y: np.ndarray, score: np.ndarray, *, title: str, subtitle: str,
                 probability: bool = True, cuts: list[float] | None = None,
                 score_label: str = "predicted probability",
                 training: dict[str, Any] | None = None, footer: str = "",
                 labels: np.ndarray | None = None, tier_word: str = "tier",
                 drivers: list[tuple[str, float]] | None = None) -> Report:
    """Measure ``score`` against outcomes ``y`` and lay the results out as one HTML page.

    ``drivers`` (field, mean |effect|) adds a chart of what moves predictions most.
    ``labels`` are the leads' own tiers (a rules model's grades, called ``tier_word``) used
    instead of score quantiles. ``training`` is a training evaluation (``TrainedModel.evaluation``) whose out-of-sample
    model comparison is shown too; ``footer`` says where and when it was made (the caller
    knows the clock and the files).
    """
    metrics = evaluate_scores(y, score, probability=probability, cuts=cuts, labels=labels)
    images = render_charts(y, score, metrics, score_label=score_label, tier_word=tier_word)
    if drivers:
        images["drivers"] = drivers_chart(drivers)
    kpis = [
        (f"{metrics['auc']:.3f}", "AUC (0.5 = chance, 1 = perfect)"),
        (f"{metrics['top_decile_lift']:.1f}×", "top-decile lift"),
        (_pct(metrics["conversion_rate"]), f"conversion of {metrics['rows']:,} leads"),
        ((f"{metrics['brier']:.3f}", "Brier score (lower is better)") if probability
         else (_pct(metrics["tiers"][0]["conversion"]),
               f"conversion of {tier_word} {metrics['tiers'][0]['tier']}")),
    ]
    parts = [f"<h1>{_e(title)}</h1><p class='sub'>{_e(subtitle)}</p>",
             "<div class='kpis'>" + "".join(f"<div class='kpi'><b>{_e(v)}</b><span>{_e(k)}</span></div>"
                                            for v, k in kpis) + "</div>",
             f"<p class='headline'>{_headline(metrics, tier_word)}</p>",
             "<h2>Charts</h2><div class='grid'>"]
    for name, png in images.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<figure><figcaption>{_e(CHART_TITLES[name])}</figcaption>"
                     f"<img alt='{_e(CHART_TITLES[name])}' src='data:image/png;base64,{data}'></figure>")
    parts.append("</div>")
    cuts_shown = [*metrics["tier_cuts"], None] if labels is None else [None] * len(metrics["tiers"])
    parts.append(f"<h2>Conversion by {_e(tier_word)}</h2>" + _table(
        [tier_word, "leads", "conversion", "lift vs average", "minimum score"],
        [[t["tier"], f"{t['leads']:,}", _pct(t["conversion"]), f"{t['lift']:.2f}×",
          f"{cut:.3g}" if cut is not None else "–"]
         for t, cut in zip(metrics["tiers"], cuts_shown, strict=True)]))
    parts.append("<h2>Conversion by decile</h2>" + _table(
        ["decile", "leads", "conversion", "lift", "minimum score"],
        [[str(d["decile"]), f"{d['leads']:,}", _pct(d["conversion"]), f"{d['lift']:.2f}×",
          f"{d['min_score']:.3g}"] for d in metrics["deciles"]]))
    if training and training.get("models"):
        why = training.get("protocol_reason")
        parts.append(f"<h2>Models compared in training</h2><p class='sub'>"
                     f"{_e(training.get('validation', ''))}" + (f" ({_e(why)})" if why else "")
                     + f", on {training.get('rows', 0):,} leads; figures on leads each model did not learn "
                     "from. The AUC here is the mean over folds; the AUC at the top of this report pools "
                     "every out-of-sample prediction, so the two differ slightly.</p>" + _table(
                         ["model", "AUC", "± sd", "95 % interval", "log loss", "Brier", "top-decile lift"],
                         [[name + (" (used)" if name == training.get("chosen") else ""),
                           f"{m['auc']:.4f}", f"{m['auc_sd']:.4f}", _interval(m.get("auc_interval")),
                           f"{m['log_loss']:.4f}", f"{m['brier']:.4f}", f"{m['top_decile_lift']:.2f}×"]
                          for name, m in training["models"].items()]))
        leaks = [d for d in training.get("dropped", []) if d.get("check") not in ("named", "no_signal")]
        if leaks:
            parts.append("<h2>Columns left out by the leak checks</h2>" + _table(
                ["column", "check", "why"], [[d["column"], d["check"], d["reason"]] for d in leaks]))
    parts.append(f"<footer>{_e(footer)}</footer>")
    page = ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width'><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body><main>{''.join(parts)}</main></body></html>")
    return Report(page, images, metrics)
