"""What the shared contract suite needs to know about one adapter and its sandbox.

Each CRM contributes a factory that starts its sandbox seeded from a tenant, builds its adapter
over real loopback HTTP, and answers questions about the sandbox's state directly (not through the
adapter), so a wrong answer from the adapter fails the test. The Salesforce adapter joins by adding
a factory to :data:`FACTORIES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.base import Adapter, FieldSpec
from adapters.retry import RetryPolicy

__all__ = ["FACTORIES", "Harness", "hubspot_harness"]


@dataclass
class Harness:
    name: str
    adapter: Adapter
    server: Any
    lead_ids: set[str]  # every lead/contact id in the CRM
    account_ids: set[str]
    account_of: dict[str, str | None]  # lead id → account id, per the tenant
    score_field: str  # the CRM field the score is written to
    bad_score: Any  # a value the CRM rejects for score_field
    missing_id: str  # a well-formed lead id that does not exist
    stored: Callable[[str, str], Any]  # (lead id, field) → value the CRM holds now
    touch: Callable[[str], None]  # change a lead so it reads as modified now
    tasks_of: Callable[[str], list[dict[str, Any]]]  # tasks associated to a lead
    event_count: int  # events in the tenant that the default mapping covers
    sleeps: list[float]  # what the retry policy slept
    fields: list[FieldSpec]  # what install creates for the default mapping


def hubspot_harness(tenant: Any, **server_options: Any) -> Harness:
    from adapters.hubspot import Credentials, HubSpotAdapter, Transport
    from sandbox.hubspot import contact_id_of, create_server

    options = {"search_per_second": 50, **server_options}
    faults = options.pop("faults", None)
    server = create_server(tenant, faults=faults, **options)
    server.start()
    sleeps: list[float] = []
    transport = Transport(server.url, Credentials(server.token), rate_per_10s=2000,
                          search_per_second=options["search_per_second"],
                          policy=RetryPolicy(sleep=sleeps.append, seed=1), timeout_s=10)
    adapter = HubSpotAdapter(transport)
    ids = contact_id_of(tenant)
    accounts = {a: str(i + 1) for i, a in enumerate(tenant.accounts.column("id").to_pylist())}
    account_of = {str(ids[lead]): accounts.get(acc) if acc else None
                  for lead, acc in zip(tenant.leads.column("id").to_pylist(),
                                       tenant.leads.column("account_id").to_pylist(), strict=True)}
    portal = server.portal
    contacts = portal.stores["contacts"]

    def stored(lead: str, field: str) -> Any:
        return contacts.records[int(lead)].props.get(field)

    def touch(lead: str) -> None:
        with portal.lock:
            portal.update(contacts, contacts.records[int(lead)], {"city": "Touched"})

    def tasks_of(lead: str) -> list[dict[str, Any]]:
        tasks = portal.stores["tasks"]
        with portal.lock:
            return [dict(tasks.records[t].props) for t in portal.associated("contacts", "tasks", int(lead))]

    return Harness("hubspot", adapter, server, {str(i) for i in ids.values()}, set(accounts.values()), account_of,
                   "leadscore_score", "not-a-number", "99999999", stored, touch, tasks_of,
                   tenant.events.num_rows, sleeps, adapter.fields())


FACTORIES: dict[str, Callable[..., Harness]] = {"hubspot": hubspot_harness}
