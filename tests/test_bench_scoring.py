"""bench.scoring on a tiny size: the three sides (leadscore, DuckDB, Polars) agree on every lead,
in Parquet and in CSV, and the report holds together."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scoring import measure, parse_size

pytestmark = pytest.mark.slow


def test_sizes_parse() -> None:
    assert parse_size("5Mx100M") == (5_000_000, 100_000_000)
    assert parse_size("100kx2M") == (100_000, 2_000_000)
    assert parse_size("300x4000") == (300, 4000)
    with pytest.raises(Exception, match="not a size"):
        parse_size("5M")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_every_side_scores_the_same(tmp_path: Path, fmt: str) -> None:
    report = measure(400, 12_000, fmt, seed=2, data=tmp_path, repeat=1)
    assert report["agree"], report["checks"]
    for peer in ("duckdb", "polars"):
        assert report["checks"][peer]["max_abs_diff"]["intent"] <= 0.0100001
    assert report["faster_peer"] in ("duckdb", "polars")
    best = min(report["duckdb_seconds_best"], report["polars_seconds_best"])
    assert report["ratio_best"] == pytest.approx(report["leadscore_seconds_best"] / best, rel=0.05)  # of rounded times
    assert (tmp_path / "400-12000-2" / f"events.{fmt}").exists()
