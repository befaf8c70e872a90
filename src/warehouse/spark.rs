//! Apache Spark through Spark Connect, with the `apache-spark-connect`
//! client.
//!
//! The client is synchronous and drives its calls on a runtime of its own,
//! which must not be entered from a thread that already runs async tasks.
//! Every call therefore runs on a thread of its own, and the caller waits
//! for it with a deadline. A server that stops responding then ends in an
//! error after the deadline, not in a request that hangs while the client
//! retries. A connection that failed or timed out is dropped and the next
//! statement connects again.
//!
//! Results arrive as Arrow record batches and are converted once into the
//! [`Table`] of [`Value`]s that DuckDB's results become too.

use std::sync::{Mutex, mpsc};
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use chrono::{DateTime, NaiveDate};
use spark_connect::{SparkError, SparkSession};

use super::{Column, Engine, Result, Table, Value, Warehouse, WarehouseError};

/// Limits of a Spark Connect connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparkSettings {
    /// How long connecting may take before the server counts as unavailable.
    pub connect_timeout: Duration,
    /// How long a query that ran past its limit may take to stop once
    /// interrupted; after that its connection is dropped.
    pub interrupt_grace: Duration,
    /// The time limit of statements run without one (the catalog reads at
    /// start-up).
    pub default_limit: Duration,
    /// After the server was found unavailable, statements fail at once for
    /// this long instead of each waiting for a server that does not respond.
    pub retry_pause: Duration,
}

impl Default for SparkSettings {
    fn default() -> Self {
        SparkSettings {
            connect_timeout: Duration::from_secs(10),
            interrupt_grace: Duration::from_secs(5),
            default_limit: Duration::from_secs(300),
            retry_pause: Duration::from_secs(10),
        }
    }
}

/// Spark session settings applied on every connection: results in UTC, so
/// that timestamps read as Spark shows them, and no SQL directly on files
/// (`SELECT * FROM parquet.`/path``), which the SQL guard rejects as well.
///
/// NOTE: a Spark Connect server that restarts takes the old session id as a
/// new session with its default settings, and the client does not report
/// it. Until that connection fails and reconnects, these two settings are
/// off there (the guard still applies).
const SESSION_SETTINGS: &[(&str, &str)] = &[
    ("spark.sql.session.timeZone", "UTC"),
    ("spark.sql.runSQLOnFiles", "false"),
];

/// The gRPC status code of a server that cannot be reached.
const GRPC_UNAVAILABLE: i32 = 14;

/// A Spark Connect connection to a Spark cluster (or a local Spark).
pub struct Spark {
    remote: String,
    settings: SparkSettings,
    /// None after the connection failed; the next statement reconnects.
    session: Mutex<Option<SparkSession>>,
    /// When the server was last found unavailable.
    unavailable_at: Mutex<Option<std::time::Instant>>,
}

impl Spark {
    /// Connects to the Spark Connect server at `remote` (`sc://HOST:PORT`).
    pub fn connect(remote: &str, settings: &SparkSettings) -> Result<Spark> {
        let spark = Spark {
            remote: remote.to_owned(),
            settings: settings.clone(),
            session: Mutex::new(None),
            unavailable_at: Mutex::new(None),
        };
        spark.session()?;
        Ok(spark)
    }

    /// Returns the Spark Connect address.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// Runs statements that return no rows, such as the `CREATE TABLE`s of
    /// `register_spark.sql`, one at a time. Lines that start with `--` are
    /// comments. These statements do not pass the SQL guard: this is for
    /// loading data, never for questions.
    pub fn execute_script(&self, script: &str) -> Result<()> {
        for statement in script_statements(script) {
            self.query_with_limit(&statement, self.settings.default_limit)?;
        }
        Ok(())
    }

    /// Returns the open session, connecting first when there is none.
    fn session(&self) -> Result<SparkSession> {
        let mut slot = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(session) = slot.as_ref() {
            return Ok(session.clone());
        }

        let last_failure = *self
            .unavailable_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(failed_at) = last_failure {
            let since = failed_at.elapsed();
            if since < self.settings.retry_pause {
                return Err(self.unavailable(&format!(
                    "it did not respond {} s ago; the next attempt is in {} s",
                    since.as_secs(),
                    (self.settings.retry_pause - since).as_secs().max(1)
                )));
            }
        }

        // The client retries a refused connection until the deadline, while
        // a closed port is known at once.
        port_open(&self.remote).map_err(|reason| self.unavailable(&reason))?;
        let remote = self.remote.clone();
        let connected = on_own_thread(self.settings.connect_timeout, move || {
            let session = SparkSession::builder()
                .remote(&remote)
                .get_or_create()
                .map_err(ClientError::from)?;
            for (key, value) in SESSION_SETTINGS {
                session.conf().set(key, value).map_err(ClientError::from)?;
            }
            Ok::<_, ClientError>(session)
        });
        let session = match connected {
            Some(Ok(session)) => session,
            Some(Err(error)) => return Err(self.unavailable(&error.message)),
            None => {
                return Err(self.unavailable(&format!(
                    "no response within {} s",
                    self.settings.connect_timeout.as_secs()
                )));
            }
        };

        *slot = Some(session.clone());
        *self
            .unavailable_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        Ok(session)
    }

