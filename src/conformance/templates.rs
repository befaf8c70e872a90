//! The Jinja helpers that `where_filter` and `check_query` templates call.
//!
//! Each SQL helper renders a DuckDB expression. The `render_*_template`
//! helpers render MetricFlow's filter syntax (`{{ Dimension('x') }}`) for the
//! compiler to resolve, so a rendered `where_filter` still contains Jinja.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

/// Names of `TimeGranularity.X`, as MetricFlow spells them.
const TIME_GRANULARITIES: [&str; 11] = [
    "nanosecond",
    "microsecond",
    "millisecond",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "quarter",
    "year",
];

/// Names of `DatePart.X`, as MetricFlow spells them.
const DATE_PARTS: [&str; 6] = ["year", "quarter", "month", "day", "dow", "doy"];

/// Builds the template environment for one source schema.
///
/// `time_spine_table` is the unqualified name of the day-grain time spine.
/// Undefined names are errors, so a misspelt helper fails the case instead
/// of rendering as an empty string.
pub(crate) fn environment(source_schema: &str, time_spine_table: &str) -> Environment<'static> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);

    environment.add_global("source_schema", source_schema.to_owned());
    environment.add_global(
        "mf_time_spine_source",
        format!("{source_schema}.{time_spine_table}"),
    );
    environment.add_global("double_data_type_name", "DOUBLE");
    environment.add_global("TimeGranularity", constants(&TIME_GRANULARITIES));
    environment.add_global("DatePart", constants(&DATE_PARTS));

    environment.add_function("render_date_trunc", render_date_trunc);
    environment.add_function("render_time_constraint", render_time_constraint);
    environment.add_function("render_date_sub", render_date_sub);
    environment.add_function("render_date_add", render_date_add);
    environment.add_function("render_extract", render_extract);
    environment.add_function("cast_to_ts", cast_to_ts);
    environment.add_function("generate_random_uuid", generate_random_uuid);
    environment.add_function("render_percentile_expr", render_percentile_expr);
    environment.add_function("render_dimension_template", render_dimension_template);
    environment.add_function(
        "render_time_dimension_template",
        render_time_dimension_template,
    );
    environment.add_function("render_entity_template", render_entity_template);
    environment.add_function("render_metric_template", render_metric_template);
    environment
}

/// Renders one template of a case.
pub(crate) fn render(environment: &Environment<'static>, template: &str) -> Result<String, String> {
    environment
        .render_str(template, minijinja::context! {})
        .map_err(|error| describe_error(&error))
}

