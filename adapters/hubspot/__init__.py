"""HubSpot adapter (hubspot-api-client). The only package that imports ``hubspot``.

Modules: :mod:`.adapter` (the Adapter), :mod:`.transport` (auth, budget, retries), :mod:`.pull`
(search and associations), :mod:`.events` (engagement → events), :mod:`.write` (batch updates,
tasks, sequences), :mod:`.install` (properties, scopes, mapping check), :mod:`.convert`,
:mod:`.errors`.
"""

from __future__ import annotations

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.errors import UnknownProperty
from adapters.hubspot.transport import Credentials, Transport

__all__ = ["Credentials", "HubSpotAdapter", "Transport", "UnknownProperty"]
