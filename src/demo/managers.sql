-- Account managers (two to five a branch, unique synthetic names) and the
-- performance split of each managed account among them.

CREATE TEMP TABLE demo_manager_plan AS
WITH counts AS (
    SELECT
        branch_id,
        2 + floor(4 * demo_unit('manager/count', branch_id, 0))::INTEGER AS manager_count
    FROM dim_branch
),

slots AS (
    SELECT
        branch_id,
        manager_count,
        unnest(range(manager_count)) AS manager_index
    FROM counts
),

numbered_slots AS (
    SELECT
        *,
        row_number() OVER (ORDER BY branch_id, manager_index) AS slot_number
    FROM slots
),

-- Every combination of surname and given name is a distinct string, so
-- taking the first rows of a seeded shuffle gives unique names.
names AS (
    SELECT
        surname || first_given || second_given AS manager_name,
        row_number() OVER (
            ORDER BY hash(getvariable('demo_seed'), 'manager/name', surname, first_given, second_given),
                surname, first_given, second_given
        ) AS name_number
    FROM unnest(['李', '张', '陈', '黄', '刘', '钟', '曾', '古', '叶', '罗', '温', '谢', '杨', '林', '廖',
                 '丘', '侯', '饶', '梁', '王', '吴', '何', '赖', '邓', '朱', '蓝', '萧', '彭']) AS s(surname)
    CROSS JOIN unnest(['伟', '芳', '敏', '静', '丽', '强', '军', '勇', '艳', '杰', '娟', '涛', '明', '秀',
                       '霞', '平', '文', '辉', '玲', '华', '建', '雪', '晓', '志', '慧', '俊', '婷', '宇',
                       '欣', '浩', '佳', '嘉', '锦', '振', '国', '永', '新', '红', '海', '春']) AS f(first_given)
    CROSS JOIN unnest(['', '英', '芬', '东', '林', '峰', '波', '梅', '琳', '斌', '燕', '珍', '荣',
                       '鹏', '亮', '婷', '莹', '然', '坤', '航', '瑶', '健']) AS g(second_given)
    WHERE first_given <> second_given
)

SELECT
    s.branch_id,
    s.manager_count,
    s.manager_index,
    printf('M%s%02d', substr(s.branch_id, 2), s.manager_index + 1) AS manager_id,
    n.manager_name
FROM numbered_slots AS s
JOIN names AS n ON n.name_number = s.slot_number
ORDER BY s.branch_id, s.manager_index;

INSERT INTO dim_account_manager
SELECT manager_id, manager_name, branch_id
FROM demo_manager_plan
ORDER BY manager_id;

-- Most accounts belong to one manager of the booking branch, and about 15 %
-- are split between two or three. Each share pattern sums to exactly 1.
INSERT INTO bridge_account_manager
WITH managed AS (
    SELECT
        a.account_number,
        a.account_id,
        a.branch_id,
        c.manager_count,
        least(c.manager_count, CASE
            WHEN demo_unit('bridge/split', a.account_number, 0) < 0.85 THEN 1
            WHEN demo_unit('bridge/split', a.account_number, 0) < 0.96 THEN 2
            ELSE 3
        END) AS manager_slots,
        floor(c.manager_count * demo_unit('bridge/primary', a.account_number, 0))::INTEGER AS primary_index
    FROM demo_account_plan AS a
    JOIN (SELECT DISTINCT branch_id, manager_count FROM demo_manager_plan) AS c USING (branch_id)
    WHERE NOT a.is_unmanaged
),

patterned AS (
    SELECT
        *,
        CASE manager_slots
            WHEN 1 THEN [1.0000]
            WHEN 2 THEN demo_choice(
                [[0.5000, 0.5000], [0.6000, 0.4000], [0.7000, 0.3000], [0.8000, 0.2000]],
                'bridge/pattern', account_number, 0)
            ELSE demo_choice(
                [[0.5000, 0.3000, 0.2000], [0.4000, 0.3000, 0.3000], [0.6000, 0.2000, 0.2000],
                 [0.3334, 0.3333, 0.3333]],
                'bridge/pattern', account_number, 0)
        END AS shares
    FROM managed
),

split AS (
    SELECT
        *,
        unnest(range(manager_slots)) AS slot
    FROM patterned
)

SELECT
    s.account_id,
    m.manager_id,
    CAST(s.shares[s.slot + 1] AS DECIMAL(5, 4)) AS share
FROM split AS s
JOIN demo_manager_plan AS m
    ON m.branch_id = s.branch_id
    AND m.manager_index = (s.primary_index + s.slot) % s.manager_count
ORDER BY s.account_number, s.slot;
