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

__all__ = ["FACTORIES", "Harness", "hubspot_harness", "salesforce_harness"]


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
    adapter = HubSpotAdapter(transport, search_limit=50)  # several pages per pull, even on a small tenant
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


def salesforce_harness(tenant: Any, **server_options: Any) -> Harness:
    from adapters.salesforce import ApiSession, Credentials, SalesforceAdapter, Transport
    from sandbox.salesforce import client_session, create_server
    from sandbox.salesforce.ids import to_18

    server = create_server(tenant, **server_options).start()
    info = server.connection_info()
    sleeps: list[float] = []
    creds = Credentials(username=info["username"], consumer_key=info["consumer_key"],
                        private_key_file=info["private_key_file"], domain=info["domain"])
    session = ApiSession.adopt(client_session(info["instance_url"], info["ca_cert"]), timeout_s=10)
    adapter = SalesforceAdapter(Transport(creds, session, policy=RetryPolicy(sleep=sleeps.append, seed=1)),
                                sleep=sleeps.append)
    org = server.org
    leads, contacts, accounts = org.tables["Lead"], org.tables["Contact"], org.tables["Account"]
    people: dict[str, str | None] = {}  # every id engagement may name → the live person it counts for
    with org.lock:
        for rid, row in leads.rows.items():
            converted = leads.value(row, "IsConverted")
            people[rid] = leads.value(row, "ConvertedContactId") if converted else rid
        people |= {rid: rid for rid in contacts.rows}
        account_of = {rid: None for rid, to in people.items() if to == rid and rid.startswith("00Q")}
        account_of |= {rid: contacts.value(row, "AccountId") for rid, row in contacts.rows.items()}
        events = sum(1 for t in ("Task", "Event") for row in org.tables[t].rows.values()
                     if people.get(org.tables[t].value(row, "WhoId") or ""))
        members = org.tables["CampaignMember"]
        events += sum(1 for row in members.rows.values() if members.value(row, "HasResponded") and
                      people.get(members.value(row, "ContactId") or members.value(row, "LeadId") or ""))

    def table(record: str) -> Any:
        return leads if record.startswith("00Q") else contacts

    def stored(lead: str, field: str) -> Any:
        t = table(lead)
        with org.lock:
            return t.value(t.rows[lead], field)

    def touch(lead: str) -> None:
        org.update("Lead" if lead.startswith("00Q") else "Contact", lead,
                   {"City" if lead.startswith("00Q") else "MailingCity": "Touched"})

    def tasks_of(lead: str) -> list[dict[str, Any]]:
        tasks = org.tables["Task"]
        with org.lock:
            return [{f: tasks.value(row, f) for f in tasks.obj.fields} for row in tasks.rows.values()
                    if tasks.value(row, "WhoId") == lead]

    return Harness("salesforce", adapter, server, set(account_of), set(accounts.rows), account_of,
                   "Leadscore_Score__c", "not-a-number", to_18("00Q" + "9" * 12), stored, touch, tasks_of,
                   events, sleeps, adapter.fields())


FACTORIES: dict[str, Callable[..., Harness]] = {"hubspot": hubspot_harness, "salesforce": salesforce_harness}
