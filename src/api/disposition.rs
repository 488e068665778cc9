//! Retention and destruction: closing a relationship, legal holds, what is
//! due, four-eyes batches, certificates, erasure.

use crate::archive::retention::{Batch, Due, HoldView, SignedCertificate};
use crate::domain::dossier::FieldError;
use crate::web::body::{Body, Errors};
use crate::web::commands::{ErasureDto, HoldDto, NewHold};
use crate::web::error::ApiError;
use crate::web::{offload, AppState, Ctx};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

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

/// `POST /v1/dossiers/{id}/close`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseDto {
    /// When the customer relationship ended (RFC 3339); at most 5 minutes ahead.
    #[schema(format = DateTime)]
    pub ended_at: String,
}

impl TryFrom<CloseDto> for OffsetDateTime {
    type Error = Vec<FieldError>;
    fn try_from(d: CloseDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let t = errors.time("/ended_at", &d.ended_at);
        errors.finish(t)
    }
}

#[derive(Serialize, ToSchema)]
pub struct HoldCreatedDto {
    pub hold_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct ErasedDto {
    pub certificate_id: String,
}

/// End the customer relationship (the trigger of the closed-customer rule):
/// a new version with status `closed`.
#[utoipa::path(post, path = "/v1/dossiers/{id}/close", tag = "retention",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    request_body = CloseDto,
    responses((status = 200, body = super::dossiers::CreatedDto), (status = 400), (status = 401), (status = 403),
              (status = 404), (status = 410), (status = 422)),
    security(("bearer" = [])))]
pub async fn close(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(body): Body<CloseDto>,
) -> Result<Json<super::dossiers::CreatedDto>, ApiError> {
    let ended_at = OffsetDateTime::try_from(body).map_err(ApiError::invalid)?;
    Ok(Json(s.archive.retention().close_dossier(&ctx, &id, ended_at).await?.into()))
}

/// Place a legal hold (compliance): the dossier is never proposed,
/// destroyed or erased while it holds.
#[utoipa::path(post, path = "/v1/dossiers/{id}/legal-holds", tag = "retention",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    request_body = HoldDto,
    responses((status = 201, body = HoldCreatedDto), (status = 400), (status = 401),
              (status = 403), (status = 404), (status = 410), (status = 422)),
    security(("bearer" = [])))]
pub async fn place_hold(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(body): Body<HoldDto>,
) -> Result<(StatusCode, Json<HoldCreatedDto>), ApiError> {
    let hold = NewHold::try_from(body).map_err(ApiError::invalid)?;
    let hold = s.archive.retention().place_hold(&ctx, &id, &hold.reason, &hold.case_ref, hold.jurisdiction).await?;
    Ok((StatusCode::CREATED, Json(HoldCreatedDto { hold_id: hold.to_string() })))
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
    Ok(Json(s.archive.retention().list_holds(&ctx, &id).await?))
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
    s.archive.retention().release_hold(&ctx, &id, &hold).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the retention rules say is due now, what blocks it, and stale dossiers.
#[utoipa::path(get, path = "/v1/disposition/due", tag = "retention",
    params(("X-Purpose" = String, Header)),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn due(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<Due>, ApiError> {
    Ok(Json(offload(&s, move |a| async move { a.retention().disposition_due(&ctx).await }).await?))
}

/// Propose a destruction batch of everything due, unblocked and needing
/// approval (409 if there is nothing).
#[utoipa::path(post, path = "/v1/disposition/batches", tag = "retention",
    params(("X-Purpose" = String, Header)),
    responses((status = 201, body = Object, description = "{batch_id, items, ...}"), (status = 400), (status = 401),
              (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub async fn propose(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<(StatusCode, Json<Batch>), ApiError> {
    Ok((StatusCode::CREATED, Json(offload(&s, move |a| async move { a.retention().propose_batch(&ctx).await }).await?)))
}

/// A batch and, once executed, its results.
#[utoipa::path(get, path = "/v1/disposition/batches/{id}", tag = "retention",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn batch(State(s): State<AppState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Batch>, ApiError> {
    Ok(Json(s.archive.retention().get_batch(&ctx, &id).await?))
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
    Ok(Json(offload(&s, move |a| async move { a.retention().approve_batch(&ctx, &id).await }).await?))
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
    Ok(Json(s.archive.retention().certificate(&ctx, &id).await?))
}

/// Erase a data subject (PIPL Art. 47, GDPR Art. 17): 200 with the
/// certificate id, or 409 naming the hold or rule that blocks it (the
/// subject is then restricted instead).
#[utoipa::path(post, path = "/v1/subjects/{sid}/erasure", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    request_body = ErasureDto,
    responses((status = 200, body = ErasedDto), (status = 400), (status = 401),
              (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn erase(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
    Body(body): Body<ErasureDto>,
) -> Result<Json<ErasedDto>, ApiError> {
    let mut errors = Errors::default();
    let reason = errors.text("/reason", &body.reason, 2000);
    let reason = errors.finish(Some(reason)).map_err(ApiError::invalid)?;
    let cert = offload(&s, move |a| async move { a.retention().erase_subject(&ctx, &sid, &reason).await }).await?;
    Ok(Json(ErasedDto { certificate_id: cert }))
}
