"""Console output and the one place user errors become messages and exit codes."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from connector.automation.config import all_actions
from scoring.model import ScoringModel, parse_model
from scoring.yamlsource import YamlSource

from .errors import ConfigError, LeadscoreError, Problem, exit_code

__all__ = ["out", "err", "handle_errors", "load_model", "parse_now", "print_json", "terminal_text", "DEFAULT_MODEL"]

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_MODEL = "default_b2b.yaml"


#: escape sequences a terminal acts on: CSI (colours, cursor moves, screen clears), OSC (window
#: titles, hyperlinks, clipboard writes via OSC 52, ended by BEL or ST), DCS/SOS/PM/APC strings, and
#: the two-byte forms; then any other C0 or C1 control character and DEL
_ESCAPES = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
                      r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
                      r"|\x1b[ -/]*[0-~]?")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_text(value: object) -> str:
    """Text from a CRM or a file, safe to print: no escape sequences or control characters (a record's
    name must not recolour, clear or retitle the terminal, or write to the clipboard), line breaks as
    spaces, and rich markup escaped so ``[bold]`` in a name prints as written."""
    text = _CONTROLS.sub("", _ESCAPES.sub("", str(value))).replace("\t", " ").replace("\n", " ")
    return escape(text)


def handle_errors(fn: F) -> F:
    """Turn our errors into a readable message and a non-zero exit; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LeadscoreError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(exit_code(exc)) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def load_model(path: Path | None) -> ScoringModel:
    """Read and validate a model file, or the built-in default when ``path`` is None.

    Validated as strictly as a sync runs it: the thresholds' actions (types, keys, templates) too.
    """
    if path is None:
        text = resources.files("scoring").joinpath("models", DEFAULT_MODEL).read_text("utf-8")
        source = f"<built-in {DEFAULT_MODEL}>"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError([Problem(str(path), None, "", f"cannot read the model: {exc.strerror}")]) from None
        except UnicodeDecodeError:
            raise ConfigError([Problem(str(path), None, "", "the model is not UTF-8 text",
                                       "save it as UTF-8 YAML")]) from None
        source = str(path)
    model = parse_model(text, source)
    try:
        all_actions(model.thresholds, source)
    except ConfigError:
        all_actions(model.thresholds, source, YamlSource(text, source).line_of)  # again, with line numbers
    return model


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
