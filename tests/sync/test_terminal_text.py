"""Text that comes from a CRM reaches a terminal as text: no escape sequences, no rich markup."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from connector.cli import main
from connector.console import terminal_text
from connector.store import Store, StoredScore
from scoring.records import Lead

NOW = datetime(2026, 11, 20, tzinfo=timezone.utc)
HOSTILE = ("Ann\x1b[2J\x1b[31m", "Bo\x1b]52;c;ZWNobyBvd25lZA==\x07b\x1b]0;pwned\x1b\\ [bold]Lee[/]\x9b1m\x07\x08\r")


@pytest.mark.parametrize(("raw", "shown"), [
    ("Ann\x1b[31mRed\x1b[0m", "AnnRed"),                        # colours
    ("x\x1b[2J\x1b[Hy", "xy"),                                  # clear screen, cursor home
    ("a\x1b]52;c;ZXZpbA==\x07b", "ab"),                         # clipboard write (OSC 52, BEL-ended)
    ("a\x1b]0;title\x1b\\b", "ab"),                              # window title (ST-ended)
    ("a\x1b]8;;https://x.example\x1b\\link\x1b]8;;\x1b\\", "alink"),  # hyperlink
    ("q\x9b2Jr\x90data\x9cs", "qrs"),                           # 8-bit CSI and DCS
    ("tab\there\r\nnext\x00\x7f", "tab here next"),
    ("[bold]Bob[/] [link=x]", "\\[bold]Bob\\[/] \\[link=x]"),   # markup escaped, printed as written
    ("Zoë Müller 😀 李", "Zoë Müller 😀 李"),
])
def test_terminal_text(raw: str, shown: str) -> None:
    assert terminal_text(raw) == shown


def test_queue_and_explain_print_crm_names_without_their_escapes(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store.open(url)
    store.upsert_leads("t", [Lead(id="L\x1b[8m1", first_name=HOSTILE[0], last_name=HOSTILE[1], country="US")])
    store.save_scores("t", [StoredScore("L\x1b[8m1", 80.0, 50.0, 71.0, "A", "A1", "Why [b]x[/b] +5\x1b[5m", "v1")],
                      [], NOW)
    store.close()
    assert main(["queue", "--store", url, "--tenant", "t"]) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\x9b" not in shown and "\x07" not in shown and "\r" not in shown
    assert "Ann Bob [bold]Lee[/]" in shown and "L1" in shown and "Why [b]x[/b] +5" in shown
    assert main(["explain-stored", "L\x1b[8m1", "--store", url, "--tenant", "t", "--now", "2026-11-20T00:00:00Z"]) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "L1 Ann Bob [bold]Lee[/]" in shown
