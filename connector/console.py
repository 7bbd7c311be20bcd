"""Console output and the one place user errors become messages and exit codes."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from scoring.model import ScoringModel, parse_model

from .errors import ConfigError, LeadscoreError, Problem, exit_code

__all__ = ["out", "err", "handle_errors", "load_model", "parse_now", "print_json", "DEFAULT_MODEL",
           "settings_for"]

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_MODEL = "default_b2b.yaml"


def handle_errors(fn: F) -> F:
    """Turn our errors into a readable message and a non-zero exit; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LeadscoreError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
            if kwargs.get("json_out"):
                problems = [p.__dict__ for p in exc.problems] if isinstance(exc, ConfigError) else []
                print_json({"ok": False, "error": str(exc), "exit_code": exit_code(exc), "problems": problems})
            raise typer.Exit(exit_code(exc)) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def settings_for(config: Path | None, uses: tuple[str, ...]) -> Any:
    """The settings a command uses (see :func:`connector.settings.load_settings`), with logging
    set up from them unless ``--log-level``/``--log-format`` said otherwise."""
    from connector.logs import configure
    from connector.settings import load_settings

    settings = load_settings(config, (*uses, "log"))
    configure(settings.log_level, settings.log_format)
    return settings


def load_model(path: Path | None) -> ScoringModel:
    """Read and validate a model file, or the built-in default when ``path`` is None."""
    if path is None:
        text = resources.files("scoring").joinpath("models", DEFAULT_MODEL).read_text("utf-8")
        return parse_model(text, f"<built-in {DEFAULT_MODEL}>")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, "", f"cannot read the model: {exc.strerror}")]) from None
    if data[:2] == b"\x1f\x8b" or data[:1] == b"\x80":
        raise ConfigError([Problem(str(path), None, "", "this is a trained model (from `leadscore train`), not a "
                                   "rules model", "give a scoring-model YAML, e.g. from `leadscore init`")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError([Problem(str(path), None, "", "not a text file: a scoring model is YAML",
                                   "e.g. from `leadscore init`")]) from None
    return parse_model(text, str(path))


def parse_now(value: str | None) -> datetime:
    """``--now``: an ISO-8601 moment (UTC when no zone is given); default the current time."""
    if value is None:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError([Problem("--now", None, "now", f"'{value}' is not an ISO-8601 time",
                                   "e.g. 2026-11-01T00:00:00Z")]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()
