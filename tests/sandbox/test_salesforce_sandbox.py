"""The Salesforce sandbox, exercised through the real simple-salesforce over loopback HTTPS.

Every endpoint is called the way the adapter will call it (``Salesforce(...)``, ``sf.query``,
``sf.Lead.update``, ``sf.restful('composite/sobjects')``, ``sf.bulk2.Lead``,
``sf.toolingexecute``); the SOQL parser also has direct unit tests, including injection attempts
built with ``format_soql``. Expected error shapes live in tests/fixtures/salesforce/.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
import requests
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sandbox.http import FaultConfig
from sandbox.salesforce import client_session, create_server
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.ids import is_id, to_18, type_of_id
from sandbox.salesforce.soql import And, Compare, In, Like, Not, Or, parse, tokenize

FIXTURES = Path(__file__).parent.parent / "fixtures" / "salesforce"
ERRORS = json.loads((FIXTURES / "error_bodies.json").read_text())
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _tenant() -> SimpleNamespace:
    """A tiny tenant in the canonical column names (as sandbox.tenant produces)."""
    day = timedelta(days=1)
    owners = pa.table({"id": ["O1", "O2"], "first_name": ["Ada", "Bob"],
                       "last_name": ["Owner", "Seller"], "email": ["ada@x.test", "bob@x.test"],
                       "team": ["emea", "na"], "territory": ["EMEA", "NA"],
                       "active": [True, True]})
    accounts = pa.table({
        "id": ["A1", "A2"], "name": ["Acme Corp", "Globex"], "domain": ["acme.test", "globex.test"],
        "industry": ["Software", "Retail"], "employees": [1200.0, 40.0],
        "annual_revenue": [5e7, 2e6], "country": ["DE", "US"], "state": [None, "CA"],
        "city": ["Berlin", "Oakland"], "tech_stack": ["aws;salesforce", "gcp"],
        "segment": ["enterprise", "smb"], "owner_id": ["O1", "O2"],
        "created_at": [T0 - 90 * day, T0 - 80 * day], "updated_at": [T0 - 20 * day, T0 - 10 * day],
    })
    leads = pa.table({
        "id": ["L1", "L2", "L3", "C1"], "email": ["l1@acme.test", "l2@gmail.test", None,
                                                  "c1@globex.test"],
        "first_name": ["Lena", "Max", None, "Cleo"], "last_name": ["One", "Two", "Three", "Four"],
        "title": ["VP Sales", "Student", "CTO", "Buyer"],
        "company": ["Acme Corp", "Self", "Initech", None],
        "country": ["DE", "FR", "US", "US"], "state": [None, None, "TX", "CA"],
        "employees": [1200.0, None, 300.0, None], "lead_source": ["Web", "Web", "Event", "Web"],
        "lead_status": ["Open", "Working", None, None], "owner_id": ["O1", "O2", None, "O2"],
        "account_id": [None, None, None, "A2"], "kind": ["lead", "lead", "lead", "contact"],
        "converted": [False, False, True, False],
        "converted_at": [None, None, T0 - 5 * day, None],
        "created_at": [T0 - 60 * day] * 4,
        "updated_at": [T0 - 9 * day, T0 - 8 * day, T0 - 7 * day, T0 - 6 * day],
    })
    campaigns = pa.table({"id": ["K1"], "name": ["Spring webinar"], "type": ["Webinar"]})
    events = pa.table({
        "id": ["E1", "E2", "E3", "E4", "E5"], "lead_id": ["L1", "L1", "C1", "L2", "L1"],
        "type": ["email_open", "call_logged", "meeting_held", "page_view", "webinar_attended"],
        "occurred_at": [T0 - 3 * day, T0 - 2 * day, T0 - day, T0 - day, T0 - 4 * day],
        "url": [None, None, None, "https://example.com/pricing", None],
        "form": [None] * 5, "campaign": [None, None, None, None, "K1"],
        "email_id": ["M1", None, None, None, None],
        "duration_seconds": [None, 300.0, 1800.0, None, None],
    })
    return SimpleNamespace(owners=owners, accounts=accounts, leads=leads, events=events,
                           campaigns=campaigns, now=T0)


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def server(clock: FakeClock) -> Any:
    with create_server(_tenant(), clock=clock) as srv:
        yield srv


def _login(server: Any) -> Salesforce:
    info = server.connection_info()
    return Salesforce(username=info["username"], password=info["password"],
                      security_token=info["security_token"], domain=info["domain"],
                      session=client_session(info["instance_url"], info["ca_cert"]))


@pytest.fixture(scope="module")
def sf(server: Any) -> Salesforce:
    return _login(server)


def _new_lead(sf: Salesforce, **fields: Any) -> str:
    values = {"LastName": "Tester", "Company": "Probe Inc", **fields}
    return str(sf.Lead.create(values)["id"])


# -- ids -------------------------------------------------------------------------------------

def test_ids_are_18_chars_with_checksum_and_prefix(sf: Salesforce) -> None:
    rid = _new_lead(sf)
    assert len(rid) == 18 and rid.startswith("00Q") and is_id(rid)
    assert to_18(rid[:15]) == rid and type_of_id(rid) == "Lead"
    assert not is_id(rid[:15] + "AAA" if rid[15:] != "AAA" else rid[:15] + "BBB")


# -- login and sessions ------------------------------------------------------------------------

def test_soap_login_points_the_client_at_the_sandbox(server: Any, sf: Salesforce) -> None:
    assert sf.sf_instance == server.url.removeprefix("https://")
    assert sf.auth_type == "password"
    assert server.log.count("POST /services/Soap/u/{version}", 200) >= 1


def test_soap_login_with_a_wrong_token_is_invalid_login(server: Any) -> None:
    info = server.connection_info()
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        Salesforce(username=info["username"], password=info["password"],
                   security_token="WRONG", domain=info["domain"],
                   session=client_session(info["instance_url"], info["ca_cert"]))
    assert err.value.code == "INVALID_LOGIN"


def test_oauth_password_grant(server: Any) -> None:
    info = server.connection_info()
    session = client_session(info["instance_url"], info["ca_cert"])
    sf = Salesforce(username=info["username"], password=info["password"] + info["security_token"],
                    consumer_key=info["consumer_key"], consumer_secret=info["consumer_secret"],
                    domain=info["domain"], session=session)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 2
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        Salesforce(username=info["username"], password=info["password"],
                   consumer_key=info["consumer_key"], consumer_secret="nope",
                   domain=info["domain"], session=session)
    assert err.value.code == "invalid_client_id"


def test_direct_session_expires_with_the_real_body() -> None:
    clock = FakeClock()
    with create_server(clock=clock, session_ttl=60) as srv:
        info = srv.connection_info()
        sf = Salesforce(instance_url=info["instance_url"], session_id=info["session_id"],
                        session=client_session(info["instance_url"], info["ca_cert"]))
        assert sf.query("SELECT Id FROM User")["totalSize"] == 1
        clock.advance(61)
        with pytest.raises(SalesforceExpiredSession) as err:
            sf.query("SELECT Id FROM User")
        assert err.value.status == 401
        assert err.value.content == ERRORS["INVALID_SESSION_ID"]["body"]


def test_password_session_logs_in_again_after_expiry() -> None:
    clock = FakeClock()
    with create_server(clock=clock, session_ttl=60) as srv:
        sf = _login(srv)
        first = sf.session_id
        clock.advance(120)
        assert sf.query("SELECT Id FROM User")["totalSize"] == 1
        assert sf.session_id != first
        assert srv.log.count("POST /services/Soap/u/{version}") == 2
        assert srv.log.count("GET /services/data/v{version}/query", 401) == 1
        srv.expire_sessions()
        assert sf.Lead.create({"LastName": "A", "Company": "B"})["success"] is True


# -- describe and limits -----------------------------------------------------------------------

def test_describe_global_and_object(sf: Salesforce) -> None:
    prefixes = {o["name"]: o["keyPrefix"] for o in sf.describe()["sobjects"]}
    assert {k: prefixes[k] for k in ("Lead", "Contact", "Account", "User", "Task", "Event",
                                     "Campaign", "CampaignMember")} == {
        "Lead": "00Q", "Contact": "003", "Account": "001", "User": "005", "Task": "00T",
        "Event": "00U", "Campaign": "701", "CampaignMember": "00v"}
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert fields["SystemModstamp"]["type"] == "datetime"
    assert fields["SystemModstamp"]["updateable"] is False
    assert fields["OwnerId"]["referenceTo"] == ["User", "Group"]
    assert fields["IsConverted"]["updateable"] is False
    contact = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert contact["AccountId"]["relationshipName"] == "Account"
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("sobjects/Nope/describe")


def test_limit_header_and_limits_endpoint(sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Account")
    used = sf.api_usage["api-usage"].used
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyApiRequests"]["Remaining"] == 100_000 - used - 1
    sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == used + 2


def test_request_limit_exceeded_once_the_daily_limit_is_spent() -> None:
    with create_server(daily_api_limit=3) as srv:
        sf = _login(srv)
        for _ in range(3):
            sf.query("SELECT Id FROM User")
        assert sf.api_usage["api-usage"].used == 3
        with pytest.raises(SalesforceRefusedRequest) as err:
            sf.query("SELECT Id FROM User")
        assert err.value.status == 403
        assert err.value.content == ERRORS["REQUEST_LIMIT_EXCEEDED"]["body"]


# -- records ---------------------------------------------------------------------------------

def test_crud_maintains_system_modstamp(sf: Salesforce, clock: FakeClock) -> None:
    rid = _new_lead(sf, Email="crud@probe.test", NumberOfEmployees=10)
    before = sf.Lead.get(rid)
    assert before["Email"] == "crud@probe.test" and before["IsConverted"] is False
    assert before["OwnerId"] == sf.query("SELECT Id FROM User WHERE Username = "
                                         "'integration@leadscore.sandbox'")["records"][0]["Id"]
    clock.advance(5)
    assert sf.Lead.update(rid, {"Title": "CFO", "NumberOfEmployees": "25"}) == 204
    after = sf.Lead.get(rid)
    assert after["Title"] == "CFO" and after["NumberOfEmployees"] == 25
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] == after["SystemModstamp"]
    assert sf.Lead.delete(rid) == 204
    assert sf.query(format_soql("SELECT Id FROM Lead WHERE Id = {}", rid))["totalSize"] == 0
    gone = sf.query_all(format_soql("SELECT Id, IsDeleted FROM Lead WHERE Id = {}", rid),
                        include_deleted=True)
    assert gone["records"][0]["IsDeleted"] is True
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get(rid)


def test_unknown_field_on_write_is_invalid_field(sf: Salesforce) -> None:
    rid = _new_lead(sf)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(rid, {"Foo__c": 1})
    assert err.value.content == ERRORS["INVALID_FIELD_ON_WRITE"]["body"]


def test_converted_lead_cannot_be_updated(sf: Salesforce) -> None:
    rid = sf.query("SELECT Id FROM Lead WHERE IsConverted = true")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(rid, {"Title": "x"})
    assert err.value.content == ERRORS["CANNOT_UPDATE_CONVERTED_LEAD"]["body"]


@pytest.mark.parametrize(("owner", "code"), [
    ("not-an-id", "MALFORMED_ID"),
    ("005000000000000AAA", "INVALID_CROSS_REFERENCE_KEY"),
    ("account", "FIELD_INTEGRITY_EXCEPTION"),
])
def test_bad_owner_id(sf: Salesforce, owner: str, code: str) -> None:
    if owner == "account":
        owner = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    rid = _new_lead(sf)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(rid, {"OwnerId": owner}, headers={"Sforce-Auto-Assign": "FALSE"})
    assert err.value.content[0]["errorCode"] == code
    assert err.value.content[0]["fields"] == ["OwnerId"]


def test_required_fields_and_wrong_types(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"LastName": "NoCompany"})
    assert err.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    rid = _new_lead(sf)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(rid, {"HasOptedOutOfEmail": "maybe"})
    assert err.value.content[0]["errorCode"] == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(rid, {"IsConverted": True})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


# -- seeding -----------------------------------------------------------------------------------

def test_tenant_seeding_maps_people_and_engagement(sf: Salesforce) -> None:
    contact = sf.query("SELECT Id, Name, Account.Name, Owner.Email, MailingState FROM Contact "
                       "WHERE Email = 'c1@globex.test'")["records"][0]
    assert contact["Account"]["Name"] == "Globex" and contact["Owner"]["Email"] == "bob@x.test"
    assert contact["Name"] == "Cleo Four" and contact["MailingState"] == "CA"
    lead = sf.query("SELECT Id, CreatedDate, SystemModstamp, Company FROM Lead "
                    "WHERE Email = 'l1@acme.test'")["records"][0]
    assert lead["SystemModstamp"] == "2026-02-21T12:00:00.000+0000"
    tasks = sf.query(format_soql("SELECT Subject, TaskSubtype, CallDurationInSeconds FROM Task "
                                 "WHERE WhoId = {} ORDER BY Subject", lead["Id"]))["records"]
    assert [(t["Subject"], t["TaskSubtype"]) for t in tasks] == [("Call", "Call")]  # an open is no activity
    member = sf.query(format_soql("SELECT Campaign.Name, HasResponded, Status FROM "
                                  "CampaignMember WHERE LeadId = {}", lead["Id"]))["records"]
    assert member[0]["HasResponded"] is True and member[0]["Campaign"]["Name"] == "Spring webinar"
    meetings = sf.query("SELECT Subject, DurationInMinutes, Who.Name FROM Event")["records"]
    assert [(m["Subject"], m["DurationInMinutes"]) for m in meetings] == [("Meeting", 30)]
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == 1  # opens and page views are not loaded


def test_seeding_a_generated_tenant_keeps_every_person_and_engagement() -> None:
    from sandbox.tenant import generate_tenant

    tenant = generate_tenant(seed=7, leads=300, events_per_lead=6)
    with create_server(tenant) as srv:
        sf = _login(srv)
        people = (sf.query("SELECT COUNT() FROM Lead")["totalSize"]
                  + sf.query("SELECT COUNT() FROM Contact")["totalSize"])
        assert people == tenant.leads.num_rows
        kinds = tenant.events.column("type").cast(pa.string()).to_pylist()
        calls_and_mail = sum(k in ("call_logged", "email_sent", "email_reply") for k in kinds)
        assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == calls_and_mail
        assert sf.query("SELECT COUNT() FROM Event")["totalSize"] == \
            sum(k.startswith("meeting_") for k in kinds)
        converted = sum(bool(c) and k == "lead" for c, k in zip(
            tenant.leads.column("converted").to_pylist(),
            tenant.leads.column("kind").to_pylist(), strict=True))
        assert sf.query("SELECT COUNT() FROM Lead WHERE IsConverted = true")["totalSize"] == \
            converted
        orphans = sf.query("SELECT COUNT() FROM Contact WHERE AccountId = null")["totalSize"]
        assert orphans == 0


# -- SOQL through the client ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def soql_rows(sf: Salesforce) -> dict[str, str]:
    rows = {
        "alpha": {"LastName": "Alpha", "Company": "Q Co", "Title": "VP", "NumberOfEmployees": 10,
                  "Email": "alpha@q.test", "Rating": "Hot"},
        "beta": {"LastName": "beta", "Company": "Q Co", "Title": None, "NumberOfEmployees": 200,
                 "Email": "beta@q.test", "Rating": "Warm"},
        "quote": {"LastName": "O'Brien \\ OR 1=1", "Company": "Q Co", "Title": "CTO",
                  "NumberOfEmployees": 50, "Email": "100%_real@q.test", "Rating": None},
        "newline": {"LastName": "Line\nBreak", "Company": "Q Co", "Title": "Dev",
                    "NumberOfEmployees": None, "Email": None, "Rating": "Cold"},
    }
    return {key: _new_lead(sf, **{k: v for k, v in values.items() if v is not None})
            for key, values in rows.items()}


def _names(sf: Salesforce, where: str, *args: Any, order: str = "LastName") -> list[str]:
    text = format_soql(f"SELECT LastName FROM Lead WHERE Company = 'Q Co' AND ({where}) "
                       f"ORDER BY {order}", *args)
    return [r["LastName"] for r in sf.query(text)["records"]]


def test_soql_comparisons(sf: Salesforce, soql_rows: dict[str, str]) -> None:
    assert _names(sf, "NumberOfEmployees > {}", 10) == ["beta", "O'Brien \\ OR 1=1"]
    assert _names(sf, "NumberOfEmployees <= {}", 50) == ["Alpha", "O'Brien \\ OR 1=1"]
    assert _names(sf, "NumberOfEmployees = null") == ["Line\nBreak"]
    assert _names(sf, "Title != {}", "VP") == ["beta", "Line\nBreak", "O'Brien \\ OR 1=1"]
    assert _names(sf, "LastName = {}", "ALPHA") == ["Alpha"]  # case-insensitive
    assert _names(sf, "Rating IN {}", ["Hot", "Cold"]) == ["Alpha", "Line\nBreak"]
    assert _names(sf, "Rating NOT IN {}", ["Hot", "Cold"]) == ["beta", "O'Brien \\ OR 1=1"]
    assert _names(sf, "NOT (Rating = 'Hot' OR Rating = 'Warm')") == \
        ["Line\nBreak", "O'Brien \\ OR 1=1"]
    assert _names(sf, "Email LIKE {}", "%@Q.TEST") == ["Alpha", "beta", "O'Brien \\ OR 1=1"]
    assert _names(sf, "HasOptedOutOfEmail = false AND Title LIKE 'C%'") == ["O'Brien \\ OR 1=1"]


def test_soql_injection_attempts_stay_values(sf: Salesforce, soql_rows: dict[str, str]) -> None:
    assert _names(sf, "LastName = {}", "O'Brien \\ OR 1=1") == ["O'Brien \\ OR 1=1"]
    assert _names(sf, "LastName = {}", "x' OR LastName != 'x") == []
    assert _names(sf, "LastName = {}", "Line\nBreak") == ["Line\nBreak"]
    assert _names(sf, "LastName = {}", "Alpha' OR Company = 'Q Co") == []
    assert _names(sf, "Title = {}", "SELECT") == []
    assert _names(sf, "Email LIKE '{:like}%'", "100%_") == ["O'Brien \\ OR 1=1"]
    assert _names(sf, "Email LIKE '{:like}%'", "100__") == []


def test_soql_ordering_nulls_limit_offset_count(sf: Salesforce, soql_rows: dict[str, str]) -> None:
    assert _names(sf, "Id != null", order="NumberOfEmployees DESC") == \
        ["beta", "O'Brien \\ OR 1=1", "Alpha", "Line\nBreak"]
    assert _names(sf, "Id != null", order="NumberOfEmployees DESC NULLS FIRST") == \
        ["Line\nBreak", "beta", "O'Brien \\ OR 1=1", "Alpha"]
    assert _names(sf, "Id != null", order="Rating ASC NULLS LAST, LastName DESC") == \
        ["Line\nBreak", "Alpha", "beta", "O'Brien \\ OR 1=1"]
    page = sf.query("SELECT LastName FROM Lead WHERE Company = 'Q Co' ORDER BY LastName "
                    "LIMIT 2 OFFSET 1")
    assert [r["LastName"] for r in page["records"]] == ["beta", "Line\nBreak"]
    assert sf.query("SELECT COUNT() FROM Lead WHERE Company = 'Q Co'")["totalSize"] == 4
    counted = sf.query("SELECT COUNT(Id) FROM Lead WHERE Company = 'Q Co'")["records"][0]
    assert counted["expr0"] == 4 and counted["attributes"]["type"] == "AggregateResult"


def test_soql_datetime_filters_use_system_modstamp(sf: Salesforce, clock: FakeClock) -> None:
    clock.advance(60)
    cursor = datetime.fromtimestamp(clock(), tz=timezone.utc)
    clock.advance(1)
    fresh = _new_lead(sf, Company="Stamp Co")
    got = sf.query(format_soql("SELECT Id FROM Lead WHERE SystemModstamp > {} "
                               "ORDER BY SystemModstamp, Id", cursor))["records"]
    assert [r["Id"] for r in got] == [fresh]
    older = sf.query(format_soql("SELECT COUNT() FROM Lead WHERE SystemModstamp <= {}",
                                 cursor))["totalSize"]
    assert older >= 3
    assert sf.query("SELECT Id FROM Lead WHERE CreatedDate < 2000-01-01T00:00:00Z")["totalSize"] == 0


@pytest.mark.parametrize(("text", "code", "needle"), [
    ("SELECT Foo FROM Lead", "INVALID_FIELD", "No such column 'Foo' on entity 'Lead'"),
    ("SELECT Id FROM Lead WHERE Bar__c = 1", "INVALID_FIELD", "No such column 'Bar__c'"),
    ("SELECT Nope.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Nope'"),
    ("SELECT Id FROM Widget", "INVALID_TYPE", "sObject type 'Widget' is not supported"),
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
    ("SELECT Id Lead", "MALFORMED_QUERY", "unexpected token"),
    ("SELECT Id FROM Lead WHERE Title = 'x' AND Email = 'y' OR Rating = 'z'",
     "MALFORMED_QUERY", "unexpected token: 'OR'"),
    ("SELECT Id FROM Lead WHERE SystemModstamp > '2024-01-01'", "INVALID_FIELD",
     "must be of type dateTime and should not be enclosed in quotes"),
    ("SELECT Id FROM Lead WHERE NumberOfEmployees = 'ten'", "INVALID_FIELD",
     "must be of type double"),
    ("SELECT Id FROM Lead WHERE Title = 5", "INVALID_FIELD", "should be enclosed in quotes"),
])
def test_soql_errors_have_real_bodies(sf: Salesforce, text: str, code: str, needle: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query(text)
    body = err.value.content[0]
    assert body["errorCode"] == code
    assert needle in body["message"] and "ERROR at Row:1:Column:" in body["message"]


def test_query_paging_with_batch_size(server: Any, sf: Salesforce) -> None:
    org = server.org
    for i in range(450):
        org.insert("Lead", {"LastName": f"Page{i:03d}", "Company": "Paging Co"})
    text = "SELECT Id, LastName FROM Lead WHERE Company = 'Paging Co' ORDER BY LastName"
    first = sf.query(text, headers={"Sforce-Query-Options": "batchSize=200"})
    assert (first["totalSize"], first["done"], len(first["records"])) == (450, False, 200)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    pages = [first]
    while not pages[-1]["done"]:
        pages.append(sf.query_more(pages[-1]["nextRecordsUrl"], identifier_is_url=True))
    assert [len(p["records"]) for p in pages] == [200, 200, 50]
    names = [r["LastName"] for p in pages for r in p["records"]]
    assert names == [f"Page{i:03d}" for i in range(450)]
    small = sf.query(text, headers={"Sforce-Query-Options": "batchSize=5"})
    assert len(small["records"]) == 200  # Salesforce's minimum batch size
    default = sf.query(text)
    assert default["done"] is True and len(default["records"]) == 450
    assert len(list(sf.query_all_iter(text))) == 450
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query_more("01gXXXXXXXXXXXXXXX-200")
    assert err.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# -- sObject Collections ----------------------------------------------------------------------

def test_composite_update_partial_failure_in_order(sf: Salesforce) -> None:
    a, b, c = (_new_lead(sf, Company="Batch Co") for _ in range(3))
    records = [
        {"attributes": {"type": "Lead"}, "id": a, "Title": "One"},
        {"attributes": {"type": "Lead"}, "id": b, "Nope__c": "x"},
        {"attributes": {"type": "Lead"}, "id": c, "Title": "Three"},
    ]
    results = sf.restful("composite/sobjects", method="PATCH",
                         json={"allOrNone": False, "records": records})
    assert [r["success"] for r in results] == [True, False, True]
    assert [r["id"] for r in results] == [a, b, c]
    assert results[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert sf.Lead.get(a)["Title"] == "One" and sf.Lead.get(c)["Title"] == "Three"


def test_composite_all_or_none_rolls_back(sf: Salesforce) -> None:
    a, b = (_new_lead(sf, Company="Atomic Co", Title="Before") for _ in range(2))
    stamp = sf.Lead.get(a)["SystemModstamp"]
    records = [{"attributes": {"type": "Lead"}, "id": a, "Title": "After"},
               {"attributes": {"type": "Lead"}, "id": b, "OwnerId": "bad"}]
    results = sf.restful("composite/sobjects", method="PATCH",
                         json={"allOrNone": True, "records": records})
    assert results[0] == {"id": a, **ERRORS["ALL_OR_NONE_ROLLED_BACK"]}
    assert results[1]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert sf.Lead.get(a)["Title"] == "Before"
    assert sf.query(format_soql("SELECT Id FROM Lead WHERE SystemModstamp > {}",
                                datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
                                ))["totalSize"] == 0
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "LastName": "Rolled", "Company": "Atomic Co"},
        {"attributes": {"type": "Lead"}, "LastName": "NoCompany"}]})
    assert created[0]["id"] is None and created[0]["errors"][0]["statusCode"] == \
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.query("SELECT COUNT() FROM Lead WHERE LastName = 'Rolled'")["totalSize"] == 0


def test_composite_create_delete_and_cap(sf: Salesforce) -> None:
    created = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Account"}, "Name": "Coll A"},
        {"attributes": {"type": "Contact"}, "LastName": "Coll C"}]})
    assert [r["id"][:3] for r in created] == ["001", "003"]
    deleted = sf.restful("composite/sobjects", method="DELETE",
                         params={"ids": ",".join(r["id"] for r in created)})
    assert all(r["success"] for r in deleted)
    too_many = [{"attributes": {"type": "Lead"}, "id": "00Q000000000000AAA"}] * 201
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects", method="PATCH", json={"records": too_many})
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


# -- updated / deleted ---------------------------------------------------------------------------

def test_updated_and_deleted_resources(sf: Salesforce, clock: FakeClock) -> None:
    clock.advance(120)
    start = datetime.fromtimestamp(clock(), tz=timezone.utc)
    kept, dropped = _new_lead(sf, Company="Repl Co"), _new_lead(sf, Company="Repl Co")
    sf.Lead.delete(dropped)
    clock.advance(120)
    end = datetime.fromtimestamp(clock(), tz=timezone.utc)
    updated = sf.Lead.updated(start, end)
    assert updated["ids"] == [kept]
    assert updated["latestDateCovered"].endswith(":00.000+0000")
    deleted = sf.Lead.deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [dropped]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.updated(start - timedelta(days=31), end)
    assert err.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


# -- Bulk API 2.0 ------------------------------------------------------------------------------

def test_bulk_ingest_insert_update_with_failures(sf: Salesforce) -> None:
    records = [{"LastName": f"Bulk{i}", "Company": "Bulk Co", "NumberOfEmployees": str(i)}
               for i in range(30)]
    [inserted] = sf.bulk2.Lead.insert(records=records, wait=0)
    assert (inserted["numberRecordsProcessed"], inserted["numberRecordsFailed"]) == (30, 0)
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_successful_records(
        inserted["job_id"]))))
    assert len(ok) == 30 and ok[0]["sf__Created"] == "true" and ok[0]["sf__Id"].startswith("00Q")
    ids = [row["sf__Id"] for row in ok]
    converted = sf.query("SELECT Id FROM Lead WHERE IsConverted = true")["records"][0]["Id"]
    updates = [{"Id": i, "Title": "Bulked", "OwnerId": ""} for i in ids[:5]]
    updates.append({"Id": converted, "Title": "nope", "OwnerId": ""})
    updates.append({"Id": ids[5], "Title": "bad owner", "OwnerId": "005000000000000AAA"})
    [updated] = sf.bulk2.Lead.update(records=updates, wait=0)
    assert (updated["numberRecordsProcessed"], updated["numberRecordsFailed"]) == (7, 2)
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_failed_records(
        updated["job_id"]))))
    assert [f["sf__Id"] for f in failed] == [converted, ids[5]]
    assert failed[0]["sf__Error"].startswith("CANNOT_UPDATE_CONVERTED_LEAD:")
    assert failed[1]["sf__Error"].startswith("INVALID_CROSS_REFERENCE_KEY:")
    assert sf.query("SELECT COUNT() FROM Lead WHERE Title = 'Bulked'")["totalSize"] == 5
    assert sf.Lead.get(ids[0])["OwnerId"] is not None  # an empty cell leaves a field alone


def test_bulk_ingest_unknown_column_fails_the_job(sf: Salesforce) -> None:
    with pytest.raises(SalesforceOperationError, match="Field name not found : Nope__c"):
        sf.bulk2.Lead.insert(records=[{"LastName": "x", "Company": "y", "Nope__c": "1"}], wait=0)


def test_bulk_query_pages_with_locator(server: Any, sf: Salesforce) -> None:
    for i in range(25):
        server.org.insert("Account", {"Name": f"BulkQ {i:02d}", "NumberOfEmployees": i})
    pages = list(sf.bulk2.Account.query(
        "SELECT Id, Name, NumberOfEmployees, Owner.Username FROM Account "
        "WHERE Name LIKE 'BulkQ%' ORDER BY Name", max_records=10, wait=0))
    assert len(pages) == 3
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert [r["Name"] for r in rows] == [f"BulkQ {i:02d}" for i in range(25)]
    assert set(rows[0]) == {"Id", "Name", "NumberOfEmployees", "Owner.Username"}
    assert rows[3]["NumberOfEmployees"] == "3"
    assert rows[0]["Owner.Username"] == "integration@leadscore.sandbox"
    assert pages[0].startswith('"Id","Name"')
    with pytest.raises(SalesforceMalformedRequest):
        list(sf.bulk2.Account.query("SELECT Bogus FROM Account", wait=0))


# -- custom fields and field-level security -----------------------------------------------------

def test_custom_field_then_field_permissions_make_it_writable(sf: Salesforce) -> None:
    created = sf.toolingexecute("sobjects/CustomField", method="POST", data={
        "FullName": "Lead.Lead_Score__c",
        "Metadata": {"label": "Lead Score", "type": "Number", "precision": 18, "scale": 0}})
    assert created["success"] is True and created["id"].startswith("00N")
    read = sf.toolingexecute(f"sobjects/CustomField/{created['id']}")
    assert read["FullName"] == "Lead.Lead_Score__c"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.toolingexecute("sobjects/CustomField", method="POST", data={
            "FullName": "Lead.Lead_Score__c", "Metadata": {"label": "x", "type": "Number"}})
    assert err.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
    rid = _new_lead(sf)
    with pytest.raises(SalesforceMalformedRequest) as err:  # no field-level security yet
        sf.Lead.update(rid, {"Lead_Score__c": 80})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "Lead_Score__c" not in {f["name"] for f in sf.Lead.describe()["fields"]}
    pset = sf.PermissionSet.create({"Name": "leadscore", "Label": "leadscore"})["id"]
    perm = sf.FieldPermissions.create({"ParentId": pset, "SobjectType": "Lead",
                                       "Field": "Lead.Lead_Score__c", "PermissionsRead": True,
                                       "PermissionsEdit": False})["id"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(rid, {"Lead_Score__c": 80})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    sf.FieldPermissions.update(perm, {"PermissionsEdit": True})
    assert sf.Lead.update(rid, {"Lead_Score__c": 80}) == 204
    described = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert described["Lead_Score__c"]["type"] == "double" and described["Lead_Score__c"]["custom"]
    got = sf.query(format_soql("SELECT Lead_Score__c FROM Lead WHERE Id = {}", rid))
    assert got["records"][0]["Lead_Score__c"] == 80


def test_metadata_api_custom_field_create_and_read(server: Any, sf: Salesforce,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_pem)  # zeep has its own HTTP session
    mdapi = sf.mdapi
    field = mdapi.CustomField(fullName="Contact.Contact_Grade__c", label="Grade", type="Text",
                              length=2)
    mdapi.CustomField.create([field])
    read = mdapi.CustomField.read(["Contact.Contact_Grade__c"])
    assert (read.fullName, read.type, read.length) == ("Contact.Contact_Grade__c", "Text", 2)
    with pytest.raises(Exception, match="DUPLICATE_DEVELOPER_NAME"):
        mdapi.CustomField.create([field])
    pset = sf.PermissionSet.create({"Name": "grades", "Label": "grades"})["id"]
    me = sf.query("SELECT Id FROM User WHERE Username = 'integration@leadscore.sandbox'")
    sf.PermissionSetAssignment.create({"AssigneeId": me["records"][0]["Id"],
                                       "PermissionSetId": pset})
    sf.FieldPermissions.create({"ParentId": pset, "SobjectType": "Contact",
                                "Field": "Contact.Contact_Grade__c", "PermissionsRead": True,
                                "PermissionsEdit": True})
    contact = sf.Contact.create({"LastName": "Graded", "Contact_Grade__c": "A1"})["id"]
    assert sf.Contact.get(contact)["Contact_Grade__c"] == "A1"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.update(contact, {"Contact_Grade__c": "ABC"})
    assert err.value.content[0]["errorCode"] == "STRING_TOO_LONG"


# -- concurrency and routing -------------------------------------------------------------------

def test_concurrent_writes_and_reads(server: Any) -> None:
    sf = _login(server)
    rid = _new_lead(sf, Company="Race Co")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            own = _login(server)
            for i in range(5):
                own.Lead.update(rid, {"Title": f"t{n}-{i}"})
                own.query("SELECT Id, Title FROM Lead WHERE Company = 'Race Co'")
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sf.Lead.get(rid)["Title"].startswith("t")


def test_injected_faults_use_salesforce_bodies_and_spare_login() -> None:
    faults = FaultConfig(rate_5xx=1.0, exempt_paths=("/services/Soap/",))
    with create_server(faults=faults) as srv:
        sf = _login(srv)  # the login path is exempt
        with pytest.raises(SalesforceGeneralError) as err:
            sf.query("SELECT Id FROM User")
        assert err.value.status == 503
        assert err.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
        srv.set_faults(FaultConfig())
        assert sf.query("SELECT Id FROM User")["totalSize"] == 1
        assert srv.log.count("GET /services/data/v{version}/query", 503) == 1


def test_unknown_resource_is_not_found(server: Any, sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.restful("nothing/here")
    assert err.value.content[0]["errorCode"] == "NOT_FOUND"
    response = requests.get(server.url + "/services/data/v59.0/sobjects",
                            verify=server.ca_pem, timeout=5)
    assert response.status_code == 401


# -- parser unit tests ---------------------------------------------------------------------------

def test_parser_builds_the_tree() -> None:
    q = parse("select Id, Account.Name from Contact where (Email like '%x' or Title != null) "
              "and not Rating in ('A','B') order by Name desc nulls last, Id limit 5 offset 2")
    assert q.sobject == "Contact" and q.limit == 5 and q.offset == 2
    assert isinstance(q.where, And)
    first, second = q.where.items
    assert isinstance(first, Or) and isinstance(first.items[0], Like)
    assert isinstance(second, Not) and isinstance(second.item, In)
    assert [(o.field.text, o.descending, o.nulls_last) for o in q.order] == \
        [("Name", True, True), ("Id", False, None)]


@pytest.mark.parametrize("value", [
    "plain", "O'Brien", "back\\slash", "trailing\\", "\\'", "quote\" double", "tab\there",
    "new\nline", "%_wild%", "' OR Name != '", "SELECT Id FROM Lead", "ünïcödé ✓", "",
])
def test_format_soql_values_round_trip(value: str) -> None:
    q = parse(format_soql("SELECT Id FROM Lead WHERE LastName = {} AND Title IN {}",
                          value, [value, "x"]))
    assert isinstance(q.where, And)
    compare, membership = q.where.items
    assert isinstance(compare, Compare) and compare.value.value == value
    assert isinstance(membership, In) and [v.value for v in membership.values] == [value, "x"]


def test_format_soql_literals_are_typed() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    q = parse(format_soql("SELECT Id FROM Lead WHERE SystemModstamp > {} AND IsConverted = {} "
                          "AND NumberOfEmployees >= {} AND AnnualRevenue < {} AND Email = {} "
                          "AND ConvertedDate = {}", when, False, 10, 2.5, None, when.date()))
    assert isinstance(q.where, And)
    kinds = [(c.value.kind, c.value.value) for c in q.where.items if isinstance(c, Compare)]
    assert kinds == [("datetime", int(when.replace(microsecond=0).timestamp() * 1000)),
                     ("boolean", False), ("number", 10), ("number", 2.5), ("null", None),
                     ("date", "2024-05-06")]


@pytest.mark.parametrize("text", [
    "SELECT Id FROM Lead WHERE Name = 'unterminated",
    "SELECT Id FROM Lead WHERE Name = 'bad \\q escape'",
    "SELECT Id FROM Lead WHERE Name = 'a' AND Title = 'b' OR Rating = 'c'",
    "SELECT Id FROM Lead WHERE Name = :bound",
    "SELECT Id FROM Lead LIMIT -1",
    "SELECT Id FROM Lead; DELETE FROM Lead",
    "SELECT COUNT(), Id FROM Lead",
    "SELECT Id FROM Lead WHERE Name LIKE 5",
    "SELECT Id FROM Lead WHERE Name NOT = 'x'",
])
def test_parser_rejects_malformed(text: str) -> None:
    with pytest.raises(ApiError) as err:
        parse(text)
    assert err.value.error_code == "MALFORMED_QUERY" and err.value.status == 400


def test_tokenizer_keeps_like_escapes_and_datetimes() -> None:
    kinds = [(t.kind, t.value) for t in tokenize(
        "x LIKE 'a\\%b\\_' AND d > 2024-01-02T03:04:05.000+0000 AND e = 2024-01-02 AND n = -1.5")]
    assert ("string", "a\\%b\\_") in kinds
    assert ("datetime", "2024-01-02T03:04:05.000+0000") in kinds
    assert ("date", "2024-01-02") in kinds and ("number", "-1.5") in kinds


# -- scale ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_incremental_query_on_a_large_org_reads_only_changes() -> None:
    clock = FakeClock()
    with create_server(clock=clock) as srv:
        org = srv.org
        base = int((T0 - timedelta(days=30)).timestamp() * 1000)
        for i in range(100_000):
            org.insert("Lead", {"LastName": f"L{i}", "Company": "Big Co"},
                       stamp=base + i * 1000, validate=False)
        clock.advance(10)
        cursor = datetime.fromtimestamp(clock(), tz=timezone.utc)
        clock.advance(1)
        sf = _login(srv)
        touched = sorted(r["Id"] for r in sf.query(
            "SELECT Id FROM Lead WHERE Company = 'Big Co' ORDER BY Id LIMIT 3")["records"])
        for rid in touched:
            sf.Lead.update(rid, {"Title": "changed"})
        started = time.perf_counter()
        got = sf.query(format_soql("SELECT Id FROM Lead WHERE SystemModstamp > {} "
                                   "ORDER BY SystemModstamp, Id", cursor))
        elapsed = time.perf_counter() - started
        assert sorted(r["Id"] for r in got["records"]) == touched
        assert elapsed < 0.5, f"incremental query took {elapsed:.3f}s on 100k leads"


# -- as orgs are today -----------------------------------------------------------------------------

def test_versions_call_options_and_restricted_picklists_as_salesforce_answers_them() -> None:
    with create_server(None) as srv:
        session = client_session(srv.url, srv.ca_pem or "")
        session.headers["Sforce-Call-Options"] = "client=acme/1.0"
        versions = session.get(f"{srv.url}/services/data", timeout=10).json()
        assert versions[0]["version"] == "31.0" and versions[-1]["version"] == "68.0"
        sf = Salesforce(instance_url=srv.url, session_id=srv.connection_info()["session_id"], session=session,
                        version="68.0")
        status = next(f for f in sf.Task.describe()["fields"] if f["name"] == "Status")
        assert status["restrictedPicklist"] is True
        assert [v["value"] for v in status["picklistValues"] if v["defaultValue"]] == ["Not Started"]
        assert srv.sf.call_options["client=acme/1.0"] == 2 and srv.sf.call_options[None] == 0
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.Task.create({"Subject": "x", "Status": "Nope"})
        assert err.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        task = sf.Task.create({"Subject": "y"})
        assert sf.Task.get(task["id"])["Status"] == "Not Started"  # the picklist's default
        with pytest.raises(SalesforceResourceNotFound):
            Salesforce(instance_url=srv.url, session_id=srv.connection_info()["session_id"], session=session,
                       version="99.0").query("SELECT Id FROM User")


def test_get_deleted_needs_more_than_a_minute_and_reports_a_purge() -> None:
    with create_server(None) as srv:
        sf = _login(srv)
        rid = _new_lead(sf)
        sf.Lead.delete(rid)
        end = datetime.now(timezone.utc)
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.Lead.deleted(end - timedelta(seconds=50), end)
        assert err.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
        later = end + timedelta(minutes=2)
        body = sf.Lead.deleted(end - timedelta(minutes=3), later)
        assert [d["id"] for d in body["deletedRecords"]] == [rid]
        srv.org.purge_deleted("Lead", srv.org.now_ms() + 1)
        purged = sf.Lead.deleted(end - timedelta(minutes=3), later)
        assert purged["deletedRecords"] == []
        assert purged["earliestDateAvailable"] > body["earliestDateAvailable"]
