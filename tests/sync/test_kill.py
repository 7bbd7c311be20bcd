"""kill -9 at random moments of sync processes against the HubSpot sandbox,
then a run to completion: the CRM ends as after one uninterrupted sync, with no duplicate and no
missing tasks (a task create cut off by the kill is looked up by its key on the next run).

The sandbox runs in this process; each sync is a forked child process killed with SIGKILL at a
random request count between its first and the last request a full sync makes (seeded: set
LEADSCORE_KILL_SEED to replay or vary), so kills land in pulls, writes and actions alike; a last
run left alone then finishes the job. (``leadscore sync`` itself runs in tests/sync/test_cli.py.)
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector.console import parse_now
from connector.store import Store
from connector.sync.run import SyncOptions, run_sync
from sandbox.hubspot import create_server

from .hubspot_world import adapter, install, model_with_actions, snapshot, tenant

pytestmark = pytest.mark.slow
NOW = "2026-11-20T12:00:00Z"
KILLS = 5


_EXITED: dict[int, int] = {}


def _fork_sync(server: Any, store_url: str, model: Any) -> int:
    """A child process running one sync, forked so it starts at once (imports already loaded)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            store = Store.open(store_url)
            run_sync(store, adapter(server), model, SyncOptions(tenant="hubspot", now=parse_now(NOW)))
            code = 0
        finally:
            os._exit(code)
    return pid


def _exited(pid: int) -> bool:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        _EXITED[pid] = status
    return bool(done)


def _kill(pid: int) -> int:
    """SIGKILL the child unless it already finished; its exit code (-9 when killed)."""
    if pid not in _EXITED:
        os.kill(pid, signal.SIGKILL)
        _, _EXITED[pid] = os.waitpid(pid, 0)
    status = _EXITED.pop(pid)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def test_kill_9_at_random_points_then_rerun_matches_an_uninterrupted_run(store_url: str, tmp_path: Path) -> None:
    data = tenant(150)
    rng = random.Random(int(os.environ.get("LEADSCORE_KILL_SEED", "5")))
    with create_server(data) as reference, create_server(data) as server:
        install(reference)
        install(server)
        owners = [o.id for o in adapter(reference).owners()][:3]
        model = model_with_actions(owners)

        ref_store = Store.open(f"sqlite:///{tmp_path / 'reference.db'}")
        before = reference.log.total()
        run_sync(ref_store, adapter(reference), model, SyncOptions(tenant="hubspot", now=parse_now(NOW)))
        full_run = reference.log.total() - before
        expected = snapshot(reference)
        ref_events = ref_store.count("hubspot", "events")
        ref_store.close()

        killed_at = []
        # where to kill, in requests made by the child: late (writes, actions), early (pulls), then
        # anywhere in what is left (a re-run skips what was acknowledged, so it is shorter)
        ranges = [(full_run // 2, full_run), (1, full_run // 2)] + [(1, full_run // 2)] * (KILLS - 2)
        for low, high in ranges:
            start = server.log.total()
            target = rng.randint(low, high)  # kill once the child has made this many requests
            pid = _fork_sync(server, store_url, model)
            deadline = time.monotonic() + 60
            while server.log.total() - start < target and not _exited(pid) and time.monotonic() < deadline:
                time.sleep(0.001)
            code = _kill(pid)
            killed_at.append((target, server.log.total() - start, code))

        final = _fork_sync(server, store_url, model)  # a run left alone finishes the job
        deadline = time.monotonic() + 120
        while not _exited(final) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _kill(final) == 0
        store = Store.open(store_url)
        summary = store.last_runs("hubspot", 1)[0]["summary"]
        steady = run_sync(store, adapter(server), model, SyncOptions(tenant="hubspot", now=parse_now(NOW)))
        store.close()
        assert steady.written == 0 and not steady.actions

        got = snapshot(server)
        store = Store.open(store_url)
        uncertain = [a for a in store.actions("hubspot", ["uncertain"]) if a.kind == "create_task"]
        events = store.count("hubspot", "events")
        store.close()

    note = f"kills (target request, requests seen, exit code): {killed_at}; last run: {summary['actions']}"
    print(note)
    assert got["contacts"] == expected["contacts"], note
    assert got["companies"] == expected["companies"], note
    assert max(Counter(got["tasks"]).values()) == 1, f"duplicate tasks; {note}"
    assert Counter(expected["tasks"]) - Counter(got["tasks"]) == Counter(), f"missing tasks; {note}"
    assert Counter(got["tasks"]) - Counter(expected["tasks"]) == Counter(), note
    assert uncertain == [], note
    assert events == ref_events
    assert any(code == -signal.SIGKILL for _, _, code in killed_at), f"no run was actually killed: {note}"
