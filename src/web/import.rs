//! A sheet imported: the one path of the API's `POST /v1/imports` and the
//! console's import form. Who may import is decided before a byte of the
//! sheet is read; the sheet is read up to the document limit
//! (`max_document_bytes`), parsed within the sheet reader's bounds (rows,
//! columns, cells, a workbook's parts) off the async threads, and handed to
//! the import use case, which validates, decides and audits each row.

use super::error::ApiError;
use super::{body_timeout, is_timeout, AppState};
use crate::archive::customers::{ImportReport, Mapping};
use crate::archive::{ArchiveError, RequestCtx};
use crate::sheet::Format;
use axum::body::Bytes;
use axum::http::StatusCode;
use futures::{Stream, StreamExt};

/// What an import is asked to do besides its sheet.
#[derive(Debug, Clone, Default)]
pub struct ImportAsk {
    /// The owner of rows without an owner column (default: the caller).
    pub owner: Option<String>,
    /// The privacy-notice version of rows without a notice column.
    pub notice: Option<String>,
    /// Validate and report; change nothing.
    pub dry_run: bool,
}

impl ImportAsk {
    /// The owner and notice checked for shape (400 naming the field).
    pub fn check(&self) -> Result<(), ApiError> {
        if self.owner.as_deref().is_some_and(|o| crate::domain::PrincipalId::parse(o).is_err()) {
            return Err(ApiError::bad_request("owner: a principal id (prn_...)"));
        }
        let notice_shape = |v: &str| {
            (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if self.notice.as_deref().is_some_and(|v| !notice_shape(v)) {
            return Err(ApiError::bad_request("notice: a notice version (letters, digits, . _ -; at most 64)"));
        }
        Ok(())
    }
}

/// The sheet's format by its media type: CSV, or an Excel workbook; 415
/// for anything else.
pub fn format_of_media(media: &str) -> Result<Format, ApiError> {
    match media.split(';').next().unwrap_or_default().trim().to_ascii_lowercase().as_str() {
        "text/csv" => Ok(Format::Csv),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.ms-excel"
        | "application/vnd.oasis.opendocument.spreadsheet" => Ok(Format::Workbook),
        _ => Err(unsupported()),
    }
}

/// The sheet's format by its file name (`.csv`, `.xlsx` ...), if it says.
pub fn format_of_name(name: &str) -> Option<Format> {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    match ext.as_str() {
        "csv" => Some(Format::Csv),
        "xlsx" | "xlsm" | "xls" | "ods" => Some(Format::Workbook),
        _ => None,
    }
}

/// 415: not a sheet custos reads.
pub fn unsupported() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "send text/csv or an Excel workbook (.xlsx)",
    )
}

/// Decides, reads, parses and imports the sheet `bytes` in `format` as
/// `ctx`: 400/422 for a bad ask, 403 before any byte is read for a caller
/// who may not import, 413 past the document limit, 408 when the body stops
/// arriving, 400 when it breaks off or does not parse.
pub async fn import<E>(
    state: &AppState,
    ctx: &RequestCtx,
    ask: &ImportAsk,
    format: Format,
    mut bytes: impl Stream<Item = Result<Bytes, E>> + Unpin,
) -> Result<ImportReport, ApiError>
where
    E: std::error::Error + 'static,
{
    ask.check()?;
    let customers = state.archive.customers();
    // Who may import is decided before a byte of the sheet is read.
    customers.may_import(ctx, ask.owner.as_deref()).await?;
    let mut sheet = Vec::new();
    while let Some(chunk) = bytes.next().await {
        let chunk =
            chunk.map_err(
                |e| {
                    if is_timeout(&e) {
                        body_timeout()
                    } else {
                        ApiError::bad_request("the body broke off")
                    }
                },
            )?;
        if (sheet.len() + chunk.len()) as u64 > state.max_document_bytes {
            return Err(ArchiveError::TooLarge(state.max_document_bytes).into());
        }
        sheet.extend_from_slice(&chunk);
    }
    let table = tokio::task::spawn_blocking(move || crate::sheet::read(&sheet, format))
        .await
        .map_err(|e| ArchiveError::Internal(e.into()))?
        .map_err(|why| ApiError::bad_request(format!("the sheet: {why}")))?;
    let mapping = Mapping::default();
    let who = (ask.owner.as_deref(), ask.notice.as_deref());
    Ok(customers.import_table(ctx, &table, &mapping, who, ask.dry_run).await?)
}
