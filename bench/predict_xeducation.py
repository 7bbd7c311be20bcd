"""Full-size predictive-scoring figures on X Education, as one JSON object.

    .venv/bin/python -m bench.predict_xeducation [--data PATH] [--threads 1]

Reads ../shared/datasets/x_education_leads.csv (never copied into the repository), drops the
columns that leak the outcome (Tags, Lead Quality, Lead Profile, Asymmetrique*) and the two
identifiers, and reports: stratified 5-fold AUC (mean ± sd, 95 % bootstrap interval) of each model and of the exported
scorecard, the seconds each step took, and the scorecard's AUC when its YAML is scored by the
batch engine (``score_tables``): 5-fold on unseen leads, and in sample.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from connector.predict_io import single_thread
from connector.tableio import read_table
from scoring.engine import score_tables
from scoring.model import parse_model
from scoring.predict.dataset import encode, infer_schema, parse_target
from scoring.predict.export import export_scorecard
from scoring.predict.metrics import roc_auc
from scoring.predict.scorecard import fit_scorecard, grade_cuts_for, scorecard_yaml
from scoring.predict.train import make_splits, train

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "x_education_leads.csv"
LEAKS = ["Tags", "Lead Quality", "Lead Profile", "Asymmetrique Activity Index",
         "Asymmetrique Profile Index", "Asymmetrique Activity Score", "Asymmetrique Profile Score"]
IDS = ["Prospect ID", "Lead Number"]
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def engine_cross_validation(table: pa.Table, y: np.ndarray) -> list[float]:
    """Scorecard AUC with the YAML scored by ``score_tables`` on folds it was not learned on:
    the schema, bins, points and YAML are rebuilt from each training part alone."""
    leads = table.append_column("id", pa.array([str(i) for i in range(table.num_rows)]))
    splits, _ = make_splits(leads, y, None, 5, 0)
    aucs = []
    for train_rows, test_rows in splits:
        learn = leads.take(train_rows)
        schema = infer_schema(learn, "Converted", LEAKS + IDS + ["id"])
        x = encode(schema, learn)
        card = fit_scorecard(schema, x, y[train_rows])
        yaml_text = scorecard_yaml(card, name="fold", grade_cuts=grade_cuts_for(card.fit_score(x)))
        scored = score_tables(parse_model(yaml_text, "fold.yaml"), leads.take(test_rows), None, NOW)
        aucs.append(roc_auc(y[test_rows], scored.column("score").to_numpy()))
    return aucs


def run(data: Path, threads: int) -> dict[str, object]:
    table = read_table(data)
    with single_thread(threads):
        started = time.perf_counter()
        trained = train(table, "Converted", drop=LEAKS + IDS)
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        exported = export_scorecard(trained, table, source="scorecard.yaml")
        scorecard_seconds = time.perf_counter() - started
    model = parse_model(exported.yaml_text, "scorecard.yaml")
    leads = table.append_column("id", pa.array([str(v) for v in table.column("Prospect ID").to_pylist()]))
    started = time.perf_counter()
    scored = score_tables(model, leads, None, NOW)
    engine_seconds = time.perf_counter() - started
    y = parse_target(table, "Converted")
    with single_thread(threads):
        engine_aucs = engine_cross_validation(table, y)
    ev = trained.evaluation
    return {
        "rows": ev["rows"],
        "features": len(ev["features"]),
        "validation": ev["validation"],
        "models": {k: {"auc": round(m["auc"], 4), "auc_sd": round(m["auc_sd"], 4),
                       "log_loss": round(m["log_loss"], 4), "brier": round(m["brier"], 4),
                       "top_decile_lift": round(m["top_decile_lift"], 3)}
                   for k, m in ev["models"].items()},
        "chosen": ev["chosen"],
        "chosen_auc": round(ev["auc"], 4),
        "chosen_auc_interval": [round(a, 4) for a in ev["auc_interval"]],
        "protocol": ev["protocol"],
        "left_out_by_leak_checks": [d["column"] for d in ev["dropped"] if d["check"] not in ("named", "no_signal")],
        "scorecard": {"auc": round(exported.evaluation["auc"], 4),
                      "auc_sd": round(exported.evaluation["auc_sd"], 4),
                      "auc_cost": round(exported.evaluation["auc_cost"], 4),
                      "auc_interval": [round(a, 4) for a in exported.evaluation["auc_interval"]],
                      "rules": exported.evaluation["rules"],
                      "engine_auc_5fold": round(float(np.mean(engine_aucs)), 4),
                      "engine_auc_5fold_sd": round(float(np.std(engine_aucs)), 4),
                      "engine_auc_in_sample": round(roc_auc(y, scored.column("fit").to_numpy()), 4)},
        "seconds": {"train_all_models_with_cv": round(train_seconds, 2),
                    "scorecard_with_cv": round(scorecard_seconds, 2),
                    "engine_score_9240": round(engine_seconds, 3)},
        "final_fit_seconds_note": "train_all_models_with_cv includes 5-fold CV of every candidate",
        "threads": threads,
        "load_average": _load(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }


def _load() -> list[float] | None:
    try:
        import os

        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run(args.data, args.threads)))


if __name__ == "__main__":
    main()
