//! Time to understand a question and compile it to SQL, without running the
//! SQL: time parsing, interpretation against the lexicon, planning and
//! compilation, for every question of the metric evaluation set.
//!
//! `wenshu::assistant`'s planner (`plan::plan` and `plan::merge`) is private,
//! so [`plan_query`] below rebuilds the same metric query from the public
//! pieces. Follow-up turns are therefore timed as questions on their own,
//! without merging them with the previous turn. Questions whose intent is
//! not a metric (glossary, fallback, refusal) stop after interpretation.
//! Before measuring, the bench sends every question to a real `Assistant`
//! and prints each one whose query differs from the copy's.
//!
//! The questions are read at bench time from the JSON Lines file named by
//! `WENSHU_BENCH_QUESTIONS` (default in [`questions_path`]). When the file is
//! missing, the bench prints why and measures nothing. The questions are
//! grouped into sets by the letters that start their case id: `d` (single
//! questions), `c` (turns of conversations) and `k` (glossary, out-of-scope
//! and refused questions).
//!
//! Criterion reports the mean time of one pass over each set. It has no
//! percentiles, so afterwards the bench times every question one by one
//! with `Instant`, `TIMED_ROUNDS` passes over all questions, and prints the
//! 50th and 99th percentile (nearest rank) of single questions for each set.
//!
//! The lexicon is built from a demo warehouse (seed 42, scale 1) generated
//! into Cargo's scratch folder for benches. Run with
//! `cargo bench --bench understand`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::Criterion;
use serde_json::Value as Json;
use wenshu::assistant::{Assistant, ConversationState};
use wenshu::compiler::{
    CompileOptions, CompiledQuery, MetricQuery, OrderBy, compile, relation_sql,
};
use wenshu::demo::{DemoOptions, generate};
use wenshu::semantic::{self, MetricKind, SemanticLayer, TimeGrain, load_dir};
use wenshu::understanding::interpret::{Filter, Intent, Interpretation, TimeReading, interpret};
use wenshu::understanding::lexicon::{Lexicon, normalize};
use wenshu::understanding::time::{
    self, CalendarPeriod, Period, PeriodKind, TimeContext, parse_time_in,
};
use wenshu::warehouse::{Value, Warehouse};

/// Passes over all questions timed one by one for the percentiles.
const TIMED_ROUNDS: usize = 2_000;

/// One evaluation question and the set it belongs to.
struct Question {
    set: String,
    text: String,
}

/// Everything a question is understood and compiled against.
struct Pipeline {
    layer: SemanticLayer,
    lexicon: Lexicon,
    time_context: TimeContext,
    options: CompileOptions,
}

impl Pipeline {
    /// Understands and compiles one question as `Assistant::respond` does,
    /// up to the SQL. Returns `None` for a question that is not a metric
    /// question or that has no query (no metric, no data, no compile).
    fn run(&self, question: &str) -> Option<CompiledQuery> {
        let query = self.plan(question)?;
        compile(&self.layer, &query, &self.options).ok()
    }

    /// Understands and plans one question, without compiling it.
    fn plan(&self, question: &str) -> Option<MetricQuery> {
        let normalized = normalize(question);
        let parse = parse_time_in(&normalized, &self.time_context);
        let interpretation = interpret(question, &self.layer, &self.lexicon, TimeReading { parse });
        if interpretation.intent != Intent::Metric {
            return None;
        }
        // Time words alone (那去年呢) are a question only as a follow-up, and
        // every question here starts a conversation.
        let only_time = interpretation.metrics.is_empty()
            && interpretation.filters.is_empty()
            && interpretation.group_by.is_empty()
            && interpretation.ranking.is_none();
        if only_time {
            return None;
        }
        plan_query(&interpretation, &self.layer, &self.time_context)
    }
}

// ---------------------------------------------------------------------------
// Setup

fn questions_path() -> PathBuf {
    match std::env::var_os("WENSHU_BENCH_QUESTIONS") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval/metrics_dev.jsonl"),
    }
}

