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
    "doctor": "doctor", "store": "store",
}


def _load_commands(argv: list[str] | None = None) -> None:
    name = next((a for a in (argv or []) if not a.startswith("-")), None)
    if name in COMMANDS:
        importlib.import_module(f"{commands.__name__}.{COMMANDS[name]}")
        return
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"{commands.__name__}.{info.name}")


#: a module that comes with an optional extra -> the extra
EXTRAS = {"sklearn": "predict", "scipy": "predict", "matplotlib": "predict", "skops": "predict",
          "psycopg": "postgres", "duckdb": "bench", "psutil": "bench"}
#: OS errors that mean "fix the command line" (a path that is not there, or not what it should be)
_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError, PermissionError)


def _fail(message: str, code: int, as_json: bool) -> int:
    from rich.markup import escape

    from connector.console import err, print_json

    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    if as_json:
        print_json({"ok": False, "error": message, "exit_code": code})
    return code


def main(argv: list[str] | None = None) -> int:
    """Run one command; every way it can end becomes a message and a documented exit code:
    0 ok, 1 failed while working (a CRM, the store), 2 usage or configuration, 3 bad input rows,
    4 some records failed, 130 interrupted. Never a traceback (``--log-level debug`` logs one for
    an unexpected error)."""
    import typer

    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    try:
        _load_commands(args)
        result = app(args=args, prog_name="leadscore", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.TyperException as exc:  # usage errors: bad or missing arguments and options
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        if as_json:
            from connector.console import print_json

            print_json({"ok": False, "error": exc.format_message(), "exit_code": exc.exit_code})
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return _fail("interrupted", 130, as_json)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top in EXTRAS:
            return _fail(f"this command needs {top}, which comes with the '{EXTRAS[top]}' extra: "
                         f"pip install 'leadscore[{EXTRAS[top]}]'", 2, as_json)
        return _unexpected(exc, as_json)
    except Exception as exc:  # noqa: BLE001 - the one place an error becomes an exit code
        from connector.errors import LeadscoreError, exit_code

        if isinstance(exc, LeadscoreError):
            return _fail(str(exc), exit_code(exc), as_json)
        if isinstance(exc, _PATH_ERRORS):
            where = f" {exc.filename}" if exc.filename else ""
            return _fail(f"cannot use{where}: {exc.strerror or exc}", 2, as_json)
        return _unexpected(exc, as_json)
    finally:
        from connector.tableio import set_encoding

        set_encoding("utf-8")  # an --encoding holds for one command
    return int(result) if isinstance(result, int) else 0


def _unexpected(exc: BaseException, as_json: bool) -> int:
    import logging

    logging.getLogger("connector.cli").debug("unexpected error", exc_info=exc)
    return _fail(f"unexpected {type(exc).__name__}: {exc} (a bug in leadscore: please report it with the output "
                 "of --log-level debug)", 1, as_json)


if __name__ == "__main__":
    sys.exit(main())
