//! The time-expression parser against the table of time words the bank
//! uses, on the demo's reference date 2026-11-30 unless a case states another.

use chrono::NaiveDate;
use wenshu::semantic::TimeGrain;
use wenshu::understanding::time::{
    CalendarPeriod, DataCoverage, DefaultPeriod, Period, PeriodKind, PeriodSource, TimeContext,
    TimeParse, parse_time, parse_time_in,
};

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid test date")
}

/// Returns the demo warehouse's reference date.
fn reference() -> NaiveDate {
    date(2026, 11, 30)
}

fn only_period(text: &str, reference: NaiveDate) -> Period {
    let parse = parse_time(text, reference);
    let periods: Vec<&Period> = parse.periods().collect();
    assert_eq!(
        periods.len(),
        1,
        "`{text}`: expected one period, got {periods:?}"
    );
    periods[0].clone()
}

/// Asserts that each text has one period from `start` to `end` (clipped).
fn assert_periods(texts: &[&str], reference: NaiveDate, start: NaiveDate, end: NaiveDate) {
    for text in texts {
        let period = only_period(text, reference);
        assert_eq!(period.start, start, "`{text}` on {reference}: start");
        assert_eq!(period.end, end, "`{text}` on {reference}: end");
    }
}

fn assert_kind(text: &str, reference: NaiveDate, expected: PeriodKind) {
    let period = only_period(text, reference);
    assert_eq!(period.kind, expected, "`{text}` on {reference}: kind");
}

fn assert_no_time(text: &str) {
    let parse = parse_time(text, reference());
    assert!(
        parse.expressions.is_empty(),
        "`{text}`: expected no time expression, got {:?}",
        parse.expressions
    );
}

fn span_texts<'a>(parse: &TimeParse, text: &'a str) -> Vec<&'a str> {
    parse.spans().map(|span| &text[span]).collect()
}

// ---------------------------------------------------------------------------
// One test per row of the table of time words

#[test]
fn today_and_synonyms() {
    let texts = [
        "今天存款余额",
        "当前存款余额",
        "目前个人存款余额",
        "现在的存款",
        "最新存款余额",
        "deposits today",
        "balance now",
        "latest balance",
        "current balance",
    ];
    assert_periods(&texts, reference(), reference(), reference());
    assert_kind("今天", reference(), PeriodKind::Day { end_of: None });
}

#[test]
fn yesterday() {
    let day = date(2026, 11, 29);
    assert_periods(
        &["昨天存款余额", "balance yesterday"],
        reference(),
        day,
        day,
    );
}

#[test]
fn this_month() {
    let texts = [
        "本月日均存款",
        "这个月日均存款",
        "当月日均",
        "本月以来日均存款",
        "average daily balance this month",
        "month to date",
    ];
    assert_periods(&texts, reference(), date(2026, 11, 1), reference());
    let mid_month = date(2026, 11, 15);
    let period = only_period("本月", mid_month);
    assert_eq!(period.end, mid_month, "本月 mid-month: end clipped");
    assert_eq!(period.full_end, reference(), "本月 mid-month: full end");
    assert!(period.is_to_date(), "本月 mid-month: to date");
}

#[test]
fn last_month_whole() {
    let texts = ["上月日均存款", "上个月的日均存款", "last month"];
    assert_periods(&texts, reference(), date(2026, 10, 1), date(2026, 10, 31));
    let kind = PeriodKind::Calendar(CalendarPeriod::Month {
        year: 2026,
        month: 10,
    });
    assert_kind("上个月", reference(), kind);
}

#[test]
fn this_quarter() {
    let texts = ["本季度日均", "本季日均", "当季日均", "this quarter"];
    assert_periods(&texts, reference(), date(2026, 10, 1), reference());
}

#[test]
fn last_quarter_whole() {
    let texts = [
        "上季度日均存款",
        "上季日均",
        "上个季度日均",
        "Average daily balance of corporate deposits last quarter",
    ];
    assert_periods(&texts, reference(), date(2026, 7, 1), date(2026, 9, 30));
}

#[test]
fn this_year_to_date() {
    let texts = [
        "今年日均存款",
        "本年日均存款",
        "今年以来个人存款日均是多少？",
        "年初至今日均",
        "年内日均存款",
        "this year",
        "year to date",
        "YTD average daily balance",
    ];
    assert_periods(&texts, reference(), date(2026, 1, 1), reference());
    let period = only_period("今年以来", reference());
    assert_eq!(
        period.kind,
        PeriodKind::Calendar(CalendarPeriod::Year(2026)),
        "今年以来: kind"
    );
    assert_eq!(period.full_end, date(2026, 12, 31), "今年以来: full end");
    assert!(period.is_to_date(), "今年以来: to date");
}

