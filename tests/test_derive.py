"""Fields derived from raw values: seniority and department from titles, e-mail domains."""

from __future__ import annotations

import pytest

from scoring.derive import department, email_domain, is_free_email, seniority


@pytest.mark.parametrize(("title", "expected"), [
    ("Chief Revenue Officer", "executive"), ("CEO & Co-founder", "executive"), ("President", "executive"),
    ("Vice President, Sales", "vp"), ("SVP Marketing", "vp"), ("Head of Growth", "vp"),
    ("IT Director", "director"), ("Marketing Manager", "manager"), ("Data Analyst", "individual"),
    ("MBA Student", "student"), ("Summer Intern", "student"), ("", None), (None, None),
])
def test_seniority(title: str | None, expected: str | None) -> None:
    assert seniority(title) == expected


@pytest.mark.parametrize(("title", "expected"), [
    ("VP of Sales", "sales"), ("Demand Gen Manager", "marketing"), ("Software Engineer", "engineering"),
    ("CFO", "finance"), ("Head of People", "hr"), ("Office Assistant", "other"),
])
def test_department(title: str, expected: str) -> None:
    assert department(title) == expected


def test_email_domain_and_free_mail() -> None:
    assert email_domain("Ana.Silva@Initech.COM ") == "initech.com"
    assert is_free_email("x@gmail.com") is True and is_free_email("x@initech.com") is False
    assert email_domain("not-an-email") is None and is_free_email(None) is None
