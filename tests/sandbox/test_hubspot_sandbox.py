"""The HubSpot sandbox, exercised through hubspot-api-client 12.x over real loopback HTTP.

Expected values come from the tenant the server was seeded from (contact ``i + 1`` is the
i-th lead), not from the server, so a wrong answer from the sandbox fails the test. Error
bodies are compared by shape with the HubSpot bodies recorded in ``tests/fixtures/hubspot``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import (
    ForbiddenException,
    NotFoundException,
    ServiceException,
    UnauthorizedException,
)
from hubspot.crm.properties import BatchInputPropertyCreate, PropertyCreate, PropertyGroupCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from sandbox.http import FaultConfig, RollingWindowLimiter, SandboxServer
from sandbox.hubspot import ALL_SCOPES
from sandbox.tenant import Tenant, generate_tenant

ROOT = Path(__file__).resolve().parents[2]


#: urllib3's default Retry honours Retry-After on a 429/503 to a GET by sleeping and retrying;
#: the tests want to see each answer, so the client they use does not retry.
NO_RETRY = urllib3.Retry(0, respect_retry_after_header=False)


def client(server: Any, token: str | None = None, **config: Any) -> HubSpot:
    config.setdefault("retry", NO_RETRY)
    return HubSpot(access_token=token or server.token, host=server.url, base_url=server.url,
                   **config)


def api_errors() -> tuple[type[Exception], ...]:
    """Every generated sub-client has its own ApiException class."""
    import importlib

    return tuple(importlib.import_module(f"hubspot.{p}.exceptions").ApiException for p in (
        "crm.contacts", "crm.companies", "crm.objects", "crm.properties", "crm.owners",
        "crm.associations.v4", "events", "oauth"))


def body(exc: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(exc.body)
    return parsed


def assert_shape(actual: Any, expected: Any, path: str = "$") -> None:
    """``actual`` has at least the keys of ``expected``, recursively, with the same JSON types."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}: missing key {key!r} (have {sorted(actual)})"
            assert_shape(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        if expected and actual:
            assert_shape(actual[0], expected[0], f"{path}[0]")
    elif expected is not None:
        assert isinstance(actual, type(expected)), f"{path}: {actual!r} is not {type(expected)}"


def leads(tenant: Tenant) -> list[dict[str, Any]]:
    return tenant.leads.to_pylist()


def event_rows(tenant: Tenant) -> list[dict[str, Any]]:
    return tenant.events.cast(pa.schema([
        f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in tenant.events.schema])).to_pylist()


def ms(dt: Any) -> int:
    return int(dt.timestamp() * 1000)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# -- auth and scopes -----------------------------------------------------------------------


def test_bad_token_gets_hubspots_401(hubspot_server: Any, hubspot_fixture: Any) -> None:
    with pytest.raises(UnauthorizedException) as info:
        client(hubspot_server, token="pat-na1-wrong").crm.contacts.basic_api.get_page()
    assert info.value.status == 401
    assert_shape(body(info.value), hubspot_fixture("invalid_authentication.json"))
    assert body(info.value)["category"] == "INVALID_AUTHENTICATION"


def test_expired_token_says_expired(hubspot_server: Any) -> None:
    token = hubspot_server.portal.add_token(kind="oauth", expires_in_s=-3 * 86400).value
    with pytest.raises(UnauthorizedException) as info:
        client(hubspot_server, token=token).crm.contacts.basic_api.get_page()
    assert body(info.value)["category"] == "EXPIRED_AUTHENTICATION"
    assert "expired 3 day(s) ago" in body(info.value)["message"]


def test_missing_scope_is_403_naming_the_scope(hubspot_server: Any, hubspot_fixture: Any
                                               ) -> None:
    limited = hubspot_server.portal.add_token(
        scopes=ALL_SCOPES - {"crm.objects.contacts.write"}).value
    c = client(hubspot_server, token=limited)
    assert c.crm.contacts.basic_api.get_by_id("1").id == "1"  # reading is granted
    with pytest.raises(ForbiddenException) as info:
        c.crm.contacts.basic_api.update("1", SimplePublicObjectInput(properties={"city": "X"}))
    got = body(info.value)
    assert_shape(got, hubspot_fixture("missing_scopes.json"))
    assert got["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]


def test_token_introspection_lists_scopes(hubspot_server: Any) -> None:
    scopes = {"crm.objects.contacts.read", "oauth"}
    token = hubspot_server.portal.add_token(scopes=scopes).value
    c = client(hubspot_server)
    resp = c.api_request({"method": "POST", "path": "/oauth/v2/private-apps/get/access-token-info",
                          "body": {"tokenKey": token}})
    assert resp.status_code == 200
    assert resp.json()["scopes"] == sorted(scopes)
    assert resp.json()["hubId"] == hubspot_server.portal.portal_id
    oauth = hubspot_server.portal.add_token(scopes=scopes, kind="oauth", expires_in_s=1800).value
    info = c.oauth.access_tokens_api.get(oauth)
    assert sorted(info.scopes) == sorted(scopes) and 0 < info.expires_in <= 1800


def test_oauth_refresh_gives_expiring_tokens(make_hubspot_server: Any, small_tenant: Tenant
                                             ) -> None:
    clock = FakeClock()
    server = make_hubspot_server(small_tenant, clock=clock, oauth_ttl_s=60)
    oauth = server.connection_info()["oauth"]
    c = client(server)
    grant = c.oauth.tokens_api.create(grant_type="refresh_token",
                                      client_id=oauth["client_id"],
                                      client_secret=oauth["client_secret"],
                                      refresh_token=oauth["refresh_token"])
    assert grant.expires_in == 60 and grant.refresh_token == oauth["refresh_token"]
    user = client(server, token=grant.access_token)
    assert user.crm.contacts.basic_api.get_by_id("1").id == "1"
    clock.t += 61
    with pytest.raises(UnauthorizedException) as info:
        user.crm.contacts.basic_api.get_by_id("1")
    assert body(info.value)["category"] == "EXPIRED_AUTHENTICATION"
    with pytest.raises(api_errors()) as bad:
        c.oauth.tokens_api.create(grant_type="refresh_token", client_id=oauth["client_id"],
                                  client_secret=oauth["client_secret"], refresh_token="nope")
    assert json.loads(bad.value.body)["status"] == "BAD_REFRESH_TOKEN"  # type: ignore[attr-defined]


# -- objects: basic ------------------------------------------------------------------------


def test_get_page_and_get_by_id_return_the_tenant(hubspot_server: Any, small_tenant: Tenant
                                                  ) -> None:
    c = client(hubspot_server)
    rows = leads(small_tenant)
    seen = list(c.crm.contacts.get_all(properties=["email", "jobtitle", "country"]))
    assert [s.id for s in seen] == [str(i + 1) for i in range(len(rows))]
    for s, lead in zip(seen, rows, strict=True):
        assert s.properties["email"] == lead["email"]
        assert s.properties["jobtitle"] == lead["title"]
        assert s.properties["country"] == lead["country"]
    one = c.crm.contacts.basic_api.get_by_id("4", properties=["firstname", "not_a_property"])
    assert one.properties["firstname"] == rows[3]["first_name"]
    assert "not_a_property" not in one.properties  # unknown names are ignored on read
    assert set(one.properties) >= {"createdate", "lastmodifieddate", "hs_object_id"}
    by_email = c.crm.contacts.basic_api.get_by_id(rows[9]["email"], id_property="email")
    assert by_email.id == "10"
    with pytest.raises(NotFoundException):
        c.crm.contacts.basic_api.get_by_id("999999")


def test_create_and_update_maintain_lastmodifieddate(make_hubspot_server: Any,
                                                     small_tenant: Tenant) -> None:
    clock = FakeClock()
    clock.t = 1_900_000_000.0
    server = make_hubspot_server(small_tenant, clock=clock)
    c = client(server)
    created = c.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": "new.person@example.org", "firstname": "New"}))
    assert created.properties["lastmodifieddate"] == "2030-03-17T17:46:40.000Z"
    clock.t += 60
    updated = c.crm.contacts.basic_api.update("7", SimplePublicObjectInput(
        properties={"jobtitle": "Chief Scoring Officer"}))
    assert updated.properties["jobtitle"] == "Chief Scoring Officer"
    assert updated.properties["lastmodifieddate"] == "2030-03-17T17:47:40.000Z"
    company = c.crm.companies.basic_api.update("2", SimplePublicObjectInput(
        properties={"industry": "Software"}))
    assert company.properties["hs_lastmodifieddate"] == "2030-03-17T17:47:40.000Z"
    # The incremental query sees exactly the two changed contacts, in change order.
    page = c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                     "value": str(1_900_000_000_000)}]}],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], limit=10))
    assert page.total == 2 and [r.id for r in page.results] == [created.id, "7"]


