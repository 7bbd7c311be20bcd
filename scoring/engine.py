"""The batch engine: score every lead of a table at once with NumPy and Arrow.

How it stays fast: text conditions are evaluated once per *distinct* value (Arrow dictionary
encoding) and gathered; nothing loops over rows in Python. Events arrive in parts
(:class:`EventParts`: the row groups of a Parquet file, slices of a table), so a large file is
never whole in memory:

1. the lead ids of every part are read and looked up in the leads table in one hash lookup,
   while fit rules are evaluated on other threads;
2. workers each take every ``workers``-th part (a fixed assignment, so sums never depend on
   thread scheduling), read it, partition its events by type and add each intent rule's
   decayed points to running per-lead totals (``np.add.at``); events of rules with a window
   limit are kept aside;
3. window limits rank only the crowded windows, once every part is in; caps, groups and
   normalisation follow.

:mod:`scoring.explain` computes the same numbers for one lead in plain Python; property tests
hold the two to the same results, whatever the parts and thread count.

Inputs are Arrow tables with canonical column names (see ``docs/formats.md``):

- leads: ``id`` plus any lead fields, custom fields by name, and ``account.<field>`` columns
  for account fields given inline;
- accounts (optional): ``id`` plus account fields, joined on the leads' ``account_id``;
- events (a table or :class:`EventParts`): ``lead_id``, ``type``, ``occurred_at`` (timestamp)
  plus ``url``, ``form``, ``campaign``, ... Events after ``now``, events without a time and
  events of unknown leads are ignored.
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
from .model import GRADES, Decay, FitRule, IntentRule, Window
from .model import ScoringModel as Model
from .outputs import (
    band_array,
    clip_cap_array,
    combine_array,
    format_points,
    grade_array,
    normalise_array,
)

__all__ = ["score_tables", "dictionary_key", "EventParts", "ScoreDetail", "score_detail", "to_utc_micros", "DAY_US"]

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
    points: list[np.ndarray]  # per rule: each lead's signed points after the rule's cap
    fit: np.ndarray
    intent: np.ndarray
    score: np.ndarray
    grade: np.ndarray
    band: np.ndarray

    @property
    def contributions(self) -> np.ndarray:
        """(leads × rules) signed points after rule caps."""
        if not self.points:
            return np.zeros((len(self.lead_ids), 0))
        return np.column_stack(self.points)


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


@dataclass(frozen=True)
class EventParts:
    """Events as a sequence of parts read on demand: the row groups of a Parquet file, slices
    of a table. Scoring reads the parts side by side, so a large file never sits in memory whole.

    ``read(i, columns)`` returns part ``i`` with those of ``columns`` that the events have. It
    may be called from several threads at once, and more than once per part (with other
    columns); each call returns the same rows in the same order. ``sizes`` are the parts' row
    counts, in input order.
    """

    sizes: tuple[int, ...]
    columns: tuple[str, ...]
    read: Callable[[int, list[str]], pa.Table]

    @classmethod
    def of_table(cls, table: pa.Table, rows: int = 1 << 20) -> EventParts:
        """A table in slices of ``rows`` rows (zero-copy)."""
        rows = max(1, rows)
        starts = list(range(0, table.num_rows, rows))
        sizes = tuple(min(rows, table.num_rows - s) for s in starts)

        def read(i: int, columns: list[str]) -> pa.Table:
            return table.slice(starts[i], sizes[i]).select([c for c in columns if c in table.column_names])

        return cls(sizes, tuple(table.column_names), read)

    @property
    def num_rows(self) -> int:
        return sum(self.sizes)

    def column_for(self, attr: str) -> str | None:
        """The column holding an event attribute: ``url``, ``attributes.plan`` or ``plan``."""
        name = attr.removeprefix("attributes.")
        return next((c for c in (attr, name, f"attributes.{name}") if c in self.columns), None)


class _LeadRows:
    """Each event's row in the leads table (-1 for an unknown lead), part by part.

    One hash lookup serves every part: the lead ids are hashed once. Dictionary-encoded chunks
    (Parquet row groups) are looked up once per distinct dictionary; plain text once per run of
    equal ids when the events come grouped by lead, as CRM exports often do, else once per
    event. Spreading the answers over a part's rows is left to :meth:`of_part`, which the
    workers call side by side.
    """

    def __init__(self, id_columns: list[pa.ChunkedArray | pa.Array], lead_ids: pa.Array):
        keys: list[pa.Array] = []
        slot: dict[tuple[int, int, int], int] = {}  # the record batches of a row group share a dictionary
        self._plans: list[list[tuple[str, int, Any]] | None] = []
        for column in id_columns:
            steps: list[tuple[str, int, Any]] = []
            for chunk in _chunks(column):
                if pa.types.is_dictionary(chunk.type):
                    key = dictionary_key(chunk.dictionary)
                    if key not in slot:
                        slot[key] = len(keys)
                        keys.append(chunk.dictionary.cast(pa.string()))
                    steps.append(("codes", slot[key], chunk.indices))
                    continue
                text = chunk.cast(pa.string())
                runs = pc.run_end_encode(text)
                if len(runs.values) * 2 < len(text):
                    steps.append(("runs", len(keys), np.diff(runs.run_ends.to_numpy(), prepend=0)))
                    keys.append(runs.values)
                else:
                    steps.append(("rows", len(keys), None))
                    keys.append(text)
            self._plans.append(steps)
        found_np = np.zeros(0, dtype=np.int32)
        if keys:
            found = pc.index_in(pa.chunked_array(keys, type=pa.string()), value_set=lead_ids)
            found_np = found.fill_null(-1).to_numpy().astype(np.int32)
        bounds = np.cumsum([0] + [len(k) for k in keys])
        # per key: its rows in the leads table, with a last slot (-1) for a null id
        self._found = [np.append(found_np[a:b], np.int32(-1)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def of_part(self, part: int) -> np.ndarray:
        steps = self._plans[part]
        assert steps is not None, "each part is looked up once"
        self._plans[part] = None
        pieces = []
        for kind, k, extra in steps:
            values = self._found[k]
            if kind == "codes":
                codes = extra.fill_null(len(values) - 1) if extra.null_count else extra
                pieces.append(values[codes.to_numpy()])
            elif kind == "runs":
                pieces.append(np.repeat(values[:-1], extra))
            else:
                pieces.append(values[:-1])
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)


def _part_codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """One integer code per row and the distinct values in code order; a null row gets code
    ``len(values)``. Chunk dictionaries (small for types, URLs, forms) are unified by Arrow."""
    chunks = [chunk for chunk in _chunks(column) if len(chunk)]
    if not chunks:
        return np.zeros(0, dtype=np.int32), pa.array([], pa.string())
    chunked = pa.chunked_array(chunks, type=chunks[0].type)
    if not pa.types.is_dictionary(chunked.type):
        chunked = pc.dictionary_encode(chunked)
    encoded = chunked.unify_dictionaries().combine_chunks() if chunked.num_chunks > 1 else chunked.chunk(0)
    indices = encoded.indices
    codes = indices.fill_null(len(encoded.dictionary)) if indices.null_count else indices
    return codes.to_numpy(), encoded.dictionary


def _event_micros(column: pa.Array | pa.ChunkedArray, now_us: int) -> np.ndarray:
    """Microseconds since the epoch; a missing time reads as "after now", so it is never used."""
    if not pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("us", tz="UTC"))
    elif column.type.unit != "us":
        column = pc.cast(column, pa.timestamp("us", tz=column.type.tz))
    micros = column.cast(pa.int64())
    micros = micros.fill_null(now_us + 1) if micros.null_count else micros
    return np.asarray(micros.to_numpy(), dtype=np.int64)


@dataclass
class _Activity:
    """Per lead: the newest usable event's time and the number of usable events."""

    newest: np.ndarray
    count: np.ndarray
    now_us: int

    def last_activity_age(self) -> np.ndarray:
        """Age in days of the newest usable event (NaN when none)."""
        out = (self.now_us - self.newest) / DAY_US
        out[self.newest == _NEVER] = np.nan
        return out