#[test]
fn last_year_whole() {
    let texts = ["去年日均存款", "上年日均", "那去年呢", "last year"];
    assert_periods(&texts, reference(), date(2025, 1, 1), date(2025, 12, 31));
}

#[test]
fn year_before_last() {
    let texts = ["前年日均存款", "the year before last"];
    assert_periods(&texts, reference(), date(2024, 1, 1), date(2024, 12, 31));
}

#[test]
fn written_year() {
    let texts = [
        "2025年日均存款是多少",
        "2025年度利息支出",
        "2025年全年利息支出",
        "interest expense in 2025",
        "FY2025 interest expense",
        "FY 2025",
    ];
    assert_periods(&texts, reference(), date(2025, 1, 1), date(2025, 12, 31));
}

#[test]
fn written_month() {
    let texts = [
        "2025年5月日均",
        "2025-05 日均",
        "2025/05",
        "May 2025",
        "May, 2025",
    ];
    assert_periods(&texts, reference(), date(2025, 5, 1), date(2025, 5, 31));
}

#[test]
fn yearless_month_latest() {
    let texts = [
        "5月日均存款",
        "五月份日均",
        "May deposits",
        "in May",
        "in may",
    ];
    assert_periods(&texts, reference(), date(2026, 5, 1), date(2026, 5, 31));
    assert_periods(
        &["10月份存款偏离度"],
        reference(),
        date(2026, 10, 1),
        date(2026, 10, 31),
    );
    assert_periods(
        &["12月日均存款", "十二月日均存款", "December"],
        reference(),
        date(2025, 12, 1),
        date(2025, 12, 31),
    );
    assert_periods(
        &["11月日均存款"],
        reference(),
        date(2026, 11, 1),
        reference(),
    );
}

#[test]
fn quarter_and_half_of_year() {
    let r = reference();
    let q1 = [
        "一季度日均",
        "第一季度日均",
        "Q1 average daily balance",
        "first quarter",
    ];
    assert_periods(&q1, r, date(2026, 1, 1), date(2026, 3, 31));
    assert_periods(
        &["上半年日均", "H1", "first half"],
        r,
        date(2026, 1, 1),
        date(2026, 6, 30),
    );
    assert_periods(&["下半年日均", "second half"], r, date(2026, 7, 1), r);
    assert_periods(&["四季度日均", "Q4"], r, date(2026, 10, 1), r);

    let with_year = [
        "2025年一季度日均",
        "2025年第一季度",
        "Q1 2025",
        "Q1 of 2025",
        "2025Q1",
    ];
    assert_periods(&with_year, r, date(2025, 1, 1), date(2025, 3, 31));
    let half = [
        "2025年上半年",
        "first half of 2025",
        "H1 2025",
        "去年上半年",
    ];
    assert_periods(&half, r, date(2025, 1, 1), date(2025, 6, 30));
    assert_periods(&["2025年下半年"], r, date(2025, 7, 1), date(2025, 12, 31));
}

#[test]
fn quarter_and_half_before_they_start() {
    let early = date(2026, 2, 10);
    assert_periods(
        &["二季度日均", "Q2"],
        early,
        date(2025, 4, 1),
        date(2025, 6, 30),
    );
    assert_periods(&["下半年日均"], early, date(2025, 7, 1), date(2025, 12, 31));
    assert_periods(&["一季度日均"], early, date(2026, 1, 1), early);
    assert_periods(&["上半年日均"], early, date(2026, 1, 1), early);
    assert_periods(&["5月日均"], early, date(2025, 5, 1), date(2025, 5, 31));
    // A written year is kept even when its part starts after the reference date.
    let period = only_period("2026年二季度", early);
    assert_eq!(period.start, date(2026, 4, 1), "2026年二季度: start");
    assert_eq!(
        period.coverage,
        DataCoverage::AfterReference,
        "2026年二季度: coverage"
    );
}

#[test]
fn written_day() {
    let texts = [
        "2025年12月31日存款余额",
        "2025年12月31号存款余额",
        "2025-12-31 balance",
        "2025/12/31",
        "2025.12.31",
        "December 31, 2025",
        "31 December 2025",
    ];
    let day = date(2025, 12, 31);
    assert_periods(&texts, reference(), day, day);
    assert_periods(
        &["2026年3月15日个人活期存款余额"],
        reference(),
        date(2026, 3, 15),
        date(2026, 3, 15),
    );
    assert_kind("2025-12-31", reference(), PeriodKind::Day { end_of: None });
}

