"""manifest.yaml declares every setting leadscore reads, with the right variable, and the fields
each CRM mapping writes, so installers and reviewers can trust it."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import yaml
from pydantic import BaseModel

from connector.settings import Settings
from mappings.loader import load_hubspot_mapping

from .helpers import ROOT


def _settings(model: type[BaseModel], prefix: str = "", env: str = "LEADSCORE_") -> Iterator[tuple[str, str, bool]]:
    for name, field in model.model_fields.items():
        nested = [t for t in (field.annotation, *typing.get_args(field.annotation))
                  if isinstance(t, type) and issubclass(t, BaseModel)]
        if nested:
            yield from _settings(nested[0], f"{prefix}{name}.", f"{env}{name.upper()}__")
        else:
            yield f"{prefix}{name}", f"{env}{name.upper()}", "SecretStr" in str(field.annotation)


def _manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yaml").read_text())


def test_every_setting_is_declared_with_its_variable_and_secrecy() -> None:
    declared = {(s["name"], s["env"], bool(s.get("secret", False))) for s in _manifest()["settings"]}
    assert declared == set(_settings(Settings))


def test_hubspot_fields_match_the_mapping() -> None:
    write_back = load_hubspot_mapping().write_back
    expected = {("contacts", spec.name) for spec in write_back.contacts.values()}
    expected |= {("companies", spec.name) for spec in write_back.companies.values()}
    hubspot = next(c for c in _manifest()["supported_crms"] if c["id"] == "hubspot")
    declared = {(obj, name) for obj, names in hubspot["fields"].items() for name in names}
    assert declared == expected


def test_salesforce_fields_match_the_mapping() -> None:
    from adapters.salesforce import load_salesforce_mapping

    write_back = load_salesforce_mapping().write_back
    people = sorted(spec.name for spec in write_back.people.values())
    salesforce = next(c for c in _manifest()["supported_crms"] if c["id"] == "salesforce")
    assert sorted(salesforce["fields"]["Lead"]) == people == sorted(salesforce["fields"]["Contact"])
    assert sorted(salesforce["fields"]["Account"]) == sorted(spec.name for spec in write_back.accounts.values())
