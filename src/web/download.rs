//! A sealed document streamed to the client, for the API and the console.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// A document's answer: its bytes streamed with its content type, length
/// and SHA-256 as the ETag (the API and the console).
pub fn document_response(
    archive: std::sync::Arc<crate::archive::Archive>,
    meta: crate::archive::documents::DocumentMeta,
    reader: crate::archive::documents::DocumentReader,
) -> Response {
    // One 64 KiB chunk at a time, read when the connection wants more: a
    // point read and an AEAD open, short enough for the async task, and the
    // buffers are freed on the thread that made them.
    let stream = futures::stream::unfold(Some(reader), move |state| {
        let archive = archive.clone();
        async move {
            let mut reader = state?;
            match archive.documents().read_chunk(&mut reader) {
                Ok(Some(c)) => Some((Ok::<_, std::io::Error>(Bytes::from(c)), Some(reader))),
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(error = %e, "a document chunk could not be read");
                    Some((Err(std::io::Error::other("document unreadable")), None))
                }
            }
        }
    });
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&meta.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", meta.sha256)) {
        h.insert(header::ETAG, v);
    }
    resp
}
