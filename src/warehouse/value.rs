use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use duckdb::types::{TimeUnit, ValueRef};
use serde::{Serialize, Serializer};

/// A single result value, converted from DuckDB's representation.
///
/// Decimals become `f64`: money is at most `DECIMAL(18,2)` here, which a
/// double holds to the cent for any realistic sum.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
}

impl Value {
    pub(crate) fn from_duckdb(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Boolean(flag) => Value::Bool(flag),
            ValueRef::TinyInt(number) => Value::Int(number.into()),
            ValueRef::SmallInt(number) => Value::Int(number.into()),
            ValueRef::Int(number) => Value::Int(number.into()),
            ValueRef::BigInt(number) => Value::Int(number),
            ValueRef::HugeInt(number) => {
                i64::try_from(number).map_or(Value::Float(number as f64), Value::Int)
            }
            ValueRef::UTinyInt(number) => Value::Int(number.into()),
            ValueRef::USmallInt(number) => Value::Int(number.into()),
            ValueRef::UInt(number) => Value::Int(number.into()),
            ValueRef::UBigInt(number) => {
                i64::try_from(number).map_or(Value::Float(number as f64), Value::Int)
            }
            ValueRef::UHugeInt(number) => {
                i64::try_from(number).map_or(Value::Float(number as f64), Value::Int)
            }
            ValueRef::Float(number) => Value::Float(number.into()),
            ValueRef::Double(number) => Value::Float(number),
            ValueRef::Decimal(decimal) => {
                let scale = 10f64.powi(i32::from(decimal.scale()));
                Value::Float(decimal.value() as f64 / scale)
            }
            ValueRef::Date32(days) => {
                NaiveDate::from_num_days_from_ce_opt(days + UNIX_EPOCH_DAYS_FROM_CE)
                    .map_or(Value::Null, Value::Date)
            }
            ValueRef::Timestamp(unit, amount) => timestamp_from(unit, amount),
            ValueRef::Text(bytes) => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
            other => Value::Text(format!("{other:?}")),
        }
    }

    /// Returns the value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(number) => Some(*number as f64),
            Value::Float(number) => Some(*number),
            _ => None,
        }
    }

    /// Returns true for SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Days from 0001-01-01 (day 1 in chrono's count) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

fn timestamp_from(unit: TimeUnit, amount: i64) -> Value {
    let micros = match unit {
        TimeUnit::Second => amount.saturating_mul(1_000_000),
        TimeUnit::Millisecond => amount.saturating_mul(1_000),
        TimeUnit::Microsecond => amount,
        TimeUnit::Nanosecond => amount / 1_000,
    };
    DateTime::from_timestamp_micros(micros)
        .map_or(Value::Null, |moment| Value::Timestamp(moment.naive_utc()))
}

impl fmt::Display for Value {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => formatter.write_str("NULL"),
            Value::Bool(flag) => write!(formatter, "{flag}"),
            Value::Int(number) => write!(formatter, "{number}"),
            Value::Float(number) => write!(formatter, "{number}"),
            Value::Text(text) => formatter.write_str(text),
            Value::Date(date) => write!(formatter, "{}", date.format("%Y-%m-%d")),
            Value::Timestamp(moment) => write!(formatter, "{}", moment.format("%Y-%m-%d %H:%M:%S")),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_none(),
            Value::Bool(flag) => serializer.serialize_bool(*flag),
            Value::Int(number) => serializer.serialize_i64(*number),
            Value::Float(number) => serializer.serialize_f64(*number),
            Value::Text(text) => serializer.serialize_str(text),
            Value::Date(_) | Value::Timestamp(_) => serializer.collect_str(self),
        }
    }
}
