"""One sync per tenant at a time: a lock row with a lease, the same on SQLite and PostgreSQL.

Taking the lock is one INSERT of the row keyed by the lock's name; a unique-key conflict means
someone holds it. While the lock is held (``with SyncLock(...)``) a heartbeat thread renews the
lease every quarter of it, whatever the run is doing (a slow write-back or hundreds of actions
included), so a live run never loses it to the clock. The row is taken over only when the lease
has expired, or when the holder ran on this host and its process no longer exists (a ``kill -9``:
re-running at once must not wait out the lease). Take-over is a conditional UPDATE on the old
holder's id, so two contenders cannot both win.

The holder id is the run's fencing token: before each write and each action the run calls
:meth:`SyncLock.check`, a renewal conditional on still being the holder. A run that lost the lock
anyway (its process stalled past the lease and another run took over) stops there with
:class:`StoreLocked` instead of acting beside the new holder, which finishes the work once.
"""

from __future__ import annotations

import os
import socket
import threading
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

    def __init__(self, store: Store, name: str, lease: timedelta = timedelta(minutes=2),
                 clock: type[datetime] = datetime, heartbeat: timedelta | None = None):
        self.store = store
        self.name = name
        self.lease = lease
        self.holder = uuid.uuid4().hex
        self.host = socket.gethostname()[:255]
        self.pid = os.getpid()
        self._clock = clock
        self.took_over_from: str | None = None
        self.heartbeat = heartbeat if heartbeat is not None else lease / 4
        self.lost: str | None = None  # why the lock is no longer ours, once the heartbeat finds out
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

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
        if self.lost:
            raise StoreLocked(self.lost)
        lc = s.locks.c
        with self.store.engine.begin() as conn:
            done = conn.execute(s.locks.update().where(lc.name == self.name, lc.holder == self.holder)
                                .values(expires_at=self._now() + self.lease)).rowcount
        if done != 1:
            self.lost = (f"the sync lock '{self.name}' was taken over by another run (this run's lease ran out); "
                         "stopping before anything more is written or sent: the other run finishes the work")
            raise StoreLocked(self.lost)

    #: the fencing check before each write and action: the lease is still ours, and now longer
    check = renew

    def _beating(self) -> None:
        while not self._stop.wait(self.heartbeat.total_seconds()):
            try:
                self.renew()
            except StoreLocked:
                return
            except Exception:  # noqa: BLE001 - a busy or briefly unreachable store: the next beat tries again,
                continue       # and check() before the next action finds out if the lease was lost meanwhile

    def start_heartbeat(self) -> None:
        if self._beat is None and self.heartbeat.total_seconds() > 0:
            self._beat = threading.Thread(target=self._beating, name=f"lease {self.name}", daemon=True)
            self._beat.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None

    def release(self) -> None:
        self.stop_heartbeat()
        lc = s.locks.c
        with self.store.engine.begin() as conn:
            conn.execute(s.locks.delete().where(lc.name == self.name, lc.holder == self.holder))

    def __enter__(self) -> SyncLock:
        self.acquire()
        self.start_heartbeat()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
