"""Incremental-sync bookkeeping as pure functions over plain values (singer-sdk's habit).

A cursor is a high-water mark: the last-modified time (epoch milliseconds) up to which a stream
has been read. Three rules, the ones mature connectors follow:

- **Capped at the run's start** (``until``): a record changed while the run is going is read again
  by the next run, never skipped.
- **A small look-back overlap**: the next run starts ``overlap`` before the mark, so a record whose
  timestamp lands late (clock skew, an index that catches up) is still read.
- **De-duplication by id**: overlaps and restarts re-read records; a page never yields one twice.

Cursors travel as text so the store can keep them opaque: an ISO-8601 UTC time for one stream
(``2026-11-01T09:15:00.123Z``) or a JSON object of stream → time for several (events).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from adapters.base import Page

__all__ = [
    "Window",
    "last_page_done",
    "advance",
    "decode",
    "decode_map",
    "dedupe",
    "encode",
    "encode_map",
    "ms_of",
    "restart_after",
    "window",
]

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ms_of(moment: datetime) -> int:
    """A timezone-aware datetime as epoch milliseconds (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding


def encode(ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=int(ms))
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


def decode(cursor: str | None) -> int | None:
    """The mark a cursor holds (None for "from the beginning"); ValueError names a bad cursor."""
    if cursor is None or cursor == "":
        return None
    text = cursor.strip()
    if text.isdigit():
        return int(text)
    try:
        return ms_of(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(f"cursor {cursor!r} is not an ISO-8601 time or epoch milliseconds") from None


def encode_map(marks: Mapping[str, int]) -> str:
    return json.dumps({k: encode(v) for k, v in sorted(marks.items())}, separators=(",", ":"))


def decode_map(cursor: str | None) -> dict[str, int]:
    """Stream → mark from a JSON cursor; a plain time applies to every stream (``"*"``)."""
    if not cursor:
        return {}
    if not cursor.lstrip().startswith("{"):
        mark = decode(cursor)
        return {} if mark is None else {"*": mark}
    raw = json.loads(cursor)
    if not isinstance(raw, dict):
        raise ValueError(f"cursor {cursor!r} is not a JSON object of stream → time")
    return {str(k): m for k, v in raw.items() if (m := decode(str(v))) is not None}


@dataclass(frozen=True)
class Window:
    """What one run reads: records modified in ``[start_ms, until_ms]`` (start None = everything)."""

    start_ms: int | None
    until_ms: int


def window(mark: int | None, until_ms: int, overlap_ms: int) -> Window:
    """The run's window: from the mark minus the overlap, up to the run's start time."""
    if mark is None:
        return Window(None, until_ms)
    return Window(max(0, min(mark, until_ms) - overlap_ms), until_ms)


def advance(mark: int | None, seen_ms: int | None, until_ms: int) -> int | None:
    """The mark after reading records up to ``seen_ms``: forward only, never past ``until_ms``."""
    if seen_ms is None:
        return mark
    moved = min(seen_ms, until_ms)
    return moved if mark is None else max(mark, moved)


def dedupe(items: Iterable[T], seen: frozenset[str], key: Callable[[T], str]) -> tuple[list[T], frozenset[str]]:
    """Items whose key is not in ``seen`` (first occurrence wins) and the enlarged seen set."""
    fresh: list[T] = []
    keys = set(seen)
    for item in items:
        k = key(item)
        if k not in keys:
            keys.add(k)
            fresh.append(item)
    return fresh, frozenset(keys)


def restart_after(items: Iterable[T], ts_ms: Callable[[T], int], key: Callable[[T], str],
                  tail: tuple[int, frozenset[str]] | None = None) -> tuple[int, frozenset[str]] | None:
    """Where a query that hits a result cap restarts: the last timestamp seen, with the ids seen at
    exactly that time (the restarted query includes the timestamp, and these are skipped).

    ``tail`` is the answer for the pages before ``items`` (ties can span pages); None when nothing
    has been seen at all.
    """
    last: int | None = tail[0] if tail else None
    ids: set[str] = set(tail[1]) if tail else set()
    for item in items:
        t = ts_ms(item)
        if last is None or t > last:
            last, ids = t, set()
        if t == last:
            ids.add(key(item))
    return None if last is None else (last, frozenset(ids))


def last_page_done(pages: Iterable[tuple[Sequence[Any], str | None]], final: str | None,
                   skip_empty: bool = False) -> Iterator[Page]:
    """Yield pages one behind, so the last real page carries ``done=True`` and the ``final``
    cursor; an empty stream yields one empty page with cursor None ("nothing new").
    ``skip_empty`` drops empty intermediate pages (a source that pages per object)."""
    held: tuple[Sequence[Any], str | None] | None = None
    for page in pages:
        if skip_empty and not page[0]:
            continue
        if held is not None:
            yield Page(held[0], held[1], False)
        held = page
    if held is None:
        yield Page([], None, True)
    else:
        yield Page(held[0], final, True)
