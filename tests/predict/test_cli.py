"""The commands end to end on small files: train → evaluate / predict / report; backtest; diff."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from connector.cli import main
from connector.tableio import read_table

CHROMIUM = Path("/usr/bin/chromium")


def _json_tail(capsys: pytest.CaptureFixture[str]) -> dict:
    lines = capsys.readouterr().out.strip().splitlines()
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, history: pa.Table) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("predict")
    data = root / "history.csv"
    # semicolons, as a European CRM export would have them: the delimiter is detected
    text = ";".join(history.column_names) + "\n" + "\n".join(
        ";".join("" if v is None else str(v) for v in row.values()) for row in history.to_pylist())
    data.write_text(text + "\n")
    return {"root": root, "data": data, "model": root / "model.pkl", "card": root / "card.yaml"}


@pytest.fixture(scope="module")
def trained(files: dict[str, Path]) -> dict:
    code = main(["train", "--data", str(files["data"]), "--target", "Converted", "--drop", "id",
                 "--time-column", "Created", "--out", str(files["model"]),
                 "--export-scorecard", str(files["card"]), "--json"])
    assert code == 0
    return {}


def test_train_json_is_one_object_on_the_last_line(files, capsys) -> None:
    code = main(["train", "--data", str(files["data"]), "--target", "Converted", "--drop", "id",
                 "--drop", "Created", "--models", "logistic,gbm", "--folds", "3",
                 "--out", str(files["root"] / "m2.pkl"), "--json"])
    assert code == 0
    result = _json_tail(capsys)
    assert set(result["models"]) == {"logistic", "gbm"}
    assert result["chosen"] in result["models"]
    for key in ("auc", "log_loss", "brier", "top_decile_lift", "deciles", "tiers", "train_seconds"):
        assert key in result
    assert len(result["deciles"]) == 10 and [t["tier"] for t in result["tiers"]] == list("ABCDF")


def test_train_with_time_column_and_scorecard(trained, files, capsys) -> None:
    from connector.console import load_model as load_rules

    assert files["model"].exists()
    rules = load_rules(files["card"])
    assert rules.fit.groups and rules.thresholds[0].name == "mql"


def test_bad_target_exits_non_zero_and_says_what_it_saw(files, capsys) -> None:
    code = main(["train", "--data", str(files["data"]), "--target", "Lead Source",
                 "--out", str(files["root"] / "x.pkl")])
    assert code != 0
    assert "must be binary" in capsys.readouterr().err


def test_evaluate_and_predict(trained, files, capsys, history) -> None:
    assert main(["evaluate", "--model", str(files["model"]), "--data", str(files["data"]),
                 "--target", "Converted", "--json"]) == 0
    metrics = _json_tail(capsys)
    assert 0.7 < metrics["auc"] <= 1 and metrics["brier"] < 0.25
    # the training table: judged on the time holdout's predictions, not refitted ones
    assert metrics["out_of_sample_predictions"] and metrics["rows"] == history.num_rows // 5
    out = files["root"] / "scores.jsonl"
    assert main(["predict", "--model", str(files["model"]), "--data", str(files["data"]),
                 "--out", str(out)]) == 0
    scores = read_table(out)
    assert scores.num_rows == history.num_rows
    assert scores.column("lead_id").to_pylist()[0] == "L00000"


def test_report_is_self_contained_and_renders(trained, files, capsys) -> None:
    report_dir = files["root"] / "report"
    assert main(["report", "--data", str(files["data"]), "--target", "Converted",
                 "--model", str(files["model"]), "--out", str(report_dir), "--json"]) == 0
    summary = _json_tail(capsys)
    page = (report_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 7 == len(summary["charts"])
    assert {Path(c).stem for c in summary["charts"]} == {
        "distribution", "deciles", "tiers", "calibration", "roc", "gains", "drivers"}
    assert "<script" not in page and "http" not in page.split("<body>")[1]
    for chart in summary["charts"]:
        png = Path(chart).read_bytes()
        assert png.startswith(b"\x89PNG") and base64.b64encode(png).decode() in page
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium) to check rendering")
    shot = report_dir / "screenshot.png"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1200,1800",
                    (report_dir / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=60)
    from matplotlib.image import imread

    pixels = imread(shot)[:, :, :3]
    blue = (pixels[:, :, 2] > 0.8) & (pixels[:, :, 0] < 0.3)  # the charts' bars and lines
    assert blue.mean() > 0.005, "the charts did not render"


def test_report_on_a_rules_model_shows_its_grades(trained, files, capsys) -> None:
    report_dir = files["root"] / "rules-report"
    assert main(["report", "--data", str(files["data"]), "--target", "Converted",
                 "--model", str(files["card"]), "--now", "2026-01-01", "--out", str(report_dir),
                 "--json"]) == 0
    summary = _json_tail(capsys)
    assert {t["tier"] for t in summary["tiers"]} <= {"A", "B", "C", "D", "F"}
    page = (report_dir / "report.html").read_text()
    assert "Conversion by grade" in page and "Calibration" not in page  # a score, not a probability


def test_backtest_and_diff_on_the_exported_scorecard(trained, files, capsys, history) -> None:
    assert main(["backtest", "--model", str(files["card"]), "--leads", str(files["data"]),
                 "--target", "Converted", "--as-of", "2026-01-01", "--json"]) == 0
    result = _json_tail(capsys)
    run = result["as_of"][0]
    assert run["leads"] == history.num_rows and run["auc"] > 0.7
    mql = run["thresholds"][0]
    assert mql["threshold"] == "mql" and mql["lift"] > 1.5
    assert mql["lift_within_rule"] == (3 <= mql["lift"] <= 5)
    grades = [g["grade"] for g in run["by_grade"]]
    rates = {g["grade"]: g["conversion"] for g in run["by_grade"]}
    assert rates[min(grades)] > rates[max(grades)]  # A converts better than the lowest grade
    edited = files["root"] / "edited.yaml"
    text = files["card"].read_text()
    edited.write_text(text.replace("name: scorecard-converted", "name: edited", 1)
                      .replace("  max_points: ", "  max_points: 1", 1))  # 1NNN: fit scores shrink
    assert main(["diff", str(files["card"]), str(edited), "--leads", str(files["data"]),
                 "--now", "2026-01-01", "--json"]) == 0
    d = _json_tail(capsys)
    assert d["mean_score_change"] < 0 and d["grade_changed"] > 0
    assert d["thresholds"][0]["leave"] > 0 and d["thresholds"][0]["enter"] == 0
    assert len(d["biggest_movers"]) == 10
    assert all(m["change"] < 0 for m in d["biggest_movers"])


def test_a_file_that_is_not_a_model_is_refused_with_a_message(files, capsys) -> None:
    bogus = files["root"] / "bogus.pkl"
    bogus.write_text("not a model")
    assert main(["evaluate", "--model", str(bogus), "--data", str(files["data"]),
                 "--target", "Converted"]) != 0
    assert "not a leadscore model file" in capsys.readouterr().err


def test_a_target_copy_stops_train_with_exit_2_naming_it_and_leaves_no_files(files, capsys, history) -> None:
    leaky = files["root"] / "leaky.csv"
    rows = history.append_column("Won", history.column("Converted")).to_pylist()
    leaky.write_text(",".join(rows[0]) + "\n" + "\n".join(
        ",".join("" if v is None else str(v) for v in r.values()) for r in rows) + "\n")
    out, card = files["root"] / "leaky.pkl", files["root"] / "leaky.yaml"
    code = main(["train", "--data", str(leaky), "--target", "Converted", "--drop", "id", "--models", "logistic",
                 "--out", str(out), "--export-scorecard", str(card)])
    err = capsys.readouterr().err
    assert code == 2 and "'Won'" in err and "--allow-column 'Won'" in err and "Traceback" not in err
    assert not out.exists() and not card.exists()


def test_too_little_history_exits_2_with_the_number_needed(files, capsys, history) -> None:
    small = files["root"] / "small.csv"
    small.write_text(",".join(history.column_names) + "\n" + "\n".join(
        ",".join("" if v is None else str(v) for v in r.values()) for r in history.slice(0, 12).to_pylist()) + "\n")
    code = main(["train", "--data", str(small), "--target", "Converted", "--out", str(files["root"] / "s.pkl")])
    assert code == 2 and "12 rows (need at least 100)" in capsys.readouterr().err


def test_train_says_its_protocol_and_what_it_dropped(trained, files, capsys) -> None:
    code = main(["train", "--data", str(files["data"]), "--target", "Converted", "--models", "logistic",
                 "--out", str(files["root"] / "auto.pkl"), "--json"])
    assert code == 0
    result = _json_tail(capsys)
    assert result["protocol"] == "time_ordered" and result["time_column"] == "Created"  # found, not given
    assert {"column": "Constant", "check": "no_signal", "reason": "always 'no'"} in result["dropped"]
    assert "auc_pooled" in result and "mean of each fold" in result["auc_explained"]


def test_evaluate_on_drifted_leads_warns_and_recalibrates(trained, files, capsys, history) -> None:
    import numpy as np

    from connector.predict_io import load_model

    model = load_model(files["model"])
    p = model.probability(history)
    best = history.take(np.sort(np.argsort(-p)[:400]))  # only the most promising leads
    drifted = files["root"] / "drifted.jsonl"
    drifted.write_text("\n".join(json.dumps(r) for r in best.to_pylist()) + "\n")
    fixed = files["root"] / "recalibrated.pkl"
    assert main(["evaluate", "--model", str(files["model"]), "--data", str(drifted), "--target", "Converted",
                 "--recalibrate", str(fixed), "--json"]) == 0
    captured = capsys.readouterr()
    metrics = json.loads(captured.out.strip().splitlines()[-1])
    assert "score drift" in captured.err and "base-rate drift" in captured.err
    assert metrics["drift"]["recalibration_advised"]
    r = metrics["recalibrated"]
    assert fixed.exists() and r["calibration_error_after"] < r["calibration_error_before"]
