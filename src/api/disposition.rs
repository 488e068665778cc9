//! Retention and destruction: closing a relationship, legal holds, what is
//! due, four-eyes batches, certificates, erasure.

use super::error::ApiError;
use super::{AppState, Ctx, JsonBody};
use crate::archive::retention::{Batch, Due, HoldView, SignedCertificate};
use crate::domain::dossier::FieldError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dossiers/{id}/close", post(close))
        .route("/dossiers/{id}/legal-holds", post(place_hold).get(list_holds))
        .route("/dossiers/{id}/legal-holds/{hold_id}", delete(release_hold))
        .route("/disposition/due", get(due))
        .route("/disposition/batches", post(propose))
        .route("/disposition/batches/{id}", get(batch))
        .route("/disposition/batches/{id}/approve", post(approve))
        .route("/certificates/{id}", get(certificate))
        .route("/subjects/{sid}/erasure", post(erase))
}

/// A required, non-empty string member of at most `max` characters.
fn text_field(body: &Value, name: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    match body.get(name).and_then(Value::as_str).map(str::trim) {
        Some(t) if !t.is_empty() && t.chars().count() <= max => t.to_owned(),
        _ => {
            errors.push(FieldError { path: format!("/{name}"), message: format!("required, 1 to {max} characters") });
            String::new()
        }
    }
}

fn only_fields(body: &Value, allowed: &[&str], errors: &mut Vec<FieldError>) {
    match body.as_object() {
        Some(o) if o.keys().all(|k| allowed.contains(&k.as_str())) => {}
        Some(_) => {
            errors.push(FieldError { path: String::new(), message: format!("only {} allowed", allowed.join(", ")) })
        }
        None => errors.push(FieldError { path: String::new(), message: "must be an object".into() }),
    }
}

/// End the customer relationship (the trigger of the closed-customer rule):
/// a new version with status `closed`.
#[utoipa::path(post, path = "/v1/dossiers/{id}/close", tag = "retention",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    request_body(content = Object, description = "{\"ended_at\": RFC 3339}"),
    responses((status = 200, body = super::dossiers::CreatedDto), (status = 400), (status = 401), (status = 403),
              (status = 404), (status = 410), (status = 422)),
    security(("bearer" = [])))]
pub async fn close(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<super::dossiers::CreatedDto>, ApiError> {
    let mut errors = Vec::new();
    only_fields(&body, &["ended_at"], &mut errors);
    let ended_at = body.get("ended_at").and_then(Value::as_str).and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
    if ended_at.is_none() {
        errors.push(FieldError { path: "/ended_at".into(), message: "required: an RFC 3339 time".into() });
    }
    match ended_at {
        Some(t) if errors.is_empty() => Ok(Json(s.archive.close_dossier(&ctx, &id, t).await?.into())),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// Place a legal hold (compliance): the dossier is never proposed,
/// destroyed or erased while it holds.
#[utoipa::path(post, path = "/v1/dossiers/{id}/legal-holds", tag = "retention",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    request_body(content = Object, description = "{\"reason\", \"case_ref\"}"),
    responses((status = 201, body = Object, description = "{\"hold_id\"}"), (status = 400), (status = 401),
              (status = 403), (status = 404), (status = 410), (status = 422)),
    security(("bearer" = [])))]
pub async fn place_hold(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut errors = Vec::new();
    only_fields(&body, &["reason", "case_ref"], &mut errors);
    let reason = text_field(&body, "reason", 2000, &mut errors);
    let case_ref = text_field(&body, "case_ref", 200, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let hold = s.archive.place_hold(&ctx, &id, &reason, &case_ref).await?;
    Ok((StatusCode::CREATED, Json(json!({"hold_id": hold}))))
}

/// The active legal holds of a dossier (compliance).
#[utoipa::path(get, path = "/v1/dossiers/{id}/legal-holds", tag = "retention",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = [Object]), (status = 400), (status = 401), (status = 403), (status = 404), (status = 410)),
    security(("bearer" = [])))]
pub async fn list_holds(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<Vec<HoldView>>, ApiError> {
    Ok(Json(s.archive.list_holds(&ctx, &id).await?))
}

/// Release a legal hold (compliance).
#[utoipa::path(delete, path = "/v1/dossiers/{id}/legal-holds/{hold_id}", tag = "retention",
    params(("id" = String, Path), ("hold_id" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 204), (status = 400), (status = 401), (status = 403), (status = 404), (status = 410)),
    security(("bearer" = [])))]
pub async fn release_hold(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((id, hold)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.archive.release_hold(&ctx, &id, &hold).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the retention rules say is due now, what blocks it, and stale dossiers.
#[utoipa::path(get, path = "/v1/disposition/due", tag = "retention",
    params(("X-Purpose" = String, Header)),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn due(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<Due>, ApiError> {
    Ok(Json(s.archive.disposition_due(&ctx).await?))
}

/// Propose a destruction batch of everything due, unblocked and needing
/// approval (409 if there is nothing).
#[utoipa::path(post, path = "/v1/disposition/batches", tag = "retention",
    params(("X-Purpose" = String, Header)),
    responses((status = 201, body = Object, description = "{batch_id, items, ...}"), (status = 400), (status = 401),
              (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub async fn propose(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<(StatusCode, Json<Batch>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.archive.propose_batch(&ctx).await?)))
}

/// A batch and, once executed, its results.
#[utoipa::path(get, path = "/v1/disposition/batches/{id}", tag = "retention",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn batch(State(s): State<AppState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Batch>, ApiError> {
    Ok(Json(s.archive.get_batch(&ctx, &id).await?))
}

/// Approve a batch (a compliance officer other than the proposer) and execute it.
#[utoipa::path(post, path = "/v1/disposition/batches/{id}/approve", tag = "retention",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object, description = "the executed batch, with certificate_id"), (status = 400),
              (status = 401), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn approve(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<Batch>, ApiError> {
    Ok(Json(s.archive.approve_batch(&ctx, &id).await?))
}

/// A signed destruction certificate.
#[utoipa::path(get, path = "/v1/certificates/{id}", tag = "retention",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn certificate(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<SignedCertificate>, ApiError> {
    Ok(Json(s.archive.certificate(&ctx, &id).await?))
}

/// Erase a data subject (PIPL Art. 47, GDPR Art. 17): 200 with the
/// certificate id, or 409 naming the hold or rule that blocks it (the
/// subject is then restricted instead).
#[utoipa::path(post, path = "/v1/subjects/{sid}/erasure", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    request_body(content = Object, description = "{\"reason\"}: a ground (purpose_achieved, consent_withdrawn, service_ended, unlawful_processing, objection, retention_expired) or free text (not stored)"),
    responses((status = 200, body = Object, description = "{\"certificate_id\"}"), (status = 400), (status = 401),
              (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn erase(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let mut errors = Vec::new();
    only_fields(&body, &["reason"], &mut errors);
    let reason = text_field(&body, "reason", 2000, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let cert = s.archive.erase_subject(&ctx, &sid, &reason).await?;
    Ok(Json(json!({"certificate_id": cert})))
}