def test_unknown_property_fails_like_hubspot(hubspot_server: Any, hubspot_fixture: Any) -> None:
    c = client(hubspot_server)
    with pytest.raises(ApiException) as info:
        c.crm.contacts.basic_api.update("1", SimplePublicObjectInput(
            properties={"not_a_property": "x"}))
    got = body(info.value)
    assert info.value.status == 400
    assert_shape(got, hubspot_fixture("property_doesnt_exist.json"))
    assert got["category"] == "VALIDATION_ERROR"
    details = json.loads(got["message"].split(": ", 1)[1])
    assert details[0]["error"] == "PROPERTY_DOESNT_EXIST" and details[0]["name"] == "not_a_property"


@pytest.mark.parametrize(("props", "code"), [
    ({"lifecyclestage": "hot"}, "INVALID_OPTION"),
    ({"hubspot_owner_id": "5000001"}, "INVALID_OWNER_ID"),  # a userId, not an owner id
    ({"lastmodifieddate": "2024-01-01"}, "READ_ONLY_VALUE"),
])
def test_invalid_values_are_rejected(hubspot_server: Any, props: dict[str, str], code: str
                                     ) -> None:
    with pytest.raises(ApiException) as info:
        client(hubspot_server).crm.contacts.basic_api.update("1", SimplePublicObjectInput(
            properties=props))
    assert f'"error":"{code}"' in body(info.value)["message"]


def test_duplicate_email_is_a_conflict(hubspot_server: Any, small_tenant: Tenant,
                                       hubspot_fixture: Any) -> None:
    email = leads(small_tenant)[2]["email"].upper()  # emails are unique case-insensitively
    with pytest.raises(ApiException) as info:
        client(hubspot_server).crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"email": email}))
    assert info.value.status == 409
    assert_shape(body(info.value), hubspot_fixture("conflict_contact_exists.json"))
    assert body(info.value)["message"].endswith("Existing ID: 3")


# -- objects: batch ------------------------------------------------------------------------


def test_batch_read_with_missing_ids_is_207(hubspot_server: Any, hubspot_fixture: Any) -> None:
    c = client(hubspot_server)
    res = c.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[{"id": "1"}, {"id": "999999"}, {"id": "2"}], properties=["email"]))
    assert sorted(r.id for r in res.results) == ["1", "2"]
    assert res.num_errors == 1
    error = res.errors[0]
    assert error.category == "OBJECT_NOT_FOUND" and error.context == {"ids": ["999999"]}
    raw = c.api_request({"method": "POST", "path": "/crm/v3/objects/contacts/batch/read",
                         "body": {"inputs": [{"id": "1"}, {"id": "999999"}]}})
    assert raw.status_code == 207
    assert_shape(raw.json(), hubspot_fixture("batch_read_207.json"))


def test_batch_update_partial_failure_and_caps(hubspot_server: Any) -> None:
    c = client(hubspot_server)
    res = c.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        {"id": "1", "properties": {"city": "Lisbon"}},
        {"id": "424242", "properties": {"city": "Porto"}},
    ]))
    assert [r.id for r in res.results] == ["1"] and res.errors[0].context["ids"] == ["424242"]
    assert c.crm.contacts.basic_api.get_by_id("1", properties=["city"]).properties["city"] == \
        "Lisbon"
    too_many = [{"id": str(i), "properties": {"city": "X"}} for i in range(1, 102)]
    with pytest.raises(ApiException) as info:
        c.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=too_many))
    assert info.value.status == 400 and body(info.value)["category"] == "VALIDATION_ERROR"
    with pytest.raises(ApiException) as dupes:
        c.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
            {"id": "3", "properties": {"city": "A"}}, {"id": "3", "properties": {"city": "B"}}]))
    assert "Duplicate IDs" in body(dupes.value)["message"]
    with pytest.raises(ApiException):  # a bad property anywhere fails the whole batch
        c.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
            {"id": "4", "properties": {"city": "C"}}, {"id": "5", "properties": {"nope": "D"}}]))
    assert c.crm.contacts.basic_api.get_by_id("4", properties=["city"]).properties["city"] != "C"


