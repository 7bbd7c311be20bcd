"""``leadscore train / evaluate / predict / report / backtest / diff``: learning from history.

The learning, judging and report building are pure functions in :mod:`scoring.predict` and
:mod:`scoring.reports`; this module reads the tables, times the work, writes the files and
prints. ``--json`` prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from connector.app import app
from connector.console import err, handle_errors, out, print_json
from connector.predict_io import load_model, save_model, single_thread, write_bytes
from connector.tableio import read_table, write_table

__all__ = ["train", "evaluate", "predict"]

_THREADS = typer.Option(help="CPU threads for training (1 is fastest on a busy machine)")


def _model_table(evaluation: dict[str, Any], scorecard: dict[str, Any] | None) -> Table:
    table = Table("model", "AUC", "± sd", "log loss", "Brier", "top-decile lift", box=None,
                  title=f"Validated by {evaluation['validation']}")
    for name, m in evaluation["models"].items():
        mark = " (chosen)" if name == evaluation["chosen"] else ""
        table.add_row(name + mark, f"{m['auc']:.4f}", f"{m['auc_sd']:.4f}", f"{m['log_loss']:.4f}",
                      f"{m['brier']:.4f}", f"{m['top_decile_lift']:.2f}×")
    if scorecard:
        table.add_row("scorecard (YAML)", f"{scorecard['auc']:.4f}", f"{scorecard['auc_sd']:.4f}",
                      "", "", f"{scorecard['top_decile_lift']:.2f}×")
    return table


@app.command()
@handle_errors
def train(
    data: Annotated[Path, typer.Option(help="History table: CSV (delimiter detected), JSONL or Parquet")],
    target: Annotated[str, typer.Option(help="Outcome column: 0/1, yes/no or true/false")],
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the trained model")],
    drop: Annotated[list[str] | None, typer.Option(help="A column to leave out (ids, leaks); repeat")] = None,
    time_column: Annotated[str | None, typer.Option(help="Validate on the latest 20 % by this column")] = None,
    models: Annotated[str, typer.Option(help="Candidates, comma-separated")] = "logistic,gbm,ensemble",
    choose: Annotated[str | None, typer.Option(help="Use this model instead of the best one")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds when there is no time column")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed (folds, trees)")] = 0,
    export_scorecard: Annotated[Path | None, typer.Option(help="Also write a points-based scoring-model YAML")] = None,
    threads: Annotated[int, _THREADS] = 1,
    json_out: Annotated[bool, typer.Option("--json", help="Print the evaluation as one JSON object")] = False,
) -> None:
    """Learn conversion from history, compare a logistic model and boosted trees, keep the best."""
    from scoring.predict.export import export_scorecard as build_scorecard
    from scoring.predict.train import train as train_model

    started = time.perf_counter()
    table = read_table(data)
    kinds = tuple(k.strip() for k in models.split(",") if k.strip())
    with single_thread(threads):
        trained = train_model(table, target, drop=tuple(drop or ()), time_column=time_column,
                              kinds=kinds, choose=choose, folds=folds, seed=seed)
    train_seconds = time.perf_counter() - started
    save_model(trained, out_path)
    evaluation = dict(trained.evaluation)
    evaluation["train_seconds"] = round(train_seconds, 2)
    evaluation["model_file"] = str(out_path)
    scorecard = None
    if export_scorecard is not None:
        sc_started = time.perf_counter()
        with single_thread(threads):
            exported = build_scorecard(trained, table, source=str(export_scorecard))
        write_bytes(export_scorecard, exported.yaml_text.encode("utf-8"))
        scorecard = exported.evaluation | {"file": str(export_scorecard),
                                           "seconds": round(time.perf_counter() - sc_started, 2)}
        evaluation["scorecard"] = scorecard
    if json_out:
        print_json(evaluation)
        return
    for note in evaluation["notes"]:
        err.print(f"note: {note}")
    out.print(_model_table(evaluation, scorecard))
    out.print(f"chosen: [bold]{evaluation['chosen']}[/] AUC {evaluation['auc']:.4f}; "
              f"trained on {evaluation['rows']:,} rows in {train_seconds:.1f} s → {out_path}")
    if scorecard:
        out.print(f"scorecard: {scorecard['rules']} rules on {scorecard['fields']} fields, "
                  f"AUC {scorecard['auc']:.4f} (costs {scorecard['auc_cost']:+.4f} vs the learned "
                  f"model) → {export_scorecard}")


@app.command()
@handle_errors
def evaluate(
    model: Annotated[Path, typer.Option(help="A model written by `leadscore train`")],
    data: Annotated[Path, typer.Option(help="Table with outcomes: CSV, JSONL or Parquet")],
    target: Annotated[str, typer.Option(help="Outcome column: 0/1, yes/no or true/false")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the evaluation as one JSON object")] = False,
) -> None:
    """Judge a trained model on a table it has not seen: AUC, log loss, Brier, lift, tiers."""
    from scoring.predict.dataset import parse_target
    from scoring.predict.metrics import evaluate_scores

    trained = load_model(model)
    table = read_table(data)
    y = parse_target(table, target)
    with single_thread(1):
        p = trained.probability(table)
    metrics = evaluate_scores(y, p, cuts=trained.tier_cuts)
    metrics["model"] = trained.kind
    if json_out:
        print_json(metrics)
        return
    out.print(f"{trained.kind} on {metrics['rows']:,} leads: AUC {metrics['auc']:.4f}, "
              f"log loss {metrics['log_loss']:.4f}, Brier {metrics['brier']:.4f}, "
              f"top-decile lift {metrics['top_decile_lift']:.2f}×")
    tiers = Table("tier", "leads", "conversion", "lift", box=None, title="Conversion by tier")
    for row in metrics["tiers"]:
        tiers.add_row(row["tier"], f"{row['leads']:,}", f"{row['conversion']:.1%}",
                      f"{row['lift']:.2f}×")
    out.print(tiers)


@app.command()
@handle_errors
def predict(
    model: Annotated[Path, typer.Option(help="A model written by `leadscore train`")],
    data: Annotated[Path, typer.Option(help="Leads to score: CSV, JSONL or Parquet")],
    out_path: Annotated[Path, typer.Option("--out", help="Output table (.csv, .jsonl, .parquet)")],
    id_column: Annotated[str | None, typer.Option(help="Lead id column (default: id, else row number)")] = None,
    factors: Annotated[int, typer.Option(help="Top factors per lead (0 for none)")] = 3,
) -> None:
    """Write each lead's predicted probability, tier and top factors."""
    from scoring.predict.explain import predict_table

    trained = load_model(model)
    table = read_table(data)
    with single_thread(1):
        result = predict_table(trained, table, id_column=id_column, factors=factors)
    write_table(result, out_path)
    out.print(f"{result.num_rows:,} leads scored → {out_path}")
