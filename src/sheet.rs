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
        Some(Ok(h)) => h.iter().map(|c| cell_in(c.trim()).to_owned()).collect(),
    };
    let mut rows = Vec::new();
    for rec in records {
        let rec = rec.map_err(|e| csv_problem(&e))?;
        rows.push(rec.iter().map(|c| cell_in(c.trim()).to_owned()).collect());
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

/// Bounds every workbook is held to, checked before anything is allocated
/// in proportion to what the file declares: a 4.7 KB workbook can declare
/// a used range of A1:XFD1048576 (17 billion cells), a shared-string count
/// of billions, or parts that inflate a thousandfold.
pub mod bounds {
    /// Entries in the workbook's zip container.
    pub const MAX_PARTS: usize = 4_096;
    /// Bytes of one part once inflated (the sheet, the shared strings, ...).
    pub const MAX_PART_BYTES: u64 = 32 * 1024 * 1024;
    /// Bytes of all parts once inflated.
    pub const MAX_INFLATED_BYTES: u64 = 128 * 1024 * 1024;
    /// Shared strings a workbook may declare (`uniqueCount`).
    pub const MAX_SHARED_STRINGS: u64 = 1_000_000;
    /// Rows of the first sheet: the header and the import's 100,000 rows.
    pub const MAX_ROWS: u32 = 100_001;
    /// Columns of the first sheet (A to IV).
    pub const MAX_COLUMNS: u32 = 256;
    /// Cells with a value in the first sheet.
    pub const MAX_CELLS: usize = 2_000_000;
    /// Rows × columns of the used range, empty cells included (each becomes
    /// a cell of the table): a value at A1 and one at IV100001 would
    /// otherwise make 25 million empty cells from a 1.5 KB file.
    pub const MAX_GRID: u64 = 4_000_000;
}

/// Why a workbook's container is refused, if it is: checked by inflating
/// every part into nothing (bounded), before the workbook reader opens it.
/// Only `.xlsx`/`.xlsm` (a zip of XML parts) is read; `.xls` (a compound
/// file of binary records) and `.ods` are refused with what to do instead:
/// their readers build the whole declared grid of a sheet in memory.
fn check_container(bytes: &[u8]) -> Result<(), String> {
    use std::io::Read;
    const SAVE_AS: &str = "save the sheet as .xlsx (Excel workbook) or CSV UTF-8";
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(format!("an .xls (Excel 97-2003) workbook is not read: {SAVE_AS}"));
    }
    if !bytes.starts_with(b"PK") {
        return Err("not a readable workbook (.xlsx)".into());
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| "not a readable workbook (.xlsx)".to_owned())?;
    if zip.len() > bounds::MAX_PARTS {
        return Err(format!("the workbook has more than {} parts", bounds::MAX_PARTS));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(|_| "a part of the workbook cannot be read".to_owned())?;
        let name = part.name().map(|n| n.into_owned()).unwrap_or_default();
        if name == "mimetype" || name.starts_with("META-INF/") {
            return Err(format!("an OpenDocument (.ods) workbook is not read: {SAVE_AS}"));
        }
        if part.size() > bounds::MAX_PART_BYTES {
            return Err(format!("a part of the workbook is larger than {} MiB", bounds::MAX_PART_BYTES >> 20));
        }
        // Inflate it for real (the declared size may lie), a chunk at a
        // time, looking for a declared count of shared strings.
        let mut scan = CountScan::default();
        let mut buf = [0u8; 16 * 1024];
        let mut inflated = 0u64;
        loop {
            let n = part.read(&mut buf).map_err(|_| "a part of the workbook is damaged".to_owned())?;
            if n == 0 {
                break;
            }
            inflated += n as u64;
            total += n as u64;
            if inflated > bounds::MAX_PART_BYTES {
                return Err(format!("a part of the workbook inflates past {} MiB", bounds::MAX_PART_BYTES >> 20));
            }
            if total > bounds::MAX_INFLATED_BYTES {
                return Err(format!("the workbook inflates past {} MiB", bounds::MAX_INFLATED_BYTES >> 20));
            }
            if scan.feed(&buf[..n]) > bounds::MAX_SHARED_STRINGS {
                return Err(format!("the workbook declares more than {} shared strings", bounds::MAX_SHARED_STRINGS));
            }
        }
    }
    Ok(())
}

/// Finds the largest `uniqueCount="N"` in a stream of chunks (the reader
/// reserves room for that many strings before it reads one).
#[derive(Default)]
struct CountScan {
    tail: Vec<u8>,
    largest: u64,
}

