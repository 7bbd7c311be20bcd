"""Adapter errors, grouped by what the caller should do (see the whole tree in connector/errors.py).

LeadscoreError
 └── AdapterError
      ├── FatalAPIError            stop the run; a person must act
      │    ├── AuthError           token/session invalid or expired and cannot be refreshed
      │    ├── PermissionDenied    a scope / permission is missing (names it)
      │    └── LimitExhausted      the daily API budget is spent (stop, checkpoint, reschedule)
      └── RetriableAPIError        429, 5xx, timeouts, dropped connections: retried by the policy
Per-record failures are never raised: they come back as WriteResult(ok=False, ...).
"""

from __future__ import annotations

from scoring.errors import LeadscoreError

__all__ = ["AdapterError", "FatalAPIError", "AuthError", "PermissionDenied", "LimitExhausted",
           "RetriableAPIError"]


class AdapterError(LeadscoreError):
    """Something went wrong talking to a CRM."""


class FatalAPIError(AdapterError):
    """Retrying will not help; the run stops with its cursor where it was."""


class AuthError(FatalAPIError):
    """Credentials are invalid or expired."""


class PermissionDenied(FatalAPIError):
    """The token/user lacks a scope or permission; the message names it."""


class LimitExhausted(FatalAPIError):
    """The CRM's daily API limit (or our configured share of it) is used up."""


class RetriableAPIError(AdapterError):
    """A transient failure (429, 5xx, timeout); carries what the server said."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
