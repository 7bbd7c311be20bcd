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
from connector.console import EncodingOpt, Phases, err, handle_errors, out, print_json
from connector.predict_io import load_model, save_model, single_thread, write_bytes
from connector.tableio import read_table, set_encoding, write_table

__all__ = ["train", "evaluate", "predict", "report", "backtest", "diff"]

_THREADS = typer.Option(help="CPU threads for training (1 is fastest on a busy machine)")


def _trained(path: Path) -> Any:
    """A model from `leadscore train`; a rules model (YAML) or other text file is named as such."""
    from scoring.errors import ConfigError, Problem

    if path.is_file():
        with open(path, "rb") as fh:
            head = fh.read(2)
        if path.suffix.lower() in (".yaml", ".yml") or (head and head not in (b"PK", b"\x1f\x8b")):
            kind = "a rules model (YAML)" if path.suffix.lower() in (".yaml", ".yml") else "not a leadscore model file"
            raise ConfigError([Problem(str(path), None, "--model", f"{kind}: this command takes a model written "
                                       "by `leadscore train`", "for a rules model use `leadscore report` or "
                                       "`leadscore backtest`")])
    return load_model(path)


def _need_columns(table: Any, source: Path, **options: Any) -> None:
    """Each ``--option`` naming a column must name one the table has (checked before any work)."""
    import difflib

    from scoring.errors import ConfigError, Problem

    problems = []
    for option, names in options.items():
        for name in [names] if isinstance(names, str) else (names or []):
            if name not in table.column_names:
                close = difflib.get_close_matches(name, table.column_names, n=1)
                hint = f"did you mean '{close[0]}'?" if close else \
                    "its columns are: " + ", ".join(repr(c) for c in table.column_names[:30])
                problems.append(Problem(str(source), None, "--" + option.replace("_", "-"),
                                        f"no column '{name}'", hint))
    if problems:
        raise ConfigError(problems)


def _model_table(evaluation: dict[str, Any], scorecard: dict[str, Any] | None) -> Table:
    table = Table("model", "AUC", "± sd", "95 % interval", "log loss", "Brier", "top-decile lift", box=None,
                  title=f"Validated by {evaluation['validation']}")
    for name, m in evaluation["models"].items():
        mark = (" (chosen)" if name == evaluation["chosen"]
                else "" if m.get("candidate", True) else " (ensemble member)")
        sd = f"{m['auc_sd']:.4f}" if len(m.get("auc_folds", [])) > 1 else "–"
        table.add_row(name + mark, f"{m['auc']:.4f}", sd, _interval(m.get("auc_interval")),
                      f"{m['log_loss']:.4f}", f"{m['brier']:.4f}", f"{m['top_decile_lift']:.2f}×")
    if scorecard:
        sd = f"{scorecard['auc_sd']:.4f}" if len(scorecard["auc_folds"]) > 1 else "–"
        table.add_row("scorecard (YAML)", f"{scorecard['auc']:.4f}", sd, _interval(scorecard.get("auc_interval")),
                      "", "", f"{scorecard['top_decile_lift']:.2f}×")
    return table


def _interval(pair: list[float] | None) -> str:
    return f"{pair[0]:.3f}-{pair[1]:.3f}" if pair else "–"


