//! The assistant: one chat message in, one answer out.
//!
//! It ties the steps of a metric question together: understanding the
//! question against the semantic layer, merging it with the conversation,
//! compiling the query, running it on the warehouse and writing the answer.

mod response;

mod answer;
mod model;
mod plan;
mod text;

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;

use crate::semantic::{self, Diagnostics, SemanticLayer};
use crate::understanding::interpret::{Intent, Interpretation, TimeReading, interpret, is_how_to};
use crate::understanding::lexicon::{Lexicon, normalize};
use crate::understanding::time::{TimeContext, parse_time_in};
use crate::warehouse::{Engine, Value, Warehouse, WarehouseError, WarehouseSource};

use answer::{clarify_text, refusal_text};
pub use plan::Turn;
pub use response::{
    AnswerError, AnswerKind, ChartKind, ChatResponse, FaqAnswer, FaqHit, Headline, ResponseColumn,
};

/// Errors that stop the assistant from starting.
#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    #[error("the semantic layer is invalid:\n{0}")]
    SemanticLayer(Diagnostics),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("the warehouse has no data: {0}")]
    NoData(String),
    #[error(transparent)]
    KnowledgeBase(#[from] crate::faq::FaqError),
}

/// Searches the e-banking knowledge base; the FAQ module implements it.
pub trait KnowledgeBase: Send + Sync {
    /// Returns the best entries for a question, best first, and whether
    /// the first is clearly the answer.
    fn search(&self, question: &str, limit: usize) -> KnowledgeBaseHits;

    /// Reloads the entries if their files changed; returns whether it did.
    /// A failed reload keeps the previous entries in use.
    fn reload_if_changed(&self) -> Result<bool, String> {
        Ok(false)
    }
}

/// The entries a knowledge-base search found.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct KnowledgeBaseHits {
    pub hits: Vec<FaqHit>,
    /// False when the best hit is weak or not clearly ahead of the next:
    /// the hits are then suggestions, not the answer.
    pub confident: bool,
}

/// What a conversation remembers between turns.
#[derive(Debug, Clone, Default)]
pub struct ConversationState {
    /// The last answered metric question, merged with its context.
    pub last: Option<Turn>,
    /// The questions asked so far, oldest first, as the person typed them.
    pub questions: Vec<String>,
    /// The user the conversation belongs to, once one has asked.
    pub owner: Option<String>,
    /// The rows the conversation's user may see; every query of every turn
    /// is compiled with it.
    pub scope: Option<crate::compiler::RowScope>,
    /// For each question, the question in the layer's words that answered it
    /// when a verified question or the model gave one. A restored
    /// conversation replays these, so the model is not asked again.
    pub readings: Vec<Option<String>>,
    /// Whether the model may write SQL for questions the semantic layer does
    /// not cover (analysts and administrators).
    pub model_sql: bool,
    /// While true, metric questions update the memory without running SQL
    /// ([`Assistant::restore`]).
    replaying: bool,
}

/// Settings of the SQL the assistant runs: the guard's row cap and the time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySettings {
    /// The most rows an answer or a raw query returns.
    pub max_rows: u64,
    /// A query running longer is interrupted.
    pub timeout: std::time::Duration,
    pub warehouse: crate::warehouse::WarehouseLimits,
    /// Connection limits of a Spark warehouse.
    pub spark: crate::warehouse::SparkSettings,
    /// Connections to the warehouse, so that this many queries run at once.
    pub connections: usize,
}

impl Default for QuerySettings {
    fn default() -> Self {
        QuerySettings {
            max_rows: 5_000,
            timeout: std::time::Duration::from_secs(30),
            warehouse: crate::warehouse::WarehouseLimits::default(),
            spark: crate::warehouse::SparkSettings::default(),
            connections: 4,
        }
    }
}

/// A step of answering a metric question, reported while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Reading the question against the semantic layer (理解问题).
    Understanding,
    /// Compiling the query to SQL (生成查询).
    Compiling,
    /// Running the SQL on the warehouse (查询数据).
    Querying,
    /// Writing the answer (生成回答).
    Answering,
}

