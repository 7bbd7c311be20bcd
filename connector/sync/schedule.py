"""When the next run is due: ``--every 15m`` or a five-field cron expression, pure functions.

``every`` runs are spaced from the *start* of the previous run (a run that overruns its slot is
followed at once by the next, never by two). Cron times come from croniter, in UTC.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from scoring.errors import ConfigError, Problem

__all__ = ["parse_every", "check_cron", "next_run"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``1d`` (or combined: ``1h30m``)."""
    parts = re.findall(r"(\d+)\s*([smhd])", text.strip().lower())
    if not parts or re.sub(r"\d+\s*[smhd]", "", text.strip().lower()).strip():
        raise ConfigError([Problem("--every", None, "every", f"'{text}' is not a duration", "e.g. 15m, 1h, 1h30m")])
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ConfigError([Problem("--every", None, "every", f"'{text}' must be longer than 0 seconds")])
    return timedelta(seconds=seconds)


def check_cron(expression: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(expression):
        raise ConfigError([Problem("--cron", None, "cron", f"'{expression}' is not a cron expression",
                                   "five fields: minute hour day-of-month month day-of-week, e.g. '*/15 * * * *'")])
    return expression


def next_run(last_start: datetime, now: datetime, every: timedelta | None = None, cron: str | None = None) -> datetime:
    """The next start time after a run that started at ``last_start``, as seen at ``now``."""
    if cron is not None:
        from croniter import croniter

        return croniter(cron, now).get_next(datetime)
    assert every is not None
    due = last_start + every
    return due if due > now else now