@app.command()
@handle_errors
def train(
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the trained model")],
    data: Annotated[Path | None, typer.Option(help="History table: CSV (delimiter detected), JSONL or Parquet")] = None,
    target: Annotated[str | None, typer.Option(help="Outcome column of --data: 0/1, yes/no or true/false")] = None,
    store: Annotated[str | None, typer.Option(help="Learn from the state store at this URL instead of --data")] = None,
    tenant: Annotated[str, typer.Option(help="Tenant in --store")] = "default",
    outcome: Annotated[str, typer.Option(help="With --store: converted (opportunity/customer/converted "
                                              "status) or customer")] = "converted",
    converted_stage: Annotated[list[str] | None, typer.Option(
        help="With --store: a lifecycle stage that counts as the outcome (replaces --outcome's); repeat")] = None,
    converted_status: Annotated[list[str] | None, typer.Option(
        help="With --store: a lead status that counts as the outcome (replaces --outcome's); repeat")] = None,
    outcome_time_field: Annotated[list[str] | None, typer.Option(
        help="With --store: a lead field holding when the outcome happened (first non-empty wins; "
             "default converted_at); repeat. With --data: the column holding it (used by the leak checks)")] = None,
    cutoff: Annotated[str | None, typer.Option(help="With --store: learn from history up to this ISO time "
                                                    "(default: now)")] = None,
    half_life_days: Annotated[float, typer.Option(help="With --store: half-life of decayed activity counts")] = 30.0,
    drop: Annotated[list[str] | None, typer.Option(help="A column to leave out (ids, leaks); repeat")] = None,
    time_column: Annotated[str | None, typer.Option(help="Validate on the latest 20 % by this column "
                                                         "(default: the table's lead-creation date, if any)")] = None,
    validation: Annotated[str, typer.Option(
        help="auto (time-ordered when there is a time column), time or folds")] = "auto",
    allow_column: Annotated[list[str] | None, typer.Option(
        help="Keep this column although the leak checks flag it (it is set before the outcome); repeat")] = None,
    models: Annotated[str, typer.Option(help="Candidates: logistic,gbm,trees,ensemble")] = "logistic,gbm,ensemble",
    choose: Annotated[str | None, typer.Option(help="Use this model instead of the best one")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds when there is no time column")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed (folds, trees)")] = 0,
    export_scorecard: Annotated[Path | None, typer.Option(help="Also write a points-based scoring-model YAML")] = None,
    threads: Annotated[int, _THREADS] = 1,
    json_out: Annotated[bool, typer.Option("--json", help="Print the evaluation as one JSON object")] = False,
    encoding: EncodingOpt = None,
) -> None:
    """Learn conversion from history: compare logistic, boosted trees, ensemble; keep the best."""
    set_encoding(encoding)
    from scoring.predict.export import export_scorecard as build_scorecard
    from scoring.predict.train import train as train_model

    started = time.perf_counter()
    kinds = tuple(k.strip() for k in models.split(",") if k.strip())
    rule = None
    if store is not None:
        from connector.predict_store import outcome_rule

        rule = outcome_rule(outcome, converted_stage, converted_status, outcome_time_field)
        table, target, own_drop, time_column, history = _store_history(store, tenant, rule, cutoff, half_life_days)
        drop = [*(drop or []), *own_drop]
        outcome_times = None
    else:
        table, history = _table_history(data, target), None
        assert data is not None
        _need_columns(table, data, target=target, time_column=time_column, drop=drop)
        outcome_times, own_drop = _table_outcome_times(table, outcome_time_field)
        drop = [*(drop or []), *own_drop]
    assert target is not None
    with single_thread(threads), Phases(not json_out) as phase:
        phase(f"training {', '.join(kinds)} on {table.num_rows:,} rows")
        trained = train_model(table, target, drop=tuple(drop or ()), time_column=time_column,
                              kinds=kinds, choose=choose, folds=folds, seed=seed,
                              allow=tuple(allow_column or ()), validation=validation,
                              outcome_times=outcome_times)
    if rule is not None:
        from connector.predict_store import remember_features

        remember_features(trained, table, rule, half_life_days)
    train_seconds = time.perf_counter() - started
    evaluation = dict(trained.evaluation)
    if history is not None:
        evaluation["store"] = history
    evaluation["train_seconds"] = round(train_seconds, 2)
    evaluation["model_file"] = str(out_path)
    scorecard = None
    if export_scorecard is not None:
        sc_started = time.perf_counter()
        with single_thread(threads), Phases(not json_out) as phase:
            phase("building the points-based scorecard")
            if history is not None:  # activity features: the ones the engine derives, under its names
                from scoring.predict.history import SCORECARD_FIELDS, is_activity

                leave_out = [f for f in trained.schema.names if is_activity(f) and f not in SCORECARD_FIELDS]
                exported = build_scorecard(trained, table, source=str(export_scorecard), fields=SCORECARD_FIELDS,
                                           leave_out=leave_out)
            else:
                exported = build_scorecard(trained, table, source=str(export_scorecard))
        scorecard = exported.evaluation | {"file": str(export_scorecard),
                                           "seconds": round(time.perf_counter() - sc_started, 2)}
        evaluation["scorecard"] = scorecard
    save_model(trained, out_path)  # only once the scorecard checked out: a failed run leaves no files
    if export_scorecard is not None:
        write_bytes(export_scorecard, exported.yaml_text.encode("utf-8"))
    warnings = _leak_warnings(evaluation)
    if json_out:
        for warning in warnings:
            err.print(f"warning: {warning}")
        print_json(evaluation)
        return
    for warning in warnings:
        err.print(f"warning: {warning}")
    for note in evaluation["notes"]:
        if not any(note.startswith(f"'{d['column']}' left out: {d['reason']}") for d in _leaks(evaluation)):
            err.print(f"note: {note}")
    out.print(f"protocol: {evaluation['validation']}, because {evaluation['protocol_reason']}")
    if history is not None:
        out.print(f"store tenant '{history['tenant']}': {history['leads']:,} leads created before "
                  f"{history['cutoff']}, {history['converted']:,} reached '{history['outcome']}' "
                  f"({history['converted_time_known']:,} with a known time, activity cut there)")
    out.print(_model_table(evaluation, scorecard))
    lo, hi = evaluation["auc_interval"]
    out.print(f"chosen: [bold]{evaluation['chosen']}[/] ({evaluation['chosen_because']}) AUC {evaluation['auc']:.4f} "
              f"(95 % interval {lo:.3f}-{hi:.3f}); trained on {evaluation['rows']:,} rows in "
              f"{train_seconds:.1f} s → {out_path}")
    if evaluation["protocol"] == "cross_validation":
        out.print(f"[dim]AUC is the mean over folds; pooled over all out-of-sample predictions it is "
                  f"{evaluation['auc_pooled']:.4f}, the figure `evaluate` gives on this table.[/]")
    if scorecard:
        if scorecard["left_out"]:
            err.print(f"note: the scorecard leaves out {', '.join(scorecard['left_out'])}: a scoring model has no "
                      "field for them (the learned model keeps them)")
        out.print(f"scorecard: {scorecard['rules']} rules on {scorecard['fields']} fields, "
                  f"AUC {scorecard['auc']:.4f} (costs {scorecard['auc_cost']:+.4f} vs the learned "
                  f"model) → {export_scorecard}")