impl Stage {
    /// Returns the stage's name as the page shows it.
    pub fn label(self, english: bool) -> &'static str {
        match (self, english) {
            (Stage::Understanding, false) => "理解问题",
            (Stage::Compiling, false) => "生成查询",
            (Stage::Querying, false) => "查询数据",
            (Stage::Answering, false) => "生成回答",
            (Stage::Understanding, true) => "Understanding the question",
            (Stage::Compiling, true) => "Building the query",
            (Stage::Querying, true) => "Querying the data",
            (Stage::Answering, true) => "Writing the answer",
        }
    }
}

/// At most this many questions are kept per conversation.
const MAX_REMEMBERED_QUESTIONS: usize = 50;

/// Answers questions over one semantic layer and one warehouse.
pub struct Assistant {
    layer: SemanticLayer,
    lexicon: Lexicon,
    /// Connections to the warehouse; each runs one statement at a time.
    warehouse: Vec<Mutex<Box<dyn Warehouse>>>,
    /// The warehouse's engine, whose SQL dialect queries are compiled to.
    engine: Engine,
    /// The connection the next query waits for when all are busy.
    next_connection: std::sync::atomic::AtomicUsize,
    time_context: TimeContext,
    knowledge_base: Option<Arc<dyn KnowledgeBase>>,
    guard: crate::guard::SqlGuard,
    settings: QuerySettings,
    llm: Option<(Arc<crate::llm::LlmClient>, crate::llm::LlmMode)>,
    /// The semantic layer's verified questions, checked.
    verified: Vec<model::Verified>,
    /// The declared tables and their columns, for the model's SQL prompt.
    sql_tables: String,
}

impl Assistant {
    /// Loads the semantic layer, opens the warehouse read-only and builds
    /// the lexicon from both.
    pub fn open(semantic_layer: &Path, warehouse: &Path) -> Result<Assistant, AssistantError> {
        Assistant::open_with(semantic_layer, warehouse, QuerySettings::default())
    }

    /// Like [`Assistant::open`], with the limits of `settings`. Every SQL
    /// statement then passes the SQL guard over the tables the semantic
    /// layer declares before it runs.
    pub fn open_with(
        semantic_layer: &Path,
        warehouse: &Path,
        settings: QuerySettings,
    ) -> Result<Assistant, AssistantError> {
        Assistant::connect(semantic_layer, &WarehouseSource::from(warehouse), settings)
    }

    /// Like [`Assistant::open_with`], on either engine: a DuckDB file or a
    /// Spark Connect server. The catalog (columns, dimension values, data
    /// dates) is read through the warehouse, and queries are compiled to
    /// its dialect and checked by the guard in it.
    pub fn connect(
        semantic_layer: &Path,
        source: &WarehouseSource,
        settings: QuerySettings,
    ) -> Result<Assistant, AssistantError> {
        let layer = semantic::load_dir(semantic_layer).map_err(AssistantError::SemanticLayer)?;
        let warehouse = source.open(&settings.warehouse, &settings.spark)?;
        let engine = warehouse.engine();
        let (first_day, reference_date) = data_range(&layer, warehouse.as_ref())?;
        let lexicon = Lexicon::build(&layer, warehouse.as_ref())?;
        let time_context = TimeContext::new(reference_date).with_data_start(first_day);
        let verified = model::check_verified_questions(&layer, &lexicon, &time_context)
            .map_err(AssistantError::SemanticLayer)?;
        let tables = declared_tables(&layer);
        let sql_tables = crate::llm::sql::describe_tables(&warehouse.table_columns(&tables)?);
        // One row over the cap shows whether a result was cut.
        let guard = crate::guard::SqlGuard::new(tables, settings.max_rows + 1)
            .with_dialect(engine.guard_dialect());
        let mut connections = Vec::with_capacity(settings.connections.max(1));
        for _ in 1..settings.connections.max(1) {
            connections.push(Mutex::new(warehouse.try_clone()?));
        }
        connections.insert(0, Mutex::new(warehouse));
        Ok(Assistant {
            layer,
            lexicon,
            warehouse: connections,
            engine,
            next_connection: std::sync::atomic::AtomicUsize::new(0),
            time_context,
            knowledge_base: None,
            guard,
            settings,
            llm: None,
            verified,
            sql_tables,
        })
    }