def test_batch_create_and_upsert(hubspot_server: Any, small_tenant: Tenant) -> None:
    c = client(hubspot_server)
    made = c.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[{"properties": {"email": f"b{i}@example.net"}} for i in range(3)]))
    assert sorted(int(r.id) for r in made.results) == [61, 62, 63]
    existing = leads(small_tenant)[0]["email"]
    up = c.crm.contacts.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        {"id": existing, "idProperty": "email", "properties": {"jobtitle": "CEO"}},
        {"id": "fresh@example.net", "idProperty": "email", "properties": {"jobtitle": "CTO"}},
    ]))
    by_new = {r.new: r for r in up.results}
    assert by_new[False].id == "1" and by_new[False].properties["jobtitle"] == "CEO"
    assert by_new[True].properties["email"] == "fresh@example.net"


# -- archive (delete) ----------------------------------------------------------------------

DELETE_ONE = "DELETE /crm/v3/objects/{objectType}/{objectId}"
ARCHIVE_BATCH = "POST /crm/v3/objects/{objectType}/batch/archive"


def _archived_ids(c: HubSpot, limit: int = 100) -> tuple[list[str], list[int]]:
    """Every archived contact id through ``archived=true`` paging, and the page sizes."""
    ids: list[str] = []
    sizes: list[int] = []
    after = None
    while True:
        page = c.crm.contacts.basic_api.get_page(limit=limit, archived=True, after=after)
        ids += [r.id for r in page.results]
        sizes.append(len(page.results))
        assert all(r.archived and r.archived_at is not None for r in page.results)
        if page.paging is None:
            return ids, sizes
        after = page.paging.next.after


def test_delete_archives_a_contact(make_hubspot_server: Any, small_tenant: Tenant) -> None:
    clock = FakeClock()
    clock.t = 1_900_000_000.0
    server = make_hubspot_server(small_tenant, clock=clock, search_per_second=1000)
    c = client(server)
    rows = leads(small_tenant)
    clock.t += 60
    resp = c.crm.contacts.basic_api.archive("7", _preload_content=False)
    assert (resp.status, resp.data) == (204, b"")
    with pytest.raises(NotFoundException) as gone:
        c.crm.contacts.basic_api.get_by_id("7")
    assert body(gone.value)["category"] == "OBJECT_NOT_FOUND"
    # neither search (by its e-mail, or everything) nor the default list returns it
    assert _search_ids(c, [{"propertyName": "email", "operator": "EQ", "value": rows[6]["email"]}]) == (0, [])
    everything = c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=100))
    assert everything.total == len(rows) - 1 and "7" not in [r.id for r in everything.results]
    live = [r.id for r in c.crm.contacts.get_all()]
    assert live == [str(i + 1) for i in range(len(rows)) if i != 6]
    # the archived list returns it, stamped with the archive time (not its last change)
    raw = json.loads(c.crm.contacts.basic_api.get_page(archived=True, _preload_content=False).data)
    [only] = raw["results"]
    assert only["id"] == "7" and only["archived"] is True
    assert only["archivedAt"] == "2030-03-17T17:47:40.000Z"
    assert only["updatedAt"] != only["archivedAt"]
    # deleting again, or an id that never existed, is HubSpot's 404
    for again in ("7", "999999"):
        with pytest.raises(NotFoundException) as missing:
            c.crm.contacts.basic_api.archive(again)
        assert body(missing.value)["category"] == "OBJECT_NOT_FOUND"
    assert server.log.count(DELETE_ONE) == 3 and server.log.count(DELETE_ONE, 404) == 2
    assert _archived_ids(c) == (["7"], [1])


def test_batch_archive_and_the_archived_list_pages(make_hubspot_server: Any, small_tenant: Tenant) -> None:
    from hubspot.crm.contacts import BatchInputSimplePublicObjectId

    server = make_hubspot_server(small_tenant, search_per_second=1000)
    c = client(server)
    n = len(leads(small_tenant))
    assert _archived_ids(c) == ([], [0])
    wanted = [str(i) for i in range(2, 14)]
    resp = c.crm.contacts.batch_api.archive(BatchInputSimplePublicObjectId(
        inputs=[{"id": i} for i in [*reversed(wanted), "999999"]]), _preload_content=False)
    assert (resp.status, resp.data) == (204, b"")
    assert server.log.counts() == {"GET /crm/v3/objects/{objectType}": 1, ARCHIVE_BATCH: 1}
    assert _archived_ids(c, limit=5) == (wanted, [5, 5, 2])  # id order, whatever order they were archived in
    live = [r.id for r in c.crm.contacts.get_all()]
    assert len(live) == n - len(wanted) and not set(live) & set(wanted)
    assert c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=1)).total == n - len(wanted)
    assert c.crm.companies.basic_api.get_page(archived=True).results == []  # other types untouched
    with pytest.raises(ApiException) as too_many:
        c.crm.contacts.batch_api.archive(BatchInputSimplePublicObjectId(
            inputs=[{"id": str(i)} for i in range(20, 121)]))
    assert too_many.value.status == 400 and body(too_many.value)["category"] == "VALIDATION_ERROR"
    assert c.crm.contacts.basic_api.get_by_id("20").id == "20"  # a rejected batch archives nothing


# -- search --------------------------------------------------------------------------------


def _search_ids(c: HubSpot, filters: list[dict[str, Any]] | list[list[dict[str, Any]]],
                **extra: Any) -> tuple[int, list[str]]:
    groups = filters if filters and isinstance(filters[0], list) else [filters]
    res = c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
        filter_groups=[{"filters": g} for g in groups], limit=200, **extra))
    return res.total, [r.id for r in res.results]