def _leaks(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in evaluation.get("dropped", []) if d["check"] not in ("named", "no_signal")]


def _leak_warnings(evaluation: dict[str, Any]) -> list[str]:
    return [f"'{d['column']}' left out: {d['reason']} (keep it with --allow-column '{d['column']}')"
            for d in _leaks(evaluation)]


def _table_outcome_times(table: Any, fields: list[str] | None) -> tuple[Any, list[str]]:
    """With --data, ``--outcome-time-field`` names the table column holding when each lead
    converted: the leak checks use it to spot dates set after the outcome, and it is no feature."""
    if not fields:
        return None, []
    from scoring.predict.leakage import outcome_times_of

    if len(fields) > 1:
        from scoring.errors import ConfigError, Problem

        raise ConfigError([Problem("--outcome-time-field", None, "", "give one column with --data",
                                   "several are read in order only with --store")])
    return outcome_times_of(table, fields[0]), [fields[0]]


def _table_history(data: Path | None, target: str | None) -> Any:
    if data is None or target is None:
        from scoring.errors import ConfigError, Problem

        raise ConfigError([Problem("train", None, "", "nothing to learn from",
                                   "give --data FILE --target COLUMN, or --store URL --tenant T")])
    return read_table(data)


def _store_history(url: str, tenant: str, rule: Any, cutoff: str | None, half_life_days: float
                   ) -> tuple[Any, str, list[str], str, dict[str, Any]]:
    """(training table, target, columns to drop, time column, what was read) from the store."""
    from connector.console import parse_now
    from connector.predict_store import store_training_table
    from connector.store import Store
    from scoring.predict.history import TARGET, TIME_COLUMN

    moment = parse_now(cutoff)
    opened = Store.open(url, read_only=True)
    try:
        table, counts = store_training_table(opened, tenant, rule, moment, half_life_days)
    finally:
        opened.close()
    unknown = counts["converted"] - counts["converted_time_known"]
    if unknown:
        err.print(f"note: {unknown:,} converted lead(s) have no outcome time; their activity is cut at "
                  f"the cut-off {moment.isoformat()}, so activity after converting may flatter the model")
    history = {"tenant": tenant, "outcome": rule.name, "stages": sorted(rule.stages),
               "statuses": sorted(rule.statuses), "time_fields": list(rule.time_columns),
               "cutoff": moment.isoformat(), **counts}
    return table, TARGET, ["id"], TIME_COLUMN, history


