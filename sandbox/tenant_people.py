"""Owners, accounts and leads of a synthetic tenant: who the people are (the *fit* side).

Every column is built with vectorised NumPy/Arrow operations, so a million leads take a few
seconds. Besides the tables, :func:`make_people` returns the hidden per-lead numbers the event
generator and the outcome model need (:class:`People`): the true fit, the latent interest and
whether the lead is a student or job seeker. Internal to :mod:`sandbox.tenant`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scoring.derive import department, seniority

from .tenant_vocab import (
    COMPANY_CORES,
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    COUNTRIES,
    FIRST_NAMES,
    FREE_MAIL,
    INDUSTRIES,
    LAST_NAMES,
    LEAD_SOURCES,
    SELLER_DOMAIN,
    TEAMS,
    TECHS,
    TERRITORIES,
    TITLES,
    TLDS,
)

__all__ = ["People", "make_people", "take", "timestamps", "ids", "DAY_US"]

DAY_US = 86_400 * 1_000_000

#: Hidden fit by seniority and department (as :mod:`scoring.derive` reads the title): leadscore
#: is bought by revenue leaders, so senior sales/marketing people fit best.
_SENIORITY_FIT = {"executive": 1.0, "vp": 1.0, "director": 0.7, "manager": 0.3,
                  "individual": -0.2, "student": -2.5}
_DEPARTMENT_FIT = {"sales": 0.8, "marketing": 0.8, "executive": 0.5, "it": 0.0,
                   "operations": 0.1, "engineering": -0.2, "finance": -0.2, "hr": -0.6,
                   "other": -0.3}


@dataclass
class People:
    owners: pa.Table
    accounts: pa.Table
    leads: pa.Table  # Lead fields + kind; outcomes are added later
    fit: np.ndarray  # hidden fit per lead (float64)
    interest: np.ndarray  # latent buying interest per lead (float64, ~N(0, 1))
    student: np.ndarray  # bool per lead: student or job seeker
    created_us: np.ndarray  # lead created_at, microseconds since the epoch


def take(values: Sequence[str] | pa.Array, idx: np.ndarray) -> pa.Array:
    """``values[idx]`` as an Arrow string array, in C."""
    arr = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    return arr.take(pa.array(idx))


def timestamps(us: np.ndarray) -> pa.Array:
    return pa.array(us.astype(np.int64), pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def ids(prefix: str, start: int, count: int, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``start .. start+count-1``, e.g. ``L00000042``.

    Built as one fixed-width byte buffer (digit by digit in NumPy): twenty million ids in well
    under a second.
    """
    width = max(width, len(str(max(start + count - 1, 0))))
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    size = len(head) + width
    buf = np.empty((count, size), dtype=np.uint8)
    buf[:, : len(head)] = head
    numbers = np.arange(start, start + count, dtype=np.int64)
    for j in range(width):
        buf[:, size - 1 - j] = 48 + numbers % 10
        numbers //= 10
    offsets = np.arange(0, (count + 1) * size, size, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(buf))


def _weights(w: Sequence[float]) -> np.ndarray:
    p = np.asarray(w, dtype=np.float64)
    return p / p.sum()


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _ascii(words: Sequence[str]) -> list[str]:
    """Lower-case, without what does not belong in an e-mail address or domain ("Chloé" →
    "chloe", "Min-jun" → "minjun"). Applied to the small vocabularies, then taken."""
    return [re.sub(r"[^a-z0-9]", "", w.lower().replace("é", "e")) for w in words]


_FIRST, _LAST = _ascii(FIRST_NAMES), _ascii(LAST_NAMES)


