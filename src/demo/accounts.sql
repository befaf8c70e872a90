-- Account plan: one row per account with its product, channel, booking
-- branch, dates and the parameters of its balance series. dim_customer and
-- dim_account are then filled from the two plans.

CREATE TEMP TABLE demo_account_plan AS
WITH expanded AS (
    SELECT
        c.*,
        unnest(range(c.account_count)) AS account_index
    FROM demo_customer_plan AS c
),

numbered AS (
    SELECT
        e.customer_number,
        e.customer_id,
        e.is_pinned AND e.account_index = 0 AS is_pinned,
        e.customer_type,
        e.customer_segment,
        e.pinned_branch_id,
        e.region_branch_id,
        e.account_index,
        IF(e.account_index = 0,
           e.open_date,
           e.open_date + floor(
               (DATE '2026-11-30' - e.open_date + 1)
               * pow(demo_unit('account/open', e.customer_number, e.account_index), 2.0)
           )::INTEGER) AS open_date,
        row_number() OVER (ORDER BY e.customer_number, e.account_index) AS account_number
    FROM expanded AS e
),

drawn AS (
    SELECT
        n.*,
        demo_unit('account/product', account_number, 0) AS product_draw,
        demo_unit('account/channel', account_number, 0) AS counter_draw,
        demo_unit('account/channel', account_number, 1) AS channel_draw,
        demo_unit('account/branch', account_number, 0) AS branch_draw,
        demo_unit('account/close', account_number, 0) AS close_draw,
        demo_unit('account/close', account_number, 1) AS close_date_draw
    FROM numbered AS n
),

with_product AS (
    SELECT
        d.*,
        CASE
            WHEN is_pinned THEN IF(customer_type = '个人', 'P01', 'P02')
            WHEN customer_type = '个人' AND account_index = 0 AND product_draw < 0.88 THEN 'P01'
            WHEN customer_type = '个人' THEN CASE
                WHEN demo_unit('account/product', account_number, 1) < 0.07 THEN 'P01'
                WHEN demo_unit('account/product', account_number, 1) < 0.15 THEN 'P03'
                WHEN demo_unit('account/product', account_number, 1) < 0.25 THEN 'P04'
                WHEN demo_unit('account/product', account_number, 1) < 0.49 THEN 'P05'
                WHEN demo_unit('account/product', account_number, 1) < 0.57 THEN 'P06'
                WHEN demo_unit('account/product', account_number, 1) < 0.71 THEN 'P07'
                WHEN demo_unit('account/product', account_number, 1) < 0.76 THEN 'P08'
                WHEN demo_unit('account/product', account_number, 1) < 0.86 THEN 'P10'
                WHEN demo_unit('account/product', account_number, 1) < 0.94 THEN 'P11'
                ELSE 'P12'
            END
            -- A company's first account is its basic settlement account.
            WHEN account_index = 0 THEN IF(product_draw < 0.95, 'P02', 'P13')
            -- Small businesses rarely reach the 10-million threshold of a
            -- corporate certificate of deposit.
            WHEN customer_segment = '小微企业' THEN CASE
                WHEN product_draw < 0.10 THEN 'P02'
                WHEN product_draw < 0.35 THEN 'P09'
                WHEN product_draw < 0.50 THEN 'P12'
                WHEN product_draw < 0.65 THEN 'P13'
                ELSE 'P14'
            END
            ELSE CASE
                WHEN product_draw < 0.10 THEN 'P02'
                WHEN product_draw < 0.39 THEN 'P09'
                WHEN product_draw < 0.41 THEN 'P10'
                WHEN product_draw < 0.43 THEN 'P11'
                WHEN product_draw < 0.62 THEN 'P12'
                WHEN product_draw < 0.84 THEN 'P13'
                ELSE 'P14'
            END
        END AS product_id,
        CASE
            WHEN is_pinned AND pinned_branch_id = 'B03' THEN IF(customer_type = '个人', '手机银行', '网上银行')
            WHEN is_pinned THEN '柜面'
            -- Counter openings give way to mobile ones year by year.
            WHEN customer_type = '个人' AND counter_draw < greatest(0.12, 0.60 - 0.08 * (year(open_date) - 2019)) THEN '柜面'
            WHEN customer_type = '个人' THEN CASE
                WHEN channel_draw < 0.45 THEN '手机银行'
                WHEN channel_draw < 0.70 THEN '开放银行'
                WHEN channel_draw < 0.85 THEN '微信小程序'
                ELSE '网上银行'
            END
            WHEN counter_draw < 0.62 THEN '柜面'
            WHEN counter_draw < 0.95 THEN '网上银行'
            ELSE '手机银行'
        END AS open_channel
    FROM drawn AS d
),

booked AS (
    SELECT
        w.*,
        -- 网络金融部 (B03) books open-banking accounts and most mobile ones.
        CASE
            WHEN is_pinned THEN pinned_branch_id
            WHEN open_channel = '开放银行' THEN 'B03'
            WHEN open_channel IN ('手机银行', '微信小程序') AND branch_draw < 0.60 THEN 'B03'
            WHEN open_channel = '网上银行' AND branch_draw < IF(customer_type = '个人', 0.30, 0.15) THEN 'B03'
            ELSE region_branch_id
        END AS branch_id,
        p.term_months,
        p.interest_rate,
        CAST(p.interest_rate * 10000 AS BIGINT) AS rate_units
    FROM with_product AS w
    JOIN dim_product AS p USING (product_id)
),

