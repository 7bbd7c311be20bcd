"""The store's schema under Alembic, on SQLite and PostgreSQL: ``store upgrade`` creates and
upgrades, read-only commands never migrate and say when the store is behind, a store from before
Alembic is stamped and upgraded, and concurrent upgrades serialise on the migration lock."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from connector.cli import main
from connector.store import Store, StoreError
from connector.store import migrations as m
from connector.store import schema as s

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _revision(url: str) -> Any:
    return Store.status(url)["revision"]


def _set_back_to_0001(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE lead_stages"))
        conn.execute(s.schema_migrations.delete().where(s.schema_migrations.c.version == 2))
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    engine.dispose()


def test_the_head_constant_is_the_newest_script() -> None:
    assert m._head() == m.HEAD == m.revision_of(s.SCHEMA_VERSION)


def test_upgrade_then_read_only_commands_refuse_a_store_that_is_behind(
        store_url: str, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(StoreError, match="no store at|no leadscore tables yet"):
        Store.open(store_url, read_only=True)
    assert main(["store", "upgrade", "--store", store_url]) == 0
    assert "from nothing to 0002" in capfd.readouterr().out
    assert main(["store", "upgrade", "--store", store_url]) == 0
    assert "is up to date (schema 0002)" in capfd.readouterr().out
    assert main(["queue", "--store", store_url, "--tenant", "t"]) == 0
    capfd.readouterr()

    _set_back_to_0001(store_url)
    for argv in (["queue", "--store", store_url], ["explain-stored", "L1", "--store", store_url],
                 ["store", "status", "--store", store_url]):
        assert main(argv) == 1
        captured = capfd.readouterr()
        assert "behind" in captured.out + captured.err
    assert main(["queue", "--store", store_url, "--json"]) == 1
    assert '"ok": false' in capfd.readouterr().out
    assert main(["queue", "--store", store_url]) == 1
    printed = capfd.readouterr().err
    assert "is behind (schema 0001, this leadscore needs 0002): run `leadscore store upgrade`" in printed
    assert _revision(store_url) == "0001"  # nothing read-only changed it
    store = Store.open(store_url, now=NOW)  # what sync and run do: upgrade under the lock
    try:
        assert store.schema_version() == 2
        with store.engine.connect() as conn:
            assert sa.inspect(conn).has_table("lead_stages")
    finally:
        store.close()
    assert _revision(store_url) == "0002"


def test_a_store_from_before_alembic_is_stamped_then_upgraded(store_url: str) -> None:
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        s.schema_migrations.create(conn)
        s._initial(conn)
        conn.execute(s.schema_migrations.insert().values(version=1, description="initial", applied_at=NOW))
    engine.dispose()
    assert Store.status(store_url) | {} == {"revision": "0001", "head": "0002", "version": 1, "current": False,
                                            "newer": False}
    store = Store.open(store_url, now=NOW)
    store.close()
    assert Store.status(store_url)["revision"] == "0002"
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        versions = [r[0] for r in conn.execute(sa.select(s.schema_migrations.c.version)
                                               .order_by(s.schema_migrations.c.version))]
        assert versions == [1, 2]
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0002"
    engine.dispose()


def test_concurrent_upgrades_apply_each_revision_once(store_url: str) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            barrier.wait()
            Store.open(store_url, now=NOW).close()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(s.schema_migrations)).scalar() == 2
    engine.dispose()


@pytest.mark.postgres
def test_postgres_upgrade_waits_for_the_advisory_lock(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("the advisory lock is PostgreSQL's")
    holder = sa.create_engine(store_url)
    done = threading.Event()
    with holder.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": m.LOCK_KEY})
        worker = threading.Thread(target=lambda: (Store.open(store_url, now=NOW).close(), done.set()))
        worker.start()
        time.sleep(1.0)
        assert not done.is_set()  # blocked behind the lock
        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": m.LOCK_KEY})
        conn.commit()
        worker.join(30)
    holder.dispose()
    assert done.is_set() and Store.status(store_url)["current"]
