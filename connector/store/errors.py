"""Store errors: what went wrong with the state store, and what to do about it.

LeadscoreError
 └── StoreError            the store cannot be used as it is (names the URL without secrets)
      └── StoreLocked      another sync of this tenant is running: wait for it, or check the holder
"""

from __future__ import annotations

from scoring.errors import LeadscoreError

__all__ = ["StoreError", "StoreLocked"]


class StoreError(LeadscoreError):
    """The state store is unreachable, or its schema is newer than this leadscore."""


class StoreLocked(StoreError):
    """Another run holds this tenant's sync lock."""
