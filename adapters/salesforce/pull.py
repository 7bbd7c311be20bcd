"""Reading changed rows: incremental SOQL on ``SystemModstamp`` (``Id`` breaks ties), by REST for
small result sets and by a Bulk API 2.0 query job for large ones.

The choice costs nothing extra: the first REST page says how many rows match (``totalSize``).
Up to ``bulk_threshold`` rows the REST pages are followed (⌈N/2000⌉ calls in all); above it the
same filter is handed to a Bulk 2.0 query job (create, poll, a few large CSV pages) and the rows
the first page already delivered are skipped by id.

Every query is built with simple-salesforce's ``format_soql``: values are quoted and escaped by
it, and the only ``:literal`` parts are object and field API names that the mapping validated.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from simple_salesforce import format_soql

from adapters.errors import FatalAPIError
from adapters.retry import RequestRejected

from .transport import Transport

__all__ = ["Reader", "incremental_soql", "floor_s", "ids_soql"]


def floor_s(ms: int) -> int:
    """Whole seconds: SOQL datetime literals are sent without fractions."""
    return ms - ms % 1000


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, timezone.utc)


def incremental_soql(sobject: str, columns: Sequence[str], start_ms: int | None, until_ms: int,
                     filters: Mapping[str, Any] | None = None, order: bool = True) -> str:
    """``SELECT cols FROM obj WHERE SystemModstamp < :upper [AND SystemModstamp >= :start] [AND f = :v]
    ORDER BY SystemModstamp, Id``.

    Literals are whole seconds, so the window is widened outwards: ``start`` rounds down, and
    ``upper`` is the second after the one holding ``until``. Rows changed in that last part-second
    are read now and again next run (de-duplicated downstream), never skipped.
    """
    soql = format_soql("SELECT {:literal} FROM {:literal} WHERE SystemModstamp < {}",
                       ", ".join(columns), sobject, _dt(floor_s(until_ms) + 1000))
    if start_ms is not None:
        soql += format_soql(" AND SystemModstamp >= {}", _dt(floor_s(start_ms)))
    for name, value in (filters or {}).items():
        soql += format_soql(" AND {:literal} = {}", name, value)
    if order:
        soql += " ORDER BY SystemModstamp, Id"
    return soql


def ids_soql(sobject: str, columns: Sequence[str], ids: Sequence[str], extra: Mapping[str, Any] | None = None) -> str:
    """``SELECT cols FROM obj WHERE Id IN :ids [AND f = :v]``."""
    soql = format_soql("SELECT {:literal} FROM {:literal} WHERE Id IN {}", ", ".join(columns), sobject, list(ids))
    for name, value in (extra or {}).items():
        soql += format_soql(" AND {:literal} = {}", name, value)
    return soql


@dataclass
class Reader:
    """Runs incremental queries; ``pages`` yields ``(rows, ordered)``: ordered pages come from REST
    in ``SystemModstamp, Id`` order (their last row is a safe checkpoint), bulk pages do not."""

    t: Transport
    bulk_threshold: int = 10_000
    page_size: int = 2000
    bulk_page_size: int = 50_000
    poll_max_s: float = 600.0
    sleep: Callable[[float], None] = time.sleep
    jobs: list[str] = field(default_factory=list)
    narrowed: int = 0  # windows split after a QUERY_TIMEOUT

    def pages(self, sobject: str, columns: Sequence[str], start_ms: int | None, until_ms: int,
              filters: Mapping[str, Any] | None = None) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """The window's rows; a ``QUERY_TIMEOUT`` (the query ran past Salesforce's time limit)
        is answered as mature integrations do: the same query over the two halves of the window,
        in order, halving again while they time out (down to one second)."""
        try:
            yield from self._pages(sobject, columns, start_ms, until_ms, filters)
        except RequestRejected as exc:
            if not _timed_out(exc):
                raise
            low = floor_s(start_ms or 0)
            if floor_s(until_ms) - low < 2000:
                raise FatalAPIError(f"{exc} — even a one-second window of {sobject} times out; ask Salesforce "
                                    f"support about the object's indexes") from None
            self.narrowed += 1
            mid = floor_s(low + (floor_s(until_ms) - low) // 2)
            # [low, mid) then [mid, until]: incremental_soql reads up to the second after its end
            yield from self.pages(sobject, columns, low, mid - 1000, filters)
            yield from self.pages(sobject, columns, mid, until_ms, filters)

    def _pages(self, sobject: str, columns: Sequence[str], start_ms: int | None, until_ms: int,
               filters: Mapping[str, Any] | None = None) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        soql = incremental_soql(sobject, columns, start_ms, until_ms, filters)
        first = True
        seen: set[str] = set()
        for body in self.t.query_pages(soql, self.page_size):
            rows = [_plain(r) for r in body.get("records") or []]
            if first and not body.get("done", True) and int(body.get("totalSize") or 0) > self.bulk_threshold:
                seen = {str(r["Id"]) for r in rows}
                yield rows, True
                bulk = incremental_soql(sobject, columns, start_ms, until_ms, filters, order=False)
                for chunk in self.bulk_query(bulk):
                    yield [r for r in chunk if r["Id"] not in seen], False
                return
            first = False
            yield rows, True

    def bulk_query(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        """A Bulk API 2.0 query job's rows, page by page (CSV text values; empty cells are None)."""
        self.t.ensure_fresh()  # raw Bulk 2.0 / Tooling calls: start with a fresh session
        job = self.t.http("bulk query: create job", "POST", "jobs/query",
                          json={"operation": "query", "query": soql, "contentType": "CSV",
                                "columnDelimiter": "COMMA", "lineEnding": "LF"}).json()
        self.jobs.append(str(job["id"]))
        self.wait(f"jobs/query/{job['id']}", "bulk query")
        locator = ""
        while True:
            params: dict[str, Any] = {"maxRecords": self.bulk_page_size}
            if locator:
                params["locator"] = locator
            resp = self.t.http("bulk query: results", "GET", f"jobs/query/{job['id']}/results", params=params,
                               headers={"Accept": "text/csv"})
            reader = csv.DictReader(io.StringIO(resp.content.decode("utf-8"), newline=""))
            yield [{k: (v if v != "" else None) for k, v in r.items()} for r in reader]
            locator = resp.headers.get("Sforce-Locator") or "null"
            if locator == "null":
                return

    def wait(self, path: str, what: str) -> dict[str, Any]:
        """Poll a Bulk 2.0 job until it is done (backing off from 0.5 s to 5 s)."""
        waited, delay = 0.0, 0.5
        while True:
            info: dict[str, Any] = self.t.http(f"{what}: job status", "GET", path).json()
            state = info.get("state")
            if state in ("JobComplete", "Failed", "Aborted"):
                if state != "JobComplete" and "query" in path:
                    raise FatalAPIError(f"{what}: Bulk 2.0 job {info.get('id')} ended {state}: "
                                        f"{info.get('errorMessage') or 'no message'}")
                return info
            if waited >= self.poll_max_s:
                raise FatalAPIError(f"{what}: Bulk 2.0 job {info.get('id')} still {state} after {waited:.0f}s; "
                                    f"raise LEADSCORE_SALESFORCE__BULK_POLL_MAX_S (now {self.poll_max_s:g}) or "
                                    f"see Setup → Bulk Data Load Jobs")
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)


def _timed_out(exc: RequestRejected) -> bool:
    body = exc.body if isinstance(exc.body, list) else []
    return any(isinstance(e, dict) and e.get("errorCode") == "QUERY_TIMEOUT" for e in body)


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "attributes"}
