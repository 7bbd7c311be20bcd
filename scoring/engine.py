"""The batch engine: score every lead of a table at once with NumPy and Arrow.

How it stays fast: text conditions are evaluated once per *distinct* value (Arrow dictionary
encoding) and gathered; every intent rule becomes one boolean mask over the events, one vector
of decayed points and one ``np.bincount`` into per-lead totals. Nothing loops over rows in
Python. :mod:`scoring.explain` computes the same numbers for one lead in plain Python; a property
test holds the two to the same results.

Inputs are Arrow tables with canonical column names (see ``docs/formats.md``):

- leads: ``id`` plus any lead fields, custom fields by name, and ``account.<field>`` columns
  for account fields given inline;
- accounts (optional): ``id`` plus account fields, joined on the leads' ``account_id``;
- events: ``lead_id``, ``type``, ``occurred_at`` (timestamp) plus ``url``, ``form``,
  ``campaign``, ... Events after ``now`` and events of unknown leads are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import derive
from .conditions import column_matches, is_missing, matches
from .model import Decay, IntentRule, Window
from .model import ScoringModel as Model
from .outputs import (
    band_array,
    clip_cap_array,
    combine_array,
    format_points,
    grade_array,
    normalise_array,
)

__all__ = ["score_tables", "dictionary_key", "ScoreDetail", "score_detail", "to_utc_micros", "DAY_US"]

DAY_US = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_utc_micros(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _MICROSECOND


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc) - _EPOCH


@dataclass
class ScoreDetail:
    """Everything the batch engine computed, before it is turned into an output table."""

    lead_ids: pa.Array
    rule_ids: list[str]  # fit rules first, then intent rules, in model order
    rule_labels: list[str]
    contributions: np.ndarray  # (leads × rules) signed points after rule caps
    fit: np.ndarray
    intent: np.ndarray
    score: np.ndarray
    grade: np.ndarray
    band: np.ndarray


def _flat(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (for the leads table, which is small next to the events)."""
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 1:
            return column.chunk(0)
        if pa.types.is_dictionary(column.type):
            column = column.unify_dictionaries()
        return column.combine_chunks()
    return column


def _chunks(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


def _map_distinct(column: pa.Array | pa.ChunkedArray, fn: Callable[[Any], Any],
                  out_type: pa.DataType) -> pa.ChunkedArray:
    """Apply a per-value function to each distinct value and gather (cheap at any row count)."""
    cache: dict[Any, Any] = {}

    def once(value: Any) -> Any:
        if value not in cache:
            cache[value] = fn(value)
        return cache[value]

    pieces = []
    for chunk in _chunks(column):
        encoded = chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk)
        values = pa.array([once(v) for v in encoded.dictionary.to_pylist()], type=out_type)
        pieces.append(pa.DictionaryArray.from_arrays(encoded.indices, values))
    return pa.chunked_array(pieces, type=pa.dictionary(pa.int32(), out_type))


def dictionary_key(dictionary: pa.Array) -> tuple[int, int, int]:
    """Identifies a dictionary shared by several chunks (the record batches of one row group)."""
    buffers = dictionary.buffers()
    data = buffers[1] if len(buffers) > 1 and buffers[1] is not None else buffers[-1]
    return (0 if data is None else data.address, dictionary.offset, len(dictionary))


def _lead_positions(column: pa.Array | pa.ChunkedArray, lead_ids: pa.Array) -> np.ndarray:
    """Each event's row in the leads table (-1 for an unknown lead).

    The lookup table of lead ids is hashed once. Dictionary-encoded chunks (Parquet row groups)
    are looked up once per distinct dictionary; plain text once per run of equal ids when the
    events come grouped by lead, as CRM exports often do, else once per event.
    """
    chunks = _chunks(column)
    if not chunks:
        return np.zeros(0, dtype=np.int64)
    if pa.types.is_dictionary(chunks[0].type):
        return _dictionary_positions(chunks, lead_ids)
    text = pa.chunked_array(chunks, type=chunks[0].type).cast(pa.string())
    runs = pc.run_end_encode(text)
    n_runs = sum(len(chunk.values) for chunk in runs.chunks)
    if n_runs * 2 < len(text):
        values = pa.chunked_array([chunk.values for chunk in runs.chunks], type=pa.string())
        lengths = np.concatenate([np.diff(chunk.run_ends.to_numpy(), prepend=0) for chunk in runs.chunks])
        found = pc.index_in(values, value_set=lead_ids).fill_null(-1).to_numpy()
        return np.repeat(found, lengths)
    return pc.index_in(text, value_set=lead_ids).fill_null(-1).to_numpy()


