//! Builds the response of each answer kind.

use crate::compiler::{OutputKind, compile_with};
use crate::semantic::{MetricKind, TimeGrain, Unit};
use crate::understanding::interpret::Interpretation;
use crate::understanding::lexicon::Lexicon;
use crate::warehouse::Value;

use super::plan::{self, PlanError, Turn, describe_period};
use super::text::{format_value, metric_name};
use super::{
    AnswerError, AnswerKind, Assistant, ChartKind, ChatResponse, ConversationState, FaqAnswer,
    Headline, ResponseColumn, Stage,
};

/// Writes a row's key for people. A time bucket is named by its period
/// (2026-01, 2026Q1, 2026), because the value covers the whole period, not
/// its first day. Other values are written as they are.
fn bucket_label(column: &str, value: &Value, english: bool) -> String {
    let Value::Date(day) = value else {
        return value.to_string();
    };
    use chrono::Datelike;
    match column.strip_prefix("metric_time__") {
        Some("month") => day.format("%Y-%m").to_string(),
        Some("quarter") => format!("{}Q{}", day.year(), (day.month() - 1) / 3 + 1),
        Some("year") => day.year().to_string(),
        Some("week") if english => format!("week of {}", day.format("%Y-%m-%d")),
        Some("week") => format!("{}当周", day.format("%Y-%m-%d")),
        _ => day.format("%Y-%m-%d").to_string(),
    }
}

/// Names the filters of a question, so a figure says what it covers:
/// 日均存款（个人）.
fn filter_qualifier(interpretation: &Interpretation, lexicon: &Lexicon, english: bool) -> String {
    let values: Vec<String> = interpretation
        .filters
        .iter()
        .flat_map(|filter| {
            filter.values.iter().map(|value| {
                lexicon
                    .value_word(&filter.dimension, value)
                    .unwrap_or_else(|| value.to_string())
            })
        })
        .collect();
    match (values.is_empty(), english) {
        (true, _) => String::new(),
        (false, true) => format!(" ({})", values.join(", ")),
        (false, false) => format!("（{}）", values.join("、")),
    }
}

/// Sorts a breakdown's rows by its first metric, largest first and empty
/// values last, as its chart and sentence read best.
fn sort_largest_first(rows: &mut [Vec<Value>], columns: &[crate::compiler::OutputColumn]) {
    let Some(index) = columns
        .iter()
        .position(|column| column.kind == OutputKind::Metric)
    else {
        return;
    };
    rows.sort_by(
        |left, right| match (left[index].as_f64(), right[index].as_f64()) {
            (Some(left), Some(right)) => right.total_cmp(&left),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        },
    );
}

/// True when a question names only time words: no metric, filter,
/// breakdown or ranking.
pub(super) fn is_only_time(interpretation: &Interpretation) -> bool {
    interpretation.metrics.is_empty()
        && interpretation.filters.is_empty()
        && interpretation.group_by.is_empty()
        && interpretation.ranking.is_none()
}

pub(super) fn refusal_text(english: bool) -> &'static str {
    if english {
        "Wenshu only reads data: it cannot change or delete data, export personal data or run SQL you write. Ask for a figure instead, such as the deposit balance by branch."
    } else {
        "问数只读取数据，不能修改或删除数据、导出客户个人信息，也不能执行您给出的 SQL。您可以问一个指标，例如“各支行存款余额”。"
    }
}

pub(super) fn clarify_text(english: bool) -> &'static str {
    if english {
        "Your question can be read in more than one way. Which did you mean?"
    } else {
        "这个问题有几种理解，请选择您想问的是哪一个："
    }
}

