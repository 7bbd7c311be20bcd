"""Entry point of the ``leadscore`` command."""

from __future__ import annotations

import importlib
import pkgutil
import sys

from connector import commands
from connector.app import app

__all__ = ["main"]


def _load_commands() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"{commands.__name__}.{info.name}")


def main(argv: list[str] | None = None) -> int:
    _load_commands()
    try:
        app(args=argv, prog_name="leadscore", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
