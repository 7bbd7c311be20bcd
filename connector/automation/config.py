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

import string
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from scoring.errors import ConfigError, Problem
from scoring.model import Threshold

__all__ = ["Member", "Territory", "AssignOwner", "CreateTask", "Notify", "Enroll", "SetFields", "ActionSpec",
           "parse_actions", "all_actions", "EMPLOYEE_BANDS", "TEMPLATE_FIELDS", "check_template"]

#: employee bands territory rules may name
EMPLOYEE_BANDS = ("1-49", "50-199", "200-999", "1000+")


#: the names a task subject or body, or a notification text, may use as ``{name}``
TEMPLATE_FIELDS = ("lead_id", "name", "email", "company", "threshold", "score", "grade", "priority", "reasons")


def check_template(text: str) -> str:
    """``text`` if every ``{field}`` in it is one of :data:`TEMPLATE_FIELDS`, written plainly.

    Rendering runs at sync time, once per crossing: a template that cannot render there (``{0}``,
    ``{name``, ``{name.upper}``, ``{score:.1f}`` when a lead has no score yet) must fail ``check``
    instead. Literal braces are written ``{{`` and ``}}``.
    """
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"template {text!r} is not valid: {exc} (write a literal brace as {{{{ or }}}})") from None
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS:
            raise ValueError(f"template {text!r} uses {{{field}}}; the fields are "
                             + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS))
        if spec or conversion:
            raise ValueError(f"template {text!r}: write {{{field}}} without a format or conversion")
    return text


Template = Annotated[str, AfterValidator(check_template)]


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
    subject: Template = "Follow up: {name} crossed {threshold} (score {score}, {priority})"
    body: Template = "Why: {reasons}"
    due_days: float = Field(1, ge=0)


class Notify(_Strict):
    type: Literal["notify"]
    webhook_env: str | None = Field(None, description="Environment variable holding the incoming-webhook URL")
    email_to: list[str] = Field(default_factory=list)
    text: Template = "{name} ({email}) crossed {threshold}: score {score}, {priority}. Why: {reasons}"


class Enroll(_Strict):
    type: Literal["enroll"]
    target: str = Field(description="HubSpot sequence id or Salesforce campaign id")


class SetFields(_Strict):
    type: Literal["set_fields"]
    lifecycle_stage: str | None = None
    lead_status: str | None = None


ActionSpec = Annotated[AssignOwner | CreateTask | Notify | Enroll | SetFields, Field(discriminator="type")]
_ADAPTER: TypeAdapter[list[ActionSpec]] = TypeAdapter(list[ActionSpec])


LineOf = Callable[[tuple[str | int, ...]], int | None]
_TYPES = "action types: assign_owner, create_task, notify, enroll, set_fields"


def parse_actions(threshold: Threshold, source: str = "<model>", index: int | None = None,
                  line_of: LineOf | None = None) -> list[Any]:
    """The threshold's actions, validated; raises ConfigError naming each bad key.

    ``index`` (the threshold's position in the file) and ``line_of`` (the file's key path → line)
    let the problems point at the line the admin has to change.
    """
    try:
        return list(_ADAPTER.validate_python(threshold.actions))
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
            msg = e["msg"].removeprefix("Value error, ")
            hint: str | None = None
            if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
                msg, hint = f"unknown action type {e.get('input', {}).get('type')!r}" \
                    if isinstance(e.get("input"), dict) else msg, _TYPES
            elif e["type"] == "extra_forbidden":
                msg = f"unknown key '{loc[-1]}'"
            line = line_of(("thresholds", index, "actions", *loc)) if line_of and index is not None else None
            problems.append(Problem(source, line, ".".join(["thresholds", threshold.name, "actions",
                                                           *[str(p) for p in loc]]), msg, hint))
        raise ConfigError(problems) from None


#: tags pydantic adds to locations inside a discriminated union
_UNION_TAGS = {"assign_owner", "create_task", "notify", "enroll", "set_fields"}


def all_actions(thresholds: Sequence[Threshold], source: str = "<model>",
                line_of: LineOf | None = None) -> dict[str, list[Any]]:
    """Every threshold's actions, validated together: one ConfigError lists all their problems."""
    out: dict[str, list[Any]] = {}
    problems: list[Problem] = []
    for i, th in enumerate(thresholds):
        try:
            out[th.name] = parse_actions(th, source, i, line_of)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return out