def _dictionary_positions(chunks: list[pa.Array], lead_ids: pa.Array) -> np.ndarray:
    slot: dict[tuple[int, int, int], int] = {}  # record batches of one row group share a dictionary
    distinct: list[pa.Array] = []
    for chunk in chunks:
        key = dictionary_key(chunk.dictionary)
        if key not in slot:
            slot[key] = len(distinct)
            distinct.append(chunk.dictionary.cast(pa.string()))
    found = pc.index_in(pa.chunked_array(distinct, type=pa.string()), value_set=lead_ids).fill_null(-1).to_numpy()
    bounds = np.cumsum([0] + [len(d) for d in distinct])
    lookups = [np.append(found[a:b], -1) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    out = []
    for chunk in chunks:
        lookup = lookups[slot[dictionary_key(chunk.dictionary)]]
        indices = chunk.indices
        codes = indices.fill_null(len(lookup) - 1) if indices.null_count else indices
        out.append(lookup[codes.to_numpy()])
    return np.concatenate(out)


def _global_codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    """One integer code per row and the distinct values in code order; a null row gets code
    ``len(values)``. Chunk dictionaries (small for types, URLs, forms) are unified by Arrow."""
    chunks = _chunks(column)
    if not chunks:
        return np.zeros(0, dtype=np.int32), []
    chunked = pa.chunked_array(chunks, type=chunks[0].type)
    if not pa.types.is_dictionary(chunked.type):
        chunked = pc.dictionary_encode(chunked)
    encoded = chunked.unify_dictionaries().combine_chunks() if chunked.num_chunks > 1 else chunked.chunk(0)
    values = encoded.dictionary.to_pylist()
    indices = encoded.indices
    codes = indices.fill_null(len(values)) if indices.null_count else indices
    return codes.to_numpy(), values


class _Events:
    """Events reduced to NumPy arrays: which lead, which type, when, usable or not.

    Columns are read chunk by chunk (Parquet row groups carry dictionaries of their own, and
    unifying them costs more than the scoring), text columns become integer codes once, and the
    events are partitioned by type so each rule only looks at the events of its own types.
    """

    def __init__(self, events: pa.Table | None, lead_ids: pa.Array, now_us: int):
        self.table = events
        self.n_leads = len(lead_ids)
        self.now_us = now_us
        self._codes: dict[str, tuple[np.ndarray, list[Any]]] = {}
        self.size = 0 if events is None else events.num_rows
        if events is None or self.size == 0:
            self.lead = np.zeros(0, dtype=np.int64)
            self._micros = np.zeros(0, dtype=np.int64)
            self.valid = np.zeros(0, dtype=bool)
            self.type_names: list[str] = []
            self._by_type = np.zeros(0, dtype=np.int64)
            self._type_bounds = np.zeros(1, dtype=np.int64)
            return
        self.lead = _lead_positions(events.column("lead_id"), lead_ids)
        stamps = events.column("occurred_at")
        if not pa.types.is_timestamp(stamps.type):
            stamps = pc.cast(stamps, pa.timestamp("us", tz="UTC"))
        elif stamps.type.unit != "us":
            stamps = pc.cast(stamps, pa.timestamp("us", tz=stamps.type.tz))
        micros = stamps.cast(pa.int64())
        # a missing time reads as "after now", so the event is never used
        self._micros = (micros.fill_null(now_us + 1) if micros.null_count else micros).to_numpy()
        type_codes, self.type_names = _global_codes(events.column("type"))
        named = np.array([not is_missing(t) for t in self.type_names] + [False], dtype=bool)
        self.valid = (self.lead >= 0) & (self._micros <= now_us) & named[type_codes]
        # stable sort by type (a radix sort on 16-bit codes): each type's events stay in input order
        narrow = type_codes.astype(np.int16) if len(self.type_names) < 2**15 - 1 else type_codes
        self._by_type = np.argsort(narrow, kind="stable")
        # type i's events are _by_type[bounds[i]:bounds[i + 1]]; code len(names) holds the nulls
        counts = np.bincount(type_codes, minlength=len(self.type_names) + 1)
        self._type_bounds = np.concatenate([[0], np.cumsum(counts)])

    def of_types(self, names: tuple[str, ...]) -> np.ndarray:
        """Usable events of these types, as positions in input order."""
        parts = [self._by_type[self._type_bounds[i]:self._type_bounds[i + 1]]
                 for i, t in enumerate(self.type_names) if t in names]
        if not parts:
            return np.zeros(0, dtype=np.int64)
        idx = parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))
        return idx[self.valid[idx]]

    def age(self, idx: np.ndarray) -> np.ndarray:
        """Age in days at ``now`` of the chosen events."""
        return (self.now_us - self._micros[idx]) / DAY_US

    def days_since_epoch(self, idx: np.ndarray) -> np.ndarray:
        """Absolute days since 1970 of the chosen events (window buckets are fixed in time)."""
        return self._micros[idx] / DAY_US

    def codes(self, attr: str) -> tuple[np.ndarray, list[Any]]:
        """Integer codes of an event attribute (``url``, ``form``, ``attributes.plan``, ...)."""
        if attr not in self._codes:
            assert self.table is not None
            name = attr.removeprefix("attributes.")
            found = [c for c in (attr, name, f"attributes.{name}") if c in self.table.column_names]
            column = self.table.column(found[0]) if found else pa.nulls(self.size, pa.string())
            self._codes[attr] = _global_codes(column)
        return self._codes[attr]

    def attribute_matches(self, idx: np.ndarray, attr: str, cond: object) -> np.ndarray:
        """Does each chosen event's attribute satisfy the condition? Evaluated once per
        distinct value (with Arrow kernels when there are many), then gathered."""
        codes, values = self.codes(attr)
        lookup = np.append(column_matches(cond, pa.array(values)), matches(cond, None))  # type: ignore[arg-type]
        return lookup[codes[idx]]  # the null code reads the trailing "missing" answer

    def last_activity_age(self) -> np.ndarray:
        """Per lead: age in days of the newest usable event (NaN when none)."""
        newest = np.full(self.n_leads, np.iinfo(np.int64).min)
        if self.size:
            np.maximum.at(newest, self.lead[self.valid], self._micros[self.valid])
        out = (self.now_us - newest) / DAY_US
        out[newest == np.iinfo(np.int64).min] = np.nan
        return out

    def count(self) -> np.ndarray:
        return np.bincount(self.lead[self.valid], minlength=self.n_leads).astype(np.float64)


