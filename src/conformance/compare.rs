//! Comparison of the engine's result with the expected rows.
//!
//! Column names must match, ignoring ASCII case and order. Rows are compared
//! as a multiset unless the case sets `check_order`. Numbers are equal within
//! 1e-6 (absolute, or relative to the larger magnitude). A DATE equals the
//! TIMESTAMP at midnight of that day, and NULL equals NULL.

use std::cmp::Ordering;

use chrono::NaiveDateTime;

use crate::warehouse::{Table, Value};

/// Tolerance for numbers, absolute below 1 and relative above.
const FLOAT_TOLERANCE: f64 = 1e-6;
/// How many differing rows a failure message shows from each side.
const EXAMPLE_ROWS: usize = 3;

/// Compares `actual` with `expected`; the error describes the first differences.
pub(crate) fn compare_tables(
    expected: &Table,
    actual: &Table,
    check_order: bool,
) -> Result<(), String> {
    let expected_names = lowercase_names(expected)?;
    let actual_names = lowercase_names(actual)?;

    // Map each expected column to its position in `actual`.
    let mut positions = Vec::with_capacity(expected_names.len());
    let mut missing = Vec::new();
    for name in &expected_names {
        match actual_names
            .iter()
            .position(|actual_name| actual_name == name)
        {
            Some(position) => positions.push(position),
            None => missing.push(name.as_str()),
        }
    }
    let unexpected: Vec<&str> = actual_names
        .iter()
        .filter(|name| !expected_names.contains(name))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        return Err(format!(
            "columns differ: missing [{}], unexpected [{}]; expected [{}], got [{}]",
            missing.join(", "),
            unexpected.join(", "),
            expected_names.join(", "),
            actual_names.join(", ")
        ));
    }

    let actual_rows: Vec<Vec<Value>> = actual
        .rows
        .iter()
        .map(|row| {
            positions
                .iter()
                .map(|&position| row[position].clone())
                .collect()
        })
        .collect();
    if check_order {
        compare_ordered(&expected.rows, &actual_rows)
    } else {
        compare_unordered(&expected.rows, &actual_rows)
    }
    .map_err(|difference| format!("{difference} (columns: {})", expected_names.join(", ")))
}

fn lowercase_names(table: &Table) -> Result<Vec<String>, String> {
    let names: Vec<String> = table
        .columns
        .iter()
        .map(|column| column.name.to_ascii_lowercase())
        .collect();
    for (index, name) in names.iter().enumerate() {
        if names[..index].contains(name) {
            return Err(format!("column `{name}` appears twice"));
        }
    }
    Ok(names)
}

fn compare_ordered(expected: &[Vec<Value>], actual: &[Vec<Value>]) -> Result<(), String> {
    let first_difference = expected
        .iter()
        .zip(actual)
        .position(|(expected_row, actual_row)| !rows_equal(expected_row, actual_row));
    if let Some(index) = first_difference {
        return Err(format!(
            "row {} differs: expected {}, got {}",
            index + 1,
            format_row(&expected[index]),
            format_row(&actual[index])
        ));
    }
    if expected.len() != actual.len() {
        return Err(format!(
            "expected {} rows, got {}",
            expected.len(),
            actual.len()
        ));
    }
    Ok(())
}

/// Compares rows as multisets.
///
/// Both sides are sorted and walked in step; rows left unmatched there
/// (floats within tolerance may sort apart) are matched pairwise.
fn compare_unordered(expected: &[Vec<Value>], actual: &[Vec<Value>]) -> Result<(), String> {
    let mut expected_sorted: Vec<&Vec<Value>> = expected.iter().collect();
    let mut actual_sorted: Vec<&Vec<Value>> = actual.iter().collect();
    expected_sorted.sort_by(|left, right| compare_rows(left, right));
    actual_sorted.sort_by(|left, right| compare_rows(left, right));

    let mut expected_left = Vec::new();
    let mut actual_left = Vec::new();
    let (mut expected_index, mut actual_index) = (0, 0);
    while expected_index < expected_sorted.len() && actual_index < actual_sorted.len() {
        let expected_row = expected_sorted[expected_index];
        let actual_row = actual_sorted[actual_index];
        if rows_equal(expected_row, actual_row) {
            expected_index += 1;
            actual_index += 1;
            continue;
        }
        if compare_rows(expected_row, actual_row) == Ordering::Less {
            expected_left.push(expected_row);
            expected_index += 1;
        } else {
            actual_left.push(actual_row);
            actual_index += 1;
        }
    }
    expected_left.extend(&expected_sorted[expected_index..]);
    actual_left.extend(&actual_sorted[actual_index..]);

    expected_left.retain(|expected_row| {
        match actual_left
            .iter()
            .position(|actual_row| rows_equal(expected_row, actual_row))
        {
            Some(position) => {
                actual_left.swap_remove(position);
                false
            }
            None => true,
        }
    });
    if expected_left.is_empty() && actual_left.is_empty() {
        return Ok(());
    }

    Err(format!(
        "expected {} rows, got {}; {} expected rows not found, e.g. {}; {} unexpected rows, e.g. {}",
        expected.len(),
        actual.len(),
        expected_left.len(),
        format_examples(&expected_left),
        actual_left.len(),
        format_examples(&actual_left)
    ))
}

