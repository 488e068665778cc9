//! `/v1/audit` (compliance only).

use super::error::ApiError;
use super::{AppState, Ctx};
use crate::audit::{AuditEntry, AuditFilter, Outcome};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit/entries", get(list))
        .route("/audit/entries/{seq}", get(one))
        .route("/audit/entries/{seq}/raw", get(raw))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    actor: Option<String>,
    resource: Option<String>,
    subject: Option<String>,
    action: Option<String>,
    /// allow, deny or error
    outcome: Option<String>,
    /// RFC 3339
    from: Option<String>,
    /// RFC 3339
    to: Option<String>,
    cursor: Option<String>,
    /// 1..=1000, default 100
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FieldsDto {
    pub released: Vec<String>,
    pub masked: Vec<String>,
    pub withheld: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EntryDto {
    pub seq: u64,
    pub hash: String,
    pub prev_hash: String,
    pub time: String,
    pub actor: String,
    pub roles: Vec<String>,
    pub action: String,
    pub resource: String,
    pub subjects: Vec<String>,
    pub purpose: String,
    pub outcome: Outcome,
    pub reason: String,
    pub fields: FieldsDto,
    pub policy_hash: String,
    pub request_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct EntriesDto {
    pub entries: Vec<EntryDto>,
    pub next_cursor: Option<String>,
}

impl EntryDto {
    fn new(e: AuditEntry, hash: [u8; 32]) -> Self {
        EntryDto {
            seq: e.seq,
            hash: hex::encode(hash),
            prev_hash: hex::encode(e.prev_hash),
            time: e.time.format(&Rfc3339).unwrap_or_default(),
            actor: e.actor,
            roles: e.roles,
            action: e.action,
            resource: e.resource,
            subjects: e.subjects,
            purpose: e.purpose,
            outcome: e.outcome,
            reason: e.reason,
            fields: FieldsDto { released: e.released, masked: e.masked, withheld: e.withheld },
            policy_hash: e.policy_hash,
            request_id: e.request_id,
        }
    }
}

fn time_param(name: &str, v: Option<String>) -> Result<Option<OffsetDateTime>, ApiError> {
    v.map(|s| {
        OffsetDateTime::parse(&s, &Rfc3339)
            .map_err(|_| ApiError::bad_request(format!("{name} must be an RFC 3339 time")))
    })
    .transpose()
}

/// Query the audit log (compliance).
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit", params(ListParams),
    responses((status = 200, body = EntriesDto), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EntriesDto>, ApiError> {
    let Query(p) = params.map_err(|_| {
        ApiError::bad_request("unknown or repeated query parameter; allowed: actor, resource, subject, action, outcome, from, to, cursor, limit")
    })?;
    let outcome = p
        .outcome
        .map(|o| Outcome::parse(&o).ok_or_else(|| ApiError::bad_request("outcome must be allow, deny or error")))
        .transpose()?;
    let cursor = p
        .cursor
        .map(|c| c.parse::<u64>().map_err(|_| ApiError::bad_request("cursor is malformed")))
        .transpose()?
        .unwrap_or(0);
    let limit = p
        .limit
        .map(|l| {
            l.parse::<usize>()
                .ok()
                .filter(|l| (1..=1000).contains(l))
                .ok_or_else(|| ApiError::bad_request("limit must be 1 to 1000"))
        })
        .transpose()?
        .unwrap_or(100);
    let filter = AuditFilter {
        actor: p.actor,
        resource: p.resource,
        subject: p.subject,
        action: p.action,
        outcome,
        from: time_param("from", p.from)?,
        to: time_param("to", p.to)?,
    };
    let page = s.archive.query_audit(&ctx, filter, cursor, limit).await?;
    Ok(Json(EntriesDto {
        entries: page.entries.into_iter().map(|(e, h)| EntryDto::new(e, h)).collect(),
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

fn seq_param(s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| ApiError::bad_request("seq must be a non-negative integer"))
}

/// One entry with its seq and chain hash (compliance).
#[utoipa::path(get, path = "/v1/audit/entries/{seq}", tag = "audit", params(("seq" = u64, Path)),
    responses((status = 200, body = EntryDto), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn one(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(seq): Path<String>,
) -> Result<Json<EntryDto>, ApiError> {
    let (e, h, _) = s.archive.audit_entry(&ctx, seq_param(&seq)?).await?;
    Ok(Json(EntryDto::new(e, h)))
}

/// The entry's canonical bytes (docs/audit-format.md): the Merkle leaf is
/// SHA-256(0x00 || raw) and the chain hash SHA-256(raw).
#[utoipa::path(get, path = "/v1/audit/entries/{seq}/raw", tag = "audit", params(("seq" = u64, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn raw(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(seq): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (_, _, raw) = s.archive.audit_entry(&ctx, seq_param(&seq)?).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], raw))
}