def _owners(rng: np.random.Generator, n_leads: int) -> pa.Table:
    """At least one owner per team and territory; about one more per 2,000 leads."""
    groups = [(t, r) for t in TEAMS for r in TERRITORIES]
    n = max(len(groups), min(400, n_leads // 2000))
    group = np.arange(n) % len(groups)
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    first_a, last_a = take(FIRST_NAMES, first), take(LAST_NAMES, last)
    local = _join(take(_FIRST, first), ".", take(_LAST, last), ".",
                  pa.array(np.arange(n)).cast(pa.string()))
    return pa.table({
        "id": ids("U", 1, n, 4),
        "first_name": first_a,
        "last_name": last_a,
        "email": _join(local, "@" + SELLER_DOMAIN),
        "team": take([g[0] for g in groups], group),
        "territory": take([g[1] for g in groups], group),
        # The first owner of each group stays active so every group can be assigned.
        "active": pa.array((np.arange(n) < len(groups)) | (rng.random(n) > 0.08)),
    })


def _company_names(rng: np.random.Generator, n: int) -> tuple[pa.Array, pa.Array]:
    """Unique "<word> <word> <core> <suffix>" names and their domains.

    An affine permutation of the combination space gives every account its own combination;
    past the ~400,000 combinations a round number keeps names and domains unique.
    """
    w, c = len(COMPANY_WORDS), len(COMPANY_CORES)
    space = w * (w - 1) * c
    mult = int(rng.integers(1, space))
    while math.gcd(mult, space) != 1:
        mult += 1
    i = np.arange(n, dtype=np.int64)
    code = (mult * (i % space) + int(rng.integers(0, space))) % space
    a = code % w
    b = (a + 1 + (code // w) % (w - 1)) % w
    core = code // (w * (w - 1))
    rounds = i // space
    words_a, words_b = take(COMPANY_WORDS, a), take(COMPANY_WORDS, b)
    core_a = take(COMPANY_CORES, core)
    number = pc.if_else(pa.array(rounds > 0),
                        _join(" ", pa.array(rounds + 1).cast(pa.string())), "")
    base = _join(words_a, " ", words_b, " ", core_a, number)
    words, cores = _ascii(COMPANY_WORDS), _ascii(COMPANY_CORES)
    plain = _join(take(words, a), take(words, b), take(cores, core),
                  pc.replace_substring(number, " ", ""))
    suffix = take(COMPANY_SUFFIXES, rng.integers(0, len(COMPANY_SUFFIXES), n))
    name = pc.utf8_rtrim_whitespace(_join(base, " ", suffix))
    tld = take(TLDS, rng.integers(0, len(TLDS), n))
    domain = _join(plain, ".", tld)
    return name, domain


def _places(rng: np.random.Generator, country: np.ndarray) -> tuple[pa.Array, pa.Array]:
    n = len(country)
    state = np.full(n, None, dtype=object)
    city = np.empty(n, dtype=object)
    for k, cty in enumerate(COUNTRIES):
        mask = country == k
        pick = rng.integers(0, len(cty.places), int(mask.sum()))
        state[mask] = np.asarray([s for s, _ in cty.places], dtype=object)[pick]
        city[mask] = np.asarray([c for _, c in cty.places], dtype=object)[pick]
    return pa.array(state, pa.string()), pa.array(city, pa.string())


def _tech_stacks(rng: np.random.Generator, employees: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """";"-separated stacks (bigger companies run more tools) and their hidden fit."""
    size = np.clip(np.log10(employees) / 2.5, 0.2, 1.6)
    prevalence = np.array([t.prevalence for t in TECHS])
    has = rng.random((len(employees), len(TECHS))) < np.minimum(0.95, size[:, None] * prevalence)
    mask = has @ (1 << np.arange(len(TECHS), dtype=np.int64))
    uniq, inverse = np.unique(mask, return_inverse=True)
    stacks = [";".join(t.name for j, t in enumerate(TECHS) if m >> j & 1) for m in uniq.tolist()]
    fit = np.minimum(has @ np.array([t.fit for t in TECHS]), 1.2)
    arr = take(stacks, inverse.ravel())
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr), fit


def _accounts(rng: np.random.Generator, n: int, owners: pa.Table, now_us: int
              ) -> tuple[pa.Table, dict[str, np.ndarray]]:
    ind = rng.choice(len(INDUSTRIES), n, p=_weights([i.weight for i in INDUSTRIES]))
    mu = np.array([i.log_employees for i in INDUSTRIES])[ind]
    employees = np.clip(np.round(rng.lognormal(mu, 1.5)), 1, 400_000)
    rpe = np.array([i.revenue_per_employee for i in INDUSTRIES])[ind]
    revenue = np.round(employees * rpe * rng.lognormal(0, 0.5, n), -3)
    country = rng.choice(len(COUNTRIES), n, p=_weights([c.weight for c in COUNTRIES]))
    state, city = _places(rng, country)
    stack, tech_fit = _tech_stacks(rng, employees)
    segment = np.where(employees < 100, 0, np.where(employees < 1000, 1, 2))  # index in TEAMS
    territory = np.array([TERRITORIES.index(c.territory) for c in COUNTRIES])[country]
    owner = _assign_owners(rng, owners, segment, territory)
    name, domain = _company_names(rng, n)
    created = now_us - rng.integers(30 * DAY_US, 4 * 365 * DAY_US, n)
    updated = created + (rng.random(n) * (now_us - created)).astype(np.int64)
    table = pa.table({
        "id": ids("A", 1, n, 7),
        "name": name,
        "domain": domain,
        "industry": take([i.name for i in INDUSTRIES], ind),
        "employees": pa.array(employees),
        "annual_revenue": pa.array(revenue),
        "country": take([c.code for c in COUNTRIES], country),
        "state": state,
        "city": city,
        "tech_stack": stack,
        "segment": take(TEAMS, segment),
        "owner_id": owners.column("id").combine_chunks().take(pa.array(owner)),
        "created_at": timestamps(created),
        "updated_at": timestamps(updated),
    })
    hidden = {"industry": ind, "country": country, "employees": employees, "tech_fit": tech_fit,
              "owner": owner}
    return table, hidden


def _assign_owners(rng: np.random.Generator, owners: pa.Table, team: np.ndarray,
                   territory: np.ndarray) -> np.ndarray:
    """Each record goes to a random active owner of its segment's team in its territory."""
    o_team = np.array([TEAMS.index(t) for t in owners.column("team").to_pylist()])
    o_terr = np.array([TERRITORIES.index(t) for t in owners.column("territory").to_pylist()])
    active = np.asarray(owners.column("active").to_pylist(), dtype=bool)
    out = np.zeros(len(team), dtype=np.int64)
    for t in range(len(TEAMS)):
        for r in range(len(TERRITORIES)):
            mask = (team == t) & (territory == r)
            pool = np.flatnonzero((o_team == t) & (o_terr == r) & active)
            out[mask] = pool[rng.integers(0, len(pool), int(mask.sum()))]
    return out


def _emails(rng: np.random.Generator, first: np.ndarray, last: np.ndarray, domain: pa.Array,
            free: np.ndarray) -> pa.Array:
    """first.last@company.com and friends; free-mail for some. Unique across the tenant."""
    n = len(first)
    # styles: first.last, flast, first, first_last
    style = rng.choice(4, n, p=[0.5, 0.25, 0.1, 0.15])
    head = take(_FIRST + [f[:1] for f in _FIRST], first + (style == 1) * len(_FIRST))
    tail = take(_LAST + [""], np.where(style == 2, len(_LAST), last))
    local = _join(head, take((".", "", "", "_"), style), tail)
    digits = pa.array(rng.integers(1, 99, n)).cast(pa.string())
    local = pc.if_else(pa.array(free & (rng.random(n) < 0.6)), _join(local, digits), local)
    mail = take(FREE_MAIL, rng.integers(0, len(FREE_MAIL), n))
    host = pc.if_else(pa.array(free), mail, domain)
    # Same name at the same domain: number the repeats so every address is unique.
    key = pc.dictionary_encode(_join(local, "@", host)).indices.to_numpy()
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    rank_sorted = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = rank_sorted
    repeat = pa.array(rank > 0)
    local = pc.if_else(repeat, _join(local, pa.array(rank + 1).cast(pa.string())), local)
    return _join(local, "@", host)


def _title_table() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Titles, their hidden fit and whether they mark a student or job seeker, as
    :mod:`scoring.derive` reads seniority and department from them."""
    titles = [t.title for t in TITLES]
    sen = [seniority(t) or "individual" for t in titles]
    dep = [department(t) or "other" for t in titles]
    fit = np.array([_SENIORITY_FIT[s] + _DEPARTMENT_FIT[d] for s, d in zip(sen, dep, strict=True)])
    return titles, fit, np.array([s == "student" for s in sen])


_TITLE_TEXT, _TITLE_FIT, _TITLE_STUDENT = _title_table()
_CALLING_CODES = {"US": "1", "CA": "1", "GB": "44", "DE": "49", "FR": "33", "NL": "31",
                  "ES": "34", "SE": "46", "IE": "353", "AU": "61", "IN": "91", "SG": "65",
                  "JP": "81", "BR": "55", "MX": "52"}


def _phones(rng: np.random.Generator, country: np.ndarray) -> pa.Array:
    """"+<country code> <area> <7 digits>"."""
    n = len(country)
    calling = take([_CALLING_CODES[c.code] for c in COUNTRIES], country)
    area, line = rng.integers(200, 999, n), rng.integers(0, 10_000_000, n)
    return _join("+", calling, " ", pa.array(area).cast(pa.string()), " ",
                 pc.utf8_lpad(pa.array(line).cast(pa.string()), 7, padding="0"))


def _hidden_fit(acc: dict[str, np.ndarray], account: np.ndarray, title: np.ndarray,
                free: np.ndarray) -> np.ndarray:
    """The truth behind a good fit: target industries and countries, a sales/marketing stack,
    a few hundred to a few thousand employees, a senior revenue title, a corporate address."""
    ln_emp = np.log(acc["employees"][account])
    size_fit = np.maximum(-1.0, 0.8 - 0.12 * (ln_emp - 6.2) ** 2)
    ind_fit = np.array([i.fit for i in INDUSTRIES])[acc["industry"][account]]
    ctry_fit = np.array([c.fit for c in COUNTRIES])[acc["country"][account]]
    return (ind_fit + ctry_fit + acc["tech_fit"][account] + size_fit + _TITLE_FIT[title]
            - 0.8 * free)


def make_people(rng: np.random.Generator, n_leads: int, n_accounts: int, now_us: int,
                window_us: int) -> People:
    n = n_leads
    owners = _owners(rng, n)
    accounts, acc = _accounts(rng, n_accounts, owners, now_us)
    # Bigger companies have more people in the CRM.
    w = np.sqrt(acc["employees"]) * rng.lognormal(0, 0.5, n_accounts)
    account = rng.choice(n_accounts, n, p=w / w.sum())
    title = rng.choice(len(TITLES), n, p=_weights([t.weight for t in TITLES]))
    student = _TITLE_STUDENT[title]
    emp = acc["employees"][account]
    free = rng.random(n) < np.where(student, 0.7, np.where(emp < 10, 0.35, 0.08))
    first_idx = rng.integers(0, len(FIRST_NAMES), n)
    last_idx = rng.integers(0, len(LAST_NAMES), n)
    acc_idx = pa.array(account)
    domain = accounts.column("domain").combine_chunks().take(acc_idx)
    email = _emails(rng, first_idx, last_idx, domain, free)
    fit = _hidden_fit(acc, account, title, free)
    interest = 0.35 * (fit - 1.0) / 1.5 + rng.normal(0, 1, n)
    contact = rng.random(n) < 0.5
    window = window_us * 1.5 * rng.random(n) ** 0.7
    created = now_us - window.astype(np.int64) - rng.integers(DAY_US, 3 * DAY_US, n)
    phone = _phones(rng, acc["country"][account])
    # An account exists before its first contact.
    acc_created = accounts.column("created_at").combine_chunks().cast(pa.int64()).to_numpy()
    acc_created = acc_created.copy()
    np.minimum.at(acc_created, account, created - DAY_US)
    accounts = accounts.set_column(accounts.schema.get_field_index("created_at"), "created_at",
                                   timestamps(acc_created))

    def from_account(name: str) -> pa.Array:
        return accounts.column(name).combine_chunks().take(acc_idx)

    leads = pa.table({
        "id": ids("L", 1, n, 8),
        "email": email,
        "first_name": take(FIRST_NAMES, first_idx),
        "last_name": take(LAST_NAMES, last_idx),
        "title": take(_TITLE_TEXT, title),
        "company": from_account("name"),
        "phone": phone,
        "country": from_account("country"),
        "state": from_account("state"),
        "city": from_account("city"),
        "industry": from_account("industry"),
        "employees": pa.array(emp),
        "annual_revenue": from_account("annual_revenue"),
        "lead_source": take([s for s, _ in LEAD_SOURCES],
                            rng.choice(len(LEAD_SOURCES), n,
                                       p=_weights([w for _, w in LEAD_SOURCES]))),
        "owner_id": from_account("owner_id"),
        "account_id": pc.if_else(pa.array(contact), from_account("id"),
                                 pa.scalar(None, pa.string())),
        "created_at": timestamps(created),
        "kind": take(("lead", "contact"), contact.astype(np.int8)),
    })
    return People(owners, accounts, leads, fit, interest, student, created)
