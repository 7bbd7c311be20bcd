"""The Salesforce adapter (the only package that imports simple_salesforce).

:class:`SalesforceAdapter` implements :class:`adapters.base.Adapter`; build it with
:meth:`SalesforceAdapter.from_settings` or from a :class:`Transport` and a mapping. Module map:
:mod:`.auth` (the four login flows), :mod:`.transport` (session, budget, retries),
:mod:`.mapping` (``mappings/salesforce.yaml``), :mod:`.pull` (SOQL, REST and Bulk 2.0 query),
:mod:`.convert` (rows → canonical records), :mod:`.write` (Collections and Bulk 2.0 ingest),
:mod:`.install` (custom fields and field-level security), :mod:`.adapter` (the glue).
"""

from .adapter import SalesforceAdapter
from .auth import Credentials
from .mapping import SalesforceMapping, load_salesforce_mapping
from .transport import ApiSession, Transport

__all__ = ["ApiSession", "Credentials", "SalesforceAdapter", "SalesforceMapping", "Transport",
           "load_salesforce_mapping"]