impl Assistant {
    /// Example questions built from the semantic layer's own labels: a
    /// top 5 by the breakdown with the most values that still fit one
    /// phone screen of bars (6 to 12), a year-to-date figure, a rate, a
    /// monthly series, a count and a share by the smallest breakdown (a
    /// pie), on different metrics where the layer has ones that fit.
    /// Asks what to rank by, offering the breakdowns the metric has.
    fn ranking_without_breakdown(
        &self,
        session_id: &str,
        plan: &plan::Plan,
        options: &crate::compiler::CompileOptions,
        english: bool,
    ) -> ChatResponse {
        let metric = self
            .layer
            .metric(&plan.query.metrics[0])
            .map(|metric| metric_name(metric, english))
            .unwrap_or_default();
        let limit = plan.query.limit.filter(|limit| *limit > 1).unwrap_or(5);
        let candidates: Vec<String> = self
            .lexicon
            .dimensions
            .iter()
            .filter(|dimension| {
                let mut by = plan.query.clone();
                by.group_by = vec![dimension.item.clone()];
                compile_with(&self.layer, &by, options, self.engine.dialect()).is_ok()
            })
            .take(3)
            .map(|dimension| {
                let label = self.column_label(&dimension.item, english);
                if english {
                    format!("top {limit} {label} by {metric}")
                } else {
                    format!("各{label}{metric}前{limit}")
                }
            })
            .collect();
        let text = if english {
            format!("A ranking of {metric} needs a breakdown. Rank what, for example:")
        } else {
            format!("{metric}要按什么排名？请说明维度，例如：")
        };
        let mut response = ChatResponse::text_only(session_id, AnswerKind::Clarify, text);
        response.candidates = Some(candidates);
        response
    }

    pub fn example_questions(&self, english: bool) -> Vec<String> {
        use crate::semantic::DefaultPeriod;

        let dimensions = &self.lexicon.dimensions;
        let breakdown = dimensions
            .iter()
            .filter(|dimension| (6..=12).contains(&dimension.values.len()))
            .max_by_key(|dimension| dimension.values.len())
            .map(|dimension| self.column_label(&dimension.item, english));
        let smallest_breakdown = dimensions
            .iter()
            .filter(|dimension| dimension.values.len() >= 2)
            .min_by_key(|dimension| dimension.values.len())
            .map(|dimension| self.column_label(&dimension.item, english));
        let mut used: Vec<&str> = Vec::new();
        let mut examples = Vec::new();
        let mut pick = |fits: &dyn Fn(&crate::semantic::Metric) -> bool| {
            let metric = self
                .layer
                .metrics
                .iter()
                .find(|metric| !used.contains(&metric.name.as_str()) && fits(metric))?;
            used.push(&metric.name);
            Some(metric_name(metric, english))
        };

        let point_money = |metric: &crate::semantic::Metric| {
            metric.unit == Some(Unit::Yuan)
                && metric.default_period == Some(DefaultPeriod::ReferenceDate)
                && matches!(metric.kind, MetricKind::Simple { .. })
        };
        let average_money = |metric: &crate::semantic::Metric| {
            metric.unit == Some(Unit::Yuan)
                && metric.default_period == Some(DefaultPeriod::YearToDate)
                && matches!(metric.kind, MetricKind::Simple { .. })
        };
        if let (Some(dimension), Some(name)) = (&breakdown, pick(&point_money)) {
            examples.push(if english {
                format!("Top 5 {dimension} by {name}")
            } else {
                format!("各{dimension}{name}前五")
            });
        }
        if let Some(name) = pick(&average_money) {
            examples.push(if english {
                format!("{name} year to date")
            } else {
                format!("今年以来{name}是多少？")
            });
        }
        if let Some(name) = pick(&|metric| {
            metric.unit == Some(Unit::Percent) && matches!(metric.kind, MetricKind::Derived { .. })
        }) {
            examples.push(if english {
                format!("What is the {name}?")
            } else {
                format!("{name}是多少？")
            });
        }
        // A series of the first figure reads best, so this one may repeat it.
        let first_figure = self.layer.metrics.iter().find(|metric| point_money(metric));
        if let Some(name) = first_figure.map(|metric| metric_name(metric, english)) {
            examples.push(if english {
                format!("{name} by month this year")
            } else {
                format!("今年每月{name}")
            });
        }
        if let Some(name) = pick(&|metric| metric.unit == Some(Unit::Count)) {
            examples.push(if english {
                format!("{name} last month")
            } else {
                format!("上个月{name}")
            });
        }
        let share =
            |metric: &crate::semantic::Metric| matches!(metric.kind, MetricKind::Share { .. });
        if let (Some(dimension), Some(name)) = (&smallest_breakdown, pick(&share)) {
            examples.push(if english {
                format!("{name} by {dimension}")
            } else {
                format!("各{dimension}{name}")
            });
        }
        examples
    }

    pub(super) fn fallback(&self, session_id: &str, english: bool) -> ChatResponse {
        let text = if english {
            "Wenshu answers questions about the bank's deposit metrics (balances, averages, growth, shares, depositors, interest) and e-banking how-tos. Try one of these:"
        } else {
            "问数可以回答存款类指标（余额、日均、增长、占比、客户数、付息等）和电子银行操作的问题。您可以试试："
        };
        self.fallback_saying(session_id, text, english)
    }

