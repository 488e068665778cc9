//! `/v1/data-grades`: the data sets, their category and grade
//! (general/important/core, DSL Art. 21) and the register of grading
//! decisions. `/v1/compliance-audits`: the compliance-audit register
//! (PIPL Art. 54; NDSMR Art. 27, 30-33): engagements, their reports,
//! findings tracked to a verified fix, and the schedule. Compliance writes,
//! the auditor reads. `/v1/data-grades/responsible`: who answers for
//! network-data security (NDSMR Art. 30).

use crate::archive::oversight::{
    AppointmentView, AuditRegister, DataGradesView, EngagementCompletion, EngagementView, FindingView,
    GradeDecisionView, NewAppointment, NewEngagement, NewFinding, NewGradeDecision,
};
use crate::web::body::Body;
use crate::web::commands::{
    one_date, AppointmentDto, AuthorityReportDto, CompletionDto, EngagementDto, FindingDto, FixDto, GradeDecisionDto,
    StartDto, VerifyDto,
};
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/data-grades", get(data_grades))
        .route("/data-grades/decisions", post(decide_grade))
        .route("/data-grades/responsible", post(appoint_responsible))
        .route("/compliance-audits", post(plan_engagement).get(audit_register))
        .route("/compliance-audits/{id}", get(engagement))
        .route("/compliance-audits/{id}/start", post(start_engagement))
        .route("/compliance-audits/{id}/complete", post(complete_engagement))
        .route("/compliance-audits/{id}/authority-report", post(report_to_authority))
        .route("/compliance-audits/{id}/report", get(engagement_report))
        .route("/compliance-audits/{id}/findings", post(raise_finding))
        .route("/compliance-audits/{id}/findings/{n}/fix", post(fix_finding))
        .route("/compliance-audits/{id}/findings/{n}/verify", post(verify_finding))
}

/// A finding's number from the path; anything else finds no finding (404).
fn number(n: &str) -> u32 {
    n.parse().unwrap_or(0)
}

/// The data sets as data_grades.toml grades them, each with the decisions
/// on record and whether its level is decided (compliance, auditor).
#[utoipa::path(get, path = "/v1/data-grades", tag = "governance",
    responses((status = 200, body = DataGradesView), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn data_grades(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<DataGradesView>, ApiError> {
    Ok(Json(s.archive.oversight().data_grades(&ctx).await?))
}

/// Record the decision behind a data set's level (compliance): who decided,
/// when, why; the level must be the one data_grades.toml gives.
#[utoipa::path(post, path = "/v1/data-grades/decisions", tag = "governance",
    request_body = GradeDecisionDto,
    responses((status = 201, body = GradeDecisionView), (status = 400), (status = 401), (status = 403),
              (status = 409), (status = 413), (status = 422)),
    security(("bearer" = [])))]
pub async fn decide_grade(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Body(d): Body<GradeDecisionDto>,
) -> Result<(StatusCode, Json<GradeDecisionView>), ApiError> {
    let new = NewGradeDecision::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.oversight().decide_grade(&ctx, new).await?)))
}

/// Record who is responsible for network-data security and the body that
/// manages it (compliance; NDSMR Art. 30; name, contact and body sealed).
#[utoipa::path(post, path = "/v1/data-grades/responsible", tag = "governance",
    request_body = AppointmentDto,
    responses((status = 201, body = AppointmentView), (status = 400), (status = 401), (status = 403),
              (status = 409), (status = 413), (status = 422)),
    security(("bearer" = [])))]
pub async fn appoint_responsible(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Body(d): Body<AppointmentDto>,
) -> Result<(StatusCode, Json<AppointmentView>), ApiError> {
    let new = NewAppointment::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.oversight().appoint_responsible(&ctx, new).await?)))
}

/// Plan a compliance engagement (compliance).
#[utoipa::path(post, path = "/v1/compliance-audits", tag = "governance",
    request_body = EngagementDto,
    responses((status = 201, body = EngagementView), (status = 400), (status = 401), (status = 403), (status = 409),
              (status = 413), (status = 422)),
    security(("bearer" = [])))]
pub async fn plan_engagement(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Body(d): Body<EngagementDto>,
) -> Result<(StatusCode, Json<EngagementView>), ApiError> {
    let new = NewEngagement::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.oversight().plan_engagement(&ctx, new).await?)))
}

