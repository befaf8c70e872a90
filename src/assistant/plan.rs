//! Turns an interpretation, merged with the conversation, into a metric
//! query for the compiler.

use chrono::NaiveDate;

use crate::compiler::{MetricQuery, OrderBy};
use crate::semantic::{self, Metric, MetricKind, SemanticLayer, TimeGrain};
use crate::understanding::interpret::{Filter, Interpretation};
use crate::understanding::time::{self, Period, PeriodKind, PeriodSource, TimeContext};
use crate::warehouse::Value;

/// A query ready to compile, with what the answer needs to describe it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub query: MetricQuery,
    pub period: Period,
    pub grain: Option<TimeGrain>,
    /// Rows to keep after the query (a share of one group of many).
    pub keep_rows: Vec<Filter>,
}

/// Why a question cannot become a query.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanError {
    /// The question names no metric and the layer has no default metric.
    NoMetric,
    /// The period has no day with data.
    NoData(Period),
}

/// The merged state of a conversation after a turn.
#[derive(Debug, Clone)]
pub struct Turn {
    pub interpretation: Interpretation,
    pub period: Option<Period>,
}

/// Returns `day` when it starts a bucket of `grain`, else the start of the
/// next bucket.
fn first_whole_bucket(day: NaiveDate, grain: TimeGrain) -> NaiveDate {
    use chrono::{Datelike, Months};

    let starts_bucket = match grain {
        TimeGrain::Day | TimeGrain::Month => return day,
        TimeGrain::Week => day.weekday() == chrono::Weekday::Mon,
        TimeGrain::Quarter => day.day() == 1 && (day.month() - 1).is_multiple_of(3),
        TimeGrain::Year => day.ordinal() == 1,
    };
    if starts_bucket {
        return day;
    }
    match grain {
        TimeGrain::Week => {
            let days = 7 - i64::from(day.weekday().num_days_from_monday());
            day + chrono::Duration::days(days)
        }
        TimeGrain::Quarter => {
            let first_month = (day.month() - 1) / 3 * 3 + 1;
            let quarter_start = NaiveDate::from_ymd_opt(day.year(), first_month, 1).unwrap_or(day);
            quarter_start + Months::new(3)
        }
        _ => NaiveDate::from_ymd_opt(day.year() + 1, 1, 1).unwrap_or(day),
    }
}

/// Merges a follow-up with the previous turn. A question that names a
/// metric and has no follow-up words starts afresh.
pub fn merge(previous: Option<&Turn>, current: Interpretation) -> (Interpretation, bool) {
    let Some(previous) = previous else {
        return (current, false);
    };
    let follow_up = current.metrics.is_empty()
        || current.follow_up.elliptic
        || current.follow_up.replace_metric
        || current.follow_up.only;
    if !follow_up {
        return (current, false);
    }

    let mut merged = previous.interpretation.clone();
    if !current.metrics.is_empty() {
        merged.metrics = current.metrics.clone();
    }
    for filter in &current.filters {
        merged
            .filters
            .retain(|known| known.dimension != filter.dimension);
        merged
            .group_by
            .retain(|item| *item != filter.dimension || filter.values.len() > 1);
        merged.filters.push(filter.clone());
    }
    for item in &current.group_by {
        if !merged.group_by.contains(item) {
            merged.group_by.push(item.clone());
        }
        if !current
            .filters
            .iter()
            .any(|filter| filter.dimension == *item)
        {
            merged.filters.retain(|filter| filter.dimension != *item);
        }
    }
    if current.ranking.is_some() {
        merged.ranking = current.ranking;
    }
    merged.time = current.time.clone();
    merged.follow_up = current.follow_up;
    merged.english = current.english;
    merged.evidence = current.evidence.clone();
    merged.intent = current.intent;
    (merged, true)
}

/// True for metrics read at one day (balances, shares, counts of
/// depositors, growth at a date), as opposed to averages and flows.
pub fn is_point_in_time(metric: &Metric) -> bool {
    matches!(
        metric.default_period,
        Some(semantic::DefaultPeriod::ReferenceDate)
    )
}

/// Orders default periods from the shortest to the longest.
fn period_width(period: time::DefaultPeriod) -> u8 {
    match period {
        time::DefaultPeriod::ReferenceDay => 0,
        time::DefaultPeriod::ReferenceMonth => 1,
        time::DefaultPeriod::YearToDate => 2,
    }
}

fn default_period(metric: &Metric) -> time::DefaultPeriod {
    match metric.default_period {
        Some(semantic::DefaultPeriod::YearToDate) => time::DefaultPeriod::YearToDate,
        Some(semantic::DefaultPeriod::ReferenceMonth) => time::DefaultPeriod::ReferenceMonth,
        _ => time::DefaultPeriod::ReferenceDay,
    }
}

