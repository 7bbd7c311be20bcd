"""A small in-process CRM behind the Adapter protocol, for the sync's bookkeeping tests only.

Records carry a modification counter; a cursor is the highest counter seen. Writes land in
``fields``; tasks and enrollments are kept as lists so duplicates are visible. ``crash_after``
raises :class:`Crash` (a BaseException, like a kill) after that many mutating calls, AFTER the
call took effect — the worst moment, when the CRM changed but we could not record it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from adapters.base import FieldSpec, InstallPlan, Owner, Page, TaskRequest, WriteRequest, WriteResult
from scoring.records import Account, Event, Lead


class Crash(BaseException):
    """Stands for kill -9: nothing after it runs, no except-clause of ours catches it."""


class FakeCRM:
    name = "fake"

    def __init__(self, page_size: int = 7, batch_size: int = 5):
        self.page_size = page_size
        self.batch_size = batch_size
        self.leads: dict[str, tuple[int, Lead]] = {}
        self.accounts: dict[str, tuple[int, Account]] = {}
        self.events: list[tuple[int, Event]] = []
        self.fields: dict[tuple[str, str], dict[str, Any]] = {}
        self.owners_of: dict[str, str] = {}
        self.tasks: list[TaskRequest] = []
        self.enrollments: list[tuple[str, str]] = []
        self.reject: set[str] = set()
        self.calls = 0
        self.mutations = 0
        self.crash_after: int | None = None
        self._clock = 0

    # ---- test setup ---------------------------------------------------------------------
    def put_lead(self, lead: Lead) -> None:
        self._clock += 1
        self.leads[lead.id] = (self._clock, lead)

    def put_account(self, account: Account) -> None:
        self._clock += 1
        self.accounts[account.id] = (self._clock, account)

    def put_event(self, event: Event) -> None:
        self._clock += 1
        self.events.append((self._clock, event))

    # ---- protocol -----------------------------------------------------------------------
    def plan_install(self, fields: Sequence[FieldSpec]) -> InstallPlan:
        return InstallPlan(existing=list(fields))

    def install(self, plan: InstallPlan) -> InstallPlan:
        return plan

    def _pages(self, items: list[tuple[int, Any]], cursor: str | None) -> Iterator[Page]:
        since = int(cursor or 0)
        fresh = sorted((x for x in items if x[0] > since), key=lambda x: x[0])
        if not fresh:
            yield Page([], None, True)
            return
        for start in range(0, len(fresh), self.page_size):
            chunk = fresh[start:start + self.page_size]
            self.calls += 1
            yield Page([r for _, r in chunk], str(chunk[-1][0]), start + self.page_size >= len(fresh))

    def pull_leads(self, cursor: str | None, until: datetime) -> Iterator[Page]:
        return self._pages(list(self.leads.values()), cursor)

    def pull_accounts(self, cursor: str | None, until: datetime) -> Iterator[Page]:
        return self._pages(list(self.accounts.values()), cursor)

    def pull_events(self, cursor: str | None, until: datetime) -> Iterator[Page]:
        return self._pages(self.events, cursor)

    def _mutated(self) -> None:
        self.mutations += 1
        if self.crash_after is not None and self.mutations >= self.crash_after:
            self.crash_after = None
            raise Crash()

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        self.calls += 1
        out = []
        for r in requests:
            if r.record_id in self.reject:
                out.append(WriteResult(r.record_id, False, "INVALID: rejected by the fake"))
                continue
            self.fields.setdefault((r.object, r.record_id), {}).update(r.values)
            if r.owner_id is not None:
                self.owners_of[r.record_id] = r.owner_id
            out.append(WriteResult(r.record_id, True))
        self._mutated()
        return out

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteResult]:
        self.calls += 1
        self.tasks.extend(tasks)
        self._mutated()
        return [WriteResult(t.lead_id, True, f"task {len(self.tasks)}") for t in tasks]

    def find_tasks(self, tasks: Sequence[TaskRequest]) -> set[str]:
        self.calls += 1
        made = {t.idempotency_key for t in self.tasks}
        return {t.idempotency_key for t in tasks if t.idempotency_key in made}

    def enroll(self, lead_ids: Sequence[str], target: str) -> list[WriteResult]:
        self.calls += 1
        for lead in lead_ids:
            if (lead, target) not in self.enrollments:  # enrolling twice is a no-op in a CRM
                self.enrollments.append((lead, target))
        self._mutated()
        return [WriteResult(x, True) for x in lead_ids]

    def owners(self) -> list[Owner]:
        return [Owner("O1", "o1@example.com", "One"), Owner("O2", "o2@example.com", "Two")]

    def api_usage(self) -> dict[str, int | None]:
        return {"used": self.calls, "left": None}
