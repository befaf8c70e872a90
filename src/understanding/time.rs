//! Time expressions in a question (今年以来, 近6个月, 2025年末, last quarter),
//! parsed into periods, a grain, a trend flag and 去年同期.
//!
//! [`parse_time`] is pure and deterministic: relative words resolve against
//! the reference date (数据日期) passed in, never against the clock. Every
//! expression comes back with the byte span it consumed, so the caller can
//! remove the spans before it matches metric and dimension words.
//!
//! Parsing runs in two phases. The lexer scans the text once and keeps, at
//! each position, the longest atom: a date or period (2025年5月, 上季度, Q1),
//! a marker (末, 截至, 到, 以来, end of, from), a grain word, a trend word or
//! 去年同期. The combiner then joins adjacent atoms into expressions: a range
//! `X 到 Y`, the end of a period (2025年末), `截至 X` and `X 以来`.
//!
//! Words that only look like time are left alone. Term lengths of deposit
//! products (三年期, 整存整取五年期, 七天通知存款, 三个月定期) stay because a
//! rolling window needs 近, 最近 or 过去 in front of its count, and N天通知 is
//! the notice deposit even after 近. Comparison bases
//! (比上月, 较上年末, than last year) stay because they name what the question's
//! period is compared with, and several of them are metric names (比上月增量).

use std::ops::Range;

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};

use crate::semantic::TimeGrain;

/// The dates that time words resolve against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeContext {
    /// The reference date (数据日期): the last day with data. Period ends are
    /// clipped to it.
    pub reference: NaiveDate,
    /// The first day with data, when known. A period that ends before it is
    /// reported as [`DataCoverage::BeforeData`].
    pub data_start: Option<NaiveDate>,
}

impl TimeContext {
    /// Creates a context with no known first day of data.
    pub fn new(reference: NaiveDate) -> TimeContext {
        TimeContext {
            reference,
            data_start: None,
        }
    }

    /// Sets the first day with data.
    pub fn with_data_start(self, data_start: NaiveDate) -> TimeContext {
        TimeContext {
            data_start: Some(data_start),
            ..self
        }
    }
}

/// A calendar period with a known year. Weeks are ISO weeks, which start on
/// Monday and belong to the ISO week-numbering year.
///
/// Every period that [`parse_time`] returns has a year that chrono can
/// represent, so its [`first_day`](Self::first_day) and
/// [`last_day`](Self::last_day) exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CalendarPeriod {
    Year(i32),
    /// `half` is 1 (January to June) or 2 (July to December).
    Half {
        year: i32,
        half: u32,
    },
    /// `quarter` is 1 to 4.
    Quarter {
        year: i32,
        quarter: u32,
    },
    /// `month` is 1 to 12.
    Month {
        year: i32,
        month: u32,
    },
    /// `week` is 1 to 52 or 53, as the ISO calendar of `year` has it.
    Week {
        year: i32,
        week: u32,
    },
}

impl CalendarPeriod {
    /// Returns the period of `grain` that contains `day`, or `None` for
    /// [`TimeGrain::Day`].
    pub fn containing(grain: TimeGrain, day: NaiveDate) -> Option<CalendarPeriod> {
        let year = day.year();
        let month = day.month();
        match grain {
            TimeGrain::Day => None,
            TimeGrain::Week => {
                let week = day.iso_week();
                Some(CalendarPeriod::Week {
                    year: week.year(),
                    week: week.week(),
                })
            }
            TimeGrain::Month => Some(CalendarPeriod::Month { year, month }),
            TimeGrain::Quarter => Some(CalendarPeriod::Quarter {
                year,
                quarter: (month - 1) / 3 + 1,
            }),
            TimeGrain::Year => Some(CalendarPeriod::Year(year)),
        }
    }

    /// Returns the first day.
    ///
    /// # Panics
    ///
    /// Panics when the year is outside chrono's range or the half, quarter,
    /// month or week number is out of range. Periods built by this module never
    /// are.
    pub fn first_day(self) -> NaiveDate {
        self.bounds()
            .expect("calendar period within chrono's range")
            .0
    }

    /// Returns the last day, before any clipping to the reference date.
    ///
    /// # Panics
    ///
    /// Panics in the same cases as [`first_day`](Self::first_day).
    pub fn last_day(self) -> NaiveDate {
        self.bounds()
            .expect("calendar period within chrono's range")
            .1
    }

    /// Returns the year the period belongs to (the ISO year for a week).
    pub fn year(self) -> i32 {
        match self {
            CalendarPeriod::Year(year)
            | CalendarPeriod::Half { year, .. }
            | CalendarPeriod::Quarter { year, .. }
            | CalendarPeriod::Month { year, .. }
            | CalendarPeriod::Week { year, .. } => year,
        }
    }

    /// Returns the grain of the period, or `None` for a half year, which has
    /// no grain of its own.
    pub fn grain(self) -> Option<TimeGrain> {
        match self {
            CalendarPeriod::Year(_) => Some(TimeGrain::Year),
            CalendarPeriod::Half { .. } => None,
            CalendarPeriod::Quarter { .. } => Some(TimeGrain::Quarter),
            CalendarPeriod::Month { .. } => Some(TimeGrain::Month),
            CalendarPeriod::Week { .. } => Some(TimeGrain::Week),
        }
    }

    /// Returns the period `count` periods of the same size later (earlier
    /// when negative): `Month(2026, 1).offset(-1)` is December 2025.
    pub fn offset(self, count: i64) -> Option<CalendarPeriod> {
        let moved = match self {
            CalendarPeriod::Year(year) => CalendarPeriod::Year(add_years(year, count)?),
            CalendarPeriod::Half { year, half } => {
                let (year, half) = step_index(year, half, 2, count)?;
                CalendarPeriod::Half { year, half }
            }
            CalendarPeriod::Quarter { year, quarter } => {
                let (year, quarter) = step_index(year, quarter, 4, count)?;
                CalendarPeriod::Quarter { year, quarter }
            }
            CalendarPeriod::Month { year, month } => {
                let (year, month) = step_index(year, month, 12, count)?;
                CalendarPeriod::Month { year, month }
            }
            CalendarPeriod::Week { .. } => {
                let (monday, _) = self.bounds()?;
                let moved = shift_days(monday, count.checked_mul(7)?)?;
                CalendarPeriod::containing(TimeGrain::Week, moved)?
            }
        };
        moved.bounds()?;
        Some(moved)
    }

    /// Returns the same period `years` years later (earlier when negative).
    /// Week 53 of a year maps to week 52 when the other year has no week 53.
    pub fn shift_years(self, years: i32) -> Option<CalendarPeriod> {
        let shifted = match self {
            CalendarPeriod::Year(year) => CalendarPeriod::Year(year.checked_add(years)?),
            CalendarPeriod::Half { year, half } => CalendarPeriod::Half {
                year: year.checked_add(years)?,
                half,
            },
            CalendarPeriod::Quarter { year, quarter } => CalendarPeriod::Quarter {
                year: year.checked_add(years)?,
                quarter,
            },
            CalendarPeriod::Month { year, month } => CalendarPeriod::Month {
                year: year.checked_add(years)?,
                month,
            },
            CalendarPeriod::Week { year, week } => {
                let year = year.checked_add(years)?;
                let week = if NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).is_some() {
                    week
                } else {
                    52
                };
                CalendarPeriod::Week { year, week }
            }
        };
        shifted.bounds()?;
        Some(shifted)
    }

    /// Returns the first and the last day, or `None` when the period does not
    /// exist (a year outside chrono's range, week 53 of a 52-week year).
    fn bounds(self) -> Option<(NaiveDate, NaiveDate)> {
        match self {
            CalendarPeriod::Year(year) => Some((ymd(year, 1, 1)?, ymd(year, 12, 31)?)),
            CalendarPeriod::Half { year, half } => {
                if !(1..=2).contains(&half) {
                    return None;
                }
                let first_month = 6 * (half - 1) + 1;
                Some((
                    ymd(year, first_month, 1)?,
                    month_end(year, first_month + 5)?,
                ))
            }
            CalendarPeriod::Quarter { year, quarter } => {
                if !(1..=4).contains(&quarter) {
                    return None;
                }
                let first_month = 3 * (quarter - 1) + 1;
                Some((
                    ymd(year, first_month, 1)?,
                    month_end(year, first_month + 2)?,
                ))
            }
            CalendarPeriod::Month { year, month } => {
                Some((ymd(year, month, 1)?, month_end(year, month)?))
            }
            CalendarPeriod::Week { year, week } => {
                let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)?;
                Some((monday, monday.checked_add_days(Days::new(6))?))
            }
        }
    }
}

/// Kind of period a time expression named. A point-in-time metric (a
/// balance) over a [`Rolling`](Self::Rolling) window is reported as a series
/// of the window's unit, and over the other kinds as one value at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeriodKind {
    /// One day: 今天, 2025年12月31日, or the end of a period (2025年末, 截至上月),
    /// in which case `end_of` is that period.
    Day { end_of: Option<CalendarPeriod> },
    /// A named calendar period: 2025年, 上季度, 5月, 上半年, 本月, 今年.
    Calendar(CalendarPeriod),
    /// `count` units that end with the reference date's unit: 近6个月, 近7天.
    /// Years count as months, so 近一年 is 12 months.
    Rolling { count: u32, unit: TimeGrain },
    /// From the start of `from` to the end of `to`: 2025年1月到6月, 2025年以来.
    Range {
        from: Box<PeriodKind>,
        to: Box<PeriodKind>,
    },
}

impl PeriodKind {
    fn shift_years(&self, years: i32) -> Option<PeriodKind> {
        let shifted = match self {
            PeriodKind::Day { end_of } => PeriodKind::Day {
                end_of: match end_of {
                    Some(period) => Some(period.shift_years(years)?),
                    None => None,
                },
            },
            PeriodKind::Calendar(period) => PeriodKind::Calendar(period.shift_years(years)?),
            PeriodKind::Rolling { .. } => self.clone(),
            PeriodKind::Range { from, to } => PeriodKind::Range {
                from: Box::new(from.shift_years(years)?),
                to: Box::new(to.shift_years(years)?),
            },
        };
        Some(shifted)
    }
}

/// Overlap of a period with the days that have data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataCoverage {
    /// Every day of the clipped period has data, or no first day of data is
    /// configured and the period does not lie after the reference date.
    Full,
    /// The period starts before the first day of data and ends inside it.
    StartsBeforeData,
    /// The whole period is before the first day of data.
    BeforeData,
    /// The whole period is after the reference date.
    AfterReference,
}

impl DataCoverage {
    /// Returns whether at least one day of the period has data.
    pub fn has_data(self) -> bool {
        matches!(self, DataCoverage::Full | DataCoverage::StartsBeforeData)
    }
}

/// A closed range of days `[start, end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveDate,
    /// The last day, clipped to the reference date. A period that lies wholly
    /// after the reference date keeps its unclipped end, so `start <= end`
    /// always holds.
    pub end: NaiveDate,
    /// The last day before clipping: 2026-12-31 for 今年 when the reference
    /// date is 2026-11-30.
    pub full_end: NaiveDate,
    pub kind: PeriodKind,
    pub coverage: DataCoverage,
}

impl Period {
    /// Creates the period of one day.
    pub fn day(day: NaiveDate, context: &TimeContext) -> Period {
        Period::from_interval(Interval::day(day, None), context)
    }

    /// Creates a named calendar period, clipped to the reference date.
    pub fn calendar(period: CalendarPeriod, context: &TimeContext) -> Option<Period> {
        let interval = Interval::calendar(period)?;
        Some(Period::from_interval(interval, context))
    }

    /// Creates the rolling window of `count` units that ends with the
    /// reference date's unit, as 近N天 and 近N个月 do.
    pub fn rolling(count: u32, unit: TimeGrain, context: &TimeContext) -> Option<Period> {
        let interval = Interval::rolling(count, unit, context.reference)?;
        Some(Period::from_interval(interval, context))
    }

    /// Returns the number of days from `start` to `end`, both included.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    /// Returns whether the period was cut at the reference date, as 今年 and
    /// 本月 are.
    pub fn is_to_date(&self) -> bool {
        self.end < self.full_end
    }

    /// Returns the unit of a rolling window: months for 近6个月, days for
    /// 近7天. A balance over such a window is reported as a series of it.
    pub fn rolling_unit(&self) -> Option<TimeGrain> {
        match self.kind {
            PeriodKind::Rolling { unit, .. } => Some(unit),
            _ => None,
        }
    }

