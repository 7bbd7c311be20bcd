"""Entry point of the ``leadscore`` command.

Each subcommand lives in a module of :mod:`connector.commands`. Only the module of the command
being run is imported (scoring a file should not pay for SQLAlchemy, Werkzeug or scikit-learn);
``--help`` and unknown names import them all. ``tests/test_cli_registry.py`` keeps
:data:`COMMANDS` complete.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from connector import commands
from connector.app import app

__all__ = ["COMMANDS", "main"]

#: subcommand -> module in connector.commands
COMMANDS = {
    "init": "scoring", "check": "scoring", "score": "scoring", "explain": "scoring",
    "demo": "demo", "install": "install", "check-mapping": "mapping", "sandbox": "sandbox",
    "train": "predict", "evaluate": "predict", "predict": "predict", "report": "predict",
    "backtest": "predict", "diff": "predict",
    "sync": "sync", "run": "sync", "queue": "sync", "explain-stored": "sync", "actions": "actions",
}


def _load_commands(argv: list[str] | None = None) -> None:
    name = next((a for a in (argv or []) if not a.startswith("-")), None)
    if name in COMMANDS:
        importlib.import_module(f"{commands.__name__}.{COMMANDS[name]}")
        return
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"{commands.__name__}.{info.name}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    _load_commands(args)
    try:
        app(args=args, prog_name="leadscore", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
