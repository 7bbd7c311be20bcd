"""Progress on a terminal: one line per phase, a tick once finished (no spinner left running),
counts with their totals where known; nothing when stderr is not a terminal or under --json."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from connector import console
from connector.cli import main

pytestmark = pytest.mark.slow
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=buffer, force_terminal=True, width=160))
    return buffer


def _last_frame(buffer: io.StringIO) -> list[str]:
    """The lines of the last frame drawn, without terminal control codes."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    lines = [line.rstrip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines


def test_the_demo_shows_its_phases_and_finished_ones_stop(terminal: io.StringIO, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--leads", "120", "--out", str(tmp_path / "demo")]) == 0
    lines = _last_frame(terminal)
    final = lines[-9:]
    names = ["making a synthetic tenant of 120 leads", "starting the hubspot sandbox", "installing leadscore's fields",
             "first sync: pulled accounts", r"first sync: pulled leads\s+120", r"first sync: scoring\s+120 of 120",
             "first sync: written"]
    for name in names:
        assert any(re.search(name, line) for line in lines), (name, lines)
    assert all(line.startswith("✓") for line in final), final  # every phase finished: a tick, no spinner
    written = next(line for line in final if "first sync: written" in line)
    assert re.search(r"written\s+\d[\d,]* of \d[\d,]*", written), written
    assert re.search(r"second sync: scoring\s+120 of 120", "\n".join(final))
    assert "Queue: hottest first" in capsys.readouterr().out


def test_offline_demo_phases_and_none_under_json(terminal: io.StringIO, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--offline", "--leads", "300", "--out", str(tmp_path / "d")]) == 0
    lines = _last_frame(terminal)
    assert [line.split("  ")[0] for line in lines[-3:]] == [
        "✓ making a synthetic tenant of 300 leads", f"✓ scoring 300 leads and {lines[-2].split('and ')[1].split()[0]}"
        " events", f"✓ writing {tmp_path / 'd'}"]
    capsys.readouterr()
    terminal.truncate(0)
    terminal.seek(0)
    assert main(["demo", "--offline", "--leads", "300", "--out", str(tmp_path / "d"), "--json"]) == 0
    assert terminal.getvalue() == ""


def test_phases_count_with_totals_and_finish() -> None:
    buffer = io.StringIO()
    term = Console(file=buffer, force_terminal=True, width=100)
    with console.Phases(console=term) as phase:
        phase("reading")
        phase("writing", total=250)
        phase.advance(100)
        phase.advance(150)
        phase("reading")  # back to a started phase: it stays finished only when the command ends
        phase.advance(7)
    lines = _last_frame(buffer)[-2:]
    assert lines[0].startswith("✓ reading 7") and lines[1].startswith("✓ writing 250 of 250"), lines
    assert not any(ch in "".join(lines) for ch in SPINNER)