def test_search_operators_match_the_tenant(make_hubspot_server: Any, small_tenant: Tenant
                                           ) -> None:
    server = make_hubspot_server(small_tenant, search_per_second=1000)
    c = client(server)
    rows = leads(small_tenant)

    def ids(pred: Any) -> set[str]:
        return {str(i + 1) for i, r in enumerate(rows) if pred(r)}

    created = sorted(ms(r["created_at"]) for r in rows)
    lo, mid, hi = created[10], created[30], created[40]
    industries = sorted({r["industry"] for r in rows if r["industry"]})[:2]
    cases = [
        ([{"propertyName": "country", "operator": "EQ", "value": "us"}],
         lambda r: (r["country"] or "").lower() == "us"),
        ([{"propertyName": "country", "operator": "NEQ", "value": "US"}],
         lambda r: (r["country"] or "").lower() != "us"),
        ([{"propertyName": "industry", "operator": "IN", "values": industries}],
         lambda r: r["industry"] in industries),
        ([{"propertyName": "industry", "operator": "NOT_IN", "values": industries}],
         lambda r: r["industry"] not in industries),
        ([{"propertyName": "createdate", "operator": "GT", "value": str(mid)}],
         lambda r: ms(r["created_at"]) > mid),
        ([{"propertyName": "createdate", "operator": "GTE", "value": str(mid)}],
         lambda r: ms(r["created_at"]) >= mid),
        ([{"propertyName": "createdate", "operator": "LT", "value": str(mid)}],
         lambda r: ms(r["created_at"]) < mid),
        ([{"propertyName": "createdate", "operator": "LTE", "value": str(mid)}],
         lambda r: ms(r["created_at"]) <= mid),
        ([{"propertyName": "createdate", "operator": "BETWEEN", "value": str(lo),
           "highValue": str(hi)}], lambda r: lo <= ms(r["created_at"]) <= hi),
        ([{"propertyName": "state", "operator": "HAS_PROPERTY"}], lambda r: bool(r["state"])),
        ([{"propertyName": "state", "operator": "NOT_HAS_PROPERTY"}],
         lambda r: not r["state"]),
        ([{"propertyName": "jobtitle", "operator": "CONTAINS_TOKEN", "value": "marketing"}],
         lambda r: "marketing" in (r["title"] or "").lower().split()),
        ([{"propertyName": "email", "operator": "IN",
           "values": [rows[4]["email"].upper(), rows[8]["email"], "nobody@example.com"]}],
         lambda r: r["email"] in (rows[4]["email"], rows[8]["email"])),
        ([{"propertyName": "email", "operator": "EQ", "value": rows[4]["email"]},
          {"propertyName": "country", "operator": "EQ", "value": rows[4]["country"]}],
         lambda r: r["email"] == rows[4]["email"]),
        ([[{"propertyName": "country", "operator": "EQ", "value": "US"}],
          [{"propertyName": "country", "operator": "EQ", "value": "GB"}]],
         lambda r: r["country"] in ("US", "GB")),
    ]
    for filters, pred in cases:
        total, got = _search_ids(c, filters)
        expected = ids(pred)
        assert expected, f"the tenant should exercise {filters}"
        assert (total, set(got)) == (len(expected), expected), filters
    total, got = _search_ids(c, [], sorts=[{"propertyName": "createdate",
                                            "direction": "DESCENDING"}])
    assert [ms(rows[int(i) - 1]["created_at"]) for i in got] == created[::-1]
    assert total == len(rows)
    # Number properties compare as numbers (companies' annualrevenue is a number; contacts'
    # is a string in HubSpot).
    accounts = small_tenant.accounts.to_pylist()
    revenue = sorted(a["annual_revenue"] for a in accounts if a["annual_revenue"] is not None)
    cut = revenue[len(revenue) // 2]
    res = c.crm.companies.search_api.do_search(PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "annualrevenue", "operator": "GT",
                                     "value": str(int(cut))}]}], limit=200))
    assert {r.id for r in res.results} == {
        str(i + 1) for i, a in enumerate(accounts)
        if a["annual_revenue"] is not None and a["annual_revenue"] > int(cut)}


def test_search_pages_with_after_in_lastmodified_order(hubspot_server: Any, small_tenant: Tenant,
                                                       ) -> None:
    c = client(hubspot_server)
    rows = leads(small_tenant)
    expected = [str(i + 1) for i in sorted(range(len(rows)),
                                           key=lambda i: (ms(rows[i]["updated_at"]), i))]
    got: list[str] = []
    after = None
    for _ in range(20):
        time.sleep(0.26)  # stay under the search limit of 4 per second
        res = c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
            sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            limit=25, after=after, properties=["email"]))
        got += [r.id for r in res.results]
        assert res.total == len(rows)
        if res.paging is None:
            break
        after = res.paging.next.after
    assert got == expected


@pytest.mark.parametrize(("request_body", "fragment"), [
    ({"limit": 201}, "limit"),
    ({"filterGroups": [{"filters": []}] * 6}, "filter groups"),
    ({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 11}]},
     "per group"),
    ({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 9}]
      * 3}, "25"),
    ({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE",
                                     "value": "x"}]}]}, "operator"),
])
def test_search_validation(make_hubspot_server: Any, small_tenant: Tenant,
                           request_body: dict[str, Any], fragment: str) -> None:
    server = make_hubspot_server(small_tenant, search_per_second=1000)
    resp = client(server).api_request({"method": "POST",
                                       "path": "/crm/v3/objects/contacts/search",
                                       "body": request_body})
    assert resp.status_code == 400 and resp.json()["category"] == "VALIDATION_ERROR"
    assert fragment in resp.json()["message"]


def test_search_cannot_page_past_10000(make_hubspot_server: Any, hubspot_fixture: Any) -> None:
    tenant = generate_tenant(seed=2, leads=10_050, events_per_lead=0)
    server = make_hubspot_server(tenant, search_per_second=1000)
    c = client(server)
    req = {"filter_groups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT",
                                           "value": "0"}]}],
           "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
           "limit": 100}
    res = c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(after="9900", **req))
    assert res.total == 10_050 and len(res.results) == 100
    assert res.paging.next.after == "10000"
    assert_shape(res.to_dict(), {"total": 1, "results": [], "paging": {"next": {"after": ""}}})
    with pytest.raises(ApiException) as info:
        c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(after="10000", **req))
    assert info.value.status == 400 and "10000" in body(info.value)["message"]


# -- rate limits ---------------------------------------------------------------------------