@app.command()
@handle_errors
def evaluate(
    model: Annotated[Path, typer.Option(help="A model written by `leadscore train`")],
    data: Annotated[Path, typer.Option(help="Table with outcomes: CSV, JSONL or Parquet")],
    target: Annotated[str, typer.Option(help="Outcome column: 0/1, yes/no or true/false")],
    recalibrate: Annotated[Path | None, typer.Option(
        help="Also write a copy of the model recalibrated on these outcomes (ranking unchanged)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the evaluation as one JSON object")] = False,
    encoding: EncodingOpt = None,
) -> None:
    """Judge a trained model on a table it has not seen: AUC, log loss, Brier, lift, tiers, drift."""
    set_encoding(encoding)
    from connector.predict_store import drift_of
    from scoring.predict.dataset import parse_target
    from scoring.predict.metrics import auc_interval, evaluate_scores

    trained = _trained(model)
    table = read_table(data)
    _need_columns(table, data, target=target)
    y = parse_target(table, target)
    with single_thread(1):
        p, rows, out_of_sample = trained.honest_probability(table, y)
    metrics = evaluate_scores(y[rows], p, cuts=trained.tier_cuts)
    metrics["auc_interval"] = auc_interval(y[rows], p)
    metrics["model"] = trained.kind
    metrics["out_of_sample_predictions"] = out_of_sample
    if out_of_sample:
        metrics["auc_explained"] = (
            "pooled AUC of the out-of-sample predictions kept from training; `train` reports the mean of "
            f"each fold's AUC ({trained.evaluation['auc']:.4f}), which differs slightly because each fold's "
            "model scores on its own scale")
        err.print("note: this is the training table; judged on the out-of-sample predictions "
                  f"kept from training ({trained.evaluation['validation']}): pooled AUC "
                  f"{metrics['auc']:.4f}, where `train` shows the mean over folds, "
                  f"{trained.evaluation['auc']:.4f}")
        drift = None
    else:
        raw = trained.learner.probability(_encode_for(trained, table))
        drift = drift_of(trained, table, trained.tiers(raw), y, p)
    if drift is not None:
        metrics["drift"] = drift
        if drift["recalibration_advised"]:
            metrics["drift"]["recalibrate_with"] = (f"leadscore evaluate --model {model} --data {data} "
                                                    f"--target {target} --recalibrate NEW_MODEL")
    if recalibrate is not None:
        metrics["recalibrated"] = _recalibrate(trained, table, y, recalibrate)
    if json_out:
        for warning in (drift or {}).get("warnings", []):
            err.print(f"warning: {warning}")
        print_json(metrics)
        return
    lo, hi = metrics["auc_interval"]
    out.print(f"{trained.kind} on {metrics['rows']:,} leads: AUC {metrics['auc']:.4f} (95 % interval "
              f"{lo:.3f}-{hi:.3f}), log loss {metrics['log_loss']:.4f}, Brier {metrics['brier']:.4f}, "
              f"top-decile lift {metrics['top_decile_lift']:.2f}×")
    tiers = Table("tier", "leads", "conversion", "lift", box=None, title="Conversion by tier")
    for row in metrics["tiers"]:
        tiers.add_row(row["tier"], f"{row['leads']:,}", f"{row['conversion']:.1%}",
                      f"{row['lift']:.2f}×")
    out.print(tiers)
    if drift is not None:
        for warning in drift["warnings"]:
            err.print(f"warning: {warning}")
        if drift["recalibration_advised"] and recalibrate is None:
            err.print(f"  recalibrate on these outcomes: {drift['recalibrate_with']}")
        elif not drift["warnings"]:
            out.print(f"no drift: every feature and the tiers within PSI {drift['thresholds']['warn_psi']:g} "
                      "of training")
    if recalibrate is not None:
        r = metrics["recalibrated"]
        out.print(f"recalibrated model → {recalibrate}: calibration error {r['calibration_error_before']:.3f} → "
                  f"{r['calibration_error_after']:.3f} on these {r['leads']:,} leads")