    /// Returns the same period one year earlier (去年同期).
    ///
    /// A whole calendar period maps to the whole period of the previous
    /// year, so all of February 2024 maps to all of February 2023, and the
    /// end of a period maps to the end of the previous year's period. A period
    /// cut at the reference date keeps its days: 今年以来 on 2026-11-30 maps to
    /// 2025-01-01..2025-11-30. A 29 February moves to the 28th.
    pub fn same_period_last_year(&self, context: &TimeContext) -> Option<Period> {
        let interval = match &self.kind {
            PeriodKind::Calendar(period) if !self.is_to_date() => {
                Interval::calendar(period.shift_years(-1)?)?
            }
            PeriodKind::Day {
                end_of: Some(period),
            } if period.bounds().map(|(_, last)| last) == Some(self.end) => {
                let previous = period.shift_years(-1)?;
                Interval::day(previous.bounds()?.1, Some(previous))
            }
            kind => {
                let end = shift_date_one_year_back(self.end)?;
                Interval {
                    start: shift_date_one_year_back(self.start)?,
                    full_end: end,
                    kind: kind.shift_years(-1)?,
                }
            }
        };
        Some(Period::from_interval(interval, context))
    }

    fn from_interval(interval: Interval, context: &TimeContext) -> Period {
        debug_assert!(interval.start <= interval.full_end);
        let reference = context.reference;

        let after_reference = interval.start > reference;
        let end = if after_reference {
            interval.full_end
        } else {
            interval.full_end.min(reference)
        };

        let coverage = match context.data_start {
            _ if after_reference => DataCoverage::AfterReference,
            Some(first) if end < first => DataCoverage::BeforeData,
            Some(first) if interval.start < first => DataCoverage::StartsBeforeData,
            _ => DataCoverage::Full,
        };

        Period {
            start: interval.start,
            end,
            full_end: interval.full_end,
            kind: interval.kind,
            coverage,
        }
    }
}

/// Meaning of one time expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeMeaning {
    Period(Period),
    /// A time breakdown: 每月, 按季, 各季度, weekly, by month.
    Grain(TimeGrain),
    /// 趋势, 走势, 变化, trend.
    Trend,
    /// 去年同期, same period last year. It refers to the question's period,
    /// or to the conversation's when the question names none.
    SamePeriodLastYear,
}

/// One time expression and the bytes of the text it consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeExpression {
    /// Byte range in the parsed text, on character boundaries.
    pub span: Range<usize>,
    pub meaning: TimeMeaning,
}

/// Every time expression found in a question, in text order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeParse {
    pub expressions: Vec<TimeExpression>,
}

/// The period a question gets when it names no time. It depends on the
/// metric: a balance is for the reference date, an average, a flow or a rate
/// for the year to date, and 存款偏离度 for the reference month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultPeriod {
    ReferenceDay,
    YearToDate,
    ReferenceMonth,
}

impl DefaultPeriod {
    /// Returns the period on the context's reference date.
    pub fn period(self, context: &TimeContext) -> Period {
        let reference = context.reference;
        let grain = match self {
            DefaultPeriod::ReferenceDay => return Period::day(reference, context),
            DefaultPeriod::YearToDate => TimeGrain::Year,
            DefaultPeriod::ReferenceMonth => TimeGrain::Month,
        };
        CalendarPeriod::containing(grain, reference)
            .and_then(|period| Period::calendar(period, context))
            // Only a reference date at the edge of chrono's range gets here.
            .unwrap_or_else(|| Period::day(reference, context))
    }
}

/// Origin of a resolved period, so that the reply can name the period it
/// used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodSource {
    /// The question named the period.
    Question,
    /// The question named none, so the conversation's previous period applies.
    Conversation,
    /// A trend with no period covers the last 12 months.
    TrendDefault,
    /// The metric's default period.
    MetricDefault,
}

/// Period and grain of a question once defaults apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTime {
    pub period: Period,
    pub grain: Option<TimeGrain>,
    pub source: PeriodSource,
    /// Whether `period` is the source period shifted back one year because
    /// the question asked for 去年同期.
    pub same_period_last_year: bool,
}

impl TimeParse {
    /// Returns the first period in the text.
    pub fn period(&self) -> Option<&Period> {
        self.periods().next()
    }

    /// Returns every period in text order: 2025年和2024年 has two.
    pub fn periods(&self) -> impl Iterator<Item = &Period> {
        self.expressions
            .iter()
            .filter_map(|expression| match &expression.meaning {
                TimeMeaning::Period(period) => Some(period),
                _ => None,
            })
    }

    /// Returns the first grain asked for.
    pub fn grain(&self) -> Option<TimeGrain> {
        self.expressions
            .iter()
            .find_map(|expression| match expression.meaning {
                TimeMeaning::Grain(grain) => Some(grain),
                _ => None,
            })
    }

    /// Returns whether the question requests a trend.
    pub fn has_trend(&self) -> bool {
        self.expressions
            .iter()
            .any(|expression| expression.meaning == TimeMeaning::Trend)
    }

    /// Returns whether the question requests 去年同期.
    pub fn has_same_period_last_year(&self) -> bool {
        self.expressions
            .iter()
            .any(|expression| expression.meaning == TimeMeaning::SamePeriodLastYear)
    }

    /// Returns the byte spans of all expressions, in text order.
    pub fn spans(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.expressions
            .iter()
            .map(|expression| expression.span.clone())
    }

    /// Returns `text` without the spans of the expressions, so
    /// 五华支行近6个月存款余额 becomes 五华支行存款余额. `text` must be the text
    /// that was parsed. Any other text is returned unchanged when a span does
    /// not fit it.
    pub fn remove_from(&self, text: &str) -> String {
        let mut remaining = String::with_capacity(text.len());
        let mut copied_up_to = 0;
        for span in self.spans() {
            let Some(kept) = text.get(copied_up_to..span.start) else {
                return text.to_string();
            };
            remaining.push_str(kept);
            copied_up_to = span.end;
        }
        let Some(tail) = text.get(copied_up_to..) else {
            return text.to_string();
        };
        remaining.push_str(tail);
        remaining
    }

    /// Resolves the period and grain of the question.
    ///
    /// 1. The period is the first one in the question. Without one it is the
    ///    conversation's `previous` period, then the last 12 months for a
    ///    trend, and otherwise the metric's `default`.
    /// 2. 去年同期 shifts that period back one year. The period stays when
    ///    the shift fails, which only a date at the edge of chrono's range
    ///    causes.
    /// 3. The grain is the requested one, or months for a trend.
    pub fn resolve(
        &self,
        context: &TimeContext,
        default: DefaultPeriod,
        previous: Option<&Period>,
    ) -> ResolvedTime {
        let trend = self.has_trend();

        let (base, source) = if let Some(period) = self.period() {
            (period.clone(), PeriodSource::Question)
        } else if let Some(period) = previous {
            (period.clone(), PeriodSource::Conversation)
        } else if trend {
            let last_year = Period::rolling(12, TimeGrain::Month, context)
                .unwrap_or_else(|| default.period(context));
            (last_year, PeriodSource::TrendDefault)
        } else {
            (default.period(context), PeriodSource::MetricDefault)
        };

        let shifted = if self.has_same_period_last_year() {
            base.same_period_last_year(context)
        } else {
            None
        };
        let same_period_last_year = shifted.is_some();
        let period = shifted.unwrap_or(base);

        let grain = self.grain().or(trend.then_some(TimeGrain::Month));

        ResolvedTime {
            period,
            grain,
            source,
            same_period_last_year,
        }
    }
}

/// Parses every time expression in `text` against the reference date, with
/// no known first day of data.
pub fn parse_time(text: &str, reference: NaiveDate) -> TimeParse {
    parse_time_in(text, &TimeContext::new(reference))
}

/// Parses every time expression in `text` against `context`.
pub fn parse_time_in(text: &str, context: &TimeContext) -> TimeParse {
    let normalized = Text::new(text);
    let atoms = Lexer {
        text: &normalized,
        reference: context.reference,
    }
    .atoms();
    let expressions = Combiner {
        text: &normalized,
        atoms: &atoms,
        context,
    }
    .expressions();
    TimeParse { expressions }
}

// ---------------------------------------------------------------------------
// Dates

fn ymd(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

fn month_end(year: i32, month: u32) -> Option<NaiveDate> {
    if month == 12 {
        return ymd(year, 12, 31);
    }
    ymd(year, month + 1, 1)?.pred_opt()
}

fn add_years(year: i32, count: i64) -> Option<i32> {
    i32::try_from(i64::from(year).checked_add(count)?).ok()
}

/// Moves the `index`-th (1-based) of `per_year` periods in `year` by `count`
/// periods and returns the new year and index.
fn step_index(year: i32, index: u32, per_year: i64, count: i64) -> Option<(i32, u32)> {
    let absolute = i64::from(year)
        .checked_mul(per_year)?
        .checked_add(i64::from(index) - 1)?
        .checked_add(count)?;
    let year = i32::try_from(absolute.div_euclid(per_year)).ok()?;
    let index = u32::try_from(absolute.rem_euclid(per_year) + 1).ok()?;
    Some((year, index))
}

fn shift_days(day: NaiveDate, count: i64) -> Option<NaiveDate> {
    if count >= 0 {
        day.checked_add_days(Days::new(count.unsigned_abs()))
    } else {
        day.checked_sub_days(Days::new(count.unsigned_abs()))
    }
}

/// Returns the same day one year earlier. chrono's `checked_sub_months` moves
/// 29 February to the 28th.
fn shift_date_one_year_back(day: NaiveDate) -> Option<NaiveDate> {
    day.checked_sub_months(Months::new(12))
}

/// A period before clipping to the reference date.
#[derive(Debug, Clone)]
struct Interval {
    start: NaiveDate,
    full_end: NaiveDate,
    kind: PeriodKind,
}

impl Interval {
    fn day(day: NaiveDate, end_of: Option<CalendarPeriod>) -> Interval {
        Interval {
            start: day,
            full_end: day,
            kind: PeriodKind::Day { end_of },
        }
    }

    fn calendar(period: CalendarPeriod) -> Option<Interval> {
        let (start, full_end) = period.bounds()?;
        Some(Interval {
            start,
            full_end,
            kind: PeriodKind::Calendar(period),
        })
    }

    /// Returns `count` units that end with the reference date's unit. The
    /// first unit is whole and the last runs to its own end, which [`Period`]
    /// later clips to the reference date.
    fn rolling(count: u32, unit: TimeGrain, reference: NaiveDate) -> Option<Interval> {
        if count == 0 || count > MAX_ROLLING_COUNT {
            return None;
        }
        let earlier = -i64::from(count - 1);
        let (start, full_end) = match CalendarPeriod::containing(unit, reference) {
            None => (shift_days(reference, earlier)?, reference),
            Some(current) => (current.offset(earlier)?.bounds()?.0, current.bounds()?.1),
        };
        Some(Interval {
            start,
            full_end,
            kind: PeriodKind::Rolling { count, unit },
        })
    }

    /// Returns the last day of the interval as a day of its own (月末, 截至):
    /// the end clipped to the reference date unless the interval lies wholly
    /// after it.
    fn last_day(self, reference: NaiveDate) -> Interval {
        let day = if self.start > reference {
            self.full_end
        } else {
            self.full_end.min(reference)
        };
        let end_of = match self.kind {
            PeriodKind::Calendar(period) => Some(period),
            PeriodKind::Day { end_of } => end_of,
            PeriodKind::Rolling { .. } | PeriodKind::Range { .. } => None,
        };
        Interval::day(day, end_of)
    }

    /// Returns the interval from this one's start to the reference date
    /// (X以来, since X). An interval that already reaches the reference date
    /// stays as it is, so 今年以来 is the calendar year 今年.
    fn up_to(self, reference: NaiveDate) -> Interval {
        if self.full_end >= reference {
            return self;
        }
        Interval {
            start: self.start,
            full_end: reference,
            kind: PeriodKind::Range {
                from: Box::new(self.kind),
                to: Box::new(PeriodKind::Day { end_of: None }),
            },
        }
    }
}

/// Maximum count of a rolling window (近10000天 is about 27 years).
const MAX_ROLLING_COUNT: u32 = 10_000;

/// Range of years that a written four-digit year can name. Other four-digit
/// numbers are not years.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=2199;

// ---------------------------------------------------------------------------
// Text and numbers

/// The parsed text as characters, with full-width forms folded to ASCII and
/// the byte offset of each character kept for spans.
struct Text<'a> {
    chars: Vec<char>,
    /// Byte offset of each character, followed by the length of the source.
    offsets: Vec<usize>,
    source: &'a str,
}