    /// Checks one SQL statement with the SQL guard and runs it with the
    /// time limit. Returns the guarded SQL that ran and its rows, at most
    /// one more than [`QuerySettings::max_rows`] so that a cut shows.
    pub fn run_sql(&self, sql: &str) -> Result<(String, crate::warehouse::Table), SqlError> {
        let guarded = self.guard.check(sql).map_err(SqlError::Rejected)?;
        let warehouse = self.connection();
        let table = warehouse
            .query_with_limit(&guarded.sql, self.settings.timeout)
            .map_err(|error| match error {
                WarehouseError::Timeout { limit } => SqlError::Timeout(limit),
                WarehouseError::Unavailable { .. } => SqlError::Unavailable(error.to_string()),
                other => SqlError::Failed(other.to_string()),
            })?;
        Ok((guarded.sql, table))
    }

    /// Takes a free connection, or waits for the next one in turn when all
    /// are busy, so that one slow query holds up only its own connection.
    fn connection(&self) -> std::sync::MutexGuard<'_, Box<dyn Warehouse>> {
        for connection in &self.warehouse {
            if let Ok(free) = connection.try_lock() {
                return free;
            }
        }
        let turn = self
            .next_connection
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.warehouse[turn % self.warehouse.len()]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The most rows an answer or a raw query returns.
    pub fn max_rows(&self) -> u64 {
        self.settings.max_rows
    }

    /// Rebuilds a conversation's memory from its questions, as after a
    /// restart: each is read and merged as when it was asked, without
    /// running SQL.
    ///
    /// A question answered through a verified question or the model is
    /// replayed from its recorded reading, so the model is not asked again.
    pub fn restore(&self, state: &mut ConversationState, turns: &[(String, Option<String>)]) {
        state.replaying = true;
        for (question, reading) in turns {
            let _ = self.respond("restore", state, reading.as_deref().unwrap_or(question));
        }
        state.replaying = false;
        state.questions = turns.iter().map(|(question, _)| question.clone()).collect();
        state.readings = turns.iter().map(|(_, reading)| reading.clone()).collect();
    }

    /// Returns the knowledge base that FAQ questions are routed to.
    pub fn knowledge_base(&self) -> Option<Arc<dyn KnowledgeBase>> {
        self.knowledge_base.clone()
    }

    /// Loads the knowledge base in `dir` and routes FAQ questions to it.
    /// Entries with mistakes are left out and logged; the others load.
    pub fn with_knowledge_base_dir(self, dir: &Path) -> Result<Assistant, AssistantError> {
        let index = crate::faq::FaqIndex::open_logged(dir)?;
        Ok(self.with_knowledge_base(Arc::new(index)))
    }

    /// Reads a question: its normalised text and its interpretation.
    fn read(&self, question: &str) -> (String, Interpretation) {
        let interpretation =
            read_question(&self.layer, &self.lexicon, &self.time_context, question);
        (normalize(question), interpretation)
    }

    /// Reads a metric question and compiles its query as the first turn of
    /// a conversation would be, without running it (for benchmarks). Returns
    /// None for a question that is not a metric question or has no query.
    pub fn compile_question(&self, question: &str) -> Option<crate::compiler::CompiledQuery> {
        self.compile_question_with(question, self.engine.dialect())
    }

    /// Like [`Assistant::compile_question`], in another SQL dialect.
    pub fn compile_question_with(
        &self,
        question: &str,
        dialect: &dyn crate::compiler::Dialect,
    ) -> Option<crate::compiler::CompiledQuery> {
        let (_, interpretation) = self.read(question.trim());
        if interpretation.intent != Intent::Metric || answer::is_only_time(&interpretation) {
            return None;
        }
        let plan = plan::plan(&interpretation, None, &self.layer, &self.time_context).ok()?;
        let options = self.compile_options(None);
        crate::compiler::compile_with(&self.layer, &plan.query, &options, dialect).ok()
    }

    /// Returns the compiler settings of every answer: the reference date cuts
    /// periods, and the conversation's scope restricts the rows.
    fn compile_options(
        &self,
        scope: Option<&crate::compiler::RowScope>,
    ) -> crate::compiler::CompileOptions {
        crate::compiler::CompileOptions {
            reference_date: Some(self.time_context.reference),
            row_scope: scope.cloned(),
            ..crate::compiler::CompileOptions::default()
        }
    }

