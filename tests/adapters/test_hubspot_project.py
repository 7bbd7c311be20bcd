"""The project-app configuration in deploy/hubspot against HubSpot's documented schema, and its
scopes against what the default mapping uses (and what manifest.yaml and the README say).

The schema facts are those of HubSpot's app configuration reference
(https://developers.hubspot.com/docs/apps/developer-platform/build-apps/app-configuration):
``hsproject.json`` names the project, its ``srcDir`` and ``platformVersion``; the app lives in
``<srcDir>/app/`` as one ``*-hsmeta.json`` of ``type: app`` with ``uid`` and ``config`` (``name``,
``distribution`` private or marketplace, ``auth`` with ``type`` static or oauth, OAuth apps
listing ``redirectUrls``, and ``requiredScopes`` / ``optionalScopes`` /
``conditionallyRequiredScopes``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from adapters.hubspot.streams import scope_needs
from mappings.loader import load_hubspot_mapping
from tests.helpers import ROOT

PROJECT = ROOT / "deploy" / "hubspot"
PLATFORM_VERSIONS = {"2025.2", "2026.03", "2026.09"}  # versions of the developer platform with project apps


def _app() -> dict[str, Any]:
    found = sorted((PROJECT / json.loads((PROJECT / "hsproject.json").read_text())["srcDir"] / "app")
                   .glob("*-hsmeta.json"))
    assert len(found) == 1, found
    app: dict[str, Any] = json.loads(found[0].read_text())
    return app


def test_hsproject_has_the_documented_keys() -> None:
    project = json.loads((PROJECT / "hsproject.json").read_text())
    assert set(project) == {"name", "srcDir", "platformVersion"}
    assert project["platformVersion"] in PLATFORM_VERSIONS and (PROJECT / project["srcDir"]).is_dir()


def test_the_app_file_follows_the_app_schema() -> None:
    app = _app()
    assert app["type"] == "app" and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", app["uid"])
    config = app["config"]
    assert {"name", "description", "distribution", "auth", "permittedUrls"} <= set(config)
    assert config["distribution"] in ("private", "marketplace")
    auth = config["auth"]
    assert auth["type"] in ("static", "oauth")
    if auth["type"] == "oauth":
        urls = auth["redirectUrls"]
        assert urls and all(u.startswith(("https://", "http://localhost")) for u in urls)
    for key in ("requiredScopes", "optionalScopes", "conditionallyRequiredScopes"):
        assert isinstance(auth[key], list) and all(isinstance(s, str) for s in auth[key])
    assert not set(auth["requiredScopes"]) & set(auth["optionalScopes"])
    assert set(config["permittedUrls"]) <= {"fetch", "iframe", "img"}


def test_the_apps_scopes_are_exactly_what_the_default_mapping_uses() -> None:
    required, optional = scope_needs(load_hubspot_mapping())
    auth = _app()["config"]["auth"]
    # "oauth" is the scope of the Enterprise-only event stream; an app holds it from the start
    assert set(auth["requiredScopes"]) == set(required) | {"oauth"}
    assert set(auth["optionalScopes"]) == set(optional) - {"oauth"}


def test_manifest_and_readme_list_the_same_scopes() -> None:
    required, optional = scope_needs(load_hubspot_mapping())
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    hubspot = next(c for c in manifest["supported_crms"] if c["id"] == "hubspot")
    assert set(hubspot["scopes"]["required"]) == set(required)
    assert set(hubspot["scopes"]["optional"]) == set(optional)
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Scopes"):]
    section = section[:section.index("\n## ")] if "\n## " in section else section
    required_text = section[section.index("Required"):section.index("Optional")]
    assert {s for s in required if f"`{s}`" in required_text} == set(required)
    assert all(f"`{s}`" in section[section.index("Optional"):] for s in optional)


def test_the_readme_lists_every_numbered_path_left_with_its_end_of_support() -> None:
    from adapters.hubspot.transport import NUMBERED

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### API versions"):]
    for endpoint in NUMBERED:
        method, path = endpoint.split(" ", 1)
        row = next((line for line in section.splitlines() if f"`{method} {path}" in line), None)
        assert row is not None and "2027" in row, endpoint
