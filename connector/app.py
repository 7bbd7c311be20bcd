"""The ``leadscore`` Typer application. Subcommands live in :mod:`connector.commands`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

__all__ = ["app", "version"]

app = typer.Typer(
    name="leadscore",
    help="Transparent, versioned lead scoring for Salesforce and HubSpot.",
    epilog="Examples: leadscore demo · leadscore score --leads leads.csv --out scores.csv · "
           "leadscore doctor --crm hubspot · leadscore sync --crm hubspot · leadscore <command> -h",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class LogLevel(str, Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(str, Enum):
    text = "text"
    json = "json"


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("leadscore")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"leadscore {version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    log_level: Annotated[LogLevel | None, typer.Option(
        "--log-level", help="Log on stderr from this level (default: the log_level setting, warning)",
        case_sensitive=False)] = None,
    log_format: Annotated[LogFormat | None, typer.Option(
        "--log-format", help="text, or json: one JSON object per log line (default: the log_format setting)",
        case_sensitive=False)] = None,
    show_version: Annotated[bool, typer.Option("--version", help="Print the version and exit", is_eager=True,
                                               callback=_show_version)] = False,
) -> None:
    """Transparent, versioned lead scoring for Salesforce and HubSpot."""
    # A callback keeps the app a group of subcommands even when only one command module is
    # imported (connector.cli imports just the module of the command being run).
    from connector.logs import configure

    configure(reset=True, by_option=True, option_level=log_level.value if log_level else None,
              option_format=log_format.value if log_format else None)
