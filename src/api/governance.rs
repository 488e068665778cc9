//! `/v1/officer`: the personal-information protection officer (PIPL Art.
//! 52) and the count of persons that makes one required.
//! `/v1/records-of-processing`: the records of processing activities
//! (compliance, auditor), as JSON or, with `Accept: text/csv`, CSV.

use crate::archive::governance::{
    AssessmentView, Coverage, NewAssessment, NewOfficer, OfficerStatus, OfficerView, RecordsOfProcessing,
};
use crate::web::body::Body;
use crate::web::commands::{AssessmentDto, OfficerDto};
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/records-of-processing", get(records_of_processing))
        .route("/assessments", axum::routing::post(create_assessment).get(list_assessments))
        .route("/assessments/{id}/report", get(assessment_report))
        .route("/assessments/coverage", get(assessment_coverage))
        .route("/officer", get(officer).put(record_officer))
}

/// Record an impact assessment (compliance): the purposes it covers become
/// usable where purposes.toml says `requires_assessment`.
#[utoipa::path(post, path = "/v1/assessments", tag = "governance",
    request_body = AssessmentDto,
    responses((status = 201, body = AssessmentView), (status = 400), (status = 401), (status = 403), (status = 413),
              (status = 422)),
    security(("bearer" = [])))]
pub async fn create_assessment(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Body(d): Body<AssessmentDto>,
) -> Result<(StatusCode, Json<AssessmentView>), ApiError> {
    let new = NewAssessment::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.governance().create_assessment(&ctx, new).await?)))
}

#[derive(Serialize, ToSchema)]
pub struct AssessmentsDto {
    pub assessments: Vec<AssessmentView>,
}

/// The impact-assessment register (compliance, auditor without conclusions).
#[utoipa::path(get, path = "/v1/assessments", tag = "governance",
    responses((status = 200, body = AssessmentsDto), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list_assessments(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<AssessmentsDto>, ApiError> {
    Ok(Json(AssessmentsDto { assessments: s.archive.governance().list_assessments(&ctx).await? }))
}

/// What waits for an impact assessment and what covers it (compliance,
/// auditor): each kind of processing of policies/assessments.toml, each
/// purpose flagged `requires_assessment`, and the recipient and transfer
/// records in force that name no assessment.
#[utoipa::path(get, path = "/v1/assessments/coverage", tag = "governance",
    responses((status = 200, body = Coverage), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn assessment_coverage(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<Coverage>, ApiError> {
    Ok(Json(s.archive.governance().get_coverage(&ctx).await?))
}

/// An assessment's report document, byte for byte (compliance); its media
/// type is the register's `report_type`.
#[utoipa::path(get, path = "/v1/assessments/{id}/report", tag = "governance", params(("id" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 401),
              (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn assessment_report(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // As stored, byte for byte; its media type is in the register (`report_type`).
    let (_, bytes) = s.archive.governance().assessment_report(&ctx, &id).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// The records of processing (GDPR Art. 30; PIPL Art. 56), generated from
/// the active policy files: per purpose its basis, data categories (what
/// each role sees, from the template's classes), recipients, transfers,
/// retention rules, security measures and assessments.
#[utoipa::path(get, path = "/v1/records-of-processing", tag = "governance",
    params(("Accept" = Option<String>, Header, description = "text/csv for CSV; JSON otherwise")),
    responses((status = 200, content((RecordsOfProcessing = "application/json"), (String = "text/csv"))),
              (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn records_of_processing(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let records = s.archive.governance().get_records_of_processing(&ctx).await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv")));
    if wants_csv {
        let body = records.to_csv()?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(Json(records).into_response())
}

/// The personal-information protection officer on record, their history,
/// and whether the persons on record make one required (compliance; an
/// auditor sees no name or contact).
#[utoipa::path(get, path = "/v1/officer", tag = "governance",
    responses((status = 200, body = OfficerStatus), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn officer(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<OfficerStatus>, ApiError> {
    Ok(Json(s.archive.governance().officer_status(&ctx).await?))
}

/// Record the officer, or the report of the current one to the regulator
/// (compliance); appended to the history, never overwritten.
#[utoipa::path(put, path = "/v1/officer", tag = "governance",
    request_body = OfficerDto,
    responses((status = 200, body = OfficerView), (status = 400), (status = 401), (status = 403), (status = 409),
              (status = 413), (status = 422)),
    security(("bearer" = [])))]
pub async fn record_officer(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Body(d): Body<OfficerDto>,
) -> Result<Json<OfficerView>, ApiError> {
    let new = NewOfficer::try_from(d).map_err(ApiError::invalid)?;
    Ok(Json(s.archive.governance().record_officer(&ctx, new).await?))
}
