"""CSV inputs: a byte-order mark (Excel's "CSV UTF-8") just works; other encodings with --encoding;
a file that is not UTF-8 says so and names the option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.cli import main
from connector.inputs import load_input
from connector.tableio import column_names, read_table, use_encoding

ROWS = "id,email,title,country\r\nL1,ana@initech.com,Directeur Général,FR\r\nL2,tom@globex.com,Student,DE\r\n"


def test_a_byte_order_mark_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ROWS.encode("utf-8"))
    assert column_names(path)[0] == "id"
    assert load_input(path, "leads").table.column("id").to_pylist() == ["L1", "L2"]
    assert main(["score", "--leads", str(path), "--out", str(tmp_path / "s.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["leads"] == 2


def test_windows_1252_needs_and_takes_encoding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "windows.csv"
    path.write_bytes(ROWS.encode("cp1252"))
    assert main(["score", "--leads", str(path), "--out", str(tmp_path / "s.csv")]) == 2
    assert "not UTF-8: pass --encoding, e.g. --encoding cp1252" in capsys.readouterr().err
    assert main(["score", "--leads", str(path), "--out", str(tmp_path / "s.csv"), "--encoding", "cp1252",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["leads"] == 2
    with use_encoding("cp1252"):
        assert read_table(path).column("title").to_pylist() == ["Directeur Général", "Student"]
    # the option holds for one command only
    assert main(["score", "--leads", str(path), "--out", str(tmp_path / "s.csv")]) == 2
    capsys.readouterr()
    assert main(["explain", "L1", "--leads", str(path), "--encoding", "windows-1252", "--json"]) == 0
    assert main(["score", "--leads", str(path), "--out", str(tmp_path / "s.csv"), "--encoding", "klingon"]) == 2
    assert "unknown encoding 'klingon'" in capsys.readouterr().err