impl<'a> Text<'a> {
    fn new(source: &'a str) -> Text<'a> {
        let mut chars = Vec::with_capacity(source.len());
        let mut offsets = Vec::with_capacity(source.len() + 1);
        for (offset, c) in source.char_indices() {
            chars.push(fold_width(c));
            offsets.push(offset);
        }
        offsets.push(source.len());
        Text {
            chars,
            offsets,
            source,
        }
    }

    fn len(&self) -> usize {
        self.chars.len()
    }

    fn at(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    fn before(&self, index: usize) -> Option<char> {
        index.checked_sub(1).and_then(|previous| self.at(previous))
    }

    fn byte_span(&self, chars: Range<usize>) -> Range<usize> {
        let span = self.offsets[chars.start]..self.offsets[chars.end];
        debug_assert!(self.source.is_char_boundary(span.start));
        debug_assert!(self.source.is_char_boundary(span.end));
        span
    }

    /// Returns the end of `literal` when the text has it at `index`.
    fn literal(&self, index: usize, literal: &str) -> Option<usize> {
        let mut position = index;
        for expected in literal.chars() {
            if self.at(position)? != expected {
                return None;
            }
            position += 1;
        }
        Some(position)
    }

    /// Returns the end and value of the longest literal found at `index`.
    fn longest_literal<T: Copy>(&self, index: usize, table: &[(&str, T)]) -> Option<(usize, T)> {
        let mut best: Option<(usize, T)> = None;
        for &(literal, value) in table {
            if let Some(end) = self.literal(index, literal)
                && best.is_none_or(|(best_end, _)| end > best_end)
            {
                best = Some((end, value));
            }
        }
        best
    }

    /// Returns the end of the English `phrase` at `index`. Matching ignores
    /// ASCII case, a space in `phrase` matches one or more whitespace
    /// characters, and a phrase that starts or ends with a letter or digit
    /// must do so at a word boundary.
    fn phrase(&self, index: usize, phrase: &str) -> Option<usize> {
        let starts_with_word = phrase.starts_with(|c: char| c.is_ascii_alphanumeric());
        if starts_with_word && self.before(index).is_some_and(is_word_char) {
            return None;
        }

        let mut position = index;
        for expected in phrase.chars() {
            if expected == ' ' {
                let after = self.skip_spaces(position);
                if after == position {
                    return None;
                }
                position = after;
                continue;
            }
            if self.at(position)?.to_ascii_lowercase() != expected {
                return None;
            }
            position += 1;
        }

        let ends_with_word = phrase.ends_with(|c: char| c.is_ascii_alphanumeric());
        if ends_with_word && self.at(position).is_some_and(is_word_char) {
            return None;
        }
        Some(position)
    }

    fn longest_phrase<T: Copy>(&self, index: usize, table: &[(&str, T)]) -> Option<(usize, T)> {
        let mut best: Option<(usize, T)> = None;
        for &(phrase, value) in table {
            if let Some(end) = self.phrase(index, phrase)
                && best.is_none_or(|(best_end, _)| end > best_end)
            {
                best = Some((end, value));
            }
        }
        best
    }

    fn skip_spaces(&self, index: usize) -> usize {
        let mut position = index;
        while self.at(position).is_some_and(char::is_whitespace) {
            position += 1;
        }
        position
    }

    fn is_blank(&self, chars: Range<usize>) -> bool {
        self.chars[chars].iter().all(|c| c.is_whitespace())
    }

    /// Returns the lowercase ASCII word that ends before `index`, skipping
    /// whitespace, and where it starts.
    fn word_before(&self, index: usize) -> Option<(usize, String)> {
        let mut end = index;
        while end > 0 && self.chars[end - 1].is_whitespace() {
            end -= 1;
        }
        let mut start = end;
        while start > 0 && self.chars[start - 1].is_ascii_alphabetic() {
            start -= 1;
        }
        if start == end {
            return None;
        }
        let word = self.chars[start..end]
            .iter()
            .map(char::to_ascii_lowercase)
            .collect();
        Some((start, word))
    }

    /// Reads the number that starts at `index`: Arabic digits, or Chinese
    /// numerals (十二, 两, 二〇二五). A position inside a run of digits or
    /// numerals starts no number, so 15月 has no month 5.
    fn number(&self, index: usize) -> Option<Number> {
        let first = self.at(index)?;
        if first.is_ascii_digit() {
            if self.before(index).is_some_and(|c| c.is_ascii_digit()) {
                return None;
            }
            let end = self.run_end(index, |c| c.is_ascii_digit());
            let digits = end - index;
            if digits > 9 {
                return None;
            }
            let value = self.chars[index..end]
                .iter()
                .fold(0, |value, c| value * 10 + c.to_digit(10).unwrap_or(0));
            return Some(Number {
                value,
                end,
                digits,
                form: NumberForm::Arabic,
            });
        }

        if !is_chinese_numeral(first) || self.before(index).is_some_and(is_chinese_numeral) {
            return None;
        }
        let end = self.run_end(index, is_chinese_numeral);
        let (value, form) = parse_chinese_numeral(&self.chars[index..end])?;
        Some(Number {
            value,
            end,
            digits: end - index,
            form,
        })
    }

    fn run_end(&self, index: usize, belongs: impl Fn(char) -> bool) -> usize {
        let mut end = index;
        while self.at(end).is_some_and(&belongs) {
            end += 1;
        }
        end
    }
}

fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Letters, digits and `_`, so that fact_deposit_daily has no word "daily".
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberForm {
    Arabic,
    /// Chinese digits read one by one, as years are written: 二〇二五.
    ChineseDigits,
    /// A Chinese count: 五, 十二, 两, 三百六十五.
    ChineseCount,
}

#[derive(Debug, Clone, Copy)]
struct Number {
    value: u32,
    end: usize,
    /// Number of characters the number spans.
    digits: usize,
    form: NumberForm,
}

impl Number {
    /// Returns the value when the number is a count (not 二〇二五) in `range`.
    fn count_in(self, range: std::ops::RangeInclusive<u32>) -> Option<u32> {
        let is_count = self.form != NumberForm::ChineseDigits;
        (is_count && range.contains(&self.value)).then_some(self.value)
    }

    /// Returns the value when the number is written as a four-digit year.
    fn year(self) -> Option<i32> {
        let written_as_digits = self.form != NumberForm::ChineseCount;
        let year = i32::try_from(self.value).ok()?;
        (written_as_digits && self.digits == 4 && YEARS.contains(&year)).then_some(year)
    }
}

fn chinese_digit(c: char) -> Option<u32> {
    let digit = match c {
        '〇' | '零' | '○' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    };
    Some(digit)
}

fn chinese_unit(c: char) -> Option<u32> {
    match c {
        '十' => Some(10),
        '百' => Some(100),
        '千' => Some(1000),
        _ => None,
    }
}

fn is_chinese_numeral(c: char) -> bool {
    chinese_digit(c).is_some() || chinese_unit(c).is_some()
}

/// Parses Chinese numerals: a count with units (十二, 二十四, 一百零五) or
/// digits read one by one (二〇二五). Returns `None` for malformed runs such
/// as 十十 or 二三十, and for runs longer than 12 characters.
fn parse_chinese_numeral(chars: &[char]) -> Option<(u32, NumberForm)> {
    if chars.is_empty() || chars.len() > 12 {
        return None;
    }

    let has_unit = chars.iter().any(|&c| chinese_unit(c).is_some());
    if !has_unit && chars.len() > 1 {
        // Digits are read one by one, as in 二〇二五. 两 is not a digit in
        // this form.
        if chars.contains(&'两') {
            return None;
        }
        let value = chars.iter().try_fold(0u32, |value, &c| {
            value.checked_mul(10)?.checked_add(chinese_digit(c)?)
        })?;
        return Some((value, NumberForm::ChineseDigits));
    }

    let mut total = 0u32;
    let mut pending: Option<u32> = None;
    let mut last_unit = u32::MAX;
    for &c in chars {
        if let Some(unit) = chinese_unit(c) {
            if unit >= last_unit {
                return None;
            }
            total += pending.take().unwrap_or(1) * unit;
            last_unit = unit;
            continue;
        }
        let digit = chinese_digit(c)?;
        if pending.is_some() {
            return None;
        }
        // 零 only fills a gap (一百零五), so it adds nothing.
        if digit != 0 {
            pending = Some(digit);
        }
    }
    Some((total + pending.unwrap_or(0), NumberForm::ChineseCount))
}

fn english_number(text: &Text, index: usize) -> Option<(u32, usize)> {
    const WORDS: &[(&str, u32)] = &[
        ("one", 1),
        ("two", 2),
        ("three", 3),
        ("four", 4),
        ("five", 5),
        ("six", 6),
        ("seven", 7),
        ("eight", 8),
        ("nine", 9),
        ("ten", 10),
        ("eleven", 11),
        ("twelve", 12),
        ("eighteen", 18),
        ("twenty-four", 24),
        ("thirty", 30),
        ("thirty-six", 36),
        ("sixty", 60),
        ("ninety", 90),
    ];
    if let Some((end, value)) = text.longest_phrase(index, WORDS) {
        return Some((value, end));
    }
    let number = text.number(index)?;
    let value = match number.form {
        NumberForm::Arabic => number.value,
        _ => return None,
    };
    Some((value, number.end))
}

// ---------------------------------------------------------------------------
// Lexer

/// A part of a year whose year may be missing: 5月, 一季度, 上半年, 3月15日.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Month(u32),
    MonthDay(u32, u32),
    Quarter(u32),
    Half(u32),
    Week(u32),
}

impl Part {
    fn in_year(self, year: i32) -> Option<Interval> {
        match self {
            Part::Month(month) => Interval::calendar(CalendarPeriod::Month { year, month }),
            Part::MonthDay(month, day) => Some(Interval::day(ymd(year, month, day)?, None)),
            Part::Quarter(quarter) => Interval::calendar(CalendarPeriod::Quarter { year, quarter }),
            Part::Half(half) => Interval::calendar(CalendarPeriod::Half { year, half }),
            Part::Week(week) => Interval::calendar(CalendarPeriod::Week { year, week }),
        }
    }

    /// Returns the part in the latest year in which it does not start after
    /// the reference date: 5月 is May of the reference year, or of the year
    /// before when May has not started yet.
    fn latest(self, reference: NaiveDate) -> Option<Interval> {
        let reference_year = match self {
            Part::Week(_) => reference.iso_week().year(),
            _ => reference.year(),
        };
        // Eight years back finds every 29 February.
        (0..=8)
            .filter_map(|back| reference_year.checked_sub(back))
            .filter_map(|year| self.in_year(year))
            .find(|interval| interval.start <= reference)
    }

    fn grain(self) -> Option<TimeGrain> {
        match self {
            Part::Month(_) => Some(TimeGrain::Month),
            Part::Quarter(_) => Some(TimeGrain::Quarter),
            Part::Week(_) => Some(TimeGrain::Week),
            Part::MonthDay(..) | Part::Half(_) => None,
        }
    }
}

/// A date or period as written, before the year of a yearless part is known.
#[derive(Debug, Clone, Copy)]
enum Spec {
    Day(NaiveDate),
    Named(CalendarPeriod),
    Part(Part),
    /// A range written as one word (1-6月, 前三季度), with the year written
    /// before it, if any.
    Range {
        from: Part,
        to: Part,
        year: Option<i32>,
    },
    Rolling {
        count: u32,
        unit: TimeGrain,
    },
    /// A four-digit number with nothing around it, a year only in English
    /// context (in 2025, from 2024 to 2025).
    BareYear(i32),
}

impl Spec {
    /// Returns the year written in the spec, `None` for a part without one.
    fn written_year(&self) -> Option<i32> {
        match self {
            Spec::Day(day) => Some(day.year()),
            Spec::Named(period) => Some(period.year()),
            Spec::BareYear(year) => Some(*year),
            Spec::Range { year, .. } => *year,
            Spec::Part(_) | Spec::Rolling { .. } => None,
        }
    }

    /// Returns whether the spec takes its year from its context.
    fn needs_year(&self) -> bool {
        matches!(self, Spec::Part(_) | Spec::Range { year: None, .. })
    }

