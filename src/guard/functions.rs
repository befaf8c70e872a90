//! The DuckDB functions a guarded query may call.
//!
//! The list contains the scalar, aggregate and window functions that metric
//! queries need: arithmetic, dates, strings, conditionals and statistics.
//! Anything else is rejected, most importantly the functions that read files
//! or URLs (`read_csv`, `read_parquet`, `glob`), expose the environment or
//! settings (`getenv`, `current_setting`, `duckdb_settings`) or build large
//! values from a small input (`range`, `generate_series`, `repeat`, `lpad`).
//!
//! `CAST`, `TRY_CAST`, `EXTRACT`, `SUBSTRING (… FROM …)`, `TRIM (… FROM …)`,
//! `POSITION (… IN …)`, `CEIL`/`FLOOR (… TO …)` and `INTERVAL` are expressions
//! of their own in sqlparser, not function calls, so they never reach this
//! list. The plain-call forms `substring(s, 1, 2)` and `ceil(x)` do.
//!
//! The list also contains the Spark SQL spellings that compiled Spark SQL uses
//! (`add_months`, `date_add`, `datediff`, `min_by`, `max_by`); none reads
//! outside the query's rows.
//!
//! `current_date` and `today` are left out because in the bundled DuckDB
//! (2.0.0, from the `duckdb` crate 1.20000.1) they need the ICU extension,
//! which DuckDB downloads unless extension autoloading is off. Compiled SQL
//! writes its dates as literals.

/// Lower-case names of the functions a guarded query may call, sorted so
/// that [`is_allowed_function`] can search them.
const ALLOWED_FUNCTIONS: &[&str] = &[
    "abs",
    "add_months",
    "any_value",
    "approx_count_distinct",
    "arg_max",
    "arg_min",
    "argmax",
    "argmin",
    "avg",
    "bool_and",
    "bool_or",
    "ceil",
    "ceiling",
    "char_length",
    "coalesce",
    "concat",
    "concat_ws",
    "contains",
    "corr",
    "count",
    "count_if",
    "covar_pop",
    "covar_samp",
    "cume_dist",
    "date_add",
    "date_diff",
    "date_part",
    "date_sub",
    "date_trunc",
    "datediff",
    "datepart",
    "datesub",
    "datetrunc",
    "day",
    "dayname",
    "dayofmonth",
    "dayofweek",
    "dayofyear",
    "dense_rank",
    "ends_with",
    "epoch",
    "epoch_ms",
    "exp",
    "first",
    "first_value",
    "floor",
    "greatest",
    "grouping",
    "if",
    "ifnull",
    "isodow",
    "isoyear",
    "lag",
    "last",
    "last_day",
    "last_value",
    "lcase",
    "lead",
    "least",
    "left",
    "length",
    "ln",
    "log",
    "log10",
    "log2",
    "lower",
    "ltrim",
    "make_date",
    "max",
    "max_by",
    "mean",
    "median",
    "min",
    "min_by",
    "mod",
    "mode",
    "month",
    "monthname",
    "nth_value",
    "ntile",
    "nullif",
    "percent_rank",
    "percentile_cont",
    "percentile_disc",
    "pow",
    "power",
    "product",
    "quantile",
    "quantile_cont",
    "quantile_disc",
    "quarter",
    "rank",
    "replace",
    "right",
    "round",
    "row_number",
    "rtrim",
    "sign",
    "split_part",
    "sqrt",
    "starts_with",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "strftime",
    "string_agg",
    "strpos",
    "strptime",
    "substr",
    "substring",
    "sum",
    "to_days",
    "to_months",
    "to_quarters",
    "to_weeks",
    "to_years",
    "trim",
    "trunc",
    "ucase",
    "upper",
    "var_pop",
    "var_samp",
    "variance",
    "week",
    "weekday",
    "weekofyear",
    "year",
    "yearweek",
];

/// Returns whether a guarded query may call the unqualified function `name`,
/// compared case-insensitively as DuckDB does.
pub(super) fn is_allowed_function(name: &str) -> bool {
    let name = name.to_lowercase();
    ALLOWED_FUNCTIONS.binary_search(&name.as_str()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_is_sorted_and_lowercase() {
        for pair in ALLOWED_FUNCTIONS.windows(2) {
            assert!(
                pair[0] < pair[1],
                "`{}` must come after `{}`",
                pair[1],
                pair[0]
            );
        }
        for name in ALLOWED_FUNCTIONS {
            assert_eq!(*name, name.to_lowercase(), "`{name}` is not lowercase");
        }
    }

    #[test]
    fn allow_list_ignores_case() {
        assert!(is_allowed_function("SUM"));
        assert!(is_allowed_function("Date_Trunc"));
        assert!(!is_allowed_function("READ_CSV"));
    }
}
