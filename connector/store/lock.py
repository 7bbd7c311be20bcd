"""One sync per tenant at a time: a lock row with a lease, the same on SQLite and PostgreSQL.

Taking the lock is one INSERT of the row keyed by the lock's name; a unique-key conflict means
someone holds it. A holder renews its lease while it works (:meth:`SyncLock.renew`). The row is
taken over only when the lease has expired, or when the holder ran on this host and its process
no longer exists (a ``kill -9``: re-running at once must not wait out the lease). Take-over is
a conditional UPDATE on the old holder's id, so two contenders cannot both win.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from . import schema as s
from .errors import StoreLocked
from .store import Store

__all__ = ["SyncLock", "pid_alive"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SyncLock:
    """``with SyncLock(store, "hubspot:sync"):`` — raises :class:`StoreLocked` when held elsewhere."""

    def __init__(self, store: Store, name: str, lease: timedelta = timedelta(minutes=10),
                 clock: type[datetime] = datetime):
        self.store = store
        self.name = name
        self.lease = lease
        self.holder = uuid.uuid4().hex
        self.host = socket.gethostname()[:255]
        self.pid = os.getpid()
        self._clock = clock
        self.took_over_from: str | None = None

    def _now(self) -> datetime:
        return self._clock.now(timezone.utc)

    def acquire(self) -> SyncLock:
        now = self._now()
        row = {"name": self.name, "holder": self.holder, "host": self.host, "pid": self.pid,
               "acquired_at": now, "expires_at": now + self.lease}
        lc = s.locks.c
        with self.store.engine.begin() as conn:
            inserted = conn.execute(self.store._insert(s.locks).values(**row)
                                    .on_conflict_do_nothing(index_elements=["name"]).returning(lc.name)).first()
            if inserted is not None:
                return self
            current = conn.execute(sa.select(lc.holder, lc.host, lc.pid, lc.acquired_at, lc.expires_at)
                                   .where(lc.name == self.name)).one()
            holder, host, pid, acquired, expires = current
            dead = host == self.host and not pid_alive(pid)
            if expires > now and not dead:
                raise StoreLocked(
                    f"another sync of '{self.name}' is running (pid {pid} on {host}, since "
                    f"{acquired:%Y-%m-%d %H:%M:%S} UTC, lease until {expires:%H:%M:%S} UTC); "
                    "this run exits without doing anything. If that process is gone, the lock frees itself "
                    "when its lease ends.")
            taken = conn.execute(s.locks.update().where(lc.name == self.name, lc.holder == holder).values(**row))
            if taken.rowcount != 1:
                raise StoreLocked(f"another sync of '{self.name}' took the lock just now; this run exits")
            self.took_over_from = f"pid {pid} on {host} ({'gone' if dead else 'lease expired'})"
        return self

    def renew(self) -> None:
        """Extend the lease; raises :class:`StoreLocked` when someone took the lock over meanwhile."""
        lc = s.locks.c
        with self.store.engine.begin() as conn:
            done = conn.execute(s.locks.update().where(lc.name == self.name, lc.holder == self.holder)
                                .values(expires_at=self._now() + self.lease)).rowcount
        if done != 1:
            raise StoreLocked(f"the sync lock '{self.name}' was taken over by another run; stopping")

    def release(self) -> None:
        lc = s.locks.c
        with self.store.engine.begin() as conn:
            conn.execute(s.locks.delete().where(lc.name == self.name, lc.holder == self.holder))

    def __enter__(self) -> SyncLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
