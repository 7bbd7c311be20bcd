"""``leadscore store upgrade`` and ``leadscore store status``: the state store's schema.

``sync`` and ``run`` upgrade the schema themselves (under the migration lock); commands that only
read (``queue``, ``explain-stored``, ``train/backtest/diff --store``, ``doctor``) never change it
and say when it is behind. ``store upgrade`` does it explicitly, e.g. before starting workers.
"""

from __future__ import annotations

from typing import Annotated

import typer

from connector.app import app
from connector.console import handle_errors, out, print_json, settings_for

__all__ = ["store_app", "upgrade", "status"]

store_app = typer.Typer(help="The state store's schema: upgrade it, or see where it is.", no_args_is_help=True)
app.add_typer(store_app, name="store")

StoreOpt = Annotated[str | None, typer.Option("--store", help="Store URL (default: the store_url setting, "
                                              "sqlite:///leadscore.db)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout")]


@store_app.command()
@handle_errors
def upgrade(store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """Bring the store's schema to this leadscore's newest revision (creating it if new), under a lock."""
    from connector.store import Store, redact_url

    url = store or settings_for(None, ("store",)).store_url
    before = _status_or_none(url)
    opened = Store.open(url)
    try:
        after = Store.status(url)
    finally:
        opened.close()
    changed = before is None or before["revision"] != after["revision"]
    summary = {"store": redact_url(url), "from": before["revision"] if before else None, "to": after["revision"],
               "changed": changed}
    if json_out:
        print_json(summary)
    elif changed:
        out.print(f"upgraded {summary['store']} from {summary['from'] or 'nothing'} to {summary['to']}",
                  highlight=False)
    else:
        out.print(f"{summary['store']} is up to date (schema {summary['to']})", highlight=False)


def _status_or_none(url: str) -> dict | None:
    from connector.store import Store, StoreError

    try:
        state = Store.status(url)
    except StoreError:
        return None
    return state if state["revision"] else None


@store_app.command()
@handle_errors
def status(store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """The store's schema revision and the newest this leadscore has; changes nothing (exit 1 when behind)."""
    from connector.store import Store, redact_url

    url = store or settings_for(None, ("store",)).store_url
    state = Store.status(url) | {"store": redact_url(url)}
    if json_out:
        print_json(state)
    else:
        word = "up to date" if state["current"] else ("newer than this leadscore" if state["newer"] else "behind")
        out.print(f"{state['store']}: schema {state['revision'] or 'none'}, newest {state['head']}: {word}",
                  highlight=False)
    if not state["current"]:
        raise typer.Exit(1)