    /// Searches the knowledge base directly (the page's search box); None
    /// when no knowledge base is loaded.
    pub fn search_knowledge_base(&self, query: &str, limit: usize) -> Option<KnowledgeBaseHits> {
        self.knowledge_base
            .as_ref()
            .map(|knowledge_base| knowledge_base.search(query, limit))
    }

    /// Reloads the knowledge base if its files changed.
    pub fn reload_knowledge_base(&self) -> Result<bool, String> {
        match &self.knowledge_base {
            Some(knowledge_base) => knowledge_base.reload_if_changed(),
            None => Ok(false),
        }
    }

    /// Routes FAQ questions to `knowledge_base`.
    pub fn with_knowledge_base(mut self, knowledge_base: Arc<dyn KnowledgeBase>) -> Assistant {
        self.knowledge_base = Some(knowledge_base);
        self
    }

    /// Returns the names, in Chinese and English, of the first business line
    /// the question names outside the semantic layer's own words (理财 in
    /// 理财规模, not in the synonym 理财经理). Typo tolerance matches 贷款余额
    /// to 存款余额, so the check is on the question's words, not on what
    /// they matched.
    fn uncovered_subject(&self, text: &str) -> Option<(&'static str, &'static str)> {
        let lowercase = text.to_lowercase();
        OTHER_BUSINESS_LINES
            .iter()
            .find(|(word, _, _)| {
                let mut rest = lowercase.clone();
                for known in self.lexicon.words_containing(word) {
                    rest = rest.replace(known, " ");
                }
                rest.contains(word)
            })
            .map(|(_, chinese, english)| (*chinese, *english))
    }

    pub fn layer(&self) -> &SemanticLayer {
        &self.layer
    }

    /// The data date (数据日期): the latest day of the measures' time dimensions.
    pub fn reference_date(&self) -> NaiveDate {
        self.time_context.reference
    }

    /// Answers one message; `state` is the conversation's memory and is
    /// updated with this turn.
    pub fn respond(
        &self,
        session_id: &str,
        state: &mut ConversationState,
        message: &str,
    ) -> ChatResponse {
        self.respond_with_progress(session_id, state, message, &mut |_| {})
    }