    /// Builds a fallback answer with `text` and the example questions.
    fn fallback_saying(
        &self,
        session_id: &str,
        text: impl Into<String>,
        english: bool,
    ) -> ChatResponse {
        let mut response = ChatResponse::text_only(session_id, AnswerKind::Fallback, text);
        response.suggestions = self.example_questions(english);
        response
    }

    /// Says the semantic layer has no metrics on a business line, then
    /// offers example questions.
    pub(super) fn out_of_scope(
        &self,
        session_id: &str,
        (chinese, english_name): (&str, &str),
        english: bool,
    ) -> ChatResponse {
        let text = if english {
            format!("Wenshu has no metrics on {english_name}. Try one of these:")
        } else {
            format!("问数目前没有{chinese}方面的指标。您可以试试：")
        };
        self.fallback_saying(session_id, text, english)
    }

    /// Answers from the knowledge base when its best entry is clearly the
    /// answer; returns None otherwise.
    pub(super) fn faq(
        &self,
        session_id: &str,
        question: &str,
        english: bool,
    ) -> Option<ChatResponse> {
        let knowledge_base = self.knowledge_base.as_ref()?;
        let found = knowledge_base.search(question, 4);
        if !found.confident || found.hits.is_empty() {
            return None;
        }
        let mut hits = found.hits;
        let best = hits.remove(0);
        let mut response =
            ChatResponse::text_only(session_id, AnswerKind::Faq, best.answer.clone());
        response.suggestions = hits.iter().map(|hit| hit.question.clone()).collect();
        response.faq = Some(FaqAnswer {
            best,
            runners_up: hits,
        });
        let _ = english;
        Some(response)
    }

    /// Says the question is not covered; when the knowledge base has entries
    /// close to it, they are offered first, then example metric questions.
    pub(super) fn fallback_with_entries(
        &self,
        session_id: &str,
        question: &str,
        english: bool,
    ) -> ChatResponse {
        let mut response = self.fallback(session_id, english);
        let Some(knowledge_base) = &self.knowledge_base else {
            return response;
        };
        let close: Vec<String> = knowledge_base
            .search(question, 3)
            .hits
            .into_iter()
            .map(|hit| hit.question)
            .collect();
        if close.is_empty() {
            return response;
        }
        response.text = if english {
            format!(
                "I did not find a clear answer. Did you mean one of these? {}",
                close.join(" / ")
            )
        } else {
            format!("没有找到确切的答案。您是不是想问：{}", close.join(" / "))
        };
        let mut suggestions = close;
        suggestions.append(&mut response.suggestions);
        response.suggestions = suggestions;
        response
    }

    pub(super) fn glossary(
        &self,
        session_id: &str,
        interpretation: &Interpretation,
    ) -> ChatResponse {
        let english = interpretation.english;
        let mut lines = Vec::new();
        for name in &interpretation.metrics {
            let Some(metric) = self.layer.metric(name) else {
                continue;
            };
            let description = metric.description_for(english).unwrap_or_default();
            lines.push(if english {
                format!(
                    "{} ({}): {description}",
                    metric_name(metric, true),
                    metric.label.clone().unwrap_or_default()
                )
            } else {
                format!("{}的口径：{description}", metric_name(metric, false))
            });
        }
        let mut response =
            ChatResponse::text_only(session_id, AnswerKind::Glossary, lines.join("\n"));
        response.definitions = lines;
        response
    }

