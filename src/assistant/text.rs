//! The sentences of an answer, in Chinese or English.

use crate::semantic::{Metric, Unit};
use crate::warehouse::Value;

/// Formats a value as bankers write it: money in 万元 or 亿元, rates with a
/// percent sign, counts with thousands separators.
pub fn format_value(value: &Value, unit: Option<Unit>, english: bool) -> String {
    let Some(number) = value.as_f64() else {
        return match value {
            Value::Null => {
                if english {
                    "no value".to_owned()
                } else {
                    "无数据".to_owned()
                }
            }
            other => other.to_string(),
        };
    };
    match unit {
        Some(Unit::Percent) => format!("{number:.2}%"),
        Some(Unit::Count) => group_thousands(number.round()),
        // English readers count in millions and billions, not in 万 and 亿.
        Some(Unit::Yuan) if english => {
            if number.abs() >= 1e9 {
                format!("{:.2} billion yuan", number / 1e9)
            } else if number.abs() >= 1e6 {
                format!("{:.2} million yuan", number / 1e6)
            } else {
                format!("{} yuan", group_thousands(number))
            }
        }
        Some(Unit::Yuan) => {
            if number.abs() >= 1e8 {
                format!("{:.2} 亿元", number / 1e8)
            } else if number.abs() >= 1e4 {
                format!("{:.2} 万元", number / 1e4)
            } else {
                format!("{number:.2} 元")
            }
        }
        _ => {
            if number.fract() == 0.0 {
                group_thousands(number)
            } else {
                format!("{number:.2}")
            }
        }
    }
}

fn group_thousands(number: f64) -> String {
    let digits = format!("{:.0}", number.abs());
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if number < 0.0 {
        grouped.insert(0, '-');
    }
    grouped
}

/// The metric's name in the answer's language.
pub fn metric_name(metric: &Metric, english: bool) -> String {
    if english {
        metric.name.replace('_', " ")
    } else {
        metric.label.clone().unwrap_or_else(|| metric.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_in_bankers_units() {
        assert_eq!(
            format_value(&Value::Float(473_000_000.0), Some(Unit::Yuan), false),
            "4.73 亿元"
        );
        assert_eq!(
            format_value(&Value::Float(12_345.0), Some(Unit::Yuan), false),
            "1.23 万元"
        );
        assert_eq!(
            format_value(&Value::Float(99.5), Some(Unit::Yuan), false),
            "99.50 元"
        );
    }

    #[test]
    fn percents_and_counts() {
        assert_eq!(
            format_value(&Value::Float(5.234), Some(Unit::Percent), false),
            "5.23%"
        );
        assert_eq!(
            format_value(&Value::Int(1_234_567), Some(Unit::Count), false),
            "1,234,567"
        );
        assert_eq!(
            format_value(&Value::Null, Some(Unit::Count), false),
            "无数据"
        );
    }
}