    fn grain(&self) -> Option<TimeGrain> {
        match self {
            Spec::Named(period) => period.grain(),
            Spec::BareYear(_) => Some(TimeGrain::Year),
            Spec::Part(part) => part.grain(),
            Spec::Day(_) | Spec::Range { .. } | Spec::Rolling { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndPlacement {
    /// After the period only: 末, 底, end.
    Suffix,
    /// Before the period only: end of.
    Prefix,
    /// Either side: year-end 2025, 2025 year-end.
    Either,
}

#[derive(Debug, Clone, Copy)]
enum AtomKind {
    Point(Spec),
    /// The last day of the adjacent period; `grain`, when set, must be the
    /// period's grain (年末 after a year, 月底 after a month).
    End {
        grain: Option<TimeGrain>,
        placement: EndPlacement,
    },
    /// 截至, as of.
    AsOf,
    /// 以来, 至今, to date: from the period before it to the reference date.
    UpToNow,
    /// since: from the period after it to the reference date.
    Since,
    /// 从, 自, from.
    From,
    /// between.
    Between,
    /// 到, 至, -, to, through.
    To,
    /// and, after between.
    And,
    Grain(TimeGrain),
    Trend,
    SamePeriodLastYear,
}

#[derive(Debug, Clone)]
struct Atom {
    /// Character range in the text.
    start: usize,
    end: usize,
    kind: AtomKind,
}

/// A word relative to the reference date and the unit it counts in.
#[derive(Debug, Clone, Copy)]
enum Relative {
    Day(i64),
    Week(i64),
    Month(i64),
    Quarter(i64),
    Year(i64),
}

impl Relative {
    fn spec(self, reference: NaiveDate) -> Option<Spec> {
        let (grain, count) = match self {
            Relative::Day(days) => return Some(Spec::Day(shift_days(reference, days)?)),
            Relative::Week(count) => (TimeGrain::Week, count),
            Relative::Month(count) => (TimeGrain::Month, count),
            Relative::Quarter(count) => (TimeGrain::Quarter, count),
            Relative::Year(count) => (TimeGrain::Year, count),
        };
        let current = CalendarPeriod::containing(grain, reference)?;
        Some(Spec::Named(current.offset(count)?))
    }
}

const CHINESE_RELATIVE_WORDS: &[(&str, Relative)] = &[
    ("今天", Relative::Day(0)),
    ("今日", Relative::Day(0)),
    ("当天", Relative::Day(0)),
    ("当日", Relative::Day(0)),
    ("当前", Relative::Day(0)),
    ("目前", Relative::Day(0)),
    ("现在", Relative::Day(0)),
    ("最新", Relative::Day(0)),
    ("昨天", Relative::Day(-1)),
    ("昨日", Relative::Day(-1)),
    ("前天", Relative::Day(-2)),
    ("明天", Relative::Day(1)),
    ("明日", Relative::Day(1)),
    ("本周", Relative::Week(0)),
    ("这周", Relative::Week(0)),
    ("当周", Relative::Week(0)),
    ("本星期", Relative::Week(0)),
    ("这星期", Relative::Week(0)),
    ("这个星期", Relative::Week(0)),
    ("上周", Relative::Week(-1)),
    ("上一周", Relative::Week(-1)),
    ("上星期", Relative::Week(-1)),
    ("上个星期", Relative::Week(-1)),
    ("下周", Relative::Week(1)),
    ("下个星期", Relative::Week(1)),
    ("本月", Relative::Month(0)),
    ("本月份", Relative::Month(0)),
    ("这个月", Relative::Month(0)),
    ("这月", Relative::Month(0)),
    ("当月", Relative::Month(0)),
    ("当前月份", Relative::Month(0)),
    ("月初至今", Relative::Month(0)),
    ("月初以来", Relative::Month(0)),
    ("上月", Relative::Month(-1)),
    ("上月份", Relative::Month(-1)),
    ("上个月", Relative::Month(-1)),
    ("上一个月", Relative::Month(-1)),
    ("上一月", Relative::Month(-1)),
    ("下月", Relative::Month(1)),
    ("下个月", Relative::Month(1)),
    ("本季度", Relative::Quarter(0)),
    ("本季", Relative::Quarter(0)),
    ("当季", Relative::Quarter(0)),
    ("当季度", Relative::Quarter(0)),
    ("这个季度", Relative::Quarter(0)),
    ("这季度", Relative::Quarter(0)),
    ("当前季度", Relative::Quarter(0)),
    ("季初至今", Relative::Quarter(0)),
    ("季初以来", Relative::Quarter(0)),
    ("上季度", Relative::Quarter(-1)),
    ("上季", Relative::Quarter(-1)),
    ("上个季度", Relative::Quarter(-1)),
    ("上一季度", Relative::Quarter(-1)),
    ("上一个季度", Relative::Quarter(-1)),
    ("下季度", Relative::Quarter(1)),
    ("下个季度", Relative::Quarter(1)),
    ("年内", Relative::Year(0)),
    ("年初至今", Relative::Year(0)),
    ("年初以来", Relative::Year(0)),
    ("年初到现在", Relative::Year(0)),
    ("年初到今天", Relative::Year(0)),
];

/// Year words that a month, quarter or half can follow (去年12月, 今年一季度).
const CHINESE_RELATIVE_YEARS: &[(&str, i32)] = &[
    ("大前年", -3),
    ("前年", -2),
    ("去年", -1),
    ("上年", -1),
    ("上一年", -1),
    ("今年", 0),
    ("本年", 0),
    ("明年", 1),
];

/// Characters before 现在 that make it part of another word: 表现在, 实现在.
const NOT_BEFORE_XIANZAI: &[char] = &['表', '实', '出', '体', '发', '呈'];

const ENGLISH_RELATIVE_WORDS: &[(&str, Relative)] = &[
    ("today", Relative::Day(0)),
    ("now", Relative::Day(0)),
    ("right now", Relative::Day(0)),
    ("current", Relative::Day(0)),
    ("currently", Relative::Day(0)),
    ("latest", Relative::Day(0)),
    ("yesterday", Relative::Day(-1)),
    ("tomorrow", Relative::Day(1)),
    ("this week", Relative::Week(0)),
    ("current week", Relative::Week(0)),
    ("week to date", Relative::Week(0)),
    ("week-to-date", Relative::Week(0)),
    ("wtd", Relative::Week(0)),
    ("last week", Relative::Week(-1)),
    ("previous week", Relative::Week(-1)),
    ("prior week", Relative::Week(-1)),
    ("next week", Relative::Week(1)),
    ("this month", Relative::Month(0)),
    ("current month", Relative::Month(0)),
    ("month to date", Relative::Month(0)),
    ("month-to-date", Relative::Month(0)),
    ("mtd", Relative::Month(0)),
    ("last month", Relative::Month(-1)),
    ("previous month", Relative::Month(-1)),
    ("prior month", Relative::Month(-1)),
    ("next month", Relative::Month(1)),
    ("this quarter", Relative::Quarter(0)),
    ("current quarter", Relative::Quarter(0)),
    ("quarter to date", Relative::Quarter(0)),
    ("quarter-to-date", Relative::Quarter(0)),
    ("qtd", Relative::Quarter(0)),
    ("last quarter", Relative::Quarter(-1)),
    ("previous quarter", Relative::Quarter(-1)),
    ("prior quarter", Relative::Quarter(-1)),
    ("next quarter", Relative::Quarter(1)),
    ("this year", Relative::Year(0)),
    ("current year", Relative::Year(0)),
    ("year to date", Relative::Year(0)),
    ("year-to-date", Relative::Year(0)),
    ("ytd", Relative::Year(0)),
    ("so far this year", Relative::Year(0)),
    ("last year", Relative::Year(-1)),
    ("previous year", Relative::Year(-1)),
    ("prior year", Relative::Year(-1)),
    ("the year before last", Relative::Year(-2)),
    ("next year", Relative::Year(1)),
];

/// Words after "current" that make it a product, not a time: a current
/// account or current deposit is a demand deposit (活期).
const CURRENT_AS_PRODUCT: &[&str] = &["account", "accounts", "deposit", "deposits"];

const ENGLISH_MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("jan", 1),
    ("february", 2),
    ("feb", 2),
    ("march", 3),
    ("mar", 3),
    ("april", 4),
    ("apr", 4),
    ("may", 5),
    ("june", 6),
    ("jun", 6),
    ("july", 7),
    ("jul", 7),
    ("august", 8),
    ("aug", 8),
    ("september", 9),
    ("sept", 9),
    ("sep", 9),
    ("october", 10),
    ("oct", 10),
    ("november", 11),
    ("nov", 11),
    ("december", 12),
    ("dec", 12),
];

/// Words before a lowercase "may" that make it the month: in may, since may.
const MONTH_PREPOSITIONS: &[&str] = &[
    "in", "during", "since", "from", "to", "until", "through", "of",
];

const ENGLISH_PARTS: &[(&str, Part)] = &[
    ("q1", Part::Quarter(1)),
    ("q2", Part::Quarter(2)),
    ("q3", Part::Quarter(3)),
    ("q4", Part::Quarter(4)),
    ("first quarter", Part::Quarter(1)),
    ("1st quarter", Part::Quarter(1)),
    ("second quarter", Part::Quarter(2)),
    ("2nd quarter", Part::Quarter(2)),
    ("third quarter", Part::Quarter(3)),
    ("3rd quarter", Part::Quarter(3)),
    ("fourth quarter", Part::Quarter(4)),
    ("4th quarter", Part::Quarter(4)),
    ("h1", Part::Half(1)),
    ("h2", Part::Half(2)),
    ("first half", Part::Half(1)),
    ("1st half", Part::Half(1)),
    ("second half", Part::Half(2)),
    ("2nd half", Part::Half(2)),
];

const CHINESE_MARKERS: &[(&str, AtomKind)] = &[
    ("末", END_SUFFIX),
    ("底", END_SUFFIX),
    ("最后一天", END_SUFFIX),
    ("年末", end_suffix(TimeGrain::Year)),
    ("年底", end_suffix(TimeGrain::Year)),
    ("月末", end_suffix(TimeGrain::Month)),
    ("月底", end_suffix(TimeGrain::Month)),
    ("季末", end_suffix(TimeGrain::Quarter)),
    ("截至", AtomKind::AsOf),
    ("截止", AtomKind::AsOf),
    ("截至到", AtomKind::AsOf),
    ("截止到", AtomKind::AsOf),
    ("截止至", AtomKind::AsOf),
    ("截至于", AtomKind::AsOf),
    ("截止于", AtomKind::AsOf),
    ("以来", AtomKind::UpToNow),
    ("至今", AtomKind::UpToNow),
    ("迄今", AtomKind::UpToNow),
    ("到现在", AtomKind::UpToNow),
    ("至现在", AtomKind::UpToNow),
    ("到目前", AtomKind::UpToNow),
    ("到目前为止", AtomKind::UpToNow),
    ("到今天", AtomKind::UpToNow),
    ("从", AtomKind::From),
    ("自", AtomKind::From),
    ("到", AtomKind::To),
    ("至", AtomKind::To),
    ("~", AtomKind::To),
    ("-", AtomKind::To),
    ("–", AtomKind::To),
    ("—", AtomKind::To),
    ("〜", AtomKind::To),
];

const END_SUFFIX: AtomKind = AtomKind::End {
    grain: None,
    placement: EndPlacement::Suffix,
};

const fn end_suffix(grain: TimeGrain) -> AtomKind {
    AtomKind::End {
        grain: Some(grain),
        placement: EndPlacement::Suffix,
    }
}

const fn end_either(grain: TimeGrain) -> AtomKind {
    AtomKind::End {
        grain: Some(grain),
        placement: EndPlacement::Either,
    }
}

const ENGLISH_MARKERS: &[(&str, AtomKind)] = &[
    ("end", END_SUFFIX),
    (
        "end of",
        AtomKind::End {
            grain: None,
            placement: EndPlacement::Prefix,
        },
    ),
    ("year-end", end_either(TimeGrain::Year)),
    ("year end", end_either(TimeGrain::Year)),
    ("yearend", end_either(TimeGrain::Year)),
    ("quarter-end", end_either(TimeGrain::Quarter)),
    ("quarter end", end_either(TimeGrain::Quarter)),
    ("month-end", end_either(TimeGrain::Month)),
    ("month end", end_either(TimeGrain::Month)),
    ("as of", AtomKind::AsOf),
    ("as at", AtomKind::AsOf),
    ("to date", AtomKind::UpToNow),
    ("so far", AtomKind::UpToNow),
    ("until now", AtomKind::UpToNow),
    ("till now", AtomKind::UpToNow),
    ("up to now", AtomKind::UpToNow),
    ("until today", AtomKind::UpToNow),
    ("to now", AtomKind::UpToNow),
    ("since", AtomKind::Since),
    ("from", AtomKind::From),
    ("between", AtomKind::Between),
    ("to", AtomKind::To),
    ("through", AtomKind::To),
    ("thru", AtomKind::To),
    ("until", AtomKind::To),
    ("till", AtomKind::To),
    ("and", AtomKind::And),
];

const CHINESE_GRAINS: &[(&str, TimeGrain)] = &[
    ("每天", TimeGrain::Day),
    ("每日", TimeGrain::Day),
    ("每一天", TimeGrain::Day),
    ("逐日", TimeGrain::Day),
    ("逐天", TimeGrain::Day),
    ("按天", TimeGrain::Day),
    ("按日", TimeGrain::Day),
    ("分天", TimeGrain::Day),
    ("分日", TimeGrain::Day),
    ("每周", TimeGrain::Week),
    ("每星期", TimeGrain::Week),
    ("每个星期", TimeGrain::Week),
    ("按周", TimeGrain::Week),
    ("逐周", TimeGrain::Week),
    ("各周", TimeGrain::Week),
    ("分周", TimeGrain::Week),
    ("每月", TimeGrain::Month),
    // 哪个月最高 ranks the months of the period.
    ("哪个月", TimeGrain::Month),
    ("哪一个月", TimeGrain::Month),
    ("哪月", TimeGrain::Month),
    ("哪个季度", TimeGrain::Quarter),
    ("哪一季度", TimeGrain::Quarter),
    ("哪季度", TimeGrain::Quarter),
    ("哪一年", TimeGrain::Year),
    ("哪年", TimeGrain::Year),
    ("哪一天", TimeGrain::Day),
    ("哪天", TimeGrain::Day),
    ("每个月", TimeGrain::Month),
    ("逐月", TimeGrain::Month),
    ("按月", TimeGrain::Month),
    ("按月份", TimeGrain::Month),
    ("月度", TimeGrain::Month),
    ("各月", TimeGrain::Month),
    ("各月份", TimeGrain::Month),
    ("各个月", TimeGrain::Month),
    ("分月", TimeGrain::Month),
    ("每月末", TimeGrain::Month),
    ("每月底", TimeGrain::Month),
    ("每个月末", TimeGrain::Month),
    ("每月月末", TimeGrain::Month),
    ("各月末", TimeGrain::Month),
    ("每季度", TimeGrain::Quarter),
    ("每季", TimeGrain::Quarter),
    ("每个季度", TimeGrain::Quarter),
    ("按季", TimeGrain::Quarter),
    ("按季度", TimeGrain::Quarter),
    ("季度", TimeGrain::Quarter),
    ("各季度", TimeGrain::Quarter),
    ("各个季度", TimeGrain::Quarter),
    ("逐季", TimeGrain::Quarter),
    ("逐季度", TimeGrain::Quarter),
    ("分季", TimeGrain::Quarter),
    ("分季度", TimeGrain::Quarter),
    ("每季末", TimeGrain::Quarter),
    ("每季度末", TimeGrain::Quarter),
    ("各季末", TimeGrain::Quarter),
    ("各季度末", TimeGrain::Quarter),
    ("每年", TimeGrain::Year),
    ("按年", TimeGrain::Year),
    ("按年度", TimeGrain::Year),
    ("年度", TimeGrain::Year),
    ("逐年", TimeGrain::Year),
    ("各年度", TimeGrain::Year),
    ("分年", TimeGrain::Year),
    ("分年度", TimeGrain::Year),
    ("每年末", TimeGrain::Year),
    ("每年年末", TimeGrain::Year),
    ("各年末", TimeGrain::Year),
];

/// Characters after a grain word that make it another word: 按年龄 (by age),
/// 按月付息 and 按年计息 (interest terms), 每月期 (a term).
const NOT_AFTER_GRAIN: &[char] = &['龄', '纪', '级', '计', '付', '息', '期', '结', '利'];

/// Characters before a bare 季度, 年度 or 月度 that make it part of a period
/// word, not a grain: 三季度, 上季度, 本年度.
const NOT_BEFORE_BARE_GRAIN: &[char] = &[
    '上', '下', '本', '当', '这', '第', '去', '今', '前', '每', '各',
];

const ENGLISH_GRAINS: &[(&str, TimeGrain)] = &[
    ("daily", TimeGrain::Day),
    ("by day", TimeGrain::Day),
    ("by date", TimeGrain::Day),
    ("per day", TimeGrain::Day),
    ("each day", TimeGrain::Day),
    ("every day", TimeGrain::Day),
    ("day by day", TimeGrain::Day),
    ("weekly", TimeGrain::Week),
    ("by week", TimeGrain::Week),
    ("per week", TimeGrain::Week),
    ("each week", TimeGrain::Week),
    ("every week", TimeGrain::Week),
    ("week by week", TimeGrain::Week),
    ("monthly", TimeGrain::Month),
    ("which month", TimeGrain::Month),
    ("which quarter", TimeGrain::Quarter),
    ("which year", TimeGrain::Year),
    ("which day", TimeGrain::Day),
    ("by month", TimeGrain::Month),
    ("per month", TimeGrain::Month),
    ("each month", TimeGrain::Month),
    ("every month", TimeGrain::Month),
    ("month by month", TimeGrain::Month),
    ("month-by-month", TimeGrain::Month),
    ("quarterly", TimeGrain::Quarter),
    ("by quarter", TimeGrain::Quarter),
    ("per quarter", TimeGrain::Quarter),
    ("each quarter", TimeGrain::Quarter),
    ("every quarter", TimeGrain::Quarter),
    ("quarter by quarter", TimeGrain::Quarter),
    ("yearly", TimeGrain::Year),
    ("annually", TimeGrain::Year),
    ("by year", TimeGrain::Year),
    ("per year", TimeGrain::Year),
    ("each year", TimeGrain::Year),
    ("every year", TimeGrain::Year),
    ("year by year", TimeGrain::Year),
];

const CHINESE_TREND_WORDS: &[(&str, ())] = &[("趋势", ()), ("走势", ()), ("变化", ())];
const ENGLISH_TREND_WORDS: &[(&str, ())] = &[
    ("trend", ()),
    ("trends", ()),
    ("trending", ()),
    ("over time", ()),
];

const CHINESE_SAME_PERIOD_WORDS: &[(&str, ())] =
    &[("去年同期", ()), ("上年同期", ()), ("去年的同期", ())];
const ENGLISH_SAME_PERIOD_WORDS: &[(&str, ())] = &[
    ("same period last year", ()),
    ("same period of last year", ()),
    ("same period a year ago", ()),
    ("same period of the previous year", ()),
    ("same time last year", ()),
];

/// Separators inside a one-word range: 1-6月, 一至三季度.
const RANGE_SEPARATORS: &[(&str, ())] = &[
    ("-", ()),
    ("~", ()),
    ("–", ()),
    ("—", ()),
    ("至", ()),
    ("到", ()),
];

/// Splits the text into atoms, keeping the longest atom at each position.
struct Lexer<'t> {
    text: &'t Text<'t>,
    reference: NaiveDate,
}

impl Lexer<'_> {
    fn atoms(&self) -> Vec<Atom> {
        let mut atoms = Vec::new();
        let mut index = 0;
        while index < self.text.len() {
            match self.longest_atom(index) {
                Some((end, kind)) => {
                    atoms.push(Atom {
                        start: index,
                        end,
                        kind,
                    });
                    index = end;
                }
                None => index += 1,
            }
        }
        atoms
    }

    fn longest_atom(&self, index: usize) -> Option<(usize, AtomKind)> {
        let candidates = [
            self.chinese_year(index),
            self.chinese_part(index),
            self.chinese_relative(index),
            self.chinese_rolling(index),
            self.numeric_date(index),
            self.english_relative(index),
            self.english_rolling(index),
            self.english_month(index),
            self.english_part(index),
            self.english_year(index),
            self.marker(index),
            self.grain(index),
            self.trend(index),
            self.same_period_last_year(index),
        ];
        // The first of equally long candidates wins, so the order above
        // breaks ties.
        let mut best: Option<(usize, AtomKind)> = None;
        for (end, kind) in candidates.into_iter().flatten() {
            if end > index && best.as_ref().is_none_or(|(best_end, _)| end > *best_end) {
                best = Some((end, kind));
            }
        }
        best
    }

    fn point(end: usize, spec: Spec) -> Option<(usize, AtomKind)> {
        Some((end, AtomKind::Point(spec)))
    }

    /// Reads a Chinese year with an optional part: 2025年, 二〇二五年度,
    /// 2025年5月, 2025年三季度, 去年12月, 今年上半年.
    fn chinese_year(&self, index: usize) -> Option<(usize, AtomKind)> {
        let text = self.text;
        let (year, after_year) = self.written_year(index).or_else(|| {
            let (end, offset) = text.longest_literal(index, CHINESE_RELATIVE_YEARS)?;
            Some((self.reference.year().checked_add(offset)?, end))
        })?;

        if let Some((end, part)) = self.chinese_part_of_year(after_year) {
            return Self::point(end, self.part_in_year(part, year)?);
        }
        // 2025年13月 names no valid month, so it is not read as the year 2025
        // either.
        let invalid_part = text.number(after_year).is_some_and(|number| {
            let units = [("月", ()), ("季度", ()), ("周", ())];
            text.longest_literal(number.end, &units).is_some()
        });
        if invalid_part {
            return None;
        }

        let whole_year = [("度", ()), ("全年", ()), ("整年", ()), ("年度", ())];
        let end = text
            .longest_literal(after_year, &whole_year)
            .map_or(after_year, |(end, ())| end);
        Interval::calendar(CalendarPeriod::Year(year))?;
        Self::point(end, Spec::Named(CalendarPeriod::Year(year)))
    }

    /// Reads a four-digit year and 年: 2025年, 二〇二五年.
    fn written_year(&self, index: usize) -> Option<(i32, usize)> {
        let number = self.text.number(index)?;
        let year = number.year()?;
        let end = self.text.literal(number.end, "年")?;
        Some((year, end))
    }

    fn part_in_year(&self, part: PartWord, year: i32) -> Option<Spec> {
        match part {
            PartWord::Single(part) => {
                let interval = part.in_year(year)?;
                match interval.kind {
                    PeriodKind::Calendar(period) => Some(Spec::Named(period)),
                    _ => Some(Spec::Day(interval.start)),
                }
            }
            PartWord::Range(from, to) => Some(Spec::Range {
                from,
                to,
                year: Some(year),
            }),
        }
    }

    /// Reads a part after a year. These are the yearless parts plus 前10个月
    /// (January to October), which only has that meaning after a year.
    fn chinese_part_of_year(&self, index: usize) -> Option<(usize, PartWord)> {
        let first_months = self.text.literal(index, "前").and_then(|after| {
            let number = self.text.number(after)?;
            let months = number.count_in(1..=12)?;
            let end = self.text.literal(number.end, "个月")?;
            Some((end, PartWord::Range(Part::Month(1), Part::Month(months))))
        });
        let part = self.chinese_part_word(index);
        match (first_months, part) {
            (Some(months), Some(part)) if part.0 > months.0 => Some(part),
            (Some(months), _) => Some(months),
            (None, part) => part,
        }
    }

    /// Reads a yearless part: 5月, 五月份, 3月15日, 一季度, 第一季度, 上半年,
    /// 第10周, 1-6月, 前三季度, Q1.
    fn chinese_part(&self, index: usize) -> Option<(usize, AtomKind)> {
        let (end, part) = self.chinese_part_word(index)?;
        let spec = match part {
            PartWord::Single(part) => Spec::Part(part),
            PartWord::Range(from, to) => Spec::Range {
                from,
                to,
                year: None,
            },
        };
        Self::point(end, spec)
    }

    fn chinese_part_word(&self, index: usize) -> Option<(usize, PartWord)> {
        let text = self.text;

        let halves = [("上半年", 1), ("下半年", 2)];
        if let Some((end, half)) = text.longest_literal(index, &halves) {
            return Some((end, PartWord::Single(Part::Half(half))));
        }

        if let Some(end) = text.literal(index, "前")
            && let Some(number) = text.number(end)
            && let Some(quarters) = number.count_in(1..=4)
            && let Some((end, ())) =
                text.longest_literal(number.end, &[("季度", ()), ("个季度", ())])
        {
            let range = PartWord::Range(Part::Quarter(1), Part::Quarter(quarters));
            return Some((end, range));
        }

        let follows_letter = text.before(index).is_some_and(|c| c.is_ascii_alphabetic());
        if !follows_letter && let Some((end, part)) = self.part_code(index) {
            return Some((end, PartWord::Single(part)));
        }

        let ordinal_end = text.literal(index, "第");
        let number_start = ordinal_end.unwrap_or(index);
        let number = text.number(number_start)?;
        let after = number.end;
        // 两 counts (两个月, 两季度) but does not name a month or a quarter.
        if text.chars[number_start..after].contains(&'两') {
            return None;
        }

        if let Some(end) = text
            .literal(after, "季度")
            .or_else(|| self.bare_quarter_end(after))
        {
            let quarter = number.count_in(1..=4)?;
            return Some((end, PartWord::Single(Part::Quarter(quarter))));
        }
        if ordinal_end.is_some() {
            let week = number.count_in(1..=53)?;
            let end = text.literal(after, "周")?;
            return Some((end, PartWord::Single(Part::Week(week))));
        }
        if let Some(end) = text.literal(after, "月") {
            let month = number.count_in(1..=12)?;
            return self.month_and_day(month, end);
        }

        // A range written as one word: 1-6月, 一至三季度.
        let (separator_end, ()) = text.longest_literal(after, RANGE_SEPARATORS)?;
        let last = text.number(separator_end)?;
        if let Some(end) = text.literal(last.end, "月") {
            let from = number.count_in(1..=12)?;
            let to = last.count_in(1..=12)?;
            return Some((end, PartWord::Range(Part::Month(from), Part::Month(to))));
        }
        let end = text.literal(last.end, "季度")?;
        let from = number.count_in(1..=4)?;
        let to = last.count_in(1..=4)?;
        Some((end, PartWord::Range(Part::Quarter(from), Part::Quarter(to))))
    }

    /// Returns the end of 季 when 末 or 底 follows it (三季末). A bare 季 is too
    /// often part of another word.
    fn bare_quarter_end(&self, index: usize) -> Option<usize> {
        let end = self.text.literal(index, "季")?;
        matches!(self.text.at(end), Some('末' | '底')).then_some(end)
    }

    /// Reads Q1 to Q4, H1 or H2 at `index`, with no letter or digit after it.
    /// The caller checks what comes before, because 2025Q1 has a digit there.
    fn part_code(&self, index: usize) -> Option<(usize, Part)> {
        let text = self.text;
        let letter = text.at(index)?.to_ascii_lowercase();
        let number = text.at(index + 1)?.to_digit(10)?;
        if text.at(index + 2).is_some_and(is_word_char) {
            return None;
        }
        let part = match letter {
            'q' if (1..=4).contains(&number) => Part::Quarter(number),
            'h' if (1..=2).contains(&number) => Part::Half(number),
            _ => return None,
        };
        Some((index + 2, part))
    }

    /// Reads what follows 5月: 份, a day (5月15日, 5月15号), or nothing. A
    /// month followed by 期 is a term length (三月期), not a month.
    fn month_and_day(&self, month: u32, after_month: usize) -> Option<(usize, PartWord)> {
        let text = self.text;
        if text.at(after_month) == Some('期') {
            return None;
        }
        if let Some(end) = text.literal(after_month, "份") {
            return Some((end, PartWord::Single(Part::Month(month))));
        }
        let day = text.number(after_month).and_then(|number| {
            let day = number.count_in(1..=31)?;
            let (end, ()) = text.longest_literal(number.end, &[("日", ()), ("号", ())])?;
            Some((end, PartWord::Single(Part::MonthDay(month, day))))
        });
        day.or(Some((after_month, PartWord::Single(Part::Month(month)))))
    }

    fn chinese_relative(&self, index: usize) -> Option<(usize, AtomKind)> {
        let text = self.text;
        let (end, relative) = text.longest_literal(index, CHINESE_RELATIVE_WORDS)?;

        let previous = text.before(index);
        let word = &text.chars[index..end];
        if word == ['现', '在'].as_slice()
            && previous.is_some_and(|c| NOT_BEFORE_XIANZAI.contains(&c))
        {
            return None;
        }
        // 一年内 (within one year) is a term, not this year.
        if word.first() == Some(&'年') && previous.is_some_and(is_chinese_numeral_or_digit) {
            return None;
        }

        Self::point(end, relative.spec(self.reference)?)
    }

    /// Reads a Chinese rolling window: 近6个月, 最近30天, 过去一年, 近三个季度,
    /// 近两周, 近半年.
    fn chinese_rolling(&self, index: usize) -> Option<(usize, AtomKind)> {
        let text = self.text;
        let prefixes = [("近", ()), ("最近", ()), ("过去", ()), ("过去的", ())];
        let (after_prefix, ()) = text.longest_literal(index, &prefixes)?;

        let (end, count, unit) = if let Some(end) = text.literal(after_prefix, "半年") {
            (end, 6, TimeGrain::Month)
        } else {
            let number = text.number(after_prefix)?;
            let count = number.count_in(1..=MAX_ROLLING_COUNT)?;
            let units = [
                ("天", TimeGrain::Day),
                ("日", TimeGrain::Day),
                ("周", TimeGrain::Week),
                ("个周", TimeGrain::Week),
                ("星期", TimeGrain::Week),
                ("个星期", TimeGrain::Week),
                ("月", TimeGrain::Month),
                ("个月", TimeGrain::Month),
                ("季", TimeGrain::Quarter),
                ("季度", TimeGrain::Quarter),
                ("个季度", TimeGrain::Quarter),
                ("年", TimeGrain::Year),
            ];
            let (end, unit) = text.longest_literal(number.end, &units)?;
            if unit == TimeGrain::Year {
                (end, count.checked_mul(12)?, TimeGrain::Month)
            } else {
                (end, count, unit)
            }
        };

        // 近7天通知存款 names the seven-day notice deposit, and 近一年期 names a
        // term length.
        if text.literal(end, "通知").is_some() || text.at(end) == Some('期') {
            return None;
        }
        Interval::rolling(count, unit, self.reference)?;

        let trailing = [("来", ()), ("以来", ()), ("内", ()), ("之内", ())];
        let end = text
            .longest_literal(end, &trailing)
            .map_or(end, |(end, ())| end);
        Self::point(end, Spec::Rolling { count, unit })
    }

    /// Reads a date or period that starts with a four-digit year: 2025-12-31,
    /// 2025/12/31, 2025.12.31, 2025-05, 2025/05, 2025Q1, 2025 H1, 2025上半年,
    /// or the bare year.
    fn numeric_date(&self, index: usize) -> Option<(usize, AtomKind)> {
        let text = self.text;
        if text.before(index).is_some_and(is_word_char) {
            return None;
        }
        let number = text.number(index)?;
        if number.form != NumberForm::Arabic {
            return None;
        }
        let year = number.year()?;
        let after = number.end;

        if let Some(separator @ ('-' | '/' | '.')) = text.at(after)
            && let Some(month_number) = text.number(after + 1)
            && month_number.form == NumberForm::Arabic
            && month_number.digits <= 2
        {
            let month = month_number.count_in(1..=12)?;
            if text.at(month_number.end) == Some(separator)
                && let Some(day_number) = text.number(month_number.end + 1)
                && day_number.form == NumberForm::Arabic
                && day_number.digits <= 2
            {
                let day = ymd(year, month, day_number.value)?;
                return Self::point(day_number.end, Spec::Day(day));
            }
            // 2025.05 reads as a decimal number more often than as a month.
            if separator == '.' {
                return None;
            }
            let period = CalendarPeriod::Month { year, month };
            return Self::point(month_number.end, Spec::Named(period));
        }

        let code_start = match text.at(after) {
            Some(' ' | '-') => after + 1,
            _ => after,
        };
        let halves = [("上半年", Part::Half(1)), ("下半年", Part::Half(2))];
        if let Some((end, part)) = self
            .part_code(code_start)
            .or_else(|| text.longest_literal(after, &halves))
        {
            return Self::point(end, self.part_in_year(PartWord::Single(part), year)?);
        }

        let next = text.at(after);
        if next.is_some_and(|c| is_word_char(c) || matches!(c, '年' | '%' | '.' | '/')) {
            return None;
        }
        Self::point(after, Spec::BareYear(year))
    }

    fn english_relative(&self, index: usize) -> Option<(usize, AtomKind)> {
        let text = self.text;
        let (end, relative) = text.longest_phrase(index, ENGLISH_RELATIVE_WORDS)?;
        let is_current = text.phrase(index, "current") == Some(end);
        if is_current {
            let next_word = text.skip_spaces(end);
            let is_product = CURRENT_AS_PRODUCT
                .iter()
                .any(|word| text.phrase(next_word, word).is_some());
            if is_product {
                return None;
            }
        }
        Self::point(end, relative.spec(self.reference)?)
    }

    /// Reads an English rolling window: last 7 days, past 3 months, trailing
    /// 12 months, past year, LTM.
    fn english_rolling(&self, index: usize) -> Option<(usize, AtomKind)> {
        let text = self.text;
        let twelve_months = [("ltm", ()), ("ttm", ())];
        if let Some((end, ())) = text.longest_phrase(index, &twelve_months) {
            return Self::point(
                end,
                Spec::Rolling {
                    count: 12,
                    unit: TimeGrain::Month,
                },
            );
        }

        let prefixes = [
            ("last", false),
            ("previous", false),
            ("prior", false),
            ("recent", false),
            ("past", true),
            ("trailing", true),
            ("rolling", true),
        ];
        let (after_prefix, takes_bare_unit) = text.longest_phrase(index, &prefixes)?;
        let after_space = text.skip_spaces(after_prefix);
        if after_space == after_prefix {
            return None;
        }

        let counted = english_number(text, after_space).and_then(|(count, end)| {
            let unit_start = text.skip_spaces(end);
            (unit_start > end).then_some((count, unit_start))
        });
        let (count, unit_start) = match counted {
            Some(counted) => counted,
            None if takes_bare_unit => (1, after_space),
            None => return None,
        };

        let units = [
            ("day", TimeGrain::Day),
            ("days", TimeGrain::Day),
            ("week", TimeGrain::Week),
            ("weeks", TimeGrain::Week),
            ("month", TimeGrain::Month),
            ("months", TimeGrain::Month),
            ("quarter", TimeGrain::Quarter),
            ("quarters", TimeGrain::Quarter),
            ("year", TimeGrain::Year),
            ("years", TimeGrain::Year),
        ];
        let (end, unit) = text.longest_phrase(unit_start, &units)?;
        let (count, unit) = if unit == TimeGrain::Year {
            (count.checked_mul(12)?, TimeGrain::Month)
        } else {
            (count, unit)
        };
        Interval::rolling(count, unit, self.reference)?;
        Self::point(end, Spec::Rolling { count, unit })
    }

    /// Reads an English month or day: May 2025, May 15, 2025, 15 May 2025,
    /// Dec. 31 2025, May, May last year.
    fn english_month(&self, index: usize) -> Option<(usize, AtomKind)> {
        let text = self.text;

        let (day_first, name_start) = match text.number(index) {
            Some(number) if number.form == NumberForm::Arabic && number.digits <= 2 => {
                let day = number.count_in(1..=31)?;
                let after = self.ordinal_suffix(number.end);
                let name_start = text.skip_spaces(after);
                if name_start == after {
                    return None;
                }
                (Some(day), name_start)
            }
            _ => (None, index),
        };

        let (name_end, month) = text.longest_phrase(name_start, ENGLISH_MONTHS)?;
        let mut end = match text.at(name_end) {
            Some('.') => name_end + 1,
            _ => name_end,
        };

        let mut day = day_first;
        if day.is_none()
            && let Some(number) = text.number(text.skip_spaces(end))
            && number.form == NumberForm::Arabic
            && number.digits <= 2
            && text.skip_spaces(end) > end
        {
            day = Some(number.count_in(1..=31)?);
            end = self.ordinal_suffix(number.end);
        }

        let year = self.english_year_after(end);
        if let Some((year_end, _)) = year {
            end = year_end;
        }

        if !self.is_month_name(name_start, name_end, year.is_some() || day.is_some()) {
            return None;
        }

        let spec = match (year, day) {
            (Some((_, year)), Some(day)) => Spec::Day(ymd(year, month, day)?),
            (Some((_, year)), None) => Spec::Named(CalendarPeriod::Month { year, month }),
            (None, Some(day)) => Spec::Part(Part::MonthDay(month, day)),
            (None, None) => Spec::Part(Part::Month(month)),
        };
        Self::point(end, spec)
    }

    /// Tells "May" the month from "may" the verb. A lowercase "may" needs a
    /// day, a year or a preposition before it (in may), and "May I", "May we"
    /// and "May you" start a request.
    fn is_month_name(&self, start: usize, end: usize, has_day_or_year: bool) -> bool {
        let text = self.text;
        if text.phrase(start, "may") != Some(end) {
            return true;
        }
        if has_day_or_year {
            return true;
        }
        let after_preposition = text
            .word_before(start)
            .is_some_and(|(_, word)| MONTH_PREPOSITIONS.contains(&word.as_str()));
        if after_preposition {
            return true;
        }
        // NOTE: a caller that lowercases the question loses "May deposits";
        // only "in may" and "may 2025" survive that.
        if text.at(start) == Some('m') {
            return false;
        }
        let next_word = text.skip_spaces(end);
        let requests = ["i", "we", "you"];
        !requests
            .iter()
            .any(|word| text.phrase(next_word, word).is_some())
    }

    fn ordinal_suffix(&self, index: usize) -> usize {
        let suffixes = [("st", ()), ("nd", ()), ("rd", ()), ("th", ())];
        let text = self.text;
        // The suffix follows the digits directly, so it has no word boundary
        // before it; compare the characters by hand.
        for (suffix, ()) in suffixes {
            let mut chars = suffix.chars();
            let (Some(first), Some(second)) = (chars.next(), chars.next()) else {
                continue;
            };
            let matches = text.at(index).map(|c| c.to_ascii_lowercase()) == Some(first)
                && text.at(index + 1).map(|c| c.to_ascii_lowercase()) == Some(second)
                && !text.at(index + 2).is_some_and(is_word_char);
            if matches {
                return index + 2;
            }
        }
        index
    }

    /// Reads the year after an English month or part: " 2025", ", 2025",
    /// " of 2025", " this year", " of last year".
    fn english_year_after(&self, index: usize) -> Option<(usize, i32)> {
        let text = self.text;
        let after_comma = match text.at(index) {
            Some(',') => index + 1,
            _ => index,
        };
        let mut position = text.skip_spaces(after_comma);
        if position == index {
            return None;
        }
        if let Some(after_of) = text.phrase(position, "of ") {
            position = after_of;
        }

        let relative = [("this year", 0), ("last year", -1), ("next year", 1)];
        if let Some((end, offset)) = text.longest_phrase(position, &relative) {
            return Some((end, self.reference.year().checked_add(offset)?));
        }
        let number = text.number(position)?;
        let year = number.year()?;
        let next = text.at(number.end);
        if number.form != NumberForm::Arabic || next.is_some_and(|c| is_word_char(c) || c == '年')
        {
            return None;
        }
        Some((number.end, year))
    }

    /// Reads an English quarter, half or week: Q1 2025, Q1 of last year, first
    /// half of 2025, H2, week 10, week 10 of 2025.
    fn english_part(&self, index: usize) -> Option<(usize, AtomKind)> {
        let text = self.text;
        let (end, part) = text.longest_phrase(index, ENGLISH_PARTS).or_else(|| {
            let after_week = text.phrase(index, "week ")?;
            let number = text.number(after_week)?;
            if number.form != NumberForm::Arabic {
                return None;
            }
            Some((number.end, Part::Week(number.count_in(1..=53)?)))
        })?;

        let Some((year_end, year)) = self.english_year_after(end) else {
            return Self::point(end, Spec::Part(part));
        };
        Self::point(year_end, self.part_in_year(PartWord::Single(part), year)?)
    }

    /// Reads an English year with a prefix: FY2025, FY 2025, fiscal year 2025,
    /// fiscal 2025, year 2025. The bank's fiscal year is the calendar year.
    fn english_year(&self, index: usize) -> Option<(usize, AtomKind)> {
        let text = self.text;
        let fiscal_year_code = text.before(index).is_none_or(|c| !is_word_char(c))
            && text.at(index).map(|c| c.to_ascii_lowercase()) == Some('f')
            && text.at(index + 1).map(|c| c.to_ascii_lowercase()) == Some('y');
        let year_start = if fiscal_year_code {
            text.skip_spaces(index + 2)
        } else {
            let prefixes = [
                ("fiscal year ", ()),
                ("fiscal ", ()),
                ("year ", ()),
                ("calendar year ", ()),
            ];
            text.longest_phrase(index, &prefixes)?.0
        };

        let number = text.number(year_start)?;
        if number.form != NumberForm::Arabic || text.at(number.end).is_some_and(is_word_char) {
            return None;
        }
        let year = number.year()?;
        Self::point(number.end, Spec::Named(CalendarPeriod::Year(year)))
    }

    fn marker(&self, index: usize) -> Option<(usize, AtomKind)> {
        let chinese = self.text.longest_literal(index, CHINESE_MARKERS);
        let english = self.text.longest_phrase(index, ENGLISH_MARKERS);
        match (chinese, english) {
            (Some(chinese), Some(english)) if english.0 > chinese.0 => Some(english),
            (Some(chinese), _) => Some(chinese),
            (None, english) => english,
        }
    }

    fn grain(&self, index: usize) -> Option<(usize, AtomKind)> {
        let text = self.text;
        if let Some((end, grain)) = text.longest_literal(index, CHINESE_GRAINS) {
            if text.at(end).is_some_and(|c| NOT_AFTER_GRAIN.contains(&c)) {
                return None;
            }
            let word = &text.chars[index..end];
            let is_bare = matches!(word, ['季', '度'] | ['年', '度'] | ['月', '度']);
            let previous = text.before(index);
            if is_bare
                && previous.is_some_and(|c| {
                    NOT_BEFORE_BARE_GRAIN.contains(&c) || is_chinese_numeral_or_digit(c)
                })
            {
                return None;
            }
            // 季度末 alone names no period, and 季度 in it is no breakdown.
            if is_bare && matches!(text.at(end), Some('末' | '底')) {
                return None;
            }
            return Some((end, AtomKind::Grain(grain)));
        }

        let (end, grain) = text.longest_phrase(index, ENGLISH_GRAINS)?;
        // An average daily balance (日均) requests no daily breakdown.
        let is_daily = text.phrase(index, "daily") == Some(end);
        if is_daily {
            let after_average = text
                .word_before(index)
                .is_some_and(|(_, word)| matches!(word.as_str(), "average" | "avg"));
            let next_word = text.skip_spaces(end);
            let before_average = ["average", "avg", "mean"]
                .iter()
                .any(|word| text.phrase(next_word, word).is_some());
            if after_average || before_average {
                return None;
            }
        }
        Some((end, AtomKind::Grain(grain)))
    }

    fn trend(&self, index: usize) -> Option<(usize, AtomKind)> {
        let (end, ()) = self
            .text
            .longest_literal(index, CHINESE_TREND_WORDS)
            .or_else(|| self.text.longest_phrase(index, ENGLISH_TREND_WORDS))?;
        Some((end, AtomKind::Trend))
    }

    fn same_period_last_year(&self, index: usize) -> Option<(usize, AtomKind)> {
        let (end, ()) = self
            .text
            .longest_literal(index, CHINESE_SAME_PERIOD_WORDS)
            .or_else(|| self.text.longest_phrase(index, ENGLISH_SAME_PERIOD_WORDS))?;
        Some((end, AtomKind::SamePeriodLastYear))
    }
}

/// A part as written, alone or as a one-word range.
#[derive(Debug, Clone, Copy)]
enum PartWord {
    Single(Part),
    Range(Part, Part),
}

fn is_chinese_numeral_or_digit(c: char) -> bool {
    c.is_ascii_digit() || is_chinese_numeral(c)
}

// ---------------------------------------------------------------------------
// Combiner

/// A period as written, and whether its last day was requested (2025年末).
#[derive(Debug, Clone)]
struct Term {
    spec: Spec,
    end_of: bool,
}

/// English words before a period that belong to it: in 2025, during the
/// last 30 days, at the end of 2025.
const ENGLISH_PREPOSITIONS: &[&str] =
    &["in", "during", "for", "over", "within", "throughout", "at"];

/// Joins adjacent atoms into expressions.
struct Combiner<'a> {
    text: &'a Text<'a>,
    atoms: &'a [Atom],
    context: &'a TimeContext,
}

/// A period expression found at some atom.
struct Found {
    interval: Interval,
    /// Character range in the text.
    start: usize,
    end: usize,
    /// Index of the first atom after the expression.
    next: usize,
}

impl Combiner<'_> {
    fn expressions(&self) -> Vec<TimeExpression> {
        let mut expressions = Vec::new();
        let mut index = 0;
        while index < self.atoms.len() {
            if let Some(found) = self.period_expression(index) {
                index = found.next;
                if self.follows_comparison_word(found.start) {
                    continue;
                }
                let start = self.extend_over_preposition(found.start);
                let period = Period::from_interval(found.interval, self.context);
                expressions.push(TimeExpression {
                    span: self.text.byte_span(start..found.end),
                    meaning: TimeMeaning::Period(period),
                });
                continue;
            }

            let atom = &self.atoms[index];
            index += 1;
            let meaning = match atom.kind {
                AtomKind::Grain(grain) => TimeMeaning::Grain(grain),
                AtomKind::Trend => TimeMeaning::Trend,
                AtomKind::SamePeriodLastYear if !self.follows_comparison_word(atom.start) => {
                    TimeMeaning::SamePeriodLastYear
                }
                _ => continue,
            };
            let start = match meaning {
                TimeMeaning::SamePeriodLastYear => self.extend_over_preposition(atom.start),
                _ => atom.start,
            };
            expressions.push(TimeExpression {
                span: self.text.byte_span(start..atom.end),
                meaning,
            });
        }
        expressions
    }