    pub(super) fn metric_answer(
        &self,
        session_id: &str,
        state: &mut ConversationState,
        interpretation: Interpretation,
        progress: &mut dyn FnMut(Stage),
    ) -> ChatResponse {
        let english = interpretation.english;
        // Time words alone (明天会下雨吗) are a question only as a follow-up.
        let off_topic = interpretation.unmatched > 3;
        if is_only_time(&interpretation) && (state.last.is_none() || off_topic) {
            return self.fallback(session_id, english);
        }
        let (merged, follow_up) = plan::merge(state.last.as_ref(), interpretation);
        let previous_period = if follow_up {
            state.last.as_ref().and_then(|turn| turn.period.as_ref())
        } else {
            None
        };
        let plan = match plan::plan(&merged, previous_period, &self.layer, &self.time_context) {
            Ok(plan) => plan,
            Err(PlanError::NoMetric) => return self.fallback(session_id, english),
            Err(PlanError::NoData(period)) => {
                let text = if english {
                    format!(
                        "There is no data for {}: the data covers {} to {}.",
                        describe_period(&period, true),
                        self.time_context
                            .data_start
                            .map(|day| day.to_string())
                            .unwrap_or_default(),
                        self.time_context.reference
                    )
                } else {
                    format!(
                        "{} 没有数据：现有数据的范围是 {} 至 {}。",
                        describe_period(&period, false),
                        self.time_context
                            .data_start
                            .map(|day| day.to_string())
                            .unwrap_or_default(),
                        self.time_context.reference
                    )
                };
                let mut response = ChatResponse::text_only(session_id, AnswerKind::Metric, text);
                let mut metrics = merged.metrics.clone();
                if metrics.is_empty() {
                    metrics.extend(self.layer.default_metric.clone());
                }
                response.query = Some(serde_json::json!({
                    "metrics": metrics,
                    "dimensions": merged.group_by,
                    "period": {"start": period.start.to_string(), "end": period.end.to_string()},
                }));
                response.rows = Some(Vec::new());
                response.columns = Some(Vec::new());
                response.reference_date = Some(self.time_context.reference.to_string());
                response.period_text = Some(describe_period(&period, english));
                // A follow-up (那上个月呢) continues this question, not the one
                // before it.
                state.last = Some(Turn {
                    interpretation: merged,
                    period: None,
                });
                return response;
            }
        };

        if state.replaying {
            state.last = Some(Turn {
                interpretation: merged,
                period: Some(plan.period),
            });
            return ChatResponse::text_only(session_id, AnswerKind::Metric, "");
        }

        progress(Stage::Compiling);
        let options = self.compile_options(state.scope.as_ref());
        // 存款余额前十 ranks nothing: one total has no top ten. Ask what to
        // rank instead of answering the total.
        if merged.ranking.is_some() && plan.query.group_by.is_empty() {
            return self.ranking_without_breakdown(session_id, &plan, &options, english);
        }
        // One row more than the cap shows whether the rows were cut.
        let mut query = plan.query.clone();
        let max_rows = self.settings.max_rows;
        if query.limit.is_none_or(|limit| limit > max_rows) {
            query.limit = Some(max_rows + 1);
        }
        let compiled = match compile_with(&self.layer, &query, &options, self.engine.dialect()) {
            Ok(compiled) => compiled,
            Err(error) => {
                // The compiler's words are for the log; the person reads what
                // the question asked for that cannot go together.
                tracing::warn!(session = session_id, %error, "question did not compile");
                let metrics: Vec<String> = plan
                    .query
                    .metrics
                    .iter()
                    .filter_map(|name| self.layer.metric(name))
                    .map(|metric| metric_name(metric, english))
                    .collect();
                // Only the breakdowns that fail alone are named: 存款余额 can
                // go by 机构 but not by 客户经理.
                let failing: Vec<String> = plan
                    .query
                    .group_by
                    .iter()
                    .filter(|item| !item.starts_with("metric_time"))
                    .filter(|item| {
                        let mut alone = plan.query.clone();
                        alone.group_by = vec![(*item).clone()];
                        compile_with(&self.layer, &alone, &options, self.engine.dialect()).is_err()
                    })
                    .cloned()
                    .collect();
                let breakdowns: Vec<String> = failing
                    .iter()
                    .map(|item| self.column_label(item, english))
                    .collect();
                // Metrics that can be broken down that way, as questions to try.
                let alternatives: Vec<String> = self
                    .layer
                    .metrics
                    .iter()
                    .filter(|metric| !plan.query.metrics.contains(&metric.name))
                    .filter(|metric| {
                        let mut other = plan.query.clone();
                        other.metrics = vec![metric.name.clone()];
                        other.group_by = failing.clone();
                        !failing.is_empty()
                            && compile_with(&self.layer, &other, &options, self.engine.dialect())
                                .is_ok()
                    })
                    .take(3)
                    .map(|metric| {
                        if english {
                            format!(
                                "{} by {}",
                                metric_name(metric, true),
                                breakdowns.join(" and ")
                            )
                        } else {
                            format!(
                                "按{}看{}",
                                breakdowns.join("和"),
                                metric_name(metric, false)
                            )
                        }
                    })
                    .collect();
                let text = match (&error, english) {
                    (crate::compiler::CompileError::OutOfScope { .. }, true) => format!(
                        "{} cannot be limited to the accounts you may see, so it is not answered for your role.",
                        metrics.join(", ")
                    ),
                    (crate::compiler::CompileError::OutOfScope { .. }, false) => format!(
                        "{}无法限定在您有权查看的账户内，因此不能按您的角色回答。",
                        metrics.join("、")
                    ),
                    // 列出所有客户经理 names no metric, so naming the default
                    // metric would describe a question that was not asked.
                    (_, true) if !breakdowns.is_empty() && merged.metrics.is_empty() => format!(
                        "Only some metrics can be broken down by {}, and none of them answers this question. You can try:",
                        breakdowns.join(", ")
                    ),
                    (_, false) if !breakdowns.is_empty() && merged.metrics.is_empty() => format!(
                        "指标库中只有部分指标能按{}查看，不能回答这个问题。您可以试试：",
                        breakdowns.join("、")
                    ),
                    (_, true) if !breakdowns.is_empty() => format!(
                        "{} cannot be broken down by {}. You can try:",
                        metrics.join(", "),
                        breakdowns.join(", ")
                    ),
                    (_, false) if !breakdowns.is_empty() => format!(
                        "{}不能按{}拆分。您可以试试：",
                        metrics.join("、"),
                        breakdowns.join("、")
                    ),
                    (_, true) => "This combination of metric and filters cannot be answered. Try, for example:".to_owned(),
                    (_, false) => "这个指标和筛选条件不能组合成查询。您可以试试：".to_owned(),
                };
                let mut response = ChatResponse::text_only(session_id, AnswerKind::Clarify, text);
                response.candidates = Some(if alternatives.is_empty() {
                    self.example_questions(english)
                } else {
                    alternatives
                });
                response.beyond_layer = true;
                return response;
            }
        };
        tracing::debug!(session = session_id, sql = %compiled.sql, "compiled");

        progress(Stage::Querying);
        let table = match self.run_sql(&compiled.sql) {
            Ok((_, table)) => table,
            Err(super::SqlError::Timeout(limit)) => {
                tracing::warn!(
                    session = session_id,
                    seconds = limit.as_secs(),
                    "query stopped at its time limit"
                );
                let text = if english {
                    format!(
                        "The query took longer than {} seconds and was stopped. Ask for a shorter period or fewer breakdowns.",
                        limit.as_secs()
                    )
                } else {
                    format!(
                        "查询超过 {} 秒，已中止。请缩短时间范围或减少拆分维度后再问。",
                        limit.as_secs()
                    )
                };
                let mut response = ChatResponse::text_only(session_id, AnswerKind::Fallback, text);
                response.error = Some(AnswerError {
                    code: "query_timeout",
                });
                return response;
            }
            Err(super::SqlError::Unavailable(error)) => {
                tracing::error!(session = session_id, %error, "warehouse unavailable");
                return unavailable_response(session_id, AnswerKind::Fallback, english);
            }
            Err(error) => {
                // A compiled query the guard rejects is a bug in the compiler.
                tracing::error!(session = session_id, %error, sql = %compiled.sql, "query failed");
                let text = if english {
                    "The query failed; please try again or ask differently."
                } else {
                    "查询失败，请稍后重试或换一种问法。"
                };
                let mut response = ChatResponse::text_only(session_id, AnswerKind::Fallback, text);
                response.error = Some(AnswerError {
                    code: "query_failed",
                });
                return response;
            }
        };

        progress(Stage::Answering);
        let mut rows = table.rows;
        let truncated = rows.len() as u64 > max_rows;
        rows.truncate(usize::try_from(max_rows).unwrap_or(usize::MAX));
        for keep in &plan.keep_rows {
            if let Some(index) = compiled
                .columns
                .iter()
                .position(|column| column.name == keep.dimension)
            {
                rows.retain(|row| keep.values.contains(&row[index]));
            }
        }
        if plan.query.order_by.is_empty() && !plan.query.group_by.is_empty() {
            sort_largest_first(&mut rows, &compiled.columns);
        }

        let columns: Vec<ResponseColumn> = compiled
            .columns
            .iter()
            .map(|column| ResponseColumn {
                name: column.name.clone(),
                label: self.column_label(&column.name, english),
                type_name: match column.kind {
                    OutputKind::TimeDimension => "date".to_owned(),
                    OutputKind::Metric => match self
                        .layer
                        .metric(&column.name)
                        .and_then(|metric| metric.unit)
                    {
                        Some(Unit::Yuan) => "money".to_owned(),
                        Some(Unit::Percent) => "percent".to_owned(),
                        _ => "number".to_owned(),
                    },
                    _ => "text".to_owned(),
                },
            })
            .collect();

        let first_metric = self.layer.metric(&plan.query.metrics[0]);
        let chart = if plan.grain.is_some() {
            ChartKind::Line
        } else if rows.len() > 1 {
            match first_metric.map(|metric| &metric.kind) {
                Some(MetricKind::Share { .. }) => ChartKind::Pie,
                _ => ChartKind::Bar,
            }
        } else {
            ChartKind::None
        };

        let qualifier = filter_qualifier(&merged, &self.lexicon, english);
        let mut text = self.describe_result(&plan, &compiled.columns, &rows, &qualifier, english);
        if state.scope.is_some() {
            text.push_str(if english {
                "\nScope: only the accounts you hold a share of."
            } else {
                "\n范围：仅含您有业绩分成的账户。"
            });
        }
        if truncated {
            text.push_str(&if english {
                format!("\nOnly the first {max_rows} rows are shown; narrow the question to see the rest.")
            } else {
                format!("\n结果较多，只显示前 {max_rows} 行，请缩小时间或范围。")
            });
        }
        if let Some(description) = first_metric.and_then(|metric| metric.description_for(english)) {
            let heading = if english {
                "Definition (口径)"
            } else {
                "口径"
            };
            let colon = if english { ": " } else { "：" };
            text.push_str(&format!("\n{heading}{colon}{description}"));
        }
        let rewritten = follow_up.then(|| self.rewrite(&merged, &plan, english));
        let definitions = plan
            .query
            .metrics
            .iter()
            .filter_map(|name| self.layer.metric(name))
            .map(|metric| {
                let description = metric.description_for(english).unwrap_or_default();
                if english {
                    format!("{}: {description}", metric_name(metric, true))
                } else {
                    format!("{}：{description}", metric_name(metric, false))
                }
            })
            .collect();

        let mut response = ChatResponse::text_only(session_id, AnswerKind::Metric, text);
        response.query = Some(serde_json::json!({
            "metrics": plan.query.metrics,
            "dimensions": plan.query.group_by,
            "filters": plan.query.where_filters,
            "period": {"start": plan.period.start.to_string(), "end": plan.period.end.to_string()},
            "grain": plan.grain.map(TimeGrain::name),
            "order": plan.query.order_by.iter().map(|order| {
                if order.descending { format!("-{}", order.item) } else { order.item.clone() }
            }).collect::<Vec<_>>(),
            "limit": plan.query.limit,
        }));
        response.headline = self
            .headline(&compiled.columns, &rows, plan.grain.is_some(), english)
            .map(|mut headline| {
                headline.label = match headline.label.split_once(" · ") {
                    Some((name, key)) => format!("{name}{qualifier} · {key}"),
                    None => format!("{}{qualifier}", headline.label),
                };
                headline
            });
        response.sql = Some(compiled.sql);
        response.columns = Some(columns);
        response.rows = Some(rows);
        response.period_text = Some(describe_period(&plan.period, english));
        response.chart = Some(chart);
        response.rewritten = rewritten;
        response.reference_date = Some(self.time_context.reference.to_string());
        response.definitions = definitions;
        response.evidence = merged.evidence.clone();
        response.suggestions = self.follow_up_suggestions(&plan, english);

        state.last = Some(Turn {
            interpretation: merged,
            period: Some(plan.period),
        });
        response
    }

