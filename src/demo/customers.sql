-- Customer plan: one row per customer with everything later steps draw from.
-- dim_customer is filled from it in accounts.sql, once the branch of each
-- customer's first account is known.
--
-- Customers 0-19 are pinned: one personal and one corporate customer per
-- branch, whose first account opens before the data range and never closes,
-- so that every branch has personal and corporate balances on every day at
-- any scale.

CREATE TEMP TABLE demo_customer_plan AS
WITH numbered AS (
    SELECT
        range AS customer_number,
        range < 20 AS is_pinned,
        demo_unit('customer/region', range, 0) AS region_draw
    FROM range(getvariable('demo_customer_count'))
),

typed AS (
    SELECT
        customer_number,
        is_pinned,
        CASE
            WHEN is_pinned THEN IF(customer_number < 10, '个人', '对公')
            WHEN demo_unit('customer/type', customer_number, 0) < 0.85 THEN '个人'
            ELSE '对公'
        END AS customer_type,
        IF(is_pinned, printf('B%02d', customer_number % 10 + 1), NULL) AS pinned_branch_id,
        -- The physical branch nearest to the customer. 网络金融部 (B03) has
        -- no counter, so it is never a region. Online accounts move there later.
        CASE
            WHEN is_pinned AND customer_number % 10 <> 2 THEN printf('B%02d', customer_number % 10 + 1)
            WHEN is_pinned THEN 'B01'
            WHEN region_draw < 0.16 THEN 'B01'
            WHEN region_draw < 0.31 THEN 'B02'
            WHEN region_draw < 0.44 THEN 'B04'
            WHEN region_draw < 0.58 THEN 'B05'
            WHEN region_draw < 0.65 THEN 'B06'
            WHEN region_draw < 0.72 THEN 'B07'
            WHEN region_draw < 0.80 THEN 'B08'
            WHEN region_draw < 0.88 THEN 'B09'
            ELSE 'B10'
        END AS region_branch_id
    FROM numbered
),

segmented AS (
    SELECT
        t.*,
        CASE
            WHEN customer_type = '个人' THEN '个人'
            WHEN demo_unit('customer/segment', customer_number, 0) < 0.72 THEN '小微企业'
            WHEN demo_unit('customer/segment', customer_number, 0) < 0.88 THEN '大中型企业'
            ELSE '机关团体'
        END AS customer_segment,
        demo_unit('customer/industry', customer_number, 0) AS industry_draw
    FROM typed AS t
),

classified AS (
    SELECT
        s.*,
        CASE
            WHEN customer_segment = '个人' THEN NULL
            WHEN customer_segment = '机关团体' THEN '公共管理'
            WHEN customer_segment = '小微企业' THEN CASE
                WHEN industry_draw < 0.32 THEN '批发和零售业'
                WHEN industry_draw < 0.48 THEN '农林牧渔业'
                WHEN industry_draw < 0.62 THEN '住宿和餐饮业'
                WHEN industry_draw < 0.76 THEN '制造业'
                WHEN industry_draw < 0.84 THEN '建筑业'
                WHEN industry_draw < 0.92 THEN '交通运输业'
                ELSE '信息技术服务业'
            END
            ELSE CASE
                WHEN industry_draw < 0.30 THEN '制造业'
                WHEN industry_draw < 0.50 THEN '建筑业'
                WHEN industry_draw < 0.68 THEN '批发和零售业'
                WHEN industry_draw < 0.80 THEN '交通运输业'
                WHEN industry_draw < 0.90 THEN '信息技术服务业'
                ELSE '农林牧渔业'
            END
        END AS industry,
        b.district
    FROM segmented AS s
    JOIN dim_branch AS b ON b.branch_id = s.region_branch_id
)

