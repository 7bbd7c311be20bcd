"""Logging with the standard library: ``--log-level`` and ``--log-format text|json`` (or the
``log_level`` / ``log_format`` settings), on stderr.

Modules log through ``logging.getLogger(__name__)``; this module only decides where the lines go
and what they look like. A filter masks anything shaped like a credential (a bearer token, a
HubSpot private-app token, a ``password=`` or ``token=`` pair) in every line, as a second guard:
we never log secrets on purpose.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

__all__ = ["configure", "configured_by_option", "LEVELS", "FORMATS", "mask_secrets"]

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
_HANDLER_NAME = "leadscore"
_state: dict[str, str | None] = {"level": None, "format": None}  # what --log-level / --log-format said

_SECRET_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1**********"),
    (re.compile(r"\bpat-[A-Za-z0-9-]{6,}"), "**********"),
    (re.compile(r"(?i)((?:password|passwd|secret|token|session_id|sessionid|api_key|access_token|refresh_token|"
                r"client_secret|security_token)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}]+"), r"\1**********"),
]
#: the standard LogRecord attributes; anything else on a record is an ``extra`` field
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def mask_secrets(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, timezone.utc).strftime("%H:%M:%S")
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{stamp} {record.levelname.lower():<7} {record.name}: {record.getMessage()}"
        line += f" {fields}" if fields else ""
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return mask_secrets(line)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
            **_extras(record)}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return mask_secrets(json.dumps(data, default=str))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (tests and tools swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure(level: str = "warning", fmt: str = "text", by_option: bool = False, reset: bool = False,
              option_level: str | None = None, option_format: str | None = None) -> None:
    """Send log lines at ``level`` and above to stderr as ``fmt``. ``--log-level`` and
    ``--log-format`` (``by_option``, with ``option_level``/``option_format``) win over the settings
    for the rest of the command line; ``reset`` starts a new one."""
    if reset:  # a new command line: what an earlier one's options said no longer holds
        _state.update(level=None, format=None)
    if by_option:
        _state.update(level=option_level or _state["level"], format=option_format or _state["format"])
    level = _state["level"] or level
    fmt = _state["format"] or fmt
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.WARNING))
    for noisy in ("urllib3", "werkzeug", "matplotlib", "PIL"):  # their debug lines carry request details
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))


def configured_by_option() -> bool:
    return _state["level"] is not None or _state["format"] is not None