    /// Picks the figure a metric answer leads with: the only value, the
    /// latest period of a series, or the largest item of a breakdown.
    fn headline(
        &self,
        columns: &[crate::compiler::OutputColumn],
        rows: &[Vec<Value>],
        series: bool,
        english: bool,
    ) -> Option<Headline> {
        let metric_index = columns
            .iter()
            .position(|column| column.kind == OutputKind::Metric)?;
        let metric = self.layer.metric(&columns[metric_index].name)?;
        let name = metric_name(metric, english);
        let value_of = |row: &Vec<Value>| row[metric_index].as_f64();
        let (row, label) = if rows.len() == 1 || columns.len() == 1 {
            (rows.first()?, name)
        } else {
            let row = if series {
                rows.iter().rev().find(|row| value_of(row).is_some())?
            } else {
                rows.iter()
                    .filter(|row| value_of(row).is_some())
                    .max_by(|left, right| {
                        value_of(left)
                            .partial_cmp(&value_of(right))
                            .unwrap_or(std::cmp::Ordering::Equal)
                    })?
            };
            let key: Vec<String> = columns
                .iter()
                .enumerate()
                .filter(|(_, column)| column.kind != OutputKind::Metric)
                .map(|(index, column)| bucket_label(&column.name, &row[index], english))
                .collect();
            let label = match (series, english) {
                (true, _) => format!("{name} · {}", key.join(" ")),
                (false, true) => format!("Highest {name} · {}", key.join(" ")),
                (false, false) => format!("{name}最高 · {}", key.join(" ")),
            };
            (row, label)
        };
        Some(Headline {
            label,
            value: format_value(&row[metric_index], metric.unit, english),
            raw: row[metric_index].clone(),
            unit: metric.unit.map(Unit::name),
        })
    }