#[test]
fn end_of_period() {
    let r = reference();
    let year_end = date(2025, 12, 31);
    let texts = [
        "2025年末存款余额",
        "2025年年末存款余额",
        "2025年底存款余额",
        "去年末存款余额",
        "去年年底",
        "end of 2025",
        "at the end of 2025",
        "2025 year-end",
        "year-end 2025",
    ];
    assert_periods(&texts, r, year_end, year_end);
    assert_kind(
        "2025年末",
        r,
        PeriodKind::Day {
            end_of: Some(CalendarPeriod::Year(2025)),
        },
    );

    let june = date(2025, 6, 30);
    assert_periods(
        &["2025年6月末对公定期存款余额", "2025年6月底"],
        r,
        june,
        june,
    );
    let september = date(2026, 9, 30);
    let quarter_ends = [
        "2026年三季度末存款余额",
        "三季末",
        "上季度末",
        "上季末",
        "end of Q3 2026",
    ];
    assert_periods(&quarter_ends, r, september, september);
    let october = date(2026, 10, 31);
    assert_periods(
        &["上月末存款", "上个月末", "上月底", "last month end"],
        r,
        october,
        october,
    );
    assert_periods(&["2025年上半年末"], r, june, june);
    // The end of a period that contains the reference date is clipped to it.
    assert_periods(&["本月末", "今年年末"], r, r, r);
}

#[test]
fn as_of() {
    let r = reference();
    let year_end = date(2025, 12, 31);
    let texts = [
        "截至2025年末存款余额",
        "截至2025年存款余额",
        "截止到2025年12月31日",
        "as of 2025-12-31",
        "as of end of 2025",
    ];
    assert_periods(&texts, r, year_end, year_end);
    let october = date(2026, 10, 31);
    assert_periods(
        &["截至上月存款余额", "as of last month"],
        r,
        october,
        october,
    );
    assert_periods(
        &["截止到2025年6月"],
        r,
        date(2025, 6, 30),
        date(2025, 6, 30),
    );
    assert_periods(&["截至目前存款余额", "截至今天", "as of today"], r, r, r);
    assert_kind(
        "截至上月",
        r,
        PeriodKind::Day {
            end_of: Some(CalendarPeriod::Month {
                year: 2026,
                month: 10,
            }),
        },
    );
}

#[test]
fn last_n_days() {
    let r = reference();
    let texts = [
        "近7天存款余额",
        "最近7天",
        "过去7天",
        "近七天存款余额",
        "last 7 days",
        "past seven days",
        "in the last 7 days",
    ];
    assert_periods(&texts, r, date(2026, 11, 24), r);
    assert_periods(&["近30天日均", "最近三十天"], r, date(2026, 11, 1), r);
    let kind = PeriodKind::Rolling {
        count: 7,
        unit: TimeGrain::Day,
    };
    assert_kind("近7天", r, kind);
    assert_eq!(
        only_period("近7天", r).rolling_unit(),
        Some(TimeGrain::Day),
        "近7天: series by day"
    );
}

#[test]
fn last_n_months() {
    let r = reference();
    assert_periods(&["五华支行近6个月存款余额"], r, date(2026, 6, 1), r);
    let three = [
        "近三个月日均存款",
        "最近3个月",
        "过去3个月",
        "近3月日均",
        "last 3 months",
        "past three months",
        "近三个月来",
    ];
    assert_periods(&three, r, date(2026, 9, 1), r);
    assert_periods(
        &["近12个月日均存款趋势", "近十二个月"],
        r,
        date(2025, 12, 1),
        r,
    );

    // The first month is whole and the last runs to the reference date.
    let mid_month = date(2026, 11, 15);
    assert_periods(&["近3个月"], mid_month, date(2026, 9, 1), mid_month);
    let kind = PeriodKind::Rolling {
        count: 6,
        unit: TimeGrain::Month,
    };
    assert_kind("近6个月", r, kind);
}

#[test]
fn past_year_is_twelve_months() {
    let r = reference();
    let texts = [
        "近一年日均存款",
        "过去一年",
        "最近一年",
        "近1年",
        "past year",
        "last 12 months",
        "trailing twelve months",
        "LTM",
    ];
    assert_periods(&texts, r, date(2025, 12, 1), r);
    let kind = PeriodKind::Rolling {
        count: 12,
        unit: TimeGrain::Month,
    };
    assert_kind("近一年", r, kind);
    assert_periods(&["近两年", "past 2 years"], r, date(2024, 12, 1), r);
    assert_periods(&["近半年"], r, date(2026, 6, 1), r);
}

#[test]
fn other_rolling_units() {
    let r = reference();
    // 2026-11-30 is a Monday, so the current ISO week has one day so far.
    assert_periods(&["近两周", "last 2 weeks"], r, date(2026, 11, 23), r);
    assert_periods(&["近三个季度", "past 3 quarters"], r, date(2026, 4, 1), r);
}