def test_ten_second_window_429_with_headers(make_hubspot_server: Any, small_tenant: Tenant,
                                            hubspot_fixture: Any) -> None:
    clock = FakeClock()
    server = make_hubspot_server(small_tenant, burst_limit=5, limiter_clock=clock)
    c = client(server)
    remaining = []
    for _ in range(5):
        _, status, headers = c.crm.contacts.basic_api.get_by_id_with_http_info("1")
        remaining.append(int(headers["X-HubSpot-RateLimit-Remaining"]))
        assert headers["X-HubSpot-RateLimit-Max"] == "5"
        assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) > 0
    assert remaining == [4, 3, 2, 1, 0]
    with pytest.raises(ApiException) as info:
        c.crm.contacts.basic_api.get_by_id("1")
    assert info.value.status == 429
    assert_shape(body(info.value), hubspot_fixture("rate_limit_ten_secondly.json"))
    assert body(info.value)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert info.value.headers["Retry-After"] == "10"
    clock.t += 10.0  # the window rolls on
    assert c.crm.contacts.basic_api.get_by_id("1").id == "1"


def test_search_has_its_own_limit_without_retry_after(make_hubspot_server: Any,
                                                      small_tenant: Tenant) -> None:
    clock = FakeClock()
    server = make_hubspot_server(small_tenant, limiter_clock=clock)
    c = client(server)
    for _ in range(4):
        c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=1))
    with pytest.raises(ApiException) as info:
        c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=1))
    assert info.value.status == 429 and body(info.value)["policyName"] == "SECONDLY"
    assert "Retry-After" not in info.value.headers
    assert c.crm.contacts.basic_api.get_by_id("1").id == "1"  # other endpoints still answer
    clock.t += 1.0
    assert c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=1)).total == 60


def test_daily_limit(make_hubspot_server: Any, small_tenant: Tenant) -> None:
    server = make_hubspot_server(small_tenant, daily_limit=3)
    c = client(server)
    for _ in range(3):
        c.crm.contacts.basic_api.get_by_id("1")
    with pytest.raises(ApiException) as info:
        c.crm.contacts.basic_api.get_by_id("1")
    assert body(info.value)["policyName"] == "DAILY"
    assert info.value.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_rolling_window_limiter_unit() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(2, 10.0, clock)
    assert limiter.acquire().allowed and limiter.acquire().allowed
    denied = limiter.acquire()
    assert not denied.allowed and denied.retry_after == pytest.approx(10.0)
    clock.t += 10.0
    assert limiter.acquire().allowed


# -- properties ----------------------------------------------------------------------------


def test_properties_and_groups(hubspot_server: Any) -> None:
    c = client(hubspot_server)
    props = c.crm.properties
    group = props.groups_api.create("contacts", PropertyGroupCreate(name="leadscore",
                                                                   label="Lead scoring"))
    assert group.name == "leadscore"
    with pytest.raises(PropertiesApiException) as group_again:
        props.groups_api.create("contacts", PropertyGroupCreate(name="leadscore", label="x"))
    assert group_again.value.status == 409
    assert "leadscore" in [g.name for g in props.groups_api.get_all("contacts").results]
    spec = PropertyCreate(name="leadscore_score", label="Lead score", type="number",
                          field_type="number", group_name="leadscore")
    made = props.core_api.create("contacts", spec)
    assert made.name == "leadscore_score" and made.hubspot_defined is False
    with pytest.raises(PropertiesApiException) as again:
        props.core_api.create("contacts", spec)
    assert again.value.status == 409
    assert body(again.value)["category"] == "OBJECT_ALREADY_EXISTS"
    assert "already exists" in body(again.value)["message"]
    # OptionInput requires displayOrder, hidden, label and value (properties spec)
    grade = PropertyCreate(name="leadscore_grade", label="Grade", type="enumeration",
                           field_type="select", group_name="leadscore",
                           options=[{"label": g, "value": g, "displayOrder": i, "hidden": False}
                                    for i, g in enumerate("ABCDF")])
    bare = PropertyCreate(name="leadscore_tier", label="Tier", type="enumeration", field_type="select",
                          group_name="leadscore", options=[{"label": "A", "value": "A"}])
    batch = props.batch_api.create("contacts", BatchInputPropertyCreate(inputs=[spec, grade, bare]))
    assert [p.name for p in batch.results] == ["leadscore_grade"]
    assert batch.errors[0].category == "OBJECT_ALREADY_EXISTS"
    assert "hidden" in batch.errors[1].message and batch.errors[1].context == {"name": ["leadscore_tier"]}
    assert props.core_api.get_by_name("contacts", "leadscore_grade").options[0].value == "A"
    assert "leadscore_score" in {p.name for p in props.core_api.get_all("contacts").results}
    # The new properties can be written; their enumeration options are enforced.
    c.crm.contacts.basic_api.update("1", SimplePublicObjectInput(
        properties={"leadscore_score": "87", "leadscore_grade": "A"}))
    got = c.crm.contacts.basic_api.get_by_id("1", properties=["leadscore_score"])
    assert got.properties["leadscore_score"] == "87"
    with pytest.raises(ApiException):
        c.crm.contacts.basic_api.update("1", SimplePublicObjectInput(
            properties={"leadscore_grade": "Z"}))


# -- owners, associations, engagements -----------------------------------------------------


def test_owners_have_ids_distinct_from_user_ids(hubspot_server: Any, small_tenant: Tenant
                                                ) -> None:
    c = client(hubspot_server)
    page = c.crm.owners.owners_api.get_page(limit=5)
    assert len(page.results) == 5 and page.paging.next.after == "5"
    tenant_owners = small_tenant.owners.to_pylist()
    first = page.results[0]
    assert first.email == tenant_owners[0]["email"] and first.id != str(first.user_id)
    assert c.crm.owners.owners_api.get_by_id(str(first.user_id), id_property="userId").id == \
        first.id
    owner_index = {o["id"]: i for i, o in enumerate(tenant_owners)}
    lead = leads(small_tenant)[0]
    contact = c.crm.contacts.basic_api.get_by_id("1", properties=["hubspot_owner_id"])
    assert contact.properties["hubspot_owner_id"] == \
        str(10_000_001 + owner_index[lead["owner_id"]])


def test_associations_contact_to_company(hubspot_server: Any, small_tenant: Tenant) -> None:
    c = client(hubspot_server)
    account_index = {a["id"]: i + 1 for i, a in enumerate(small_tenant.accounts.to_pylist())}
    rows = leads(small_tenant)
    inputs = [{"id": str(i + 1)} for i in range(20)]
    res = c.crm.associations.v4.batch_api.get_page(
        "contacts", "companies", BatchInputPublicFetchAssociationsBatchRequest(inputs=inputs))
    got = {r._from.id: [t.to_object_id for t in r.to] for r in res.results}
    expected = {str(i + 1): [str(account_index[r["account_id"]])]
                for i, r in enumerate(rows[:20]) if r["account_id"]}
    assert {k: [str(v) for v in vs] for k, vs in got.items()} == expected
    type_ids = {t.type_id for r in res.results for t in r.to[0].association_types}
    assert type_ids == {1, 279}
    without = {str(i + 1) for i, r in enumerate(rows[:20]) if not r["account_id"]}
    assert {e.context["fromObjectId"][0] for e in (res.errors or [])} == without