def _encode_for(trained: Any, table: Any) -> Any:
    from scoring.predict.dataset import encode

    return encode(trained.schema, table)


def _recalibrate(trained: Any, table: Any, y: Any, path: Path) -> dict[str, Any]:
    """Fit the recalibration on these outcomes, save the recalibrated copy, say what it changed."""
    import copy

    from scoring.predict.drift import expected_calibration_error, fit_recalibration

    with single_thread(1):
        raw = trained.learner.probability(_encode_for(trained, table))
    before = expected_calibration_error(y, trained.calibrated(raw))
    fresh = copy.copy(trained)
    fresh.extra = {**trained.extra, "recalibration": fit_recalibration(y, raw)}
    fresh.extra.pop("fingerprint", None)  # its stored out-of-sample figures no longer apply as they are
    after = expected_calibration_error(y, fresh.calibrated(raw))
    save_model(fresh, path)
    return {"file": str(path), "leads": int(len(y)), **fresh.extra["recalibration"],
            "calibration_error_before": before, "calibration_error_after": after}


@app.command()
@handle_errors
def predict(
    model: Annotated[Path, typer.Option(help="A model written by `leadscore train`")],
    data: Annotated[Path, typer.Option(help="Leads to score: CSV, JSONL or Parquet")],
    out_path: Annotated[Path, typer.Option("--out", help="Output table (.csv, .jsonl, .parquet)")],
    id_column: Annotated[str | None, typer.Option(help="Lead id column (default: id, else row number)")] = None,
    factors: Annotated[int, typer.Option(min=0, help="Top factors per lead (0 for none)")] = 3,
    encoding: EncodingOpt = None,
) -> None:
    """Write each lead's predicted probability, tier and top factors."""
    set_encoding(encoding)
    from connector.tableio import detect_format
    from scoring.predict.explain import predict_table

    detect_format(out_path)  # a name we cannot write is an error before the work
    trained = _trained(model)
    table = read_table(data)
    _need_columns(table, data, id_column=id_column)
    with single_thread(1):
        result = predict_table(trained, table, id_column=id_column, factors=factors)
    write_table(result, out_path)
    out.print(f"{result.num_rows:,} leads scored → {out_path}")


def _rules_scores(model_path: Path, table: Any, events_path: Path | None, now: str | None,
                  id_column: str | None) -> tuple[Any, Any]:
    """Score a table with a YAML rules model through the batch engine."""
    from connector.console import load_model as load_rules
    from connector.console import parse_now
    from connector.inputs import prepare_leads
    from scoring.engine import score_tables

    rules = load_rules(model_path)
    prepared = prepare_leads(_with_id(table, id_column), str(model_path))
    _warn_bad(prepared)
    return rules, score_tables(rules, prepared.table, _prepared(events_path, "events"), parse_now(now))


def _with_id(table: Any, id_column: str | None) -> Any:
    """The engine needs an ``id`` column: take ``--id-column``, else ``id``, else row numbers."""
    import pyarrow as pa

    from scoring.predict.dataset import column_values

    if id_column and id_column != "id":
        ids = column_values(table, id_column)
        table = table.drop_columns(["id"]) if "id" in table.column_names else table
        return table.append_column("id", pa.array([str(v) for v in ids]))
    if "id" in table.column_names:
        return table
    return table.append_column("id", pa.array([str(i + 1) for i in range(table.num_rows)]))