#[test]
fn weeks_start_monday() {
    let r = reference();
    assert_periods(&["本周", "this week"], r, r, r);
    assert_periods(
        &["上周", "last week"],
        r,
        date(2026, 11, 23),
        date(2026, 11, 29),
    );
    let thursday = date(2026, 11, 26);
    assert_periods(&["本周"], thursday, date(2026, 11, 23), thursday);
    assert_periods(&["2026年第10周"], r, date(2026, 3, 2), date(2026, 3, 8));
}

// ---------------------------------------------------------------------------
// 去年同期

#[test]
fn same_period_alone_on_reference_day() {
    let context = TimeContext::new(reference());
    let parse = parse_time("去年同期存款余额", reference());
    assert!(parse.has_same_period_last_year(), "flag set");
    assert!(parse.period().is_none(), "no period of its own");

    let resolved = parse.resolve(&context, DefaultPeriod::ReferenceDay, None);
    assert_eq!(resolved.period.start, date(2025, 11, 30), "start");
    assert_eq!(resolved.period.end, date(2025, 11, 30), "end");
    assert!(resolved.same_period_last_year, "resolved as shifted");
    assert_eq!(resolved.source, PeriodSource::MetricDefault, "source");

    let english = parse_time("balance for the same period last year", reference());
    assert!(english.has_same_period_last_year(), "English flag set");
}

#[test]
fn same_period_of_year_to_date() {
    let context = TimeContext::new(reference());
    let parse = parse_time("今年以来日均存款去年同期是多少", reference());
    let resolved = parse.resolve(&context, DefaultPeriod::YearToDate, None);
    assert_eq!(resolved.period.start, date(2025, 1, 1), "start");
    assert_eq!(resolved.period.end, date(2025, 11, 30), "end");
    assert_eq!(resolved.source, PeriodSource::Question, "source");

    let ytd_default = parse_time("去年同期日均存款", reference());
    let resolved = ytd_default.resolve(&context, DefaultPeriod::YearToDate, None);
    assert_eq!(resolved.period.start, date(2025, 1, 1), "default start");
    assert_eq!(resolved.period.end, date(2025, 11, 30), "default end");
}

#[test]
fn same_period_of_previous_turn() {
    let context = TimeContext::new(reference());
    let parse = parse_time("去年同期呢", reference());

    let last_month = only_period("上月日均", reference());
    let resolved = parse.resolve(&context, DefaultPeriod::YearToDate, Some(&last_month));
    assert_eq!(resolved.period.start, date(2025, 10, 1), "上月: start");
    assert_eq!(resolved.period.end, date(2025, 10, 31), "上月: end");
    assert_eq!(resolved.source, PeriodSource::Conversation, "上月: source");

    let month_end = only_period("上月末", reference());
    let resolved = parse.resolve(&context, DefaultPeriod::ReferenceDay, Some(&month_end));
    assert_eq!(resolved.period.end, date(2025, 10, 31), "上月末: end");

    let rolling = only_period("近3个月", reference());
    let resolved = parse.resolve(&context, DefaultPeriod::ReferenceDay, Some(&rolling));
    assert_eq!(resolved.period.start, date(2025, 9, 1), "近3个月: start");
    assert_eq!(resolved.period.end, date(2025, 11, 30), "近3个月: end");

    // The question's own period wins over the conversation's.
    let own = parse_time("2025年5月去年同期", reference());
    let resolved = own.resolve(&context, DefaultPeriod::ReferenceDay, Some(&last_month));
    assert_eq!(resolved.period.start, date(2024, 5, 1), "own period: start");
}

#[test]
fn same_period_in_leap_years() {
    let leap_day = date(2024, 2, 29);
    let context = TimeContext::new(leap_day);

    let alone = parse_time("去年同期", leap_day);
    let resolved = alone.resolve(&context, DefaultPeriod::ReferenceDay, None);
    assert_eq!(resolved.period.end, date(2023, 2, 28), "29 Feb to 28 Feb");

    let year_to_date = parse_time("今年以来去年同期", leap_day);
    let resolved = year_to_date.resolve(&context, DefaultPeriod::ReferenceDay, None);
    assert_eq!(resolved.period.start, date(2023, 1, 1), "ytd start");
    assert_eq!(resolved.period.end, date(2023, 2, 28), "ytd end");

    let context = TimeContext::new(reference());
    let february = only_period("2025年2月", reference());
    let shifted = february
        .same_period_last_year(&context)
        .expect("February 2024 exists");
    assert_eq!(
        shifted.end,
        date(2024, 2, 29),
        "whole February keeps its month end"
    );
    let month_end = only_period("2025年2月末", reference());
    let shifted = month_end
        .same_period_last_year(&context)
        .expect("end of February 2024 exists");
    assert_eq!(
        shifted.end,
        date(2024, 2, 29),
        "month end maps to month end"
    );
}

#[test]
fn same_period_as_comparison_base_skipped() {
    let parse = parse_time("存款比去年同期增长多少", reference());
    assert!(!parse.has_same_period_last_year(), "比去年同期 is a base");
}