def test_seeded_engagements_and_new_tasks(hubspot_server: Any, small_tenant: Tenant) -> None:
    c = client(hubspot_server)
    kinds = Counter(e["type"] for e in event_rows(small_tenant))
    objs = c.crm.objects
    for name, count in (("meetings", kinds["meeting_booked"] + kinds["meeting_held"]),
                        ("calls", kinds["call_logged"]), ("emails", kinds["email_reply"])):
        res = objs.search_api.do_search(name, PublicObjectSearchRequest(limit=1))
        assert res.total == count, name
        time.sleep(0.26)
    task = objs.tasks.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"hs_task_subject": "Call back: score 87", "hs_timestamp": "1767225600000",
                    "hs_task_priority": "HIGH"},
        associations=[{"to": {"id": "3"}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                     "associationTypeId": 204}]}]))
    assert task.properties["hs_timestamp"] == "2026-01-01T00:00:00.000Z"
    res = c.crm.associations.v4.batch_api.get_page(
        "contacts", "tasks", BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": "3"}]))
    assert [t.to_object_id for t in res.results[0].to] == [task.id]
    assert res.results[0].to[0].association_types[0].type_id == 203
    v4 = c.crm.associations.v4.basic_api
    assert [t.to_object_id for t in v4.get_page("contacts", "3", "tasks").results] == [task.id]
    note = objs.notes.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"hs_note_body": "first", "hs_timestamp": "2026-01-01T00:00:00Z"}))
    edited = objs.notes.basic_api.update(note.id, SimplePublicObjectInput(
        properties={"hs_note_body": "second"}))
    assert edited.properties["hs_note_body"] == "second"
    assert edited.properties["hs_lastmodifieddate"] >= note.properties["hs_lastmodifieddate"]
    made = v4.create_default("notes", note.id, "contacts", "3")
    assert made.results[0].association_spec.association_type_id == 202
    got = c.crm.contacts.basic_api.get_by_id("3", associations=["notes", "tasks"])
    assert got.associations["notes"].results[0].id == note.id
    assert got.associations["tasks"].results[0].type == "contact_to_task"


# -- events, forms, email events, sequences ------------------------------------------------


def test_web_events_per_contact(hubspot_server: Any, small_tenant: Tenant) -> None:
    c = client(hubspot_server)
    web_types = {"page_view", "product_usage", "webinar_attended", "campaign_response"}
    web = [e for e in event_rows(small_tenant) if e["type"] in web_types]
    lead_id, _ = Counter(e["lead_id"] for e in web).most_common(1)[0]
    contact_id = str(next(i + 1 for i, r in enumerate(leads(small_tenant))
                          if r["id"] == lead_id))
    mine = sorted((e for e in web if e["lead_id"] == lead_id),
                  key=lambda e: (ms(e["occurred_at"]), e["id"]))
    assert len(mine) >= 3
    got, after = [], None
    while True:
        page = c.events.events_api.get_page(object_type="contact", object_id=contact_id,
                                            limit=2, after=after)
        got += page.results
        if page.paging is None:
            break
        after = page.paging.next.after
    assert [g.id for g in got] == [e["id"] for e in mine]
    assert got[0].properties["hs_url"] == mine[0]["url"]
    views = [g for g in got if g.event_type == "e_visited_page"]
    assert len(views) == sum(e["type"] == "page_view" for e in mine)
    cut = mine[len(mine) // 2]["occurred_at"]
    later = c.events.events_api.get_page(object_type="contact", object_id=contact_id,
                                         occurred_after=cut, limit=100)
    assert len(later.results) == sum(e["occurred_at"] >= cut for e in mine)
    types = c.events.events_api.get_types().event_types
    assert "e_visited_page" in types


def test_forms_and_submissions(hubspot_server: Any, small_tenant: Tenant) -> None:
    c = client(hubspot_server)
    forms = c.api_request({"method": "GET", "path": "/marketing/v3/forms",
                           "qs": {"limit": 100, "formTypes": "all"}}).json()["results"]
    submits = [e for e in event_rows(small_tenant) if e["type"] == "form_submit"]
    assert sorted(f["name"] for f in forms) == sorted({e["form"] for e in submits})
    # without formTypes HubSpot lists only "hubspot" forms, not captured or flow (pop-up) ones
    default = c.api_request({"method": "GET", "path": "/marketing/v3/forms", "qs": {"limit": 100}}).json()["results"]
    assert {f["formType"] for f in forms} == {"hubspot", "captured", "flow"}
    assert sorted(f["name"] for f in default) == sorted(f["name"] for f in forms if f["formType"] == "hubspot")
    form = forms[0]
    expected = sorted((e for e in submits if e["form"] == form["name"]),
                      key=lambda e: ms(e["occurred_at"]), reverse=True)
    got, after = [], None
    while True:
        qs = {"limit": 2, **({"after": after} if after else {})}
        page = c.api_request({"method": "GET",
                              "path": f"/form-integrations/v1/submissions/forms/{form['id']}",
                              "qs": qs}).json()
        got += page["results"]
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
    assert [g["submittedAt"] for g in got] == [ms(e["occurred_at"]) for e in expected]
    emails = {r["id"]: r["email"] for r in leads(small_tenant)}
    first_values = {v["name"]: v["value"] for v in got[0]["values"]}
    assert first_values["email"] == emails[expected[0]["lead_id"]]


def test_marketing_email_events(hubspot_server: Any, small_tenant: Tenant) -> None:
    c = client(hubspot_server)
    mapping = {"email_sent": "SENT", "email_open": "OPEN", "email_click": "CLICK",
               "email_bounce": "BOUNCE", "email_unsubscribe": "STATUSCHANGE"}
    rows = leads(small_tenant)
    per_lead = Counter(e["lead_id"] for e in event_rows(small_tenant) if e["type"] in mapping)
    lead_id, count = per_lead.most_common(1)[0]
    email = next(r["email"] for r in rows if r["id"] == lead_id)
    resp = c.api_request({"method": "GET", "path": "/email/public/v1/events",
                          "qs": {"recipient": email, "limit": 1000}})
    assert resp.status_code == 200
    got = resp.json()
    assert len(got["events"]) == count and got["hasMore"] is False
    assert {e["recipient"] for e in got["events"]} == {email}
    created = [e["created"] for e in got["events"]]
    assert created == sorted(created, reverse=True)
    opens = c.api_request({"method": "GET", "path": "/email/public/v1/events",
                           "qs": {"eventType": "OPEN", "limit": 5}}).json()
    assert opens["events"] and {e["type"] for e in opens["events"]} == {"OPEN"}


def test_sequence_enrollment_once(hubspot_server: Any) -> None:
    c = client(hubspot_server)
    owner = hubspot_server.portal.owners[0]
    seqs = c.api_request({"method": "GET", "path": "/automation/v4/sequences",
                          "qs": {"userId": owner["userId"]}}).json()["results"]
    enroll = {"method": "POST", "path": "/automation/v4/sequences/enrollments",
              "qs": {"userId": owner["userId"]},
              "body": {"contactId": "5", "sequenceId": seqs[0]["id"],
                       "senderEmail": owner["email"]}}
    first = c.api_request(enroll)
    assert first.status_code == 200 and set(first.json()) == {"id", "toEmail", "enrolledAt",
                                                              "updatedAt"}
    assert c.api_request(enroll).status_code == 409  # a re-run cannot enroll twice
    status = c.api_request({"method": "GET",
                            "path": "/automation/v4/sequences/enrollments/contact/5"}).json()
    assert status["sequenceId"] == seqs[0]["id"]
    wrong_sender = dict(enroll, body={**enroll["body"], "contactId": "6",
                                      "senderEmail": "someone@else.com"})
    assert c.api_request(wrong_sender).status_code == 400


# -- faults, request log, TLS, concurrency -------------------------------------------------


def test_injected_faults_look_like_hubspot(make_hubspot_server: Any, small_tenant: Tenant,
                                           hubspot_fixture: Any) -> None:
    server = make_hubspot_server(small_tenant, faults=FaultConfig(rate_429=1.0))
    with pytest.raises(ApiException) as info:
        client(server).crm.contacts.basic_api.get_by_id("1")
    assert info.value.status == 429
    assert_shape(body(info.value), hubspot_fixture("rate_limit_ten_secondly.json"))
    server.set_faults(FaultConfig(rate_5xx=1.0))
    with pytest.raises(ServiceException):
        client(server).crm.contacts.basic_api.get_by_id("1")
    server.set_faults(FaultConfig(rate_drop=1.0))
    with pytest.raises(urllib3.exceptions.HTTPError):
        client(server).crm.contacts.basic_api.get_by_id("1")
    # the server logs a dropped request after closing the socket, so the client may see the drop first
    one = "GET /crm/v3/objects/{objectType}/{objectId}"
    deadline = time.monotonic() + 5
    while server.log.count(one, status=0) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.log.count(one, status=0) == 1


def test_timeout_fault_hangs_past_the_client_timeout(make_hubspot_server: Any) -> None:
    server = make_hubspot_server(None, faults=FaultConfig(rate_timeout=1.0, hang_seconds=30))
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError):
        client(server).crm.contacts.basic_api.get_page(
            _request_timeout=0.3)
    assert time.monotonic() - started < 2
    stopping = time.monotonic()
    server.stop()  # hung requests are released, not waited out
    assert time.monotonic() - stopping < 2


