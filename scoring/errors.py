"""Errors the pure core raises. The whole tree is drawn in ``connector/errors.py``.

LeadscoreError
 ├── ConfigError          a file the user wrote is wrong: fix the file (names file, line, key path)
 │    └── ModelError      ... and that file is a scoring model
 └── DataError            a data table cannot be used as it is (names the column)
"""

from __future__ import annotations

__all__ = ["LeadscoreError", "ConfigError", "ModelError", "Problem", "DataError"]

from dataclasses import dataclass


class LeadscoreError(Exception):
    """Root of every error leadscore raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration file, located as precisely as we can."""

    source: str  # file name (or "<string>")
    line: int | None  # 1-based
    path: str  # key path such as "intent.groups[0].rules[2].decay"
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        text = f"{where}: {self.path or '<root>'}: {self.message}"
        return text + (f" ({self.hint})" if self.hint else "")


class ConfigError(LeadscoreError):
    """A configuration file (mapping, settings, model) is invalid. Carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ModelError(ConfigError):
    """A scoring model file is invalid."""


class DataError(LeadscoreError):
    """A training or scoring table cannot be used as it is: a missing or non-binary column, too
    few rows, a column that leaks the outcome. ``column`` names the column when there is one."""

    def __init__(self, message: str, column: str | None = None):
        self.column = column
        super().__init__(message)