// ---------------------------------------------------------------------------
// Year boundaries and leap years

#[test]
fn january_asks_last_month() {
    let january = date(2026, 1, 15);
    let texts = ["上个月日均", "上月日均", "last month"];
    assert_periods(&texts, january, date(2025, 12, 1), date(2025, 12, 31));
    assert_periods(&["本月"], january, date(2026, 1, 1), january);
    assert_periods(&["近3个月"], january, date(2025, 11, 1), january);
    assert_periods(&["上月末"], january, date(2025, 12, 31), date(2025, 12, 31));
}

#[test]
fn first_quarter_asks_last_quarter() {
    let february = date(2026, 2, 10);
    let texts = ["上季度日均", "上个季度", "last quarter"];
    assert_periods(&texts, february, date(2025, 10, 1), date(2025, 12, 31));
    assert_kind(
        "上季度",
        february,
        PeriodKind::Calendar(CalendarPeriod::Quarter {
            year: 2025,
            quarter: 4,
        }),
    );
}

#[test]
fn this_quarter_in_first_quarter() {
    let march = date(2026, 3, 31);
    assert_periods(&["本季度", "this quarter"], march, date(2026, 1, 1), march);
    let new_year = date(2026, 1, 1);
    assert_periods(&["本季度"], new_year, new_year, new_year);
    assert_periods(&["今年"], new_year, new_year, new_year);
}

#[test]
fn weeks_across_new_year() {
    // 2026-01-01 is a Thursday in ISO week 2026-W01, which starts 2025-12-29.
    let new_year = date(2026, 1, 1);
    assert_periods(&["本周"], new_year, date(2025, 12, 29), new_year);
    assert_periods(&["上周"], new_year, date(2025, 12, 22), date(2025, 12, 28));
}

#[test]
fn leap_year_months() {
    let march_end = date(2024, 3, 31);
    assert_periods(&["上个月"], march_end, date(2024, 2, 1), date(2024, 2, 29));
    let leap_day = date(2024, 2, 29);
    assert_periods(&["本月"], leap_day, date(2024, 2, 1), leap_day);
    assert_periods(&["2024年2月末"], reference(), leap_day, leap_day);
    assert_periods(
        &["2025年2月末"],
        reference(),
        date(2025, 2, 28),
        date(2025, 2, 28),
    );
    // The latest 29 February not after the reference date.
    assert_periods(&["2月29日"], reference(), leap_day, leap_day);
}

// ---------------------------------------------------------------------------
// Chinese numerals and full-width digits

#[test]
fn chinese_numerals() {
    let r = reference();
    assert_periods(
        &["二〇二五年日均", "二零二五年"],
        r,
        date(2025, 1, 1),
        date(2025, 12, 31),
    );
    assert_periods(
        &["二〇二五年十二月"],
        r,
        date(2025, 12, 1),
        date(2025, 12, 31),
    );
    let day = date(2025, 12, 31);
    assert_periods(&["二〇二五年十二月三十一日"], r, day, day);
    assert_periods(
        &["第三季度", "三季度"],
        r,
        date(2026, 7, 1),
        date(2026, 9, 30),
    );
    assert_periods(&["近十天"], r, date(2026, 11, 21), r);
}

#[test]
fn full_width_digits() {
    let r = reference();
    assert_periods(&["２０２５年５月"], r, date(2025, 5, 1), date(2025, 5, 31));
    assert_periods(&["近６个月"], r, date(2026, 6, 1), r);
    let text = "近６个月存款余额";
    let parse = parse_time(text, r);
    assert_eq!(
        span_texts(&parse, text),
        ["近６个月"],
        "span covers full-width digit"
    );
}

// ---------------------------------------------------------------------------
// Ranges

