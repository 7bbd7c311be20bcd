"""Store fixtures: every store test runs on SQLite (a file) and on the real PostgreSQL server.

Each PostgreSQL test gets a schema of its own (``search_path`` in the URL), dropped afterwards,
so runs and engineers sharing the server do not see each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.store import Store

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_url(schema: str) -> str:
    return f"{PG_BASE}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_BASE)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - reported, not hidden
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {exc.orig}")
    try:
        yield _pg_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()
