"""Synthetic tenants: deterministic, well-formed, realistic enough, and with outcomes a scoring
model can recover. Also the CSV round trip and its error messages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from sandbox.tenant import (
    TenantBuilder,
    generate_tenant,
    load_tenant_csv,
    write_tenant_csv,
)
from sandbox.tenant_csv import TenantFileError, iso_utc
from sandbox.tenant_events import CHUNK_LEADS, FORM_IDS
from sandbox.tenant_schema import ACCOUNT_SCHEMA, EVENT_SCHEMA, LEAD_SCHEMA, OWNER_SCHEMA
from sandbox.tenant_vocab import APP_SITE, SITE, TITLES
from scoring.derive import is_free_email, seniority
from scoring.records import ACCOUNT_FIELDS, LEAD_FIELDS, EventType

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def tenant():
    return generate_tenant(seed=5, leads=3000, now=NOW)


@pytest.fixture(scope="module")
def big():
    """Large enough for statistics, small enough to build in well under a second."""
    return generate_tenant(seed=11, leads=12_000, events_per_lead=15)


def _np(column) -> np.ndarray:
    return column.to_numpy(zero_copy_only=False)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted half."""
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2 + 1
    ranks[order] = np.repeat(avg, counts)
    pos = y.sum()
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * (len(y) - pos)))


# --------------------------------------------------------------------------- determinism


def test_same_seed_and_sizes_give_identical_tables():
    a = generate_tenant(seed=3, leads=700, events_per_lead=9, messy=True)
    b = generate_tenant(seed=3, leads=700, events_per_lead=9, messy=True)
    for name in ("owners", "accounts", "leads", "campaigns"):
        assert getattr(a, name).equals(getattr(b, name)), name
    assert a.events.cast(EVENT_SCHEMA).equals(b.events.cast(EVENT_SCHEMA))
    assert np.array_equal(a.propensity, b.propensity)


def test_another_seed_gives_another_tenant():
    a = generate_tenant(seed=3, leads=300)
    b = generate_tenant(seed=4, leads=300)
    assert a.leads.column("email").to_pylist() != b.leads.column("email").to_pylist()
    assert a.events.column("occurred_at").to_pylist() != b.events.column("occurred_at").to_pylist()


# --------------------------------------------------------------------------- sizes and shape


@pytest.mark.parametrize("leads,per_lead,accounts", [(0, 20, None), (1, 0, None), (1, 3.5, None),
                                                     (2500, 7.3, None), (400, 2, 1000),
                                                     (CHUNK_LEADS + 10, 0.5, None)])