#[test]
fn ranges_with_and_without_years() {
    let r = reference();
    let first_half = [
        "2025年1月到6月",
        "2025年1月至6月",
        "2025年1月到2025年6月",
        "从2025年1月到2025年6月",
        "2025年1月 - 2025年6月",
        "2025年1-6月",
        "2025-01 to 2025-06",
        "from January 2025 to June 2025",
        "from Jan to Jun 2025",
        "2025年1月1日至2025年6月30日",
    ];
    assert_periods(&first_half, r, date(2025, 1, 1), date(2025, 6, 30));
    assert_periods(
        &["1-6月", "1月到6月", "一至六月"],
        r,
        date(2026, 1, 1),
        date(2026, 6, 30),
    );
    assert_periods(
        &["2025年11月到2月"],
        r,
        date(2025, 11, 1),
        date(2026, 2, 28),
    );
    assert_periods(&["11月到2月"], r, date(2025, 11, 1), date(2026, 2, 28));
    assert_periods(
        &["2024年到2025年", "from 2024 to 2025", "2024-2025"],
        r,
        date(2024, 1, 1),
        date(2025, 12, 31),
    );
    assert_periods(
        &["一季度到三季度", "前三季度", "between Q1 and Q3", "Q1-Q3"],
        r,
        date(2026, 1, 1),
        date(2026, 9, 30),
    );
    assert_periods(&["2025年前10个月"], r, date(2025, 1, 1), date(2025, 10, 31));
    // A range into the future is clipped at the reference date.
    assert_periods(&["2026年10月到12月"], r, date(2026, 10, 1), r);

    let period = only_period("2025年1月到6月", r);
    let expected = PeriodKind::Range {
        from: Box::new(PeriodKind::Calendar(CalendarPeriod::Month {
            year: 2025,
            month: 1,
        })),
        to: Box::new(PeriodKind::Calendar(CalendarPeriod::Month {
            year: 2025,
            month: 6,
        })),
    };
    assert_eq!(period.kind, expected, "2025年1月到6月: kind");
}

#[test]
fn ranges_up_to_now() {
    let r = reference();
    let since_2025 = [
        "2025年以来",
        "2025年至今",
        "自2025年以来",
        "since 2025",
        "2025 to date",
    ];
    assert_periods(&since_2025, r, date(2025, 1, 1), r);
    let since_june = ["从2025年6月到现在", "2025年6月以来", "since June 2025"];
    assert_periods(&since_june, r, date(2025, 6, 1), r);
    assert_periods(&["6月以来"], r, date(2026, 6, 1), r);
}

#[test]
fn backwards_range_not_joined() {
    let parse = parse_time("2025年到2024年", reference());
    assert_eq!(parse.periods().count(), 2, "two separate periods");
}

#[test]
fn several_periods_in_order() {
    let parse = parse_time("2025年和2024年日均存款对比", reference());
    let starts: Vec<NaiveDate> = parse.periods().map(|period| period.start).collect();
    assert_eq!(starts, [date(2025, 1, 1), date(2024, 1, 1)], "text order");
}

// ---------------------------------------------------------------------------
// Grains, trend and defaults

#[test]
fn grain_words() {
    let cases: &[(&str, TimeGrain)] = &[
        ("每天的存款余额", TimeGrain::Day),
        ("每日存款余额", TimeGrain::Day),
        ("逐日余额", TimeGrain::Day),
        ("按天看", TimeGrain::Day),
        ("daily balance", TimeGrain::Day),
        ("balance by day", TimeGrain::Day),
        ("每周存款", TimeGrain::Week),
        ("按周看", TimeGrain::Week),
        ("weekly balance", TimeGrain::Week),
        ("每月存款余额", TimeGrain::Month),
        ("每个月的存款余额", TimeGrain::Month),
        ("逐月余额", TimeGrain::Month),
        ("按月看", TimeGrain::Month),
        ("月度日均", TimeGrain::Month),
        ("monthly balance", TimeGrain::Month),
        ("balance by month", TimeGrain::Month),
        ("每季度日均", TimeGrain::Quarter),
        ("按季看", TimeGrain::Quarter),
        ("季度日均", TimeGrain::Quarter),
        ("各季度日均", TimeGrain::Quarter),
        ("各季度末存款余额", TimeGrain::Quarter),
        ("quarterly balance", TimeGrain::Quarter),
        ("每年存款", TimeGrain::Year),
        ("按年看", TimeGrain::Year),
        ("年度日均", TimeGrain::Year),
        ("yearly balance", TimeGrain::Year),
        ("by year", TimeGrain::Year),
    ];
    for (text, grain) in cases {
        let parse = parse_time(text, reference());
        assert_eq!(parse.grain(), Some(*grain), "`{text}`: grain");
        assert!(parse.period().is_none(), "`{text}`: no period");
    }
}

#[test]
fn grain_with_period() {
    let parse = parse_time("今年每个月的存款余额", reference());
    assert_eq!(parse.grain(), Some(TimeGrain::Month), "今年每个月: grain");
    let period = parse.period().expect("今年每个月: period");
    assert_eq!(period.start, date(2026, 1, 1), "今年每个月: start");

    let parse = parse_time("2025年各季度日均存款", reference());
    assert_eq!(
        parse.grain(),
        Some(TimeGrain::Quarter),
        "2025年各季度: grain"
    );
    let period = parse.period().expect("2025年各季度: period");
    assert_eq!(period.end, date(2025, 12, 31), "2025年各季度: end");

    let parse = parse_time("近7天每天的余额", reference());
    assert_eq!(parse.grain(), Some(TimeGrain::Day), "近7天每天: grain");
    assert_eq!(parse.periods().count(), 1, "近7天每天: one period");
}