impl CountScan {
    const NEEDLE: &'static [u8] = b"uniqueCount";

    /// Room for the quote, the `=` and spaces between the name and the
    /// value: more than this is refused as if it declared too many.
    const MAX_GAP: usize = 64;

    fn feed(&mut self, chunk: &[u8]) -> u64 {
        // What the last chunk ended with, so a match across the seam is seen.
        let mut hay = std::mem::take(&mut self.tail);
        hay.extend_from_slice(chunk);
        let mut at = 0;
        // Where the kept tail starts: a name whose value the chunk cut off
        // is kept whole, to be read again with the next chunk.
        let mut keep_from = hay.len().saturating_sub(Self::NEEDLE.len());
        while let Some(i) = hay[at..].windows(Self::NEEDLE.len()).position(|w| w == Self::NEEDLE) {
            let start = at + i;
            let value = &hay[start + Self::NEEDLE.len()..];
            let gap = value
                .iter()
                .take_while(|b| matches!(b, b'"' | b'\'' | b'=' | b'+' | b' ' | b'\t' | b'\r' | b'\n'))
                .count();
            // Leading zeros are skipped, as the reader's number parser does
            // (so a value padded with zeros is read whole); then at most
            // 20 digits, which is past u64 already.
            let zeros = value[gap..].iter().take_while(|b| **b == b'0').count().min(Self::MAX_GAP);
            let digits = value[gap + zeros..].iter().take_while(|b| b.is_ascii_digit()).take(21).count();
            if gap > Self::MAX_GAP || zeros >= Self::MAX_GAP {
                self.largest = u64::MAX;
            } else if gap + zeros + digits == value.len() {
                // Cut off by the chunk's end: read again, whole, next time.
                keep_from = keep_from.min(start);
            } else if digits > 0 {
                // Too many digits to parse is too many strings.
                let text = std::str::from_utf8(&value[gap + zeros..gap + zeros + digits]).unwrap_or_default();
                self.largest = self.largest.max(text.parse::<u64>().unwrap_or(u64::MAX));
            }
            at = start + 1;
        }
        self.tail = hay[keep_from..].to_vec();
        self.largest
    }
}

