"""bench.sync_hubspot end to end on a small portal: the figures it prints hold together."""

from __future__ import annotations

import pytest

from bench.sync_hubspot import run

pytestmark = pytest.mark.slow


def test_bench_compares_the_sync_with_a_naive_writer_on_the_same_writes() -> None:
    report = run(contacts=300, events=3000, seed=1, changed=0.02)
    first, second, naive = report["first_sync"], report["incremental_sync"], report["naive_incremental"]
    assert first["pulled"]["leads"] == 300 and first["failed"] == 0
    assert first["records_written"] >= 300  # every contact gets its first score
    assert 0 < first["api_calls_minimum"] <= first["api_calls"]
    assert report["contacts_changed"] == 6
    assert 0 < second["records_written"] < first["records_written"]
    assert second["api_calls_minimum_upstream_changes_only"] <= second["api_calls_minimum"] <= second["api_calls"]
    assert naive["api_calls"] == naive["records"] >= second["records_written"]
    assert first["peak_rss_mb"] > 0


def test_bench_reports_each_runs_rate_limit_bound() -> None:
    """Beside each run's wall time: the calls through each client limiter ÷ its budget, the
    largest of those as the bound, and the wall time over it."""
    report = run(contacts=300, events=3000, seed=1, changed=0.02)
    for sync in (report["first_sync"], report["incremental_sync"]):
        bound = sync["rate_limit_bound"]
        assert set(bound) == {"limiter", "search_limiter"}
        assert bound["limiter"]["calls"] == sync["api_calls"]  # every call spends the 10-second budget
        searches = sum(n for endpoint, n in sync["calls_by_endpoint"].items() if endpoint.endswith("/search"))
        assert bound["search_limiter"]["calls"] == searches > 0
        assert bound["limiter"]["seconds"] == round(sync["api_calls"] * 10 / 150, 1)
        assert sync["rate_limit_bound_seconds"] == max(b["seconds"] for b in bound.values())
        # both figures are printed rounded to 0.1 s; the ratio is of the unrounded ones
        assert sync["seconds_over_bound"] == pytest.approx(sync["seconds"] / sync["rate_limit_bound_seconds"], abs=0.1)
