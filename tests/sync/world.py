"""A small, fully known world for the sync tests: a model whose numbers are easy to follow."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from scoring.model import ScoringModel, parse_model
from scoring.records import Account, Event, Lead

from .fakes import FakeCRM

T0 = datetime(2026, 11, 1, 9, tzinfo=timezone.utc)

MODEL_YAML = """
name: sync-test
fit:
  max_points: 100
  groups:
    - name: role
      rules:
        - {id: vp, description: VP title, field: lead.title, contains: VP, points: 100}
intent:
  max_points: 100
  decay: {half_life_days: 7}
  groups:
    - name: web
      rules:
        - {id: pricing, description: Pricing page, event: page_view, where: {url: {contains: pricing}}, points: 25}
outputs:
  weights: {fit: 0.5, intent: 0.5}
thresholds:
  - name: mql
    enter: 70
    exit: 60
    cooldown_days: 30
    actions: ACTIONS
"""

ACTIONS: list[dict[str, Any]] = [
    {"type": "assign_owner", "team": [{"id": "O1"}, {"id": "O2"}], "keep_existing": True},
    {"type": "create_task", "subject": "Call {name}", "due_days": 1},
    {"type": "enroll", "target": "seq-9"},
    {"type": "set_fields", "lifecycle_stage": "marketingqualifiedlead"},
]


def model(actions: list[dict[str, Any]] | None = None) -> ScoringModel:
    import json

    return parse_model(MODEL_YAML.replace("ACTIONS", json.dumps(ACTIONS if actions is None else actions)))


def seed(crm: FakeCRM, leads: int = 12) -> None:
    """Even leads are VPs; lead i visited pricing i % 4 times in the last days (hot VPs cross 70)."""
    crm.put_account(Account(id="A1", name="Acme", employees=500))
    crm.put_account(Account(id="A2", name="Beta", employees=20))
    for i in range(leads):
        owner = "O9" if i == 2 else None
        crm.put_lead(Lead(id=f"L{i:02d}", email=f"l{i}@acme.com", first_name=f"N{i}",
                          title="VP Sales" if i % 2 == 0 else "Engineer", owner_id=owner,
                          account_id="A1" if i < 6 else "A2"))
        for k in range(i % 4):
            crm.put_event(Event(lead_id=f"L{i:02d}", type="page_view", url="/pricing",
                                occurred_at=T0 - timedelta(hours=k + 1)))


def crm_state(crm: FakeCRM) -> dict[str, Any]:
    """What a person would compare: field values, owners, tasks by key, enrollments."""
    return {"fields": {k: dict(v) for k, v in sorted(crm.fields.items())},
            "owners": dict(sorted(crm.owners_of.items())),
            "tasks": sorted(t.idempotency_key for t in crm.tasks), "enrollments": sorted(crm.enrollments)}