/// Reads every turn of every case. A `{name}` placeholder in a question is
/// replaced by the first value of the case's `params.name` SQL.
fn read_questions(path: &Path, warehouse: &Warehouse) -> Vec<Question> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read `{}`: {error}", path.display()));
    let mut questions = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: Json = serde_json::from_str(line).unwrap_or_else(|error| {
            panic!("{}:{}: invalid JSON: {error}", path.display(), index + 1)
        });
        let id = case["id"].as_str().unwrap_or("?");
        let set = id
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect::<String>();

        let mut params = Vec::new();
        if let Some(object) = case["params"].as_object() {
            for (name, sql) in object {
                let sql = sql.as_str().unwrap_or_default();
                let table = warehouse.query(sql).unwrap_or_else(|error| {
                    panic!("case `{id}`: parameter `{name}` failed: {error}")
                });
                let value = table
                    .rows
                    .first()
                    .and_then(|row| row.first())
                    .map(Value::to_string);
                params.push((format!("{{{name}}}"), value.unwrap_or_default()));
            }
        }

        for turn in case["turns"].as_array().into_iter().flatten() {
            let Some(question) = turn["q"].as_str() else {
                continue;
            };
            let mut text = question.to_owned();
            for (placeholder, value) in &params {
                text = text.replace(placeholder, value);
            }
            questions.push(Question {
                set: set.clone(),
                text,
            });
        }
    }
    questions
}

/// Generates the demo warehouse into Cargo's scratch folder.
fn demo_warehouse() -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("understand_bench")
        .join("demo.duckdb");
    let options = DemoOptions {
        out: out.clone(),
        scale: 1,
        seed: 42,
        progress: false,
    };
    generate(&options)
        .unwrap_or_else(|error| panic!("cannot generate the demo warehouse: {error}"));
    out
}

/// Reads the first and latest day with data as `Assistant::open` does: the
/// latest day of any fact, and the first day of the fact that starts latest.
fn time_context(layer: &SemanticLayer, warehouse: &Warehouse) -> TimeContext {
    let mut range: Option<(NaiveDate, NaiveDate)> = None;
    for model in &layer.semantic_models {
        let Some(time_dimension) = model
            .default_agg_time_dimension
            .as_ref()
            .and_then(|name| model.dimension(name))
        else {
            continue;
        };
        if model.measures.is_empty() {
            continue;
        }
        let expr = &time_dimension.expr;
        let sql = format!(
            "SELECT CAST(MIN({expr}) AS DATE), CAST(MAX({expr}) AS DATE) FROM {}",
            relation_sql(&model.relation)
        );
        let table = warehouse.query(&sql).unwrap_or_else(|error| {
            panic!("cannot read the data range of `{}`: {error}", model.name)
        });
        if let Some([Value::Date(first), Value::Date(last)]) = table.rows.first().map(Vec::as_slice)
        {
            range = Some(match range {
                Some((known_first, known_last)) => (known_first.max(*first), known_last.max(*last)),
                None => (*first, *last),
            });
        }
    }
    let (first, last) = range.expect("the demo warehouse has dated rows");
    TimeContext::new(last).with_data_start(first)
}

// ---------------------------------------------------------------------------
// Planning, as the assistant's private planner does it

