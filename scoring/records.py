"""Canonical records: the shapes every adapter maps CRM data into and the scoring core reads.

A *lead* is a Salesforce Lead or Contact, or a HubSpot contact. An *account* is a Salesforce
Account or a HubSpot company. An *event* is one piece of engagement (an email opened, a page
viewed, a form submitted, ...). Field names here are the vocabulary of scoring models: a fit rule
on ``lead.title`` or ``account.industry`` names a field of these classes (or a custom field the
model declares), and an intent rule names an :class:`EventType` value (or a custom event type the
model declares).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

__all__ = [
    "Account",
    "Event",
    "EventType",
    "Lead",
    "ACCOUNT_FIELDS",
    "LEAD_FIELDS",
    "DERIVED_FIELDS",
    "EVENT_ATTRIBUTES",
    "CUSTOM_EVENT_TYPE",
    "is_valid_event_type",
]


class EventType(str, Enum):
    """The built-in engagement vocabulary. Models may declare custom types besides these."""

    EMAIL_SENT = "email_sent"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    EMAIL_REPLY = "email_reply"
    EMAIL_BOUNCE = "email_bounce"
    EMAIL_UNSUBSCRIBE = "email_unsubscribe"
    PAGE_VIEW = "page_view"
    FORM_SUBMIT = "form_submit"
    WEBINAR_ATTENDED = "webinar_attended"
    MEETING_BOOKED = "meeting_booked"
    MEETING_HELD = "meeting_held"
    CALL_LOGGED = "call_logged"
    CAMPAIGN_RESPONSE = "campaign_response"
    PRODUCT_USAGE = "product_usage"


#: A custom event type: lower-case words joined by ``_``, ``.`` or ``:`` (e.g. ``trial.started``).
CUSTOM_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*([.:][a-z0-9_]+)*$")


def is_valid_event_type(name: str) -> bool:
    return bool(CUSTOM_EVENT_TYPE.match(name))


@dataclass(slots=True)
class Lead:
    """A person who might buy: a Salesforce Lead/Contact or a HubSpot contact."""

    id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    company: str | None = None
    phone: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    industry: str | None = None
    employees: float | None = None
    annual_revenue: float | None = None
    lead_source: str | None = None
    lifecycle_stage: str | None = None
    lead_status: str | None = None
    owner_id: str | None = None
    account_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Account:
    """An organisation: a Salesforce Account or a HubSpot company."""

    id: str
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    employees: float | None = None
    annual_revenue: float | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    tech_stack: str | None = None  # ";"-separated, as CRMs store multi-picklists
    segment: str | None = None
    owner_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Event:
    """One engagement: who did what, when, and on which page / form / campaign."""

    lead_id: str
    type: str
    occurred_at: datetime
    id: str | None = None
    url: str | None = None
    form: str | None = None
    campaign: str | None = None
    email_id: str | None = None
    duration_seconds: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


def _names(cls: type) -> tuple[str, ...]:
    return tuple(n for n in cls.__dataclass_fields__ if n != "custom")  # type: ignore[attr-defined]


#: Fields a fit rule may name as ``lead.<field>`` / ``account.<field>``.
LEAD_FIELDS: tuple[str, ...] = _names(Lead)
ACCOUNT_FIELDS: tuple[str, ...] = _names(Account)

#: Fields the core derives from a lead and its events; rules name them as ``lead.<field>``.
DERIVED_FIELDS: tuple[str, ...] = (
    "email_domain",  # the part after "@", lower-cased
    "free_email",  # True when the domain is a known free-mail provider
    "seniority",  # executive | vp | director | manager | individual | student | unknown
    "department",  # from the title: sales, marketing, engineering, it, finance, ...
    "days_since_last_activity",  # days from the lead's latest event to `now`
    "event_count",  # number of events of any type
)

#: Event attributes an intent rule may filter on.
EVENT_ATTRIBUTES: tuple[str, ...] = ("url", "form", "campaign", "email_id", "duration_seconds")
