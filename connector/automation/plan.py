"""Plan the actions of threshold crossings, pure: every decision is made here, once.

Each action gets an idempotency key derived from what it is for (tenant, lead, threshold, the
moment the crossing fired, its position in the threshold's list, its kind), and a payload that
holds every decision (which owner, which text, which due date). The sync records the plan in the
same transaction as the new threshold states; executing it later only carries the payload out,
so a re-run after a crash performs the same actions with the same keys, never new ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from connector.store import StoredScore
from scoring.model import Threshold

from .assign import choose_owner
from .config import AssignOwner, CreateTask, Enroll, Notify, SetFields

__all__ = ["idempotency_key", "render", "plan_actions"]


def idempotency_key(tenant: str, lead_id: str, threshold: str, fired_at: datetime, seq: int, kind: str) -> str:
    basis = json.dumps([tenant, lead_id, threshold, fired_at.isoformat(), seq, kind])
    return hashlib.sha256(basis.encode()).hexdigest()


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, context: Mapping[str, Any]) -> str:
    """``str.format`` that leaves unknown ``{names}`` as they are instead of failing."""
    return template.format_map(_Blank(context))


def _context(lead_id: str, lead: Mapping[str, Any], score: StoredScore | None, threshold: str) -> dict[str, Any]:
    name = " ".join(str(x) for x in (lead.get("first_name"), lead.get("last_name")) if x) or lead.get("email") \
        or lead_id
    return {"lead_id": lead_id, "name": name, "email": lead.get("email") or "", "company": lead.get("company") or "",
            "threshold": threshold, "score": "" if score is None else int(score.score + 0.5),
            "grade": "" if score is None else score.grade, "priority": "" if score is None else score.priority,
            "reasons": "" if score is None else score.reasons}


def plan_actions(tenant: str, fired: Sequence[tuple[str, Threshold, datetime]], specs: Mapping[str, list[Any]],
                 leads: Mapping[str, Mapping[str, Any]], scores: Mapping[str, StoredScore],
                 counters: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(action rows to record, counters that changed) for the crossings that fired."""
    state = dict(counters)
    rows: list[dict[str, Any]] = []
    for lead_id, threshold, fired_at in fired:
        lead = leads.get(lead_id, {})
        ctx = _context(lead_id, lead, scores.get(lead_id), threshold.name)
        owner = lead.get("owner_id")
        for seq, spec in enumerate(specs.get(threshold.name, [])):
            payload: dict[str, Any]
            if isinstance(spec, AssignOwner):
                chosen, new = choose_owner(spec, threshold.name, lead, state)
                owner = chosen
                if not new:
                    continue
                payload = {"owner_id": chosen, "previous_owner_id": lead.get("owner_id")}
            elif isinstance(spec, CreateTask):
                payload = {"owner_id": owner, "subject": render(spec.subject, ctx), "body": render(spec.body, ctx),
                           "due": (fired_at + timedelta(days=spec.due_days)).isoformat()}
            elif isinstance(spec, Notify):
                payload = {"webhook_env": spec.webhook_env, "email_to": list(spec.email_to),
                           "text": render(spec.text, ctx)}
            elif isinstance(spec, Enroll):
                payload = {"target": spec.target}
            elif isinstance(spec, SetFields):
                values = {k: v for k, v in (("lifecycle_stage", spec.lifecycle_stage),
                                            ("lead_status", spec.lead_status)) if v is not None}
                if not values:
                    continue
                payload = {"values": values}
            else:  # pragma: no cover - the config union is closed
                raise TypeError(f"unknown action {spec!r}")
            rows.append({"key": idempotency_key(tenant, lead_id, threshold.name, fired_at, seq, spec.type),
                         "lead_id": lead_id, "threshold": threshold.name, "kind": spec.type, "seq": seq,
                         "payload": payload})
    changed = {k: v for k, v in state.items() if counters.get(k) != v}
    return rows, changed
