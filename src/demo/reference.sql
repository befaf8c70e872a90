-- Random numbers and the fixed reference tables.
--
-- Every random draw is a hash of the seed, a salt naming the draw, and the
-- ids it belongs to, so a value never depends on row order or threads. The
-- values depend on DuckDB's hash(), so another DuckDB version may give other
-- data for the same seed.

-- A uniform draw in [0, 1): the top 53 bits of the hash, as a double.
CREATE OR REPLACE TEMP MACRO demo_unit(salt, key, part) AS
    (hash(getvariable('demo_seed'), salt, key, part) >> 11)::DOUBLE / 9007199254740992.0;

-- A standard normal draw (Box-Muller transform of two uniform draws).
CREATE OR REPLACE TEMP MACRO demo_normal(salt, key, part) AS
    sqrt(-2.0 * ln(1.0 - demo_unit(salt || '/radius', key, part)))
        * cos(2.0 * pi() * demo_unit(salt || '/angle', key, part));

-- An element of a list, drawn with equal weights.
CREATE OR REPLACE TEMP MACRO demo_choice(items, salt, key, part) AS
    items[1 + floor(demo_unit(salt, key, part) * len(items))::INTEGER];

INSERT INTO dim_date
SELECT CAST(day AS DATE)
FROM range(DATE '2019-01-01', DATE '2028-01-01', INTERVAL 1 DAY) AS days(day)
ORDER BY 1;

INSERT INTO dim_branch VALUES
    ('B01', '总行营业部', '梅江区', DATE '2017-06-28'),
    ('B02', '梅江支行', '梅江区', DATE '2017-12-18'),
    ('B03', '网络金融部', '梅江区', DATE '2018-03-16'),
    ('B04', '梅县支行', '梅县区', DATE '2018-05-22'),
    ('B05', '兴宁支行', '兴宁市', DATE '2018-07-09'),
    ('B06', '平远支行', '平远县', DATE '2018-08-27'),
    ('B07', '蕉岭支行', '蕉岭县', DATE '2018-09-17'),
    ('B08', '大埔支行', '大埔县', DATE '2018-10-15'),
    ('B09', '丰顺支行', '丰顺县', DATE '2018-11-12'),
    ('B10', '五华支行', '五华县', DATE '2018-12-10');

INSERT INTO dim_product VALUES
    ('P01', '个人活期存款', '活期存款', '活期', 0, 0.2000, '个人'),
    ('P02', '单位活期存款', '活期存款', '活期', 0, 0.2000, '对公'),
    ('P03', '整存整取三个月', '定期存款', '定期', 3, 1.0500, '个人'),
    ('P04', '整存整取六个月', '定期存款', '定期', 6, 1.2500, '个人'),
    ('P05', '整存整取一年期', '定期存款', '定期', 12, 1.4500, '个人'),
    ('P06', '整存整取两年期', '定期存款', '定期', 24, 1.5500, '个人'),
    ('P07', '整存整取三年期', '定期存款', '定期', 36, 1.8000, '个人'),
    ('P08', '整存整取五年期', '定期存款', '定期', 60, 1.8500, '个人'),
    ('P09', '单位定期一年期', '定期存款', '定期', 12, 1.3000, '对公'),
    ('P10', '大额存单一年期', '大额存单', '定期', 12, 1.7000, '通用'),
    ('P11', '大额存单三年期', '大额存单', '定期', 36, 2.1000, '通用'),
    ('P12', '七天通知存款', '通知存款', '定期', 0, 0.8500, '通用'),
    ('P13', '单位协定存款', '协定存款', '活期', 0, 0.8000, '对公'),
    ('P14', '保证金存款', '保证金存款', '活期', 0, 0.3500, '对公');
