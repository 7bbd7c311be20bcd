"""The scoring model: an admin's YAML file, validated.

A model has fit rules (who the lead is), intent rules (what the lead did, with decay), outputs
(normalisation, weights, grade bands, the priority matrix) and thresholds. ``docs/model.md``
explains every key with examples; ``scoring/models/default_b2b.yaml`` is a complete model.

:func:`parse_model` turns YAML text into a :class:`ScoringModel` and reports every problem with
the file, line, key path and bad value, suggesting the closest valid name where it can.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import ModelError, Problem
from .records import (
    ACCOUNT_FIELDS,
    DERIVED_FIELDS,
    EVENT_ATTRIBUTES,
    LEAD_FIELDS,
    EventType,
    is_valid_event_type,
)
from .yamlsource import YamlSource, format_path, validate

__all__ = [
    "Condition",
    "Decay",
    "FitRule",
    "IntentRule",
    "ScoringModel",
    "Threshold",
    "OPERATORS",
    "parse_model",
]

#: Operators a condition may use, in the order error messages list them.
OPERATORS: tuple[str, ...] = (
    "equals", "not_equals", "in", "not_in", "contains", "regex", "glob",
    "between", "gt", "gte", "lt", "lte", "exists",
)
NUMERIC_OPERATORS = {"between", "gt", "gte", "lt", "lte"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """One test on one value: ``{op: value}`` in YAML, e.g. ``in: [US, CA]`` or ``gt: 50``.

    String comparisons ignore case; ``regex`` is a Python regular expression searched anywhere
    in the value; ``glob`` matches the whole value with ``*`` and ``?``.
    """

    op: Literal[
        "equals", "not_equals", "in", "not_in", "contains", "regex", "glob",
        "between", "gt", "gte", "lt", "lte", "exists",
    ]
    value: Any

    @model_validator(mode="after")
    def _check_value(self) -> Condition:
        op, v = self.op, self.value
        if op in ("in", "not_in"):
            if not isinstance(v, list) or not v:
                raise ValueError(f"'{op}' needs a non-empty list, got {v!r}")
        elif op == "between":
            if not (isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v)):
                raise ValueError(f"'between' needs [low, high] numbers, got {v!r}")
            if v[0] > v[1]:
                raise ValueError(f"'between' needs low <= high, got {v!r}")
        elif op in NUMERIC_OPERATORS:
            if not _is_number(v):
                raise ValueError(f"'{op}' needs a number, got {v!r}")
        elif op == "exists":
            if not isinstance(v, bool):
                raise ValueError(f"'exists' needs true or false, got {v!r}")
        elif op == "regex":
            try:
                re.compile(str(v))
            except re.error as exc:
                raise ValueError(f"bad regular expression {v!r}: {exc}") from None
        elif isinstance(v, list | dict):
            raise ValueError(f"'{op}' needs a single value, got {v!r}")
        return self


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _split_condition(data: Any, reserved: set[str], what: str) -> Any:
    """Turn ``{field: x, in: [...], points: 5}`` into ``{field: x, condition: {op, value}}``."""
    if not isinstance(data, dict) or "condition" in data:  # already split (a dumped model)
        return data
    ops = [k for k in data if k not in reserved]
    if not ops:
        raise ValueError(f"{what} needs one operator: {', '.join(OPERATORS)}")
    if len(ops) > 1:
        raise ValueError(f"{what} has several operators {ops}; use one per rule")
    op = ops[0]
    if op not in OPERATORS:
        close = difflib.get_close_matches(str(op), OPERATORS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ValueError(f"unknown operator '{op}'; {hint}valid operators: {', '.join(OPERATORS)}")
    rest = {k: v for k, v in data.items() if k in reserved}
    rest["condition"] = {"op": op, "value": data[op]}
    return rest


class Decay(_Strict):
    """How an event's points fade with time.

    - ``exponential``: points × 0.5^(age / half_life_days)
    - ``linear``: points × max(0, 1 − age / lifespan_days)
    - ``step``: points × (1 − drop_pct/100)^k where k counts whole ``after_days`` periods since the
      lead's latest event of any kind (k is at most 1 unless ``repeat``)
    - ``none``: points never fade
    """

    type: Literal["exponential", "linear", "step", "none"] = "exponential"
    half_life_days: float | None = Field(default=None, gt=0)
    lifespan_days: float | None = Field(default=None, gt=0)
    after_days: float | None = Field(default=None, gt=0)
    drop_pct: float | None = Field(default=None, gt=0, le=100)
    repeat: bool = False

    @model_validator(mode="before")
    @classmethod
    def _infer_type(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"type": data}
        if isinstance(data, dict) and "type" not in data:
            if "half_life_days" in data:
                return {**data, "type": "exponential"}
            if "lifespan_days" in data:
                return {**data, "type": "linear"}
            if "after_days" in data or "drop_pct" in data:
                return {**data, "type": "step"}
        return data

    @model_validator(mode="after")
    def _needs(self) -> Decay:
        need = {
            "exponential": ["half_life_days"],
            "linear": ["lifespan_days"],
            "step": ["after_days", "drop_pct"],
            "none": [],
        }[self.type]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"decay type '{self.type}' needs {', '.join(missing)}")
        return self


NO_DECAY = Decay(type="none")


class Window(_Strict):
    """At most ``max_events`` events count in each ``days``-long window, counted back from now."""

    max_events: int = Field(gt=0)
    days: float = Field(gt=0)


class FitRule(_Strict):
    id: str | None = None
    field: str
    condition: Condition
    points: float
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        return _split_condition(data, {"id", "field", "points", "description", "condition"}, "a fit rule")


class IntentRule(_Strict):
    id: str | None = None
    event: str | list[str]
    where: dict[str, Condition] = Field(default_factory=dict)
    points: float
    cap: float | None = Field(default=None, gt=0)
    window: Window | None = None
    decay: Decay | None = None
    description: str | None = None

    @field_validator("where", mode="before")
    @classmethod
    def _where(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for attr, cond in value.items():
            if isinstance(cond, dict) and set(cond) == {"op", "value"}:  # already split (a dumped model)
                out[attr] = cond
            elif isinstance(cond, dict):
                out[attr] = _split_condition(cond, {"condition"}, f"filter on '{attr}'")["condition"]
            elif isinstance(cond, list):
                out[attr] = {"op": "in", "value": cond}
            else:
                out[attr] = {"op": "equals", "value": cond}
        return out

    @property
    def events(self) -> tuple[str, ...]:
        return (self.event,) if isinstance(self.event, str) else tuple(self.event)


class FitGroup(_Strict):
    name: str
    cap: float | None = Field(default=None, gt=0)
    rules: list[FitRule] = Field(min_length=1)


class IntentGroup(_Strict):
    name: str
    cap: float | None = Field(default=None, gt=0)
    decay: Decay | None = None
    rules: list[IntentRule] = Field(min_length=1)


class FitSection(_Strict):
    max_points: float | None = Field(default=None, gt=0)
    groups: list[FitGroup] = Field(default_factory=list)


class IntentSection(_Strict):
    max_points: float = Field(default=100, gt=0)
    decay: Decay = Field(default_factory=lambda: Decay(type="exponential", half_life_days=30))
    groups: list[IntentGroup] = Field(default_factory=list)


class Weights(_Strict):
    fit: float = Field(default=0.5, ge=0)
    intent: float = Field(default=0.5, ge=0)

    @model_validator(mode="after")
    def _positive(self) -> Weights:
        if self.fit + self.intent <= 0:
            raise ValueError("weights fit + intent must be above 0")
        return self


GRADES = ("A", "B", "C", "D")


class Outputs(_Strict):
    weights: Weights = Field(default_factory=Weights)
    #: minimum fit score for each grade; below D is F
    grades: dict[str, float] = Field(
        default_factory=lambda: {"A": 80.0, "B": 60.0, "C": 40.0, "D": 20.0}
    )
    #: minimum intent score for bands 1, 2, 3; below the last is band 4
    intent_bands: list[float] = Field(default_factory=lambda: [75.0, 50.0, 25.0], min_length=1)
    reasons: int = Field(default=3, ge=0, le=20)

    @field_validator("grades")
    @classmethod
    def _grades(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = [g for g in v if g not in GRADES]
        if unknown:
            raise ValueError(f"grades are A, B, C and D (F is everything below D), not {unknown}")
        missing = [g for g in GRADES if g not in v]
        if missing:
            raise ValueError(f"grades needs a minimum for each of A, B, C, D (missing {missing})")
        values = [v[g] for g in GRADES]
        if values != sorted(values, reverse=True):
            raise ValueError(f"grade minimums must fall from A to D, got {values}")
        return v

    @field_validator("intent_bands")
    @classmethod
    def _bands(cls, v: list[float]) -> list[float]:
        if v != sorted(v, reverse=True):
            raise ValueError(f"intent_bands must be listed from highest to lowest, got {v}")
        return v


class Threshold(_Strict):
    """A lead *enters* at ``enter`` and *leaves* only below ``exit`` (hysteresis); after an entry
    has fired, another entry fires again only once ``cooldown_days`` have passed."""

    name: str
    metric: Literal["score", "fit", "intent"] = "score"
    enter: float = Field(ge=0, le=100)
    exit: float | None = Field(default=None, ge=0, le=100)
    cooldown_days: float = Field(default=0, ge=0)
    actions: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _order(self) -> Threshold:
        if self.exit is not None and self.exit > self.enter:
            raise ValueError(f"exit ({self.exit}) must not be above enter ({self.enter})")
        return self

    @property
    def exit_at(self) -> float:
        return self.enter if self.exit is None else self.exit


class CustomFields(_Strict):
    lead: list[str] = Field(default_factory=list)
    account: list[str] = Field(default_factory=list)


class ScoringModel(_Strict):
    name: str
    description: str | None = None
    custom_event_types: list[str] = Field(default_factory=list)
    custom_fields: CustomFields = Field(default_factory=CustomFields)
    fit: FitSection = Field(default_factory=FitSection)
    intent: IntentSection = Field(default_factory=IntentSection)
    outputs: Outputs = Field(default_factory=Outputs)
    thresholds: list[Threshold] = Field(default_factory=list)

    # ---- derived views the engines use -------------------------------------------------------
    @property
    def version(self) -> str:
        """Content hash of the model (comments and layout do not change it)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def fit_max_points(self) -> float:
        if self.fit.max_points is not None:
            return self.fit.max_points
        total = 0.0
        for g in self.fit.groups:
            positive = sum(r.points for r in g.rules if r.points > 0)
            total += min(positive, g.cap) if g.cap is not None else positive
        return total or 1.0

    def fit_rules(self) -> list[tuple[str, int, FitRule]]:
        """(rule id, group index, rule) in model order."""
        return [
            (r.id or f"{g.name}.{i + 1}", gi, r)
            for gi, g in enumerate(self.fit.groups)
            for i, r in enumerate(g.rules)
        ]

    def input_columns(self) -> dict[str, set[str]]:
        """The input columns this model reads, per table (leads, accounts, events), so readers
        can skip the rest. Derived fields name the columns they derive from."""
        derived_from = {"email_domain": "email", "free_email": "email", "seniority": "title",
                        "department": "title", "days_since_last_activity": None, "event_count": None}
        leads, accounts = {"id", "account_id"}, {"id"}
        for _, _, rule in self.fit_rules():
            scope, _, name = rule.field.partition(".")
            if scope == "lead":
                source = derived_from.get(name, name)
                if source:
                    leads.add(source)
            else:  # account facts may come inline, from the accounts table, or from the lead itself
                leads.update({f"account.{name}", name})
                accounts.add(name)
        events = {"lead_id", "type", "occurred_at"}
        for _, _, irule, _ in self.intent_rules():
            for attr in irule.where:
                name = attr.removeprefix("attributes.")
                events.update({attr, name, f"attributes.{name}"})
        return {"leads": leads, "accounts": accounts, "events": events}

    def intent_rules(self) -> list[tuple[str, int, IntentRule, Decay]]:
        """(rule id, group index, rule, effective decay) in model order."""
        out = []
        for gi, g in enumerate(self.intent.groups):
            for i, r in enumerate(g.rules):
                decay = r.decay or g.decay or self.intent.decay
                out.append((r.id or f"{g.name}.{i + 1}", gi, r, decay))
        return out


