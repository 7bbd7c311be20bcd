"""Salesforce record ids: 18 characters, a 3-character key prefix naming the object type.

Real ids are 15 case-sensitive characters plus a 3-character suffix that encodes the case of
the first 15 so that case-insensitive tools can tell ids apart. Clients (and our own tests)
compare 15- and 18-character forms, so the sandbox mints real-looking 18-character ids and
accepts either form wherever an id is read.
"""

from __future__ import annotations

import itertools
import threading

__all__ = ["KEY_PREFIXES", "IdFactory", "is_id", "to_18", "type_of_id"]

#: Key prefixes of the objects the sandbox serves (as in every Salesforce org).
KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "Campaign": "701",
    "CampaignMember": "00v",
    "PermissionSet": "0PS",
    "FieldPermissions": "01k",
    "CustomField": "00N",
    "Organization": "00D",
    "Job": "750",
}
_TYPE_BY_PREFIX = {prefix: name for name, prefix in KEY_PREFIXES.items()}
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def _suffix(id15: str) -> str:
    """The 3-character case-checksum Salesforce appends to a 15-character id."""
    out = []
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if ch.isupper())
        out.append(_SUFFIX[bits])
    return "".join(out)


def to_18(value: str) -> str:
    """The 18-character form of a 15- or 18-character id (other strings unchanged)."""
    if len(value) == 15 and value.isalnum():
        return value + _suffix(value)
    return value


def is_id(value: object) -> bool:
    """True for a well-formed 15- or 18-character id (checksum verified for 18)."""
    if not isinstance(value, str) or len(value) not in (15, 18) or not value.isalnum():
        return False
    return len(value) == 15 or _suffix(value[:15]) == value[15:]


def type_of_id(value: str) -> str | None:
    """The object type a well-formed id belongs to, by its key prefix."""
    return _TYPE_BY_PREFIX.get(value[:3]) if is_id(value) else None


class IdFactory:
    """Mints unique ids per key prefix; thread-safe, deterministic for a given org number."""

    def __init__(self, org: int = 1) -> None:
        self._pod = _ALNUM[org % 62] + "0"  # two characters of "instance" after the prefix
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new(self, sobject: str) -> str:
        with self._lock:
            n = next(self._counter)
        digits = []
        for _ in range(10):
            n, r = divmod(n, 62)
            digits.append(_ALNUM[r])
        id15 = KEY_PREFIXES[sobject] + self._pod + "".join(reversed(digits))
        return id15 + _suffix(id15)