_NEVER = np.iinfo(np.int64).min


@dataclass
class _IntentPlan:
    rules: list[tuple[int, IntentRule, Decay]]  # (index among intent rules, rule, effective decay)
    columns: list[str]  # event columns the rules read, besides lead_id
    attribute_columns: dict[str, str | None]  # attribute -> the parts' column holding it
    track_activity: bool
    now_us: int
    n_leads: int


class _Totals:
    """One worker's running per-lead sums: decayed points per rule (rules without a window)
    and, when needed, the newest event time and the event count."""

    def __init__(self, plan: _IntentPlan):
        n = plan.n_leads
        self.points = {j: np.zeros(n) for j, rule, _ in plan.rules if rule.window is None}
        self.newest = np.full(n, _NEVER, dtype=np.int64) if plan.track_activity else None
        self.count = np.zeros(n) if plan.track_activity else None


def _score_part(table: pa.Table, lead: np.ndarray, offset: int, plan: _IntentPlan, totals: _Totals,
                windowed: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Add one part's events to a worker's totals; events of rules with a window are kept
    (lead, time, input position) to be ranked once every part is in."""
    if table.num_rows == 0:
        return
    now_us = plan.now_us
    micros = _event_micros(table.column("occurred_at"), now_us)
    type_codes, type_values = _part_codes(table.column("type"))
    names = type_values.to_pylist()
    named = np.array([not is_missing(t) for t in names] + [False], dtype=bool)
    usable = (lead >= 0) & (micros <= now_us) & named[type_codes]
    if totals.newest is not None and totals.count is not None:
        used = np.flatnonzero(usable)
        np.maximum.at(totals.newest, lead[used], micros[used])
        np.add.at(totals.count, lead[used], 1.0)
    # stable partition by type (a radix sort on 16-bit codes): each type's events stay in input order
    narrow = type_codes.astype(np.int16) if len(names) < 2**15 - 1 else type_codes
    by_type = np.argsort(narrow, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(type_codes, minlength=len(names) + 1))])
    attributes: dict[str, tuple[np.ndarray, pa.Array]] = {}
    for j, rule, decay in plan.rules:
        pieces = [by_type[bounds[c]:bounds[c + 1]] for c, name in enumerate(names) if name in rule.events]
        if not pieces:
            idx = np.zeros(0, dtype=np.int64)
        else:
            idx = pieces[0] if len(pieces) == 1 else np.sort(np.concatenate(pieces))
        idx = idx[usable[idx]]
        for attr, cond in rule.where.items():
            column = plan.attribute_columns[attr]
            if column is None:
                if not matches(cond, None):
                    idx = idx[:0]
                continue
            if column not in attributes:
                attributes[column] = _part_codes(table.column(column))
            values_codes, values = attributes[column]
            lookup = np.append(column_matches(cond, values), matches(cond, None))  # last slot: missing
            idx = idx[lookup[values_codes[idx]]]
        if rule.window is not None:
            windowed[j] = (lead[idx], micros[idx], idx + offset)
            continue
        if decay.type in ("step", "none"):  # a step decay depends on the lead's idle time: applied at the end
            np.add.at(totals.points[j], lead[idx], float(rule.points))
        else:
            age = (now_us - micros[idx]) / DAY_US
            np.add.at(totals.points[j], lead[idx], float(rule.points) * _decay(decay, age, age))


def _window_keep(lead: np.ndarray, micros: np.ndarray, seq: np.ndarray, window: Window,
                 n_leads: int) -> np.ndarray:
    """Which of these events count: the newest ``max_events`` per lead and window.

    Windows are fixed periods of ``days`` days counted from the Unix epoch, so which events
    count never depends on ``now`` (and a later ``now`` can only lower a score through decay).
    Among events of equal time the one that comes first in the input (``seq``) wins. Only
    crowded windows are ranked.
    """
    keep = np.ones(len(lead), dtype=bool)
    if len(lead) <= window.max_events:
        return keep
    bucket = np.floor((micros / DAY_US) / window.days).astype(np.int64)
    low = int(bucket.min())
    span = int(bucket.max()) - low + 1
    key = lead.astype(np.int64) * span + (bucket - low)
    if span * n_leads <= max(4 * len(key), 1 << 22):
        crowded = np.bincount(key)[key] > window.max_events
    else:
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        crowded = counts[inverse.ravel()] > window.max_events
    if not crowded.any():
        return keep
    members = np.flatnonzero(crowded)
    ranked = members[np.lexsort((seq[members], -micros[members], key[members]))]
    ranked_key = key[ranked]
    first = np.ones(len(ranked), dtype=bool)
    first[1:] = ranked_key[1:] != ranked_key[:-1]
    starts = np.flatnonzero(first)
    rank = np.arange(len(ranked)) - np.repeat(starts, np.diff(np.append(starts, len(ranked))))
    keep[ranked[rank >= window.max_events]] = False
    return keep


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


def _intent_totals(parts: EventParts | None, lead_rows: _LeadRows, plan: _IntentPlan,
                   pool: ThreadPoolExecutor, workers: int) -> tuple[list[np.ndarray], _Activity]:
    """Every intent rule's per-lead total (after its cap), in model order, and lead activity.

    Each worker takes every ``workers``-th part (a fixed assignment, so sums never depend on
    thread scheduling), reads it and adds its events to running totals of its own; the workers'
    totals are then added in worker order."""
    n = plan.n_leads
    count = 0 if parts is None else len(parts.sizes)
    offsets = np.concatenate([[0], np.cumsum(parts.sizes if parts else [])]).astype(np.int64)
    windowed: list[dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]] = [{} for _ in range(count)]

    def work(w: int) -> _Totals:
        totals = _Totals(plan)
        for i in range(w, count, workers):
            assert parts is not None
            table = parts.read(i, plan.columns)
            _score_part(table, lead_rows.of_part(i), int(offsets[i]), plan, totals, windowed[i])
        return totals

    per_worker = list(pool.map(work, range(workers))) if count else [_Totals(plan)]
    first = per_worker[0]
    for other in per_worker[1:]:
        for j in first.points:
            first.points[j] += other.points[j]
        if first.newest is not None and other.newest is not None:
            np.maximum(first.newest, other.newest, out=first.newest)
        if first.count is not None and other.count is not None:
            first.count += other.count
    activity = _Activity(first.newest if first.newest is not None else np.full(n, _NEVER, dtype=np.int64),
                         first.count if first.count is not None else np.zeros(n), plan.now_us)
    idle = activity.last_activity_age() if plan.track_activity else np.full(n, np.nan)

    def finish(item: tuple[int, IntentRule, Decay]) -> np.ndarray:
        j, rule, decay = item
        if rule.window is None:
            total = first.points[j]
            if decay.type == "step":
                total = np.where(total != 0, total * _decay(decay, idle, idle), 0.0)
        else:
            found = [w[j] for w in windowed if j in w]
            lead = np.concatenate([f[0] for f in found]) if found else np.zeros(0, dtype=np.int32)
            micros = np.concatenate([f[1] for f in found]) if found else np.zeros(0, dtype=np.int64)
            seq = np.concatenate([f[2] for f in found]) if found else np.zeros(0, dtype=np.int64)
            keep = _window_keep(lead, micros, seq, rule.window, n)
            lead, age = lead[keep], (plan.now_us - micros[keep]) / DAY_US
            weights = float(rule.points) * _decay(decay, age, idle[lead])
            total = np.bincount(lead, weights=weights, minlength=n).astype(np.float64)
        return clip_cap_array(total, rule.cap)

    return list(pool.map(finish, plan.rules)), activity


def _lead_column(field: str, leads: pa.Table, accounts: pa.Table | None,
                 activity: _Activity | None) -> pa.Array | np.ndarray:
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
        if name in ("days_since_last_activity", "event_count"):
            assert activity is not None  # evaluated once the events are in
            values = activity.last_activity_age() if name == "days_since_last_activity" else activity.count
            return pa.array(values, from_pandas=True)
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


_EVENT_FIELDS = ("lead.days_since_last_activity", "lead.event_count")


def score_detail(model: Model, leads: pa.Table, events: pa.Table | EventParts | None, now: datetime,
                 accounts: pa.Table | None = None, workers: int = 2) -> ScoreDetail:
    """Score every lead in ``leads``; keep the per-rule contributions.

    ``events`` is a table or :class:`EventParts` (read part by part). ``workers`` threads read
    and score event parts side by side while fit rules are evaluated; NumPy and Arrow release
    the GIL in their kernels."""
    workers = max(1, workers)
    lead_ids = _flat(leads.column("id")).cast(pa.string())
    n = len(lead_ids)
    parts = EventParts.of_table(events) if isinstance(events, pa.Table) else events
    if parts is not None and not parts.sizes:
        parts = None
    fit_rules = model.fit_rules()
    intent_rules = model.intent_rules()
    now_us = to_utc_micros(now)
    plan = _IntentPlan(
        rules=[(j, rule, decay) for j, (_, _, rule, decay) in enumerate(intent_rules)],
        columns=[], attribute_columns={}, now_us=now_us, n_leads=n,
        track_activity=any(d.type == "step" for _, _, _, d in intent_rules)
        or any(rule.field in _EVENT_FIELDS for _, _, rule in fit_rules))
    if parts is not None:
        attrs = {attr for _, _, rule, _ in intent_rules for attr in rule.where}
        plan.attribute_columns = {attr: parts.column_for(attr) for attr in attrs}
        plan.columns = ["type", "occurred_at", *sorted({c for c in plan.attribute_columns.values() if c})]

    def fit_points(rule: FitRule, activity: _Activity | None) -> np.ndarray:
        mask = column_matches(rule.condition, _lead_column(rule.field, leads, accounts, activity))
        return np.where(mask, float(rule.points), 0.0)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        # lead ids of every part first (they are looked up together), fit rules meanwhile
        reading = [pool.submit(parts.read, i, ["lead_id"]) for i in range(len(parts.sizes))] if parts else []
        early = {k: pool.submit(fit_points, rule, None) for k, (_, _, rule) in enumerate(fit_rules)
                 if rule.field not in _EVENT_FIELDS}
        lead_rows = _LeadRows([job.result().column("lead_id") for job in reading], lead_ids)
        del reading
        intent, activity = _intent_totals(parts, lead_rows, plan, pool, workers)
        fit = [early[k].result() if k in early else fit_points(rule, activity)
               for k, (_, _, rule) in enumerate(fit_rules)]

    fit_raw = _capped_sum(model.fit.groups, [g for _, g, _ in fit_rules], fit, n)
    intent_raw = _capped_sum(model.intent.groups, [g for _, g, _, _ in intent_rules], intent, n)
    fit_score = normalise_array(fit_raw, model.fit_max_points)
    intent_score = normalise_array(intent_raw, model.intent.max_points)
    score = combine_array(fit_score, intent_score, model)
    rule_ids = [rid for rid, _, _ in fit_rules] + [rid for rid, _, _, _ in intent_rules]
    labels = [rule.description or rid for rid, _, rule in fit_rules] + \
        [rule.description or rid for rid, _, rule, _ in intent_rules]
    return ScoreDetail(lead_ids, rule_ids, labels, fit + intent, fit_score, intent_score, score,
                       grade_array(fit_score, model), band_array(intent_score, model))


def _capped_sum(groups: list[Any], group_of: list[int], points: list[np.ndarray], n: int) -> np.ndarray:
    """Sum the rules of each group, cap each group, sum the groups (in model order)."""
    raw = np.zeros(n)
    for gi, group in enumerate(groups):
        total = np.zeros(n)
        for g, column in zip(group_of, points, strict=True):
            if g == gi:
                total += column
        raw += clip_cap_array(total, group.cap)
    return raw


def _reason_pieces(labels: list[str], best: np.ndarray, values: np.ndarray, present: np.ndarray, prefix: str,
                   texts: dict[tuple[int, float], str]) -> pa.Array:
    """Each lead's ``prefix + label +12`` text for one reason slot ("" where there is none),
    formatted once per distinct (rule, tenths) pair; ``texts`` keeps them across blocks."""
    tenths = np.rint(values * 10.0)
    tenths[~present] = 0.0
    low = float(tenths.min())
    span = int(tenths.max() - low) + 1
    if span <= 1 << 24:
        steps: np.ndarray | None = None
        step = (tenths - low).astype(np.int64)
    else:  # a very wide range of points: number the distinct values instead
        steps, step = np.unique(tenths, return_inverse=True)
        span, step = len(steps), step.ravel()
    code = best.astype(np.int64) * span + step
    code[~present] = -1
    if span * len(labels) <= 4 * len(code) + 1024:
        counts = np.bincount(code + 1)
        used = np.flatnonzero(counts)
        which = np.zeros(len(counts), dtype=np.int64)
        which[used] = np.arange(len(used))
        distinct, inverse = used - 1, which[code + 1]
    else:
        distinct, inverse = np.unique(code, return_inverse=True)
        inverse = inverse.ravel()
    pieces = []
    for c in distinct.tolist():
        if c < 0:
            pieces.append("")
            continue
        key = (c // span, low + c % span if steps is None else float(steps[c % span]))
        if key not in texts:
            texts[key] = f"{labels[key[0]]} {format_points(key[1] / 10.0)}"
        pieces.append(prefix + texts[key])
    return pa.array(pieces, pa.string()).take(pa.array(inverse))


_REASON_BLOCK = 1 << 16


def _reasons(detail: ScoreDetail, k: int, workers: int = 2) -> pa.Array:
    """Top ``k`` contributions per lead by size, ties in model order: ``label +12; label -5``.
    Leads are taken in blocks (small enough to stay in cache), blocks side by side."""
    n, rules = len(detail.lead_ids), len(detail.points)
    k = min(k, rules)
    if k == 0 or n == 0:
        return pa.array([""] * n, pa.string())
    texts: dict[tuple[int, float], str] = {}

    def block(start: int) -> pa.Array:
        values = np.column_stack([column[start:start + _REASON_BLOCK] for column in detail.points])
        magnitude = np.abs(values)  # a new array: marking used entries is safe
        rows = np.arange(len(values))
        slots: list[pa.Array] = []
        for slot in range(k):
            best = np.argmax(magnitude, axis=1)
            present = magnitude[rows, best] > 0
            if not present.any():
                break  # contributions come largest first: the rest are zero too
            slots.append(_reason_pieces(detail.rule_labels, best, values[rows, best], present,
                                        "; " if slot else "", texts))
            magnitude[rows, best] = -1.0
        if not slots:
            return pa.array([""] * len(values), pa.string())
        return slots[0] if len(slots) == 1 else pc.binary_join_element_wise(*slots, "")

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        blocks = list(pool.map(block, range(0, n, _REASON_BLOCK)))
    return pa.chunked_array(blocks, type=pa.string())


def score_tables(model: Model, leads: pa.Table, events: pa.Table | EventParts | None, now: datetime,
                 accounts: pa.Table | None = None, workers: int = 2) -> pa.Table:
    """Score a table of leads. Columns: lead_id, fit, intent, score, grade, priority, reasons,
    model_version. Scores are rounded to two decimals."""
    detail = score_detail(model, leads, events, now, accounts, workers)
    letters = [*GRADES, "F"]
    grade_code = np.searchsorted(np.array(letters), detail.grade).astype(np.int32)  # letters are sorted
    bands = len(model.outputs.intent_bands) + 1
    cells = pa.array([f"{g}{b}" for g in letters for b in range(1, bands + 1)])
    return pa.table({
        "lead_id": detail.lead_ids,
        "fit": np.round(detail.fit, 2),
        "intent": np.round(detail.intent, 2),
        "score": np.round(detail.score, 2),
        "grade": pa.array(letters).take(pa.array(grade_code)),
        "priority": cells.take(pa.array(grade_code * bands + (detail.band.astype(np.int32) - 1))),
        "reasons": _reasons(detail, model.outputs.reasons, workers),
        "model_version": pa.repeat(model.version, len(detail.lead_ids)),
    })
