"""The ``leadscore`` Typer application. Subcommands live in :mod:`connector.commands`."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    name="leadscore",
    help="Transparent, versioned lead scoring for Salesforce and HubSpot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Transparent, versioned lead scoring for Salesforce and HubSpot."""
    # A callback keeps the app a group of subcommands even when only one command module is
    # imported (connector.cli imports just the module of the command being run).
