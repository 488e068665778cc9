//! `/v1/incidents` (the incident register: compliance keeps it, auditors
//! read it) and `/v1/exports` (bulk exports, approved by a second officer
//! beyond the policy's limit).

use crate::archive::registers::{
    AffectedCriteria, AffectedSet, ExportView, IncidentView, NewExport, NewIncident, NewNotification, NoticeDraft,
};
use crate::web::body::Body;
use crate::web::commands::{
    AffectedDto, ExemptionDto, ExemptionReasoning, NewExportDto, NewIncidentDto, NotificationDto,
};
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/incidents", post(create_incident).get(list_incidents))
        .route("/incidents/{id}", get(get_incident))
        .route("/incidents/{id}/affected", post(derive_affected))
        .route("/incidents/{id}/affected/{n}", get(affected_list))
        .route("/incidents/{id}/notifications", post(notify))
        .route("/incidents/{id}/exemption", post(exemption))
        .route("/incidents/{id}/notice", get(notice))
        .route("/exports", post(create_export))
        .route("/exports/{id}", get(get_export))
        .route("/exports/{id}/approve", post(approve_export))
        .route("/exports/{id}/content", get(export_content))
}

/// Record an incident (compliance): its deadlines follow from policies/incidents.toml.
#[utoipa::path(post, path = "/v1/incidents", tag = "registers",
    request_body = NewIncidentDto,
    responses((status = 201, body = IncidentView), (status = 400), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_incident(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Body(d): Body<NewIncidentDto>,
) -> Result<(StatusCode, Json<IncidentView>), ApiError> {
    let new = NewIncident::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.registers().create_incident(&ctx, new).await?)))
}

#[derive(Serialize, ToSchema)]
pub struct IncidentsDto {
    pub incidents: Vec<IncidentView>,
}

/// The incident register, newest first (compliance, auditor).
#[utoipa::path(get, path = "/v1/incidents", tag = "registers",
    responses((status = 200, body = IncidentsDto), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list_incidents(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<IncidentsDto>, ApiError> {
    Ok(Json(IncidentsDto { incidents: s.archive.registers().list_incidents(&ctx).await? }))
}

/// One incident with its deadlines (compliance, auditor).
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "registers", params(("id" = String, Path)),
    responses((status = 200, body = IncidentView), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_incident(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, ApiError> {
    Ok(Json(s.archive.registers().get_incident(&ctx, &id).await?))
}

/// Derive from the audit log the persons whose data was shown (clear or
/// masked) by an actor, in a time window, of some dossiers: a count and a
/// sealed list (compliance).
#[utoipa::path(post, path = "/v1/incidents/{id}/affected", tag = "registers", params(("id" = String, Path)),
    request_body = AffectedDto,
    responses((status = 201, body = AffectedSet), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 422)),
    security(("bearer" = [])))]
pub async fn derive_affected(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<AffectedDto>,
) -> Result<(StatusCode, Json<AffectedSet>), ApiError> {
    let c = AffectedCriteria::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.registers().derive_affected(&ctx, &id, c).await?)))
}

#[derive(Serialize, ToSchema)]
pub struct AffectedListDto {
    pub set: u32,
    pub subjects: Vec<String>,
}

/// The persons of one affected set, to notify them (compliance; audited).
#[utoipa::path(get, path = "/v1/incidents/{id}/affected/{n}", tag = "registers",
    params(("id" = String, Path), ("n" = u32, Path)),
    responses((status = 200, body = AffectedListDto), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn affected_list(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((id, n)): Path<(String, String)>,
) -> Result<Json<AffectedListDto>, ApiError> {
    let n: u32 = n.parse().map_err(|_| ApiError::bad_request("n is the number of an affected set"))?;
    Ok(Json(AffectedListDto { set: n, subjects: s.archive.registers().affected_list(&ctx, &id, n).await? }))
}

/// Record a notification to the authority or to the persons (compliance).
#[utoipa::path(post, path = "/v1/incidents/{id}/notifications", tag = "registers", params(("id" = String, Path)),
    request_body = NotificationDto,
    responses((status = 201, body = IncidentView), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 422)),
    security(("bearer" = [])))]
pub async fn notify(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<NotificationDto>,
) -> Result<(StatusCode, Json<IncidentView>), ApiError> {
    let n = NewNotification::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.registers().record_notification(&ctx, &id, n).await?)))
}

/// Record the GDPR Art. 34(3)(a) exemption from telling the persons (data
/// unintelligible: keys not compromised) with its reasoning (compliance).
#[utoipa::path(post, path = "/v1/incidents/{id}/exemption", tag = "registers", params(("id" = String, Path)),
    request_body = ExemptionDto,
    responses((status = 201, body = IncidentView), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn exemption(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<ExemptionDto>,
) -> Result<(StatusCode, Json<IncidentView>), ApiError> {
    let ExemptionReasoning(reasoning) = ExemptionReasoning::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.registers().record_exemption(&ctx, &id, &reasoning).await?)))
}

/// The draft notice: every element the laws require, and what is missing (compliance).
#[utoipa::path(get, path = "/v1/incidents/{id}/notice", tag = "registers", params(("id" = String, Path)),
    responses((status = 200, body = NoticeDraft), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn notice(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<NoticeDraft>, ApiError> {
    Ok(Json(s.archive.registers().incident_notice(&ctx, &id).await?))
}

/// Ask for a bulk export of dossiers and persons under the stated purpose:
/// ready at once up to policies/exports.toml's `max_items`, else awaiting a
/// second compliance officer's approval (202).
#[utoipa::path(post, path = "/v1/exports", tag = "registers",
    params(("X-Purpose" = String, Header)),
    request_body = NewExportDto,
    responses((status = 201, body = ExportView), (status = 202, body = ExportView), (status = 400), (status = 401),
              (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_export(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Body(d): Body<NewExportDto>,
) -> Result<(StatusCode, Json<ExportView>), ApiError> {
    let x = NewExport::try_from(d).map_err(ApiError::invalid)?;
    let v = s.archive.registers().create_export(&ctx, x).await?;
    let status = if v.needs_approval { StatusCode::ACCEPTED } else { StatusCode::CREATED };
    Ok((status, Json(v)))
}

/// An export's state (the asker, compliance, auditor).
#[utoipa::path(get, path = "/v1/exports/{id}", tag = "registers", params(("id" = String, Path)),
    responses((status = 200, body = ExportView), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_export(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<ExportView>, ApiError> {
    Ok(Json(s.archive.registers().get_export(&ctx, &id).await?))
}

/// Approve a bulk export (compliance, not the asker).
#[utoipa::path(post, path = "/v1/exports/{id}/approve", tag = "registers", params(("id" = String, Path)),
    responses((status = 200, body = ExportView), (status = 401), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn approve_export(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<ExportView>, ApiError> {
    Ok(Json(s.archive.registers().approve_export(&ctx, &id).await?))
}

/// Download a ready export, once (the asker, stating the export's purpose):
/// each dossier and person read with the asker's permissions, each audited.
#[utoipa::path(get, path = "/v1/exports/{id}/content", tag = "registers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409)),
    security(("bearer" = [])))]
pub async fn export_content(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(crate::web::offload(&s, move |a| async move { a.registers().export_content(&ctx, &id).await }).await?))
}