def test_sizes(leads, per_lead, accounts):
    t = generate_tenant(seed=1, leads=leads, events_per_lead=per_lead, accounts=accounts)
    assert t.leads.num_rows == leads
    assert t.events.num_rows == round(leads * per_lead)
    assert t.accounts.num_rows == (accounts if accounts else max(1, leads // 3))
    assert t.owners.num_rows >= 12  # one per team and territory at least
    assert t.leads.schema == LEAD_SCHEMA
    assert t.events.cast(EVENT_SCHEMA).schema == EVENT_SCHEMA  # every chunk has one schema


def test_columns_are_the_canonical_field_names(tenant):
    assert tuple(tenant.accounts.column_names) == ACCOUNT_FIELDS
    assert tuple(tenant.leads.column_names[: len(LEAD_FIELDS)]) == LEAD_FIELDS
    assert tenant.leads.column_names[len(LEAD_FIELDS):] == ["kind", "converted", "converted_at",
                                                             "closed_won"]
    assert tenant.owners.schema == OWNER_SCHEMA
    assert tenant.accounts.schema == ACCOUNT_SCHEMA
    assert tenant.events.cast(EVENT_SCHEMA).schema == EVENT_SCHEMA


def test_references_are_consistent(tenant):
    leads, accounts, owners = tenant.leads, tenant.accounts, tenant.owners
    ids = leads.column("id")
    assert pc.count_distinct(ids).as_py() == leads.num_rows
    assert pc.count_distinct(leads.column("email")).as_py() == leads.num_rows
    assert pc.all(pc.is_in(tenant.events.column("lead_id").cast(pa.string()), ids)).as_py()
    assert pc.all(pc.is_in(leads.column("owner_id"), owners.column("id"))).as_py()
    assert pc.all(pc.is_in(accounts.column("owner_id"), owners.column("id"))).as_py()
    kind = _np(leads.column("kind"))
    has_account = _np(pc.is_valid(leads.column("account_id")))
    assert set(kind) == {"lead", "contact"}
    assert np.array_equal(has_account, kind == "contact")
    contacts = leads.filter(pc.equal(leads.column("kind"), "contact"))
    assert pc.all(pc.is_in(contacts.column("account_id"), accounts.column("id"))).as_py()
    # a contact's company is its account's name
    names = dict(zip(accounts.column("id").to_pylist(), accounts.column("name").to_pylist(),
                     strict=True))
    for acc, company in zip(contacts.column("account_id").to_pylist()[:200],
                            contacts.column("company").to_pylist()[:200], strict=True):
        assert names[acc] == company
    assert pc.all(leads.column("company").is_valid()).as_py()


def test_events_use_the_vocabulary(tenant):
    ev = tenant.events
    types = set(ev.column("type").cast(pa.string()).to_pylist())
    assert types <= {t.value for t in EventType}
    assert len(types) == len(EventType)  # 60,000 events show every kind
    urls = set(pc.drop_null(ev.column("url").cast(pa.string())).to_pylist())
    assert all(u.startswith((SITE + "/", APP_SITE + "/")) for u in urls)
    for path in ("/pricing", "/demo", "/careers", "/docs"):
        assert SITE + path in urls
    assert any(u.startswith(SITE + "/blog/") for u in urls)
    forms = set(pc.drop_null(ev.column("form").cast(pa.string())).to_pylist())
    assert forms == set(FORM_IDS)
    is_form = pc.equal(ev.column("type").cast(pa.string()), "form_submit")
    assert pc.all(pc.equal(pc.is_valid(ev.column("form")), is_form)).as_py()
    campaigns = set(tenant.campaigns.column("id").to_pylist())
    assert set(pc.drop_null(ev.column("campaign").cast(pa.string())).to_pylist()) <= campaigns


def test_events_belong_to_campaigns_already_running(tenant):
    starts = {c["id"]: c["name"][:7] for c in tenant.campaigns.to_pylist()}  # "YYYY-MM ..."
    ev = tenant.events.cast(EVENT_SCHEMA).filter(pc.is_valid(tenant.events.column("campaign")))
    months = pc.strftime(ev.column("occurred_at"), format="%Y-%m").to_pylist()
    campaigns = ev.column("campaign").to_pylist()
    assert len(campaigns) > 1000
    assert all(starts[c] <= month for c, month in zip(campaigns, months, strict=True))
    # a marketing e-mail belongs to its campaign
    mails = ev.filter(pc.is_valid(ev.column("email_id")))
    assert mails.num_rows > 1000
    assert all(e.startswith(c + "-E") for e, c in zip(mails.column("email_id").to_pylist(),
                                                      mails.column("campaign").to_pylist(),
                                                      strict=True))


def test_events_fall_in_the_window_after_the_lead_was_created(tenant):
    ev = tenant.events
    occurred = _np(ev.column("occurred_at").cast(pa.int64()))
    now_us = int(NOW.timestamp() * 1e6)
    assert occurred.max() <= now_us
    assert occurred.min() >= now_us - int(timedelta(days=6 * 30).total_seconds() * 1e6)
    created = dict(zip(tenant.leads.column("id").to_pylist(),
                       _np(tenant.leads.column("created_at").cast(pa.int64())), strict=True))
    lead_ids = ev.column("lead_id").cast(pa.string()).to_pylist()
    assert all(t >= created[lead] for lead, t in zip(lead_ids, occurred, strict=True))
    # grouped by lead, time-ordered within each lead
    lead_codes = _np(pc.index_in(ev.column("lead_id").cast(pa.string()),
                                 tenant.leads.column("id")))
    assert np.all(np.diff(lead_codes) >= 0)
    same = np.diff(lead_codes) == 0
    assert np.all(np.diff(occurred)[same] >= -1_000_000)  # sorted to the second


def test_people_look_like_a_b2b_crm(tenant):
    leads = tenant.leads
    titles = leads.column("title").to_pylist()
    assert set(titles) <= {t.title for t in TITLES}
    ranks = [seniority(t) for t in titles]
    for level in ("executive", "vp", "director", "manager", "individual", "student"):
        assert ranks.count(level) > 0.01 * len(titles), level
    free = np.mean([is_free_email(e) for e in leads.column("email").to_pylist()])
    assert 0.05 < free < 0.35
    employees = _np(tenant.accounts.column("employees"))
    assert employees.min() >= 1 and np.median(employees) < 1000 < employees.max()
    assert len(set(tenant.accounts.column("industry").to_pylist())) >= 10
    assert tenant.accounts.column("tech_stack").null_count < tenant.accounts.num_rows / 2
    assert set(tenant.owners.column("territory").to_pylist()) == {"NA", "EMEA", "APAC", "LATAM"}


def test_outcomes_are_consistent(tenant):
    leads = tenant.leads
    converted = _np(leads.column("converted"))
    won = _np(leads.column("closed_won"))
    assert not np.any(won & ~converted)
    assert 0.05 < converted.mean() < 0.16
    conv_at = leads.column("converted_at")
    assert np.array_equal(_np(pc.is_valid(conv_at)), converted)
    conv_us = _np(conv_at.cast(pa.int64()).fill_null(0))[converted]
    created_us = _np(leads.column("created_at").cast(pa.int64()))[converted]
    assert np.all(conv_us > created_us) and np.all(conv_us <= NOW.timestamp() * 1e6)
    stage = np.array(leads.column("lifecycle_stage").to_pylist())
    assert np.all(stage[won] == "customer")


# --------------------------------------------------------------------------- outcome signal


def test_outcomes_follow_the_hidden_propensity(big):
    y = _np(big.leads.column("converted"))
    p = big.propensity
    assert _auc(y, p) > 0.85  # measured 0.90
    quintile = np.argsort(np.argsort(p)) * 5 // len(p)
    top, bottom = y[quintile == 4].mean(), y[quintile == 0].mean()
    assert top > 8 * max(bottom, 1e-3)


def test_fit_and_recent_behaviour_both_predict_conversion(big):
    """A naive score that knows only 'recent pricing/demo activity' and 'senior title' separates
    converters well; each half alone does too, less well."""
    leads, ev = big.leads, big.events
    y = _np(leads.column("converted"))
    now_us = int(big.now.timestamp() * 1e6)
    recent = _np(ev.column("occurred_at").cast(pa.int64())) > now_us - 30 * 86_400_000_000
    url = ev.column("url").cast(pa.string())
    form = ev.column("form").cast(pa.string())
    hot = _np(pc.or_kleene(pc.match_substring_regex(url, r"/(pricing|demo|trial)"),
                           pc.is_in(form, pa.array(["demo-request", "trial-signup"])))
              .fill_null(False))
    lead = _np(pc.index_in(ev.column("lead_id").cast(pa.string()), leads.column("id")))
    activity = np.bincount(lead[hot & recent], minlength=leads.num_rows)
    senior = np.isin([seniority(t) for t in leads.column("title").to_pylist()],
                     ["executive", "vp", "director"])
    student = np.array([seniority(t) == "student" for t in leads.column("title").to_pylist()])
    naive = 10 * np.minimum(activity, 5) + 20 * senior
    assert _auc(y, naive) > 0.7  # measured 0.75 (seed 11)
    assert _auc(y, activity) > 0.65  # measured 0.73
    assert y[senior].mean() > 1.3 * y[~senior & ~student].mean()
    assert y[student].mean() < 0.5 * y[~student].mean()
    # recency matters: old hot activity says less than recent hot activity
    old = np.bincount(lead[hot & ~recent], minlength=leads.num_rows)
    assert _auc(y, activity) > _auc(y, old)


# --------------------------------------------------------------------------- messy


def test_clean_by_default_and_messy_on_request(tenant):
    clean = tenant.leads
    assert clean.column("title").null_count == 0
    assert clean.column("industry").null_count == 0
    messy = generate_tenant(seed=5, leads=3000, now=NOW, messy=True).leads
    assert 0 < messy.column("title").null_count < 0.1 * messy.num_rows
    titles = pc.drop_null(messy.column("title")).to_pylist()
    assert any(t.isupper() for t in titles) and any(t != t.strip() for t in titles)
    # same people, only the surface differs
    assert messy.column("id").equals(clean.column("id"))


def test_builder_checks_its_arguments():
    with pytest.raises(ValueError, match="leads"):
        TenantBuilder(leads=-1)
    with pytest.raises(ValueError, match="events need leads"):
        TenantBuilder(leads=0, events=5)
    with pytest.raises(ValueError, match="timezone"):
        TenantBuilder(now=datetime(2026, 1, 1))
    builder = TenantBuilder(leads=10, events=50)
    with pytest.raises(RuntimeError, match="event_batches"):
        builder.leads()


# --------------------------------------------------------------------------- CSV


def test_csv_round_trip(tmp_path):
    t = generate_tenant(seed=9, leads=500, messy=True)
    write_tenant_csv(t, tmp_path)
    back = load_tenant_csv(tmp_path)
    assert back.now == t.now
    for name in ("owners", "accounts", "leads", "campaigns"):
        assert getattr(back, name).equals(getattr(t, name)), name
    assert back.events.equals(t.events.cast(EVENT_SCHEMA))


def test_missing_optional_files_give_empty_tables(tmp_path):
    (tmp_path / "leads.csv").write_text("id,email,employees,created_at\n"
                                        "L1,a@b.com,12,2026-01-02\nL2,,,\n")
    t = load_tenant_csv(tmp_path)
    assert t.events.num_rows == 0 and t.events.schema == EVENT_SCHEMA
    assert t.owners.num_rows == 0 and t.accounts.num_rows == 0
    assert t.leads.column("employees").to_pylist() == [12.0, None]
    assert t.leads.column("title").null_count == 2  # missing column → blank
    assert t.now == datetime(2026, 1, 2, tzinfo=timezone.utc)  # latest timestamp in the files


def _write(folder: Path, leads: str, events: str | None = None) -> None:
    (folder / "leads.csv").write_text(leads)
    if events is not None:
        (folder / "events.csv").write_text(events)


LEADS = "id,email,title\nL1,a@x.com,CEO\nL2,b@x.com,\"Head of\nGrowth\"\nL3,c@x.com,CTO\n"


@pytest.mark.parametrize("leads,events,where,words", [
    ("id,email\nL1,a@x.com\nL2,b@x.com,extra\n", None, "leads.csv:3", "3 fields"),
    ("id,employees\nL1,10\nL2,ten\n", None, "leads.csv:3", "'ten' is not a number"),
    ("id,converted\nL1,true\nL2,perhaps\n", None, "leads.csv:3", "not true/false"),
    ("id\nL1\nL1\n", None, "leads.csv:3", "duplicate id 'L1'"),
    (LEADS, "lead_id,type,occurred_at\nL1,page_view,2026-01-01T00:00:00Z\n"
            "L3,email_open,yesterday\n", "events.csv:3", "'yesterday' is not an ISO-8601"),
    (LEADS, "lead_id,type,occurred_at\nL1,page_view,2026-01-01\nL9,page_view,2026-01-01\n",
     "events.csv:3", "lead 'L9' is not in leads.csv"),
    (LEADS, "lead_id,type,occurred_at\nL2,page_view,2026-01-01\nL3,Page View!,2026-01-01\n",
     "events.csv:3", "not an event type"),
    (LEADS, "lead_id,type\nL1,page_view\n", "events.csv:1", "missing column(s) occurred_at"),
    ("id,title\nL1,CEO\n\"L2\",\"multi\nline\"\nL3,bad,extra\n", None, "leads.csv:5",
     "3 fields"),
])
def test_malformed_rows_name_file_and_line(tmp_path, leads, events, where, words):
    _write(tmp_path, leads, events)
    with pytest.raises(TenantFileError) as info:
        load_tenant_csv(tmp_path)
    message = str(info.value)
    assert where in message and words in message, message


def test_line_numbers_count_quoted_newlines(tmp_path):
    # L3 starts on line 5 because L2's title spans two lines
    _write(tmp_path, LEADS.replace("L3,c@x.com,CTO", "L3,c@x.com,CTO,extra"))
    with pytest.raises(TenantFileError, match=r"leads\.csv:5"):
        load_tenant_csv(tmp_path)
    _write(tmp_path, LEADS, "lead_id,type,occurred_at,duration_seconds\n"
                            "L1,page_view,2026-01-01,3\nL3,page_view,2026-01-01,x\n")
    with pytest.raises(TenantFileError, match=r"events\.csv:3: column 'duration_seconds'"):
        load_tenant_csv(tmp_path)


def test_missing_leads_file_is_a_clear_error(tmp_path):
    with pytest.raises(TenantFileError, match=r"leads\.csv: missing"):
        load_tenant_csv(tmp_path)
    with pytest.raises(TenantFileError, match="no such folder"):
        load_tenant_csv(tmp_path / "nope")


def test_iso_utc_matches_strftime():
    rng = np.random.default_rng(0)
    us = np.r_[rng.integers(-2 * 10**15, 4 * 10**15, 5000), 0, -1, 951_782_400_000_000]
    stamps = pa.array(us).cast(pa.timestamp("us", tz="UTC"))
    stamps = pc.if_else(pa.array(rng.random(len(us)) < 0.1), pa.scalar(None, stamps.type),
                        stamps)
    assert iso_utc(stamps).equals(pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ"))
    assert iso_utc(pa.array([0], pa.int64()).cast(stamps.type))[0].as_py() == \
        "1970-01-01T00:00:00.000000Z"
