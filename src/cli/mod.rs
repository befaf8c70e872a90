//! Subcommands of the `wenshu` binary.

mod audit;
mod output;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};

use wenshu::assistant::QuerySettings;
use wenshu::assistant::{Assistant, ConversationState};
use wenshu::compiler::{CompileOptions, MetricQuery, OrderBy, compile};
use wenshu::config::Config;
use wenshu::llm::{LlmMode, LlmSettings};
use wenshu::semantic::{self, check_warehouse};
use wenshu::server::{self, Limits, ServerConfig, WebAssets};
use wenshu::warehouse::{SparkSettings, WarehouseLimits, WarehouseSource};
use wenshu::{conformance, demo, load_test};

const DEFAULT_WAREHOUSE: &str = "data/demo.duckdb";
const DEFAULT_SEMANTIC_LAYER: &str = "semantic_layer";
const DEFAULT_KNOWLEDGE_BASE: &str = "knowledge_base";
const DEFAULT_STATE: &str = "data/wenshu.sqlite";
const DEFAULT_CONFIG: &str = "wenshu.toml";

#[derive(Debug, Parser)]
#[command(
    name = "wenshu",
    version,
    about = "Wenshu (问数): ask your deposit metrics in Chinese"
)]
pub struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate the demo warehouse (a DuckDB file).
    Demo {
        /// Where to write the warehouse.
        #[arg(long, default_value = DEFAULT_WAREHOUSE)]
        out: PathBuf,
        /// Multiplies the number of customers and accounts (1 gives about 4,000 accounts).
        #[arg(long, default_value_t = 1)]
        scale: u32,
        /// Seed of the generator; the same seed and scale give the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// `duckdb` writes one DuckDB file at --out. `parquet` writes a
        /// folder at --out with a Parquet folder per table, and a Spark SQL
        /// script (register_spark.sql) that registers them as tables.
        #[arg(long, value_enum, default_value_t = DemoFormat::Duckdb)]
        format: DemoFormat,
        /// With --format parquet: also register the tables on this Spark
        /// Connect server (`sc://HOST:PORT`), which must read the folder at
        /// the same path.
        #[arg(long)]
        register: Option<String>,
    },
    /// Validate the semantic layer, and its columns against a warehouse.
    Check {
        /// The warehouse whose tables the semantic layer must match: a
        /// DuckDB file or `sc://HOST:PORT` (default: data/demo.duckdb when
        /// it exists).
        #[arg(long)]
        warehouse: Option<WarehouseSource>,
        /// The semantic-layer folder.
        #[arg(default_value = DEFAULT_SEMANTIC_LAYER)]
        dir: PathBuf,
    },
    /// Compile and run one metric query.
    Query {
        /// Metric names, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        metrics: Vec<String>,
        /// Group-by items such as `metric_time__month` or `branch__branch_name`, comma-separated.
        #[arg(long = "group-by", value_delimiter = ',')]
        group_by: Vec<String>,
        /// A filter in MetricFlow syntax, e.g. "{{ Dimension('customer__customer_type') }} = '个人'"; repeatable.
        #[arg(long = "where")]
        where_filters: Vec<String>,
        /// First day of the period (YYYY-MM-DD), inclusive.
        #[arg(long)]
        start: Option<NaiveDate>,
        /// Last day of the period (YYYY-MM-DD), inclusive.
        #[arg(long)]
        end: Option<NaiveDate>,
        /// Order-by items, comma-separated; a leading `-` sorts descending.
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        order: Vec<String>,
        /// Maximum number of rows.
        #[arg(long)]
        limit: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Print the SQL without running it.
        #[arg(long)]
        explain: bool,
        /// The SQL dialect of --explain: duckdb, or spark for Spark SQL
        /// (default: that of --warehouse).
        #[arg(long, value_enum)]
        dialect: Option<SqlDialect>,
        /// A DuckDB file or `sc://HOST:PORT`; the SQL that runs is in the
        /// warehouse's dialect.
        #[arg(long, default_value = DEFAULT_WAREHOUSE)]
        warehouse: WarehouseSource,
        #[arg(long = "semantic-layer", default_value = DEFAULT_SEMANTIC_LAYER)]
        semantic_layer: PathBuf,
    },
    /// Serve the chat page and API over HTTP until Ctrl-C or SIGTERM.
    ///
    /// Settings come from `wenshu.toml` (or --config); flags override it.
    Serve(ServeFlags),
    /// Create an access token for wenshu.toml.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// List the audit record: every request the server answered.
    Audit(audit::AuditArgs),
    /// Answer one question and print the answer.
    Ask {
        /// The question, e.g. "今年以来日均存款是多少".
        question: String,
        /// Print the chat API's JSON response instead of the text.
        #[arg(long)]
        json: bool,
        /// The warehouse to query: a DuckDB file or `sc://HOST:PORT`
        /// (default: data/demo.duckdb, generated first when missing).
        #[arg(long)]
        warehouse: Option<WarehouseSource>,
        #[arg(long = "semantic-layer", default_value = DEFAULT_SEMANTIC_LAYER)]
        semantic_layer: PathBuf,
    },
    /// Work with the e-banking knowledge base.
    Faq {
        #[command(subcommand)]
        action: FaqAction,
    },
    /// Measure a running server.
    Bench {
        #[command(subcommand)]
        action: BenchAction,
    },
    /// Run MetricFlow's integration cases through the compiler.
    Conformance {
        /// The fixture folder (MetricFlow's manifests, snapshots and cases).
        root: PathBuf,
        /// A folder of case files to run instead of the fixture's own.
        #[arg(long)]
        cases: Option<PathBuf>,
        /// Run only the cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Run the compiled queries on this Spark Connect server
        /// (`sc://HOST:PORT`, reading files on this machine); the expected
        /// rows still come from DuckDB.
        #[arg(long)]
        spark: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Print a new random token and the SHA-256 hash that wenshu.toml keeps.
    New,
}