    fn column_label(&self, name: &str, english: bool) -> String {
        if let Some(metric) = self.layer.metric(name) {
            return metric_name(metric, english);
        }
        if let Some(grain) = name.strip_prefix("metric_time__") {
            return match (english, grain) {
                (true, grain) => grain.to_owned(),
                (false, "day") => "日期".to_owned(),
                (false, "week") => "周".to_owned(),
                (false, "month") => "月份".to_owned(),
                (false, "quarter") => "季度".to_owned(),
                (false, _) => "年份".to_owned(),
            };
        }
        if english {
            // `branch__branch_name` reads as "branch name".
            return name.rsplit("__").next().unwrap_or(name).replace('_', " ");
        }
        self.lexicon
            .dimension_label(name)
            .unwrap_or(name)
            .to_owned()
    }

    fn describe_result(
        &self,
        plan: &plan::Plan,
        columns: &[crate::compiler::OutputColumn],
        rows: &[Vec<Value>],
        qualifier: &str,
        english: bool,
    ) -> String {
        let period = describe_period(&plan.period, english);
        let metric_index = columns
            .iter()
            .position(|column| column.kind == OutputKind::Metric);
        let Some(metric_index) = metric_index else {
            return String::new();
        };
        let Some(metric) = self.layer.metric(&columns[metric_index].name) else {
            return String::new();
        };
        let name = format!("{}{qualifier}", metric_name(metric, english));
        if rows.is_empty() {
            return if english {
                format!("No {name} data for {period}.")
            } else {
                format!("{period} 没有{name}数据。")
            };
        }
        let keys: Vec<usize> = columns
            .iter()
            .enumerate()
            .filter(|(_, column)| column.kind != OutputKind::Metric)
            .map(|(index, _)| index)
            .collect();
        let value_of = |row: &Vec<Value>| format_value(&row[metric_index], metric.unit, english);
        if keys.is_empty() {
            let mut parts = Vec::new();
            for (index, column) in columns.iter().enumerate() {
                if let Some(other) = self.layer.metric(&column.name) {
                    parts.push(format!(
                        "{}{qualifier}{}{}",
                        metric_name(other, english),
                        if english { " is " } else { "为 " },
                        format_value(&rows[0][index], other.unit, english)
                    ));
                }
            }
            return if english {
                format!(
                    "{period}: {}. (Data date {})",
                    parts.join("; "),
                    self.time_context.reference
                )
            } else {
                format!(
                    "{period}，{}。（数据日期 {}）",
                    parts.join("；"),
                    self.time_context.reference
                )
            };
        }
        let label_of = |row: &Vec<Value>| {
            keys.iter()
                .map(|index| bucket_label(&columns[*index].name, &row[*index], english))
                .collect::<Vec<_>>()
                .join(" ")
        };
        // A series reads best from its latest periods, a breakdown from its
        // first (largest) items.
        let start = if plan.grain.is_some() {
            rows.len().saturating_sub(5)
        } else {
            0
        };
        let shown: Vec<String> = rows[start..]
            .iter()
            .take(5)
            .map(|row| format!("{} {}", label_of(row), value_of(row)))
            .collect();
        let more = match (rows.len() > 5, plan.grain.is_some(), english) {
            (false, _, _) => String::new(),
            (true, true, true) => format!(" (the latest 5 of {})", rows.len()),
            (true, true, false) => format!("（最近 5 期，共 {} 期）", rows.len()),
            (true, false, true) => format!(" and {} more", rows.len() - 5),
            (true, false, false) => format!(" 等 {} 项", rows.len()),
        };
        if english {
            format!("{name}, {period}: {}{more}.", shown.join("; "))
        } else {
            format!(
                "{period} {name}：{}{more}。（数据日期 {}）",
                shown.join("；"),
                self.time_context.reference
            )
        }
    }

