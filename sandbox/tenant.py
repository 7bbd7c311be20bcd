"""Deterministic synthetic B2B tenants of any size, for the sandbox CRMs, tests and benchmarks.

>>> tenant = generate_tenant(seed=1, leads=1000)
>>> tenant.leads.num_rows, tenant.events.num_rows
(1000, 20000)

A tenant is CRM-neutral and columnar (see :mod:`sandbox.tenant_schema`): owners with teams and
territories, accounts with industry/size/country/tech stack, leads and contacts with titles and
e-mail addresses, months of engagement events and campaigns. Everything is built with
vectorised NumPy/Arrow: a million leads with twenty million events take about ten seconds on two
cores and some 1.5 GB. Everything is a function of the arguments: the same seed and sizes give
identical tables (no clock; ``now`` defaults to :data:`DEFAULT_NOW`).

Outcomes are drawn from a hidden propensity, the logistic of a weighted sum of the lead's fit
(industry, size, country, tech stack, seniority and department, free-mail, student) and its
recent behaviour (decayed points for demo requests, pricing views, meetings, ... minus
unsubscribes and bounces), plus noise. So a sensible scoring model separates converters from the
rest, and how well it does is measurable (``Tenant.propensity`` is the truth).

:class:`TenantBuilder` yields the events chunk by chunk for writers that must not hold twenty
million events at once (``bench/generate.py``); :func:`generate_tenant` collects them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .tenant_csv import load_tenant_csv, write_tenant_csv
from .tenant_events import allocate_events, event_chunks, make_campaigns
from .tenant_messy import mess_up, mess_up_accounts
from .tenant_people import DAY_US, People, make_people, take, timestamps
from .tenant_schema import EVENT_SCHEMA, LEAD_SCHEMA, Tenant

__all__ = [
    "Tenant",
    "TenantBuilder",
    "generate_tenant",
    "load_tenant_csv",
    "write_tenant_csv",
    "DEFAULT_NOW",
    "CONVERSION_RATE",
]

#: The default "present" of a generated tenant. A fixed date keeps tenants reproducible; pass
#: ``now=`` to place the activity before another date (e.g. the real one for a live demo).
DEFAULT_NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
#: Share of leads that convert (the hidden propensity is calibrated to this mean).
CONVERSION_RATE = 0.10
#: Lifecycle stages (HubSpot's internal values) and lead statuses (Salesforce's defaults).
_STAGES = ("customer", "opportunity", "marketingqualifiedlead", "lead", "subscriber")
_STATUSES = ("Closed - Converted", "Working - Contacted", "Open - Not Contacted",
             "Closed - Not Converted")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class TenantBuilder:
    """Builds a tenant in steps: people first, then events chunk by chunk, then outcomes.

    ``owners``, ``accounts`` and ``campaigns`` are ready on construction; iterate
    :meth:`event_batches` to the end before asking for :meth:`leads` (outcomes depend on the
    events). Arguments as for :func:`generate_tenant`, with ``events`` the exact total.
    """

    def __init__(self, seed: int = 0, leads: int = 1000, accounts: int | None = None,
                 events: int = 20_000, months: int = 6, now: datetime | None = None,
                 messy: bool = False) -> None:
        if leads < 0 or events < 0:
            raise ValueError(f"leads and events must be >= 0, got leads={leads}, events={events}")
        if leads == 0 and events > 0:
            raise ValueError(f"events need leads to belong to: got leads=0, events={events}")
        if months < 1:
            raise ValueError(f"months must be >= 1, got {months}")
        if accounts is not None and accounts < 1:
            raise ValueError(f"accounts must be >= 1, got {accounts}")
        now = now or DEFAULT_NOW
        if now.tzinfo is None:
            raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
        self.seed, self.messy = seed, messy
        self.now = now.astimezone(timezone.utc)
        self._now_us = int(self.now.timestamp() * 1_000_000)
        self._window_us = months * 30 * DAY_US
        n_accounts = accounts if accounts is not None else max(1, leads // 3)
        self._people = make_people(np.random.default_rng([seed, 1]), leads, n_accounts,
                                   self._now_us, self._window_us)
        self.owners = self._people.owners
        self.accounts = self._people.accounts
        if messy:
            self.accounts = mess_up_accounts(np.random.default_rng([seed, 23]), self.accounts)
        self.campaigns, self._campaign_starts = make_campaigns(months, self._now_us)
        self._counts = allocate_events(seed, self._people, events)
        self._truth: dict[str, np.ndarray] = {}
        self.propensity: np.ndarray | None = None

    def event_batches(self, with_ids: bool = True) -> Iterator[pa.RecordBatch]:
        """The events, one record batch per chunk of leads (see :mod:`sandbox.tenant_events`).

        ``with_ids=False`` skips building the event ids (the ``id`` column is then null)."""
        n = len(self._counts)
        truth = {"behaviour": np.zeros(n), "negative": np.zeros(n),
                 "last_us": np.full(n, -1, np.int64), "last_high_us": np.full(n, -1, np.int64)}
        for lo, batch, t in event_chunks(self.seed, self._people, self._counts, self.campaigns,
                                         self._campaign_starts, self._now_us,
                                         self._window_us, with_ids):
            hi = lo + len(t.behaviour)
            for name in truth:
                truth[name][lo:hi] = getattr(t, name)
            yield batch
        self._truth = truth

    def leads(self) -> pa.Table:
        """The leads with outcomes, lifecycle stage, status and ``updated_at``."""
        if not self._truth and len(self._counts):
            raise RuntimeError("TenantBuilder.leads() needs event_batches() consumed first")
        table, self.propensity = _outcomes(self.seed, self._people, self._truth, self._now_us,
                                           self._counts)
        if self.messy:
            table = mess_up(np.random.default_rng([self.seed, 19]), table)
        return table


def generate_tenant(seed: int = 0, leads: int = 1000, accounts: int | None = None,
                    events_per_lead: float = 20, months: int = 6, now: datetime | None = None,
                    messy: bool = False) -> Tenant:
    """A synthetic tenant with ``leads`` leads and ``round(leads * events_per_lead)`` events
    spread over the ``months`` before ``now``. ``accounts`` defaults to a third of the leads.
    ``messy=True`` blanks or oddly cases a small fraction of lead and account fields."""
    builder = TenantBuilder(seed, leads, accounts, round(leads * events_per_lead), months, now,
                            messy)
    batches = list(builder.event_batches())
    events = (pa.Table.from_batches(batches) if batches
              else EVENT_SCHEMA.empty_table())
    return Tenant(builder.owners, builder.accounts, builder.leads(), events, builder.campaigns,
                  builder.now, builder.propensity)


def _outcomes(seed: int, people: People, truth: dict[str, np.ndarray], now_us: int,
              counts: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """Draw conversions and wins from the hidden propensity (see the module docstring)."""
    rng = np.random.default_rng([seed, 17])
    n = len(people.fit)
    if n == 0:
        return LEAD_SCHEMA.empty_table(), np.zeros(0)
    behaviour = np.log1p(truth["behaviour"])
    x = 0.8 * (people.fit - 1.0) + 1.1 * behaviour + 0.6 * truth["negative"] \
        + rng.normal(0, 1.2, n)
    lo, hi = -30.0, 30.0  # calibrate the intercept so the mean propensity is CONVERSION_RATE
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _sigmoid(x + mid).mean() < CONVERSION_RATE else (lo, mid)
    propensity = _sigmoid(x + lo)
    converted = rng.random(n) < propensity
    won = converted & (rng.random(n) < _sigmoid(-2.3 + 0.5 * (people.fit - 1.0)
                                                 + 0.3 * behaviour))
    last, last_high = truth["last_us"], truth["last_high_us"]
    anchor = np.where(last_high >= 0, last_high,
                      np.where(last >= 0, last, now_us - rng.integers(0, 60 * DAY_US, n)))
    conv_us = anchor + (rng.exponential(4.0, n) * DAY_US).astype(np.int64)
    conv_us = np.clip(conv_us, people.created_us + 3_600_000_000, now_us - 60_000_000)
    updated = np.maximum(people.created_us, last)
    updated = np.where(converted, np.maximum(updated, conv_us), updated)

    stage = np.select([won, converted, truth["behaviour"] > 3.0, counts > 0], [0, 1, 2, 3], 4)
    status = np.where(converted, 0, np.where(truth["behaviour"] > 1.0, 1,
                                             np.where(rng.random(n) < 0.6, 2, 3)))
    leads = people.leads
    conv_at = timestamps(conv_us)
    columns = {
        "lifecycle_stage": take(_STAGES, stage),
        "lead_status": take(_STATUSES, status),
        "updated_at": timestamps(updated),
        "converted": pa.array(converted),
        "converted_at": pc.if_else(pa.array(converted), conv_at,
                                   pa.scalar(None, conv_at.type)),
        "closed_won": pa.array(won),
    }
    arrays = [columns[f.name] if f.name in columns else leads.column(f.name)
              for f in LEAD_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=LEAD_SCHEMA), propensity