    /// Drops the session, so that the next statement connects again.
    fn disconnect(&self) {
        let mut slot = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = None;
    }

    /// Builds the error of an unavailable server and remembers when, so
    /// that statements in the next [`SparkSettings::retry_pause`] fail at once.
    fn unavailable(&self, message: &str) -> WarehouseError {
        let mut failed_at = self
            .unavailable_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if failed_at.is_none_or(|at| at.elapsed() >= self.settings.retry_pause) {
            *failed_at = Some(std::time::Instant::now());
        }
        WarehouseError::Unavailable {
            remote: super::source::redacted(&self.remote),
            message: first_line(message),
        }
    }

    /// Turns a client error into a warehouse error; a lost connection also
    /// drops the session.
    fn query_error(&self, error: &ClientError) -> WarehouseError {
        // A connection cut mid-query ends in a transport error rather than
        // UNAVAILABLE, so a closed port also counts as a lost server.
        if error.unavailable || port_open(&self.remote).is_err() {
            self.disconnect();
            return self.unavailable(&error.message);
        }
        WarehouseError::Spark {
            message: first_line(&error.message),
        }
    }
}

impl Warehouse for Spark {
    fn engine(&self) -> Engine {
        Engine::Spark
    }

    fn query(&self, sql: &str) -> Result<Table> {
        self.query_with_limit(sql, self.settings.default_limit)
    }

    /// Runs the query on its own thread and waits up to `limit`.
    ///
    /// While it waits, the server's port is checked every
    /// [`PORT_CHECK_INTERVAL`], because the client retries a lost connection
    /// for minutes. A server that went away is reported at the next check.
    /// Past the limit, the session's operations are interrupted and the
    /// query gets [`SparkSettings::interrupt_grace`] to stop. A query that
    /// does not stop in that time is left to the server, and its session is
    /// dropped.
    fn query_with_limit(&self, sql: &str, limit: Duration) -> Result<Table> {
        let session = self.session()?;
        let (sender, receiver) = mpsc::channel();
        let running = session.clone();
        let statement = sql.to_owned();
        std::thread::spawn(move || {
            let batches = match running.sql(&statement) {
                Ok(frame) => frame.collect_record_batches().map_err(ClientError::from),
                Err(error) => Err(ClientError::from(error)),
            };
            let _ = sender.send(batches);
        });

        let started = std::time::Instant::now();
        let outcome = loop {
            let left = limit.saturating_sub(started.elapsed());
            match receiver.recv_timeout(left.min(PORT_CHECK_INTERVAL)) {
                Ok(outcome) => break outcome,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(WarehouseError::Spark {
                        message: "the query's thread ended without a result".to_owned(),
                    });
                }
                Err(mpsc::RecvTimeoutError::Timeout) if left > PORT_CHECK_INTERVAL => {
                    if let Err(reason) = port_open(&self.remote) {
                        self.disconnect();
                        return Err(self.unavailable(&reason));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // The interrupt and the wait for the query to stop share
                    // one grace period.
                    let (interrupt_sent, interrupt_done) = mpsc::channel();
                    let interrupting = session.clone();
                    std::thread::spawn(move || {
                        let _ = interrupt_sent.send(interrupting.interrupt_all().is_ok());
                    });
                    let stopped = receiver.recv_timeout(self.settings.interrupt_grace).is_ok();
                    let interrupted = interrupt_done.try_recv().unwrap_or(false);
                    if stopped || interrupted {
                        if !stopped {
                            self.disconnect();
                        }
                        return Err(WarehouseError::Timeout { limit });
                    }
                    // Neither the query nor the interrupt got a response.
                    self.disconnect();
                    return Err(self.unavailable(&format!(
                        "no response within the time limit of {} s",
                        limit.as_secs()
                    )));
                }
            }
        };
        match outcome {
            Ok(batches) => table_from_batches(&batches),
            Err(error) => Err(self.query_error(&error)),
        }
    }

    fn try_clone(&self) -> Result<Box<dyn Warehouse>> {
        Ok(Box::new(Spark::connect(&self.remote, &self.settings)?))
    }
}

/// The part of a client error that Wenshu reads, taken on the thread that
/// got it (the client's own error type is large).
struct ClientError {
    /// The server could not be reached (gRPC `UNAVAILABLE`).
    unavailable: bool,
    message: String,
}

