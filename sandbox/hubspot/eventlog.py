"""A read-only, columnar log of events (page views, form submissions, marketing email events).

A tenant with a million contacts has tens of millions of events; as Python objects they would
not fit. They stay in a pyarrow table sorted by (key, time), where the key is the contact id (or
the form index), with a second permutation sorted by time alone. A query is two binary searches
and one ``take`` of the page it returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["EventLog"]


class EventLog:
    def __init__(self, keys: Any, times_ms: Any, columns: pa.Table | None = None,
                 codes: Any = None) -> None:
        keys_np = np.asarray(keys, dtype=np.int64)
        times_np = np.asarray(times_ms, dtype=np.int64)
        if len(keys_np) != len(times_np):
            raise ValueError("EventLog: keys and times must have the same length")
        order = np.lexsort((times_np, keys_np))
        self.keys = keys_np[order]
        self.times = times_np[order]
        self.table = (columns.take(pa.array(order)) if columns is not None
                      else pa.table({"_": pa.nulls(len(order))}))
        codes_np = (np.zeros(len(order), np.int32) if codes is None
                    else np.asarray(codes, dtype=np.int32))
        self.codes = codes_np[order]  # a small int per row (event type), to filter on
        self.by_time = np.argsort(self.times, kind="stable")
        self.times_by_time = self.times[self.by_time]

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def empty(cls) -> EventLog:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), None)

    def select(self, key: int | None = None, start_ms: int | None = None,
               end_ms: int | None = None, newest_first: bool = False,
               code: int | None = None) -> np.ndarray:
        """Row positions matching, in time order (or newest first); ``end_ms`` is inclusive."""
        if key is not None:
            lo = int(np.searchsorted(self.keys, key, "left"))
            hi = int(np.searchsorted(self.keys, key, "right"))
            times = self.times[lo:hi]
            a = lo + (0 if start_ms is None else int(np.searchsorted(times, start_ms, "left")))
            b = lo + (len(times) if end_ms is None
                      else int(np.searchsorted(times, end_ms, "right")))
            rows = np.arange(a, max(a, b))
        else:
            a = 0 if start_ms is None else int(np.searchsorted(self.times_by_time, start_ms,
                                                               "left"))
            b = (len(self.times_by_time) if end_ms is None
                 else int(np.searchsorted(self.times_by_time, end_ms, "right")))
            rows = self.by_time[a:max(a, b)]
        if code is not None:
            rows = rows[self.codes[rows] == code]
        return rows[::-1] if newest_first else rows

    def rows(self, positions: np.ndarray) -> list[dict[str, Any]]:
        """Materialise rows: each dict has ``key``, ``time_ms`` and the table's columns."""
        if len(positions) == 0:
            return []
        idx = pa.array(positions.astype(np.int64))
        out = self.table.take(idx).to_pylist()
        for row, pos in zip(out, positions.tolist(), strict=True):
            row["key"] = int(self.keys[pos])
            row["time_ms"] = int(self.times[pos])
        return out
