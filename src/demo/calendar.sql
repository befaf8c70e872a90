-- Day-level factors of the demand-deposit series, one row per day of the data
-- range. Factors multiply the balance of each demand account that day.

CREATE TEMP TABLE demo_calendar AS
WITH days AS (
    SELECT CAST(day AS DATE) AS biz_date
    FROM range(DATE '2024-01-01', DATE '2026-12-01', INTERVAL 1 DAY) AS r(day)
),

placed AS (
    SELECT
        biz_date,
        biz_date - DATE '2024-01-01' AS day_index,
        (year(biz_date) - 2024) * 12 + month(biz_date) - 1 AS month_index,
        -- Days from that year's Spring Festival (春节), from the Chinese calendar.
        biz_date - CASE year(biz_date)
            WHEN 2024 THEN DATE '2024-02-10'
            WHEN 2025 THEN DATE '2025-01-29'
            ELSE DATE '2026-02-17'
        END AS festival_offset,
        -- 1, 2 or 3 on the last day of a month, quarter or year, else 0.
        CASE
            WHEN biz_date <> last_day(biz_date) THEN 0
            WHEN month(biz_date) = 12 THEN 3
            WHEN month(biz_date) IN (3, 6, 9) THEN 2
            ELSE 1
        END AS period_end_rank,
        biz_date + 1 = last_day(biz_date) AS is_day_before_month_end,
        day(biz_date) = 1 AS is_month_start
    FROM days
)

SELECT
    biz_date,
    day_index,
    month_index,
    -- Individuals receive year-end bonuses and migrant workers bring savings
    -- home before the festival, then spend part of it afterwards.
    (1.0
        + 0.06 * exp(-pow((festival_offset + 8) / 12.0, 2))
        - 0.03 * exp(-pow((festival_offset - 20) / 15.0, 2)))
    -- Banks push balances up on period ends (冲时点), and they fall back the
    -- next day.
    * (1.0
        + [0.0, 0.012, 0.025, 0.04][period_end_rank + 1]
        + IF(is_day_before_month_end, 0.006, 0.0)
        - IF(is_month_start, 0.003, 0.0)) AS personal_factor,
    -- Companies pay wages and bonuses before the festival and recover slowly
    -- after it. Monthly salaries leave around the 12th.
    (1.0 - 0.25 * exp(-pow((festival_offset + 4) / IF(festival_offset + 4 < 0, 10.0, 25.0), 2)))
    * (1.0 - 0.03 * exp(-pow((day(biz_date) - 12) / 3.0, 2)))
    * (1.0
        + [0.0, 0.04, 0.08, 0.12][period_end_rank + 1]
        + IF(is_day_before_month_end, 0.02, 0.0)
        - IF(is_month_start, 0.01, 0.0)) AS corporate_factor
FROM placed
ORDER BY biz_date;