def _decay(decay: Decay, age: np.ndarray, idle: np.ndarray) -> np.ndarray:
    if decay.type == "exponential":
        assert decay.half_life_days is not None
        return np.exp2(-age / decay.half_life_days)
    if decay.type == "linear":
        assert decay.lifespan_days is not None
        return np.maximum(0.0, 1.0 - age / decay.lifespan_days)
    if decay.type == "step":
        assert decay.after_days is not None and decay.drop_pct is not None
        periods = np.floor(idle / decay.after_days)
        if not decay.repeat:
            periods = np.minimum(periods, 1.0)
        return (1.0 - decay.drop_pct / 100.0) ** periods
    return np.ones_like(age)


def _window_keep(lead: np.ndarray, age: np.ndarray, day: np.ndarray, window: Window) -> np.ndarray:
    """Which of these events count: the newest ``max_events`` per lead and window.

    Windows are fixed periods of ``days`` days counted from the Unix epoch, so which events
    count never depends on ``now`` (and a later ``now`` can only lower a score through decay).
    Among events of equal age the one that comes first in the input wins.
    """
    bucket = np.floor(day / window.days).astype(np.int64)
    span = int(bucket.max() - bucket.min()) + 1
    key = lead.astype(np.int64) * span + (bucket - bucket.min())
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = sorted_key[1:] != sorted_key[:-1]
    sizes = np.diff(np.append(np.flatnonzero(new_group), len(order)))
    keep = np.ones(len(order), dtype=bool)
    crowded = np.repeat(sizes > window.max_events, sizes)
    if not crowded.any():
        return keep
    # Only crowded windows need ranking by age (newest first, then input order).
    members = order[crowded]
    ranked = members[np.lexsort((members, age[members], key[members]))]
    ranked_key = key[ranked]
    first = np.ones(len(ranked), dtype=bool)
    first[1:] = ranked_key[1:] != ranked_key[:-1]
    starts = np.flatnonzero(first)
    rank = np.arange(len(ranked)) - np.repeat(starts, np.diff(np.append(starts, len(ranked))))
    keep[ranked[rank >= window.max_events]] = False
    return keep