closed AS (
    SELECT
        b.*,
        CASE
            WHEN is_pinned THEN NULL
            -- A quarter of fixed-term deposits close, each on one of its maturity dates.
            WHEN term_months > 0 THEN IF(
                close_draw < 0.25 AND date_diff('month', open_date, DATE '2026-11-30') >= term_months,
                CAST(open_date + to_months(term_months * (1 + floor(
                    close_date_draw * (date_diff('month', open_date, DATE '2026-11-30') // term_months)
                )::INTEGER)) AS DATE),
                NULL)
            WHEN DATE '2026-11-30' - open_date > 90 AND close_draw < IF(customer_type = '个人', 0.12, 0.08) THEN
                open_date + 45 + floor(close_date_draw * (DATE '2026-11-30' - open_date - 45))::INTEGER
            ELSE NULL
        END AS close_date
    FROM booked AS b
),

sized AS (
    SELECT
        c.*,
        greatest(-3.0, least(3.0, demo_normal('account/level', account_number, 0))) AS level_z,
        demo_unit('account/level', account_number, 1) AS level_draw,
        CASE customer_segment
            WHEN '大中型企业' THEN 3.0
            WHEN '机关团体' THEN 2.5
            ELSE 1.0
        END AS segment_multiplier
    FROM closed AS c
)

SELECT
    account_number,
    printf('A%08d', account_number) AS account_id,
    customer_number,
    customer_id,
    customer_type,
    account_index,
    product_id,
    branch_id,
    open_channel,
    open_date,
    close_date,
    greatest(DATE '2024-01-01', open_date) AS first_day,
    least(DATE '2026-11-30', coalesce(close_date - 1, DATE '2026-11-30')) AS last_day,
    term_months,
    rate_units,
    CASE
        WHEN product_id IN ('P01', 'P02', 'P13') THEN 'flow'
        WHEN product_id IN ('P12', 'P14') THEN 'block'
        ELSE 'term'
    END AS balance_kind,
    -- Opening balance in yuan: log-normal around a product-typical median.
    greatest(IF(is_pinned, 1000.0, 0.0), CASE
        WHEN product_id = 'P01' AND level_draw < 0.05 THEN 30.0 * exp(level_z)
        WHEN product_id = 'P01' THEN 8000.0 * exp(1.3 * level_z)
        WHEN product_id = 'P02' THEN 18000.0 * exp(1.3 * level_z) * segment_multiplier
        WHEN product_id = 'P08' THEN 90000.0 * exp(0.9 * level_z)
        WHEN product_id = 'P09' THEN 180000.0 * exp(0.8 * level_z) * segment_multiplier
        -- Certificates of deposit start at 200 thousand yuan for individuals
        -- and 10 million for institutions.
        WHEN product_id IN ('P10', 'P11') AND customer_type = '个人' THEN 200000.0 + 200000.0 * exp(0.8 * level_z)
        WHEN product_id IN ('P10', 'P11') THEN 10000000.0 * (1.0 + 0.5 * level_draw)
        WHEN product_id = 'P12' AND customer_type = '个人' THEN 50000.0 + 150000.0 * exp(0.7 * level_z)
        WHEN product_id = 'P12' THEN (70000.0 + 180000.0 * exp(0.8 * level_z)) * segment_multiplier
        WHEN product_id = 'P13' THEN 220000.0 * exp(0.9 * level_z) * segment_multiplier
        WHEN product_id = 'P14' THEN 70000.0 * exp(1.1 * level_z) * segment_multiplier
        ELSE 60000.0 * exp(0.9 * level_z)
    END) AS opening_level,
    -- Yearly drift of the balance in log terms.
    IF(customer_type = '个人',
       0.02 + 0.05 * demo_normal('account/growth', account_number, 0),
       0.02 + 0.12 * demo_normal('account/growth', account_number, 0)) AS growth,
    IF(customer_type = '个人', 0.07, 0.22) AS walk_amplitude,
    IF(customer_type = '个人', 0.015, 0.06) AS daily_amplitude,
    demo_unit('account/phase', account_number, 0) AS walk_phase,
    IF(product_id = 'P14', 30, 20) + floor(100 * demo_unit('account/block', account_number, 0))::INTEGER AS block_days,
    -- Accounts without a manager: a quarter of the open-banking ones and a
    -- few mobile ones booked online. Pinned accounts always have one.
    NOT is_pinned AND (
        (open_channel = '开放银行' AND demo_unit('account/unmanaged', account_number, 0) < 0.25)
        OR (branch_id = 'B03' AND open_channel IN ('手机银行', '微信小程序')
            AND demo_unit('account/unmanaged', account_number, 0) < 0.04)
    ) AS is_unmanaged
FROM sized
ORDER BY account_number;

INSERT INTO dim_customer
SELECT
    c.customer_id,
    c.customer_name,
    c.customer_type,
    c.customer_segment,
    c.industry,
    a.branch_id,
    c.is_rural,
    c.open_date
FROM demo_customer_plan AS c
JOIN demo_account_plan AS a ON a.customer_number = c.customer_number AND a.account_index = 0
ORDER BY c.customer_number;

INSERT INTO dim_account
SELECT
    account_id,
    customer_id,
    product_id,
    branch_id,
    open_channel,
    open_date,
    close_date
FROM demo_account_plan
ORDER BY account_number;
