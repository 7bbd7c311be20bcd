"""Shared fixtures for the sandbox tests: a small deterministic tenant and running servers.

Servers are started on a free loopback port per test and stopped afterwards, so tests that
write do not see each other's changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.tenant import Tenant, generate_tenant

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="session")
def small_tenant() -> Tenant:
    """60 leads, ~8 events each; the same data on every run."""
    return generate_tenant(seed=7, leads=60, events_per_lead=8)


@pytest.fixture
def hubspot_server(small_tenant: Tenant) -> Iterator[Any]:
    from sandbox.hubspot import create_server

    with create_server(small_tenant) as server:
        yield server


@pytest.fixture
def make_hubspot_server() -> Iterator[Callable[..., Any]]:
    """Start HubSpot sandboxes with custom tenants/options; all are stopped at teardown."""
    from sandbox.hubspot import create_server

    started: list[Any] = []

    def make(tenant: Any = None, **kwargs: Any) -> Any:
        server = create_server(tenant, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def hubspot_fixture() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        body: dict[str, Any] = json.loads((FIXTURES / "hubspot" / name).read_text())
        body.pop("_source", None)
        return body
    return load
