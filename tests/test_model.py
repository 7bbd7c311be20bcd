"""Scoring-model validation: every problem names file, line, key path and value, with a fix."""

from __future__ import annotations

import pytest
import yaml

from scoring.errors import ModelError
from scoring.model import parse_model

from .helpers import DEFAULT_MODEL_TEXT


def problems(text: str) -> list[str]:
    with pytest.raises(ModelError) as info:
        parse_model(text, "model.yaml")
    return [str(p) for p in info.value.problems]


def test_default_model_is_valid_and_versioned() -> None:
    model = parse_model(DEFAULT_MODEL_TEXT, "default_b2b.yaml")
    assert model.name == "default-b2b"
    assert len(model.version) == 12
    # comments and layout do not change the version; content does
    assert parse_model("# hi\n" + DEFAULT_MODEL_TEXT).version == model.version
    assert parse_model(DEFAULT_MODEL_TEXT.replace("points: 50", "points: 55")).version != model.version


def test_unknown_operator_lists_valid_ones_and_suggests() -> None:
    text = """name: m
fit:
  groups:
    - name: g
      rules:
        - field: lead.country
          equal: US
          points: 5
"""
    [problem] = problems(text)
    assert problem.startswith("model.yaml:6: fit.groups[0].rules[0]:")
    assert "unknown operator 'equal'" in problem
    assert "did you mean 'equals'" in problem
    assert "between" in problem  # the valid operators are listed


def test_unknown_field_suggests_closest() -> None:
    text = """name: m
fit:
  groups:
    - name: g
      rules:
        - field: lead.titel
          contains: vp
          points: 5
"""
    [problem] = problems(text)
    assert problem.startswith("model.yaml:6: fit.groups[0].rules[0].field:")
    assert "unknown field 'lead.titel'" in problem and "did you mean 'lead.title'" in problem


def test_unknown_event_type_and_attribute() -> None:
    text = """name: m
intent:
  groups:
    - name: web
      rules:
        - event: page_veiw
          where: {urll: {glob: "*/pricing"}}
          points: 5
"""
    found = problems(text)
    assert any(p.startswith("model.yaml:6: intent.groups[0].rules[0].event:") and "page_view" in p for p in found)
    assert any("unknown event attribute 'urll'" in p and "did you mean 'url'" in p for p in found)


def test_custom_event_types_and_fields_are_accepted_once_declared() -> None:
    text = """name: m
custom_event_types: [trial.started]
custom_fields: {lead: [plan_tier]}
fit:
  groups:
    - name: g
      rules: [{field: lead.plan_tier, equals: pro, points: 5}]
intent:
  groups:
    - name: p
      rules: [{event: trial.started, points: 10}]
"""
    model = parse_model(text)
    assert [r.field for _, _, r in model.fit_rules()] == ["lead.plan_tier"]


def test_bad_values_name_the_value() -> None:
    text = """name: m
intent:
  decay: {type: exponential}
  groups:
    - name: g
      rules:
        - event: email_open
          points: five
          window: {max_events: 0, days: 30}
thresholds:
  - {name: mql, enter: 60, exit: 70}
"""
    found = "\n".join(problems(text))
    assert "model.yaml:3: intent.decay: decay type 'exponential' needs half_life_days" in found
    assert "model.yaml:8: intent.groups[0].rules[0].points" in found and "'five'" in found
    assert "intent.groups[0].rules[0].window.max_events" in found
    assert "exit (70.0) must not be above enter (60.0)" in found


def test_broken_yaml_names_the_line() -> None:
    [problem] = problems("name: m\nfit:\n  groups: [\n    - name: x\n")
    assert problem.startswith("model.yaml:") and "not valid YAML" in problem


def test_regex_and_between_are_checked() -> None:
    text = """name: m
fit:
  groups:
    - name: g
      rules:
        - {field: lead.title, regex: "(unclosed", points: 1}
        - {field: account.employees, between: [500, 10], points: 1}
"""
    found = "\n".join(problems(text))
    assert "model.yaml:6: fit.groups[0].rules[0].regex: bad regular expression" in found
    assert "model.yaml:7: fit.groups[0].rules[1].between:" in found and "low <= high" in found


def test_text_operator_on_a_number_field() -> None:
    text = """name: m
fit:
  groups:
    - name: g
      rules:
        - {field: account.employees, contains: "10", points: 1}
"""
    [problem] = problems(text)
    assert problem.startswith("model.yaml:6: fit.groups[0].rules[0].contains:") and "is a number" in problem


def test_duplicate_rule_ids_and_unknown_keys() -> None:
    text = """name: m
colour: blue
fit:
  groups:
    - name: g
      rules:
        - {id: a, field: lead.title, exists: true, points: 1}
        - {id: a, field: lead.country, exists: true, points: 1}
"""
    found = "\n".join(problems(text))
    assert "model.yaml:2: colour: unknown key 'colour'" in found


def test_a_dumped_model_reads_back_as_the_same_model() -> None:
    """Models are exportable: dumping to YAML and parsing again gives the same model and version."""
    model = parse_model(DEFAULT_MODEL_TEXT)
    again = parse_model(yaml.safe_dump(model.model_dump(mode="json", exclude_none=True), sort_keys=False))
    assert again == model and again.version == model.version
