//! SQL spelling that differs between warehouses.
//!
//! The compiler builds every statement through a [`Dialect`], so a
//! PostgreSQL- or Spark-compatible warehouse needs a new implementation of
//! this trait, not changes to the compiler.

use chrono::NaiveDate;

use crate::semantic::TimeGrain;

pub trait Dialect: Send + Sync {
    /// Quotes an identifier (a column alias or a table name part).
    fn quote(&self, identifier: &str) -> String;

    /// A DATE literal.
    fn date_literal(&self, date: NaiveDate) -> String;

    /// Truncates a date or timestamp expression to the first day of its
    /// period, as a DATE.
    fn date_trunc(&self, grain: TimeGrain, expr: &str) -> String;

    /// Casts a date or timestamp expression to DATE.
    fn to_date(&self, expr: &str) -> String;

    /// `expr` moved back (a negative `count` moves forward) by `count` units
    /// of `grain`, as a DATE.
    fn date_sub(&self, expr: &str, count: i64, grain: TimeGrain) -> String;

    /// The last day of the month of a DATE expression.
    fn last_day_of_month(&self, expr: &str) -> String;

    /// The number of days from `start` to `end`, both DATE expressions.
    fn days_between(&self, start: &str, end: &str) -> String;

    /// The value of `value` on the row with the smallest `key`.
    fn min_by(&self, value: &str, key: &str) -> String;

    /// The value of `value` on the row with the largest `key`.
    fn max_by(&self, value: &str, key: &str) -> String;

    /// A division that yields a DOUBLE and NULL when the divisor is zero.
    fn safe_divide(&self, numerator: &str, denominator: &str) -> String {
        format!("CAST({numerator} AS DOUBLE) / CAST(NULLIF({denominator}, 0) AS DOUBLE)")
    }

    /// `a` and `b` are equal, or both NULL.
    fn null_safe_equal(&self, left: &str, right: &str) -> String {
        format!("{left} IS NOT DISTINCT FROM {right}")
    }

    /// Wraps an input of a derived metric's expression so that its
    /// arithmetic runs in DOUBLE, as DuckDB's division of decimals does.
    /// None when the engine needs no wrapping.
    fn derived_input(&self, _column: &str) -> Option<String> {
        None
    }
}

/// DuckDB, the embedded warehouse.
#[derive(Debug, Clone, Copy, Default)]
pub struct DuckDb;

impl Dialect for DuckDb {
    fn quote(&self, identifier: &str) -> String {
        format!("\"{}\"", identifier.replace('"', "\"\""))
    }

    fn date_literal(&self, date: NaiveDate) -> String {
        format!("DATE '{}'", date.format("%Y-%m-%d"))
    }

    fn date_trunc(&self, grain: TimeGrain, expr: &str) -> String {
        format!("CAST(DATE_TRUNC('{}', {expr}) AS DATE)", grain.name())
    }

    fn to_date(&self, expr: &str) -> String {
        format!("CAST({expr} AS DATE)")
    }

    fn date_sub(&self, expr: &str, count: i64, grain: TimeGrain) -> String {
        let (count, unit) = match grain {
            TimeGrain::Day => (count, "DAY"),
            TimeGrain::Week => (count * 7, "DAY"),
            TimeGrain::Month => (count, "MONTH"),
            TimeGrain::Quarter => (count * 3, "MONTH"),
            TimeGrain::Year => (count, "YEAR"),
        };
        format!("CAST({expr} - INTERVAL ({count}) {unit} AS DATE)")
    }

    fn last_day_of_month(&self, expr: &str) -> String {
        format!("LAST_DAY({expr})")
    }

    fn days_between(&self, start: &str, end: &str) -> String {
        format!("DATE_DIFF('day', {start}, {end})")
    }

    fn min_by(&self, value: &str, key: &str) -> String {
        format!("ARG_MIN({value}, {key})")
    }

    fn max_by(&self, value: &str, key: &str) -> String {
        format!("ARG_MAX({value}, {key})")
    }
}

/// Spark SQL (Spark 3.4 and later, as reached through Spark Connect), with
/// Spark's default settings: backtick quoting, and `ADD_MONTHS` for month
/// arithmetic, which keeps the day within the month (2025-03-31 minus one
/// month is 2025-02-28) as DuckDB's interval arithmetic does.
#[derive(Debug, Clone, Copy, Default)]
pub struct SparkSql;

impl Dialect for SparkSql {
    fn quote(&self, identifier: &str) -> String {
        format!("`{}`", identifier.replace('`', "``"))
    }

    fn date_literal(&self, date: NaiveDate) -> String {
        format!("DATE '{}'", date.format("%Y-%m-%d"))
    }

    fn date_trunc(&self, grain: TimeGrain, expr: &str) -> String {
        format!(
            "CAST(DATE_TRUNC('{}', {expr}) AS DATE)",
            grain.name().to_ascii_uppercase()
        )
    }

    fn to_date(&self, expr: &str) -> String {
        format!("CAST({expr} AS DATE)")
    }

    fn date_sub(&self, expr: &str, count: i64, grain: TimeGrain) -> String {
        match grain {
            TimeGrain::Day => format!("DATE_ADD(CAST({expr} AS DATE), {})", -count),
            TimeGrain::Week => format!("DATE_ADD(CAST({expr} AS DATE), {})", -count * 7),
            TimeGrain::Month => format!("ADD_MONTHS(CAST({expr} AS DATE), {})", -count),
            TimeGrain::Quarter => format!("ADD_MONTHS(CAST({expr} AS DATE), {})", -count * 3),
            TimeGrain::Year => format!("ADD_MONTHS(CAST({expr} AS DATE), {})", -count * 12),
        }
    }

    fn last_day_of_month(&self, expr: &str) -> String {
        format!("LAST_DAY({expr})")
    }

    fn days_between(&self, start: &str, end: &str) -> String {
        format!("DATEDIFF({end}, {start})")
    }

    fn min_by(&self, value: &str, key: &str) -> String {
        format!("MIN_BY({value}, {key})")
    }

    fn max_by(&self, value: &str, key: &str) -> String {
        format!("MAX_BY({value}, {key})")
    }

    // Spark divides decimals in decimal, keeping six digits of scale.
    fn derived_input(&self, column: &str) -> Option<String> {
        Some(format!("CAST({column} AS DOUBLE)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_spells_dates_its_own_way() {
        let spark = SparkSql;

        assert_eq!(spark.quote("a`b"), "`a``b`");
        assert_eq!(
            spark.date_sub("d", 1, TimeGrain::Quarter),
            "ADD_MONTHS(CAST(d AS DATE), -3)"
        );
        assert_eq!(
            spark.date_sub("d", -2, TimeGrain::Week),
            "DATE_ADD(CAST(d AS DATE), 14)"
        );
        assert_eq!(spark.days_between("s", "e"), "DATEDIFF(e, s)");
        assert_eq!(
            spark.date_trunc(TimeGrain::Month, "d"),
            "CAST(DATE_TRUNC('MONTH', d) AS DATE)"
        );
    }
}