SELECT
    customer_number,
    printf('C%07d', customer_number + 1) AS customer_id,
    is_pinned,
    customer_type,
    customer_segment,
    industry,
    pinned_branch_id,
    region_branch_id,
    CASE
        WHEN industry = '农林牧渔业' THEN true
        WHEN customer_type = '对公' THEN demo_unit('customer/rural', customer_number, 0) < 0.06
        WHEN region_branch_id IN ('B01', 'B02') THEN demo_unit('customer/rural', customer_number, 0) < 0.08
        ELSE demo_unit('customer/rural', customer_number, 0) < 0.35
    END AS is_rural,
    -- First relationship date, leaning towards recent years as the bank grows.
    -- Pinned customers open before the data range starts.
    CASE
        WHEN is_pinned THEN DATE '2019-01-01' + floor(1500 * demo_unit('customer/open', customer_number, 0))::INTEGER
        ELSE DATE '2019-01-01'
            + floor(2891 * pow(demo_unit('customer/open', customer_number, 0), 1.6))::INTEGER
    END AS open_date,
    CASE
        WHEN customer_type = '个人' THEN CASE
            WHEN demo_unit('customer/accounts', customer_number, 0) < 0.50 THEN 1
            WHEN demo_unit('customer/accounts', customer_number, 0) < 0.82 THEN 2
            ELSE 3
        END
        ELSE CASE
            WHEN demo_unit('customer/accounts', customer_number, 0) < 0.30 THEN 1
            WHEN demo_unit('customer/accounts', customer_number, 0) < 0.65 THEN 2
            WHEN demo_unit('customer/accounts', customer_number, 0) < 0.90 THEN 3
            ELSE 4
        END
    END AS account_count,
    CASE
        WHEN customer_type = '个人' THEN
            demo_choice(
                ['李', '李', '张', '张', '陈', '陈', '黄', '黄', '刘', '钟', '钟', '曾', '古', '叶', '罗',
                 '温', '谢', '杨', '林', '廖', '丘', '侯', '饶', '梁', '王', '吴', '何', '赖', '邓', '朱',
                 '蓝', '萧', '彭', '潘', '江', '徐', '郭', '熊', '卢', '宋'],
                'customer/surname', customer_number, 0)
            || IF(demo_unit('customer/given', customer_number, 0) < 0.8, '**', '*')
        WHEN customer_segment = '机关团体' THEN
            district
            || demo_choice(
                ['财政局', '教育局', '人民医院', '中医医院', '住房公积金管理中心', '供销合作联社',
                 '城市管理局', '社会保险基金管理中心', '第一中学', '公路事务中心', '水务局', '文化馆'],
                'customer/institution', customer_number, 0)
        ELSE
            IF(customer_segment = '大中型企业',
               demo_choice(['广东', '梅州', '梅州市'], 'customer/prefix', customer_number, 0),
               district)
            || demo_choice(
                ['嘉应', '客都', '梅韵', '围龙', '雁南', '松源', '程江', '琴江', '韩江', '阴那',
                 '明山', '宏达', '永兴', '兴隆', '华盛', '恒丰', '鸿运', '安和', '泰和', '合利',
                 '顺发', '万家', '丰源', '金山', '南口', '石窟', '五指', '三河', '汀江', '百侯'],
                'customer/brand', customer_number, 0)
            || CASE industry
                WHEN '批发和零售业' THEN demo_choice(['商行', '贸易有限公司', '百货商店', '商贸有限公司'], 'customer/suffix', customer_number, 0)
                WHEN '农林牧渔业' THEN demo_choice(['金柚专业合作社', '农业发展有限公司', '茶业有限公司', '生态农场'], 'customer/suffix', customer_number, 0)
                WHEN '住宿和餐饮业' THEN demo_choice(['酒家', '客家菜馆', '餐饮管理有限公司', '大酒店有限公司'], 'customer/suffix', customer_number, 0)
                WHEN '制造业' THEN demo_choice(['陶瓷有限公司', '电子有限公司', '食品厂', '实业有限公司'], 'customer/suffix', customer_number, 0)
                WHEN '建筑业' THEN demo_choice(['建筑工程有限公司', '建设集团有限公司', '装饰工程有限公司'], 'customer/suffix', customer_number, 0)
                WHEN '交通运输业' THEN demo_choice(['物流有限公司', '运输有限公司', '汽车客运有限公司'], 'customer/suffix', customer_number, 0)
                ELSE demo_choice(['网络科技有限公司', '信息技术有限公司', '软件有限公司'], 'customer/suffix', customer_number, 0)
            END
    END AS customer_name
FROM classified
ORDER BY customer_number;