#[test]
fn trend_defaults() {
    let context = TimeContext::new(reference());

    let parse = parse_time("近12个月日均存款趋势", reference());
    assert!(parse.has_trend(), "趋势 flag");
    let resolved = parse.resolve(&context, DefaultPeriod::YearToDate, None);
    assert_eq!(
        resolved.grain,
        Some(TimeGrain::Month),
        "trend without grain: months"
    );
    assert_eq!(
        resolved.period.start,
        date(2025, 12, 1),
        "named period kept"
    );

    for text in [
        "存款余额走势",
        "存款变化情况",
        "deposit trend",
        "balance over time",
    ] {
        let parse = parse_time(text, reference());
        assert!(parse.has_trend(), "`{text}`: trend flag");
        let resolved = parse.resolve(&context, DefaultPeriod::ReferenceDay, None);
        assert_eq!(resolved.period.start, date(2025, 12, 1), "`{text}`: start");
        assert_eq!(resolved.period.end, reference(), "`{text}`: end");
        assert_eq!(resolved.grain, Some(TimeGrain::Month), "`{text}`: grain");
        assert_eq!(
            resolved.source,
            PeriodSource::TrendDefault,
            "`{text}`: source"
        );
    }

    let weekly = parse_time("每周走势", reference());
    let resolved = weekly.resolve(&context, DefaultPeriod::ReferenceDay, None);
    assert_eq!(
        resolved.grain,
        Some(TimeGrain::Week),
        "grain asked for wins"
    );
}

#[test]
fn metric_defaults() {
    let context = TimeContext::new(reference());
    let parse = parse_time("全行存款余额是多少？", reference());

    let day = parse.resolve(&context, DefaultPeriod::ReferenceDay, None);
    assert_eq!(day.period.start, reference(), "balance: start");
    assert_eq!(day.period.end, reference(), "balance: end");
    assert_eq!(day.source, PeriodSource::MetricDefault, "balance: source");
    assert_eq!(day.grain, None, "balance: no grain");

    let year = parse.resolve(&context, DefaultPeriod::YearToDate, None);
    assert_eq!(year.period.start, date(2026, 1, 1), "average: start");
    assert_eq!(year.period.end, reference(), "average: end");

    let month = parse.resolve(&context, DefaultPeriod::ReferenceMonth, None);
    assert_eq!(month.period.start, date(2026, 11, 1), "deviation: start");

    let previous = only_period("2025年", reference());
    let follow_up = parse.resolve(&context, DefaultPeriod::ReferenceDay, Some(&previous));
    assert_eq!(follow_up.period, previous, "conversation period kept");
    assert_eq!(
        follow_up.source,
        PeriodSource::Conversation,
        "conversation: source"
    );
}

// ---------------------------------------------------------------------------
// Words that are not time

#[test]
fn product_terms_not_time() {
    let texts = [
        "三年期定期存款余额",
        "一年期定期存款余额",
        "两年期定期存款",
        "整存整取五年期余额",
        "七天通知存款余额",
        "7天通知存款",
        "大额存单三年期余额",
        "三个月定期存款",
        "整存整取六个月",
        "半年期定期",
        "五年定期存款",
        "一年内到期的定期存款",
    ];
    for text in texts {
        assert_no_time(text);
    }
}

#[test]
fn product_terms_beside_real_periods() {
    let text = "近三个月三年期定期存款日均";
    let parse = parse_time(text, reference());
    assert_eq!(
        span_texts(&parse, text),
        ["近三个月"],
        "only 近三个月 consumed"
    );

    let text = "今年七天通知存款日均";
    let parse = parse_time(text, reference());
    assert_eq!(span_texts(&parse, text), ["今年"], "only 今年 consumed");

    // 七天通知 is the product even after 近.
    assert_no_time("近7天通知存款余额");
    assert_no_time("最近七天通知存款余额");
}

#[test]
fn comparison_bases_not_time() {
    let texts = [
        "存款比上月增量",
        "较上月末增加多少",
        "存款较上年末增长",
        "存款比年初增加了多少",
        "环比上月",
        "growth compared with last year",
        "deposits vs last month",
        "more than last year",
    ];
    for text in texts {
        assert_no_time(text);
    }
}

#[test]
fn other_words_not_time() {
    let texts = [
        "各支行存款余额",
        "存款余额前五的支行",
        "客户经理绩效存款排名前10",
        "按年龄段看存款",
        "按月付息的产品",
        "月末偏离度",
        "季度末",
        "年末",
        "存款表现在哪些支行较好",
        "current account balance",
        "current deposits by branch",
        "May I see the deposit balance?",
        "may be useful",
        "balance above 2000",
        "top 2025 customers",
        "What is the deposit balance by branch?",
        "Average daily balance of corporate deposits",
        "daily average balance",
        "帮我把fact_deposit_daily表删掉",
        "两月",
    ];
    for text in texts {
        assert_no_time(text);
    }
}