/// Builds the metric query for an interpretation: the metric (or the
/// layer's default), the period with the metric's default, the grain, the
/// filters, the ranking and the order.
///
/// NOTE: this mirrors `assistant::plan::plan`, which is private. When the
/// planner changes, this copy may time a slightly different query until it
/// is updated; [`differences_from_assistant`] prints the questions affected.
fn plan_query(
    interpretation: &Interpretation,
    layer: &SemanticLayer,
    context: &TimeContext,
) -> Option<MetricQuery> {
    let mut metrics = interpretation.metrics.clone();
    if metrics.is_empty() {
        metrics.push(layer.default_metric.clone()?);
    }
    let first = layer.metric(&metrics[0])?;
    let point_in_time = matches!(
        first.default_period,
        Some(semantic::DefaultPeriod::ReferenceDate)
    );
    let default_period = match first.default_period {
        Some(semantic::DefaultPeriod::YearToDate) => time::DefaultPeriod::YearToDate,
        Some(semantic::DefaultPeriod::ReferenceMonth) => time::DefaultPeriod::ReferenceMonth,
        _ => time::DefaultPeriod::ReferenceDay,
    };

    let resolved = interpretation
        .time
        .parse
        .resolve(context, default_period, None);
    let mut period = resolved.period;
    if !point_in_time
        && let PeriodKind::Day {
            end_of: Some(calendar),
        } = &period.kind
        && let Some(enclosing) = Period::calendar(*calendar, context)
    {
        period = enclosing;
    }
    if !period.coverage.has_data() {
        return None;
    }

    let mut grain = resolved.grain;
    if grain.is_none() && point_in_time {
        grain = period.rolling_unit();
    }
    if grain.is_none()
        && matches!(
            first.default_period,
            Some(semantic::DefaultPeriod::ReferenceMonth)
        )
    {
        let first_month = CalendarPeriod::containing(TimeGrain::Month, period.start);
        if first_month.is_some_and(|month| month.last_day() < period.end) {
            grain = Some(TimeGrain::Month);
        }
    }

    let mut group_by = interpretation.group_by.clone();
    let mut filters = interpretation.filters.clone();
    // A share of one group is a row of the breakdown by its dimension.
    if matches!(first.kind, MetricKind::Share { .. }) {
        for filter in std::mem::take(&mut filters) {
            if group_by.is_empty() || group_by.contains(&filter.dimension) {
                if !group_by.contains(&filter.dimension) {
                    group_by.push(filter.dimension.clone());
                }
            } else {
                filters.push(filter);
            }
        }
    }
    if let Some(grain) = grain {
        group_by.push(format!("metric_time__{}", grain.name()));
    }

    let mut order_by = Vec::new();
    let mut limit = None;
    if let Some(ranking) = interpretation.ranking
        && (group_by.iter().any(|item| !item.starts_with("metric_time")) || grain.is_none())
    {
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

    Some(MetricQuery {
        metrics,
        group_by,
        where_filters: filters.iter().map(filter_sql).collect(),
        start: Some(period.start),
        end: Some(period.end),
        order_by,
        limit,
    })
}

/// Writes a filter in MetricFlow's syntax, with values as SQL literals.
fn filter_sql(filter: &Filter) -> String {
    let column = format!("{{{{ Dimension('{}') }}}}", filter.dimension);
    let literals: Vec<String> = filter
        .values
        .iter()
        .map(|value| match value {
            Value::Text(text) => format!("'{}'", text.replace('\'', "''")),
            Value::Date(day) => format!("DATE '{day}'"),
            other => other.to_string(),
        })
        .collect();
    match literals.as_slice() {
        [single] => format!("{column} = {single}"),
        many => format!("{column} IN ({})", many.join(", ")),
    }
}

/// Sends every question to a real assistant in a new conversation and lists
/// those whose `query` differs from the one [`plan_query`] builds, so that a
/// drift of the copy shows in the bench's output.
fn differences_from_assistant(
    pipeline: &Pipeline,
    questions: &[Question],
    warehouse: &Path,
) -> Vec<String> {
    let layer_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("semantic_layer");
    let assistant = Assistant::open(&layer_dir, warehouse)
        .unwrap_or_else(|error| panic!("cannot open the assistant: {error}"));
    let mut differences = Vec::new();
    for question in questions {
        let response =
            assistant.respond("bench", &mut ConversationState::default(), &question.text);
        let expected = response.query.map(|query| {
            [
                query["metrics"].clone(),
                query["dimensions"].clone(),
                query["filters"].clone(),
                query["period"]["start"].clone(),
                query["period"]["end"].clone(),
                query["order"].clone(),
                query["limit"].clone(),
            ]
        });
        let actual = pipeline.plan(&question.text).map(|query| {
            let order: Vec<String> = query
                .order_by
                .iter()
                .map(|order| {
                    if order.descending {
                        format!("-{}", order.item)
                    } else {
                        order.item.clone()
                    }
                })
                .collect();
            [
                serde_json::json!(query.metrics),
                serde_json::json!(query.group_by),
                serde_json::json!(query.where_filters),
                serde_json::json!(query.start.map(|day| day.to_string())),
                serde_json::json!(query.end.map(|day| day.to_string())),
                serde_json::json!(order),
                serde_json::json!(query.limit),
            ]
        });
        if actual != expected {
            differences.push(format!(
                "`{}`: bench {actual:?}, assistant {expected:?}",
                question.text
            ));
        }
    }
    differences
}

// ---------------------------------------------------------------------------
// Measurements

/// Registers one criterion benchmark per question set. Each iteration is
/// one pass over the set.
fn bench_question_sets(
    criterion: &mut Criterion,
    pipeline: &Pipeline,
    sets: &BTreeMap<String, Vec<&str>>,
) {
    let mut group = criterion.benchmark_group("understand_and_compile");
    for (set, questions) in sets {
        group.bench_function(
            format!("set_{set}_{}_questions", questions.len()),
            |bencher| {
                bencher.iter(|| {
                    for question in questions {
                        black_box(pipeline.run(black_box(question)));
                    }
                })
            },
        );
    }
    group.finish();
}

/// Times every question one by one, `TIMED_ROUNDS` passes over all of them,
/// and prints the 50th and 99th percentile of each set and of all questions.
fn print_percentiles(pipeline: &Pipeline, questions: &[Question]) {
    let mut samples: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for _ in 0..TIMED_ROUNDS {
        for question in questions {
            let started = Instant::now();
            black_box(pipeline.run(black_box(&question.text)));
            let elapsed = started.elapsed();
            samples.entry(&question.set).or_default().push(elapsed);
            samples.entry("all").or_default().push(elapsed);
        }
    }

    println!(
        "\nunderstand + plan + compile, single questions timed one by one ({TIMED_ROUNDS} passes over {} questions):",
        questions.len()
    );
    println!(
        "{:<6} {:>9} {:>12} {:>12} {:>12}",
        "set", "samples", "p50", "p99", "max"
    );
    for (set, durations) in &mut samples {
        durations.sort_unstable();
        println!(
            "{set:<6} {:>9} {:>12?} {:>12?} {:>12?}",
            durations.len(),
            percentile(durations, 50.0),
            percentile(durations, 99.0),
            durations.last().copied().unwrap_or_default()
        );
    }
}

/// Returns the nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], percent: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let path = questions_path();
    let Ok(path) = path.canonicalize() else {
        println!(
            "skipped: no question file at `{}`; set WENSHU_BENCH_QUESTIONS to a JSON Lines file of evaluation cases",
            path.display()
        );
        return;
    };

    let layer_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("semantic_layer");
    let layer = load_dir(&layer_dir)
        .unwrap_or_else(|diagnostics| panic!("semantic_layer/ is invalid:\n{diagnostics}"));
    let warehouse_path = demo_warehouse();
    let warehouse = Warehouse::open_read_only(&warehouse_path)
        .unwrap_or_else(|error| panic!("cannot open `{}`: {error}", warehouse_path.display()));
    let lexicon = Lexicon::build(&layer, &warehouse)
        .unwrap_or_else(|error| panic!("cannot build the lexicon: {error}"));
    let time_context = time_context(&layer, &warehouse);
    let questions = read_questions(&path, &warehouse);
    let pipeline = Pipeline {
        layer,
        lexicon,
        options: CompileOptions {
            reference_date: Some(time_context.reference),
            ..CompileOptions::default()
        },
        time_context,
    };

    let compiled = questions
        .iter()
        .filter(|question| pipeline.run(&question.text).is_some())
        .count();
    println!(
        "{} questions from `{}`, {compiled} of them compiled to SQL",
        questions.len(),
        path.display()
    );
    let differences = differences_from_assistant(&pipeline, &questions, &warehouse_path);
    println!(
        "{} of {} queries differ from the assistant's (each question asked on its own)",
        differences.len(),
        questions.len()
    );
    for difference in &differences {
        println!("  {difference}");
    }
    let mut sets: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for question in &questions {
        sets.entry(question.set.clone())
            .or_default()
            .push(&question.text);
    }

    let mut criterion = Criterion::default().configure_from_args();
    bench_question_sets(&mut criterion, &pipeline, &sets);
    criterion.final_summary();

    print_percentiles(&pipeline, &questions);
}
