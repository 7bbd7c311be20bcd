"""kill -9 at random moments of real ``leadscore sync`` processes against the HubSpot sandbox,
then a run to completion: the CRM ends as after one uninterrupted sync, with no duplicate tasks.

The sandbox runs in this process; each sync is a child process killed with SIGKILL at a random
request count between its first and the last request a full sync makes (seeded: set
LEADSCORE_KILL_SEED to replay or vary), so kills land in pulls, writes and actions alike.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector.store import Store
from connector.sync.run import SyncOptions, run_sync
from sandbox.hubspot import create_server

from .hubspot_world import adapter, install, model_text, model_with_actions, snapshot, tenant

pytestmark = pytest.mark.slow
NOW = "2026-11-20T12:00:00Z"
KILLS = 3


def _child(server: Any, store_url: str, model_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "LEADSCORE_HUBSPOT__ACCESS_TOKEN": server.token, "LEADSCORE_HUBSPOT__BASE_URL": server.url}
    env.pop("LEADSCORE_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "connector.cli", "sync", "--crm", "hubspot", "--store", store_url,
                             "--now", NOW, "--model", str(model_path), "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_at_random_points_then_rerun_matches_an_uninterrupted_run(store_url: str, tmp_path: Path) -> None:
    data = tenant(150)
    rng = random.Random(int(os.environ.get("LEADSCORE_KILL_SEED", "5")))
    with create_server(data) as reference, create_server(data) as server:
        install(reference)
        install(server)
        owners = [o.id for o in adapter(reference).owners()][:3]
        model = model_with_actions(owners)
        model_path = tmp_path / "model.yaml"
        model_path.write_text(model_text(owners), "utf-8")

        ref_store = Store.open(f"sqlite:///{tmp_path / 'reference.db'}")
        from connector.console import parse_now

        before = reference.log.total()
        run_sync(ref_store, adapter(reference), model, SyncOptions(tenant="hubspot", now=parse_now(NOW)))
        full_run = reference.log.total() - before
        expected = snapshot(reference)
        ref_events = ref_store.count("hubspot", "events")
        ref_store.close()

        killed_at = []
        for _ in range(KILLS):
            start = server.log.total()
            child = _child(server, store_url, model_path)
            target = rng.randint(1, full_run)  # kill once the child has made this many requests
            deadline = time.monotonic() + 60
            while server.log.total() - start < target and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
            child.communicate(timeout=60)
            killed_at.append((target, server.log.total() - start, child.returncode))

        final = _child(server, store_url, model_path)
        stdout, stderr = final.communicate(timeout=120)
        assert final.returncode == 0, stderr
        summary = json.loads(stdout)
        steady = _child(server, store_url, model_path)
        steady_out, steady_err = steady.communicate(timeout=120)
        assert steady.returncode == 0, steady_err
        assert json.loads(steady_out)["written"] == 0

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
    missing = Counter(expected["tasks"]) - Counter(got["tasks"])
    assert sum(missing.values()) <= len(uncertain), note  # only a task whose call was cut off can be missing
    assert Counter(got["tasks"]) - Counter(expected["tasks"]) == Counter(), note
    assert events == ref_events
    assert any(code == -signal.SIGKILL for _, _, code in killed_at), f"no run was actually killed: {note}"
