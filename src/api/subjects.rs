//! `/v1/subjects`: a data subject's status, consents, restriction and export.

use crate::archive::{ConsentEventView, NewConsent, SubjectView};
use crate::domain::dossier::FieldError;
use crate::web::body::Body;
use crate::web::commands::ConsentDto;
use crate::web::error::ApiError;
use crate::web::{offload, AppState, Ctx};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/subjects/{sid}", get(read))
        .route("/subjects/{sid}/consents", post(grant).get(history))
        .route("/subjects/{sid}/consents/{purpose}", delete(withdraw))
        .route("/subjects/{sid}/restriction", post(restrict).delete(unrestrict))
        .route("/subjects/{sid}/export", get(export))
        .route("/subjects/{sid}/residency", put(residency))
        .route("/subjects/{sid}/processing", get(processing))
}

/// A subject's status (active, restricted, erased), dossiers and live consents.
#[utoipa::path(get, path = "/v1/subjects/{sid}", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object, description = "{id, status, created_at, restricted_at, dossiers, consents}"),
              (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn read(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
) -> Result<Json<SubjectView>, ApiError> {
    Ok(Json(s.archive.subjects().get_subject(&ctx, &sid).await?))
}

/// Record a consent: `{"purpose", "basis", "evidence", "granted_at"}`;
/// `basis` is `consent` or `separate_consent` (required for sensitive data).
#[utoipa::path(post, path = "/v1/subjects/{sid}/consents", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    request_body = ConsentDto,
    responses((status = 201, body = Object, description = "the consent event"), (status = 400), (status = 401),
              (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn grant(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
    Body(body): Body<ConsentDto>,
) -> Result<(StatusCode, Json<ConsentEventView>), ApiError> {
    let consent = NewConsent::try_from(body).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.subjects().grant_consent(&ctx, &sid, consent).await?)))
}

/// Withdraw a consent, effective for every request from now on; the history
/// keeps the grant.
#[utoipa::path(delete, path = "/v1/subjects/{sid}/consents/{purpose}", tag = "subjects",
    params(("sid" = String, Path), ("purpose" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object, description = "the withdrawal event"), (status = 400), (status = 401),
              (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((sid, purpose)): Path<(String, String)>,
) -> Result<Json<ConsentEventView>, ApiError> {
    Ok(Json(s.archive.subjects().withdraw_consent(&ctx, &sid, &purpose).await?))
}

/// The full consent history: every grant and withdrawal, oldest first.
#[utoipa::path(get, path = "/v1/subjects/{sid}/consents", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = [Object]), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn history(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
) -> Result<Json<Vec<ConsentEventView>>, ApiError> {
    Ok(Json(s.archive.subjects().consent_history(&ctx, &sid).await?))
}

/// Restrict processing: from now on the person's fields are released only
/// for the purposes purposes.toml keeps open (legal_compliance, dsr).
#[utoipa::path(post, path = "/v1/subjects/{sid}/restriction", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn restrict(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
) -> Result<Json<SubjectView>, ApiError> {
    Ok(Json(s.archive.subjects().set_restriction(&ctx, &sid, true).await?))
}

/// Lift a restriction (GDPR Art. 18(3)); 409 while the person's erasure is
/// pending behind a legal hold.
#[utoipa::path(delete, path = "/v1/subjects/{sid}/restriction", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409)),
    security(("bearer" = [])))]
pub async fn unrestrict(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
) -> Result<Json<SubjectView>, ApiError> {
    Ok(Json(s.archive.subjects().set_restriction(&ctx, &sid, false).await?))
}

/// Everything held on the person, as JSON valid against
/// `/schemas/subject-export.schema.json` (GDPR Art. 15, 20; PIPL Art. 45).
#[utoipa::path(get, path = "/v1/subjects/{sid}/export", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object, description = "see /schemas/subject-export.schema.json"),
              (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn export(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(offload(&s, move |a| async move { a.subjects().export_subject(&ctx, &sid).await }).await?))
}

/// `PUT /v1/subjects/{sid}/residency`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResidencyDto {
    /// Where the person resides: an ISO 3166-1 alpha-2 code (`CN`, `DE`, ...).
    #[schema(pattern = "^[A-Z]{2}$", example = "DE")]
    pub residency: String,
}

/// Record where the person resides (compliance): whose law sets the due
/// date of their requests and which legal holds can block their erasure.
/// `CN` until stated.
#[utoipa::path(put, path = "/v1/subjects/{sid}/residency", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    request_body = ResidencyDto,
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 422)),
    security(("bearer" = [])))]
pub async fn residency(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
    Body(body): Body<ResidencyDto>,
) -> Result<Json<SubjectView>, ApiError> {
    let residency = crate::domain::Jurisdiction::parse(&body.residency)
        .map_err(|message| ApiError::invalid(vec![FieldError { path: "/residency".into(), message }]))?;
    Ok(Json(s.archive.subjects().set_residency(&ctx, &sid, residency).await?))
}

/// How custos processes the person's data (PIPL Art. 48, GDPR Art. 15(1)):
/// each purpose with its basis, whether it applies to them now, recipients
/// and retention; the sources; the law of their requests (compliance, dsr).
#[utoipa::path(get, path = "/v1/subjects/{sid}/processing", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn processing(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.archive.subjects().subject_processing(&ctx, &sid).await?))
}