/// Formats a template error with its cause chain on one line.
fn describe_error(error: &Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Builds a map from upper-case constant names to lower-case values
/// (`DAY` → `day`), read in templates as `TimeGranularity.DAY`.
fn constants(names: &[&str]) -> Value {
    let map: BTreeMap<String, String> = names
        .iter()
        .map(|name| (name.to_ascii_uppercase(), (*name).to_owned()))
        .collect();
    Value::from_serialize(&map)
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

fn render_date_trunc(expr: String, granularity: String) -> String {
    format!("DATE_TRUNC('{granularity}', CAST({expr} AS TIMESTAMP))")
}

/// Renders `expr` within `[start, stop]`. Each bound is a positional or a
/// keyword argument (`start_time`, `stop_time`), and either may be left out.
///
/// A date `stop` includes its whole day (`< stop + 1 day`). A timestamp
/// `stop` is compared with `<=`, because adding a day to a time of day would
/// include up to a day more than the case requested.
fn render_time_constraint(
    expr: String,
    positional_start: Option<String>,
    positional_stop: Option<String>,
    keywords: Kwargs,
) -> Result<String, Error> {
    let keyword_start: Option<String> = keywords.get("start_time")?;
    let keyword_stop: Option<String> = keywords.get("stop_time")?;
    keywords.assert_all_used()?;
    let start = positional_start.or(keyword_start);
    let stop = positional_stop.or(keyword_stop);
    if start.is_none() && stop.is_none() {
        return Err(invalid(
            "render_time_constraint needs a start time, a stop time or both".to_owned(),
        ));
    }

    let mut conditions = Vec::new();
    if let Some(start) = start {
        conditions.push(format!(
            "CAST({expr} AS TIMESTAMP) >= CAST('{start}' AS TIMESTAMP)"
        ));
    }
    if let Some(stop) = stop {
        let condition = match NaiveDate::parse_from_str(&stop, "%Y-%m-%d") {
            Ok(date) => {
                let next_day = date
                    .checked_add_days(Days::new(1))
                    .ok_or_else(|| invalid(format!("stop time `{stop}` is out of range")))?;
                format!("CAST({expr} AS TIMESTAMP) < CAST('{next_day}' AS TIMESTAMP)")
            }
            Err(_) => format!("CAST({expr} AS TIMESTAMP) <= CAST('{stop}' AS TIMESTAMP)"),
        };
        conditions.push(condition);
    }
    Ok(conditions.join(" AND "))
}

/// Renders `alias.column` minus `count` units; a quarter is three months.
fn render_date_sub(alias: String, column: String, count: i64, granularity: String) -> String {
    let (unit_count, unit) = interval_parts(count, &granularity);
    format!("{alias}.{column} - INTERVAL {unit_count} {unit}")
}

/// Renders `expr` plus `count` units, where `count` may be a SQL expression.
///
/// NOTE: only cases with custom granularities call this helper, and those are
/// skipped, so no expected rows have checked its rendering yet.
fn render_date_add(expr: String, count: Value, granularity: String) -> String {
    if granularity == "quarter" {
        return format!("{expr} + INTERVAL (3 * ({count})) month");
    }
    format!("{expr} + INTERVAL ({count}) {granularity}")
}

fn interval_parts(count: i64, granularity: &str) -> (i64, &str) {
    if granularity == "quarter" {
        (count * 3, "month")
    } else {
        (count, granularity)
    }
}

/// Renders `EXTRACT`; the day of the week is ISO-numbered (Monday is 1).
fn render_extract(expr: String, date_part: String) -> String {
    let part = if date_part == "dow" {
        "isodow"
    } else {
        date_part.as_str()
    };
    format!("EXTRACT({part} FROM CAST({expr} AS TIMESTAMP))")
}

fn cast_to_ts(value: String) -> String {
    format!("CAST('{value}' AS TIMESTAMP)")
}

fn generate_random_uuid() -> String {
    "GEN_RANDOM_UUID()".to_owned()
}

/// Renders a percentile; DuckDB has no approximate form in this syntax, so
/// `use_approximate` is accepted and ignored.
fn render_percentile_expr(
    expr: String,
    percentile: f64,
    use_discrete: bool,
    use_approximate: bool,
) -> String {
    let _ = use_approximate;
    let function = if use_discrete {
        "PERCENTILE_DISC"
    } else {
        "PERCENTILE_CONT"
    };
    format!("{function}({percentile}) WITHIN GROUP (ORDER BY {expr})")
}

fn render_dimension_template(name: String) -> String {
    format!("{{{{ Dimension('{name}') }}}}")
}

fn render_time_dimension_template(name: String, granularity: Option<String>) -> String {
    match granularity {
        Some(granularity) => format!("{{{{ TimeDimension('{name}', '{granularity}') }}}}"),
        None => format!("{{{{ TimeDimension('{name}') }}}}"),
    }
}

fn render_entity_template(name: String) -> String {
    format!("{{{{ Entity('{name}') }}}}")
}

fn render_metric_template(name: String, group_by: Vec<String>) -> String {
    let entities: Vec<String> = group_by
        .iter()
        .map(|entity| format!("'{entity}'"))
        .collect();
    format!(
        "{{{{ Metric('{name}', group_by=[{}]) }}}}",
        entities.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_test(template: &str) -> String {
        render(&environment("simple_model", "mf_time_spine"), template).unwrap()
    }

    #[test]
    fn source_schema_and_time_spine() {
        assert_eq!(
            render_test("{{ source_schema }}.fct_bookings"),
            "simple_model.fct_bookings"
        );
        assert_eq!(render_test("{{source_schema}}.t"), "simple_model.t");
        assert_eq!(
            render_test("{{ mf_time_spine_source }}"),
            "simple_model.mf_time_spine"
        );
    }

    #[test]
    fn date_trunc() {
        assert_eq!(
            render_test(r#"{{ render_date_trunc("ds", TimeGranularity.WEEK) }}"#),
            "DATE_TRUNC('week', CAST(ds AS TIMESTAMP))"
        );
    }

    #[test]
    fn time_constraint_positional() {
        assert_eq!(
            render_test(r#"{{ render_time_constraint("ds", "2020-01-01", "2020-01-02") }}"#),
            "CAST(ds AS TIMESTAMP) >= CAST('2020-01-01' AS TIMESTAMP) \
             AND CAST(ds AS TIMESTAMP) < CAST('2020-01-03' AS TIMESTAMP)"
        );
    }

    #[test]
    fn time_constraint_start_only() {
        let expected = "CAST(ts.alien_day AS TIMESTAMP) >= CAST('2019-12-20' AS TIMESTAMP)";
        assert_eq!(
            render_test(r#"{{ render_time_constraint("ts.alien_day", start_time="2019-12-20") }}"#),
            expected
        );
        assert_eq!(
            render_test(r#"{{ render_time_constraint("ts.alien_day", "2019-12-20") }}"#),
            expected
        );
    }

    #[test]
    fn time_constraint_keyword_stop() {
        assert_eq!(
            render_test(r#"{{ render_time_constraint("ds", stop_time="2020-02-29") }}"#),
            "CAST(ds AS TIMESTAMP) < CAST('2020-03-01' AS TIMESTAMP)"
        );
    }

    #[test]
    fn time_constraint_timestamp_stop() {
        assert_eq!(
            render_test(
                r#"{{ render_time_constraint("ts", "2020-01-01 02:00:00", "2020-01-03 05:00:00") }}"#
            ),
            "CAST(ts AS TIMESTAMP) >= CAST('2020-01-01 02:00:00' AS TIMESTAMP) \
             AND CAST(ts AS TIMESTAMP) <= CAST('2020-01-03 05:00:00' AS TIMESTAMP)"
        );
    }

    #[test]
    fn time_constraint_without_bounds_fails() {
        let environment = environment("s", "mf_time_spine");
        let error = render(&environment, r#"{{ render_time_constraint("ds") }}"#).unwrap_err();
        assert!(error.contains("needs a start time"), "{error}");
    }

    #[test]
    fn time_constraint_unknown_keyword_fails() {
        let environment = environment("s", "mf_time_spine");
        let error = render(
            &environment,
            r#"{{ render_time_constraint("ds", begin="2020-01-01") }}"#,
        )
        .unwrap_err();
        assert!(error.contains("begin"), "{error}");
    }

    #[test]
    fn date_sub() {
        assert_eq!(
            render_test(r#"{{ render_date_sub("a", "ds", 5, TimeGranularity.DAY) }}"#),
            "a.ds - INTERVAL 5 day"
        );
        assert_eq!(
            render_test(r#"{{ render_date_sub("ts", "ds", 2, TimeGranularity.QUARTER) }}"#),
            "ts.ds - INTERVAL 6 month"
        );
    }

    #[test]
    fn date_add() {
        assert_eq!(
            render_test(r#"{{ render_date_add("x.d", "(n - 1)", TimeGranularity.DAY) }}"#),
            "x.d + INTERVAL ((n - 1)) day"
        );
    }

    #[test]
    fn extract() {
        assert_eq!(
            render_test(r#"{{ render_extract("ds", DatePart.DOW) }}"#),
            "EXTRACT(isodow FROM CAST(ds AS TIMESTAMP))"
        );
        assert_eq!(
            render_test(r#"{{ render_extract("a.ds", DatePart.YEAR) }}"#),
            "EXTRACT(year FROM CAST(a.ds AS TIMESTAMP))"
        );
    }

    #[test]
    fn scalar_helpers() {
        assert_eq!(render_test("{{ double_data_type_name }}"), "DOUBLE");
        assert_eq!(
            render_test("{{ cast_to_ts('2020-01-01') }}"),
            "CAST('2020-01-01' AS TIMESTAMP)"
        );
        assert_eq!(
            render_test("{{ generate_random_uuid() }}"),
            "GEN_RANDOM_UUID()"
        );
    }

    #[test]
    fn percentile() {
        assert_eq!(
            render_test(r#"{{ render_percentile_expr("booking_value", 0.99, False, False) }}"#),
            "PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY booking_value)"
        );
        assert_eq!(
            render_test(r#"{{ render_percentile_expr("booking_value", 0.5, True, True) }}"#),
            "PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY booking_value)"
        );
    }

    #[test]
    fn filter_templates() {
        assert_eq!(
            render_test("{{ render_dimension_template('booking__is_instant') }} = 1"),
            "{{ Dimension('booking__is_instant') }} = 1"
        );
        assert_eq!(
            render_test("{{ render_time_dimension_template('metric_time', 'day') }}"),
            "{{ TimeDimension('metric_time', 'day') }}"
        );
        assert_eq!(
            render_test("{{ render_time_dimension_template('metric_time') }}"),
            "{{ TimeDimension('metric_time') }}"
        );
        assert_eq!(
            render_test("{{ render_entity_template('listing') }}"),
            "{{ Entity('listing') }}"
        );
        assert_eq!(
            render_test("{{ render_metric_template('bookings', ['listing']) }} > 2"),
            "{{ Metric('bookings', group_by=['listing']) }} > 2"
        );
    }

    #[test]
    fn time_constraint_wraps_filter_template() {
        assert_eq!(
            render_test(
                "{{ render_time_constraint(render_time_dimension_template('metric_time', 'day'), start_time=\"2020-01-01\") }}"
            ),
            "CAST({{ TimeDimension('metric_time', 'day') }} AS TIMESTAMP) >= CAST('2020-01-01' AS TIMESTAMP)"
        );
    }

    #[test]
    fn rendered_sql_runs_on_duckdb() {
        use crate::warehouse::{DuckDb, Value, Warehouse};
        let warehouse = DuckDb::open_in_memory().unwrap();
        warehouse
            .execute_batch(
                "CREATE SCHEMA simple_model; \
                 CREATE TABLE simple_model.t (ds TIMESTAMP, n BIGINT, v DOUBLE); \
                 INSERT INTO simple_model.t VALUES ('2020-01-02', 2, 1.5), ('2020-01-05', 1, 2.5)",
            )
            .unwrap();
        let day = |month, day| {
            chrono::NaiveDate::from_ymd_opt(2020, month, day)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
        };

        let expressions = render_test(
            "SELECT {{ render_date_trunc('ds', TimeGranularity.QUARTER) }}, \
             {{ render_extract('ds', DatePart.DOW) }}, \
             {{ render_date_sub('t', 'ds', 1, TimeGranularity.QUARTER) }}, \
             {{ render_date_add('t.ds', '(t.n - 1)', TimeGranularity.DAY) }}, \
             CAST(n AS {{ double_data_type_name }}) \
             FROM {{ source_schema }}.t \
             WHERE {{ render_time_constraint('ds', '2020-01-01', '2020-01-02') }}",
        );
        let row = &warehouse.query(&expressions).unwrap().rows[0];
        assert_eq!(row[0], Value::Timestamp(day(1, 1)));
        assert_eq!(row[1], Value::Int(4));
        assert_eq!(
            row[2],
            Value::Timestamp(
                chrono::NaiveDate::from_ymd_opt(2019, 10, 2)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap()
            )
        );
        assert_eq!(row[3], Value::Timestamp(day(1, 3)));
        assert_eq!(row[4], Value::Float(2.0));

        let aggregates = render_test(
            "SELECT {{ render_percentile_expr('v', 0.5, False, False) }}, \
             {{ render_percentile_expr('v', 0.5, True, False) }}, \
             COUNT(DISTINCT {{ generate_random_uuid() }}) \
             FROM {{ mf_time_spine_source }}",
        );
        warehouse
            .execute_batch(
                "CREATE TABLE simple_model.mf_time_spine AS SELECT * FROM simple_model.t",
            )
            .unwrap();
        let totals = &warehouse.query(&aggregates).unwrap().rows[0];
        assert_eq!(totals[0], Value::Float(2.0));
        assert_eq!(totals[1], Value::Float(1.5));
        assert_eq!(totals[2], Value::Int(2));
    }

    #[test]
    fn undefined_name_fails() {
        let environment = environment("s", "mf_time_spine");
        assert!(render(&environment, "{{ sourse_schema }}").is_err());
        assert!(render(&environment, "{{ TimeGranularity.FORTNIGHT }}").is_err());
    }
}
