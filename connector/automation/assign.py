"""Owner assignment, pure: territory rules, then round-robin or weighted within the team.

Counters live in the store's key-value table and are passed in and out as plain dicts, so the
choice for a batch of crossings is a deterministic fold: the same crossings and counters always
give the same owners, and a re-run after a crash reuses the owners recorded in the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import EMPLOYEE_BANDS, AssignOwner, Member, Territory

__all__ = ["employee_band", "matching_territory", "choose_owner"]


def employee_band(employees: Any) -> str | None:
    try:
        n = float(employees)
    except (TypeError, ValueError):
        return None
    if n != n:  # NaN
        return None
    limits = (50, 200, 1000)
    for band, limit in zip(EMPLOYEE_BANDS, limits, strict=False):
        if n < limit:
            return band
    return EMPLOYEE_BANDS[-1]


def _field(lead: Mapping[str, Any], name: str) -> Any:
    if name == "employee_band":
        return employee_band(lead.get("employees") if lead.get("employees") is not None
                             else lead.get("account.employees"))
    value = lead.get(name)
    return value if value is not None else lead.get(f"account.{name}")


def matching_territory(territories: list[Territory], lead: Mapping[str, Any]) -> tuple[int, Territory] | None:
    """The first territory whose every ``where`` field holds one of its values (case-insensitive)."""
    for i, territory in enumerate(territories):
        ok = True
        for name, accepted in territory.where.items():
            value = _field(lead, name)
            if value is None or str(value).strip().lower() not in {a.lower() for a in accepted}:
                ok = False
                break
        if ok:
            return i, territory
    return None


def _pick(team: list[Member], mode: str, counter: Any) -> tuple[str, Any]:
    if mode == "round_robin":
        n = int(counter or 0)
        return team[n % len(team)].id, n + 1
    counts: dict[str, int] = dict(counter or {})
    best = min(range(len(team)), key=lambda i: ((counts.get(team[i].id, 0) + 1) / team[i].weight, i))
    chosen = team[best].id
    counts[chosen] = counts.get(chosen, 0) + 1
    return chosen, counts


def choose_owner(spec: AssignOwner, threshold: str, lead: Mapping[str, Any],
                 counters: dict[str, Any]) -> tuple[str | None, bool]:
    """(owner id, newly assigned?) for one lead; updates ``counters`` in place.

    An existing owner is kept when ``keep_existing``; no team means no owner (None, False).
    """
    existing = lead.get("owner_id")
    if spec.keep_existing and existing:
        return str(existing), False
    found = matching_territory(spec.territories, lead)
    team, where = (found[1].team, found[1].name or f"territory{found[0]}") if found else (spec.team, "default")
    if not team:
        return (str(existing) if existing else None), False
    key = f"assign:{threshold}:{where}:{spec.mode}"
    owner, counters[key] = _pick(team, spec.mode, counters.get(key))
    return owner, owner != existing
