"""Records of one CRM object type, indexed so a million of them stay cheap to page through.

Each record keeps only its non-empty property values (strings, as HubSpot returns them); the
id, create date and last-modified date are fields of the record, rendered into properties on
output. Two indexes make the incremental-sync queries fast without materialising lists per
request: ids in creation order (``hs_object_id`` order, append-only) and a sorted index of
``(last modified ms, id)`` packed into one int. Archived (deleted) records stay in ``records``
with their archive time, leave the modified index and the unique-value indexes, and join a
third, ascending list of archived ids that ``GET ...?archived=true`` pages through. The caller
(the portal) holds the lock.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

from sortedcontainers import SortedList

from sandbox.hubspot.schema import ObjectType, iso_ms

__all__ = ["ObjectStore", "Record"]

_ID_BITS = 40  # ids up to ~1.1e12 fit beside a millisecond timestamp in one int key


@dataclass(slots=True)
class Record:
    id: int
    props: dict[str, str]
    created_ms: int
    updated_ms: int
    archived: bool = False
    archived_ms: int | None = None  # when it was archived (HubSpot's ``archivedAt``)
    merged_into: int | None = None  # merged away: reads of this id answer with that record

    def value(self, type_: ObjectType, name: str) -> str | None:
        if name == "hs_object_id":
            return str(self.id)
        if name == type_.created_property:
            return iso_ms(self.created_ms)
        if name == type_.modified_property:
            return iso_ms(self.updated_ms)
        return self.props.get(name)

    def render(self, type_: ObjectType, names: list[str] | tuple[str, ...]) -> dict[str, str | None]:
        return {n: self.value(type_, n) for n in names}


class ObjectStore:
    """All records of one object type; not thread-safe on its own (see module doc)."""

    def __init__(self, type_: ObjectType, first_id: int = 1) -> None:
        self.type = type_
        self.records: dict[int, Record] = {}
        self.order: list[int] = []  # ids ascending (ids are handed out increasing)
        self.by_modified: SortedList = SortedList()
        self.archived_order: list[int] = []  # archived ids ascending
        self.gone_order: list[int] = []  # archived or merged-away ids ascending (not counted as live)
        self.unique: dict[str, dict[str, int]] = {p: {} for p in type_.unique_properties}
        self.next_id = first_id

    def __len__(self) -> int:
        return len(self.records)

    @staticmethod
    def key(ms: int, id_: int) -> int:
        return (ms << _ID_BITS) | id_

    @staticmethod
    def key_id(key: int) -> int:
        return key & ((1 << _ID_BITS) - 1)

    def new_id(self) -> int:
        id_ = self.next_id
        self.next_id += 1
        return id_

    def add(self, props: dict[str, str], created_ms: int, updated_ms: int,
            id_: int | None = None) -> Record:
        if id_ is None:
            id_ = self.new_id()
        elif id_ >= self.next_id:
            self.next_id = id_ + 1
        if self.order and id_ <= self.order[-1]:
            raise ValueError(f"{self.type.name}: ids must be added in increasing order ({id_})")
        rec = Record(id_, {k: v for k, v in props.items() if v not in (None, "")},
                     created_ms, updated_ms)
        self.records[id_] = rec
        self.order.append(id_)
        self.by_modified.add(self.key(updated_ms, id_))
        for name, index in self.unique.items():
            value = rec.props.get(name)
            if value:
                index[value.lower()] = id_
        return rec

    def bulk_load(self, rows: list[tuple[int, dict[str, str], int, int]]) -> None:
        """Seed many records at once (ids increasing); builds the index in one sort."""
        keys = []
        for id_, props, created_ms, updated_ms in rows:
            rec = Record(id_, props, created_ms, updated_ms)
            self.records[id_] = rec
            self.order.append(id_)
            keys.append(self.key(updated_ms, id_))
            for name, index in self.unique.items():
                value = props.get(name)
                if value:
                    index[value.lower()] = id_
            if id_ >= self.next_id:
                self.next_id = id_ + 1
        self.by_modified.update(keys)

    def get(self, id_: int) -> Record | None:
        """The live record with this id; a merged-away id answers with the record it went into."""
        rec = self.records.get(id_)
        hops = 0
        while rec is not None and rec.merged_into is not None and hops < 100:
            rec, hops = self.records.get(rec.merged_into), hops + 1
        return rec if rec is not None and not rec.archived else None

    def find_unique(self, name: str, value: str) -> Record | None:
        id_ = self.unique.get(name, {}).get(value.lower())
        return self.get(id_) if id_ is not None else None

    def update(self, rec: Record, props: dict[str, str], now_ms: int) -> None:
        for name, index in self.unique.items():
            if name in props:
                old = rec.props.get(name)
                if old:
                    index.pop(old.lower(), None)
                if props[name]:
                    index[props[name].lower()] = rec.id
        for k, v in props.items():
            if v in (None, ""):
                rec.props.pop(k, None)
            else:
                rec.props[k] = v
        self.touch(rec, now_ms)

    def touch(self, rec: Record, now_ms: int) -> None:
        """Move the record's last-modified stamp forward (never backward) and reindex it."""
        new_ms = max(now_ms, rec.updated_ms)
        self.by_modified.discard(self.key(rec.updated_ms, rec.id))
        rec.updated_ms = new_ms
        self.by_modified.add(self.key(new_ms, rec.id))

    def archive(self, rec: Record, now_ms: int) -> None:
        """Move a live record to the recycling bin (HubSpot's archive; the record is kept)."""
        if rec.archived:
            return
        rec.archived = True
        rec.archived_ms = now_ms
        bisect.insort(self.archived_order, rec.id)
        self._leave(rec)

    def merge(self, secondary: Record, primary: Record, now_ms: int) -> None:
        """Merge ``secondary`` into ``primary`` as HubSpot does: the secondary's id keeps answering
        with the primary, which lists every id merged into it in ``hs_merged_object_ids``."""
        ids = [i for i in (primary.props.get("hs_merged_object_ids") or "").split(";") if i]
        ids += [str(secondary.id), *[i for i in (secondary.props.get("hs_merged_object_ids") or "").split(";") if i]]
        for name, value in secondary.props.items():  # the primary keeps its own values
            primary.props.setdefault(name, value)
        secondary.merged_into = primary.id
        secondary.archived = True
        self._leave(secondary)
        for name, index in self.unique.items():  # the primary's unique values stay indexed
            kept = primary.props.get(name)
            if kept:
                index[kept.lower()] = primary.id
        primary.props["hs_merged_object_ids"] = ";".join(ids)
        self.touch(primary, now_ms)

    def _leave(self, rec: Record) -> None:
        """Out of the live indexes: modified order, unique values; into the gone ids."""
        bisect.insort(self.gone_order, rec.id)
        self.by_modified.discard(self.key(rec.updated_ms, rec.id))
        for name, index in self.unique.items():
            value = rec.props.get(name)
            if value:
                index.pop(value.lower(), None)

    # -- ordered iteration ---------------------------------------------------------------

    def ids_from(self, after_id: int) -> Iterator[int]:
        """Live ids greater than ``after_id``, ascending."""
        order = self.order
        i = bisect.bisect_right(order, after_id)
        while i < len(order):
            id_ = order[i]
            i += 1
            if not self.records[id_].archived:
                yield id_

    def archived_from(self, after_id: int) -> Iterator[int]:
        """Archived ids greater than ``after_id``, ascending."""
        archived = self.archived_order
        i = bisect.bisect_right(archived, after_id)
        while i < len(archived):
            yield archived[i]
            i += 1

    def count_archived_between(self, lo_id: int, hi_id: int) -> int:
        """How many archived or merged-away ids lie in ``[lo_id, hi_id]``."""
        archived = self.gone_order
        return max(0, bisect.bisect_right(archived, hi_id) - bisect.bisect_left(archived, lo_id))

    def modified_range(self, lo_ms: int | None, hi_ms: int | None, lo_inclusive: bool = True,
                       hi_inclusive: bool = True, reverse: bool = False) -> Iterator[int]:
        """Ids whose last-modified time is in the range, in (time, id) order."""
        lo = None if lo_ms is None else self.key(lo_ms if lo_inclusive else lo_ms + 1, 0)
        hi = None if hi_ms is None else self.key(hi_ms if hi_inclusive else hi_ms - 1,
                                                 (1 << _ID_BITS) - 1)
        for key in self.by_modified.irange(lo, hi, reverse=reverse):
            yield self.key_id(key)

    def count_modified_range(self, lo_ms: int | None, hi_ms: int | None,
                             lo_inclusive: bool = True, hi_inclusive: bool = True) -> int:
        sl = self.by_modified
        lo = 0 if lo_ms is None else sl.bisect_left(
            self.key(lo_ms if lo_inclusive else lo_ms + 1, 0))
        hi = len(sl) if hi_ms is None else sl.bisect_right(
            self.key(hi_ms if hi_inclusive else hi_ms - 1, (1 << _ID_BITS) - 1))
        return max(0, hi - lo)