fn format_examples(rows: &[&Vec<Value>]) -> String {
    if rows.is_empty() {
        return "none".to_owned();
    }
    let examples: Vec<String> = rows
        .iter()
        .take(EXAMPLE_ROWS)
        .map(|row| format_row(row))
        .collect();
    examples.join(" ")
}

fn format_row(row: &[Value]) -> String {
    let cells: Vec<String> = row
        .iter()
        .map(|value| match value {
            Value::Text(text) => format!("'{text}'"),
            other => other.to_string(),
        })
        .collect();
    format!("({})", cells.join(", "))
}

fn rows_equal(expected: &[Value], actual: &[Value]) -> bool {
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual)
            .all(|(expected_value, actual_value)| values_equal(expected_value, actual_value))
}

/// Equality under the comparison rules in the module documentation.
pub(crate) fn values_equal(expected: &Value, actual: &Value) -> bool {
    if let (Some(left), Some(right)) = (expected.as_f64(), actual.as_f64()) {
        return numbers_close(left, right);
    }
    if let (Some(left), Some(right)) = (moment(expected), moment(actual)) {
        return left == right;
    }
    match (expected, actual) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(left), Value::Bool(right)) => left == right,
        (Value::Text(left), Value::Text(right)) => left == right,
        _ => false,
    }
}

fn numbers_close(left: f64, right: f64) -> bool {
    if left.is_nan() || right.is_nan() {
        return left.is_nan() && right.is_nan();
    }
    if left == right {
        return true;
    }
    let scale = left.abs().max(right.abs()).max(1.0);
    (left - right).abs() <= FLOAT_TOLERANCE * scale
}

fn moment(value: &Value) -> Option<NaiveDateTime> {
    match value {
        Value::Date(date) => date.and_hms_opt(0, 0, 0),
        Value::Timestamp(moment) => Some(*moment),
        _ => None,
    }
}

