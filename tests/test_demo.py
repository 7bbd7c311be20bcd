"""`leadscore demo` scores a synthetic tenant and the default model separates its converters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.cli import main


def test_demo_ranks_converters_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--leads", "3000", "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["leads"] == 3000 and summary["events"] > 0
    rates = {grade: rate for grade, _, rate in summary["conversion_by_grade"]}
    assert rates["A"] > rates["C"] > rates["F"]
    assert summary["lift_above_threshold"] >= 3  # the 3-5x rule of thumb for an MQL threshold
    assert (tmp_path / "scores.csv").exists() and (tmp_path / "events.csv").exists()


def test_demo_prints_the_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--leads", "500", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Queue: hottest first" in text and "leadscore explain" in text
