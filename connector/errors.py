"""Every error leadscore raises on purpose, grouped by what the caller should do.

LeadscoreError
 ├── ConfigError              fix the file: names file, line, key path, bad value   (exit 2)
 │    └── ModelError          ... the file is a scoring model
 ├── DataError                a data table cannot be used (column named)            (exit 2)
 ├── InputError               bad rows in an input file, with their line numbers    (exit 3)
 └── AdapterError             talking to a CRM (adapters/errors.py)                 (exit 1)
      ├── FatalAPIError       stop the run, cursor untouched; a person must act
      │    ├── AuthError          credentials invalid or expired
      │    ├── PermissionDenied   a scope or permission is missing (named)
      │    └── LimitExhausted     the daily API budget is spent: checkpoint, reschedule
      └── RetriableAPIError   429, 5xx, timeouts: retried by adapters/retry.py
Per-record failures are results (adapters.base.WriteResult), never exceptions.
"""

from __future__ import annotations

from scoring.errors import ConfigError, DataError, LeadscoreError, ModelError, Problem

from .inputs import BadRow

__all__ = ["LeadscoreError", "ConfigError", "DataError", "ModelError", "Problem", "InputError", "exit_code"]


class InputError(LeadscoreError):
    """An input file has rows we cannot use, and the user asked to fail on them."""

    def __init__(self, rows: list[BadRow]):
        self.rows = rows
        shown = "\n".join(str(r) for r in rows[:20])
        more = f"\n... and {len(rows) - 20} more" if len(rows) > 20 else ""
        super().__init__(f"{len(rows)} bad row(s):\n{shown}{more}")


def exit_code(error: LeadscoreError) -> int:
    if isinstance(error, ConfigError | DataError):
        return 2
    if isinstance(error, InputError):
        return 3
    return 1
