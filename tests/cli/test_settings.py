"""Settings: precedence, where each value came from, one line per problem naming source, key path,
value (masked when secret) and what is valid, and only the sections a command uses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connector.settings import describe, load_settings
from scoring.errors import ConfigError

TOKEN = "pat-na1-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in [k for k in os.environ if k.startswith("LEADSCORE_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_precedence_and_origins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "conf.yaml"
    conf.write_text("store_url: sqlite:///from-file.db\nhubspot:\n  batch_size: 10\n  rate_per_10s: 20\n"
                    "  search_limit: 30\n")
    (tmp_path / ".env").write_text("# comment\nLEADSCORE_HUBSPOT__RATE_PER_10S=21\n"
                                   "export LEADSCORE_HUBSPOT__SEARCH_LIMIT=31\nUNRELATED=1\n")
    monkeypatch.setenv("LEADSCORE_HUBSPOT__SEARCH_LIMIT", "32")
    monkeypatch.setenv("LEADSCORE_HUBSPOT__ACCESS_TOKEN", TOKEN)
    before = dict(os.environ)
    settings = load_settings(conf)
    assert dict(os.environ) == before  # nothing written to the environment
    assert (settings.store_url, settings.hubspot.batch_size, settings.hubspot.rate_per_10s,
            settings.hubspot.search_limit) == ("sqlite:///from-file.db", 10, 21, 32)
    rows = {r["key"]: r for r in describe(settings)}
    assert rows["store_url"]["source"] == f"{conf}:1"
    assert rows["hubspot.batch_size"]["source"] == f"{conf}:3"
    assert rows["hubspot.rate_per_10s"]["source"] == ".env:2"
    assert rows["hubspot.search_limit"]["source"] == "environment variable LEADSCORE_HUBSPOT__SEARCH_LIMIT"
    assert rows["hubspot.access_token"]["value"] == "**********"
    assert rows["hubspot.lookback_s"] == {"key": "hubspot.lookback_s", "value": "300", "source": "default",
                                          "env": "LEADSCORE_HUBSPOT__LOOKBACK_S"}
    assert TOKEN not in repr(rows)


def test_config_from_the_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "c.yaml").write_text("smtp_port: 2525\n")
    monkeypatch.setenv("LEADSCORE_CONFIG", str(tmp_path / "c.yaml"))
    assert load_settings().smtp_port == 2525
    monkeypatch.setenv("LEADSCORE_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == f"{tmp_path / 'gone.yaml'}: LEADSCORE_CONFIG: settings file not found"


@pytest.mark.parametrize("source", ["env", "dotenv", "file"])
@pytest.mark.parametrize("key,value,expected", [
    ("HUBSPOT__BATCH_SIZE", "500", "hubspot.batch_size: '500' is not an integer from 1 to 100"),
    ("HUBSPOT__BATCH_SIZE", "abc", "hubspot.batch_size: 'abc' is not an integer from 1 to 100"),
    ("HUBSPOT__RATE_PER_10S", "-5", "hubspot.rate_per_10s: '-5' is not an integer at least 1"),
    ("HUBSPOT__BATCH_SISE", "5", "hubspot.batch_sise: unknown setting (did you mean hubspot.batch_size?)"),
    ("LOG_FORMAT", "xml", "log_format: 'xml' is not one of text, json"),
    ("SALESFORCE__MAX_API_SHARE", "2", "salesforce.max_api_share: '2' is not a number above 0 and at most 1"),
])
def test_one_line_per_problem_naming_source_key_value_and_range(
        source: str, key: str, value: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = None
    if source == "env":
        monkeypatch.setenv(f"LEADSCORE_{key}", value)
        where = f"environment variable LEADSCORE_{key}: "
    elif source == "dotenv":
        (tmp_path / ".env").write_text(f"\nLEADSCORE_{key}={value}\n")
        where = ".env:2: "
    else:
        parts = key.lower().split("__")
        text = f"{parts[0]}: '{value}'\n" if len(parts) == 1 else f"{parts[0]}:\n  {parts[1]}: '{value}'\n"
        config = tmp_path / "c.yaml"
        config.write_text("store_url: sqlite:///x.db\n" + text)
        where = f"{config}:{2 if len(parts) == 1 else 3}: "
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(caught.value) == where + expected


def test_a_secret_value_never_appears(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(f"hubspot:\n  access_token: [{TOKEN}]\n  acces_token: {TOKEN}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "c.yaml")
    text = str(caught.value)
    assert TOKEN not in text and text.count("\n") == 1
    assert "hubspot.access_token: ********** is not text" in text
    assert "hubspot.acces_token: unknown setting (did you mean hubspot.access_token?)" in text


def test_a_command_checks_only_what_it_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_HUBSPOT__BATCH_SIZE", "500")
    monkeypatch.setenv("LEADSCORE_HUBSPOT__BATCH_SISE", "5")
    monkeypatch.setenv("LEADSCORE_STORE_URL", "sqlite:///q.db")
    settings = load_settings(None, ("store", "log"))
    assert settings.store_url == "sqlite:///q.db" and settings.hubspot.batch_size == 100  # the bad value is not used
    assert len(settings._ignored) == 2
    with pytest.raises(ConfigError, match="batch_size"):
        load_settings(None, ("hubspot",))


def test_unrelated_environment_variables_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_KILL_SEED", "5")  # not a setting, and not close to one
    monkeypatch.setenv("LEADSCORE_STORE_URI", "sqlite:///x.db")  # close to store_url: a misspelling
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == ("environment variable LEADSCORE_STORE_URI: store_uri: unknown setting "
                                 "(did you mean store_url?)")


def test_broken_yaml_and_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("hubspot:\n  batch_size: [1\n")
    with pytest.raises(ConfigError, match=r"b\.yaml:\d: <root>: not valid YAML"):
        load_settings(tmp_path / "b.yaml")
    (tmp_path / "l.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="a settings file is a mapping"):
        load_settings(tmp_path / "l.yaml")


def test_an_unknown_key_of_no_section_fails_every_command(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("store_url: sqlite:///x.db\nfrobnicate: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "c.yaml", ("store",))
    assert str(caught.value) == f"{tmp_path / 'c.yaml'}:2: frobnicate: unknown setting (see `leadscore doctor` for all)"
