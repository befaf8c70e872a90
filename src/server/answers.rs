//! The tables of recent metric answers, kept so that the page can download
//! them: `GET /api/answers/{id}/table.csv` and `.../table.xlsx`.
//!
//! The store is bounded by a total row count; the oldest answers are
//! dropped first. A download of a dropped answer is a 404 that says to ask
//! again.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::assistant::{ChatResponse, ResponseColumn};
use crate::warehouse::Value;

use super::auth::Principal;
use super::error::ApiError;
use super::state::AppState;

/// The rows all kept answers may hold together (about 100 MB at most).
pub const MAX_KEPT_ROWS: usize = 200_000;

/// A metric answer's table, as the chat API returned it.
#[derive(Debug)]
pub struct KeptAnswer {
    pub id: String,
    /// The user who asked; only they may download it.
    pub user: String,
    /// The question, used as the sheet's title.
    pub question: String,
    pub columns: Vec<ResponseColumn>,
    pub rows: Vec<Vec<Value>>,
}

/// Recent answers, oldest first.
#[derive(Debug, Default)]
pub struct AnswerStore {
    answers: VecDeque<Arc<KeptAnswer>>,
    rows: usize,
}

impl AnswerStore {
    /// Keeps the table of `response` under a new id, which is written into
    /// the response. Answers without columns are not kept.
    pub fn keep(&mut self, response: &mut ChatResponse, question: &str, user: &str) {
        let (Some(columns), Some(rows)) = (&response.columns, &response.rows) else {
            return;
        };
        if columns.is_empty() {
            return;
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let answer = KeptAnswer {
            id: id.clone(),
            user: user.to_owned(),
            question: question.to_owned(),
            columns: columns.clone(),
            rows: rows.clone(),
        };
        self.rows += answer.rows.len();
        self.answers.push_back(Arc::new(answer));
        while self.rows > MAX_KEPT_ROWS && self.answers.len() > 1 {
            if let Some(dropped) = self.answers.pop_front() {
                self.rows -= dropped.rows.len();
            }
        }
        response.answer_id = Some(id);
    }

    pub fn get(&self, id: &str) -> Option<Arc<KeptAnswer>> {
        self.answers
            .iter()
            .rev()
            .find(|answer| answer.id == id)
            .cloned()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.answers.len()
    }
}

/// `GET /api/answers/{id}/{file}` where the file is `table.csv` or
/// `table.xlsx`.
pub async fn download(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    principal: Option<Extension<Principal>>,
) -> Result<Response, ApiError> {
    let user = principal.map_or_else(
        || Principal::anonymous().user,
        |Extension(principal)| principal.user,
    );
    let format = match file.as_str() {
        "table.csv" => ExportFormat::Csv,
        "table.xlsx" => ExportFormat::Xlsx,
        _ => {
            return Err(ApiError::NotFound(format!("/api/answers/{id}/{file}")));
        }
    };
    // Another user's answer is reported as not kept, so that its id
    // reveals nothing.
    let Some(answer) = state.kept_answer(&id).filter(|answer| answer.user == user) else {
        return Err(ApiError::AnswerNotKept);
    };

    let (bytes, content_type) = match format {
        ExportFormat::Csv => (to_csv(&answer).into_bytes(), "text/csv; charset=utf-8"),
        ExportFormat::Xlsx => {
            let task_answer = Arc::clone(&answer);
            let bytes = tokio::task::spawn_blocking(move || to_xlsx(&task_answer))
                .await
                .map_err(|error| ApiError::Internal(format!("the Excel task failed: {error}")))?
                .map_err(|error| {
                    ApiError::Internal(format!("cannot write the Excel file: {error}"))
                })?;
            (
                bytes,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        }
    };
    tracing::info!(answer_id = %answer.id, file, bytes = bytes.len(), "table downloaded");
    let disposition = format!(
        "attachment; filename=\"wenshu-{}.{}\"",
        &answer.id[..8.min(answer.id.len())],
        format.extension()
    );
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (CONTENT_DISPOSITION, disposition),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Clone, Copy)]
enum ExportFormat {
    Csv,
    Xlsx,
}

impl ExportFormat {
    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

/// Writes the table as CSV (RFC 4180): a byte-order mark so that Excel
/// reads the Chinese labels as UTF-8, the column labels, then the raw
/// values. A null is an empty field.
pub fn to_csv(answer: &KeptAnswer) -> String {
    let mut csv = String::from("\u{FEFF}");
    let header: Vec<String> = answer
        .columns
        .iter()
        .map(|column| csv_field(&column.label))
        .collect();
    csv.push_str(&header.join(","));
    csv.push_str("\r\n");
    for row in &answer.rows {
        let fields: Vec<String> = row
            .iter()
            .map(|value| csv_field(&raw_text(value)))
            .collect();
        csv.push_str(&fields.join(","));
        csv.push_str("\r\n");
    }
    csv
}

/// Formats the value as the API sends it: numbers in full precision.
fn raw_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Quotes a field that has a comma, a quote or a line break. A field
/// that a spreadsheet would read as a formula gets a leading apostrophe.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '@'])
        || (text.starts_with('-') && text.parse::<f64>().is_err())
    {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Writes the table as an Excel workbook: the question in the first row,
/// the column labels in bold, then the values with number formats: yuan
/// with two decimals and thousands separators, percentages with two
/// decimals, dates as dates.
pub fn to_xlsx(answer: &KeptAnswer) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("问数")?;
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let percent = Format::new().set_num_format("0.00\"%\"");
    let count = Format::new().set_num_format("#,##0");
    let date = Format::new().set_num_format("yyyy-mm-dd");

    sheet.write_string_with_format(0, 0, &answer.question, &bold)?;
    let header_row = 1;
    for (index, column) in answer.columns.iter().enumerate() {
        let column_index = u16::try_from(index).unwrap_or(u16::MAX);
        sheet.write_string_with_format(header_row, column_index, &column.label, &bold)?;
        let width = if column.type_name == "text" {
            18.0
        } else {
            16.0
        };
        sheet.set_column_width(column_index, width)?;
    }
    for (row_index, row) in answer.rows.iter().enumerate() {
        let sheet_row = header_row + 1 + u32::try_from(row_index).unwrap_or(u32::MAX - 2);
        for (index, value) in row.iter().enumerate() {
            let column_index = u16::try_from(index).unwrap_or(u16::MAX);
            let type_name = answer
                .columns
                .get(index)
                .map_or("text", |column| column.type_name.as_str());
            match value {
                Value::Null => {}
                Value::Date(day) => {
                    let excel_date = rust_xlsxwriter::ExcelDateTime::from_ymd(
                        u16::try_from(chrono::Datelike::year(day)).unwrap_or(1900),
                        u8::try_from(chrono::Datelike::month(day)).unwrap_or(1),
                        u8::try_from(chrono::Datelike::day(day)).unwrap_or(1),
                    )?;
                    sheet.write_datetime_with_format(
                        sheet_row,
                        column_index,
                        &excel_date,
                        &date,
                    )?;
                }
                other => match other.as_f64() {
                    Some(number) => {
                        let format = match type_name {
                            "money" => &money,
                            "percent" => &percent,
                            _ if number.fract() == 0.0 => &count,
                            _ => &money,
                        };
                        sheet.write_number_with_format(sheet_row, column_index, number, format)?;
                    }
                    None => {
                        sheet.write_string(sheet_row, column_index, other.to_string())?;
                    }
                },
            }
        }
    }
    workbook.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> KeptAnswer {
        KeptAnswer {
            id: "a".repeat(32),
            user: "anonymous".to_owned(),
            question: "各支行存款余额".to_owned(),
            columns: vec![
                ResponseColumn {
                    name: "branch__branch_name".to_owned(),
                    label: "机构".to_owned(),
                    type_name: "text".to_owned(),
                },
                ResponseColumn {
                    name: "deposit_balance".to_owned(),
                    label: "存款余额".to_owned(),
                    type_name: "money".to_owned(),
                },
            ],
            rows: vec![
                vec![Value::Text("梅江支行".to_owned()), Value::Float(1234.5)],
                vec![Value::Text("a,\"b\"".to_owned()), Value::Null],
                vec![Value::Text("=SUM(A1)".to_owned()), Value::Float(-2.25)],
            ],
        }
    }

    #[test]
    fn csv_quotes_and_keeps_raw_values() {
        assert_eq!(
            to_csv(&answer()),
            "\u{FEFF}机构,存款余额\r\n梅江支行,1234.5\r\n\"a,\"\"b\"\"\",\r\n'=SUM(A1),-2.25\r\n"
        );
    }

    #[test]
    fn xlsx_is_a_zip_file() {
        let bytes = to_xlsx(&answer()).unwrap();

        assert_eq!(&bytes[..2], b"PK");
    }

    #[test]
    fn store_drops_oldest_answers_past_the_row_limit() {
        let mut store = AnswerStore::default();
        let mut first = ChatResponse::text_only("s", crate::assistant::AnswerKind::Metric, "");
        first.columns = Some(answer().columns);
        first.rows = Some(vec![vec![Value::Null, Value::Null]; MAX_KEPT_ROWS]);
        store.keep(&mut first, "q1", "li");
        let mut second = first.clone();
        second.rows = Some(vec![vec![Value::Null, Value::Null]; 10]);
        store.keep(&mut second, "q2", "li");

        let first_id = first.answer_id.unwrap();
        let second_id = second.answer_id.unwrap();
        assert!(store.get(&first_id).is_none());
        assert_eq!(store.get(&second_id).unwrap().question, "q2");
        assert_eq!(store.len(), 1);
    }
}