    /// Returns whether atom `second` follows atom `first` with only
    /// whitespace between them.
    fn adjacent(&self, first: usize, second: usize) -> bool {
        match (self.atoms.get(first), self.atoms.get(second)) {
            (Some(first), Some(second)) => self.text.is_blank(first.end..second.start),
            _ => false,
        }
    }

    /// Parses the expression that starts at atom `index`: `截至 X`,
    /// `since X`, `[从] X 到 Y`, `between X and Y`, `X 以来` or `X` alone.
    fn period_expression(&self, index: usize) -> Option<Found> {
        let atom = &self.atoms[index];
        let reference = self.context.reference;

        match atom.kind {
            AtomKind::AsOf | AtomKind::Since => {
                if !self.adjacent(index, index + 1) {
                    return None;
                }
                let (term, next) = self.term(index + 1)?;
                let interval = self.resolve_term(&term, None)?;
                let interval = match atom.kind {
                    AtomKind::AsOf => interval.last_day(reference),
                    _ => interval.up_to(reference),
                };
                Some(self.found(interval, index, next))
            }
            AtomKind::From | AtomKind::Between => {
                if !self.adjacent(index, index + 1) {
                    return None;
                }
                let (first, after_first) = self.term(index + 1)?;
                let allow_and = matches!(atom.kind, AtomKind::Between);
                if let Some((last, next)) = self.range_end(after_first, allow_and)
                    && let Some(interval) = self.resolve_range(&first, &last, None)
                {
                    return Some(self.found(interval, index, next));
                }
                if matches!(atom.kind, AtomKind::From) && self.is_up_to_now(after_first) {
                    let interval = self.resolve_term(&first, None)?.up_to(reference);
                    return Some(self.found(interval, index, after_first + 1));
                }
                // A lone 从 or from is left out; the period after it is read
                // when the loop reaches it.
                None
            }
            _ => {
                let (first, after_first) = self.term(index)?;
                // A range that ends before it starts (2025年到2024年) leaves
                // two separate periods.
                if let Some((last, next)) = self.range_end(after_first, false)
                    && let Some(interval) = self.resolve_range(&first, &last, None)
                {
                    return Some(self.found(interval, index, next));
                }
                if self.is_up_to_now(after_first) {
                    let interval = self.resolve_term(&first, None)?.up_to(reference);
                    return Some(self.found(interval, index, after_first + 1));
                }
                let is_lone_number = matches!(first.spec, Spec::BareYear(_)) && !first.end_of;
                if is_lone_number && !self.follows_preposition(atom.start) {
                    return None;
                }
                let interval = self.resolve_term(&first, None)?;
                Some(self.found(interval, index, after_first))
            }
        }
    }

