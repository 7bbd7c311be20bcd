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

from scoring.model import ScoringModel, parse_model

from .errors import ConfigError, LeadscoreError, Problem, exit_code

__all__ = ["out", "err", "handle_errors", "load_model", "parse_now", "print_json", "DEFAULT_MODEL"]

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
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(exit_code(exc)) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def load_model(path: Path | None) -> ScoringModel:
    """Read and validate a model file, or the built-in default when ``path`` is None."""
    if path is None:
        text = resources.files("scoring").joinpath("models", DEFAULT_MODEL).read_text("utf-8")
        return parse_model(text, f"<built-in {DEFAULT_MODEL}>")
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, "", f"cannot read the model: {exc.strerror}")]) from None
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