#[derive(Debug, Subcommand)]
enum FaqAction {
    /// Search the knowledge base and print the closest entries.
    Search {
        /// The question, e.g. "手机银行转账限额怎么调".
        query: String,
        /// The knowledge-base folder.
        #[arg(long = "knowledge-base", default_value = DEFAULT_KNOWLEDGE_BASE)]
        knowledge_base: PathBuf,
        /// Number of entries to print.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// Print the hits as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BenchAction {
    /// Hold concurrent conversations with a server's chat API and report
    /// throughput, latency percentiles and errors.
    ///
    /// Each conversation sends its questions in turn in one session, then
    /// the next conversation starts. The last line reads
    /// `p99_ms=... errors=... requests=...`; the exit status is 1 when any
    /// request failed. A token for a server with access control comes from
    /// the WENSHU_TOKEN environment variable.
    Load(LoadFlags),
}

/// The flags of `wenshu bench load`.
#[derive(Debug, clap::Args)]
struct LoadFlags {
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// Conversations held at the same time (1 to 1000).
    #[arg(long, default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=load_test::MAX_CONVERSATIONS as u64))]
    conversations: u64,
    /// How long to start new requests, in seconds (1 to 3600); the requests
    /// in flight then finish.
    #[arg(long, default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=load_test::MAX_SECONDS))]
    seconds: u64,
    /// Stop after this many requests in all (default: no limit).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Pause before each turn, in milliseconds (0 to 60000), as a person
    /// reads the answer before asking on.
    #[arg(long = "think-ms", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    think_ms: u64,
    /// Give up waiting for a response after this many seconds (1 to 600).
    #[arg(long = "timeout-seconds", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=load_test::MAX_REQUEST_TIMEOUT_SECONDS))]
    timeout_seconds: u64,
    /// A JSON Lines file of conversations, one per line as
    /// {"id": "c01", "turns": [{"q": "..."}, ...]} (the evaluation format);
    /// cases with `params` are left out. Default: the built-in conversations.
    #[arg(long)]
    questions: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

pub fn run(arguments: Arguments) -> anyhow::Result<ExitCode> {
    match arguments.command {
        Command::Demo {
            out,
            scale,
            seed,
            format,
            register,
        } => run_demo(out, scale, seed, format, register.as_deref()),
        Command::Check { warehouse, dir } => run_check(warehouse, &dir),
        Command::Query {
            metrics,
            group_by,
            where_filters,
            start,
            end,
            order,
            limit,
            format,
            explain,
            dialect,
            warehouse,
            semantic_layer,
        } => {
            let query = MetricQuery {
                metrics,
                group_by,
                where_filters,
                start,
                end,
                order_by: order.iter().map(|text| OrderBy::parse(text)).collect(),
                limit,
            };
            if dialect == Some(SqlDialect::Spark) && !explain {
                bail!(
                    "--dialect spark only prints the SQL: add --explain, or give --warehouse sc://HOST:PORT to run it on Spark"
                );
            }
            run_query(
                &query,
                format,
                explain,
                dialect,
                &warehouse,
                &semantic_layer,
            )
        }
        Command::Serve(flags) => run_serve(flags),
        Command::Token {
            action: TokenAction::New,
        } => {
            let token = format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            );
            println!("token (give it to the user; it is not stored): {token}");
            println!(
                "token_sha256 (put it in wenshu.toml): {}",
                server::hash_token(&token)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(args) => audit::run(args),
        Command::Ask {
            question,
            json,
            warehouse,
            semantic_layer,
        } => run_ask(&question, json, warehouse, &semantic_layer),
        Command::Faq {
            action:
                FaqAction::Search {
                    query,
                    knowledge_base,
                    limit,
                    json,
                },
        } => run_faq_search(&query, &knowledge_base, limit, json),
        Command::Bench {
            action: BenchAction::Load(flags),
        } => run_load_test(flags),
        Command::Conformance {
            root,
            cases,
            filter,
            spark,
        } => run_conformance(root, cases, filter, spark),
    }
}

/// The file format of `wenshu demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DemoFormat {
    Duckdb,
    Parquet,
}

fn run_demo(
    out: PathBuf,
    scale: u32,
    seed: u64,
    format: DemoFormat,
    register: Option<&str>,
) -> anyhow::Result<ExitCode> {
    if scale == 0 {
        bail!("invalid scale `0`: use 1 or more");
    }
    if register.is_some() && format != DemoFormat::Parquet {
        bail!("--register needs --format parquet: Spark reads the Parquet files");
    }
    if format == DemoFormat::Parquet {
        if out.is_file() {
            bail!(
                "`{}` is a file: --format parquet writes a folder, such as data/demo-parquet",
                out.display()
            );
        }
        // The tables are generated in DuckDB first, then copied out.
        let staging = out.join(".demo.duckdb");
        let options = demo::DemoOptions {
            out: staging.clone(),
            scale,
            seed,
            progress: true,
        };
        demo::generate(&options)?;
        let exported = demo::export_parquet(&staging, &out);
        let _ = std::fs::remove_file(&staging);
        for path in exported? {
            println!("wrote {}", path.display());
        }
        let script_path = out.join(demo::SPARK_SCRIPT);
        match register {
            Some(remote) => {
                let Ok(WarehouseSource::Spark(remote)) = WarehouseSource::parse(remote) else {
                    bail!(
                        "--register takes a Spark Connect address such as sc://127.0.0.1:15002, not `{remote}`"
                    );
                };
                let remote = remote.as_str();
                let script = std::fs::read_to_string(&script_path)
                    .with_context(|| format!("cannot read `{}`", script_path.display()))?;
                let spark = wenshu::warehouse::Spark::connect(remote, &SparkSettings::default())?;
                spark.execute_script(&script)?;
                println!("registered the tables on {remote}");
            }
            None => println!(
                "register the tables in Spark with: spark-sql -f {} (or wenshu demo --format parquet --register sc://HOST:PORT)",
                script_path.display()
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let options = demo::DemoOptions {
        out,
        scale,
        seed,
        progress: true,
    };
    let summary = demo::generate(&options)?;
    println!(
        "wrote {} in {:.1} s",
        summary.path.display(),
        summary.elapsed.as_secs_f64()
    );
    for (table, rows) in &summary.tables {
        println!("  {table:<24} {rows:>12} rows");
    }
    Ok(ExitCode::SUCCESS)
}

fn load_layer(dir: &Path) -> anyhow::Result<semantic::SemanticLayer> {
    semantic::load_dir(dir).map_err(|diagnostics| {
        anyhow::anyhow!(
            "the semantic layer in `{}` has {} problem(s):\n{diagnostics}",
            dir.display(),
            diagnostics.0.len()
        )
    })
}

fn run_check(warehouse: Option<WarehouseSource>, dir: &Path) -> anyhow::Result<ExitCode> {
    let layer = match semantic::load_dir(dir) {
        Ok(layer) => layer,
        Err(diagnostics) => {
            for diagnostic in &diagnostics.0 {
                println!("{diagnostic}");
            }
            println!(
                "{} problem(s) found in `{}`",
                diagnostics.0.len(),
                dir.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let warehouse_source = warehouse.or_else(|| {
        let default = PathBuf::from(DEFAULT_WAREHOUSE);
        default.exists().then_some(WarehouseSource::DuckDb(default))
    });
    let mut problems = 0;
    if let Some(source) = &warehouse_source {
        let warehouse = source.open(&WarehouseLimits::default(), &SparkSettings::default())?;
        for diagnostic in check_warehouse(&layer, warehouse.as_ref()) {
            println!("{diagnostic}");
            problems += 1;
        }
        drop(warehouse);
        // Verified questions need the warehouse's values and data dates,
        // which opening the assistant reads.
        if problems == 0 && !layer.verified_questions.is_empty() {
            match Assistant::connect(dir, source, QuerySettings::default()) {
                Ok(_) => {}
                Err(wenshu::assistant::AssistantError::SemanticLayer(diagnostics)) => {
                    for diagnostic in &diagnostics.0 {
                        println!("{diagnostic}");
                        problems += 1;
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
    if problems > 0 {
        println!("{problems} problem(s) found");
        return Ok(ExitCode::FAILURE);
    }
    let against = match &warehouse_source {
        Some(source) => format!(", columns checked against {source}"),
        None => ", no warehouse given so columns were not checked".to_owned(),
    };
    println!(
        "ok: {} semantic models, {} metrics, {} verified questions{against}",
        layer.semantic_models.len(),
        layer.metrics.len(),
        layer.verified_questions.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The SQL dialect `wenshu query --explain` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SqlDialect {
    Duckdb,
    Spark,
}

fn run_query(
    query: &MetricQuery,
    format: Format,
    explain: bool,
    dialect: Option<SqlDialect>,
    warehouse: &WarehouseSource,
    semantic_layer: &Path,
) -> anyhow::Result<ExitCode> {
    let layer = load_layer(semantic_layer)?;
    let options = CompileOptions::default();
    // The SQL that runs is in the warehouse's dialect; --dialect chooses
    // what --explain prints.
    let warehouse_dialect = match warehouse {
        WarehouseSource::Spark(_) => SqlDialect::Spark,
        WarehouseSource::DuckDb(_) => SqlDialect::Duckdb,
    };
    let dialect = match (dialect, explain) {
        (Some(chosen), true) => chosen,
        _ => warehouse_dialect,
    };
    let compiled = match dialect {
        SqlDialect::Duckdb => compile(&layer, query, &options)?,
        SqlDialect::Spark => {
            wenshu::compiler::compile_with(&layer, query, &options, &wenshu::compiler::SparkSql)?
        }
    };
    if explain {
        println!("{}", compiled.sql);
        return Ok(ExitCode::SUCCESS);
    }
    let warehouse = warehouse.open(&WarehouseLimits::default(), &SparkSettings::default())?;
    let table = warehouse
        .query(&compiled.sql)
        .with_context(|| format!("running the compiled SQL:\n{}", compiled.sql))?;
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Table => output::write_table(&mut stdout, &table)?,
        Format::Csv => output::write_csv(&mut stdout, &table)?,
        Format::Json => {
            let document = serde_json::json!({
                "sql": compiled.sql,
                "columns": table.columns,
                "rows": table.rows,
            });
            writeln!(stdout, "{}", serde_json::to_string_pretty(&document)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The flags of `wenshu serve`; each overrides the settings file.
#[derive(Debug, clap::Args)]
struct ServeFlags {
    /// The settings file (default: wenshu.toml when it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The warehouse to query: a DuckDB file, or a Spark Connect server as
    /// `sc://HOST:PORT` (default: data/demo.duckdb, generated first when
    /// missing).
    #[arg(long)]
    warehouse: Option<WarehouseSource>,
    /// The semantic-layer folder (default: semantic_layer).
    #[arg(long = "semantic-layer")]
    semantic_layer: Option<PathBuf>,
    /// The address and port to listen on (default: 127.0.0.1:8080).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Serve the chat page from this folder, read on every request,
    /// instead of the copy built into the binary (for page development).
    #[arg(long = "web-dir")]
    web_dir: Option<PathBuf>,
    /// The SQLite file of conversations, feedback and the audit record
    /// (default: data/wenshu.sqlite).
    #[arg(long)]
    state: Option<PathBuf>,
    /// When to ask a language model: rules (never, the default), hybrid
    /// (when the rules are not sure) or llm (always).
    #[arg(long = "llm-mode")]
    llm_mode: Option<String>,
    /// The OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1
    /// (vLLM) or http://127.0.0.1:11434/v1 (Ollama). The key, if any,
    /// comes from OPENAI_API_KEY.
    #[arg(long = "llm-base-url")]
    llm_base_url: Option<String>,
    /// The model name the endpoint serves.
    #[arg(long = "llm-model")]
    llm_model: Option<String>,
    /// The endpoint's embedding model; FAQ retrieval then fuses its
    /// nearest entries with BM25 (overrides WENSHU_LLM_EMBEDDING_MODEL).
    #[arg(long = "llm-embedding-model")]
    llm_embedding_model: Option<String>,
}

/// Resolves the language-model settings: flags, then the environment, then
/// the settings file, then the defaults (`rules`).
fn llm_settings(flags: &ServeFlags, config: &Config) -> anyhow::Result<LlmSettings> {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    let mode = flags
        .llm_mode
        .clone()
        .or_else(|| env("WENSHU_LLM_MODE"))
        .or(config.llm.mode.clone());
    let defaults = LlmSettings::default();
    let settings = LlmSettings {
        mode: match mode {
            Some(text) => LlmMode::parse(&text).map_err(anyhow::Error::msg)?,
            None => LlmMode::Rules,
        },
        base_url: flags
            .llm_base_url
            .clone()
            .or_else(|| env("WENSHU_LLM_BASE_URL"))
            .or(config.llm.base_url.clone()),
        model: flags
            .llm_model
            .clone()
            .or_else(|| env("WENSHU_LLM_MODEL"))
            .or(config.llm.model.clone()),
        embedding_model: flags
            .llm_embedding_model
            .clone()
            .or_else(|| env("WENSHU_LLM_EMBEDDING_MODEL"))
            .or(config.llm.embedding_model.clone()),
        api_key: env("OPENAI_API_KEY"),
        timeout: config
            .llm
            .timeout_seconds
            .map_or(defaults.timeout, std::time::Duration::from_secs),
    };
    settings.check().map_err(anyhow::Error::msg)?;
    Ok(settings)
}

fn run_serve(flags: ServeFlags) -> anyhow::Result<ExitCode> {
    let config = match &flags.config {
        Some(path) => Config::load(path)?,
        None if Path::new(DEFAULT_CONFIG).exists() => Config::load(Path::new(DEFAULT_CONFIG))?,
        None => Config::default(),
    };
    let llm = llm_settings(&flags, &config)?;
    let web_dir = flags.web_dir.or(config.server.web_dir.clone());
    let web_assets = match web_dir {
        Some(folder) => {
            let assets = WebAssets::Folder(folder);
            assets.check().map_err(anyhow::Error::msg)?;
            assets
        }
        None => WebAssets::Embedded,
    };
    let defaults = Limits::default();
    let limits = Limits {
        max_message_chars: config
            .limits
            .max_message_chars
            .unwrap_or(defaults.max_message_chars),
        max_body_bytes: config
            .limits
            .max_body_bytes
            .unwrap_or(defaults.max_body_bytes),
        session_idle_timeout: config
            .limits
            .session_idle_minutes
            .map_or(defaults.session_idle_timeout, |minutes| {
                std::time::Duration::from_secs(minutes * 60)
            }),
        max_sessions: config.limits.max_sessions.unwrap_or(defaults.max_sessions),
    };
    let query_defaults = QuerySettings::default();
    let query_settings = QuerySettings {
        max_rows: config.warehouse.max_rows.unwrap_or(query_defaults.max_rows),
        timeout: config
            .warehouse
            .query_timeout_seconds
            .map_or(query_defaults.timeout, std::time::Duration::from_secs),
        warehouse: WarehouseLimits {
            threads: config.warehouse.threads,
            memory_limit: config.warehouse.memory_limit.clone(),
        },
        spark: query_defaults.spark.clone(),
        connections: config
            .warehouse
            .connections
            .unwrap_or(query_defaults.connections),
    };
    let access = server::Access::new(
        &config.auth,
        config.limits.requests_per_minute.unwrap_or(600),
        config.limits.anonymous_requests_per_minute.unwrap_or(0),
    );
    let warehouse = flags.warehouse.or(config
        .warehouse
        .path
        .as_deref()
        .map(WarehouseSource::parse)
        .transpose()
        .map_err(|error| anyhow::anyhow!("[warehouse] path in the settings file: {error}"))?);
    let server_config = ServerConfig {
        bind: flags.bind.or(config.server.bind).unwrap_or_else(|| {
            server::DEFAULT_BIND
                .parse()
                .expect("a valid default address")
        }),
        semantic_layer: flags
            .semantic_layer
            .or(config.server.semantic_layer.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SEMANTIC_LAYER)),
        warehouse: warehouse_or_demo(warehouse)?,
        knowledge_base: config
            .server
            .knowledge_base
            .clone()
            .or_else(knowledge_base_folder),
        limits,
        web_assets,
        state_file: flags
            .state
            .or(config.state.path.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE)),
        access: std::sync::Arc::new(access),
        query_settings,
        llm,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(server::serve(server_config))?;
    Ok(ExitCode::SUCCESS)
}

/// The knowledge-base folder, `knowledge_base/` in the working folder,
/// when it exists.
fn knowledge_base_folder() -> Option<PathBuf> {
    let folder = PathBuf::from(DEFAULT_KNOWLEDGE_BASE);
    folder.is_dir().then_some(folder)
}

fn run_ask(
    question: &str,
    json: bool,
    warehouse: Option<WarehouseSource>,
    semantic_layer: &Path,
) -> anyhow::Result<ExitCode> {
    let question = server::check_message(question, Limits::default().max_message_chars)?;
    let warehouse = warehouse_or_demo(warehouse)?;
    let mut assistant = Assistant::connect(semantic_layer, &warehouse, QuerySettings::default())?;
    if let Some(folder) = knowledge_base_folder() {
        assistant = assistant.with_knowledge_base_dir(&folder)?;
    }

    let session_id = server::new_session_id();
    let mut conversation = ConversationState::default();
    let answer = assistant.respond(&session_id, &mut conversation, question);
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        println!("{}", answer.text);
    }
    Ok(ExitCode::SUCCESS)
}

/// Returns the warehouse given, or the default one, generating the demo
/// warehouse there first when it is missing.
fn warehouse_or_demo(warehouse: Option<WarehouseSource>) -> anyhow::Result<WarehouseSource> {
    if let Some(source) = warehouse {
        return Ok(source);
    }
    let default = PathBuf::from(DEFAULT_WAREHOUSE);
    if default.exists() {
        return Ok(WarehouseSource::DuckDb(default));
    }

    // Standard error, so that `ask --json` still prints only JSON.
    eprintln!(
        "`{DEFAULT_WAREHOUSE}` not found; generating the demo warehouse there first (scale 1, seed 42)"
    );
    let options = demo::DemoOptions {
        out: default.clone(),
        scale: 1,
        seed: 42,
        progress: true,
    };
    demo::generate(&options)?;
    Ok(WarehouseSource::DuckDb(default))
}

fn run_faq_search(
    query: &str,
    folder: &Path,
    limit: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let query = server::check_message(query, Limits::default().max_message_chars)?;
    let (index, diagnostics) = wenshu::faq::FaqIndex::open(folder)?;
    for diagnostic in &diagnostics.0 {
        eprintln!("warning: entry left out: {diagnostic}");
    }
    let outcome = index.search(query, limit);
    if json {
        let document = serde_json::json!({"confident": outcome.confident, "hits": outcome.hits});
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(ExitCode::SUCCESS);
    }
    if outcome.hits.is_empty() {
        println!("没有找到相关条目 / no entry found");
        return Ok(ExitCode::SUCCESS);
    }
    let verdict = if outcome.confident {
        "最佳匹配 / best match"
    } else {
        "不确定，以下为最接近的条目 / not sure; closest entries"
    };
    println!("{verdict}");
    for hit in &outcome.hits {
        println!("{:>8.3}  {:<20} {}", hit.score, hit.id, hit.question);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_load_test(flags: LoadFlags) -> anyhow::Result<ExitCode> {
    let (scripts, source) = match &flags.questions {
        Some(path) => {
            let (scripts, skipped) = load_test::conversations::read_file(path)?;
            let source = format!(
                "{} conversations from {} ({skipped} with params left out)",
                scripts.len(),
                path.display()
            );
            (scripts, source)
        }
        None => {
            let scripts = load_test::conversations::built_in();
            let source = format!("{} built-in conversations", scripts.len());
            (scripts, source)
        }
    };
    let token = std::env::var("WENSHU_TOKEN")
        .ok()
        .filter(|token| !token.trim().is_empty());
    let options = load_test::LoadOptions {
        url: flags.url,
        conversations: usize::try_from(flags.conversations)?,
        duration: std::time::Duration::from_secs(flags.seconds),
        max_requests: flags.requests,
        think_time: std::time::Duration::from_millis(flags.think_ms),
        request_timeout: std::time::Duration::from_secs(flags.timeout_seconds),
        token,
        scripts,
    };
    options.check()?;
    println!(
        "{} concurrent conversations against {} for {} s, think time {} ms, drawn from {source}",
        options.conversations, options.url, flags.seconds, flags.think_ms
    );

    // One thread: the generator then takes at most one core from a server
    // on the same machine.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(load_test::run(&options))?;
    print!("{}", report.to_text());
    Ok(if report.errors.total() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_conformance(
    root: PathBuf,
    cases: Option<PathBuf>,
    filter: Option<String>,
    spark: Option<String>,
) -> anyhow::Result<ExitCode> {
    let options = conformance::ConformanceOptions {
        root,
        cases_dir: cases,
        name_filter: filter,
        spark,
    };
    let mut stdout = std::io::stdout().lock();
    let report = conformance::run(&options, &mut stdout)?;
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Arguments, BenchAction, Command};

    fn parse_load(flags: &[&str]) -> Result<super::LoadFlags, String> {
        let mut words = vec!["wenshu", "bench", "load", "--url", "http://127.0.0.1:8080"];
        words.extend_from_slice(flags);
        match Arguments::try_parse_from(words) {
            Ok(Arguments {
                command:
                    Command::Bench {
                        action: BenchAction::Load(flags),
                    },
            }) => Ok(flags),
            Ok(other) => Err(format!("parsed as another command: {other:?}")),
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn load_defaults() {
        let flags = parse_load(&[]).unwrap();
        assert_eq!(flags.conversations, 50);
        assert_eq!(flags.seconds, 30);
        assert_eq!(flags.requests, None);
        assert_eq!(flags.think_ms, 0);
        assert_eq!(flags.timeout_seconds, 30);
        assert!(flags.questions.is_none());
    }

    #[test]
    fn load_flags_in_bounds() {
        let flags = parse_load(&[
            "--conversations",
            "1000",
            "--seconds",
            "3600",
            "--requests",
            "1",
            "--think-ms",
            "60000",
            "--timeout-seconds",
            "600",
        ])
        .unwrap();
        assert_eq!(flags.conversations, 1000);
        assert_eq!(flags.seconds, 3600);
        assert_eq!(flags.requests, Some(1));
        assert_eq!(flags.think_ms, 60_000);
        assert_eq!(flags.timeout_seconds, 600);
    }

    #[test]
    fn load_flags_out_of_bounds() {
        let cases: [&[&str]; 8] = [
            &["--conversations", "0"],
            &["--conversations", "1001"],
            &["--seconds", "0"],
            &["--seconds", "3601"],
            &["--requests", "0"],
            &["--think-ms", "60001"],
            &["--timeout-seconds", "0"],
            &["--timeout-seconds", "601"],
        ];
        for flags in cases {
            let error = parse_load(flags).expect_err(&format!("{flags:?} was accepted"));
            assert!(error.contains("invalid value"), "{flags:?}: {error}");
        }
    }

    #[test]
    fn load_needs_url() {
        let error = Arguments::try_parse_from(["wenshu", "bench", "load"]).unwrap_err();
        assert!(error.to_string().contains("--url <URL>"), "{error}");
    }
}
