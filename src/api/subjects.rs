//! `/v1/subjects`: a data subject's status, consents, restriction and export.

use crate::archive::{ConsentEventView, NewConsent, NewLiftNotice, SubjectView};
use crate::domain::dossier::FieldError;
use crate::web::body::Body;
use crate::web::commands::{ConsentDto, LiftNoticeDto};
use crate::web::error::ApiError;
use crate::web::{offload, AppState, Ctx};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/subjects/{sid}", get(read))
        .route("/subjects/{sid}/consents", post(grant).get(history))
        .route("/subjects/{sid}/consents/{purpose}", delete(withdraw))
        .route("/subjects/{sid}/restriction", post(restrict).delete(unrestrict))
        .route("/subjects/{sid}/export", get(export))
        .route("/subjects/{sid}/access-report", get(super::access_report::access_report))
        .route("/subjects/{sid}/residency", put(residency))
        .route("/subjects/{sid}/processing", get(processing))
        .route("/subjects/{sid}/restriction/notice", post(lift_notice))
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

/// Lift a restriction (GDPR Art. 18(3)); 409 (`restriction-lift-not-notified`)
/// unless the person was told first (`POST .../restriction/notice`), and
/// while the person's erasure is pending behind a legal hold.
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

/// Record that the person was told their restriction is about to be lifted
/// (GDPR Art. 18(3)): `{"channel", "notified_at", "reference"?}`; the lift
/// is refused until one is recorded since the restriction began.
#[utoipa::path(post, path = "/v1/subjects/{sid}/restriction/notice", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    request_body = LiftNoticeDto,
    responses((status = 200, body = Object, description = "the subject, with its lift_notice"), (status = 400),
              (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn lift_notice(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
    Body(body): Body<LiftNoticeDto>,
) -> Result<Json<SubjectView>, ApiError> {
    let notice = NewLiftNotice::try_from(body).map_err(ApiError::invalid)?;
    Ok(Json(s.archive.subjects().record_lift_notice(&ctx, &sid, notice).await?))
}

/// `GET /v1/subjects/{sid}/export`: the request it answers, and the format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// The person's own access or portability request (`req_...`), verified
    /// and open: an access request gets the whole copy, a portability
    /// request the portable part.
    #[param(pattern = "^req_[0-9a-z]{26}$")]
    pub request: Option<String>,
    /// `json` (the default) or `csv` (one row per value); `Accept: text/csv` also asks for CSV.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// Whether an export is asked for as CSV: `format=csv` or `Accept: text/csv`;
/// a format other than `json` or `csv` is a 400.
pub(crate) fn wants_csv(format: Option<&str>, headers: &HeaderMap) -> Result<bool, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv")));
    match format {
        None => Ok(accept),
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(ApiError::bad_request("format: json or csv")),
    }
}

/// An export as JSON, or as CSV (one row per value, named by its JSON pointer).
pub(crate) fn export_response(export: Value, csv: bool) -> Result<Response, ApiError> {
    if csv {
        let body = crate::archive::subjects::export_csv(&export)?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(Json(export).into_response())
}

/// What is held on the person, for their verified, open access request
/// (everything, GDPR Art. 15; PIPL Art. 45(1)) or portability request (the
/// portable part, GDPR Art. 20; PIPL Art. 45(3); NDSMR Art. 25): JSON valid
/// against `/schemas/subject-export.schema.json`, or CSV. Without such a
/// request: 403 `no-verified-request`, audited.
#[utoipa::path(get, path = "/v1/subjects/{sid}/export", tag = "subjects",
    params(("sid" = String, Path), ExportQuery, ("X-Purpose" = String, Header),
           ("Accept" = Option<String>, Header, description = "text/csv for CSV; JSON otherwise")),
    responses((status = 200, content((Object = "application/json"), (String = "text/csv")),
               description = "see /schemas/subject-export.schema.json"),
              (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn export(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
    headers: HeaderMap,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) =
        q.map_err(|_| ApiError::bad_request("unknown or repeated query parameter; allowed: request, format"))?;
    let csv = wants_csv(q.format.as_deref(), &headers)?;
    if q.request.as_deref().is_some_and(|r| crate::domain::RequestId::parse(r).is_err()) {
        return Err(ApiError::bad_request("request must be a request id (req_...)"));
    }
    let request = q.request;
    let export =
        offload(&s, move |a| async move { a.registers().export_for_request(&ctx, &sid, request.as_deref()).await })
            .await?;
    export_response(export, csv)
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
