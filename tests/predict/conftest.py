"""Shared data for the predictive-scoring tests: a synthetic history with a known signal and
the X Education file from ../shared/datasets (tests using it skip when it is absent)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

XEDU = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "x_education_leads.csv"
#: Columns that leak the outcome (see the dataset's dictionary notes) and the two identifiers.
XEDU_DROP = ["Tags", "Lead Quality", "Lead Profile", "Asymmetrique Activity Index",
             "Asymmetrique Profile Index", "Asymmetrique Activity Score",
             "Asymmetrique Profile Score", "Prospect ID", "Lead Number"]


def synthetic_history(n: int = 1500, seed: int = 1) -> pa.Table:
    """Leads whose conversion depends on source, visits (log) and a 'Select' placeholder field,
    with text numbers, blanks and a time column, as a CRM export would have them."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["Google", "google ", "Referral", "Olark Chat", "Direct"], n,
                        p=[0.3, 0.05, 0.15, 0.25, 0.25])
    visits = rng.poisson(4, n)
    role = rng.choice(["Student", "Working Professional", "Select", None], n, p=[0.4, 0.3, 0.2, 0.1])
    noise = rng.normal(size=n)
    logit = (-1.0 + 1.5 * (np.char.strip(source.astype(str)) == "Referral")
             - 1.0 * (source == "Olark Chat") + 0.8 * np.log1p(visits)
             + 1.2 * (role == "Working Professional") - 0.8 * (role == "Student") - 1.5)
    converted = rng.random(n) < 1 / (1 + np.exp(-logit))
    visits_text = [None if rng.random() < 0.03 else str(v) for v in visits]
    days = np.sort(rng.integers(0, 365, n))
    return pa.table({
        "id": [f"L{i:05d}" for i in range(n)],
        "Lead Source": source.tolist(),
        "TotalVisits": visits_text,
        "Occupation": role.tolist(),
        "Noise": [f"{x:.3f}" for x in noise],
        "Constant": ["No"] * n,
        "Created": [(date(2025, 1, 1) + timedelta(days=int(d))).isoformat() for d in days],
        "Converted": np.where(converted, "Yes", "No").tolist(),
    })


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """One OpenMP thread, as the CLI uses: on a busy 2-core machine two threads of
    HistGradientBoosting fighting other work run ten times slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def history() -> pa.Table:
    return synthetic_history()


@pytest.fixture(scope="session")
def xedu() -> pa.Table:
    if not XEDU.exists():
        pytest.skip(f"{XEDU} is not available")
    from connector.tableio import read_table

    return read_table(XEDU)
