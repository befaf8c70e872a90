//! The typed metric query the compiler takes.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A request for metrics, broken down and filtered, over a time range.
///
/// Names follow MetricFlow's query syntax: group-by items are
/// `metric_time`, `metric_time__month`, `customer__customer_type`,
/// `listing__user__home_state` (a join path), `booking__ds__week` or an
/// entity such as `user`; filters are MetricFlow's Jinja filter expressions
/// (`{{ Dimension('customer__customer_type') }} = '个人'`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricQuery {
    pub metrics: Vec<String>,
    pub group_by: Vec<String>,
    #[serde(rename = "where")]
    pub where_filters: Vec<String>,
    /// Inclusive first day of `metric_time`.
    pub start: Option<NaiveDate>,
    /// Inclusive last day of `metric_time`.
    pub end: Option<NaiveDate>,
    pub order_by: Vec<OrderBy>,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderBy {
    /// A metric name or a group-by item as written in `group_by`.
    pub item: String,
    pub descending: bool,
}

impl OrderBy {
    /// Parses MetricFlow's form: `-metric_time` orders descending.
    pub fn parse(text: &str) -> OrderBy {
        match text.strip_prefix('-') {
            Some(item) => OrderBy {
                item: item.trim().to_owned(),
                descending: true,
            },
            None => OrderBy {
                item: text.trim().to_owned(),
                descending: false,
            },
        }
    }
}