/// Builds the metric query for a merged interpretation.
pub fn plan(
    interpretation: &Interpretation,
    previous_period: Option<&Period>,
    layer: &SemanticLayer,
    context: &TimeContext,
) -> Result<Plan, PlanError> {
    let mut metrics = interpretation.metrics.clone();
    if metrics.is_empty() {
        metrics.push(layer.default_metric.clone().ok_or(PlanError::NoMetric)?);
    }
    let Some(first) = layer.metric(&metrics[0]) else {
        return Err(PlanError::NoMetric);
    };
    let point_in_time = is_point_in_time(first);

    // Several metrics share one period: the widest of their defaults, so
    // 存款余额和日均存款 reads the balance at the end of the year to date.
    let default = metrics
        .iter()
        .filter_map(|name| layer.metric(name))
        .map(default_period)
        .max_by_key(|period| period_width(*period))
        .unwrap_or(time::DefaultPeriod::ReferenceDay);
    let resolved = interpretation
        .time
        .parse
        .resolve(context, default, previous_period);
    let mut period = resolved.period;
    // A series with no period (每月存款余额) covers a span of its grain.
    if resolved.source == PeriodSource::MetricDefault
        && let Some(grain) = resolved.grain
    {
        let (count, unit) = match grain {
            TimeGrain::Day => (30, TimeGrain::Day),
            TimeGrain::Week => (12, TimeGrain::Week),
            TimeGrain::Month => (12, TimeGrain::Month),
            TimeGrain::Quarter => (24, TimeGrain::Month),
            TimeGrain::Year => (36, TimeGrain::Month),
        };
        if let Some(series) = Period::rolling(count, unit, context) {
            period = series;
            // The first bucket is whole: 24 months back from 2026-11 start
            // in December, so the quarters start with 2025Q1, not with a
            // quarter of one month.
            period.start = first_whole_bucket(period.start, grain);
        }
    }
    // An average or a flow asked at the end of a period (2025年末日均) is
    // asked over that period.
    if !point_in_time
        && let PeriodKind::Day {
            end_of: Some(calendar),
        } = &period.kind
        && let Some(enclosing) = Period::calendar(*calendar, context)
    {
        period = enclosing;
    }
    if !period.coverage.has_data() {
        return Err(PlanError::NoData(period));
    }

    let mut grain = resolved.grain;
    if grain.is_none() && point_in_time {
        // A balance over a rolling window is a series of its unit.
        grain = period.rolling_unit();
    }
    if grain.is_none()
        && matches!(
            first.default_period,
            Some(semantic::DefaultPeriod::ReferenceMonth)
        )
    {
        // A month-based metric over a longer period is answered month by month.
        let first_month = time::CalendarPeriod::containing(TimeGrain::Month, period.start);
        let spans_months = first_month.is_some_and(|month| month.last_day() < period.end);
        if spans_months {
            grain = Some(TimeGrain::Month);
        }
    }

    let mut group_by = interpretation.group_by.clone();
    let mut filters = interpretation.filters.clone();
    let mut keep_rows = Vec::new();
    // A share of one group (网络金融部占全行的比重) is the group's row of the
    // breakdown by its dimension, not a share within a filter.
    if matches!(first.kind, MetricKind::Share { .. }) {
        for filter in std::mem::take(&mut filters) {
            if group_by.is_empty() || group_by.contains(&filter.dimension) {
                if !group_by.contains(&filter.dimension) {
                    group_by.push(filter.dimension.clone());
                }
                keep_rows.push(filter);
            } else {
                filters.push(filter);
            }
        }
    }
    if let Some(grain) = grain {
        group_by.push(format!("metric_time__{}", grain.name()));
    }

    let where_filters = filters.iter().map(filter_sql).collect();
    let mut order_by = Vec::new();
    let mut limit = None;
    // A ranking orders the rows by the metric, also the time buckets of a
    // series alone (哪个月日均存款最高).
    if let Some(ranking) = interpretation.ranking {
        order_by.push(OrderBy {
            item: metrics[0].clone(),
            descending: ranking.descending,
        });
        limit = ranking.limit;
    }
    if let Some(grain) = grain {
        order_by.push(OrderBy {
            item: format!("metric_time__{}", grain.name()),
            descending: false,
        });
    }

    let query = MetricQuery {
        metrics,
        group_by,
        where_filters,
        start: Some(period.start),
        end: Some(period.end),
        order_by,
        limit,
    };
    Ok(Plan {
        query,
        period,
        grain,
        keep_rows,
    })
}

/// A filter in MetricFlow's syntax, with values as SQL literals.
fn filter_sql(filter: &Filter) -> String {
    let column = format!("{{{{ Dimension('{}') }}}}", filter.dimension);
    let literals: Vec<String> = filter.values.iter().map(literal).collect();
    match literals.as_slice() {
        [single] => format!("{column} = {single}"),
        many => format!("{column} IN ({})", many.join(", ")),
    }
}

fn literal(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Int(number) => number.to_string(),
        Value::Float(number) => number.to_string(),
        Value::Text(text) => format!("'{}'", text.replace('\'', "''")),
        Value::Date(day) => format!("DATE '{}'", day.format("%Y-%m-%d")),
        Value::Timestamp(moment) => format!("TIMESTAMP '{}'", moment.format("%Y-%m-%d %H:%M:%S")),
    }
}

/// Describes a period for the answer text: one day, or its first and last day.
pub fn describe_period(period: &Period, english: bool) -> String {
    let format_day = |day: NaiveDate| day.format("%Y-%m-%d").to_string();
    if period.start == period.end {
        return if english {
            format!("on {}", format_day(period.end))
        } else {
            format_day(period.end)
        };
    }
    if english {
        format!(
            "from {} to {}",
            format_day(period.start),
            format_day(period.end)
        )
    } else {
        format!("{} 至 {}", format_day(period.start), format_day(period.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn series_start_moves_to_a_whole_bucket() {
        let cases = [
            ("2024-12-01", TimeGrain::Quarter, "2025-01-01"),
            ("2025-01-01", TimeGrain::Quarter, "2025-01-01"),
            ("2024-11-15", TimeGrain::Quarter, "2025-01-01"),
            ("2023-12-01", TimeGrain::Year, "2024-01-01"),
            ("2024-01-01", TimeGrain::Year, "2024-01-01"),
            ("2026-09-10", TimeGrain::Week, "2026-09-14"),
            ("2026-09-14", TimeGrain::Week, "2026-09-14"),
            ("2025-12-01", TimeGrain::Month, "2025-12-01"),
        ];
        for (start, grain, expected) in cases {
            assert_eq!(
                first_whole_bucket(day(start), grain),
                day(expected),
                "{start} {grain:?}"
            );
        }
    }
}