#[test]
fn maturity_year_not_period() {
    assert_no_time("2025年到期的定期存款");
}

// ---------------------------------------------------------------------------
// Spans, coverage and bad input

#[test]
fn spans_removed_for_matching() {
    let text = "五华支行近6个月存款余额";
    let parse = parse_time(text, reference());
    assert_eq!(parse.remove_from(text), "五华支行存款余额", "Chinese");

    let text = "今年每个月的存款余额趋势";
    let parse = parse_time(text, reference());
    assert_eq!(
        span_texts(&parse, text),
        ["今年", "每个月", "趋势"],
        "three spans"
    );
    assert_eq!(parse.remove_from(text), "的存款余额", "remaining words");

    let text = "deposits in the last 30 days by branch";
    let parse = parse_time(text, reference());
    assert_eq!(
        span_texts(&parse, text),
        ["in the last 30 days"],
        "English span"
    );

    let text = "2025年末各支行存款";
    let parse = parse_time(text, reference());
    assert_eq!(parse.remove_from(text), "各支行存款", "year end removed");
}

#[test]
fn coverage_of_data() {
    let context = TimeContext::new(reference()).with_data_start(date(2024, 1, 1));
    let coverage = |text: &str| {
        let parse = parse_time_in(text, &context);
        let period = parse
            .period()
            .unwrap_or_else(|| panic!("`{text}`: no period"));
        period.coverage
    };
    assert_eq!(coverage("2025年"), DataCoverage::Full, "2025年");
    assert_eq!(coverage("2023年"), DataCoverage::BeforeData, "2023年");
    assert_eq!(coverage("2023年末"), DataCoverage::BeforeData, "2023年末");
    assert_eq!(
        coverage("近36个月"),
        DataCoverage::StartsBeforeData,
        "近36个月"
    );
    assert_eq!(coverage("2027年"), DataCoverage::AfterReference, "2027年");
    assert_eq!(coverage("明天"), DataCoverage::AfterReference, "明天");
    assert_eq!(
        coverage("今年12月"),
        DataCoverage::AfterReference,
        "今年12月"
    );
    assert_eq!(coverage("明年"), DataCoverage::AfterReference, "明年");

    let future = parse_time_in("2027年", &context);
    let period = future.period().expect("2027年: period");
    assert_eq!(
        period.end,
        date(2027, 12, 31),
        "future period keeps its end"
    );
    assert!(!period.coverage.has_data(), "future period has no data");

    let unknown_start = parse_time("2023年", reference());
    let period = unknown_start.period().expect("2023年: period");
    assert_eq!(
        period.coverage,
        DataCoverage::Full,
        "no data start configured"
    );
}

#[test]
fn bad_input_no_panic() {
    let long_mixed: String = "近6个月😀2025年末 到 截至末以来每月 Q1 may 2025-13-45 ".repeat(250);
    let long_digits = "1".repeat(10_000);
    let long_numerals = "二".repeat(10_000);
    let texts = [
        String::new(),
        "   ".to_string(),
        "📈📉🏦".to_string(),
        "2025年13月".to_string(),
        "2月30日".to_string(),
        "近0天".to_string(),
        "近99999个月".to_string(),
        "9999年".to_string(),
        "1234567890123456789年".to_string(),
        "到到到从截至末末以来".to_string(),
        "from to since as of end of".to_string(),
        "第99季度 第60周 Q9 H3".to_string(),
        "\u{0}\u{FEFF}\u{202E}近3天".to_string(),
        long_mixed,
        long_digits,
        long_numerals,
    ];
    for text in &texts {
        let parse = parse_time(text, reference());
        let mut previous_end = 0;
        for span in parse.spans() {
            let label: String = text.chars().take(20).collect();
            assert!(span.start >= previous_end, "`{label}`: spans in order");
            assert!(span.end <= text.len(), "`{label}`: span inside text");
            assert!(
                text.is_char_boundary(span.start),
                "`{label}`: start boundary"
            );
            assert!(text.is_char_boundary(span.end), "`{label}`: end boundary");
            previous_end = span.end;
        }
    }
}

#[test]
fn invalid_dates_not_consumed() {
    for text in [
        "2025年13月",
        "2月30日",
        "近0天",
        "9999年",
        "第99季度",
        "2025-13-01",
    ] {
        let parse = parse_time(text, reference());
        assert!(parse.period().is_none(), "`{text}`: no period");
    }
}

#[test]
fn long_input_finds_every_expression() {
    let text = "近6个月😀".repeat(2_000);
    assert!(text.chars().count() >= 10_000, "at least 10,000 characters");
    let parse = parse_time(&text, reference());
    assert_eq!(parse.periods().count(), 2_000, "one period per repeat");
}
