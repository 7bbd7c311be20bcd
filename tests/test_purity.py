"""scoring/ is the pure core: no I/O, no clock, no CRM or connector imports (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from .helpers import ROOT

FORBIDDEN_MODULES = {
    "connector", "adapters", "mappings", "sandbox", "requests", "urllib", "http", "socket",
    "simple_salesforce", "hubspot", "sqlalchemy", "os", "subprocess", "shutil", "time",
    "pathlib", "tempfile", "logging", "random",
}
FORBIDDEN_CALLS = {"open", "print", "input"}
CLOCK_ATTRIBUTES = {"now", "utcnow", "today", "time"}


def _modules() -> list[Path]:
    return sorted((ROOT / "scoring").rglob("*.py"))


def test_scoring_imports_nothing_impure() -> None:
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN_MODULES:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_scoring_does_no_io_and_reads_no_clock() -> None:
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} calls {node.func.id}()")
            if (isinstance(node, ast.Attribute) and node.attr in CLOCK_ATTRIBUTES
                    and isinstance(node.value, ast.Name) and node.value.id in {"datetime", "date", "time"}):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                offenders.append(f"{where} reads the clock ({node.value.id}.{node.attr})")
    assert not offenders, "\n".join(offenders)


def test_the_checker_catches_offenders(tmp_path: Path) -> None:
    """Guard against a checker that passes everything: feed it a bad module."""
    bad = "import requests\nfrom datetime import datetime\nx = datetime.now()\nopen('f')\n"
    tree = ast.parse(bad)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id in FORBIDDEN_CALLS]
    clocks = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in CLOCK_ATTRIBUTES]
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import)
               and n.names[0].name.split(".")[0] in FORBIDDEN_MODULES]
    assert calls and clocks and imports