fn read_workbook(bytes: &[u8]) -> Result<Table, String> {
    use calamine::Reader;
    check_container(bytes)?;
    let mut book = calamine::Xlsx::new(Cursor::new(bytes)).map_err(|_| "not a readable workbook (.xlsx)".to_owned())?;
    let first = book.sheet_names().into_iter().next().ok_or_else(|| "the workbook has no sheet".to_owned())?;
    let mut cells = book.worksheet_cells_reader(&first).map_err(|_| "the first sheet cannot be read".to_owned())?;
    // The cells one at a time, placed by their own row and column: the
    // sheet's declared dimensions are never used to allocate.
    let mut grid: Vec<Vec<String>> = Vec::new();
    let mut count = 0usize;
    let (mut rows_seen, mut cols_seen) = (0u64, 0u64);
    while let Some(cell) = cells.next_cell().map_err(|_| "the first sheet cannot be read".to_owned())? {
        let (row, col) = cell.get_position();
        let text = cell_text(&calamine::Data::from(cell.get_value().clone()));
        if text.is_empty() {
            continue;
        }
        if row >= bounds::MAX_ROWS {
            return Err(format!("the first sheet has more than {} rows", bounds::MAX_ROWS));
        }
        if col >= bounds::MAX_COLUMNS {
            return Err(format!("the first sheet has more than {} columns", bounds::MAX_COLUMNS));
        }
        count += 1;
        if count > bounds::MAX_CELLS {
            return Err(format!("the first sheet has more than {} cells", bounds::MAX_CELLS));
        }
        // The used range so far (from A1: an upper bound of the range the
        // table will have), checked before any row is made.
        rows_seen = rows_seen.max(u64::from(row) + 1);
        cols_seen = cols_seen.max(u64::from(col) + 1);
        if rows_seen * cols_seen > bounds::MAX_GRID {
            return Err(format!("the first sheet's used range is larger than {} cells", bounds::MAX_GRID));
        }
        let (row, col) = (row as usize, col as usize);
        if grid.len() <= row {
            grid.resize_with(row + 1, Vec::new);
        }
        let cells_of_row = &mut grid[row];
        if cells_of_row.len() <= col {
            cells_of_row.resize_with(col + 1, String::new);
        }
        cells_of_row[col] = text;
    }
    // From the first row and column with a value, as wide as the widest
    // row: the sheet's used range.
    let top = grid.iter().position(|r| !r.is_empty()).unwrap_or(grid.len());
    grid.drain(..top);
    let left = grid.iter().filter_map(|r| r.iter().position(|c| !c.is_empty())).min().unwrap_or(0);
    for r in grid.iter_mut() {
        r.drain(..left.min(r.len()));
    }
    let width = grid.iter().map(Vec::len).max().unwrap_or(0);
    for r in grid.iter_mut() {
        r.resize_with(width, String::new);
    }
    let mut rows = grid.into_iter();
    let headers = rows.next().filter(|h| !h.is_empty()).ok_or_else(|| "the first sheet is empty".to_owned())?;
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

/// Whether a spreadsheet program would take a cell as a formula (or as the
/// start of one): its first character other than a space is `=`, `+`, `-`
/// or `@`, or it starts with a tab or carriage return (OWASP's CSV
/// injection list), or it is a quote before such a cell (so that the quote
/// custos adds is told from one that was there).
pub fn formula_like(cell: &str) -> bool {
    if cell.starts_with(['\t', '\r']) {
        return true;
    }
    match cell.trim_start_matches(' ').chars().next() {
        Some('=' | '+' | '-' | '@') => true,
        Some('\'') => cell.trim_start_matches(' ').strip_prefix('\'').is_some_and(formula_like),
        _ => false,
    }
}

/// A cell as custos writes it into a CSV file: a formula-like value gets a
/// leading `'`, so Excel, LibreOffice and Sheets show it as text instead of
/// running it.
pub fn cell_out(cell: &str) -> std::borrow::Cow<'_, str> {
    if formula_like(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// A CSV cell as read back: the quote `cell_out` added is taken off, so an
/// export imports as it was.
pub fn cell_in(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => cell,
    }
}

/// The one CSV writer of custos's exports and reports: every cell goes
/// through [`cell_out`].
pub struct CsvOut(csv::Writer<Vec<u8>>);

impl Default for CsvOut {
    fn default() -> Self {
        CsvOut(csv::Writer::from_writer(Vec::new()))
    }
}

impl CsvOut {
    pub fn write_record<I, T>(&mut self, record: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let cells: Vec<String> = record.into_iter().map(|c| cell_out(c.as_ref()).into_owned()).collect();
        self.0.write_record(&cells)
    }

    pub fn into_inner(self) -> Result<Vec<u8>, String> {
        self.0.into_inner().map_err(|e| e.to_string())
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
    fn formulas_leave_as_text_and_come_back_as_they_were() {
        for bad in ["=HYPERLINK(\"http://x\",\"y\")", "@SUM(A1)", "+1", "-2", " =1", "\t=1", "\r=1", "'=1", "''-1"] {
            assert!(cell_out(bad).starts_with('\''), "{bad:?}");
            assert_eq!(cell_in(&cell_out(bad)), bad, "round trip {bad:?}");
        }
        for fine in ["甲公司", "13912345688", "a=b", "'quoted", "", "1-2"] {
            assert_eq!(cell_out(fine), fine);
            assert_eq!(cell_in(fine), fine);
        }
        let mut w = CsvOut::default();
        w.write_record(["=cmd|' /C calc'!A0", "ok"]).unwrap();
        let out = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(out, "'=cmd|' /C calc'!A0,ok\n");
        let back = read(out.as_bytes(), Format::Csv).unwrap();
        assert_eq!(back.headers, ["=cmd|' /C calc'!A0", "ok"]);
    }

    proptest::proptest! {
        /// Whatever a cell holds, it leaves not formula-like and comes back whole.
        #[test]
        fn any_cell_round_trips(cell in "['=+@ \\t\\r-]{0,3}[a-z0-9 '=]{0,6}") {
            let out = cell_out(&cell);
            proptest::prop_assert!(!out.starts_with(['=', '+', '-', '@', '\t', '\r']));
            proptest::prop_assert_eq!(cell_in(&out), cell.as_str());
        }
    }

    fn hostile(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hostile").join(name)).unwrap()
    }

    #[test]
    fn a_workbook_reads_from_its_first_used_cell() {
        let t = read(&hostile("offset.xlsx"), Format::Workbook).unwrap();
        assert_eq!(t.headers, ["客户名称", "地区"]);
        assert_eq!(t.rows, vec![vec!["甲公司".to_owned(), "华东".into()], vec!["13912345688".into(), "华南".into()]]);
        // The sample the import tests use reads as before.
        let sample =
            std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/customers-sample.xlsx"));
        let t = read(&sample.unwrap(), Format::Workbook).unwrap();
        assert_eq!((t.headers.len(), t.rows.len()), (15, 100));
        assert_eq!(t.headers[0], "客户名称");
    }

    /// Each of these aborted the process or took gigabytes before the bounds.
    #[test]
    fn hostile_workbooks_are_refused_before_they_allocate() {
        let refused = |name: &str| read(&hostile(name), Format::Workbook).unwrap_err();
        assert!(refused("wide.xlsx").contains("has more than"), "{}", refused("wide.xlsx"));
        assert!(refused("strings.xlsx").contains("shared strings"), "{}", refused("strings.xlsx"));
        assert!(refused("corners.xlsx").contains("used range"), "{}", refused("corners.xlsx"));
        assert!(refused("bomb.xlsx").contains("32 MiB"), "{}", refused("bomb.xlsx"));
        // A part whose size the zip declares falsely small is caught as it inflates.
        let mut lying = hostile("bomb.xlsx");
        let at = lying.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
        lying[at + 24..at + 28].copy_from_slice(&1000u32.to_le_bytes()); // the central directory's uncompressed size
        let why = read(&lying, Format::Workbook).unwrap_err();
        assert!(why.contains("32 MiB") || why.contains("damaged"), "{why}");
        // Formats whose readers build the declared grid are refused by name.
        let xls = [&[0xD0u8, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1][..], &[0; 504]].concat();
        assert!(read(&xls, Format::Workbook).unwrap_err().contains(".xls"));
        let mut ods = zip::ZipWriter::new(Cursor::new(Vec::new()));
        ods.start_file("mimetype", zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut ods, b"application/vnd.oasis.opendocument.spreadsheet").unwrap();
        let ods = ods.finish().unwrap().into_inner();
        assert!(read(&ods, Format::Workbook).unwrap_err().contains(".ods"));
    }

    #[test]
    fn a_count_split_across_chunks_is_seen() {
        let mut scan = CountScan::default();
        assert_eq!(scan.feed(b"<sst count=\"3\" uniqueC"), 0);
        assert_eq!(scan.feed(b"ount=\"42"), 0, "the value may go on");
        assert_eq!(scan.feed(b"7\">"), 427);
        let mut scan = CountScan::default();
        assert_eq!(scan.feed(b"uniqueCount=\"99999999999999999999999\""), u64::MAX, "too long to parse is too many");
        let mut scan = CountScan::default();
        assert_eq!(scan.feed(b"<sst uniqueCount = \""), 0);
        assert_eq!(scan.feed(b"5000000000\">"), 5_000_000_000, "spaces around = are XML too");
        let mut scan = CountScan::default();
        let padded = format!("uniqueCount=\"{}4000000000\"", "0".repeat(30));
        assert_eq!(scan.feed(padded.as_bytes()), 4_000_000_000, "leading zeros are skipped, as the reader does");
        let mut scan = CountScan::default();
        let spaced = [&b"uniqueCount"[..], &[b' '; 100], b"=\"9\""].concat();
        assert_eq!(scan.feed(&spaced), u64::MAX, "a gap no writer makes is refused");
    }

    /// Workbooks damaged at random (bytes changed, cut short) are read or
    /// refused with a reason: never a panic, never an allocation past the
    /// bounds. Failures found are kept in proptest-regressions/sheet.txt.
    #[test]
    fn damaged_workbooks_are_read_or_refused() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
        let base = hostile("offset.xlsx");
        let config = Config {
            cases: 256,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/sheet.txt"))),
            ..Config::default()
        };
        let edits = (proptest::collection::vec((0..base.len(), any::<u8>()), 1..16), 0..=base.len());
        TestRunner::new(config)
            .run(&edits, |(changes, cut)| {
                let mut bytes = base.clone();
                for (at, b) in changes {
                    bytes[at] = b;
                }
                bytes.truncate(cut.max(4));
                match read(&bytes, Format::Workbook) {
                    Ok(t) => prop_assert!(t.rows.len() <= bounds::MAX_ROWS as usize),
                    Err(why) => prop_assert!(!why.is_empty()),
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_workbook_by_extension() {
        assert_eq!(Format::of_path(std::path::Path::new("a/客户.XLSX")), Format::Workbook);
        assert_eq!(Format::of_path(std::path::Path::new("a.csv")), Format::Csv);
    }
}