    fn found(&self, interval: Interval, first_atom: usize, next: usize) -> Found {
        Found {
            interval,
            start: self.atoms[first_atom].start,
            end: self.atoms[next - 1].end,
            next,
        }
    }

    fn is_up_to_now(&self, index: usize) -> bool {
        index > 0
            && self.adjacent(index - 1, index)
            && matches!(self.atoms[index].kind, AtomKind::UpToNow)
    }

    /// Parses `到 Y` (or `and Y` after between) at atom `index`.
    fn range_end(&self, index: usize, allow_and: bool) -> Option<(Term, usize)> {
        let joins = match self.atoms.get(index)?.kind {
            AtomKind::To => true,
            AtomKind::And => allow_and,
            _ => false,
        };
        if !joins || !self.adjacent(index - 1, index) || !self.adjacent(index, index + 1) {
            return None;
        }
        self.term(index + 1)
    }

    /// Parses a period at atom `index` with its end marker, if any:
    /// 2025年, 2025年末, end of 2025, 2025 year-end.
    fn term(&self, index: usize) -> Option<(Term, usize)> {
        let (term, next) = match &self.atoms.get(index)?.kind {
            AtomKind::End { grain, placement } if *placement != EndPlacement::Suffix => {
                if !self.adjacent(index, index + 1) {
                    return None;
                }
                let AtomKind::Point(spec) = &self.atoms[index + 1].kind else {
                    return None;
                };
                if !end_grain_fits(*grain, spec) {
                    return None;
                }
                let term = Term {
                    spec: *spec,
                    end_of: true,
                };
                (term, index + 2)
            }
            AtomKind::Point(spec) => {
                let end_marker = self.atoms.get(index + 1).and_then(|atom| match atom.kind {
                    AtomKind::End { grain, placement } if placement != EndPlacement::Prefix => {
                        Some(grain)
                    }
                    _ => None,
                });
                let has_end = end_marker.is_some_and(|grain| {
                    self.adjacent(index, index + 1) && end_grain_fits(grain, spec)
                });
                let term = Term {
                    spec: *spec,
                    end_of: has_end,
                };
                (term, if has_end { index + 2 } else { index + 1 })
            }
            _ => return None,
        };

        // 2025年到期 is a maturity date, not the period of the question.
        let end = self.atoms[next - 1].end;
        if self.text.literal(end, "到期").is_some() {
            return None;
        }
        Some((term, next))
    }

