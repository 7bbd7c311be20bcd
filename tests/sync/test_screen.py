"""Screening pulled records: a value no record should hold leaves that record out, named, and no other."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connector.sync.screen import MAX_TEXT, screen
from scoring.records import Account, Event, Lead

T = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(("record", "field", "problem"), [
    (Lead("1", annual_revenue=float("nan")), "annual_revenue", "nan is not a finite number"),
    (Lead("1", employees=float("-inf")), "employees", "-inf is not a finite number"),
    (Lead("1", employees=-3), "employees", "-3 is outside 0..10,000,000"),
    (Account("1", annual_revenue=5e14), "annual_revenue", "500000000000000.0 is outside 0..10,000,000,000,000"),
    (Lead("1", title="x" * (MAX_TEXT + 1)), "title", "text of 65,537 characters (at most 65,536)"),
    (Lead("1", created_at=datetime(9999, 1, 1, tzinfo=timezone.utc)), "created_at", "is not a plausible date"),
    (Lead("1", custom={"score_2": float("inf")}), "custom.score_2", "inf is not a finite number"),
    (Lead("1", custom={"big": 10**40}), "custom.big", "is too large a number"),
    (Event("L1", "page_view", T, id="e1", duration_seconds=float("nan")), "duration_seconds", "not a finite"),
    (Event("L1", "page_view", T, id="e1", attributes={"tags": [1.0, float("nan")]}), "attributes.tags", "not a finite"),
])
def test_a_bad_value_rejects_its_record(record: object, field: str, problem: str) -> None:
    good = Lead("2", annual_revenue=2.5e6, employees=120, title="VP Sales", created_at=T, custom={"n": 3, "ok": True})
    kept, rejected = screen("leads", [good, record])  # type: ignore[list-item]
    assert kept == [good]
    assert len(rejected) == 1 and rejected[0].field == field and problem in rejected[0].problem
    assert f": {field}: " in str(rejected[0]) and "skipped until it is fixed in the CRM" in str(rejected[0])


def test_ordinary_records_pass_untouched() -> None:
    records = [Lead("1"), Lead("2", employees=0, annual_revenue=0.0), Account("A", employees=2_100_000),
               Event("L1", "meeting_held", T, duration_seconds=3600, attributes={"x": None})]
    assert screen("leads", records) == (records, [])


def test_a_hubspot_time_past_the_year_9999_is_no_time_not_a_crash() -> None:
    from adapters.hubspot.convert import parse_time

    assert parse_time("99999999999999999999") is None and parse_time("1700000000000") is not None
