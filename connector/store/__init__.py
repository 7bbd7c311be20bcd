"""The state store (SQLite file by default, PostgreSQL by URL): see :mod:`connector.store.store`."""

from __future__ import annotations

from .errors import StoreError, StoreLocked
from .lock import SyncLock
from .schema import SCHEMA_VERSION
from .store import ActionRow, PendingWrite, Store, StoredScore, event_key, redact_url

__all__ = ["Store", "StoredScore", "PendingWrite", "ActionRow", "StoreError", "StoreLocked", "SyncLock",
           "SCHEMA_VERSION", "event_key", "redact_url"]