    /// Resolves a term. A yearless part takes `year`, or else the latest year
    /// in which it does not start after the reference date.
    fn resolve_term(&self, term: &Term, year: Option<i32>) -> Option<Interval> {
        let reference = self.context.reference;
        let interval = match &term.spec {
            Spec::Day(day) => Interval::day(*day, None),
            Spec::Named(period) => Interval::calendar(*period)?,
            Spec::BareYear(year) => Interval::calendar(CalendarPeriod::Year(*year))?,
            Spec::Part(part) => match year {
                Some(year) => part.in_year(year)?,
                None => part.latest(reference)?,
            },
            Spec::Range {
                from,
                to,
                year: written,
            } => {
                let from = Term {
                    spec: Spec::Part(*from),
                    end_of: false,
                };
                let to = Term {
                    spec: Spec::Part(*to),
                    end_of: false,
                };
                self.resolve_range(&from, &to, written.or(year))?
            }
            Spec::Rolling { count, unit } => Interval::rolling(*count, *unit, reference)?,
        };
        if term.end_of {
            return Some(interval.last_day(reference));
        }
        Some(interval)
    }

    /// Resolves `first 到 last` from the start of `first` to the end of `last`.
    ///
    /// A side without a year takes the other side's: 2025年1月到6月 ends in June
    /// 2025. When the end would then come before the start it moves one year
    /// later (2025年11月到2月), or the start one year earlier (11月到2026年2月).
    /// When neither side has a year, `year` applies, or else the end is the
    /// latest one not after the reference date. A range that still ends
    /// before it starts is rejected.
    fn resolve_range(&self, first: &Term, last: &Term, year: Option<i32>) -> Option<Interval> {
        let (from, to) = match (first.spec.needs_year(), last.spec.needs_year()) {
            (false, false) => (
                self.resolve_term(first, None)?,
                self.resolve_term(last, None)?,
            ),
            (false, true) => {
                let from = self.resolve_term(first, None)?;
                let year = first.spec.written_year().unwrap_or(from.start.year());
                let to = self.resolve_later(last, year, from.start)?;
                (from, to)
            }
            (true, false) => {
                let to = self.resolve_term(last, None)?;
                let year = last.spec.written_year().unwrap_or(to.start.year());
                let from = self.resolve_earlier(first, year, to.start)?;
                (from, to)
            }
            (true, true) => match year {
                Some(year) => {
                    let from = self.resolve_term(first, Some(year))?;
                    let to = self.resolve_later(last, year, from.start)?;
                    (from, to)
                }
                None => {
                    let to = self.resolve_term(last, None)?;
                    let from = self.resolve_earlier(first, to.start.year(), to.start)?;
                    (from, to)
                }
            },
        };

        if from.start > to.full_end {
            return None;
        }
        Some(Interval {
            start: from.start,
            full_end: to.full_end,
            kind: PeriodKind::Range {
                from: Box::new(from.kind),
                to: Box::new(to.kind),
            },
        })
    }