    /// Answers one message like [`Assistant::respond`], calling `progress`
    /// as each stage starts. Only metric answers pass through every stage.
    pub fn respond_with_progress(
        &self,
        session_id: &str,
        state: &mut ConversationState,
        message: &str,
        progress: &mut dyn FnMut(Stage),
    ) -> ChatResponse {
        progress(Stage::Understanding);
        let question = message.trim();
        state.questions.push(question.to_owned());
        state.readings.resize(state.questions.len() - 1, None);
        state.readings.push(None);
        if state.questions.len() > MAX_REMEMBERED_QUESTIONS {
            state.questions.remove(0);
            state.readings.remove(0);
        }

        let (normalized, mut interpretation) = self.read(question);
        let model_reading = self
            .verified_reading(question)
            .or_else(|| self.model_rewrite(state, question, &interpretation))
            .or_else(|| self.model_reading(state, question, &interpretation));
        if let Some((reading, reread)) = &model_reading {
            tracing::debug!(session = session_id, %reading, "the model's reading is used");
            interpretation = reread.clone();
        }
        // 什么是日均存款 asks for the definition, 什么是存款保险 for a service.
        if interpretation.intent == Intent::Metric
            && asks_what_is(&normalized)
            && !interpretation.metrics.is_empty()
            && !asks_beyond_the_layer(&normalized.replace("什么是", " "), &interpretation)
        {
            interpretation.intent = Intent::Glossary;
        }
        let english = interpretation.english;
        let mut response = match interpretation.intent {
            Intent::Refused => {
                ChatResponse::text_only(session_id, AnswerKind::Refused, refusal_text(english))
            }
            Intent::Glossary => self.glossary(session_id, &interpretation),
            Intent::Clarify => {
                let mut response =
                    ChatResponse::text_only(session_id, AnswerKind::Clarify, clarify_text(english));
                response.candidates = Some(interpretation.candidates.clone());
                response
            }
            // A question no semantic-layer word matched may still be a
            // service question in other words (人工客服电话).
            Intent::Faq | Intent::Fallback => self
                .faq(session_id, question, english)
                .unwrap_or_else(|| self.fallback_with_entries(session_id, question, english)),
            // 贷款余额 reads as 存款余额, but asks about loans, which no metric
            // covers: a figure would answer another question.
            // A service question about them (养柚子的农户能贷款吗) still goes
            // to the knowledge base.
            Intent::Metric if let Some(subject) = self.uncovered_subject(&normalized) => {
                let service = (!asks_for_figure(&normalized))
                    .then(|| self.faq(session_id, question, english))
                    .flatten();
                service.unwrap_or_else(|| self.out_of_scope(session_id, subject, english))
            }
            // 什么是存款保险 names a metric word but asks what something else is.
            Intent::Metric
                if asks_what_is(&normalized)
                    && asks_beyond_the_layer(
                        &normalized.replace("什么是", " "),
                        &interpretation,
                    ) =>
            {
                match self.faq(session_id, question, english) {
                    Some(response) => response,
                    None => self.metric_answer(session_id, state, interpretation, progress),
                }
            }
            // Value words with no metric, breakdown or time (大额存单能转让吗,
            // 小程序绑卡) or with how-to words ask how to do something, not
            // for a figure, when the knowledge base clearly has the answer.
            Intent::Metric
                if interpretation.metrics.is_empty()
                    && asks_beyond_the_layer(&normalized, &interpretation)
                    && (is_how_to(&normalized)
                        || (interpretation.group_by.is_empty()
                            && !interpretation.follow_up.elliptic
                            && !(state.last.is_some() && interpretation.follow_up.only)
                            && (state.last.is_none() || !interpretation.time.has_any()))) =>
            {
                match self.faq(session_id, question, english) {
                    Some(response) => response,
                    None => self.metric_answer(session_id, state, interpretation, progress),
                }
            }
            Intent::Metric => self.metric_answer(session_id, state, interpretation, progress),
        };
        if (response.kind == AnswerKind::Fallback || response.beyond_layer)
            && state.model_sql
            && !state.replaying
            && let Some(answer) = self.analyst_sql(session_id, question, english)
        {
            response = answer;
        }
        if let Some((reading, _)) = model_reading
            && response.kind == AnswerKind::Metric
        {
            if let Some(last) = state.readings.last_mut() {
                *last = Some(reading.clone());
            }
            if response.rewritten.is_none() {
                response.rewritten = Some(reading);
            }
        }
        tracing::debug!(session = session_id, kind = ?response.kind, "answered");
        response
    }

    /// Routes questions to a language model according to `mode`.
    pub fn with_llm(
        mut self,
        client: Arc<crate::llm::LlmClient>,
        mode: crate::llm::LlmMode,
    ) -> Assistant {
        self.llm = (mode != crate::llm::LlmMode::Rules).then_some((client, mode));
        self
    }

    /// Returns the language model and its mode, when one is configured.
    pub fn llm(&self) -> Option<(Arc<crate::llm::LlmClient>, crate::llm::LlmMode)> {
        self.llm.clone()
    }
}

/// Reads a question with the rules alone.
fn read_question(
    layer: &SemanticLayer,
    lexicon: &Lexicon,
    context: &TimeContext,
    question: &str,
) -> Interpretation {
    let parse = parse_time_in(&normalize(question), context);
    interpret(question, layer, lexicon, TimeReading { parse })
}

/// Characters left unread above which the rules are not sure of a
/// question that matched no metric.
const UNSURE_UNMATCHED: usize = 4;

/// A raw SQL statement that was not run, or failed.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error(transparent)]
    Rejected(crate::guard::GuardError),
    #[error("查询超过 {} 秒被中止，请缩小时间范围或维度 / the query ran past {} s and was stopped", .0.as_secs(), .0.as_secs())]
    Timeout(std::time::Duration),
    #[error("查询失败 / the query failed: {0}")]
    Failed(String),
    #[error("数据仓库暂时无法连接，请稍后再试 / the warehouse cannot be reached now: {0}")]
    Unavailable(String),
}

/// Lists the tables the semantic layer reads: each model's table, the
/// tables inside models defined by SQL, and the time spines.
pub fn declared_tables(layer: &SemanticLayer) -> Vec<String> {
    use crate::semantic::Relation;

    let relations = layer
        .semantic_models
        .iter()
        .map(|model| &model.relation)
        .chain(layer.time_spines.iter().map(|spine| &spine.relation));
    let mut tables = Vec::new();
    for relation in relations {
        match relation {
            Relation::Table { name, .. } => tables.push(name.clone()),
            Relation::Sql(sql) => tables.extend(tables_in(sql)),
        }
    }
    tables.sort();
    tables.dedup();
    tables
}

