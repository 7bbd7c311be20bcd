"""HubSpot sandbox helpers for the sync's end-to-end tests: a tenant, an installed portal, a snapshot."""

from __future__ import annotations

from typing import Any

import requests

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.transport import Credentials, Transport
from sandbox.tenant import generate_tenant
from scoring.model import ScoringModel, parse_model
from tests.helpers import DEFAULT_MODEL_TEXT

WRITTEN = ["leadscore_score", "leadscore_fit", "leadscore_intent", "leadscore_grade", "leadscore_priority",
           "leadscore_reasons", "leadscore_model_version", "leadscore_mql", "leadscore_mql_date", "leadscore_scored_at",
           "hubspot_owner_id", "lifecyclestage"]


def tenant(leads: int = 150) -> Any:
    return generate_tenant(seed=11, leads=leads, events_per_lead=8)


def adapter(server: Any) -> HubSpotAdapter:
    return HubSpotAdapter(Transport(server.url, Credentials(access_token=server.token)))


def install(server: Any) -> None:
    a = adapter(server)
    a.install(a.plan_install(a.fields()))


def model_with_actions(owner_ids: list[str], enter: float = 55) -> ScoringModel:
    return parse_model(model_text(owner_ids, enter), "<test model>")


def model_text(owner_ids: list[str], enter: float = 55) -> str:
    """The default model with a lower MQL bar (more crossings) and actions that touch the CRM."""
    text = DEFAULT_MODEL_TEXT.split("\nthresholds:")[0]
    team = ", ".join(f'{{id: "{o}"}}' for o in owner_ids)
    text += f"""
thresholds:
  - name: mql
    metric: score
    enter: {enter}
    exit: {enter - 10}
    cooldown_days: 30
    actions:
      - {{type: assign_owner, team: [{team}], keep_existing: true}}
      - {{type: create_task, subject: "Call {{lead_id}}", due_days: 1}}
      - {{type: set_fields, lifecycle_stage: marketingqualifiedlead}}
"""
    return text


def _pages(server: Any, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = None
    while True:
        query = {**params, "limit": 100, **({"after": after} if after else {})}
        r = requests.get(f"{server.url}{path}", params=query, headers={"Authorization": f"Bearer {server.token}"},
                         timeout=30)
        r.raise_for_status()
        body = r.json()
        out.extend(body["results"])
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return out


def snapshot(server: Any) -> dict[str, Any]:
    """What reps would see: every contact's written properties, companies' scores, tasks by subject."""
    contacts = _pages(server, "/crm/v3/objects/contacts", {"properties": ",".join(WRITTEN)})
    companies = _pages(server, "/crm/v3/objects/companies", {"properties": "leadscore_account_score"})
    tasks = _pages(server, "/crm/v3/objects/tasks", {"properties": "hs_task_subject,hubspot_owner_id"})
    return {
        "contacts": {c["id"]: {k: c["properties"].get(k) for k in WRITTEN} for c in contacts},
        "companies": {c["id"]: c["properties"].get("leadscore_account_score") for c in companies},
        "tasks": sorted((t["properties"].get("hs_task_subject"), t["properties"].get("hubspot_owner_id"))
                        for t in tasks),
    }
