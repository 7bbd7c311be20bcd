"""Placeholder (replaced below)."""
from __future__ import annotations

__all__ = ["load_tenant_csv", "write_tenant_csv"]


def load_tenant_csv(folder):  # type: ignore[no-untyped-def]
    raise NotImplementedError


def write_tenant_csv(tenant, folder):  # type: ignore[no-untyped-def]
    raise NotImplementedError
