//! Spreadsheets as staff bring them: CSV (UTF-8, with or without a BOM) and
//! Excel workbooks (.xlsx, .xls, .ods: the first sheet), read into a header
//! row and data rows of text. Used by `POST /v1/imports` and `custos import`.

use std::io::Cursor;

/// A sheet: its header row and its data rows (cells as text, trimmed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Workbook,
}

impl Format {
    /// By file name: `.xlsx`, `.xlsm`, `.xls`, `.ods` are workbooks; anything else CSV.
    pub fn of_path(path: &std::path::Path) -> Format {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        if matches!(ext.as_str(), "xlsx" | "xlsm" | "xls" | "ods") {
            Format::Workbook
        } else {
            Format::Csv
        }
    }
}

/// Reads a sheet; errors say what is wrong with the file, never a cell's value.
pub fn read(bytes: &[u8], format: Format) -> Result<Table, String> {
    let mut table = match format {
        Format::Csv => read_csv(bytes)?,
        Format::Workbook => read_workbook(bytes)?,
    };
    // Rows with no value at all (a spreadsheet's trailing blank lines) are not rows.
    table.rows.retain(|r| r.iter().any(|c| !c.is_empty()));
    if table.headers.iter().all(String::is_empty) {
        return Err("the first row (the column headers) is empty".into());
    }
    Ok(table)
}

fn read_csv(bytes: &[u8]) -> Result<Table, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut records = r.records();
    let headers: Vec<String> = match records.next() {
        None => return Err("the file is empty".into()),
        Some(Err(e)) => return Err(csv_problem(&e)),
        Some(Ok(h)) => h.iter().map(|c| c.trim().to_owned()).collect(),
    };
    let mut rows = Vec::new();
    for rec in records {
        let rec = rec.map_err(|e| csv_problem(&e))?;
        rows.push(rec.iter().map(|c| c.trim().to_owned()).collect());
    }
    Ok(Table { headers, rows })
}

/// A CSV error without the offending bytes.
fn csv_problem(e: &csv::Error) -> String {
    let line = e.position().map_or(String::new(), |p| format!(" (line {})", p.line()));
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => format!("not UTF-8 text{line}: save the sheet as CSV UTF-8"),
        _ => format!("not a readable CSV file{line}"),
    }
}

fn read_workbook(bytes: &[u8]) -> Result<Table, String> {
    use calamine::Reader;
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|_| "not a readable workbook (.xlsx, .xls or .ods)".to_owned())?;
    let range = match book.worksheet_range_at(0) {
        Some(Ok(r)) => r,
        Some(Err(_)) => return Err("the first sheet cannot be read".into()),
        None => return Err("the workbook has no sheet".into()),
    };
    let mut rows = range.rows().map(|r| r.iter().map(cell_text).collect::<Vec<String>>());
    let headers = rows.next().ok_or_else(|| "the first sheet is empty".to_owned())?;
    Ok(Table { headers, rows: rows.collect() })
}

/// A cell as text: whole numbers without a decimal point (phone numbers,
/// counts typed as numbers), the rest as the sheet shows them.
fn cell_text(c: &calamine::Data) -> String {
    match c {
        calamine::Data::Empty => String::new(),
        calamine::Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string().trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_a_bom_and_blank_lines_reads_as_rows_of_text() {
        let t = read("\u{feff}客户名称,电话\n 甲公司 ,13912345688\n,\n乙公司,\n".as_bytes(), Format::Csv).unwrap();
        assert_eq!(t.headers, ["客户名称", "电话"]);
        assert_eq!(t.rows, vec![vec!["甲公司".to_owned(), "13912345688".into()], vec!["乙公司".into(), String::new()]]);
        assert!(read(b"", Format::Csv).is_err());
        let err = read(b"a,b\n\xff\xfe,1\n", Format::Csv).unwrap_err();
        assert!(err.contains("UTF-8"), "{err}");
        assert!(read(b"not a zip", Format::Workbook).is_err());
    }

    #[test]
    fn a_workbook_by_extension() {
        assert_eq!(Format::of_path(std::path::Path::new("a/客户.XLSX")), Format::Workbook);
        assert_eq!(Format::of_path(std::path::Path::new("a.csv")), Format::Csv);
    }
}
