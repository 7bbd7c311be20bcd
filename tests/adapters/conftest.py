"""Fixtures for the adapter tests: a small deterministic tenant and one harness per adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.tenant import Tenant, generate_tenant
from tests.adapters.harness import FACTORIES, Harness


@pytest.fixture(scope="session")
def tenant() -> Tenant:
    """450 leads (so pages of 200 split 200/200/50), ~4 events each; the same on every run."""
    return generate_tenant(seed=11, leads=450, events_per_lead=4)


@pytest.fixture
def make_harness() -> Iterator[Callable[..., Harness]]:
    """Start harnesses (adapter + seeded sandbox); every server is stopped at teardown."""
    started: list[Harness] = []

    def make(name: str, tenant: Any, **options: Any) -> Harness:
        h = FACTORIES[name](tenant, **options)
        started.append(h)
        return h

    yield make
    for h in started:
        h.server.stop()


@pytest.fixture(params=sorted(FACTORIES))
def harness(request: pytest.FixtureRequest, tenant: Tenant, make_harness: Callable[..., Harness]) -> Harness:
    """The contract suite runs once per adapter, against that adapter's sandbox, installed."""
    h = make_harness(request.param, tenant)
    h.adapter.install(h.adapter.plan_install(h.fields))
    return h