def test_faults_are_deterministic_by_seed(make_hubspot_server: Any) -> None:
    def outcomes() -> list[int]:
        server = make_hubspot_server(None, faults=FaultConfig(rate_429=0.3, rate_5xx=0.2,
                                                              seed=11))
        c = client(server)
        statuses = []
        for _ in range(25):
            try:
                c.crm.owners.owners_api.get_page()
                statuses.append(200)
            except api_errors() as exc:
                statuses.append(exc.status)  # type: ignore[attr-defined]
        return statuses
    first = outcomes()
    assert first == outcomes()
    assert {200, 429, 502} <= set(first)


def test_latency_is_added(make_hubspot_server: Any) -> None:
    server = make_hubspot_server(None, faults=FaultConfig(latency_ms=150))
    started = time.monotonic()
    client(server).crm.owners.owners_api.get_page()
    assert time.monotonic() - started >= 0.15


def test_request_log_counts_by_endpoint(hubspot_server: Any) -> None:
    c = client(hubspot_server)
    for i in ("1", "2", "3"):
        c.crm.contacts.basic_api.get_by_id(i)
    c.crm.companies.basic_api.get_by_id("1")
    c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=1))
    with pytest.raises(api_errors()) as info:
        client(hubspot_server, token="nope").crm.owners.owners_api.get_page()
    assert info.value.status == 401  # type: ignore[attr-defined]
    counts = hubspot_server.log.counts()
    assert counts == {"GET /crm/v3/objects/{objectType}/{objectId}": 4,
                      "POST /crm/v3/objects/{objectType}/search": 1,
                      "GET /crm/v3/owners": 1}
    assert hubspot_server.log.count("GET /crm/v3/owners", status=401) == 1
    assert hubspot_server.log.reset() == counts and hubspot_server.log.total() == 0


def test_tls_with_the_sandbox_ca(make_hubspot_server: Any, small_tenant: Tenant) -> None:
    server = make_hubspot_server(small_tenant, tls=True)
    assert server.url.startswith("https://") and Path(server.ca_pem).is_file()
    c = client(server, ssl_ca_cert=server.ca_pem)
    assert c.crm.contacts.basic_api.get_by_id("1").id == "1"
    assert server.connection_info()["ca_cert"] == server.ca_pem


def test_generic_harness_serves_any_wsgi_app() -> None:
    from werkzeug.wrappers import Response

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        return Response("ok")(environ, start_response)

    with SandboxServer(app, credentials={"token": "t"}) as server:
        import requests

        assert requests.get(server.url + "/anything", timeout=5).text == "ok"
        assert server.connection_info() == {"base_url": server.url, "ca_cert": None,
                                             "token": "t"}
        assert server.log.counts() == {"GET /anything": 1}
    assert not server.running


