//! Plain-text renderings of a result table.

use std::io::{self, Write};

use wenshu::warehouse::{Table, Value};

/// Writes the table with aligned columns; numbers are right-aligned.
pub fn write_table(out: &mut dyn Write, table: &Table) -> io::Result<()> {
    let cells: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|row| row.iter().map(Value::to_string).collect())
        .collect();
    let mut widths: Vec<usize> = table
        .columns
        .iter()
        .map(|column| display_width(&column.name))
        .collect();
    for row in &cells {
        for (index, cell) in row.iter().enumerate() {
            widths[index] = widths[index].max(display_width(cell));
        }
    }

    let header: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(index, column)| pad(&column.name, widths[index], false))
        .collect();
    writeln!(out, "{}", header.join("  "))?;
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    writeln!(out, "{}", rule.join("  "))?;
    for (row, values) in cells.iter().zip(&table.rows) {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(index, cell)| pad(cell, widths[index], values[index].as_f64().is_some()))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    writeln!(out, "({} rows)", table.rows.len())
}

/// Writes RFC 4180 CSV with a header row.
pub fn write_csv(out: &mut dyn Write, table: &Table) -> io::Result<()> {
    let header: Vec<String> = table
        .columns
        .iter()
        .map(|column| csv_field(&column.name))
        .collect();
    writeln!(out, "{}", header.join(","))?;
    for row in &table.rows {
        let fields: Vec<String> = row
            .iter()
            .map(|value| match value {
                Value::Null => String::new(),
                other => csv_field(&other.to_string()),
            })
            .collect();
        writeln!(out, "{}", fields.join(","))?;
    }
    Ok(())
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Width in terminal columns: CJK characters take two.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|character| if (character as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

fn pad(text: &str, width: usize, right_align: bool) -> String {
    let padding = " ".repeat(width.saturating_sub(display_width(text)));
    if right_align {
        format!("{padding}{text}")
    } else {
        format!("{text}{padding}")
    }
}
