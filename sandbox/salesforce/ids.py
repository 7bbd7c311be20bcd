"""Salesforce record ids: 18 characters, a 3-character key prefix naming the object type.

Real ids are 15 case-sensitive characters plus a 3-character suffix that encodes the case of
the first 15 so that case-insensitive tools can tell ids apart. Clients (and our own tests)
compare 15- and 18-character forms, so the sandbox mints real-looking 18-character ids and
accepts either form wherever an id is read.
"""

from __future__ import annotations

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
    "PermissionSetAssignment": "0Pa",
    "CustomField": "00N",
    "Organization": "00D",
    "Job": "750",
}
_TYPE_BY_PREFIX = {prefix: name for name, prefix in KEY_PREFIXES.items()}
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


_UPPER_BITS = str.maketrans({c: ("1" if c.isupper() else "0") for c in _ALNUM})


def _suffix(id15: str) -> str:
    """The 3-character case-checksum Salesforce appends to a 15-character id: per 5-character
    chunk, a bit per upper-case letter (first character = lowest bit), as a base-32 digit."""
    bits = id15.translate(_UPPER_BITS)
    if len(bits) != 15 or not bits.isdigit():  # not alphanumeric ASCII: no valid suffix
        return "???"
    return (_SUFFIX[int(bits[4::-1], 2)] + _SUFFIX[int(bits[9:4:-1], 2)]
            + _SUFFIX[int(bits[14:9:-1], 2)])


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


def _base62(n: int, width: int) -> str:
    digits = []
    for _ in range(width):
        n, r = divmod(n, 62)
        digits.append(_ALNUM[r])
    return "".join(reversed(digits))


# Lookup tables for minting ids fast: all 2- and 3-character base-62 strings and the
# upper-case bits of each (a 5-character chunk's bits = bits3 | bits2 << 3).
_P2 = [a + b for a in _ALNUM for b in _ALNUM]
_P3 = [a + b for a in _ALNUM for b in _P2]
_B2 = [int(x.translate(_UPPER_BITS)[::-1], 2) for x in _P2]
_B3 = [int(x.translate(_UPPER_BITS)[::-1], 2) for x in _P3]


class IdFactory:
    """Mints unique ids per key prefix; thread-safe, deterministic for a given org number."""

    def __init__(self, org: int = 1) -> None:
        self._pod = _ALNUM[org % 62] + "0"  # two characters of "instance" after the prefix
        self._next = 1
        self._lock = threading.Lock()

    def _reserve(self, count: int) -> int:
        with self._lock:
            first = self._next
            self._next += count
            return first

    def new(self, sobject: str) -> str:
        return self.new_many(sobject, 1)[0]

    def new_many(self, sobject: str, count: int) -> list[str]:
        """``count`` fresh ids at once (seeding millions of rows)."""
        head = KEY_PREFIXES[sobject] + self._pod
        n = self._reserve(count)
        end = n + count
        out: list[str] = []
        while n < end:
            high, low = divmod(n, 62 ** 5)
            first10 = head + _base62(high, 5)
            fixed = _suffix(first10 + "00000")[:2]
            stop = min(end, (high + 1) * 62 ** 5)
            for k in range(low, low + stop - n):
                i3, i2 = divmod(k, 3844)
                out.append(f"{first10}{_P3[i3]}{_P2[i2]}{fixed}{_SUFFIX[_B3[i3] | _B2[i2] << 3]}")
            n = stop
        return out
