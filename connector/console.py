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
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from connector.automation.config import all_actions
from scoring.model import ScoringModel, parse_model
from scoring.yamlsource import YamlSource

from .errors import ConfigError, LeadscoreError, Problem, exit_code

__all__ = ["out", "err", "handle_errors", "load_model", "parse_now", "print_json", "terminal_text", "DEFAULT_MODEL",
           "settings_for", "Phases", "EncodingOpt"]

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
            if kwargs.get("json_out"):
                problems = [p.__dict__ for p in exc.problems] if isinstance(exc, ConfigError) else []
                print_json({"ok": False, "error": str(exc), "exit_code": exit_code(exc), "problems": problems})
            raise typer.Exit(exit_code(exc)) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


class Phases:
    """Progress of a long command on stderr, one line per phase: a spinner while it runs, a tick
    and its time once the next begins (finished phases stop), a count and its total where known.
    Off when stderr is not a terminal or ``enabled`` is false::

        with Phases(not json_out) as phase:
            phase("starting the sandbox")
            phase("writing", total=len(rows)); phase.advance(100)
    """

    def __init__(self, enabled: bool = True, transient: bool = False, console: Console | None = None):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = console or err
        self._bar = Progress(SpinnerColumn(finished_text="[green]✓[/]"), TextColumn("{task.description}"),
                             TextColumn("{task.fields[count]}"), TimeElapsedColumn(), console=self.console,
                             transient=transient, disable=not enabled or not self.console.is_terminal)
        self._current: Any = None
        self._tasks: dict[str, Any] = {}
        self._totals: dict[Any, int] = {}  # the totals callers gave (the rest are counts without one)

    def __enter__(self) -> Phases:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Phases:
        self._bar.start()
        return self

    def stop(self) -> None:
        """Finish every phase and stop drawing (safe to call twice)."""
        self.finish()
        self._bar.stop()

    def __call__(self, description: str, total: int | None = None) -> None:
        """Start a phase (finishing the one before), or switch back to one already started."""
        if description in self._tasks:
            task_id = self._tasks[description]
            if task_id is not self._current:
                self.finish()
                done = self._task(task_id).completed  # running again: its clock restarts
                self._bar.reset(task_id, total=self._totals.get(task_id), completed=done)
                self._current = task_id
            if total is not None:
                self._totals[task_id] = total
                self._bar.update(task_id, total=total)
            self._label(task_id)
            return
        self.finish()
        self._current = self._bar.add_task(description, total=total, count="")
        if total is not None:
            self._totals[self._current] = total
        self._tasks[description] = self._current
        self._label(self._current)

    def advance(self, n: int, description: str | None = None) -> None:
        if description is not None and self._tasks.get(description) is not self._current:
            self(description)
        if self._current is not None:
            self._bar.advance(self._current, n)
            self._label(self._current)

    def _task(self, task_id: Any) -> Any:
        return next(t for t in self._bar.tasks if t.id == task_id)

    def _label(self, task_id: Any) -> None:
        task, total = self._task(task_id), self._totals.get(task_id)
        done = f"{task.completed:,.0f}" if task.completed or total is not None else ""
        self._bar.update(task_id, count=done + (f" of {total:,}" if total is not None else ""))

    def finish(self) -> None:
        """Mark every phase finished (a tick, its time frozen), keeping its count."""
        for task in self._bar.tasks:
            if not task.finished:
                self._bar.update(task.id, total=max(task.completed, task.total or 0))
                if not self._task(task.id).finished:
                    self._bar.update(task.id, completed=self._task(task.id).total)
        self._current = None


EncodingOpt = Annotated[str | None, typer.Option(
    "--encoding", help="Encoding of CSV inputs (default UTF-8, with or without a byte-order mark), "
                       "e.g. cp1252 for a Windows or Excel export")]


def settings_for(config: Path | None, uses: tuple[str, ...]) -> Any:
    """The settings a command uses (see :func:`connector.settings.load_settings`), with logging
    set up from them unless ``--log-level``/``--log-format`` said otherwise."""
    from connector.logs import configure
    from connector.settings import load_settings

    settings = load_settings(config, (*uses, "log"))
    configure(settings.log_level, settings.log_format)
    return settings


def load_model(path: Path | None) -> ScoringModel:
    """Read and validate a model file, or the built-in default when ``path`` is None.

    Validated as strictly as a sync runs it: the thresholds' actions (types, keys, templates) too.
    """
    if path is None:
        text = resources.files("scoring").joinpath("models", DEFAULT_MODEL).read_text("utf-8")
        return _with_actions(parse_model(text, f"<built-in {DEFAULT_MODEL}>"), text, f"<built-in {DEFAULT_MODEL}>")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, "", f"cannot read the model: {exc.strerror}")]) from None
    if data[:2] in (b"\x1f\x8b", b"PK") or data[:1] == b"\x80":
        raise ConfigError([Problem(str(path), None, "", "this is a trained model (from `leadscore train`), not a "
                                   "rules model", "give a scoring-model YAML, e.g. from `leadscore init`")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError([Problem(str(path), None, "", "not a text file: a scoring model is YAML",
                                   "e.g. from `leadscore init`")]) from None
    return _with_actions(parse_model(text, str(path)), text, str(path))


def _with_actions(model: ScoringModel, text: str, source: str) -> ScoringModel:
    """``model`` once its thresholds' actions validate; the problems name their lines otherwise."""
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