impl From<SparkError> for ClientError {
    fn from(error: SparkError) -> Self {
        ClientError {
            unavailable: error.grpc_code() == Some(GRPC_UNAVAILABLE),
            message: error.message(),
        }
    }
}

/// How often a running query checks that the server's port still accepts
/// connections.
const PORT_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Checks that the host and port of a Spark Connect address
/// (`sc://HOST:PORT/;params`) accept a TCP connection.
fn port_open(remote: &str) -> std::result::Result<(), String> {
    use std::net::{TcpStream, ToSocketAddrs};

    let authority = remote
        .trim_start_matches("sc://")
        .split(['/', ';'])
        .next()
        .unwrap_or_default();
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:15002")
    };
    let addresses = authority
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve `{authority}`: {error}"))?;
    let mut last_error = format!("no address for `{authority}`");
    for address in addresses {
        match TcpStream::connect_timeout(&address, Duration::from_secs(1)) {
            Ok(_) => return Ok(()),
            Err(error) => last_error = format!("{address}: {error}"),
        }
    }
    Err(last_error)
}

/// Runs `work` on a new thread and waits up to `deadline` for its result;
/// None when the deadline passed first (the thread is left to finish).
fn on_own_thread<T: Send + 'static>(
    deadline: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(work());
    });
    receiver.recv_timeout(deadline).ok()
}

/// Returns the first line of a message, at most 500 characters, because
/// Spark's errors can carry a whole server stack trace.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default().trim();
    line.chars().take(500).collect()
}

/// Splits a script on `;` after dropping `--` comment lines.
fn script_statements(script: &str) -> Vec<String> {
    let text: String = script
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Converts Arrow record batches into a [`Table`]. A result without rows
/// still arrives as one empty batch, which carries the columns.
fn table_from_batches(batches: &[RecordBatch]) -> Result<Table> {
    let Some(first) = batches.first() else {
        return Ok(Table::default());
    };
    let columns = first
        .schema()
        .fields()
        .iter()
        .map(|field| Column {
            name: field.name().clone(),
            type_name: spark_type_name(field.data_type()),
        })
        .collect();
    let mut rows = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for batch in batches {
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|array| value_at(array.as_ref(), row))
                    .collect(),
            );
        }
    }
    Ok(Table { columns, rows })
}

/// Spark SQL's name for an Arrow type, as `DESCRIBE` shows it.
fn spark_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "BOOLEAN".to_owned(),
        DataType::Int8 => "TINYINT".to_owned(),
        DataType::Int16 => "SMALLINT".to_owned(),
        DataType::Int32 => "INT".to_owned(),
        DataType::Int64 => "BIGINT".to_owned(),
        DataType::Float32 => "FLOAT".to_owned(),
        DataType::Float64 => "DOUBLE".to_owned(),
        DataType::Decimal128(precision, scale) => format!("DECIMAL({precision},{scale})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING".to_owned(),
        DataType::Date32 | DataType::Date64 => "DATE".to_owned(),
        DataType::Timestamp(_, _) => "TIMESTAMP".to_owned(),
        other => other.to_string(),
    }
}

