"""The actions a threshold runs when a lead crosses it, as written under ``thresholds[].actions``.

Example (in the scoring model YAML)::

    thresholds:
      - name: mql
        enter: 70
        exit: 60
        cooldown_days: 30
        actions:
          - type: assign_owner          # territory rules first, then the team
            keep_existing: true
            territories:
              - where: {country: [US, CA], employee_band: [200-999, 1000+]}
                team: [{id: "101"}, {id: "102", weight: 2}]
            team: [{id: "100"}]
            mode: round_robin           # or: weighted
          - type: create_task
            subject: "Call {name}: score {score} ({priority})"
            due_days: 1
          - type: notify
            webhook_env: LEADSCORE_SLACK_WEBHOOK   # the URL is a secret: read from the environment
            email_to: [sales@example.com]
          - type: enroll
            target: "12345"             # HubSpot sequence id / Salesforce campaign id
          - type: set_fields
            lifecycle_stage: marketingqualifiedlead
            lead_status: Working

Parsed with :func:`parse_actions`; problems name the threshold and the action's position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from scoring.errors import ConfigError, Problem
from scoring.model import Threshold

__all__ = ["Member", "Territory", "AssignOwner", "CreateTask", "Notify", "Enroll", "SetFields", "ActionSpec",
           "parse_actions", "all_actions", "EMPLOYEE_BANDS"]

#: employee bands territory rules may name
EMPLOYEE_BANDS = ("1-49", "50-199", "200-999", "1000+")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Member(_Strict):
    id: str = Field(description="The CRM owner id (HubSpot owner id, Salesforce user id)")
    weight: float = Field(1.0, gt=0, description="Share of leads under mode: weighted")


class Territory(_Strict):
    name: str | None = None
    #: lead field -> accepted values; fields: country, state, segment, industry, employee_band
    where: dict[str, list[str]] = Field(default_factory=dict)
    team: list[Member] = Field(min_length=1)


class AssignOwner(_Strict):
    type: Literal["assign_owner"]
    territories: list[Territory] = Field(default_factory=list)
    team: list[Member] = Field(default_factory=list, description="Fallback team when no territory matches")
    mode: Literal["round_robin", "weighted"] = "round_robin"
    keep_existing: bool = True


class CreateTask(_Strict):
    type: Literal["create_task"]
    subject: str = "Follow up: {name} crossed {threshold} (score {score}, {priority})"
    body: str = "Why: {reasons}"
    due_days: float = Field(1, ge=0)


class Notify(_Strict):
    type: Literal["notify"]
    webhook_env: str | None = Field(None, description="Environment variable holding the incoming-webhook URL")
    email_to: list[str] = Field(default_factory=list)
    text: str = "{name} ({email}) crossed {threshold}: score {score}, {priority}. Why: {reasons}"


class Enroll(_Strict):
    type: Literal["enroll"]
    target: str = Field(description="HubSpot sequence id or Salesforce campaign id")


class SetFields(_Strict):
    type: Literal["set_fields"]
    lifecycle_stage: str | None = None
    lead_status: str | None = None


ActionSpec = Annotated[AssignOwner | CreateTask | Notify | Enroll | SetFields, Field(discriminator="type")]
_ADAPTER: TypeAdapter[list[ActionSpec]] = TypeAdapter(list[ActionSpec])


def parse_actions(threshold: Threshold, source: str = "<model>") -> list[Any]:
    """The threshold's actions, validated; raises ConfigError naming each bad key."""
    try:
        return list(_ADAPTER.validate_python(threshold.actions))
    except ValidationError as exc:
        problems = [Problem(source, None, ".".join(["thresholds", threshold.name, "actions",
                                                    *[str(p) for p in e["loc"]]]),
                            e["msg"], "action types: assign_owner, create_task, notify, enroll, set_fields")
                    for e in exc.errors()]
        raise ConfigError(problems) from None


def all_actions(thresholds: Sequence[Threshold], source: str = "<model>") -> dict[str, list[Any]]:
    return {th.name: parse_actions(th, source) for th in thresholds}