@app.command()
@handle_errors
def report(
    data: Annotated[Path, typer.Option(help="Leads with outcomes: CSV, JSONL or Parquet")],
    target: Annotated[str, typer.Option(help="Outcome column: 0/1, yes/no or true/false")],
    model: Annotated[Path, typer.Option(help="A trained model, or a rules model (.yaml)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for report.html and the PNGs")],
    events: Annotated[Path | None, typer.Option(help="Events table (rules models only)")] = None,
    now: Annotated[str | None, typer.Option(help="Score as of this ISO time (rules models)")] = None,
    id_column: Annotated[str | None, typer.Option(help="Lead id column (rules models)")] = None,
    title: Annotated[str | None, typer.Option(help="Report title")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object")] = False,
    encoding: EncodingOpt = None,
) -> None:
    """Write a self-contained HTML report (charts inline, PNGs beside it) on a model."""
    set_encoding(encoding)
    from datetime import datetime, timezone

    from scoring.predict.dataset import encode, parse_target
    from scoring.predict.explain import importance
    from scoring.reports.html import build_report

    if out_dir.exists() and not out_dir.is_dir():
        from scoring.errors import ConfigError, Problem

        raise ConfigError([Problem(str(out_dir), None, "--out", "is a file: --out names the folder for report.html "
                                   "and its charts", "name a new or existing folder")])
    table = read_table(data)
    _need_columns(table, data, target=target, id_column=id_column)
    y = parse_target(table, target)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if model.suffix.lower() in (".yaml", ".yml"):
        with Phases(not json_out) as phase:
            phase(f"scoring {table.num_rows:,} leads with {model.name}")
            rules, scored = _rules_scores(model, table, events, now, id_column)
        result = _in_phase(not json_out, "drawing the charts and writing the report", build_report,
            y, scored.column("score").to_numpy(), probability=False, score_label="score (0-100)",
            labels=scored.column("grade").to_numpy(zero_copy_only=False), tier_word="grade",
            title=title or f"Lead scoring report: {rules.name}",
            subtitle=f"Rules model {rules.name} (version {rules.version}) on {data.name}, "
                     f"{len(y):,} leads, target '{target}'.",
            footer=f"Made by leadscore report on {stamp}.")
    else:
        trained = load_model(model)
        with single_thread(1), Phases(not json_out) as phase:
            phase(f"scoring {table.num_rows:,} leads and ranking the drivers")
            p, rows, out_of_sample = trained.honest_probability(table, y)
            drivers = importance(trained, encode(trained.schema, table))
        honesty = (f"These are the training leads, so every figure uses predictions made "
                   f"before the model saw each lead's outcome ({trained.evaluation['validation']})."
                   if out_of_sample else
                   "If these leads were used for training, the figures are optimistic.")
        result = _in_phase(not json_out, "drawing the charts and writing the report", build_report,
            y[rows], p, cuts=trained.tier_cuts, training=trained.evaluation, drivers=drivers,
            title=title or "Predictive lead scoring report",
            subtitle=f"{trained.kind} model ({model.name}) on {data.name}, {len(rows):,} leads, "
                     f"target '{target}'. {honesty}",
            footer=f"Made by leadscore report on {stamp}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, png in result.images.items():
        write_bytes(out_dir / f"{name}.png", png)
    write_bytes(out_dir / "report.html", result.html.encode("utf-8"))
    summary: dict[str, Any] = {k: result.metrics[k] for k in ("rows", "conversion_rate", "auc", "top_decile_lift",
                                              "tiers", "deciles") if k in result.metrics}
    summary |= {"html": str(out_dir / "report.html"),
                "charts": [str(out_dir / f"{n}.png") for n in result.images]}
    if json_out:
        print_json(summary)
        return
    out.print(f"AUC {summary['auc']:.4f}, top-decile lift {summary['top_decile_lift']:.2f}× → "
              f"{out_dir / 'report.html'} (+ {len(result.images)} PNGs)")


def _in_phase(enabled: bool, description: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    with Phases(enabled) as phase:
        phase(description)
        return fn(*args, **kwargs)


def _prepared_leads(path: Path, id_column: str | None) -> Any:
    """Leads for the engine: an ``id``, numbers as numbers, ``created_at``/``converted_at`` as
    timestamps (a backtest uses them to keep only leads still open at each date)."""
    from connector.inputs import parse_timestamps, prepare_leads

    prepared = prepare_leads(_with_id(read_table(path), id_column), str(path))
    _warn_bad(prepared)
    table = prepared.table
    for name in ("created_at", "converted_at"):
        if name in table.column_names:
            stamps, _bad = parse_timestamps(table.column(name))
            table = table.set_column(table.column_names.index(name), name, stamps)
    return table


def _prepared(path: Path | None, kind: str) -> Any:
    from connector.inputs import load_input

    if path is None:
        return None
    prepared = load_input(path, kind)
    _warn_bad(prepared)
    return prepared.table


def _warn_bad(prepared: Any) -> None:
    if prepared.bad:
        err.print(f"warning: {len(prepared.bad)} row(s) skipped, e.g. {prepared.bad[0]}")


def _nothing_to_read(command: str, table_options: str) -> Exception:
    from scoring.errors import ConfigError, Problem

    return ConfigError([Problem(command, None, "", "no leads to read",
                                f"give {table_options}, or --store URL --tenant T")])


def _store_tables(url: str, tenant: str, outcome: str) -> tuple[Any, Any, Any, Any]:
    """(leads, outcomes, events, accounts) of a tenant in the store, as a backtest or diff reads them."""
    from connector.predict_store import backtest_tables, outcome_rule
    from connector.store import Store

    opened = Store.open(url, read_only=True)
    try:
        leads, y, events = backtest_tables(opened, tenant, outcome_rule(outcome))
        return leads, y, events, opened.account_table(tenant)
    finally:
        opened.close()


def _as_of(values: list[str]) -> list[Any]:
    from connector.console import parse_now

    return [parse_now(v) for v in values]


@app.command()
@handle_errors
def backtest(
    model: Annotated[Path, typer.Option(help="Candidate rules model (.yaml)")],
    as_of: Annotated[list[str], typer.Option(help="Replay as of this ISO time; repeat")],
    leads: Annotated[Path | None, typer.Option(help="Leads with outcomes: CSV, JSONL or Parquet")] = None,
    target: Annotated[str | None, typer.Option(help="Outcome column of --leads: 0/1, yes/no or true/false")] = None,
    store: Annotated[str | None, typer.Option(help="Replay the state store at this URL instead of --leads")] = None,
    tenant: Annotated[str, typer.Option(help="Tenant in --store")] = "default",
    outcome: Annotated[str, typer.Option(help="With --store: converted or customer (see `train`)")] = "converted",
    events: Annotated[Path | None, typer.Option(help="Events table (lead_id, type, occurred_at...)")] = None,
    accounts: Annotated[Path | None, typer.Option(help="Accounts table (id + account fields)")] = None,
    id_column: Annotated[str | None, typer.Option(help="Lead id column (default: id, else row number)")] = None,
    capacity_share: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of leads the team can follow up (threshold verdicts)")] = 0.25,
    json_out: Annotated[bool, typer.Option("--json", help="Print the backtest as one JSON object")] = False,
    encoding: EncodingOpt = None,
) -> None:
    """Replay history under a rules model: conversion by grade, threshold lift, crossings."""
    set_encoding(encoding)
    from connector.console import load_model as load_rules
    from scoring.predict.backtest import backtest as run_backtest
    from scoring.predict.dataset import parse_target

    rules = load_rules(model)
    if store is not None:
        table, y, event_table, account_table = _store_tables(store, tenant, outcome)
    else:
        if leads is None or target is None:
            raise _nothing_to_read("backtest", "--leads FILE --target COLUMN")
        table = _prepared_leads(leads, id_column)
        y = parse_target(table, target)
        event_table = _prepared(events, "events")
        account_table = _prepared(accounts, "accounts")
    result = run_backtest(rules, table, event_table, y, _as_of(as_of), account_table, capacity_share)
    if json_out:
        print_json(result)
        return
    for run in result["as_of"]:
        out.print(f"[bold]{rules.name}[/] as of {run['as_of']}: {run['leads']:,} leads, "
                  f"conversion {run['conversion_rate']:.1%}, AUC {run['auc']:.3f}")
        grades = Table("grade", "leads", "conversion", box=None)
        for row in run["by_grade"]:
            grades.add_row(row["grade"], f"{row['leads']:,}", f"{row['conversion']:.1%}")
        out.print(grades)
        for t in run["thresholds"]:
            out.print(f"  {t['threshold']} ({t['metric']} ≥ {t['enter']:g}): {t['leads_above']:,} above "
                      f"convert at {t['conversion_above']:.1%}, {t['leads_below']:,} below at "
                      f"{t['conversion_below']:.1%}: {t['verdict']}")
    for week in result.get("crossings_per_week", []):
        out.print("  week ending " + week["week_ending"] + ": " + ", ".join(
            f"{k} {v}" for k, v in week.items() if k != "week_ending"))


@app.command()
@handle_errors
def diff(
    old: Annotated[Path, typer.Argument(help="The model in use (.yaml)")],
    new: Annotated[Path, typer.Argument(help="The candidate model (.yaml)")],
    leads: Annotated[Path | None, typer.Option(help="Leads: CSV, JSONL or Parquet")] = None,
    store: Annotated[str | None, typer.Option(help="Compare on the state store at this URL instead of --leads")] = None,
    tenant: Annotated[str, typer.Option(help="Tenant in --store")] = "default",
    events: Annotated[Path | None, typer.Option(help="Events table")] = None,
    accounts: Annotated[Path | None, typer.Option(help="Accounts table (id + account fields)")] = None,
    now: Annotated[str | None, typer.Option(help="Score as of this ISO time (default: now)")] = None,
    id_column: Annotated[str | None, typer.Option(help="Lead id column (default: id, else row number)")] = None,
    top: Annotated[int, typer.Option(help="How many of the biggest movers to list")] = 10,
    json_out: Annotated[bool, typer.Option("--json", help="Print the diff as one JSON object")] = False,
    encoding: EncodingOpt = None,
) -> None:
    """What deploying NEW instead of OLD would change: grades, priorities, thresholds, movers."""
    set_encoding(encoding)
    from connector.console import load_model as load_rules
    from connector.console import parse_now
    from scoring.predict.backtest import diff_models

    if store is not None:
        table, _y, event_table, account_table = _store_tables(store, tenant, "converted")
    else:
        if leads is None:
            raise _nothing_to_read("diff", "--leads FILE")
        table = _prepared_leads(leads, id_column)
        event_table = _prepared(events, "events")
        account_table = _prepared(accounts, "accounts")
    result = diff_models(load_rules(old), load_rules(new), table, event_table, parse_now(now), top,
                         account_table)
    if json_out:
        print_json(result)
        return
    out.print(f"{result['leads']:,} leads: {result['grade_changed']:,} change grade, "
              f"{result['priority_changed']:,} change priority, mean score change "
              f"{result['mean_score_change']:+.2f}")
    for t in result["thresholds"]:
        out.print(f"  {t['threshold']}: {t['above_before']:,} → {t['above_after']:,} above "
                  f"(+{t['enter']:,} enter, -{t['leave']:,} leave)")
    movers = Table("lead", "before", "after", "change", "grade", box=None, title="Biggest movers")
    for m in result["biggest_movers"]:
        movers.add_row(m["lead_id"], f"{m['score_before']:.1f}", f"{m['score_after']:.1f}",
                       f"{m['change']:+.1f}", f"{m['grade_before']} → {m['grade_after']}")
    out.print(movers)
