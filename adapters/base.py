"""The one narrow interface the connector depends on; every CRM adapter implements it.

Data flows one way: ``pull_*`` yield canonical records changed since a cursor; the connector
stores and scores them; ``write`` sends only changed field values and gets one result per
record back; the connector advances cursors only after the writes they cover are acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from scoring.records import Account, Event, Lead

__all__ = ["Adapter", "FieldSpec", "InstallPlan", "Page", "WriteRequest", "WriteResult", "Owner", "TaskRequest",
           "TaskFinder", "RemovalFinder", "StreamStatus", "StreamChecker", "STAGE_ENTERED"]

ObjectKind = Literal["lead", "account"]

#: ``Lead.custom`` key of the moment the lead entered its current lifecycle stage (ISO 8601), for
#: adapters whose CRM records it exactly; the store then uses it as that stage's outcome time.
STAGE_ENTERED = "lifecycle_stage_entered_at"


@dataclass(frozen=True)
class FieldSpec:
    """A field leadscore writes, in CRM-neutral terms (name is the CRM's API name)."""

    object: str  # CRM object: "contacts", "companies", "Lead", "Contact", "Account"
    name: str
    label: str
    type: Literal["number", "text", "textarea", "datetime", "date", "bool", "enumeration"]
    description: str = ""
    options: tuple[str, ...] = ()


@dataclass
class InstallPlan:
    """What ``install`` found and would do; ``--dry-run`` prints it, a real run applies it."""

    existing: list[FieldSpec] = field(default_factory=list)
    to_create: list[FieldSpec] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # e.g. "missing scope crm.schemas.contacts.write"

    @property
    def up_to_date(self) -> bool:
        return not self.to_create and not self.problems


@dataclass(frozen=True)
class Page:
    """One page of changed records plus the cursor to resume after it."""

    records: Sequence[Lead] | Sequence[Account] | Sequence[Event]
    cursor: str | None  # opaque; None means "nothing new"
    done: bool


@dataclass(frozen=True)
class WriteRequest:
    object: ObjectKind
    record_id: str  # the CRM's id
    values: Mapping[str, Any]  # CRM field name -> value, only the fields that changed
    owner_id: str | None = None  # assign this owner too


@dataclass(frozen=True)
class WriteResult:
    record_id: str
    ok: bool
    error: str | None = None  # the CRM's message, verbatim
    retriable: bool = False  # would the same write succeed later?


@dataclass(frozen=True)
class Owner:
    id: str
    email: str | None
    name: str | None
    active: bool = True


@dataclass(frozen=True)
class TaskRequest:
    lead_id: str
    owner_id: str | None
    subject: str
    body: str
    idempotency_key: str  # recorded by the connector; adapters may also store it on the task
    due: datetime | None = None


@dataclass(frozen=True)
class StreamStatus:
    """Whether one source of records can be read with this token on this org or portal.

    A portal's tier and a token's scopes are facts, not errors: a stream that is unavailable is
    skipped (and named once per run) while the others go on.
    """

    name: str  # the stream as the mapping names it, e.g. "web_events", "email_events", "forms"
    available: bool
    reason: str | None = None  # why not, e.g. "needs scope content", "needs Marketing Hub Enterprise"
    enable: str | None = None  # what would make it available, in words an admin acts on
    required: bool = False  # a required stream that is unavailable makes the run fail


@runtime_checkable
class Adapter(Protocol):
    """What the connector needs from a CRM."""

    name: str

    def plan_install(self, fields: Sequence[FieldSpec]) -> InstallPlan: ...

    def install(self, plan: InstallPlan) -> InstallPlan: ...

    def pull_leads(self, cursor: str | None, until: datetime) -> Iterator[Page]: ...

    def pull_accounts(self, cursor: str | None, until: datetime) -> Iterator[Page]: ...

    def pull_events(self, cursor: str | None, until: datetime) -> Iterator[Page]: ...

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteResult]: ...

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteResult]: ...

    def enroll(self, lead_ids: Sequence[str], target: str) -> list[WriteResult]: ...

    def owners(self) -> list[Owner]: ...

    def api_usage(self) -> dict[str, int | None]: ...


@runtime_checkable
class TaskFinder(Protocol):
    """Optional: an adapter that can tell which tasks it already created, by idempotency key.

    A task create cut off by a crash (the call sent, the answer lost) may or may not have landed;
    with this the connector looks before creating it again, so the task is neither duplicated nor
    lost. Adapters without it leave such a task ``uncertain`` (never duplicated, possibly missing).
    """

    def find_tasks(self, tasks: Sequence[TaskRequest]) -> set[str]:
        """The idempotency keys of ``tasks`` that exist in the CRM (as :meth:`Adapter.create_tasks`
        made them: the lead, subject and key are those of the request)."""
        ...


@runtime_checkable
class RemovalFinder(Protocol):
    """Optional: an adapter that can tell which people were deleted (or merged or converted away)
    in a time window, so the connector stops scoring them and writing to them. An adapter whose
    answer is costly may set ``removal_interval`` (a timedelta): the sync asks at most that often.
    One that learns of merges while pulling may also offer ``merged() -> {id: successor id}``,
    which the sync reads after every pull."""

    def removed(self, since: datetime, until: datetime) -> dict[str, str | None]:
        """People who stopped being people to score in ``[since, until]``: id → the id their
        score moves to (a converted or merged record's successor), or None (deleted)."""
        ...


@runtime_checkable
class StreamChecker(Protocol):
    """Optional: an adapter that can say, before reading, which of its streams this token can read
    (``install --dry-run``, ``doctor`` and the start of each sync use it)."""

    def stream_status(self) -> list[StreamStatus]:
        """One status per stream the mapping reads, in the order they are pulled."""
        ...
