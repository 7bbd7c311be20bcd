"""Every subcommand is listed in connector.cli.COMMANDS under the module that defines it."""

from __future__ import annotations

from connector.app import app
from connector.cli import COMMANDS, _load_commands


def test_command_registry_is_complete() -> None:
    _load_commands()
    registered = {(c.name or c.callback.__name__): c.callback.__module__ for c in app.registered_commands}
    registered |= {g.name: g.typer_instance.registered_commands[0].callback.__module__ for g in app.registered_groups}
    assert {name: f"connector.commands.{module}" for name, module in COMMANDS.items()} == registered


def test_a_command_runs_when_only_its_module_is_loaded() -> None:
    """Typer collapses an app with one command into that command; the root callback prevents it."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "connector.cli", "demo", "--help"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "synthetic tenant" in result.stdout