    /// Writes the self-contained question a follow-up amounts to.
    fn rewrite(&self, interpretation: &Interpretation, plan: &plan::Plan, english: bool) -> String {
        let period = describe_period(&plan.period, english);
        let filters: Vec<String> = interpretation
            .filters
            .iter()
            .map(|filter| {
                filter
                    .values
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("、")
            })
            .collect();
        let breakdowns: Vec<String> = interpretation
            .group_by
            .iter()
            .map(|item| self.column_label(item, english))
            .collect();
        let metrics: Vec<String> = plan
            .query
            .metrics
            .iter()
            .filter_map(|name| self.layer.metric(name))
            .map(|metric| metric_name(metric, english))
            .collect();
        let ranking = match interpretation.ranking {
            Some(ranking) => match (ranking.descending, ranking.limit, english) {
                (true, Some(limit), false) => format!("前{limit}名"),
                (false, Some(limit), false) => format!("后{limit}名"),
                (true, Some(limit), true) => format!(", top {limit}"),
                (false, Some(limit), true) => format!(", bottom {limit}"),
                (_, None, false) => "排名".to_owned(),
                (_, None, true) => ", ranked".to_owned(),
            },
            None => String::new(),
        };
        let grain = match plan.grain {
            Some(grain) if !english => format!(
                "每{}",
                match grain {
                    TimeGrain::Day => "天",
                    TimeGrain::Week => "周",
                    TimeGrain::Month => "月",
                    TimeGrain::Quarter => "季度",
                    TimeGrain::Year => "年",
                }
            ),
            Some(grain) => format!(" by {}", grain.name()),
            None => String::new(),
        };
        if english {
            let by = if breakdowns.is_empty() {
                String::new()
            } else {
                format!(" by {}", breakdowns.join(", "))
            };
            let of = if filters.is_empty() {
                String::new()
            } else {
                format!(" for {}", filters.join(", "))
            };
            format!("{}{of}{by}{grain} {period}{ranking}", metrics.join(" and "))
        } else {
            let by = breakdowns
                .iter()
                .map(|label| format!("各{label}"))
                .collect::<String>();
            format!(
                "{period} {}{by}{}{grain}{ranking}",
                filters.join(""),
                metrics.join("和")
            )
        }
    }