/// The schedule of each kind and every engagement with its findings
/// (compliance, auditor).
#[utoipa::path(get, path = "/v1/compliance-audits", tag = "governance",
    responses((status = 200, body = AuditRegister), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn audit_register(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<AuditRegister>, ApiError> {
    Ok(Json(s.archive.oversight().audit_register(&ctx).await?))
}

/// One engagement with its findings (compliance, auditor).
#[utoipa::path(get, path = "/v1/compliance-audits/{id}", tag = "governance", params(("id" = String, Path)),
    responses((status = 200, body = EngagementView), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn engagement(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<EngagementView>, ApiError> {
    Ok(Json(s.archive.oversight().engagement(&ctx, &id).await?))
}

/// A planned engagement starts (compliance).
#[utoipa::path(post, path = "/v1/compliance-audits/{id}/start", tag = "governance", params(("id" = String, Path)),
    request_body = StartDto,
    responses((status = 200, body = EngagementView), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 413), (status = 422)),
    security(("bearer" = [])))]
pub async fn start_engagement(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<StartDto>,
) -> Result<Json<EngagementView>, ApiError> {
    let on = one_date("/started_on", &d.started_on).map_err(ApiError::invalid)?;
    Ok(Json(s.archive.oversight().start_engagement(&ctx, &id, on).await?))
}

/// An engagement in progress completes with its conclusion and report
/// (compliance; both sealed, the report's SHA-256 recorded).
#[utoipa::path(post, path = "/v1/compliance-audits/{id}/complete", tag = "governance", params(("id" = String, Path)),
    request_body = CompletionDto,
    responses((status = 200, body = EngagementView), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 413), (status = 422)),
    security(("bearer" = [])))]
pub async fn complete_engagement(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<CompletionDto>,
) -> Result<Json<EngagementView>, ApiError> {
    let done = EngagementCompletion::try_from(d).map_err(ApiError::invalid)?;
    Ok(Json(s.archive.oversight().complete_engagement(&ctx, &id, done).await?))
}

/// The day a completed engagement's report went to the authority
/// (compliance; once).
#[utoipa::path(post, path = "/v1/compliance-audits/{id}/authority-report", tag = "governance",
    params(("id" = String, Path)), request_body = AuthorityReportDto,
    responses((status = 200, body = EngagementView), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 413), (status = 422)),
    security(("bearer" = [])))]
pub async fn report_to_authority(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<AuthorityReportDto>,
) -> Result<Json<EngagementView>, ApiError> {
    let on = one_date("/reported_on", &d.reported_on).map_err(ApiError::invalid)?;
    Ok(Json(s.archive.oversight().report_to_authority(&ctx, &id, on).await?))
}

/// An engagement's report, byte for byte (compliance); its media type is
/// the register's `report_type`.
#[utoipa::path(get, path = "/v1/compliance-audits/{id}/report", tag = "governance", params(("id" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 401),
              (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn engagement_report(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, bytes) = s.archive.oversight().engagement_report(&ctx, &id).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// A finding of an engagement that has started (compliance).
#[utoipa::path(post, path = "/v1/compliance-audits/{id}/findings", tag = "governance", params(("id" = String, Path)),
    request_body = FindingDto,
    responses((status = 201, body = FindingView), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 413), (status = 422)),
    security(("bearer" = [])))]
pub async fn raise_finding(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<FindingDto>,
) -> Result<(StatusCode, Json<FindingView>), ApiError> {
    let new = NewFinding::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.oversight().raise_finding(&ctx, &id, new).await?)))
}

/// An open finding marked fixed, with the evidence (compliance).
#[utoipa::path(post, path = "/v1/compliance-audits/{id}/findings/{n}/fix", tag = "governance",
    params(("id" = String, Path), ("n" = u32, Path)), request_body = FixDto,
    responses((status = 200, body = FindingView), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 413), (status = 422)),
    security(("bearer" = [])))]
pub async fn fix_finding(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((id, n)): Path<(String, String)>,
    Body(d): Body<FixDto>,
) -> Result<Json<FindingView>, ApiError> {
    Ok(Json(s.archive.oversight().fix_finding(&ctx, &id, number(&n), d.evidence.0).await?))
}

/// A second officer verifies a fix, or opens the finding again
/// (compliance; not the one who marked it fixed: 403 `four-eyes`).
#[utoipa::path(post, path = "/v1/compliance-audits/{id}/findings/{n}/verify", tag = "governance",
    params(("id" = String, Path), ("n" = u32, Path)), request_body = VerifyDto,
    responses((status = 200, body = FindingView), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 413), (status = 422)),
    security(("bearer" = [])))]
pub async fn verify_finding(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((id, n)): Path<(String, String)>,
    Body(d): Body<VerifyDto>,
) -> Result<Json<FindingView>, ApiError> {
    Ok(Json(s.archive.oversight().verify_finding(&ctx, &id, number(&n), d.accepted).await?))
}