/// Days from 0001-01-01 (day 1 in chrono's count) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Converts one cell of an Arrow array to a [`Value`]. Decimals become
/// `f64`, as DuckDB's do.
fn value_at(array: &dyn Array, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    let unsigned =
        |number: u64| i64::try_from(number).map_or(Value::Float(number as f64), Value::Int);
    match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int8 => Value::Int(array.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => Value::Int(array.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => Value::Int(array.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => Value::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Value::Int(array.as_primitive::<UInt8Type>().value(row).into()),
        DataType::UInt16 => Value::Int(array.as_primitive::<UInt16Type>().value(row).into()),
        DataType::UInt32 => Value::Int(array.as_primitive::<UInt32Type>().value(row).into()),
        DataType::UInt64 => unsigned(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float32 => Value::Float(array.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Value::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, scale) => {
            let unscaled = array
                .as_primitive::<arrow::datatypes::Decimal128Type>()
                .value(row);
            Value::Float(unscaled as f64 / 10f64.powi(i32::from(*scale)))
        }
        DataType::Utf8 => Value::Text(array.as_string::<i32>().value(row).to_owned()),
        DataType::LargeUtf8 => Value::Text(array.as_string::<i64>().value(row).to_owned()),
        DataType::Utf8View => Value::Text(array.as_string_view().value(row).to_owned()),
        DataType::Date32 => {
            let days = array
                .as_primitive::<arrow::datatypes::Date32Type>()
                .value(row);
            days.checked_add(UNIX_EPOCH_DAYS_FROM_CE)
                .and_then(NaiveDate::from_num_days_from_ce_opt)
                .map_or(Value::Null, Value::Date)
        }
        DataType::Timestamp(unit, _) => {
            let amount = match unit {
                TimeUnit::Second => array
                    .as_primitive::<arrow::datatypes::TimestampSecondType>()
                    .value(row)
                    .saturating_mul(1_000_000),
                TimeUnit::Millisecond => array
                    .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                    .value(row)
                    .saturating_mul(1_000),
                TimeUnit::Microsecond => array
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .value(row),
                TimeUnit::Nanosecond => {
                    array
                        .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
                        .value(row)
                        / 1_000
                }
            };
            DateTime::from_timestamp_micros(amount)
                .map_or(Value::Null, |moment| Value::Timestamp(moment.naive_utc()))
        }
        _ => Value::Text(
            arrow::util::display::array_value_to_string(array, row)
                .unwrap_or_else(|error| format!("<{error}>")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int64Array, StringArray,
        TimestampMicrosecondArray,
    };
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn arrow_batches_convert_to_duckdb_values() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("branch", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
            Field::new("balance", DataType::Decimal128(18, 2), true),
            Field::new("day", DataType::Date32, true),
            Field::new("rural", DataType::Boolean, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("梅江支行"), None])),
            Arc::new(Int64Array::from(vec![3, 4])),
            Arc::new(
                Decimal128Array::from(vec![Some(123_456), None])
                    .with_precision_and_scale(18, 2)
                    .unwrap(),
            ),
            // 2026-11-30 is day 20,787 after 1970-01-01.
            Arc::new(Date32Array::from(vec![Some(20_787), None])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false)])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1_000_000), None]).with_timezone("UTC"),
            ),
        ];
        let batch = RecordBatch::try_new(schema, columns).unwrap();

        let table = table_from_batches(&[batch.clone(), batch]).unwrap();

        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["branch", "n", "balance", "day", "rural", "at"]);
        assert_eq!(table.columns[2].type_name, "DECIMAL(18,2)");
        assert_eq!(table.rows.len(), 4);
        assert_eq!(
            table.rows[0],
            vec![
                Value::Text("梅江支行".to_owned()),
                Value::Int(3),
                Value::Float(1234.56),
                Value::Date(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()),
                Value::Bool(true),
                Value::Timestamp(
                    NaiveDate::from_ymd_opt(1970, 1, 1)
                        .unwrap()
                        .and_hms_opt(0, 0, 1)
                        .unwrap()
                ),
            ]
        );
        assert_eq!(
            table.rows[1],
            vec![
                Value::Null,
                Value::Int(4),
                Value::Null,
                Value::Null,
                Value::Bool(false),
                Value::Null,
            ]
        );
    }

    #[test]
    fn port_check_detects_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = format!("sc://{}/;user_id=wenshu", listener.local_addr().unwrap());
        assert_eq!(port_open(&open), Ok(()));
        drop(listener);
        assert!(port_open(&open).is_err());
    }

    #[test]
    fn no_batches_is_an_empty_table() {
        assert_eq!(table_from_batches(&[]).unwrap(), Table::default());
    }

    #[test]
    fn scripts_split_into_statements_without_comments() {
        let script = "-- registers; the tables\nDROP TABLE IF EXISTS a;\nCREATE TABLE a USING parquet LOCATION '/x/a';\n\n";
        assert_eq!(
            script_statements(script),
            [
                "DROP TABLE IF EXISTS a",
                "CREATE TABLE a USING parquet LOCATION '/x/a'"
            ]
        );
    }

    #[test]
    fn silent_server_fails_at_connect_timeout() {
        // The kernel completes the TCP handshake for the listener's backlog,
        // and nothing responds to the HTTP/2 preface.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let remote = format!("sc://{}", silent.local_addr().unwrap());
        let settings = SparkSettings {
            connect_timeout: Duration::from_secs(2),
            ..SparkSettings::default()
        };

        let started = std::time::Instant::now();
        let result = Spark::connect(&remote, &settings);

        assert!(
            matches!(result, Err(WarehouseError::Unavailable { .. })),
            "{:?}",
            result.err()
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(silent);
    }

    #[test]
    fn unreachable_server_reported_at_once() {
        // Nothing listens on port 9 of the loopback address.
        let settings = SparkSettings {
            connect_timeout: Duration::from_secs(15),
            ..SparkSettings::default()
        };
        let error = match Spark::connect("sc://127.0.0.1:9", &settings) {
            Ok(_) => panic!("connected to a port nobody listens on"),
            Err(error) => error,
        };
        assert!(
            matches!(error, WarehouseError::Unavailable { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("sc://127.0.0.1:9"), "{error}");
    }
}
