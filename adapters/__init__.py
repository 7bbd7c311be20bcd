"""One package per CRM, each presenting the interface in :mod:`adapters.base`."""
