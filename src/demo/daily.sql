-- Daily balances of one calendar month, `$1` being the month index (0 for
-- January 2024). The caller runs the months in order, so rows end up sorted
-- by biz_date and account_id, which lets date filters skip row groups.

INSERT INTO fact_deposit_daily
WITH placed AS (
    SELECT
        d.biz_date,
        d.day_index,
        a.*,
        IF(a.customer_type = '个人', d.personal_factor, d.corporate_factor) AS day_factor,
        (d.biz_date - a.first_day) / 365.25 AS years_in_range,
        -- A smooth random walk: normal draws at knots about a month apart,
        -- joined by a smoothstep. Each account has its own knot phase.
        d.day_index / 30.4375 + a.walk_phase AS walk_position
    FROM demo_calendar AS d
    JOIN demo_account_plan AS a ON d.biz_date BETWEEN a.first_day AND a.last_day
    WHERE d.month_index = $1
),

flow AS (
    SELECT
        *,
        floor(walk_position)::INTEGER AS walk_knot,
        walk_position - floor(walk_position) AS walk_fraction,
        -- Whole terms a fixed-term deposit has completed (0 for other kinds).
        (date_diff('month', open_date, biz_date) - IF(day(biz_date) < day(open_date), 1, 0))
            // greatest(term_months, 1) AS terms_completed
    FROM placed
),

raw AS (
    SELECT
        biz_date,
        account_number,
        account_id,
        customer_id,
        product_id,
        branch_id,
        rate_units,
        CASE balance_kind
            -- Demand deposits move every day.
            WHEN 'flow' THEN
                opening_level
                * exp(growth * years_in_range)
                * (1.0 - 0.7 * exp(-(biz_date - open_date) / 40.0))
                * day_factor
                * exp(walk_amplitude * (
                    (1.0 - walk_fraction * walk_fraction * (3.0 - 2.0 * walk_fraction))
                        * demo_normal('daily/walk', account_number, walk_knot)
                    + walk_fraction * walk_fraction * (3.0 - 2.0 * walk_fraction)
                        * demo_normal('daily/walk', account_number, walk_knot + 1)))
                * exp(daily_amplitude * demo_normal('daily/noise', account_number, day_index))
                -- An account is emptied in its last week before closing.
                * IF(close_date IS NOT NULL AND biz_date >= close_date - 7, 0.0, 1.0)
            -- Notice and margin deposits hold a level for weeks at a time.
            WHEN 'block' THEN
                opening_level
                * exp(growth * years_in_range)
                * exp(0.4 * demo_normal('daily/block', account_number, (biz_date - open_date) // block_days))
            -- Fixed-term deposits change only at maturity, when they renew
            -- with interest and a top-up or a partial withdrawal.
            ELSE
                opening_level
                * pow(1.0 + rate_units / 1000000.0 * term_months / 12.0, terms_completed)
                * exp(0.04 * terms_completed * term_months / 12.0)
                * IF(terms_completed = 0, 1.0,
                     exp(0.15 * demo_normal('daily/renewal', account_number, terms_completed)))
        END AS raw_balance
    FROM flow
),

rounded AS (
    SELECT
        *,
        CAST(round(greatest(raw_balance, 0.0), 2) AS DECIMAL(18, 2)) AS balance
    FROM raw
)

-- Interest in whole cents, rounded half up, computed on integers so that it
-- equals round(balance * interest_rate / 100 / 360, 2) without float error.
SELECT
    biz_date,
    account_id,
    customer_id,
    product_id,
    branch_id,
    balance,
    CAST(
        CAST((CAST(balance * 100 AS HUGEINT) * rate_units + 180000000) // 360000000 AS DECIMAL(18, 2))
            * CAST(0.01 AS DECIMAL(3, 2))
        AS DECIMAL(18, 2)) AS interest_accrued
FROM rounded
ORDER BY biz_date, account_id;
