"""Pure pieces: cursor bookkeeping, HTTP failure classification, the rate limiter, the mapping
loader's messages and the property conversions."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import cursors
from adapters.errors import AuthError, LimitExhausted, PermissionDenied, RetriableAPIError
from adapters.hubspot.convert import parse_number, to_property_value
from adapters.hubspot.errors import UnknownProperty, translate
from adapters.retry import RateLimiter, RequestRejected, RetryPolicy, classify_http
from mappings.loader import load_hubspot_mapping, parse_hubspot_mapping
from scoring.errors import ConfigError

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "hubspot.yaml"

# -- cursors --------------------------------------------------------------------------------


def test_window_starts_an_overlap_before_the_mark_and_ends_at_the_run_start() -> None:
    assert cursors.window(None, 5_000, 300) == cursors.Window(None, 5_000)
    assert cursors.window(4_000, 5_000, 300) == cursors.Window(3_700, 5_000)
    assert cursors.window(9_000, 5_000, 300) == cursors.Window(4_700, 5_000)  # a mark past `until` is capped


@given(st.none() | st.integers(0, 10**13), st.none() | st.integers(0, 10**13), st.integers(0, 10**13))
def test_advance_only_moves_forward_and_never_past_until(mark: int | None, seen: int | None, until: int) -> None:
    moved = cursors.advance(mark, seen, until)
    if mark is not None:
        assert moved is not None and moved >= mark
    if seen is not None:
        assert moved is not None and moved <= max(until, mark if mark is not None else until)


@given(st.integers(0, 4_102_444_800_000))
def test_cursor_text_round_trips(ms: int) -> None:
    assert cursors.decode(cursors.encode(ms)) == ms
    assert cursors.decode_map(cursors.encode_map({"web": ms, "email": ms + 1})) == {"web": ms, "email": ms + 1}


def test_a_plain_cursor_applies_to_every_event_source() -> None:
    assert cursors.decode_map("2026-01-01T00:00:00.000Z") == {"*": 1_767_225_600_000}
    with pytest.raises(ValueError, match="not an ISO-8601"):
        cursors.decode("yesterday")


def test_dedupe_keeps_first_occurrence() -> None:
    fresh, seen = cursors.dedupe([{"id": "a"}, {"id": "b"}, {"id": "a"}], frozenset({"b"}), lambda r: r["id"])
    assert fresh == [{"id": "a"}] and seen == {"a", "b"}


def test_restart_point_collects_ties_across_pages() -> None:
    page1 = [(1, "a"), (5, "b"), (5, "c")]
    page2 = [(5, "d")]
    tail = cursors.restart_after(page1, lambda r: r[0], lambda r: r[1])
    assert tail == (5, frozenset({"b", "c"}))
    assert cursors.restart_after(page2, lambda r: r[0], lambda r: r[1], tail) == (5, frozenset({"b", "c", "d"}))
    assert cursors.restart_after([(6, "e")], lambda r: r[0], lambda r: r[1], tail) == (6, frozenset({"e"}))
    assert cursors.restart_after([], lambda r: r[0], lambda r: r[1]) is None

# -- classification and retries ---------------------------------------------------------------


@pytest.mark.parametrize(("status", "body", "headers", "kind", "text"), [
    (401, {"category": "INVALID_AUTHENTICATION", "message": "bad"}, {}, AuthError, "token is invalid"),
    (401, {"category": "EXPIRED_AUTHENTICATION", "message": "expired 2 day(s) ago"}, {}, AuthError, "refresh"),
    (403, {"category": "MISSING_SCOPES", "errors": [{"context": {"requiredGranularScopes": ["forms"]}}]}, {},
     PermissionDenied, "missing scope forms"),
    (429, {"errorType": "RATE_LIMIT", "policyName": "DAILY", "message": "daily"}, {}, LimitExhausted, "daily"),
    (403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}], {}, LimitExhausted,
     "daily"),
    (429, {"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}, {"Retry-After": "2"}, RetriableAPIError,
     "429"),
    (502, "<html>bad gateway</html>", {}, RetriableAPIError, "bad gateway"),
    (400, {"category": "VALIDATION_ERROR", "message": "nope"}, {}, RequestRejected, "nope"),
])
def test_classify_http(status: int, body: object, headers: dict[str, str], kind: type, text: str) -> None:
    err = classify_http(status, body, headers, "do a thing")
    assert type(err) is kind and text in str(err) and str(err).startswith("do a thing")
    if headers:
        assert getattr(err, "retry_after", None) == 2.0


def test_unknown_property_is_recognised_in_hubspots_400() -> None:
    class ApiException(Exception):  # the shape of every generated client's ApiException
        __module__ = "hubspot.crm.objects.exceptions"
        status, headers = 400, dict[str, str]()
        body = ('{"status":"error","category":"VALIDATION_ERROR","message":"Property values were not valid: '
                '[{\\"isValid\\":false,\\"error\\":\\"PROPERTY_DOESNT_EXIST\\",\\"name\\":\\"lead_scroe\\"}]"}')

    err = translate(ApiException(), "update contacts")
    assert isinstance(err, UnknownProperty) and err.names == ["lead_scroe"]


def test_policy_gives_up_after_max_attempts_and_reraises() -> None:
    sleeps: list[float] = []
    calls = []

    def fail() -> None:
        calls.append(1)
        raise RetriableAPIError("x: HTTP 503", 503)

    with pytest.raises(RetriableAPIError):
        RetryPolicy(max_attempts=3, sleep=sleeps.append).call(fail)
    assert len(calls) == 3 and len(sleeps) == 2


def test_non_idempotent_calls_retry_only_a_429() -> None:
    calls: list[int] = []

    def fail(status: int) -> None:
        calls.append(status)
        raise RetriableAPIError("x", status)

    policy = RetryPolicy(max_attempts=3, sleep=lambda s: None)
    with pytest.raises(RetriableAPIError):
        policy.call(lambda: fail(502), idempotent=False)
    with pytest.raises(RetriableAPIError):
        policy.call(lambda: fail(429), idempotent=False)
    assert calls == [502, 429, 429, 429]


def test_rate_limiter_keeps_to_its_window() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(3, 10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(7):
        limiter.acquire()
    assert slept == [10.0, 10.0] and now[0] == 20.0

# -- mappings and conversions ---------------------------------------------------------------


def test_builtin_mapping_loads() -> None:
    m = load_hubspot_mapping()
    assert m.write_property("contacts", "score") == "leadscore_score"
    assert m.contacts.fields["title"] == "jobtitle"


def test_mapping_errors_name_file_line_and_key_path(tmp_path: Path) -> None:
    text = MAPPING.read_text().replace("title: jobtitle", "titel: jobtitle").replace(
        "type: number}", "type: float}", 1).replace("forms: form_submit", "forms: Form Submit")
    path = tmp_path / "admin.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_hubspot_mapping(path)
    lines = text.splitlines()
    problems = {p.path: p for p in info.value.problems}
    assert "write_back.contacts.score.type" in problems
    assert "float" in lines[problems["write_back.contacts.score.type"].line - 1]  # type: ignore[operator]
    with pytest.raises(ConfigError) as second:  # semantic checks run once the shape is valid
        parse_hubspot_mapping(text.replace("type: float}", "type: number}"), str(path))
    found = {p.path: p for p in second.value.problems}
    assert set(found) == {"contacts.fields.titel", "events.forms"}
    assert "titel" in lines[found["contacts.fields.titel"].line - 1]  # type: ignore[operator]
    assert str(found["events.forms"]).startswith(f"{path}:")


def test_property_values_and_bands() -> None:
    assert parse_number("100-500") == 100 and parse_number("1000+") == 1000 and parse_number("") is None
    assert to_property_value(True) == "true" and to_property_value(None) == "" and to_property_value(42.0) == "42"
    moment = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=timezone.utc)
    assert to_property_value(moment) == "2026-01-02T03:04:05.678Z"
