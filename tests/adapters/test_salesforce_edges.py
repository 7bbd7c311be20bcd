"""Salesforce adapter edges: SOQL injection, login flows the sandbox lacks (``responses``), install
(dry run, idempotence, a missing permission), CSV round trips and mapping files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import responses

from adapters.base import WriteRequest
from adapters.errors import AuthError
from adapters.retry import RetryPolicy
from adapters.salesforce import ApiSession, Credentials, SalesforceAdapter, Transport
from adapters.salesforce.mapping import load_salesforce_mapping, parse_salesforce_mapping
from adapters.salesforce.pull import ids_soql, incremental_soql
from sandbox.salesforce import create_server
from sandbox.salesforce.soql import And, Compare, In, parse
from sandbox.tenant import generate_tenant
from scoring.errors import ConfigError
from tests.adapters.test_salesforce import install, live, make_adapter

HOSTILE = ["O'Brien", "x' OR Name != 'y", "back\\slash\\", "\\' OR Id != \\'", "a' LIMIT 1 --",
           "SELECT Id FROM User WHERE Id != null", "\"; DELETE", "%' OR Email LIKE '%", "\n' OR '1'='1"]


@pytest.fixture(scope="module")
def server() -> Any:
    with create_server(generate_tenant(seed=3, leads=300, events_per_lead=2)) as srv:
        yield srv


def now() -> datetime:
    return datetime.now(timezone.utc)


# -- SOQL injection ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_stays_one_literal_in_every_query_we_build(value: str) -> None:
    by_id = parse(ids_soql("Lead", ["Id", "Email"], [value, "00Q000000000001AAA"], {"IsConverted": True}))
    assert isinstance(by_id.where, And) and len(by_id.where.items) == 2
    ids, flag = by_id.where.items
    assert isinstance(ids, In) and [v.value for v in ids.values] == [value, "00Q000000000001AAA"]
    assert isinstance(flag, Compare) and flag.value.value is True
    since = parse(incremental_soql("Task", ["Id", "Subject"], 0, 10**12, {"Subject": value}))
    assert isinstance(since.where, And) and len(since.where.items) == 3
    subject = since.where.items[2]
    assert isinstance(subject, Compare) and subject.field.path == ("Subject",) and subject.op == "="
    assert subject.value.value == value and since.limit is None and since.sobject == "Task"


def test_hostile_lead_values_round_trip_and_cannot_widen_a_query(server: Any) -> None:
    adapter = make_adapter(server)
    install(adapter)
    leads = [server.org.insert("Lead", {"LastName": v[:80], "Company": v, "Title": v}) for v in HOSTILE]
    pulled = {r.id: r for p in adapter.pull_leads(None, now()) for r in p.records}
    assert [(pulled[i].last_name, pulled[i].company) for i in leads] == [(v[:80], v) for v in HOSTILE]
    # the values go back out as text (REST JSON and Bulk CSV) and come back unchanged
    rest = adapter.write([WriteRequest("lead", i, {"Leadscore_Reasons__c": v})
                          for i, v in zip(leads, HOSTILE, strict=True)])
    assert all(r.ok for r in rest)
    bulk = make_adapter(server, bulk_write_threshold=1)
    assert all(r.ok for r in bulk.write([WriteRequest("lead", i, {"Leadscore_Reasons__c": v + ",\"q\""})
                                         for i, v in zip(leads, HOSTILE, strict=True)]))
    table = server.org.tables["Lead"]
    assert [table.value(table.rows[i], "Leadscore_Reasons__c") for i in leads] == [v + ",\"q\"" for v in HOSTILE]
    # an id or a campaign that tries to break out of its literal matches nothing and writes nothing
    campaign = next(iter(server.org.tables["Campaign"].rows))
    members = len(server.org.tables["CampaignMember"].rows)
    [result] = adapter.enroll(["003' OR ContactId != '"], campaign)
    assert not result.ok and len(server.org.tables["CampaignMember"].rows) == members
    assert adapter.plan_install(adapter.fields()).permission_set is not None
    sneaky = make_adapter(server, permission_set="Leadscore' OR Name != '")
    assert sneaky.plan_install(sneaky.fields()).permission_set is None  # no match: the quote stayed a quote


# -- install -------------------------------------------------------------------------------------

def test_dry_run_plans_without_writing_and_install_is_idempotent() -> None:
    with create_server(None) as srv:
        adapter = make_adapter(srv)
        plan = adapter.plan_install(adapter.fields())
        assert len(plan.to_create) == 2 * 12 + 3 and plan.permission_set is None and not plan.up_to_date
        assert {e.split(" ")[0] for e in srv.log.counts()} == {"GET", "POST"}
        assert srv.log.count("POST /services/oauth2/token") == sum(
            n for e, n in srv.log.counts().items() if e.startswith("POST"))  # only the login posted
        after = adapter.install(plan)
        assert after.up_to_date and len(after.existing) == 27 and after.done[0] == "created permission set 'Leadscore'"
        assert sum(d.startswith("created ") for d in after.done) == 28
        again = adapter.install(adapter.plan_install(adapter.fields()))
        assert again.up_to_date and again.done == []


def test_a_field_hidden_by_field_level_security_is_granted_not_recreated() -> None:
    with create_server(None) as srv:
        adapter = make_adapter(srv)
        install(adapter)
        perms = srv.org.tables["FieldPermissions"]
        hidden = next(rid for rid, row in perms.rows.items() if perms.value(row, "Field") == "Lead.Leadscore_Score__c")
        srv.org.delete("FieldPermissions", hidden)
        plan = adapter.plan_install(adapter.fields())
        assert [f"{f.object}.{f.name}" for f in plan.to_create] == ["Lead.Leadscore_Score__c"]
        after = adapter.install(plan)
        assert after.up_to_date and after.done == ["found (hidden) Lead.Leadscore_Score__c",
                                                   "granted read/edit on Lead.Leadscore_Score__c"]


def test_missing_permission_is_named_not_raised() -> None:
    with create_server(None) as srv, responses.RequestsMock() as mock:
        mock.add_passthru(srv.url)
        mock.add(responses.POST, f"{srv.url}/services/data/v68.0/tooling/sobjects/CustomField", status=400,
                 json=[{"errorCode": "INSUFFICIENT_ACCESS_OR_READONLY", "message": "insufficient access rights"}])
        adapter = make_adapter(srv)
        after = adapter.install(adapter.plan_install(adapter.fields()))
        assert not after.up_to_date and len(after.problems) == 27
        assert all("'Customize Application' permission" in p for p in after.problems)


# -- External Client App logins, against the sandbox's token endpoint ---------------------------

def _transport(creds: Credentials, srv: Any = None) -> Transport:
    from sandbox.salesforce import client_session

    session = (ApiSession.adopt(client_session(srv.url, srv.ca_pem), timeout_s=5) if srv is not None
               else ApiSession(timeout_s=5))
    return Transport(creds, session, policy=RetryPolicy(sleep=lambda s: None, max_attempts=2))


def _login(creds: Credentials, srv: Any = None) -> None:
    _transport(creds, srv).sf  # noqa: B018 - logs in


def _other_key(tmp_path: Path) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "other.key"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return str(pem)


def test_jwt_bearer_login_is_checked_against_the_apps_certificate(server: Any, tmp_path: Path) -> None:
    info = server.connection_info()
    jwt_creds = {"username": info["username"], "consumer_key": info["consumer_key"], "domain": info["domain"]}
    t = _transport(Credentials(**jwt_creds, private_key_file=info["private_key_file"]), server)
    assert list(t.query_pages("SELECT Id FROM Lead LIMIT 1"))[0]["totalSize"] >= 0
    assert t.usage()["daily_used"] is not None
    with pytest.raises(AuthError, match="invalid_grant: invalid assertion — check .* certificate matches"):
        _login(Credentials(**jwt_creds, private_key_file=_other_key(tmp_path)), server)
    with pytest.raises(AuthError, match="invalid_client_id"):
        _login(Credentials(**{**jwt_creds, "consumer_key": "not-the-app"},
                               private_key_file=info["private_key_file"]), server)
    with pytest.raises(AuthError, match="user hasn't approved this consumer"):
        _login(Credentials(**{**jwt_creds, "username": "someone@else.test"},
                               private_key_file=info["private_key_file"]), server)


def test_client_credentials_need_a_my_domain_and_the_apps_run_as_user(server: Any) -> None:
    info = server.connection_info()
    with pytest.raises(ConfigError, match="My Domain"):
        _login(Credentials(consumer_key="ck", consumer_secret="cs"))
    t = _transport(Credentials(consumer_key=info["consumer_key"], consumer_secret=info["consumer_secret"],
                               domain=info["domain"]), server)
    assert list(t.query_pages("SELECT Id FROM User"))[0]["totalSize"] >= 1
    with pytest.raises(AuthError, match="invalid_client: invalid client credentials"):
        _login(Credentials(consumer_key=info["consumer_key"], consumer_secret="wrong",
                               domain=info["domain"]), server)
    with create_server(None, client_credentials=False) as srv:
        off = srv.connection_info()
        with pytest.raises(AuthError, match="no client credentials user enabled — enable the client credentials"):
            _login(Credentials(consumer_key=off["consumer_key"], consumer_secret=off["consumer_secret"],
                                   domain=off["domain"]), srv)


def test_soap_login_refused_names_the_fix_in_one_line() -> None:
    with create_server(None, soap_login=False) as srv:
        info = srv.connection_info()
        creds = Credentials(username=info["username"], password=info["password"],
                            security_token=info["security_token"], domain=info["domain"])
        t = _transport(creds, srv)
        t.version = "64.0"  # the last version with login()
        with pytest.raises(AuthError) as refused:
            t.sf  # noqa: B018
        assert "\n" not in str(refused.value) and "INVALID_OPERATION" in str(refused.value)
        assert "JWT bearer through an External Client App" in str(refused.value)
        with pytest.raises(AuthError, match="UNSUPPORTED_API_VERSION.*__CONSUMER_KEY and __PRIVATE_KEY_FILE"):
            _transport(creds, srv).sf  # noqa: B018  the default version has no login() at all


def test_oauth_password_grant_against_the_sandbox(server: Any) -> None:
    info = server.connection_info()
    from sandbox.salesforce import client_session

    creds = Credentials(username=info["username"], password=info["password"], consumer_key=info["consumer_key"],
                        consumer_secret=info["consumer_secret"], domain=info["domain"])
    session = ApiSession.adopt(client_session(info["instance_url"], info["ca_cert"]))
    adapter = SalesforceAdapter(Transport(creds, session))
    assert adapter.owners() and server.log.count("POST /services/oauth2/token", 200) >= 1


def test_credentials_never_show_secrets() -> None:
    creds = Credentials(username="u", password="hunter2", security_token="TOK", consumer_secret="cs-secret",
                        session_id="00D!sid")
    assert not any(s in repr(creds) for s in ("hunter2", "TOK", "cs-secret", "00D!sid"))
    with pytest.raises(ConfigError, match="LEADSCORE_SALESFORCE__USERNAME"):
        _login(Credentials(username="only-a-name"))


# -- mapping -------------------------------------------------------------------------------------

def test_admins_override_the_mapping_and_errors_name_file_line_and_key(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "mappings" / "salesforce.yaml").read_text()
    custom = text.replace("    updated_at: SystemModstamp\n  # extra fields, available to models as lead.<name>: "
                          "name: Salesforce field\n  custom: {}",
                          "    updated_at: SystemModstamp\n  custom: {rating: Rating}", 1)
    mine = tmp_path / "mine.yaml"
    mine.write_text(custom)
    assert load_salesforce_mapping(mine).leads.custom == {"rating": "Rating"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(custom.replace("email: Email\n", "email: \"Email, (SELECT Id FROM User)\"\n", 1)
                   .replace("    type: meeting_held\n", "    type: Meeting Held\n"))
    with pytest.raises(ConfigError) as err:
        load_salesforce_mapping(bad)
    text_of = str(err.value)
    assert f"{bad}:9: leads.fields.email: 'Email, (SELECT Id FROM User)' is not a Salesforce field API name" in text_of
    assert "events[1].type: 'Meeting Held' is not a valid event type" in text_of


def test_a_custom_lead_field_from_the_mapping_reaches_the_record(server: Any) -> None:
    mapping = parse_salesforce_mapping((Path(__file__).parents[2] / "mappings" / "salesforce.yaml").read_text()
                                       .replace("custom: {}", "custom: {rating: Rating}", 1))
    adapter = make_adapter(server)
    adapter.mapping = mapping
    lead = live(server, "Lead")[0]
    server.org.update("Lead", lead, {"Rating": "Hot"})
    pulled = {r.id: r for p in adapter.pull_leads(None, now()) for r in p.records}
    assert pulled[lead].custom == {"rating": "Hot"}


def test_settings_build_the_adapter_without_leaking_secrets(server: Any) -> None:
    from connector.settings import SalesforceSettings
    from sandbox.salesforce import client_session

    info = server.connection_info()
    settings = SalesforceSettings(username=info["username"], password=info["password"],
                                  security_token=info["security_token"], domain=info["domain"],
                                  max_api_share=0.5, bulk_write_threshold=10)
    adapter = SalesforceAdapter.from_settings(settings, session=client_session(info["instance_url"], info["ca_cert"]))
    assert adapter.bulk_write_threshold == 10 and adapter.t.max_api_share == 0.5
    assert info["password"] not in repr(vars(adapter)) and json.dumps(adapter.api_usage())
    assert SimpleNamespace(**adapter.api_usage()).calls == 0


# -- the CLI -------------------------------------------------------------------------------------

def test_install_command_on_a_session_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from connector.cli import main

    with create_server(None) as srv:
        info = srv.connection_info()
        monkeypatch.delenv("LEADSCORE_CONFIG", raising=False)
        monkeypatch.setenv("LEADSCORE_SALESFORCE__INSTANCE_URL", info["instance_url"])
        monkeypatch.setenv("LEADSCORE_SALESFORCE__SESSION_ID", info["session_id"])
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", info["ca_cert"])
        assert main(["install", "--crm", "salesforce", "--dry-run"]) == 0
        assert "would create 27 properties" in capsys.readouterr().out
        assert main(["install", "--crm", "salesforce"]) == 0
        printed = capsys.readouterr().out
        assert printed.startswith("created permission set 'Leadscore'\ncreated Lead.Leadscore_Score__c")
        assert main(["install", "--crm", "salesforce", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["up_to_date"] and len(summary["existing"]) == 27 and summary["to_grant"] == []
        assert info["session_id"] not in printed


def test_check_mapping_command_names_each_missing_field(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from connector.cli import main

    text = (Path(__file__).parents[2] / "mappings" / "salesforce.yaml").read_text()
    mine = tmp_path / "mine.yaml"
    mine.write_text(text.replace("custom: {}", "custom: {rating: Rating, nps: NPS_Score__c}", 1))
    with create_server(None) as srv:
        info = srv.connection_info()
        monkeypatch.delenv("LEADSCORE_CONFIG", raising=False)
        monkeypatch.setenv("LEADSCORE_SALESFORCE__INSTANCE_URL", info["instance_url"])
        monkeypatch.setenv("LEADSCORE_SALESFORCE__SESSION_ID", info["session_id"])
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", info["ca_cert"])
        assert main(["check-mapping", "--crm", "salesforce", "--mapping", str(mine), "--json"]) == 2
        summary = json.loads(capsys.readouterr().out)
        assert any(m.startswith("leads.custom.nps: the org has no Lead field 'NPS_Score__c' (or the API user cannot "
                                "see it)") for m in summary["missing"])
        assert not any("rating" in m for m in summary["missing"])
        assert sum("run `leadscore install --crm salesforce`" in m for m in summary["missing"]) == 27
        assert main(["install", "--crm", "salesforce"]) == 0
        capsys.readouterr()
        assert main(["check-mapping", "--crm", "salesforce"]) == 0
        assert "every field exists in the org" in capsys.readouterr().out
