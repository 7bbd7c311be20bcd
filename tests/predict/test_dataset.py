"""Turning raw tables into features: targets, kinds, placeholders, clear errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from scoring.predict.dataset import DataError, encode, infer_schema, parse_target, parse_times


@pytest.mark.parametrize(("values", "expected"), [
    (["0", "1", "1"], [0, 1, 1]),
    (["yes", "No", "YES"], [1, 0, 1]),
    ([True, False, True], [1, 0, 1]),
    (["true", "False", " TRUE "], [1, 0, 1]),
    ([1, 0, 0], [1, 0, 0]),
])
def test_binary_targets_in_any_spelling(values: list, expected: list[int]) -> None:
    assert parse_target(pa.table({"y": values}), "y").tolist() == expected


def test_non_binary_target_names_the_values_it_saw() -> None:
    with pytest.raises(DataError, match=r"'stage'.*must be binary.*'maybe'"):
        parse_target(pa.table({"stage": ["yes", "no", "maybe"]}), "stage")


def test_single_class_target_is_refused() -> None:
    with pytest.raises(DataError, match="only one class"):
        parse_target(pa.table({"y": ["1", "1"]}), "y")


def test_missing_target_column_lists_the_columns() -> None:
    with pytest.raises(DataError, match=r"'Converted' is not in the table.*'a', 'b'"):
        infer_schema(pa.table({"a": ["1"], "b": ["2"]}), "Converted")


def test_unknown_drop_column_is_named() -> None:
    with pytest.raises(DataError, match=r"--drop.*\['nope'\]"):
        infer_schema(pa.table({"a": ["1", "2"], "y": ["0", "1"]}), "y", ["nope"])


def test_kinds_placeholders_and_left_out_columns(history: pa.Table) -> None:
    schema = infer_schema(history, "Converted", ["id", "Created"])
    kinds = {f.name: f.kind for f in schema.features}
    assert kinds == {"Lead Source": "categorical", "TotalVisits": "numeric",
                     "Occupation": "categorical", "Noise": "numeric"}
    assert any("'Constant' left out" in note for note in schema.notes)
    source = next(f for f in schema.features if f.name == "Lead Source")
    assert "google" in source.categories and "google " not in source.categories  # folded
    occupation = next(f for f in schema.features if f.name == "Occupation")
    assert occupation.placeholders == ("Select",)
    assert "select" not in occupation.categories


def test_identifier_columns_are_left_out(history: pa.Table) -> None:
    schema = infer_schema(history, "Converted", ["Created"])
    assert "id" not in schema.names
    assert any("'id' left out: looks like an identifier" in n for n in schema.notes)


def test_encode_codes_missing_rare_and_unseen(history: pa.Table) -> None:
    schema = infer_schema(history, "Converted", ["id", "Created"])
    new = pa.table({"Lead Source": ["GOOGLE", "Carrier pigeon", None],
                    "TotalVisits": ["3", "n/a", "1,200"],
                    "Occupation": ["Select", "student", "Student"], "Noise": ["0", "0", "0"]})
    x = encode(schema, new)
    source = next(f for f in schema.features if f.name == "Lead Source")
    j = schema.names.index("Lead Source")
    assert x[0, j] == source.categories.index("google")
    assert x[1, j] == len(source.categories)  # unseen → "other"
    assert np.isnan(x[2, j])
    k = schema.names.index("TotalVisits")
    assert x[0, k] == 3 and np.isnan(x[1, k]) and x[2, k] == 1200
    o = schema.names.index("Occupation")
    assert np.isnan(x[0, o]) and x[1, o] == x[2, o]


def test_encode_names_the_columns_a_table_lacks(history: pa.Table) -> None:
    schema = infer_schema(history, "Converted", ["id", "Created"])
    with pytest.raises(DataError, match=r"lacks column\(s\).*'Noise'"):
        encode(schema, history.drop_columns(["Noise"]))


def test_times_from_iso_text_and_errors() -> None:
    t = parse_times(pa.table({"t": ["2025-01-02", None, "2025-01-01T12:00:00Z"]}), "t")
    assert t[0] > t[2] and np.isnan(t[1])
    with pytest.raises(DataError, match="neither ISO-8601"):
        parse_times(pa.table({"t": ["yesterday"]}), "t")
