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
