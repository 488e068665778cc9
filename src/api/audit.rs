//! `/v1/audit` (compliance only).

use crate::audit::{AuditEntry, AuditFilter, Outcome};
use crate::web::error::ApiError;
use crate::web::{offload, AppState, Ctx};
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
        .route("/audit/checkpoint", get(checkpoint))
        .route("/audit/verifier-key", get(verifier_key))
        .route("/audit/proofs/inclusion", get(inclusion))
        .route("/audit/proofs/consistency", get(consistency))
        .route("/audit/alerts", get(alerts))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// A principal id (`prn_...`) or `system`.
    actor: Option<String>,
    resource: Option<String>,
    /// A subject id (`sub_...`).
    subject: Option<String>,
    action: Option<String>,
    #[param(value_type = Option<String>, pattern = "^(allow|deny|error)$")]
    outcome: Option<String>,
    /// RFC 3339
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// RFC 3339
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 9223372036854775807_i64)]
    cursor: Option<String>,
    /// default 100
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
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
    /// The token the request came with (`tok_...`); empty for custos's own entries.
    pub token_id: String,
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
            actor: e.body.actor,
            roles: e.body.roles,
            action: e.body.action,
            resource: e.body.resource,
            subjects: e.body.subjects,
            purpose: e.body.purpose,
            outcome: e.body.outcome,
            reason: e.body.reason,
            fields: FieldsDto { released: e.body.released, masked: e.body.masked, withheld: e.body.withheld },
            policy_hash: e.policy_hash,
            request_id: e.body.request_id,
            token_id: e.body.token_id,
        }
    }
}

/// `limit`: 1..=1000, default 100.
fn limit_param(v: Option<&str>) -> Result<usize, ApiError> {
    v.map_or(Ok(100), |l| {
        l.parse::<usize>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| ApiError::bad_request("limit must be 1 to 1000"))
    })
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
        .map(|c| {
            c.parse::<u64>()
                .ok()
                .filter(|c| i64::try_from(*c).is_ok())
                .ok_or_else(|| ApiError::bad_request("cursor is malformed"))
        })
        .transpose()?
        .unwrap_or(0);
    let limit = limit_param(p.limit.as_deref())?;
    let filter = AuditFilter {
        actor: p.actor,
        resource: p.resource,
        subject: p.subject,
        action: p.action,
        outcome,
        from: time_param("from", p.from)?,
        to: time_param("to", p.to)?,
    };
    let page =
        offload(&s, move |a| async move { a.audit_trail().query_audit(&ctx, filter, cursor, limit).await }).await?;
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
    let seq = seq_param(&seq)?;
    let (e, h, _) = s.archive.audit_trail().audit_entry(&ctx, seq).await?;
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
    let seq = seq_param(&seq)?;
    let (_, _, raw) = s.archive.audit_trail().audit_entry(&ctx, seq).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], raw))
}

/// The latest signed checkpoint: a C2SP tlog-checkpoint in a signed note
/// (origin, tree size, base64 root hash, blank line, Ed25519 signature line).
/// Compliance; the request's own audit entry is inside the tree it signs.
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, content_type = "text/plain", body = String), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn checkpoint(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<impl IntoResponse, ApiError> {
    // Signing brings the subject map up to date: off the async workers.
    let note = offload(&s, move |a| async move { a.audit_trail().checkpoint(&ctx).await }).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note))
}

/// The note verifier key (`<name>+<hex key hash>+<base64 0x01||public key>`,
/// as Go's golang.org/x/mod/sumdb/note reads it). Any authenticated caller.
#[utoipa::path(get, path = "/v1/audit/verifier-key", tag = "audit",
    responses((status = 200, content_type = "text/plain", body = String), (status = 401)),
    security(("bearer" = [])))]