def _lead_column(model: Model, field: str, leads: pa.Table, accounts: pa.Table | None,
                 events: _Events) -> pa.Array | np.ndarray:
    scope, _, name = field.partition(".")
    n = leads.num_rows
    if scope == "lead":
        if name == "email_domain":
            return _map_distinct(_col(leads, "email", n), derive.email_domain, pa.string())
        if name == "free_email":
            return _map_distinct(_col(leads, "email", n), derive.is_free_email, pa.bool_())
        if name == "seniority":
            return _map_distinct(_col(leads, "title", n), derive.seniority, pa.string())
        if name == "department":
            return _map_distinct(_col(leads, "title", n), derive.department, pa.string())
        if name == "days_since_last_activity":
            return pa.array(events.last_activity_age(), from_pandas=True)
        if name == "event_count":
            return pa.array(events.count())
        return _col(leads, name, n)
    account = _account_column(name, leads, accounts)
    if name not in leads.column_names:
        return account if account is not None else pa.nulls(n, pa.string())
    # A lead without an account (a Salesforce Lead) carries company facts itself.
    own = _decoded(_flat(leads.column(name)))
    if account is None:
        return own
    account = _decoded(account)
    if own.type != account.type:
        try:
            own = own.cast(account.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return account
    return pc.coalesce(account, own)


def _account_column(name: str, leads: pa.Table, accounts: pa.Table | None) -> pa.Array | None:
    inline = f"account.{name}"
    if inline in leads.column_names:
        return _flat(leads.column(inline))
    if accounts is None or name not in accounts.column_names or "account_id" not in leads.column_names:
        return None
    position = pc.index_in(_flat(leads.column("account_id")).cast(pa.string()),
                           value_set=_flat(accounts.column("id")).cast(pa.string()))
    return pc.take(_flat(accounts.column(name)), position)


def _decoded(column: pa.Array) -> pa.Array:
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _col(table: pa.Table, name: str, n: int) -> pa.Array:
    if name in table.column_names:
        return _flat(table.column(name))
    return pa.nulls(n, pa.string())


def _intent_total(ev: _Events, rule: IntentRule, decay: Decay, idle: np.ndarray) -> np.ndarray:
    """One intent rule's per-lead total: matching events, window limit, decay, sum, cap."""
    if not ev.size:
        return np.zeros(ev.n_leads)
    idx = ev.of_types(rule.events)
    for attr, cond in rule.where.items():
        idx = idx[ev.attribute_matches(idx, attr, cond)]
    lead, age = ev.lead[idx], ev.age(idx)
    if rule.window is not None and len(idx):
        keep = _window_keep(lead, age, ev.days_since_epoch(idx), rule.window)
        lead, age = lead[keep], age[keep]
    weights = float(rule.points) * _decay(decay, age, idle[lead])
    total = np.bincount(lead, weights=weights, minlength=ev.n_leads).astype(np.float64)
    return clip_cap_array(total, rule.cap)


def score_detail(model: Model, leads: pa.Table, events: pa.Table | None, now: datetime,
                 accounts: pa.Table | None = None, workers: int = 2) -> ScoreDetail:
    """Score every lead in ``leads``; keep the per-rule contributions. ``workers`` threads
    evaluate intent rules side by side."""
    lead_ids = _flat(leads.column("id")).cast(pa.string())
    n = len(lead_ids)
    ev = _Events(events, lead_ids, to_utc_micros(now))
    rule_ids: list[str] = []
    labels: list[str] = []
    columns: list[np.ndarray] = []

    fit_raw = np.zeros(n)
    fit_rules = model.fit_rules()
    for gi, group in enumerate(model.fit.groups):
        group_total = np.zeros(n)
        for rid, rgi, rule in fit_rules:
            if rgi != gi:
                continue
            mask = column_matches(rule.condition, _lead_column(model, rule.field, leads, accounts, ev))
            points = np.where(mask, float(rule.points), 0.0)
            columns.append(points)
            rule_ids.append(rid)
            labels.append(rule.description or rid)
            group_total = group_total + points
        fit_raw = fit_raw + clip_cap_array(group_total, group.cap)

    intent_raw = np.zeros(n)
    intent_rules = model.intent_rules()
    needs_idle = any(d.type == "step" for _, _, _, d in intent_rules)
    idle = ev.last_activity_age() if ev.size and needs_idle else np.full(n, np.nan)
    for _, _, irule, _ in intent_rules if ev.size else ():  # attribute codes first, then rules in parallel
        for attr in irule.where:
            ev.codes(attr)

    def one_rule(item: tuple[str, int, IntentRule, Decay]) -> np.ndarray:
        return _intent_total(ev, item[2], item[3], idle)

    # NumPy and Arrow release the GIL in their kernels, so rules run in parallel threads; the
    # results are combined in model order below, so the sums do not depend on scheduling.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        totals = list(pool.map(one_rule, intent_rules))
    for gi, igroup in enumerate(model.intent.groups):
        group_total = np.zeros(n)
        for (rid, rgi, irule, _), total in zip(intent_rules, totals, strict=True):
            if rgi != gi:
                continue
            columns.append(total)
            rule_ids.append(rid)
            labels.append(irule.description or rid)
            group_total = group_total + total
        intent_raw = intent_raw + clip_cap_array(group_total, igroup.cap)

    fit = normalise_array(fit_raw, model.fit_max_points)
    intent = normalise_array(intent_raw, model.intent.max_points)
    score = combine_array(fit, intent, model)
    contributions = np.column_stack(columns) if columns else np.zeros((n, 0))
    return ScoreDetail(lead_ids, rule_ids, labels, contributions, fit, intent, score,
                       grade_array(fit, model), band_array(intent, model))


def _points_texts(values: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Format signed points to tenths once per distinct value: (texts, index of each value's text)."""
    tenths = np.rint(values * 10.0)
    if len(tenths) and np.isfinite(tenths).all() and tenths.max() - tenths.min() < 4_000_000:
        low = tenths.min()
        offsets = (tenths - low).astype(np.int64)
        used = np.flatnonzero(np.bincount(offsets))
        slot = np.zeros(len(used) and used[-1] + 1, dtype=np.int64)
        slot[used] = np.arange(len(used))
        texts = pa.array([format_points((low + u) / 10.0) for u in used.tolist()])
        return texts, pa.array(slot[offsets])
    distinct, inverse = np.unique(tenths, return_inverse=True)
    return pa.array([format_points(t / 10.0) for t in distinct.tolist()]), pa.array(inverse.ravel())


def _reasons(detail: ScoreDetail, k: int) -> pa.Array:
    """Top ``k`` contributions per lead by size, ties in model order: ``label +12; label -5``."""
    n, rules = detail.contributions.shape
    if k == 0 or rules == 0:
        return pa.array([""] * n)
    magnitude = np.abs(detail.contributions)  # a new array: marking used entries is safe
    labels = pa.array(detail.rule_labels)
    rows = np.arange(n)
    joined: pa.Array | None = None
    for _ in range(min(k, rules)):
        best = np.argmax(magnitude, axis=1)
        present = magnitude[rows, best] > 0
        if not present.any():
            break  # contributions come largest first: the rest are zero too
        texts, which = _points_texts(detail.contributions[rows, best])
        piece = pc.binary_join_element_wise(pc.take(labels, pa.array(best)), pc.take(texts, which), " ")
        if joined is None:
            joined = pc.if_else(pa.array(present), piece, "")
        else:
            joined = pc.if_else(pa.array(present), pc.binary_join_element_wise(joined, piece, "; "), joined)
        magnitude[rows, best] = -1.0
    return joined if joined is not None else pa.repeat("", n)


def score_tables(model: Model, leads: pa.Table, events: pa.Table | None, now: datetime,
                 accounts: pa.Table | None = None, workers: int = 2) -> pa.Table:
    """Score a table of leads. Columns: lead_id, fit, intent, score, grade, priority, reasons,
    model_version. Scores are rounded to two decimals."""
    detail = score_detail(model, leads, events, now, accounts, workers)
    grade = pa.array(detail.grade.astype(str))
    priority = pc.binary_join_element_wise(grade, pa.array(detail.band.astype(str)), "")
    return pa.table({
        "lead_id": detail.lead_ids,
        "fit": np.round(detail.fit, 2),
        "intent": np.round(detail.intent, 2),
        "score": np.round(detail.score, 2),
        "grade": grade,
        "priority": priority,
        "reasons": _reasons(detail, model.outputs.reasons),
        "model_version": pa.repeat(model.version, len(detail.lead_ids)),
    })
