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


# ---- YAML that plain YAML would accept and hide ----------------------------------------------

def test_a_key_given_twice_is_an_error_not_the_last_one_silently() -> None:
    from scoring.errors import ConfigError
    from scoring.yamlsource import YamlSource

    with pytest.raises(ConfigError) as caught:
        YamlSource("name: a\nfit:\n  groups: []\nname: b\n", "m.yaml")
    assert str(caught.value) == ("m.yaml:4: name: key 'name' is given twice (first on line 1); "
                                 "YAML would keep only the last (remove or merge one of them)")
    with pytest.raises(ModelError, match=r"m.yaml:8: fit.groups\[0\].rules\[0\].points: key 'points' is given twice"):
        parse_model("name: m\nfit:\n  groups:\n    - name: g\n      rules:\n"
                    "        - field: lead.country\n          points: 5\n          points: 7\n", "m.yaml")
    # the same key in two different mappings is fine, and merge keys still merge
    assert YamlSource("a: {x: 1}\nb: {x: 2}\n").data == {"a": {"x": 1}, "b": {"x": 2}}
    assert YamlSource("a: &d {x: 1}\nb:\n  <<: *d\n  y: 2\n").data["b"] == {"x": 1, "y": 2}


def _nested_aliases(levels: int, width: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _nested_merges(levels: int) -> str:
    lines = ["m0: &m0 {a: 1, b: 2}"]
    lines += [f"m{i}: &m{i} {{<<: *m{i - 1}, x: {{<<: *m{i - 1}}}, y: {{<<: *m{i - 1}}}}}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [_nested_aliases(9), _nested_merges(30)], ids=["aliases", "merge-keys"])
def test_alias_bombs_are_refused_quickly_and_in_little_memory(text: str) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(ModelError, match="expands to more than 100,000 nodes through its aliases"):
            parse_model(text, "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(text) < 1500 and peak < 50 * 2**20  # a 9^9-node document, refused within 50 MiB


def test_a_few_aliases_still_work() -> None:
    text = ("name: m\nx-country: &us {field: lead.country, equals: US}\nfit:\n  groups:\n    - name: g\n"
            "      rules:\n        - {<<: *us, id: a, points: 5}\n        - {<<: *us, id: b, points: 3}\n")
    with pytest.raises(ModelError, match="unknown key 'x-country'"):  # aliases are expanded, keys still checked
        parse_model(text)
    model = parse_model(text.replace("x-country: &us {field: lead.country, equals: US}\n", "")
                        .replace("{<<: *us, ", "{field: lead.country, equals: US, "))
    assert [r.id for _, _, r in model.fit_rules()] == ["a", "b"]
