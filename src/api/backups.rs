//! `/v1/backups`: the sets, the schedule and the scheduled sets' outcomes,
//! and a backup set now (admin). Sets are verified and restored with the
//! CLI (`custos backup verify|restore`).

use crate::web::error::ApiError;
use crate::web::{offload, AppState, Ctx};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new().route("/backups", get(list).post(create))
}

#[derive(Serialize, ToSchema)]
pub struct BackupDto {
    pub backup_id: String,
    /// RFC 3339.
    pub created_at: String,
    /// The audit log's tree size the set holds.
    pub tree_size: u64,
    /// Plaintext bytes the set holds.
    pub bytes: u64,
    /// Of them, bytes written as new objects (the rest were already in the target).
    pub new_bytes: u64,
}

/// The sets on the backup target, newest first (each manifest verified
/// with the log's key; those that do not verify under `damaged`), the
/// nightly schedule, and how the scheduled sets went since start-up
/// (admin). Audited `backup.list`. Without a target: `configured` false.
#[utoipa::path(get, path = "/v1/backups", tag = "operations",
    responses((status = 200, body = crate::archive::BackupStatus), (status = 401), (status = 403), (status = 500)),
    security(("bearer" = [])))]
pub async fn list(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<crate::archive::BackupStatus>, ApiError> {
    Ok(Json(offload(&s, move |a| async move { a.backups().backup_status(&ctx).await }).await?))
}

/// Take a backup set now (admin): a consistent checkpoint of the store,
/// age-encrypted into `backup_dir`, with a manifest signed by the audit
/// log's key. 409 when no `backup_dir` is configured.
#[utoipa::path(post, path = "/v1/backups", tag = "operations",
    responses((status = 201, body = BackupDto), (status = 401), (status = 403), (status = 409), (status = 500)),
    security(("bearer" = [])))]
pub async fn create(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<(StatusCode, Json<BackupDto>), ApiError> {
    let m = offload(&s, move |a| async move { a.backups().create_backup(&ctx).await }).await?;
    let created_at = m.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(BackupDto {
            backup_id: m.backup_id.to_string(),
            created_at,
            tree_size: m.tree_size,
            bytes: m.bytes,
            new_bytes: m.new_bytes,
        }),
    ))
}
