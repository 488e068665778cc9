//! A document streamed into the archive: the one upload path of the API's
//! `PUT /v1/dossiers/{id}/documents/{name}` and the console's upload form.
//! The use case decides and audits; this streams the bytes in, stops at the
//! document limit, and aborts (chunks deleted, audited) on anything that
//! ends the body early.

use super::error::ApiError;
use super::{body_timeout, is_timeout, AppState};
use crate::archive::documents::DocumentMeta;
use crate::archive::{ArchiveError, RequestCtx};
use axum::body::Bytes;
use futures::{Stream, StreamExt};

/// The longest content type kept with a document; a longer or missing one
/// is stored as `application/octet-stream`.
const MAX_CONTENT_TYPE: usize = 200;

/// What is known of a document before its bytes arrive.
pub struct Incoming<'a> {
    pub dossier: &'a str,
    pub name: &'a str,
    pub content_type: Option<&'a str>,
    /// The length the client declared, refused at once past the limit.
    pub declared: Option<u64>,
}

/// Streams `bytes` into the dossier's document `doc.name`: sealed in
/// chunks as they come, 413 past `max_document_bytes`, 408 when the body
/// stops arriving, 400 when it breaks off; every early end aborts the
/// upload, so nothing half-written stays.
pub async fn store<E>(
    state: &AppState,
    ctx: &RequestCtx,
    doc: Incoming<'_>,
    mut bytes: impl Stream<Item = Result<Bytes, E>> + Unpin,
) -> Result<DocumentMeta, ApiError>
where
    E: std::error::Error + 'static,
{
    let documents = state.archive.documents();
    let limit = state.max_document_bytes;
    let content_type = doc.content_type.filter(|c| c.len() <= MAX_CONTENT_TYPE).unwrap_or("application/octet-stream");
    let mut up = documents.begin_upload(ctx, doc.dossier, doc.name, content_type, limit).await?;
    if doc.declared.is_some_and(|n| n > limit) {
        documents.abort_upload(ctx, up, "declared length over the limit").await?;
        return Err(ArchiveError::TooLarge(limit).into());
    }
    while let Some(chunk) = bytes.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                let timed_out = is_timeout(&e);
                let why = if timed_out { "body stopped arriving" } else { "body interrupted" };
                documents.abort_upload(ctx, up, why).await?;
                return Err(if timed_out {
                    body_timeout()
                } else {
                    ApiError::bad_request("the request body was interrupted")
                });
            }
        };
        if let Err(e) = documents.upload_bytes(&mut up, &chunk) {
            let why = if matches!(e, ArchiveError::TooLarge(_)) { "over the size limit" } else { "storage error" };
            documents.abort_upload(ctx, up, why).await?;
            return Err(e.into());
        }
    }
    Ok(documents.finish_upload(ctx, up).await?)
}
