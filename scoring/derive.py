"""Fields the core derives from raw lead values: e-mail domain, free-mail flag, seniority and
department from a job title. Pure functions over one value, applied to each *distinct* value by
the batch engine and to the single value by the explain path, so both agree by construction."""

from __future__ import annotations

import re

__all__ = ["email_domain", "is_free_email", "seniority", "department", "FREE_EMAIL_DOMAINS"]

FREE_EMAIL_DOMAINS = frozenset((
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "ymail.com",
    "hotmail.com", "hotmail.co.uk", "hotmail.fr", "outlook.com", "live.com", "msn.com", "aol.com",
    "icloud.com", "me.com", "mac.com", "protonmail.com", "proton.me", "gmx.com", "gmx.de",
    "gmx.net", "web.de", "mail.com", "mail.ru", "yandex.ru", "yandex.com", "zoho.com", "qq.com",
    "163.com", "126.com", "rediffmail.com", "fastmail.com", "tutanota.com", "hey.com",
))


def email_domain(email: object) -> str | None:
    if not isinstance(email, str) or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower()
    return domain or None


def is_free_email(email: object) -> bool | None:
    domain = email_domain(email)
    return None if domain is None else domain in FREE_EMAIL_DOMAINS


# Order matters: the first pattern that matches wins.
_SENIORITY = [
    ("student", r"\b(student|intern|trainee|graduate|phd candidate|job seeker|looking for)\b"),
    ("executive", r"\b(c[etfoims]o|chief|founder|co-founder|owner|(?<!vice )president|partner|"
                  r"managing director|general manager)\b"),
    ("vp", r"\b(vp|svp|evp|vice president|head of)\b"),
    ("director", r"\b(director)\b"),
    ("manager", r"\b(manager|lead|supervisor|principal)\b"),
]
_DEPARTMENT = [
    ("sales", r"\b(sales|account executive|business development|bdr|sdr|revenue)\b"),
    ("marketing", r"\b(marketing|growth|demand gen|brand|cmo|content)\b"),
    ("engineering", r"\b(engineer|engineering|developer|cto|software|devops|architect)\b"),
    ("it", r"\b(it|cio|information technology|systems|infrastructure|security)\b"),
    ("finance", r"\b(finance|financial|cfo|controller|accounting|accountant)\b"),
    ("operations", r"\b(operations|coo|ops|supply chain|logistics)\b"),
    ("hr", r"\b(hr|human resources|people|talent|recruit\w*)\b"),
    ("executive", r"\b(ceo|founder|president|owner|managing director)\b"),
]
_SEN = [(name, re.compile(p, re.IGNORECASE)) for name, p in _SENIORITY]
_DEP = [(name, re.compile(p, re.IGNORECASE)) for name, p in _DEPARTMENT]


def seniority(title: object) -> str | None:
    if not isinstance(title, str) or not title.strip():
        return None
    for name, pattern in _SEN:
        if pattern.search(title):
            return name
    return "individual"


def department(title: object) -> str | None:
    if not isinstance(title, str) or not title.strip():
        return None
    for name, pattern in _DEP:
        if pattern.search(title):
            return name
    return "other"