/// Lists the tables a model's SQL reads (the last part of each name);
/// SQL that does not parse lists none, and the guard then rejects its
/// queries.
fn tables_in(sql: &str) -> Vec<String> {
    use sqlparser::ast::visit_relations;

    let Ok(statements) =
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::DuckDbDialect {}, sql)
    else {
        return Vec::new();
    };
    let mut tables = Vec::new();
    let _ = visit_relations(&statements, |relation| {
        if let Some(part) = relation.0.last() {
            tables.push(part.to_string().trim_matches('"').to_owned());
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    tables
}

/// Business lines other than deposits, as (word in a question, name in
/// Chinese, name in English). A question that names one the semantic layer
/// does not know asks about data the layer does not have.
const OTHER_BUSINESS_LINES: &[(&str, &str, &str)] = &[
    ("贷款", "贷款", "loans"),
    ("放款", "贷款", "loans"),
    ("授信", "授信", "credit lines"),
    ("理财", "理财", "wealth management"),
    ("基金", "基金", "funds"),
    ("信用卡", "信用卡", "credit cards"),
    ("国债", "国债", "government bonds"),
    ("债券", "债券", "bonds"),
    ("贵金属", "贵金属", "precious metals"),
    ("黄金", "黄金", "gold"),
    ("股票", "股票", "stocks"),
    ("loan", "贷款", "loans"),
    ("credit card", "信用卡", "credit cards"),
    ("wealth management", "理财", "wealth management"),
    ("mutual fund", "基金", "funds"),
];

/// Wording that asks for an amount (有多少, 余额), which the metrics answer.
const FIGURE_WORDS: &[&str] = &[
    "有多少",
    "是多少",
    "多少钱",
    "多少亿",
    "多少万",
    "余额",
    "规模",
    "总额",
    "总量",
    "how much",
    "how many",
    "total",
];

/// True for 什么是… and …是什么 (what is …), which ask for a definition.
fn asks_what_is(text: &str) -> bool {
    let text = text.trim_end_matches(['?', '？', '。', '呢', '啊', '呀']);
    text.starts_with("什么是")
        || text.ends_with("是什么")
        || text.starts_with("what is the definition")
}

/// True when the question has wording that asks for an amount.
fn asks_for_figure(text: &str) -> bool {
    let lowercase = text.to_lowercase();
    FIGURE_WORDS.iter().any(|word| lowercase.contains(word))
}

/// True when content words remain after removing what the semantic layer
/// matched and the wording of an amount: 大额存单能转让吗 keeps 转让, while
/// 对公存款有多少 keeps nothing and asks for the default metric.
fn asks_beyond_the_layer(text: &str, interpretation: &Interpretation) -> bool {
    let mut rest = text.to_owned();
    for evidence in &interpretation.evidence {
        rest = rest.replace(&evidence.text, " ");
    }
    for word in FIGURE_WORDS {
        rest = rest.replace(word, " ");
    }
    !crate::faq::content_words(&rest).is_empty()
}

/// Reads the first and latest day of every measure's time dimension; the
/// latest is the reference date that relative time words resolve against.
fn data_range(
    layer: &SemanticLayer,
    warehouse: &dyn Warehouse,
) -> Result<(NaiveDate, NaiveDate), AssistantError> {
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
        let relation =
            crate::compiler::relation_sql_in(&model.relation, warehouse.engine().dialect());
        let expr = &time_dimension.expr;
        let sql =
            format!("SELECT CAST(MIN({expr}) AS DATE), CAST(MAX({expr}) AS DATE) FROM {relation}");
        let table = warehouse.query(&sql)?;
        if let Some([Value::Date(first), Value::Date(last)]) = table.rows.first().map(Vec::as_slice)
        {
            range = Some(match range {
                // The reference date is the latest day of any fact. The first
                // day is that of the fact that starts latest, so periods
                // before it are reported as having no data.
                Some((known_first, known_last)) => (known_first.max(*first), known_last.max(*last)),
                None => (*first, *last),
            });
        }
    }
    range.ok_or_else(|| AssistantError::NoData("no measure has any dated row".to_owned()))
}