/// Orders rows totally, agreeing with [`values_equal`] on exact values.
/// NULL sorts first, then booleans, numbers, text and times.
fn compare_rows(left: &[Value], right: &[Value]) -> Ordering {
    for (left_value, right_value) in left.iter().zip(right) {
        let ordering = compare_values(left_value, right_value);
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    left.len().cmp(&right.len())
}

fn compare_values(left: &Value, right: &Value) -> Ordering {
    let rank_order = rank(left).cmp(&rank(right));
    if rank_order != Ordering::Equal {
        return rank_order;
    }
    match (left, right) {
        (Value::Bool(left), Value::Bool(right)) => left.cmp(right),
        (Value::Text(left), Value::Text(right)) => left.cmp(right),
        _ => {
            if let (Some(left), Some(right)) = (left.as_f64(), right.as_f64()) {
                return left.total_cmp(&right);
            }
            if let (Some(left), Some(right)) = (moment(left), moment(right)) {
                return left.cmp(&right);
            }
            Ordering::Equal
        }
    }
}

fn rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Int(_) | Value::Float(_) => 2,
        Value::Text(_) => 3,
        Value::Date(_) | Value::Timestamp(_) => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::Column;
    use chrono::NaiveDate;

    fn table(names: &[&str], rows: Vec<Vec<Value>>) -> Table {
        Table {
            columns: names
                .iter()
                .map(|name| Column {
                    name: (*name).to_owned(),
                    type_name: String::new(),
                })
                .collect(),
            rows,
        }
    }

    fn text(value: &str) -> Value {
        Value::Text(value.to_owned())
    }

    #[test]
    fn floats_within_tolerance_are_equal() {
        assert!(values_equal(&Value::Float(0.1 + 0.2), &Value::Float(0.3)));
        assert!(values_equal(
            &Value::Float(1_000_000.0),
            &Value::Float(1_000_000.5)
        ));
        assert!(values_equal(&Value::Int(3), &Value::Float(3.000_000_1)));
        assert!(!values_equal(&Value::Float(1.0), &Value::Float(1.001)));
        assert!(!values_equal(&Value::Float(0.0), &Value::Float(0.000_01)));
    }

    #[test]
    fn date_equals_midnight_timestamp() {
        let day = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let midnight = day.and_hms_opt(0, 0, 0).unwrap();
        let noon = day.and_hms_opt(12, 0, 0).unwrap();

        assert!(values_equal(&Value::Date(day), &Value::Timestamp(midnight)));
        assert!(values_equal(&Value::Timestamp(midnight), &Value::Date(day)));
        assert!(!values_equal(&Value::Date(day), &Value::Timestamp(noon)));
    }

    #[test]
    fn nulls_equal_only_nulls() {
        assert!(values_equal(&Value::Null, &Value::Null));
        assert!(!values_equal(&Value::Null, &Value::Int(0)));
        assert!(!values_equal(&text(""), &Value::Null));
    }

    #[test]
    fn rows_compared_as_multiset() {
        let expected = table(
            &["metric_time__day", "bookings"],
            vec![
                vec![text("a"), Value::Int(1)],
                vec![text("b"), Value::Int(2)],
                vec![text("b"), Value::Int(2)],
            ],
        );
        let actual = table(
            &["BOOKINGS", "metric_time__day"],
            vec![
                vec![Value::Float(2.0), text("b")],
                vec![Value::Int(1), text("a")],
                vec![Value::Int(2), text("b")],
            ],
        );

        assert_eq!(compare_tables(&expected, &actual, false), Ok(()));
    }

    #[test]
    fn duplicate_rows_count() {
        let expected = table(&["x"], vec![vec![Value::Int(1)], vec![Value::Int(1)]]);
        let actual = table(&["x"], vec![vec![Value::Int(1)]]);

        let error = compare_tables(&expected, &actual, false).unwrap_err();

        assert_eq!(
            error,
            "expected 2 rows, got 1; 1 expected rows not found, e.g. (1); 0 unexpected rows, e.g. none (columns: x)"
        );
    }

    #[test]
    fn floats_that_sort_apart_still_match() {
        let expected = table(
            &["x", "y"],
            vec![
                vec![Value::Float(1.0), text("b")],
                vec![Value::Float(1.000_000_1), text("a")],
            ],
        );
        let actual = table(
            &["x", "y"],
            vec![
                vec![Value::Float(1.000_000_1), text("b")],
                vec![Value::Float(1.0), text("a")],
            ],
        );

        assert_eq!(compare_tables(&expected, &actual, false), Ok(()));
    }

    #[test]
    fn order_checked_when_asked() {
        let expected = table(&["x"], vec![vec![Value::Int(1)], vec![Value::Int(2)]]);
        let reversed = table(&["x"], vec![vec![Value::Int(2)], vec![Value::Int(1)]]);

        assert_eq!(compare_tables(&expected, &reversed, false), Ok(()));
        assert_eq!(
            compare_tables(&expected, &reversed, true),
            Err("row 1 differs: expected (1), got (2) (columns: x)".to_owned())
        );
    }

    #[test]
    fn ordered_length_mismatch() {
        let expected = table(&["x"], vec![vec![Value::Int(1)]]);
        let longer = table(&["x"], vec![vec![Value::Int(1)], vec![Value::Int(2)]]);

        assert_eq!(
            compare_tables(&expected, &longer, true),
            Err("expected 1 rows, got 2 (columns: x)".to_owned())
        );
    }

    #[test]
    fn column_mismatch_names_both_sides() {
        let expected = table(&["bookings", "metric_time__day"], vec![]);
        let actual = table(&["bookings", "metric_time"], vec![]);

        assert_eq!(
            compare_tables(&expected, &actual, false),
            Err(
                "columns differ: missing [metric_time__day], unexpected [metric_time]; \
                 expected [bookings, metric_time__day], got [bookings, metric_time]"
                    .to_owned()
            )
        );
    }

    #[test]
    fn differing_value_is_shown() {
        let expected = table(
            &["state", "views"],
            vec![
                vec![text("CA"), Value::Int(3)],
                vec![Value::Null, Value::Int(1)],
            ],
        );
        let actual = table(
            &["state", "views"],
            vec![
                vec![text("CA"), Value::Int(4)],
                vec![Value::Null, Value::Int(1)],
            ],
        );

        assert_eq!(
            compare_tables(&expected, &actual, false),
            Err(
                "expected 2 rows, got 2; 1 expected rows not found, e.g. ('CA', 3); \
                 1 unexpected rows, e.g. ('CA', 4) (columns: state, views)"
                    .to_owned()
            )
        );
    }
}
