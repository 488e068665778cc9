//! `/v1/dossiers/{id}/documents`: the list, and streamed upload and download.

use crate::web::error::ApiError;
use crate::web::upload::{self, Incoming};
use crate::web::{AppState, Ctx};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct DocumentDto {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    pub created_at: String,
    /// The principal who stored it.
    pub actor: String,
}

/// The dossier's documents, for whoever may read them.
#[utoipa::path(get, path = "/v1/dossiers/{id}/documents", tag = "documents",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Vec<DocumentDto>), (status = 400), (status = 401), (status = 403), (status = 404), (status = 410)),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<Vec<DocumentDto>>, ApiError> {
    let docs = s.archive.documents().list_documents(&ctx, &id).await?;
    Ok(Json(docs.into_iter().map(DocumentDto::from).collect()))
}

impl From<crate::archive::documents::DocumentMeta> for DocumentDto {
    fn from(d: crate::archive::documents::DocumentMeta) -> Self {
        DocumentDto {
            created_at: d.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            actor: d.actor.to_string(),
            name: d.name,
            content_type: d.content_type,
            size: d.size,
            sha256: d.sha256,
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dossiers/{id}/documents", get(list))
        .route("/dossiers/{id}/documents/{name}", put(upload).get(download))
        // Documents have their own limit (max_document_bytes), enforced while streaming.
        .layer(DefaultBodyLimit::disable())
}

/// Store a document (any content type), streamed and sealed in chunks;
/// 413 beyond `max_document_bytes`; 409 if the name is taken.
#[utoipa::path(put, path = "/v1/dossiers/{id}/documents/{name}", tag = "documents",
    params(("id" = String, Path), ("name" = String, Path, description = "1 to 128 of A-Z a-z 0-9 . _ -"),
           ("X-Purpose" = String, Header)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the document, any content type"),
    responses((status = 201, body = Object, description = "{sha256, size}"), (status = 400), (status = 401), (status = 403),
              (status = 404), (status = 409), (status = 410), (status = 413)),
    security(("bearer" = [])))]
pub async fn upload(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let doc = Incoming { dossier: &id, name: &name, content_type, declared };
    let meta = upload::store(&s, &ctx, doc, body.into_data_stream()).await?;
    Ok((StatusCode::CREATED, Json(json!({"sha256": meta.sha256, "size": meta.size}))))
}

/// The document, streamed back, with its SHA-256 as the ETag.
#[utoipa::path(get, path = "/v1/dossiers/{id}/documents/{name}", tag = "documents",
    params(("id" = String, Path), ("name" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 400), (status = 401),
              (status = 403), (status = 404), (status = 410)),
    security(("bearer" = [])))]
pub async fn download(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (meta, reader) = s.archive.documents().open_document(&ctx, &id, &name).await?;
    Ok(crate::web::document_response(s.archive.clone(), meta, reader))
}
