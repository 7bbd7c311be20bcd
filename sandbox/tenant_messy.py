"""Make a clean synthetic table look like real CRM data: a few blanks, odd casing, stray spaces.

Real orgs have titles in capitals, countries typed in lower case, missing industries and
employee counts. Mappings and fit rules must cope, so tests can ask for a ``messy=True`` tenant.
Each change hits a small, seeded fraction of rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["mess_up", "mess_up_accounts", "BLANK_RATE"]

#: Share of rows whose field is blanked, per messy field.
BLANK_RATE = 0.03


def _blank(rng: np.random.Generator, table: pa.Table, name: str, rate: float) -> pa.Table:
    col = table.column(name)
    hit = pa.array(rng.random(table.num_rows) < rate)
    return table.set_column(table.schema.get_field_index(name), name,
                            pc.if_else(hit, pa.scalar(None, col.type), col))


def _recase(rng: np.random.Generator, table: pa.Table, name: str, rate: float) -> pa.Table:
    col = table.column(name)
    u = rng.random(table.num_rows)
    out = pc.if_else(pa.array(u < rate / 2), pc.utf8_upper(col),
                     pc.if_else(pa.array(u > 1 - rate / 2), pc.utf8_lower(col), col))
    return table.set_column(table.schema.get_field_index(name), name, out)


def _pad(rng: np.random.Generator, table: pa.Table, name: str, rate: float) -> pa.Table:
    col = table.column(name)
    hit = pa.array(rng.random(table.num_rows) < rate)
    out = pc.if_else(hit, pc.binary_join_element_wise(" ", col, "  ", ""), col)
    return table.set_column(table.schema.get_field_index(name), name, out)


def mess_up(rng: np.random.Generator, leads: pa.Table) -> pa.Table:
    for name in ("title", "industry", "country", "state", "city", "phone", "employees",
                 "annual_revenue", "lead_source"):
        leads = _blank(rng, leads, name, BLANK_RATE)
    for name in ("title", "country", "industry", "email"):
        leads = _recase(rng, leads, name, 0.04)
    for name in ("company", "title"):
        leads = _pad(rng, leads, name, 0.01)
    return leads


def mess_up_accounts(rng: np.random.Generator, accounts: pa.Table) -> pa.Table:
    for name in ("industry", "employees", "annual_revenue", "state", "tech_stack"):
        accounts = _blank(rng, accounts, name, BLANK_RATE)
    for name in ("industry", "country", "domain"):
        accounts = _recase(rng, accounts, name, 0.04)
    return accounts
