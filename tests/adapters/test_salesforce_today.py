"""Salesforce as orgs are today, against the sandbox: a stock org (no custom fields) checked
before anything is written, the getDeleted rules (a purged delete log, windows over a minute),
transient ConcurrentPerOrgLongTxn refusals, QUERY_TIMEOUT answered with narrower windows, Task
picklists from the org, the call options header on every call and the API version check."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from adapters.base import TaskRequest
from adapters.errors import LimitExhausted
from adapters.salesforce import ApiSession, Credentials, Transport, load_salesforce_mapping
from adapters.salesforce.mapping import parse_salesforce_mapping
from adapters.salesforce.transport import client_id
from connector.console import load_model
from connector.store import Store
from connector.sync.run import SyncOptions, run_sync
from sandbox.salesforce import Limits, client_session, create_server
from sandbox.tenant import generate_tenant
from scoring.errors import ConfigError
from tests.adapters.test_salesforce import install, live, make_adapter

MAPPING = Path(__file__).parents[2] / "mappings" / "salesforce.yaml"


def now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def tenant() -> Any:
    return generate_tenant(seed=5, leads=240, events_per_lead=4)


@pytest.fixture
def server(tenant: Any) -> Iterator[Any]:
    with create_server(tenant) as srv:
        yield srv


# -- a stock org ---------------------------------------------------------------------------------

def test_the_default_org_is_stock_and_the_default_mapping_reads_standard_fields_only(server: Any) -> None:
    account = server.org.schema["Account"].fields
    assert not [n for n in account if n.endswith("__c")]
    mapping = load_salesforce_mapping()
    read = [f for section in (mapping.leads, mapping.contacts, mapping.accounts) for f in section.columns()]
    assert not [f for f in read if f.endswith("__c")]
    adapter = make_adapter(server)
    adapter.preflight()  # passes before install: it does not ask for the fields install creates
    assert server.log.count("GET /services/data/v{version}/sobjects/{sobject}/describe") == 6  # one per object
    with create_server(None, custom_fields=True) as custom:
        assert {"Tech_Stack__c", "Segment__c"} <= set(custom.org.schema["Account"].fields)


def test_a_mapped_field_the_org_lacks_stops_install_and_sync_before_any_write(
        server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from connector.cli import main

    mine = tmp_path / "mine.yaml"
    mine.write_text(MAPPING.read_text().replace("    # tech_stack: Tech_Stack__c\n", "    tech_stack: Tech_Stack__c\n")
                    .replace("    # segment: Segment__c\n", "    segment: Segment__c\n"))
    monkeypatch.delenv("LEADSCORE_CONFIG", raising=False)
    for name, value in server.connection_info()["env"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LEADSCORE_SALESFORCE__MAPPING", str(mine))
    monkeypatch.setenv("LEADSCORE_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    before = server.log.counts()
    assert main(["install", "--crm", "salesforce"]) == 2
    message = capsys.readouterr().err
    assert "accounts.fields.tech_stack: the org has no Account field 'Tech_Stack__c'" in message
    assert "accounts.fields.segment: the org has no Account field 'Segment__c'" in message
    assert str(mine) in message and "Traceback" not in message
    assert main(["sync", "--crm", "salesforce"]) == 2
    assert "accounts.fields.tech_stack" in capsys.readouterr().err
    after = server.log.counts()
    written = {e: n - before.get(e, 0) for e, n in after.items() if not e.startswith("GET")}
    assert written == {"POST /services/oauth2/token": 2}  # two logins; nothing created or updated


# -- logins from the CLI, as the README gives them ------------------------------------------------

@pytest.mark.parametrize("auth", ["jwt", "client-credentials"])
def test_install_and_sync_from_the_cli_with_an_external_client_app(
        tenant: Any, auth: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from connector.cli import main

    with create_server(tenant, soap_login=False) as srv:
        monkeypatch.delenv("LEADSCORE_CONFIG", raising=False)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")  # the CA_BUNDLE setting wins
        for name, value in srv.connection_info(auth)["env"].items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("LEADSCORE_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
        assert main(["install", "--crm", "salesforce"]) == 0
        assert main(["sync", "--crm", "salesforce", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["pulled"]["leads"] == len(live(srv, "Lead")) + len(live(srv, "Contact"))
        assert srv.sf.call_options == {f"client={client_id()}": sum(srv.sf.call_options.values())}


def test_soap_login_an_org_refuses_gives_one_line_naming_the_fix(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from connector.cli import main

    with create_server(None, soap_login=False) as srv:
        monkeypatch.delenv("LEADSCORE_CONFIG", raising=False)
        for name, value in srv.connection_info("soap")["env"].items():
            monkeypatch.setenv(name, value)
        assert main(["install", "--crm", "salesforce"]) == 1
        err = capsys.readouterr().err.strip()
        assert "Traceback" not in err and "SOAP" in err
        assert "JWT bearer through an External Client App" in " ".join(err.split())


def test_the_api_version_is_checked_against_the_versions_the_org_offers(server: Any) -> None:
    info = server.connection_info()
    creds = Credentials(username=info["username"], consumer_key=info["consumer_key"],
                        private_key_file=info["private_key_file"], domain=info["domain"])
    session = ApiSession.adopt(client_session(info["instance_url"], info["ca_cert"]))
    with pytest.raises(ConfigError, match="does not offer API version 99.0 .*API_VERSION=68.0"):
        Transport(creds, session, version="99.0").sf  # noqa: B018 - logs in
    assert Transport(creds, session).version == "68.0"


# -- deletions by the getDeleted rules -----------------------------------------------------------

def test_a_purged_delete_log_is_reconciled_so_deleted_leads_leave_the_store(server: Any, tmp_path: Path) -> None:
    adapter = make_adapter(server)
    install(adapter)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    model = load_model(None)
    run_sync(store, adapter, model, SyncOptions(tenant="sf"))
    gone = live(server, "Lead")[:3] + live(server, "Contact")[:2]
    for rid in gone:
        server.org.delete("Lead" if rid.startswith("00Q") else "Contact", rid)
    for sobject in ("Lead", "Contact"):  # the recycle bin was emptied before leadscore asked
        assert server.org.purge_deleted(sobject, server.org.now_ms() + 1) >= 2
    second = run_sync(store, adapter, model, SyncOptions(tenant="sf"))
    assert second.removed == len(gone)
    stored = set(store.lead_table("sf").column("id").to_pylist())
    assert not stored & set(gone)


def test_deleted_windows_are_over_a_minute_and_resume_from_latest_date_covered(tenant: Any) -> None:
    clock = [now().timestamp()]
    with create_server(tenant, clock=lambda: clock[0]) as srv:
        adapter = make_adapter(srv)
        lead = live(srv, "Lead")[0]
        adapter.owners()  # logged in
        srv.org.delete("Lead", lead)
        t = datetime.fromtimestamp(clock[0], timezone.utc)
        first = adapter.removed(t - timedelta(seconds=20), t)  # two runs close together: no refusal
        covered = adapter.removal_covered
        assert covered is not None and covered <= t + timedelta(minutes=1)
        assert lead in first
        clock[0] += 180
        later = datetime.fromtimestamp(clock[0], timezone.utc)
        assert lead in {**first, **adapter.removed(covered, later)}
        assert adapter.reconcile_needed is False
        assert srv.log.count("GET /services/data/v{version}/sobjects/{sobject}/deleted", 400) == 0


# -- transient limits and slow queries -----------------------------------------------------------

def test_concurrent_long_running_limit_is_retried_with_backoff(server: Any) -> None:
    sleeps: list[float] = []
    adapter = make_adapter(server, sleeps=sleeps)
    adapter.owners()  # logged in and checked
    server.sf.hold_long_requests([25, 25, 0])  # the org is at its 25 long-running requests, twice
    people = {r.id for p in adapter.pull_leads(None, now()) for r in p.records}
    assert people == set(live(server, "Lead") + live(server, "Contact"))
    assert len(sleeps) == 2 and server.log.count(status=403) == 2
    lead = live(server, "Lead")[0]
    server.sf.hold_long_requests([30])  # a create is retried too: the refused request never ran
    made = adapter.create_tasks([TaskRequest(lead, None, "Call now", "hot", "k-1")])
    assert made[0].ok and len(sleeps) == 3
    server.sf.quota.reset(used=server.sf.quota.total)  # the 24-hour limit is another matter
    with pytest.raises(LimitExhausted):
        adapter.owners()


def test_query_timeout_is_answered_with_narrower_windows(tenant: Any) -> None:
    with create_server(tenant, limits=Limits(query_timeout_rows=60)) as srv:
        adapter = make_adapter(srv, bulk_query_threshold=10**9)
        adapter.preflight()
        people = [r.id for p in adapter.pull_leads(None, now()) for r in p.records]
        assert sorted(people) == sorted(live(srv, "Lead") + live(srv, "Contact"))
        assert adapter.reader.narrowed > 0
        assert srv.log.count(status=400) == adapter.reader.narrowed


# -- Tasks as the org's picklists allow ----------------------------------------------------------

def test_task_status_and_priority_come_from_the_orgs_restricted_picklists(server: Any) -> None:
    server.org.set_picklist("Task", "Status", ["Open", "Done"], "Open")
    server.org.set_picklist("Task", "Priority", ["P1", "P2"], "P2")
    adapter = make_adapter(server)
    lead = live(server, "Lead")[0]
    made = adapter.create_tasks([TaskRequest(lead, None, "Call now", "hot lead", "k-2")])
    assert made[0].ok, made[0].error
    tasks = server.org.tables["Task"]
    row = next(r for r in tasks.rows.values() if tasks.value(r, "Subject") == "Call now")
    assert (tasks.value(row, "Status"), tasks.value(row, "Priority")) == ("Open", "P2")
    chosen = make_adapter(server)
    chosen.mapping = parse_salesforce_mapping(MAPPING.read_text().replace("tasks: {}", "tasks: {priority: P1}"))
    assert chosen.create_tasks([TaskRequest(lead, None, "Call again", "hot lead", "k-3")])[0].ok
    wrong = make_adapter(server)
    wrong.mapping = parse_salesforce_mapping(MAPPING.read_text().replace("tasks: {}", "tasks: {status: Not Started}"))
    with pytest.raises(ConfigError, match="tasks.status: 'Not Started' is not a value of the org's Task Status"):
        wrong.preflight()


def test_the_bulk_poll_limit_is_a_setting(server: Any) -> None:
    from adapters.salesforce import SalesforceAdapter
    from connector.settings import SalesforceSettings

    info = server.connection_info()
    settings = SalesforceSettings(username=info["username"], consumer_key=info["consumer_key"],
                                  private_key_file=info["private_key_file"], domain=info["domain"],
                                  login_url=info["login_url"], ca_bundle=info["ca_cert"], bulk_poll_max_s=5)
    adapter = SalesforceAdapter.from_settings(settings)
    assert adapter.reader.poll_max_s == 5
    assert adapter.owners()  # logged in through LOGIN_URL and CA_BUNDLE alone


def test_stream_status_names_an_engagement_object_the_user_cannot_query(server: Any) -> None:
    from adapters.base import StreamChecker

    adapter = make_adapter(server)
    assert isinstance(adapter, StreamChecker)
    assert all(s.available for s in adapter.stream_status())
    adapter.mapping = parse_salesforce_mapping(MAPPING.read_text().replace("  - object: Event\n",
                                                                            "  - object: pi__Visit__c\n"))
    missing = [s for s in adapter.stream_status() if not s.available]
    assert [(s.name, s.required) for s in missing] == [("events:pi__Visit__c", False)]
    assert "cannot query pi__Visit__c" in (missing[0].reason or "")


def test_a_busy_token_endpoint_is_retried_not_reported_as_a_refused_login() -> None:
    from adapters.retry import RetryPolicy
    from sandbox.http import FaultConfig

    with create_server(None, faults=FaultConfig(rate_429=0.5, rate_5xx=0.3, seed=3)) as srv:
        info = srv.connection_info()
        creds = Credentials(username=info["username"], consumer_key=info["consumer_key"],
                            private_key_file=info["private_key_file"], domain=info["domain"])
        t = Transport(creds, ApiSession.adopt(client_session(srv.url, srv.ca_pem or "")),
                      policy=RetryPolicy(sleep=lambda s: None, max_attempts=20, seed=1))
        assert list(t.query_pages("SELECT Id FROM User"))[0]["totalSize"] == 1
        statuses = srv.log.status_counts()
        assert statuses[("POST /services/oauth2/token", 200)] == 1
        assert statuses[("POST /services/oauth2/token", 429)] + statuses[("POST /services/oauth2/token", 503)] > 0
