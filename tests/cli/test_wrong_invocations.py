"""Every subcommand driven through wrong invocations: bad and missing arguments, bad settings from
each source, missing files, wrong kinds of file, missing extras. Each must end with a message and a
documented exit code (1 failed while working, 2 usage or configuration, 3 bad input rows), never a
traceback, never an "unexpected" error, never the test token in any output, and under ``--json``
a JSON error object on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connector.cli import main
from tests.helpers import EXAMPLES, ROOT

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
SECRET = "hunter2-sf-password-very-secret"
LEADS, EVENTS = str(EXAMPLES / "leads.csv"), str(EXAMPLES / "events.csv")
DOCUMENTED = {1, 2, 3}

# settings that are wrong, and where they come from
BAD_VALUES = {"batch500": ("HUBSPOT__BATCH_SIZE", "500"), "batchabc": ("HUBSPOT__BATCH_SIZE", "abc"),
              "rate-5": ("HUBSPOT__RATE_PER_10S", "-5"), "misspelt": ("HUBSPOT__BATCH_SISE", "50"),
              "sf-share": ("SALESFORCE__MAX_API_SHARE", "2"), "loglevel": ("LOG_LEVEL", "loud")}


def _yaml_of(key: str, value: str) -> str:
    parts = key.lower().split("__")
    if len(parts) == 1:
        return f"{parts[0]}: {value}\n"
    return f"{parts[0]}:\n  {parts[1]}: {value}\n"


CASES: list[tuple[str, list[str], dict[str, Any]]] = []


def case(name: str, *argv: str, **how: Any) -> None:
    CASES.append((name, list(argv), how))


# ---- the whole program -----------------------------------------------------------------------
case("unknown-command", "pipedrive")
case("unknown-root-option", "--nosuch", "queue")
case("bad-log-level", "--log-level", "loud", "queue")
case("bad-log-format", "--log-format", "xml", "queue")
# ---- offline scoring ---------------------------------------------------------------------------
case("init-missing-folder", "init", "{tmp}/no/such/folder/model.yaml")
case("init-existing", "init", "{tmp}/exists.csv")
case("init-into-folder", "init", "{tmp}/folder", "--force")
case("init-two-paths", "init", "a.yaml", "b.yaml")
case("check-missing", "check", "{tmp}/nope.yaml")
case("check-csv", "check", LEADS)
case("check-folder", "check", "{tmp}/folder")
case("check-pickle", "check", "{tmp}/garbage.pkl")
case("check-broken", "check", "{tmp}/broken.yaml")
case("check-broken-json", "check", "{tmp}/broken.yaml", "--json")
case("check-settings-yaml", "check", "{tmp}/settings.yaml")
case("score-no-args", "score")
case("score-no-out", "score", "--leads", LEADS)
case("score-missing-leads", "score", "--leads", "{tmp}/nope.csv", "--out", "{tmp}/s.csv")
case("score-missing-leads-json", "score", "--leads", "{tmp}/nope.csv", "--out", "{tmp}/s.csv", "--json")
case("score-xlsx", "score", "--leads", LEADS, "--out", "{tmp}/s.xlsx")
case("score-out-folder", "score", "--leads", LEADS, "--out", "{tmp}/folder")
case("score-on-error", "score", "--leads", LEADS, "--out", "{tmp}/s.csv", "--on-error", "maybe")
case("score-now", "score", "--leads", LEADS, "--out", "{tmp}/s.csv", "--now", "yesterday")
case("score-column", "score", "--leads", LEADS, "--out", "{tmp}/s.csv", "--column", "nonsense")
case("score-column-table", "score", "--leads", LEADS, "--out", "{tmp}/s.csv", "--column", "deals.id=x")
case("score-column-missing", "score", "--leads", LEADS, "--out", "{tmp}/s.csv", "--column", "leads.id=nope")
case("score-model-csv", "score", "--leads", LEADS, "--out", "{tmp}/s.csv", "--model", LEADS)
case("score-model-missing", "score", "--leads", LEADS, "--out", "{tmp}/s.csv", "--model", "{tmp}/nope.yaml")
case("score-events-missing", "score", "--leads", LEADS, "--out", "{tmp}/s.csv", "--events", "{tmp}/nope.csv")
case("score-leads-folder", "score", "--leads", "{tmp}/folder", "--out", "{tmp}/s.csv")
case("score-leads-pickle", "score", "--leads", "{tmp}/garbage.pkl", "--out", "{tmp}/s.csv")
case("score-leads-empty", "score", "--leads", "{tmp}/empty.csv", "--out", "{tmp}/s.csv")
case("score-leads-no-id", "score", "--leads", "{tmp}/noid.csv", "--out", "{tmp}/s.csv")
case("score-bad-rows-fail", "score", "--leads", LEADS, "--events", "{tmp}/badrows.csv", "--out", "{tmp}/s.csv",
     "--on-error", "fail", codes={3})
case("score-events-as-leads", "score", "--leads", EVENTS, "--out", "{tmp}/s.csv")
case("explain-no-id", "explain", "--leads", LEADS)
case("explain-unknown-id", "explain", "L-999", "--leads", LEADS)
case("explain-unknown-id-json", "explain", "L-999", "--leads", LEADS, "--json")
case("explain-missing-leads", "explain", "L-001", "--leads", "{tmp}/nope.csv")
case("explain-now", "explain", "L-001", "--leads", LEADS, "--now", "soon")
# ---- demo --------------------------------------------------------------------------------------
case("demo-zero-leads", "demo", "--offline", "--leads", "0", "--out", "{tmp}/demo")
case("demo-negative-leads", "demo", "--leads", "-5", "--out", "{tmp}/demo")
case("demo-leads-text", "demo", "--leads", "many")
case("demo-crm", "demo", "--crm", "pipedrive")
case("demo-model-missing", "demo", "--offline", "--model", "{tmp}/nope.yaml", "--out", "{tmp}/demo")
case("demo-out-is-file", "demo", "--offline", "--leads", "50", "--out", "{tmp}/exists.csv")
# ---- CRM commands: arguments -------------------------------------------------------------------
case("install-no-crm", "install")
case("install-crm", "install", "--crm", "pipedrive")
case("install-mapping-missing", "install", "--crm", "hubspot", "--mapping", "{tmp}/nope.yaml")
case("install-mapping-broken", "install", "--crm", "hubspot", "--mapping", "{tmp}/broken.yaml")
case("install-no-token", "install", "--crm", "hubspot", "--dry-run", token=False)
case("install-no-token-json", "install", "--crm", "hubspot", "--json", token=False)
case("install-sf-no-login", "install", "--crm", "salesforce", "--dry-run", token=False)
case("check-mapping-crm", "check-mapping", "--crm", "pipedrive")
case("check-mapping-missing", "check-mapping", "--crm", "hubspot", "--offline", "--mapping", "{tmp}/nope.yaml")
case("check-mapping-broken", "check-mapping", "--crm", "hubspot", "--offline", "--mapping", "{tmp}/broken.yaml")
case("check-mapping-csv", "check-mapping", "--crm", "salesforce", "--offline", "--mapping", LEADS)
case("check-mapping-broken-json", "check-mapping", "--crm", "hubspot", "--offline", "--mapping",
     "{tmp}/broken.yaml", "--json")
case("sandbox-no-crm", "sandbox")
case("sandbox-crm", "sandbox", "--crm", "pipedrive")
case("sandbox-from-csv-missing", "sandbox", "--crm", "hubspot", "--from-csv", "{tmp}/nope")
case("sandbox-fault", "sandbox", "--crm", "hubspot", "--fault-429", "2")
case("sync-crm", "sync", "--crm", "pipedrive")
case("sync-crm-json", "sync", "--crm", "pipedrive", "--json")
case("sync-rollup", "sync", "--rollup", "median", "--store", "sqlite:///{tmp}/s.db")
case("sync-budget", "sync", "--budget", "-1")
case("sync-now", "sync", "--now", "tomorrow", "--store", "sqlite:///{tmp}/s.db")
case("sync-store-url", "sync", "--store", "not a url")
case("sync-store-backend", "sync", "--store", "mysql://x@localhost/db")
case("sync-store-missing-folder", "sync", "--store", "sqlite:///{tmp}/no/such/s.db")
case("sync-store-unreachable", "sync", "--store", "postgresql+psycopg://nobody@127.0.0.1:1/none")
case("sync-model-missing", "sync", "--model", "{tmp}/nope.yaml", "--store", "sqlite:///{tmp}/s.db")
case("sync-predictive-yaml", "sync", "--predictive-model", "{tmp}/model.yaml", "--store", "sqlite:///{tmp}/s.db")
case("sync-no-token", "sync", "--store", "sqlite:///{tmp}/s.db", token=False)
case("run-no-schedule", "run")
case("run-both", "run", "--every", "15m", "--cron", "* * * * *")
case("run-every", "run", "--every", "banana")
case("run-cron", "run", "--cron", "every day")
case("queue-crm", "queue", "--crm", "pipedrive")
case("queue-limit", "queue", "--limit", "0")
case("queue-store", "queue", "--store", "nosuch://x")
case("queue-store-json", "queue", "--store", "nosuch://x", "--json")
case("explain-stored-no-id", "explain-stored")
case("explain-stored-unknown", "explain-stored", "nope", "--store", "sqlite:///{tmp}/s.db")
case("actions-crm", "actions", "--crm", "pipedrive")
case("actions-short-key", "actions", "--retry", "abc", "--store", "sqlite:///{tmp}/s.db")
case("actions-unknown-key", "actions", "--drop", "0123456789abcdef", "--store", "sqlite:///{tmp}/s.db", "--json")
case("actions-store", "actions", "--failed", "--store", "nosuch://x")
case("actions-bad-env", "actions", "--failed", env={"LEADSCORE_LOG_LEVEL": "loud"})
case("doctor-crm", "doctor", "--crm", "pipedrive")
case("doctor-config-missing", "doctor", "--config", "{tmp}/nope.yaml")
case("doctor-config-missing-json", "doctor", "--config", "{tmp}/nope.yaml", "--json")
case("doctor-config-broken", "doctor", "--config", "{tmp}/broken.yaml")
case("doctor-bad-env", "doctor", env={"LEADSCORE_HUBSPOT__BATCH_SIZE": "500"})
case("doctor-unreachable", "doctor", "--crm", "hubspot", codes={1})
case("store-no-subcommand", "store")
case("store-unknown-subcommand", "store", "downgrade")
case("store-upgrade-url", "store", "upgrade", "--store", "nosuch://x")
case("store-upgrade-missing-folder", "store", "upgrade", "--store", "sqlite:///{tmp}/no/such/s.db")
case("store-status-missing", "store", "status", "--store", "sqlite:///{tmp}/nope.db")
case("store-status-json", "store", "status", "--store", "sqlite:///{tmp}/nope.db", "--json")
case("store-upgrade-bad-setting", "store", "upgrade", env={"LEADSCORE_STORE_URL": "nosuch://x"})
# ---- predictive --------------------------------------------------------------------------------
case("train-no-args", "train")
case("train-nothing", "train", "--out", "{tmp}/m.pkl")
case("train-data-missing", "train", "--data", "{tmp}/nope.csv", "--target", "Converted", "--out", "{tmp}/m.pkl")
case("train-target-missing", "train", "--data", "{tmp}/history.csv", "--target", "nope", "--out", "{tmp}/m.pkl")
case("train-time-column", "train", "--data", "{tmp}/history.csv", "--target", "Converted", "--time-column", "nope",
     "--out", "{tmp}/m.pkl", expect="--time-column")
case("train-drop", "train", "--data", "{tmp}/history.csv", "--target", "Converted", "--drop", "nope",
     "--out", "{tmp}/m.pkl")
case("train-models", "train", "--data", "{tmp}/history.csv", "--target", "Converted", "--models", "magic",
     "--out", "{tmp}/m.pkl")
case("train-data-yaml", "train", "--data", "{tmp}/model.yaml", "--target", "Converted", "--out", "{tmp}/m.pkl")
case("train-data-pickle", "train", "--data", "{tmp}/garbage.pkl", "--target", "Converted", "--out", "{tmp}/m.pkl")
case("train-out-folder", "train", "--data", "{tmp}/history.csv", "--target", "Converted", "--out", "{tmp}/folder")
case("train-store-empty", "train", "--store", "sqlite:///{tmp}/s.db", "--out", "{tmp}/m.pkl")
case("train-outcome", "train", "--store", "sqlite:///{tmp}/s.db", "--outcome", "happy", "--out", "{tmp}/m.pkl")
case("evaluate-yaml", "evaluate", "--model", "{tmp}/model.yaml", "--data", "{tmp}/history.csv", "--target",
     "Converted", expect="YAML")
case("evaluate-garbage", "evaluate", "--model", "{tmp}/garbage.pkl", "--data", "{tmp}/history.csv",
     "--target", "Converted")
case("evaluate-missing-model", "evaluate", "--model", "{tmp}/nope.pkl", "--data", "{tmp}/history.csv",
     "--target", "Converted")
case("evaluate-missing-data", "evaluate", "--model", "{pkl}", "--data", "{tmp}/nope.csv", "--target", "Converted")
case("evaluate-target", "evaluate", "--model", "{pkl}", "--data", "{tmp}/history.csv", "--target", "nope")
case("evaluate-json", "evaluate", "--model", "{tmp}/garbage.pkl", "--data", "{tmp}/history.csv",
     "--target", "Converted", "--json")
case("predict-id-column", "predict", "--model", "{pkl}", "--data", "{tmp}/history.csv", "--out", "{tmp}/p.csv",
     "--id-column", "nope", expect="--id-column")
case("predict-yaml", "predict", "--model", "{tmp}/model.yaml", "--data", "{tmp}/history.csv",
     "--out", "{tmp}/p.csv")
case("predict-xlsx", "predict", "--model", "{pkl}", "--data", "{tmp}/history.csv", "--out", "{tmp}/p.xlsx",
     forbid="--format")
case("predict-data-missing", "predict", "--model", "{pkl}", "--data", "{tmp}/nope.csv", "--out", "{tmp}/p.csv")
case("predict-factors", "predict", "--model", "{pkl}", "--data", "{tmp}/history.csv", "--out", "{tmp}/p.csv",
     "--factors", "-1")
case("report-out-file", "report", "--model", "{pkl}", "--data", "{tmp}/history.csv", "--target", "Converted",
     "--out", "{tmp}/exists.csv")
case("report-model-missing", "report", "--model", "{tmp}/nope.pkl", "--data", "{tmp}/history.csv", "--target",
     "Converted", "--out", "{tmp}/r")
case("report-target", "report", "--model", "{pkl}", "--data", "{tmp}/history.csv", "--target", "nope",
     "--out", "{tmp}/r")
case("report-garbage", "report", "--model", "{tmp}/garbage.pkl", "--data", "{tmp}/history.csv", "--target",
     "Converted", "--out", "{tmp}/r")
case("backtest-pickle", "backtest", "--model", "{pkl}", "--as-of", "2025-06-01", "--leads", "{tmp}/history.csv",
     "--target", "Converted")
case("backtest-no-as-of", "backtest", "--model", "{tmp}/model.yaml", "--leads", LEADS)
case("backtest-as-of", "backtest", "--model", "{tmp}/model.yaml", "--as-of", "someday", "--leads", LEADS,
     "--target", "lifecycle_stage")
case("backtest-nothing", "backtest", "--model", "{tmp}/model.yaml", "--as-of", "2025-06-01")
case("backtest-leads-missing", "backtest", "--model", "{tmp}/model.yaml", "--as-of", "2025-06-01", "--leads",
     "{tmp}/nope.csv", "--target", "Converted")
case("diff-pickle-old", "diff", "{pkl}", "{tmp}/model.yaml", "--leads", LEADS)
case("diff-pickle-new", "diff", "{tmp}/model.yaml", "{pkl}", "--leads", LEADS)
case("diff-missing", "diff", "{tmp}/nope.yaml", "{tmp}/model.yaml", "--leads", LEADS)
case("diff-no-leads", "diff", "{tmp}/model.yaml", "{tmp}/model.yaml")
case("diff-one-model", "diff", "{tmp}/model.yaml")
case("diff-json", "diff", "{pkl}", "{tmp}/model.yaml", "--leads", LEADS, "--json")

# ---- bad settings, from every source, for every command that reads settings -------------------
SETTINGS_COMMANDS = {
    "sync": ["sync", "--store", "sqlite:///{tmp}/s.db"],
    "run": ["run", "--every", "15m", "--max-runs", "1", "--store", "sqlite:///{tmp}/s.db"],
    "install": ["install", "--crm", "hubspot", "--dry-run"],
    "check-mapping": ["check-mapping", "--crm", "hubspot"],
}
for source in ("env", "dotenv", "config", "config-env"):
    for bad in BAD_VALUES:
        if bad == "sf-share":
            continue
        for command, argv in SETTINGS_COMMANDS.items():
            if (source, command) in {("config-env", "run"), ("dotenv", "run")} and bad != "batch500":
                continue
            case(f"{command}-{source}-{bad}", *argv, setting=(source, bad))
for source in ("env", "dotenv", "config", "config-env"):
    case(f"install-sf-{source}-share", "install", "--crm", "salesforce", "--dry-run", setting=(source, "sf-share"))
case("sync-config-missing", "sync", "--config", "{tmp}/nope.yaml")
case("sync-config-folder", "sync", "--config", "{tmp}/folder")
case("sync-config-broken", "sync", "--config", "{tmp}/broken.yaml")
case("sync-config-list", "sync", "--config", "{tmp}/list.yaml")
case("queue-config-missing", "queue", "--config", "{tmp}/nope.yaml")
case("queue-config-env-missing", "queue", env={"LEADSCORE_CONFIG": "{tmp}/nope.yaml"})
case("install-config-missing-json", "install", "--crm", "hubspot", "--config", "{tmp}/nope.yaml", "--json")
case("sync-secret-list", "sync", "--config", "{tmp}/secret-list.yaml")
case("sync-store-setting", "sync", env={"LEADSCORE_STORE_URL": "nosuch://x"})


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from tests.predict.conftest import synthetic_history

    tmp = tmp_path_factory.mktemp("wrong")
    (tmp / "folder").mkdir()
    (tmp / "exists.csv").write_text("id\nL1\n")
    (tmp / "garbage.pkl").write_bytes(b"\x80\x04 not a model")
    (tmp / "broken.yaml").write_text("name: x\n  fit: [oops\n")
    (tmp / "list.yaml").write_text("- a\n- b\n")
    (tmp / "secret-list.yaml").write_text(f"hubspot:\n  access_token: [{TOKEN}]\n")
    (tmp / "settings.yaml").write_text("store_url: sqlite:///x.db\n")
    (tmp / "empty.csv").write_text("")
    (tmp / "noid.csv").write_text("email,title\na@b.c,CEO\n")
    (tmp / "badrows.csv").write_text("lead_id,type,occurred_at\nL-001,web_visit,2026-10-01T00:00:00Z\n"
                                     "L-002,web_visit,not a date\n")
    (tmp / "model.yaml").write_text((ROOT / "scoring" / "models" / "default_b2b.yaml").read_text())
    import pyarrow.csv as pacsv

    pacsv.write_csv(synthetic_history(300), tmp / "history.csv")
    code = main(["train", "--data", str(tmp / "history.csv"), "--target", "Converted", "--models", "logistic",
                 "--folds", "2", "--out", str(tmp / "m.pkl"), "--json"])
    assert code == 0
    return {"tmp": str(tmp), "pkl": str(tmp / "m.pkl")}


def _fill(text: str, files: dict[str, str]) -> str:
    return text.replace("{tmp}", files["tmp"]).replace("{pkl}", files["pkl"])


@pytest.mark.parametrize("name,argv,how", CASES, ids=[c[0] for c in CASES])
def test_wrong_invocation(name: str, argv: list[str], how: dict[str, Any], files: dict[str, str],
                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    for key in [k for k in os.environ if k.startswith("LEADSCORE_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    if how.get("token", True):
        monkeypatch.setenv("LEADSCORE_HUBSPOT__ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("LEADSCORE_SALESFORCE__PASSWORD", SECRET)
    # an unreachable CRM, so nothing here can reach a real one
    monkeypatch.setenv("LEADSCORE_HUBSPOT__BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LEADSCORE_HUBSPOT__MAX_ATTEMPTS", "1")
    for key, value in how.get("env", {}).items():
        monkeypatch.setenv(key, _fill(value, files))
    args = [_fill(a, files) for a in argv]
    if "setting" in how:
        source, bad = how["setting"]
        key, value = BAD_VALUES[bad]
        if source == "env":
            monkeypatch.setenv(f"LEADSCORE_{key}", value)
        elif source == "dotenv":
            (tmp_path / ".env").write_text(f"# settings\nLEADSCORE_{key}={value}\n")
        else:
            (tmp_path / "conf.yaml").write_text("store_url: sqlite:///x.db\n" + _yaml_of(key, value))
            if source == "config":
                args += ["--config", str(tmp_path / "conf.yaml")]
            else:
                monkeypatch.setenv("LEADSCORE_CONFIG", str(tmp_path / "conf.yaml"))
    code = main(args)
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output, output
    assert "a bug in leadscore" not in output, output
    assert TOKEN not in output and SECRET not in output, output
    assert code in how.get("codes", DOCUMENTED), (code, output)
    assert "error" in output.lower() or "usage" in output.lower(), output
    if "setting" in how:
        key = BAD_VALUES[how["setting"][1]][0].lower().replace("__", ".")
        assert key.replace("sise", "sise") in output, output
        assert len([line for line in captured.err.splitlines() if key in line]) == 1, output
    if "expect" in how:
        assert how["expect"] in output, output
    if "forbid" in how:
        assert how["forbid"] not in output, output
    if "--json" in args:
        last = captured.out.strip().splitlines()[-1]
        assert json.loads(last)["ok"] is False


def test_the_battery_is_big_enough() -> None:
    commands = {argv[0] for _, argv, _ in CASES if argv and not argv[0].startswith("-")}
    from connector.cli import COMMANDS

    assert set(COMMANDS) - commands == set()
    assert len(CASES) >= 100


BLOCK = "import sys; sys.modules[{mod!r}] = None; from connector.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize("mod,argv", [
    ("sklearn", ["train", "--data", LEADS, "--target", "lifecycle_stage", "--out", "{tmp}/m.pkl"]),
    ("sklearn", ["report", "--data", LEADS, "--target", "lifecycle_stage", "--model", "{pkl}", "--out", "{tmp}/r"]),
    ("sklearn", ["evaluate", "--data", LEADS, "--target", "lifecycle_stage", "--model", "{pkl}"]),
    ("matplotlib", ["report", "--data", "{tmp}/history.csv", "--target", "Converted", "--model", "{tmp}/model.yaml",
                    "--out", "{tmp}/r"]),
    ("psycopg", ["queue", "--store", "postgresql+psycopg://leadscore@127.0.0.1/none"]),
], ids=["train-sklearn", "report-sklearn", "evaluate-sklearn", "report-matplotlib", "queue-psycopg"])
def test_missing_extra_is_named(mod: str, argv: list[str], files: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-c", BLOCK.format(mod=mod), *[_fill(a, files) for a in argv]],
                            capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    assert "pip install 'leadscore[" in output, output