    /// Resolves `term` in `year`, or in the year after when it would start
    /// before `start`.
    fn resolve_later(&self, term: &Term, year: i32, start: NaiveDate) -> Option<Interval> {
        let interval = self.resolve_term(term, Some(year))?;
        if interval.start >= start {
            return Some(interval);
        }
        self.resolve_term(term, Some(year.checked_add(1)?))
    }

    /// Resolves `term` in `year`, or in the year before when it would start
    /// after `end_start`.
    fn resolve_earlier(&self, term: &Term, year: i32, end_start: NaiveDate) -> Option<Interval> {
        let interval = self.resolve_term(term, Some(year))?;
        if interval.start <= end_start {
            return Some(interval);
        }
        self.resolve_term(term, Some(year.checked_sub(1)?))
    }

    /// Returns whether the text before `start` makes the expression a
    /// comparison base: 比上月, 较上年末, than last year, vs 2024, compared
    /// with the same period last year.
    fn follows_comparison_word(&self, start: usize) -> bool {
        let text = self.text;
        let mut before = start;
        while before > 0 && text.chars[before - 1].is_whitespace() {
            before -= 1;
        }
        if matches!(text.before(before), Some('比' | '较')) {
            return true;
        }

        let start = self.skip_article_before(start);
        let dot_skipped = match text.before(start) {
            Some('.') => start - 1,
            _ => start,
        };
        let Some((word_start, word)) = text.word_before(dot_skipped) else {
            return false;
        };
        if matches!(word.as_str(), "than" | "vs" | "versus" | "against") {
            return true;
        }
        if !matches!(word.as_str(), "to" | "with") {
            return false;
        }
        text.word_before(word_start).is_some_and(|(_, verb)| {
            matches!(verb.as_str(), "compared" | "relative" | "comparison")
        })
    }

    /// Returns whether an English preposition (in, during, for) comes right
    /// before `start`, which makes a lone four-digit number a year.
    fn follows_preposition(&self, start: usize) -> bool {
        let start = self.skip_article_before(start);
        self.text
            .word_before(start)
            .is_some_and(|(_, word)| ENGLISH_PREPOSITIONS.contains(&word.as_str()))
    }

    /// Returns where an English expression starts once "the" and a
    /// preposition before it are counted in, so that removing the span from
    /// "deposits in the last 30 days" leaves "deposits".
    fn extend_over_preposition(&self, start: usize) -> usize {
        if !self
            .text
            .at(start)
            .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            return start;
        }
        let start = self.skip_article_before(start);
        match self.text.word_before(start) {
            Some((word_start, word)) if ENGLISH_PREPOSITIONS.contains(&word.as_str()) => word_start,
            _ => start,
        }
    }

    /// Returns the start of a "the" right before `start`, or `start`.
    fn skip_article_before(&self, start: usize) -> usize {
        match self.text.word_before(start) {
            Some((word_start, word)) if word == "the" && word_start < start => word_start,
            _ => start,
        }
    }
}

/// Returns whether an end marker of `grain` fits the period `spec`: 年末 after
/// a year, 月底 after a month, a plain 末 or end after any period.
fn end_grain_fits(grain: Option<TimeGrain>, spec: &Spec) -> bool {
    match grain {
        None => true,
        Some(grain) => spec.grain() == Some(grain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeral(text: &str) -> Option<u32> {
        let chars: Vec<char> = text.chars().collect();
        parse_chinese_numeral(&chars).map(|(value, _)| value)
    }

    #[test]
    fn chinese_counts() {
        assert_eq!(numeral("一"), Some(1));
        assert_eq!(numeral("两"), Some(2));
        assert_eq!(numeral("十"), Some(10));
        assert_eq!(numeral("十二"), Some(12));
        assert_eq!(numeral("二十"), Some(20));
        assert_eq!(numeral("二十四"), Some(24));
        assert_eq!(numeral("一百零五"), Some(105));
        assert_eq!(numeral("三百六十五"), Some(365));
        assert_eq!(numeral("一千"), Some(1000));
    }

    #[test]
    fn chinese_digits_read_one_by_one() {
        let chars: Vec<char> = "二〇二五".chars().collect();
        assert_eq!(
            parse_chinese_numeral(&chars),
            Some((2025, NumberForm::ChineseDigits))
        );
        assert_eq!(numeral("二零二六"), Some(2026));
        assert_eq!(numeral("二○二四"), Some(2024));
    }

    #[test]
    fn malformed_chinese_numerals() {
        assert_eq!(numeral(""), None, "empty run");
        assert_eq!(numeral("十十"), None, "repeated unit");
        assert_eq!(numeral("二三十"), None, "two digits before a unit");
        assert_eq!(numeral("十百"), None, "units in rising order");
        assert_eq!(numeral("两〇二五"), None, "两 read digit by digit");
        assert_eq!(
            numeral("一二三四五六七八九〇一二三"),
            None,
            "longer than 12"
        );
    }

    #[test]
    fn number_reads_full_width_digits() {
        let text = Text::new("近６个月");
        let number = text.number(1).expect("a number at index 1");
        assert_eq!(number.value, 6);
        assert_eq!(number.form, NumberForm::Arabic);
    }

    #[test]
    fn number_not_inside_run() {
        let text = Text::new("15月 十二月");
        assert!(text.number(1).is_none(), "5 inside 15");
        assert!(text.number(5).is_none(), "二 inside 十二");
        assert_eq!(text.number(4).map(|number| number.value), Some(12));
    }

    #[test]
    fn step_index_crosses_years() {
        assert_eq!(step_index(2026, 1, 12, -1), Some((2025, 12)));
        assert_eq!(step_index(2026, 1, 4, -1), Some((2025, 4)));
        assert_eq!(step_index(2026, 11, 12, -10), Some((2026, 1)));
        assert_eq!(step_index(2026, 11, 12, -11), Some((2025, 12)));
        assert_eq!(step_index(2025, 12, 12, 1), Some((2026, 1)));
    }

    #[test]
    fn phrase_needs_word_boundaries() {
        let text = Text::new("know now nowhere NOW");
        assert_eq!(text.phrase(0, "now"), None, "no boundary before");
        assert_eq!(text.phrase(1, "now"), None, "inside know");
        assert_eq!(text.phrase(5, "now"), Some(8));
        assert_eq!(text.phrase(9, "now"), None, "prefix of nowhere");
        assert_eq!(text.phrase(17, "now"), Some(20), "case ignored");
    }

    #[test]
    fn week_offset_crosses_years() {
        let week = CalendarPeriod::Week {
            year: 2026,
            week: 1,
        };
        assert_eq!(
            week.offset(-1),
            Some(CalendarPeriod::Week {
                year: 2025,
                week: 52
            })
        );
        let long_year = CalendarPeriod::Week {
            year: 2026,
            week: 53,
        };
        assert_eq!(
            long_year.shift_years(-1),
            Some(CalendarPeriod::Week {
                year: 2025,
                week: 52
            }),
            "2025 has no ISO week 53"
        );
    }
}
