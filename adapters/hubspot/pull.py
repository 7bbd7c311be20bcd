"""Incremental reads: CRM search on the last-modified property, association batch reads, and
the list of archived (deleted) objects.

A search query cannot page past 10,000 results (HubSpot answers 400), so when the next ``after``
would cross the cap the query is restarted from the last timestamp seen (``GTE``), skipping the
ids already read at exactly that timestamp (:func:`adapters.cursors.restart_after`). Results are
sorted ascending by the modified property; HubSpot breaks ties by id. Pulling N changed records
costs ⌈N/limit⌉ search calls (at least one), plus one more per restart (the cap, or a record
leaving the window while we page: see :func:`search_pages`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from adapters.cursors import Window, restart_after
from adapters.errors import AdapterError
from adapters.hubspot.convert import ms_of_text
from adapters.hubspot.transport import Transport

__all__ = ["MAX_RESULTS", "ASSOCIATION_BATCH", "archived_pages", "associations", "joined", "search_pages"]

MAX_RESULTS = 10_000


def _filters(prop: str, lo: int | None, until_ms: int) -> list[dict[str, str]]:
    out = [{"propertyName": prop, "operator": "LTE", "value": str(until_ms)}]
    if lo is not None:
        out.append({"propertyName": prop, "operator": "GTE", "value": str(lo)})
    return out


def search_pages(t: Transport, object_type: str, modified: str, properties: Sequence[str], win: Window,
                 limit: int) -> Iterator[list[dict[str, Any]]]:
    """Pages of raw objects modified within ``win``, oldest change first, each object once.

    ``after`` is an offset, so if a record already read leaves the window while we page (someone
    edits it: its new time is past the run's start; or it is deleted) every later record moves up
    one place and the next page would skip one. HubSpot's ``total`` drops when that happens; the
    query is then restarted from the last record read, as at the 10,000-result cap.
    """
    props = sorted({*properties, modified})
    lo, skip, after = win.start_ms, frozenset[str](), None
    tail: tuple[int, frozenset[str]] | None = None
    previous_total: int | None = None
    endpoint = f"POST {t.path('/crm/objects/{version}')}/{object_type}/search"

    def restart() -> tuple[int | None, frozenset[str]]:
        if tail is None:
            return win.start_ms, frozenset()
        ts, ids = tail
        if ts == lo and ids <= skip:
            raise AdapterError(f"search {object_type}: more than {MAX_RESULTS} records share the "
                               f"{modified} {ts} ms; HubSpot search cannot page past them")
        return ts, (skip | ids) if ts == lo else ids

    while True:
        body: dict[str, Any] = {"filterGroups": [{"filters": _filters(modified, lo, win.until_ms)}],
                                "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
                                "properties": props, "limit": limit}
        if after is not None:
            body["after"] = after
        data, _ = t.request(f"search {object_type}", "POST", "/crm/objects/{version}/{objectType}/search",
                            path_params={"objectType": object_type}, body=body, search=True, endpoint=endpoint)
        results: list[dict[str, Any]] = data.get("results") or []
        total = int(data.get("total") or 0)
        if after is not None and previous_total is not None and total < previous_total:
            (lo, skip), after, previous_total = restart(), None, None  # the window shrank under us
            continue
        previous_total = total
        fresh = [r for r in results if str(r["id"]) not in skip] if skip else results
        if fresh:
            yield fresh
        tail = restart_after(results, lambda r: ms_of_text((r.get("properties") or {}).get(modified)),
                             lambda r: str(r["id"]), tail)
        offset = int(after or 0) + len(results)
        nxt = ((data.get("paging") or {}).get("next") or {}).get("after")
        capped = (nxt is not None and int(nxt) >= MAX_RESULTS) or (
            nxt is None and total > offset and offset >= MAX_RESULTS - limit)
        if not capped:
            if nxt is None:
                return
            after = str(nxt)
            continue
        if tail is None:
            return
        (lo, skip), after, previous_total = restart(), None, None


def archived_pages(t: Transport, object_type: str, limit: int = 100) -> Iterator[list[dict[str, Any]]]:
    """Pages of the archived (deleted) objects HubSpot still holds, in id order, each with ``archivedAt``.

    ``GET /crm/objects/{version}/{type}?archived=true`` (``limit`` ≤ 100), asking for ``hs_object_id`` only
    to keep answers small. HubSpot cannot filter this list by archive time, so every call reads
    the whole recycling bin: ⌈archived / limit⌉ calls (at least one).
    """
    after: str | None = None
    while True:
        query: dict[str, Any] = {"limit": limit, "properties": ["hs_object_id"], "archived": True,
                                 **({"after": after} if after else {})}
        data, _ = t.request(f"list archived {object_type}", "GET", "/crm/objects/{version}/{objectType}",
                            path_params={"objectType": object_type}, query=query)
        results: list[dict[str, Any]] = (data or {}).get("results") or []
        if results:
            yield results
        after = (((data or {}).get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return


ASSOCIATION_BATCH = 1000  # ids per association batch read (HubSpot's limit since February 2025)


def joined(pages: Iterator[list[dict[str, Any]]], size: int = ASSOCIATION_BATCH,
           max_pages: int = 5) -> Iterator[list[dict[str, Any]]]:
    """Consecutive search pages joined into batches of at most ``size`` records, so the follow-up
    association read is one call per thousand records instead of one per 200-record page.

    At most ``max_pages`` pages go into one batch: search answers carry no rate-limit headers,
    the association reads do, so the daily reserve is checked at least that often."""
    batch: list[dict[str, Any]] = []
    count = 0
    for page in pages:
        if batch and (len(batch) + len(page) > size or count == max_pages):
            yield batch
            batch, count = [], 0
        batch.extend(page)
        count += 1
    if batch:
        yield batch


def associations(t: Transport, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """id → its associations (``{toObjectId, associationTypes}``) by batch read
    (``POST /crm/associations/{version}/{from}/{to}/batch/read``), ≤ 1,000 ids a call.

    Ids without associations are simply absent (HubSpot reports them as 207 errors
    ``NO_ASSOCIATIONS_FOUND``, which are not failures).
    """
    out: dict[str, list[dict[str, Any]]] = {}
    endpoint = f"POST {t.path('/crm/associations/{version}')}/{from_type}/{to_type}/batch/read"
    for i in range(0, len(ids), ASSOCIATION_BATCH):
        body = {"inputs": [{"id": str(x)} for x in ids[i:i + ASSOCIATION_BATCH]]}
        data, _ = t.request(f"read {from_type}→{to_type} associations", "POST",
                            "/crm/associations/{version}/{fromObjectType}/{toObjectType}/batch/read",
                            path_params={"fromObjectType": from_type, "toObjectType": to_type}, body=body,
                            endpoint=endpoint)
        for r in data.get("results") or []:
            out.setdefault(str(r["from"]["id"]), []).extend(r.get("to") or [])
    return out


def primary_company(links: list[dict[str, Any]]) -> str | None:
    """The company labelled Primary, else the first one."""
    for link in links:
        if any(a.get("label") == "Primary" for a in link.get("associationTypes") or []):
            return str(link["toObjectId"])
    return str(links[0]["toObjectId"]) if links else None