def _known_fields(model: dict[str, Any]) -> dict[str, str]:
    """Every name a fit rule may use, mapped to itself (for suggestions)."""
    custom = model.get("custom_fields") or {}
    names = [f"lead.{f}" for f in (*LEAD_FIELDS, *DERIVED_FIELDS)]
    names += [f"account.{f}" for f in ACCOUNT_FIELDS]
    if isinstance(custom, dict):
        names += [f"lead.{f}" for f in custom.get("lead") or [] if isinstance(f, str)]
        names += [f"account.{f}" for f in custom.get("account") or [] if isinstance(f, str)]
    return {n: n for n in names}


def _semantic_problems(model: ScoringModel, src: YamlSource) -> list[Problem]:
    """Checks that need the whole model: names, ids, fields, event types."""
    problems: list[Problem] = []
    raw = src.data if isinstance(src.data, dict) else {}
    fields = _known_fields(raw)
    event_types = [e.value for e in EventType] + list(model.custom_event_types)

    def add(loc: tuple[str | int, ...], message: str, hint: str | None = None) -> None:
        problems.append(Problem(src.source, src.line_of(loc), format_path(loc), message, hint))

    for i, name in enumerate(model.custom_event_types):
        if not is_valid_event_type(name):
            add(("custom_event_types", i), f"'{name}' is not a valid event type name",
                "use lower-case words joined by _ . or :")

    seen: dict[str, tuple[str | int, ...]] = {}
    for gi, g in enumerate(model.fit.groups):
        for ri, r in enumerate(g.rules):
            loc: tuple[str | int, ...] = ("fit", "groups", gi, "rules", ri)
            if r.field not in fields:
                close = difflib.get_close_matches(r.field, list(fields), n=1, cutoff=0.5)
                hint = f"did you mean '{close[0]}'?" if close else (
                    "fields are lead.<name> or account.<name>; declare others under custom_fields")
                add((*loc, "field"), f"unknown field '{r.field}'", hint)
            _check_numeric(r.condition, r.field, (*loc,), add)
    for gi, ig in enumerate(model.intent.groups):
        for ri, ir in enumerate(ig.rules):
            loc = ("intent", "groups", gi, "rules", ri)
            for t in ir.events:
                if t not in event_types:
                    close = difflib.get_close_matches(t, event_types, n=1, cutoff=0.5)
                    hint = f"did you mean '{close[0]}'?" if close else (
                        "declare it under custom_event_types")
                    add((*loc, "event"), f"unknown event type '{t}'", hint)
            for attr in ir.where:
                if attr not in EVENT_ATTRIBUTES and not attr.startswith("attributes."):
                    close = difflib.get_close_matches(attr, EVENT_ATTRIBUTES, n=1, cutoff=0.5)
                    hint = f"did you mean '{close[0]}'?" if close else (
                        f"filter on {', '.join(EVENT_ATTRIBUTES)} or attributes.<name>")
                    add((*loc, "where", attr), f"unknown event attribute '{attr}'", hint)

    for fit_id, fit_group, _fit_rule in model.fit_rules():
        _unique(fit_id, ("fit", "groups", fit_group), seen, add)
    for intent_id, intent_group, _intent_rule, _decay in model.intent_rules():
        _unique(intent_id, ("intent", "groups", intent_group), seen, add)
    names = [th.name for th in model.thresholds]
    for i, th in enumerate(model.thresholds):
        if names.count(th.name) > 1:
            add(("thresholds", i, "name"), f"threshold name '{th.name}' is used twice")
    return problems


