"""Account (company) scores rolled up from their contacts' scores, pure.

- ``max``: the hottest contact;
- ``sum``: every contact counts (capped at 100, like every score);
- ``top_n``: the average of the N best (one hot intern does not make an account hot);
- ``seniority``: an average weighted by the contact's seniority (an engaged VP weighs more).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from scoring.derive import seniority

__all__ = ["Method", "SENIORITY_WEIGHTS", "rollup"]

Method = Literal["max", "sum", "top_n", "seniority"]
SENIORITY_WEIGHTS = {"executive": 3.0, "vp": 2.5, "director": 2.0, "manager": 1.5, "individual": 1.0,
                     "student": 0.25, "unknown": 0.75}


def rollup(contacts: Iterable[tuple[str, float, str | None]], method: Method = "max",
           top_n: int = 3) -> dict[str, float]:
    """Account id -> score from (account id, contact score, contact title) rows."""
    by_account: dict[str, list[tuple[float, str | None]]] = {}
    for account_id, score, title in contacts:
        if account_id:
            by_account.setdefault(account_id, []).append((float(score), title))
    out: dict[str, float] = {}
    for account_id, rows in by_account.items():
        scores = sorted((s for s, _ in rows), reverse=True)
        if method == "max":
            value = scores[0]
        elif method == "sum":
            value = min(100.0, sum(scores))
        elif method == "top_n":
            best = scores[:top_n]
            value = sum(best) / len(best)
        else:
            weights = [SENIORITY_WEIGHTS.get(seniority(t) or "unknown", 0.75) for _, t in rows]
            value = sum(w * s for w, (s, _) in zip(weights, rows, strict=True)) / sum(weights)
        out[account_id] = round(value, 2)
    return out