pub async fn verifier_key(State(s): State<AppState>, _caller: Ctx) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", s.archive.audit_trail().verifier_key()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionParams {
    /// The entry's sequence number (its leaf index).
    #[param(value_type = u64, minimum = 0, maximum = 9223372036854775807_i64)]
    seq: String,
    /// Tree size the proof is for; default the current size.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 9223372036854775807_i64)]
    tree_size: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InclusionDto {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// RFC 6962 audit path, leaf to root, base64.
    pub hashes: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    /// The older tree size.
    #[param(value_type = u64, minimum = 1, maximum = 9223372036854775807_i64)]
    from: String,
    /// The newer tree size.
    #[param(value_type = u64, minimum = 1, maximum = 9223372036854775807_i64)]
    to: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyDto {
    /// RFC 6962 consistency proof, base64.
    pub hashes: Vec<String>,
}

fn uint(name: &str, v: &str) -> Result<u64, ApiError> {
    v.parse().map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer")))
}

fn b64(hashes: Vec<[u8; 32]>) -> Vec<String> {
    use base64::Engine;
    hashes.iter().map(|h| base64::engine::general_purpose::STANDARD.encode(h)).collect()
}

/// Inclusion proof of entry `seq` in the tree of `tree_size` entries (compliance).
#[utoipa::path(get, path = "/v1/audit/proofs/inclusion", tag = "audit", params(InclusionParams),
    responses((status = 200, body = InclusionDto), (status = 400, description = "seq is not below tree_size"),
              (status = 401), (status = 403), (status = 404, description = "the log has not reached tree_size")),
    security(("bearer" = [])))]
pub async fn inclusion(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    params: Result<Query<InclusionParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InclusionDto>, ApiError> {
    let Query(p) = params.map_err(|_| ApiError::bad_request("parameters: seq (required), tree_size"))?;
    let seq = uint("seq", &p.seq)?;
    let size = p.tree_size.as_deref().map(|t| uint("tree_size", t)).transpose()?;
    let proof = s.archive.audit_trail().inclusion_proof(&ctx, seq, size).await?;
    Ok(Json(InclusionDto { leaf_index: proof.leaf_index, tree_size: proof.tree_size, hashes: b64(proof.hashes) }))
}

/// Consistency proof between tree sizes `from` and `to` (compliance).
#[utoipa::path(get, path = "/v1/audit/proofs/consistency", tag = "audit", params(ConsistencyParams),
    responses((status = 200, body = ConsistencyDto), (status = 400, description = "from is above to"),
              (status = 401), (status = 403), (status = 404, description = "the log has not reached to")),
    security(("bearer" = [])))]
pub async fn consistency(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    params: Result<Query<ConsistencyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConsistencyDto>, ApiError> {
    let Query(p) = params.map_err(|_| ApiError::bad_request("parameters: from and to (required)"))?;
    let (from, to) = (uint("from", &p.from)?, uint("to", &p.to)?);
    let hashes = s.archive.audit_trail().consistency_proof(&ctx, from, to).await?;
    Ok(Json(ConsistencyDto { hashes: b64(hashes) }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    /// default 100
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AlertDto {
    pub id: String,
    pub rule: String,
    pub description: String,
    pub actor: String,
    pub window_start: String,
    pub window_end: String,
    pub window_seconds: u64,
    pub count: u64,
    pub threshold: u64,
}

#[derive(Serialize, ToSchema)]
pub struct AlertsDto {
    pub alerts: Vec<AlertDto>,
}

/// Unusual-access alerts, newest first (compliance). Each names the actor,
/// the rule, the window and the count; each is also an audit entry
/// (`audit.alert`, with the alert id as request id).
#[utoipa::path(get, path = "/v1/audit/alerts", tag = "audit", params(AlertParams),
    responses((status = 200, body = AlertsDto), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn alerts(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    params: Result<Query<AlertParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AlertsDto>, ApiError> {
    let Query(p) = params.map_err(|_| ApiError::bad_request("parameters: limit"))?;
    let limit = limit_param(p.limit.as_deref())?;
    let list = offload(&s, move |a| async move { a.audit_trail().list_alerts(&ctx, limit).await }).await?;
    let t = |x: OffsetDateTime| x.format(&Rfc3339).unwrap_or_default();
    Ok(Json(AlertsDto {
        alerts: list
            .into_iter()
            .map(|a| AlertDto {
                id: a.id,
                rule: a.rule,
                description: a.description,
                actor: a.actor,
                window_start: t(a.window_start),
                window_end: t(a.window_end),
                window_seconds: a.window_seconds,
                count: a.count,
                threshold: a.threshold,
            })
            .collect(),
    }))
}
