"""bench/model.yaml restated by hand as Polars lazy expressions, run on Polars' streaming engine:
the second yardstick ``bench.scoring`` times the engine against and checks it by (the first is
``bench/reference.sql`` in DuckDB). Rule for rule the same as the SQL: decayed points summed and
capped per rule, the per-window limits as the newest events within (lead, 30-day window), group caps,
fit points from the leads file, and leads without events kept with intent 0.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

DAY_US = 86_400_000_000
_EXEC = r"(?i)\b(chief|ceo|cto|cfo|vp|vice president|head of|founder)\b"
_FREEMAIL = r"@(gmail|yahoo|hotmail|outlook)\.com$"


def _scan(path: Path, columns: list[str], timestamps: tuple[str, ...] = ()) -> pl.LazyFrame:
    """A lazy scan of a Parquet or CSV file; CSV text columns stay text until cast here."""
    if path.suffix == ".parquet":
        frame = pl.scan_parquet(path)
    else:
        frame = pl.scan_csv(path, infer_schema=False)  # every column as text, as leadscore reads CSV
    frame = frame.select(columns)
    if path.suffix != ".parquet":
        frame = frame.with_columns(
            *[pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC")
              for c in timestamps])
    return frame


def _decayed(mask: pl.Expr, points: float, half_life: float, cap: float) -> pl.Expr:
    return pl.when(mask).then(points * (2.0 ** (-pl.col("age") / half_life))).otherwise(0.0).sum().clip(
        upper_bound=cap)


def query(events: Path, leads: Path, now_us: int) -> pl.LazyFrame:
    ev = (
        _scan(events, ["lead_id", "type", "occurred_at", "url", "form"], ("occurred_at",))
        .with_columns(us=pl.col("occurred_at").dt.epoch("us"))
        .filter(pl.col("us") <= now_us)
        .with_columns(age=(now_us - pl.col("us")) / DAY_US, day=pl.col("us") / DAY_US)
    )
    t, url = pl.col("type"), pl.col("url").str.to_lowercase()
    plain = ev.group_by("lead_id").agg(
        _decayed((t == "form_submit") & (pl.col("form").str.to_lowercase() == "demo-request"), 50, 30, 60)
        .alias("demo"),
        _decayed(t.is_in(["meeting_booked", "meeting_held"]), 30, 30, 45).alias("meeting"),
        # GLOB '*/pricing*' is "contains /pricing"
        _decayed((t == "page_view") & url.str.contains("/pricing", literal=True), 10, 30, 30).alias("pricing"),
        _decayed(t == "email_click", 3, 14, 9).alias("click"),
        pl.when(t == "email_unsubscribe").then(-30.0).otherwise(0.0).sum().clip(lower_bound=-30).alias("unsub"),
        pl.when(t == "email_bounce").then(-25.0).otherwise(0.0).sum().clip(lower_bound=-25).alias("bounce"),
    )
    # The newest ``max_events`` of each (lead, 30-day window) count. Which of several events of
    # the same age count cannot change a score, so no tie-break by input order is needed here.
    def limited_rule(mask: pl.Expr, limit: int, half_life: float, cap: float, name: str) -> pl.LazyFrame:
        return (ev.filter(mask).with_columns(window=(pl.col("day") / 30).floor())
                .group_by("lead_id", "window").agg(
                    (2.0 ** (-pl.col("age").bottom_k(limit) / half_life)).sum().alias(name))
                .group_by("lead_id").agg(pl.col(name).sum().clip(upper_bound=cap)))

    blog = limited_rule((t == "page_view") & url.str.contains("/blog/", literal=True), 5, 30, 5, "blog")
    opened = limited_rule(t == "email_open", 3, 14, 3, "open")
    limited = blog.join(opened, on="lead_id", how="full", coalesce=True)
    intent = plain.join(limited, on="lead_id", how="left").select(
        "lead_id",
        points=pl.col("demo") + pl.col("meeting")
        + (pl.col("pricing") + pl.col("blog").fill_null(0.0)).clip(upper_bound=45)
        + (pl.col("click") + pl.col("open").fill_null(0.0)).clip(upper_bound=20)
        + pl.col("unsub") + pl.col("bounce"),
    )
    title, employees = pl.col("title"), pl.col("employees").cast(pl.Float64)
    lead = _scan(leads, ["id", "title", "industry", "employees", "country", "email"])

    def points(mask: pl.Expr, value: float) -> pl.Expr:
        return pl.when(mask).then(value).otherwise(0.0)

    fit = lead.select(
        "id",
        points=(points(title.str.contains(_EXEC), 30) + points(title.str.to_lowercase().str.contains(
            "director", literal=True), 20) + points(title.str.contains("(?i)(student|intern)"), -30))
        .clip(-40, 40)
        + (points(pl.col("industry").str.strip_chars().str.to_lowercase().is_in(
            ["software", "financial services", "healthcare"]), 15)
           + points(employees.is_between(200, 5000), 20) + points(employees > 5000, 25)).clip(upper_bound=40)
        + points(pl.col("country").str.strip_chars().str.to_lowercase().is_in(["us", "ca", "gb", "de"]), 10)
        + points(pl.col("email").str.contains(_FREEMAIL), -15),
    )
    fit_score = pl.col("points").clip(0, 100)
    intent_score = pl.col("points_right").fill_null(0.0).clip(0, 100)
    return fit.join(intent, left_on="id", right_on="lead_id", how="left").select(
        lead_id="id", fit=fit_score, intent=intent_score, score=0.4 * fit_score + 0.6 * intent_score)


def run(events: Path, leads: Path, now_us: int, out: Path) -> None:
    """Score and write the result as Parquet, on the streaming engine."""
    query(events, leads, now_us).sink_parquet(out, engine="streaming")
