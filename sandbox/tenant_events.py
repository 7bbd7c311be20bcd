"""Engagement events of a synthetic tenant, generated in chunks of leads (the *intent* side).

How it works, and why:

- The total number of events is fixed up front and shared among leads by a multinomial draw
  weighted by each lead's latent interest (plus noise, plus a dormant minority), so a benchmark
  asking for exactly 20,000,000 events gets exactly that many.
- Each event first draws an intent *tier* (high: pricing/demo pages, demo-request forms,
  meetings, replies; medium: product pages, clicks, webinars, product usage; low: e-mail sends
  and opens, blog views, bounces, unsubscribes) with per-lead probabilities that rise with
  interest, then a *kind* within the tier, which fixes the event type and its attributes.
- Interested leads' activity is concentrated in the recent past (their event ages are
  ``u ** gamma`` of their window with ``gamma`` growing with interest), so recency matters.
- Leads are processed in fixed chunks with their own random streams (seeded by the seed and the
  chunk number): the result is identical whatever the caller does with the chunks, and a
  benchmark can write each chunk as one Parquet row group without holding all events.

Every chunk also returns the hidden behaviour totals the outcome model uses (:class:`Truth`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from scoring.records import EventType

from .tenant_people import DAY_US, People, ids
from .tenant_vocab import (
    APP_PAGES,
    APP_SITE,
    CAMPAIGN_TOPICS,
    CAMPAIGN_TYPES,
    CAREERS_PAGES,
    FORM_PAGES,
    FORMS,
    PAGES_HIGH,
    PAGES_LOW,
    PAGES_MEDIUM,
    SITE,
)

__all__ = ["EVENT_TYPES", "URLS", "FORM_IDS", "CHUNK_LEADS", "Truth", "make_campaigns",
           "allocate_events", "event_chunks"]

#: Leads per chunk. Fixed: changing it changes the generated data for a given seed.
CHUNK_LEADS = 32_768

EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)
#: Page groups in the order their URLs appear in :data:`URLS`: (name, site, paths).
_PAGE_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("high", SITE, PAGES_HIGH), ("medium", SITE, PAGES_MEDIUM), ("low", SITE, PAGES_LOW),
    ("careers", SITE, CAREERS_PAGES), ("app", APP_SITE, APP_PAGES),
)
#: Every URL an event can carry; event ``url`` columns are dictionary-encoded against it.
URLS: tuple[str, ...] = tuple(site + p for _, site, paths in _PAGE_GROUPS for p in paths)
FORM_IDS: tuple[str, ...] = tuple(f for f, _ in FORMS)
_URL_INDEX = {u: i for i, u in enumerate(URLS)}
#: Page group → (index of its first URL in URLS, number of URLs).
_OFFSET = {name: (_URL_INDEX[site + paths[0]], len(paths)) for name, site, paths in _PAGE_GROUPS}
_FORM_URL = np.array([_URL_INDEX[SITE + FORM_PAGES[f]] for f, _ in FORMS], dtype=np.int32)


class _Kind(NamedTuple):
    type: EventType
    attrs: str  # which attributes to fill, see _fill
    weight: float  # share within its tier
    truth: float  # points towards the hidden propensity (before decay)


_E = EventType
_TIERS: tuple[tuple[_Kind, ...], ...] = (
    (  # low
        _Kind(_E.EMAIL_SENT, "email", 0.45, 0.0),
        _Kind(_E.EMAIL_OPEN, "email", 0.25, 0.05),
        _Kind(_E.PAGE_VIEW, "low_page", 0.25, 0.05),
        _Kind(_E.EMAIL_BOUNCE, "email", 0.015, -1.5),
        _Kind(_E.EMAIL_UNSUBSCRIBE, "email", 0.01, -3.0),
        _Kind(_E.FORM_SUBMIT, "low_form", 0.025, 0.1),
    ),
    (  # medium
        _Kind(_E.PAGE_VIEW, "medium_page", 0.35, 0.3),
        _Kind(_E.EMAIL_CLICK, "email_click", 0.20, 0.3),
        _Kind(_E.PRODUCT_USAGE, "app", 0.15, 0.4),
        _Kind(_E.WEBINAR_ATTENDED, "webinar", 0.07, 0.8),
        _Kind(_E.CAMPAIGN_RESPONSE, "campaign", 0.10, 0.4),
        _Kind(_E.FORM_SUBMIT, "medium_form", 0.08, 0.8),
        _Kind(_E.CALL_LOGGED, "call", 0.05, 0.4),
    ),
    (  # high
        _Kind(_E.PAGE_VIEW, "high_page", 0.45, 1.0),
        _Kind(_E.FORM_SUBMIT, "high_form", 0.15, 3.0),
        _Kind(_E.MEETING_BOOKED, "none", 0.12, 2.0),
        _Kind(_E.MEETING_HELD, "meeting", 0.10, 2.5),
        _Kind(_E.EMAIL_REPLY, "email", 0.10, 1.2),
        _Kind(_E.CALL_LOGGED, "call", 0.08, 1.0),
    ),
)
_KINDS = [k for tier in _TIERS for k in tier]
_TIER_START = np.cumsum([0] + [len(t) for t in _TIERS])[:-1]
_TIER_CDF = [np.cumsum([k.weight for k in t]) / sum(k.weight for k in t) for t in _TIERS]
_KIND_TYPE = np.array([EVENT_TYPES.index(k.type.value) for k in _KINDS], dtype=np.int32)
_KIND_TRUTH = np.array([k.truth for k in _KINDS])
_CAREERS_TRUTH = -0.5


@dataclass
class Truth:
    """Hidden per-lead behaviour totals for one chunk of leads (indices are chunk-local)."""

    behaviour: np.ndarray  # sum of positive points, decayed with a ~3-week half-life
    negative: np.ndarray  # sum of negative points (unsubscribes, bounces, careers), decayed
    last_us: np.ndarray  # latest event time, or -1
    last_high_us: np.ndarray  # latest high-intent event time, or -1


def make_campaigns(months: int, now_us: int) -> tuple[pa.Table, np.ndarray]:
    """Four campaigns a month, from the month before the activity window on.

    Returns the campaigns table and each campaign's start (microseconds, first of its month);
    campaign ``i`` sends the marketing e-mails ``C000i-E1`` and ``C000i-E2``.
    """
    n = max(6, 4 * months)
    names, types, starts = [], [], []
    month0 = np.datetime64(int(now_us), "us").astype("datetime64[M]") - months
    for i in range(n):
        month = month0 + i * months // n
        kind = CAMPAIGN_TYPES[i % len(CAMPAIGN_TYPES)]
        names.append(f"{month} {CAMPAIGN_TOPICS[i % len(CAMPAIGN_TOPICS)]} {kind}")
        types.append(kind)
        starts.append(month.astype("datetime64[us]").astype(np.int64))
    table = pa.table({"id": ids("C", 1, n, 4), "name": pa.array(names, pa.string()),
                      "type": pa.array(types, pa.string())})
    return table, np.array(starts, dtype=np.int64)


def _email_ids(campaigns: pa.Table) -> pa.Array:
    return pa.array([f"{c}-E{k}" for c in campaigns.column("id").to_pylist() for k in (1, 2)],
                    pa.string())


class _Pool(NamedTuple):
    """Campaigns an event may belong to, in start order."""

    members: np.ndarray  # campaign indices
    starts: np.ndarray  # their start times (us)

    def pick(self, rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
        """A campaign already running at each time ``t``, most often one of the latest."""
        running = np.searchsorted(self.starts, t, side="right")
        back = rng.geometric(0.4, len(t)) - 1
        return self.members[np.clip(running - 1 - back, 0, len(self.members) - 1)]


def allocate_events(seed: int, people: People, total: int) -> np.ndarray:
    """How many events each lead gets (sums to ``total``)."""
    rng = np.random.default_rng([seed, 11])
    n = len(people.interest)
    w = np.exp(0.6 * people.interest + 0.8 * rng.normal(0, 1, n))
    w *= np.where(rng.random(n) < 0.15, 0.1, 1.0)  # dormant leads
    return rng.multinomial(total, w / w.sum()) if n else np.zeros(0, dtype=np.int64)


def _dict(idx: np.ndarray, values: pa.Array, kind: pa.DataType | None = None
          ) -> pa.DictionaryArray:
    """``values[idx]`` (null where ``idx < 0``). The index type is ``kind``, or the narrowest
    that fits ``values`` (one or two bytes a row for the vocabularies, which are the same in
    every chunk, so every chunk gets the same type)."""
    if kind is None:
        kind = pa.int8() if len(values) <= 127 else pa.int16() if len(values) <= 32767 \
            else pa.int32()
    return pa.DictionaryArray.from_arrays(pa.array(idx, kind, mask=idx < 0), values)


def event_chunks(seed: int, people: People, counts: np.ndarray, campaigns: pa.Table,
                 campaign_starts: np.ndarray, now_us: int, window_us: int,
                 with_ids: bool = True) -> Iterator[tuple[int, pa.RecordBatch, Truth]]:
    """Yield ``(first lead index, events, truth)`` per chunk of :data:`CHUNK_LEADS` leads.

    Events come grouped by lead and time-ordered within a lead; categorical columns are
    dictionary-encoded (``lead_id``'s dictionary is the chunk's slice of ``leads.id``).
    ``with_ids=False`` leaves the ``id`` column blank, for writers that do not need it.
    """
    lead_ids = people.leads.column("id").combine_chunks()
    dicts = {
        "type": pa.array(EVENT_TYPES, pa.string()),
        "url": pa.array(URLS, pa.string()),
        "form": pa.array(FORM_IDS, pa.string()),
        "campaign": campaigns.column("id").combine_chunks(),
        "email_id": _email_ids(campaigns),
    }
    ctypes = np.array(campaigns.column("type").to_pylist(), dtype=object)
    pools = {}
    for name, mask in (("webinar", ctypes == "Webinar"),
                       ("content", (ctypes == "Content") | (ctypes == "Webinar")),
                       ("all", np.ones(len(ctypes), dtype=bool))):
        index = np.flatnonzero(mask) if mask.any() else np.arange(len(ctypes))
        pools[name] = _Pool(index, campaign_starts[index])
    starts = np.r_[0, np.cumsum(counts)]
    n = len(counts)
    for chunk, lo in enumerate(range(0, n, CHUNK_LEADS)):
        hi = min(n, lo + CHUNK_LEADS)
        rng = np.random.default_rng([seed, 13, chunk])
        batch, truth = _chunk(rng, people, counts[lo:hi], lo, now_us, window_us, pools)
        first_id = int(starts[lo])
        arrays = [
            ids("E", first_id + 1, batch["m"], 10) if with_ids else pa.nulls(batch["m"],
                                                                                pa.string()),
            _dict(batch["lead"], lead_ids.slice(lo, hi - lo), pa.int32()),
            _dict(batch["type"], dicts["type"]),
            pa.array(batch["t"], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            _dict(batch["url"], dicts["url"]),
            _dict(batch["form"], dicts["form"]),
            _dict(batch["campaign"], dicts["campaign"]),
            _dict(batch["email"], dicts["email_id"]),
            pa.array(batch["duration"], pa.float64(), mask=np.isnan(batch["duration"])),
        ]
        names = ["id", "lead_id", "type", "occurred_at", "url", "form", "campaign", "email_id",
                 "duration_seconds"]
        yield lo, pa.RecordBatch.from_arrays(arrays, names=names), truth


def _chunk(rng: np.random.Generator, people: People, counts: np.ndarray, lo: int, now_us: int,
           window_us: int, pools: dict[str, _Pool]) -> tuple[dict, Truth]:
    """One chunk: per-lead intent probabilities and recency, then per-event time, tier, kind
    and attributes, then the sort by (lead, time) and the hidden behaviour totals."""
    k = len(counts)
    sl = slice(lo, lo + k)
    interest, student = people.interest[sl], people.student[sl]
    fitz = (people.fit[sl] - 1.0) / 1.5
    p_high = 1 / (1 + np.exp(-(-3.0 + 0.9 * interest + 0.3 * fitz)))
    p_med = 1 / (1 + np.exp(-(-1.2 + 0.5 * interest)))
    gamma = np.exp(0.7 * interest + 0.3 * rng.normal(0, 1, k))
    start = np.maximum(people.created_us[sl], now_us - window_us)
    span = (now_us - start).astype(np.float64)

    m = int(counts.sum())
    lead = np.repeat(np.arange(k, dtype=np.int32), counts)
    age = rng.random(m) ** np.repeat(gamma, counts) * np.repeat(span, counts)
    t = now_us - age.astype(np.int64) - rng.integers(0, 60_000_000, m)
    t = np.maximum(t, np.repeat(start, counts))
    u = rng.random(m)
    ph = np.repeat(p_high, counts)
    tier = np.where(u < ph, 2, np.where(u < ph + np.repeat(p_med, counts), 1, 0))
    kind = np.empty(m, dtype=np.int32)
    u2 = rng.random(m)
    for ti, cdf in enumerate(_TIER_CDF):
        mask = tier == ti
        kind[mask] = _TIER_START[ti] + np.minimum(np.searchsorted(cdf, u2[mask]), len(cdf) - 1)

    attrs = _Attributes(rng, m, _KIND_TRUTH[kind], pools)
    for ki, spec in enumerate(_KINDS):
        idx = np.flatnonzero(kind == ki)
        if len(idx):
            attrs.fill(spec.attrs, idx, t[idx], student[lead[idx]])

    # Group by lead, time-ordered within the lead: one int64 key, radix-sorted.
    order = np.argsort((lead.astype(np.int64) << 36) | ((t - (now_us - window_us)) >> 20)
                       .clip(0, (1 << 36) - 1), kind="stable")
    lead, t, kind, tier = lead[order], t[order], kind[order], tier[order]
    truth_pts = attrs.truth[order]
    decay = np.exp(-(now_us - t) / (30 * DAY_US))
    truth = Truth(
        behaviour=np.bincount(lead, np.maximum(truth_pts, 0) * decay, minlength=k),
        negative=np.bincount(lead, np.minimum(truth_pts, 0) * np.sqrt(decay), minlength=k),
        last_us=np.full(k, -1, dtype=np.int64),
        last_high_us=np.full(k, -1, dtype=np.int64),
    )
    has = counts > 0
    truth.last_us[has] = t[np.cumsum(counts)[has] - 1]
    high = tier == 2
    np.maximum.at(truth.last_high_us, lead[high], t[high])
    cols = {"m": m, "lead": lead, "t": t, "type": _KIND_TYPE[kind], "url": attrs.url[order],
            "form": attrs.form[order], "campaign": attrs.campaign[order],
            "email": attrs.email[order], "duration": attrs.duration[order]}
    return cols, truth


class _Attributes:
    """The attribute columns of one chunk's events, filled kind by kind."""

    def __init__(self, rng: np.random.Generator, m: int, truth: np.ndarray,
                 pools: dict[str, _Pool]) -> None:
        self.rng, self.pools = rng, pools
        self.url = np.full(m, -1, dtype=np.int32)
        self.form = np.full(m, -1, dtype=np.int32)
        self.campaign = np.full(m, -1, dtype=np.int32)
        self.email = np.full(m, -1, dtype=np.int32)
        self.duration = np.full(m, np.nan)
        self.truth = truth.copy()

    def _pages(self, group: str, n: int) -> np.ndarray:
        off, size = _OFFSET[group]
        return off + self.rng.integers(0, size, n)

    def fill(self, attrs: str, idx: np.ndarray, t: np.ndarray, student: np.ndarray) -> None:
        """Fill the attributes of the events ``idx`` (at times ``t``) of one kind."""
        rng, n = self.rng, len(idx)
        if attrs.endswith("_page"):
            group = attrs[: -len("_page")]
            self.url[idx] = self._pages(group, n)
            scale = 90.0 if group == "high" else 45.0
            self.duration[idx] = np.round(rng.lognormal(np.log(scale), 0.9, n))
            if group != "high":  # students and job seekers drift to the careers pages
                careers = student & (rng.random(n) < 0.4)
                self.url[idx[careers]] = self._pages("careers", n)[careers]
                self.truth[idx[careers]] = _CAREERS_TRUTH
        elif attrs.endswith("_form"):
            tier = attrs[: -len("_form")]
            choices = [i for i, (_, level) in enumerate(FORMS) if level == tier]
            f = np.asarray(choices)[rng.integers(0, len(choices), n)]
            self.form[idx] = f
            self.url[idx] = _FORM_URL[f]
            if tier == "medium":
                self.campaign[idx] = self.pools["content"].pick(rng, t)
        elif attrs in ("email", "email_click"):
            c = self.pools["all"].pick(rng, t)
            self.campaign[idx] = c
            self.email[idx] = 2 * c + rng.integers(0, 2, n)
            if attrs == "email_click":
                self.url[idx] = np.where(rng.random(n) < 0.2, self._pages("high", n),
                                         self._pages("medium", n))
        elif attrs == "app":
            self.url[idx] = self._pages("app", n)
            self.duration[idx] = np.round(rng.lognormal(np.log(300), 1.0, n))
        elif attrs == "webinar":
            self.campaign[idx] = self.pools["webinar"].pick(rng, t)
            self.duration[idx] = np.round(rng.uniform(600, 3600, n))
        elif attrs == "campaign":
            self.campaign[idx] = self.pools["all"].pick(rng, t)
        elif attrs == "meeting":
            self.duration[idx] = rng.choice([1800.0, 2700.0, 3600.0], n)
        elif attrs == "call":
            self.duration[idx] = np.round(rng.lognormal(np.log(300), 0.8, n))