def _check_numeric(cond: Condition, field: str, loc: tuple[str | int, ...], add: Any) -> None:
    numeric_fields = {"lead.employees", "lead.annual_revenue", "account.employees",
                      "account.annual_revenue", "lead.days_since_last_activity", "lead.event_count"}
    if field in numeric_fields and cond.op in ("contains", "regex", "glob"):
        add((*loc, cond.op), f"'{cond.op}' compares text but '{field}' is a number",
            "use gt, gte, lt, lte or between")


def _unique(rid: str, loc: tuple[str | int, ...], seen: dict[str, Any], add: Any) -> None:
    if rid in seen:
        add(loc, f"rule id '{rid}' is used twice", "give each rule its own id")
    seen[rid] = loc


def parse_model(text: str, source: str = "<string>") -> ScoringModel:
    """Validate YAML text as a scoring model, or raise :class:`ModelError` listing every problem."""
    src = YamlSource(text, source, ModelError)
    if not isinstance(src.data, dict):
        raise ModelError([Problem(source, 1, "", "a scoring model must be a mapping of keys",
                                  "start with 'name: my-model'")])
    def user_path(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
        kept = tuple(p for p in loc if not (isinstance(p, str) and p in _UNION_TAGS))
        return _user_path(src.data, kept)

    model = validate(src, ScoringModel, ModelError, user_path)
    problems = _semantic_problems(model, src)
    if problems:
        raise ModelError(problems)
    return model


def _user_path(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Replace our internal ``condition`` key by the operator the user wrote (``regex``, ...)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if part == "condition" and isinstance(node, dict):
            op = next((k for k in node if k in OPERATORS), None)
            if op is not None:
                out.append(op)
                node = node[op]
                continue
        out.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(out)


_UNION_TAGS = {"str", "list[str]", "function-after[_check_value(), Condition]"}
