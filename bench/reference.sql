-- bench/model.yaml restated by hand as one DuckDB query: a yardstick the engine is timed
-- against and checked by. Parameters: {events_scan}, {leads_scan} (the files as DuckDB reads
-- them, Parquet or CSV: see bench/scoring.py), {now_us}, {out}.
COPY (
WITH ev AS (
    SELECT lead_id, type, url, form, file_row_number AS rn,
           ({now_us} - epoch_us(occurred_at)) / 86400000000.0 AS age,
           epoch_us(occurred_at) / 86400000000.0 AS day
    FROM {events_scan}
    WHERE epoch_us(occurred_at) <= {now_us}
),
plain AS (
    SELECT lead_id,
        LEAST(SUM(CASE WHEN type = 'form_submit' AND lower(form) = 'demo-request'
                       THEN 50 * pow(2, -age / 30) ELSE 0 END), 60) AS demo,
        LEAST(SUM(CASE WHEN type IN ('meeting_booked', 'meeting_held')
                       THEN 30 * pow(2, -age / 30) ELSE 0 END), 45) AS meeting,
        LEAST(SUM(CASE WHEN type = 'page_view' AND lower(url) GLOB '*/pricing*'
                       THEN 10 * pow(2, -age / 30) ELSE 0 END), 30) AS pricing,
        LEAST(SUM(CASE WHEN type = 'email_click' THEN 3 * pow(2, -age / 14) ELSE 0 END), 9) AS click,
        GREATEST(SUM(CASE WHEN type = 'email_unsubscribe' THEN -30 ELSE 0 END), -30) AS unsub,
        GREATEST(SUM(CASE WHEN type = 'email_bounce' THEN -25 ELSE 0 END), -25) AS bounce
    FROM ev GROUP BY lead_id
),
windowed AS (
    SELECT lead_id, type, age,
           row_number() OVER (PARTITION BY lead_id, type, floor(day / 30) ORDER BY age, rn) AS k
    FROM ev
    WHERE type = 'email_open' OR (type = 'page_view' AND contains(lower(url), '/blog/'))
),
limited AS (
    SELECT lead_id,
        LEAST(SUM(CASE WHEN type = 'page_view' AND k <= 5 THEN 1 * pow(2, -age / 30) ELSE 0 END), 5) AS blog,
        LEAST(SUM(CASE WHEN type = 'email_open' AND k <= 3 THEN 1 * pow(2, -age / 14) ELSE 0 END), 3) AS open
    FROM windowed GROUP BY lead_id
),
intent AS (
    SELECT p.lead_id,
           p.demo + p.meeting
         + LEAST(p.pricing + coalesce(l.blog, 0), 45)
         + LEAST(p.click + coalesce(l.open, 0), 20)
         + (p.unsub + p.bounce) AS points
    FROM plain p LEFT JOIN limited l USING (lead_id)
),
fit AS (
    SELECT id,
        LEAST(GREATEST(
              CASE WHEN regexp_matches(title, '(?i)\b(chief|ceo|cto|cfo|vp|vice president|head of|founder)\b') THEN 30 ELSE 0 END
            + CASE WHEN contains(lower(title), 'director') THEN 20 ELSE 0 END
            + CASE WHEN regexp_matches(title, '(?i)(student|intern)') THEN -30 ELSE 0 END, -40), 40)
      + LEAST(
              CASE WHEN lower(trim(industry)) IN ('software', 'financial services', 'healthcare') THEN 15 ELSE 0 END
            + CASE WHEN employees BETWEEN 200 AND 5000 THEN 20 ELSE 0 END
            + CASE WHEN employees > 5000 THEN 25 ELSE 0 END, 40)
      + CASE WHEN lower(trim(country)) IN ('us', 'ca', 'gb', 'de') THEN 10 ELSE 0 END
      + CASE WHEN regexp_matches(email, '@(gmail|yahoo|hotmail|outlook)\.com$') THEN -15 ELSE 0 END AS points
    FROM {leads_scan}
)
SELECT f.id AS lead_id,
       LEAST(GREATEST(f.points, 0), 100) AS fit,
       LEAST(GREATEST(coalesce(i.points, 0), 0), 100) AS intent,
       (0.4 * LEAST(GREATEST(f.points, 0), 100) + 0.6 * LEAST(GREATEST(coalesce(i.points, 0), 0), 100)) AS score
FROM fit f LEFT JOIN intent i ON i.lead_id = f.id
) TO '{out}' (FORMAT parquet);