def test_concurrent_updates_keep_records_and_index_consistent(make_hubspot_server: Any,
                                                              small_tenant: Tenant) -> None:
    server = make_hubspot_server(small_tenant, burst_limit=100_000, search_per_second=100_000)
    errors: list[BaseException] = []
    since = server.portal.now_ms()

    def work(worker: int) -> None:
        c = client(server)
        try:
            for step in range(10):
                cid = str(worker * 10 + step + 1)
                c.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(
                    properties={"city": f"city-{worker}-{step}"}))
                c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=5))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    c = client(server)
    res = c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                     "value": str(since)}]}], limit=100, properties=["city"]))
    assert res.total == 60
    assert {r.properties["city"] for r in res.results} == {
        f"city-{w}-{s}" for w in range(6) for s in range(10)}


# -- the CLI -------------------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "connector.cli", "sandbox", *args],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _first_line_then_stop(proc: subprocess.Popen[str], check: Any) -> str:
    try:
        assert proc.stdout is not None
        check(json.loads(proc.stdout.readline()))
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return err


def test_cli_prints_connection_json_first_and_serves(tmp_path: Path) -> None:
    def check(info: dict[str, Any]) -> None:
        assert info["crm"] == "hubspot" and info["base_url"].startswith("http://127.0.0.1:")
        c = HubSpot(access_token=info["token"], host=info["base_url"])
        assert len(c.crm.contacts.basic_api.get_page(limit=100).results) == 40

    err = _first_line_then_stop(_cli(tmp_path, "--crm", "hubspot", "--seed", "3", "--leads",
                                     "40", "--events-per-lead", "3"), check)
    assert "stopped after 1 requests" in err


def test_cli_loads_a_tenant_from_csv(tmp_path: Path) -> None:
    from sandbox.tenant import write_tenant_csv

    write_tenant_csv(generate_tenant(seed=4, leads=25, events_per_lead=2), tmp_path / "t")

    def check(info: dict[str, Any]) -> None:
        c = HubSpot(access_token=info["token"], host=info["base_url"])
        assert len(c.crm.contacts.basic_api.get_page(limit=100).results) == 25

    _first_line_then_stop(_cli(tmp_path, "--crm", "hubspot", "--from-csv", str(tmp_path / "t"),
                               "--fault-429", "0"), check)


def test_cli_serves_salesforce_with_login_details(tmp_path: Path) -> None:
    def check(info: dict[str, Any]) -> None:
        assert info["base_url"].startswith("https://127.0.0.1:")
        assert {"username", "password", "security_token"} <= set(info)
        assert Path(info["ca_cert"]).is_file()

    _first_line_then_stop(_cli(tmp_path, "--crm", "salesforce", "--leads", "20"), check)


def test_cli_rejects_bad_fault_rates(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "--crm", "hubspot", "--fault-429", "1.5")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and out == ""
    assert "rate_429" in err


@pytest.mark.slow
def test_large_tenant_pages_from_the_index(make_hubspot_server: Any) -> None:
    """200,000 contacts: incremental-sync pages come from the index, not a scan."""
    tenant = generate_tenant(seed=5, leads=200_000, events_per_lead=1)
    started = time.monotonic()
    server = make_hubspot_server(tenant, search_per_second=1000)
    seeded = time.monotonic() - started
    c = client(server)
    newest = max(ms(t) for t in tenant.leads.column("updated_at").to_pylist())
    since = newest - 3 * 86_400_000
    expected = sum(ms(t) >= since for t in tenant.leads.column("updated_at").to_pylist())
    req = {"filter_groups": [{"filters": [{"propertyName": "lastmodifieddate",
                                           "operator": "GTE", "value": str(since)}]}],
           "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
           "limit": 200, "properties": ["email", "hs_lead_status"]}
    started = time.monotonic()
    first = c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(**req))
    deep = c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(after="9800", **req))
    per_page = (time.monotonic() - started) / 2
    assert first.total == expected > 10_000 and len(deep.results) == 200
    stamps = [r.updated_at for r in first.results]
    assert stamps == sorted(stamps)
    by_email = c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "email", "operator": "EQ",
                                     "value": tenant.leads.column("email")[123_456].as_py()}]}]))
    assert [r.id for r in by_email.results] == ["123457"]
    assert seeded < 60 and per_page < 2.0, (seeded, per_page)


def test_merge_moves_a_contact_into_another(make_hubspot_server: Any, small_tenant: Tenant) -> None:
    from hubspot.crm.contacts import PublicMergeInput

    server = make_hubspot_server(small_tenant, search_per_second=1000)
    c = client(server)
    rows = leads(small_tenant)
    before = c.crm.contacts.basic_api.get_by_id("3", properties=["lastmodifieddate"])
    merged = c.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id="3", object_id_to_merge="9"))
    assert merged.id == "3" and merged.properties["hs_merged_object_ids"] == "9"
    assert merged.updated_at > before.updated_at  # the merge is a change of the primary: incremental pulls see it
    # the merged-away id answers with the primary; search, lists and the archived list leave it out
    assert c.crm.contacts.basic_api.get_by_id("9").id == "3"
    assert _search_ids(c, [{"propertyName": "email", "operator": "EQ", "value": rows[8]["email"]}]) == (0, [])
    everything = c.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=100))
    assert everything.total == len(rows) - 1 and "9" not in [r.id for r in everything.results]
    assert _archived_ids(c) == ([], [0])
    c.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id="3", object_id_to_merge="4"))
    after = c.crm.contacts.basic_api.get_by_id("3", properties=["hs_merged_object_ids"])
    assert after.properties["hs_merged_object_ids"] == "9;4"
    with pytest.raises(ApiException) as itself:
        c.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id="3", object_id_to_merge="9"))
    assert itself.value.status == 400  # 9 is 3 now


def test_a_lost_answer_is_carried_out_but_never_answered(make_hubspot_server: Any, small_tenant: Tenant) -> None:
    from hubspot.crm.contacts import SimplePublicObjectInput

    server = make_hubspot_server(small_tenant)
    server.set_faults(FaultConfig(rate_lost=1.0))
    with pytest.raises(urllib3.exceptions.HTTPError):
        client(server).crm.contacts.basic_api.update("1", SimplePublicObjectInput(properties={"jobtitle": "CFO"}))
    server.set_faults(FaultConfig())
    assert client(server).crm.contacts.basic_api.get_by_id("1", properties=["jobtitle"]).properties["jobtitle"] == "CFO"