    fn follow_up_suggestions(&self, plan: &plan::Plan, english: bool) -> Vec<String> {
        let mut suggestions = Vec::new();
        if english {
            suggestions.push("What about last year?".to_owned());
            if let Some(dimension) = self.lexicon.dimensions.first() {
                suggestions.push(format!("By {}", dimension.item.replace("__", " ")));
            }
            return suggestions;
        }
        suggestions.push("那去年同期呢？".to_owned());
        let grouped: Vec<&String> = plan.query.group_by.iter().collect();
        for dimension in self.lexicon.dimensions.iter().take(3) {
            if !grouped.contains(&&dimension.item) {
                suggestions.push(format!("按{}看", dimension.label));
            }
        }
        suggestions
    }
}

/// Builds the answer given when the warehouse cannot be reached (error code
/// `warehouse_unavailable`).
pub(super) fn unavailable_response(
    session_id: &str,
    kind: AnswerKind,
    english: bool,
) -> ChatResponse {
    let text = if english {
        "The data warehouse cannot be reached right now; please try again shortly."
    } else {
        "数据仓库暂时无法连接，请稍后再试。"
    };
    let mut response = ChatResponse::text_only(session_id, kind, text);
    response.error = Some(AnswerError {
        code: "warehouse_unavailable",
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_buckets_are_named_by_their_period() {
        let first = Value::Date("2026-04-01".parse().unwrap());

        assert_eq!(bucket_label("metric_time__month", &first, false), "2026-04");
        assert_eq!(
            bucket_label("metric_time__quarter", &first, false),
            "2026Q2"
        );
        assert_eq!(bucket_label("metric_time__year", &first, false), "2026");
        assert_eq!(
            bucket_label("metric_time__day", &first, false),
            "2026-04-01"
        );
        assert_eq!(
            bucket_label(
                "branch__branch_name",
                &Value::Text("梅江支行".to_owned()),
                false
            ),
            "梅江支行"
        );
    }
}
