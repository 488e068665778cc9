//! `/v1/incidents` (the incident register: compliance keeps it, auditors
//! read it) and `/v1/exports` (bulk exports, approved by a second officer
//! beyond the policy's limit).

use crate::archive::registers::{
    AffectedCriteria, AffectedSet, ExportView, IncidentView, NewExport, NewIncident, NewNotification, NoticeDraft,
};
use crate::domain::{Classification, Jurisdiction};
use crate::policy::registers::Notify;
use crate::web::body::{Body, Errors, Text};
use crate::web::commands::{AffectedDto, NewExportDto};
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
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

/// `POST /v1/incidents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncidentDto {
    /// When the incident was detected (RFC 3339).
    #[schema(format = DateTime)]
    pub detected_at: String,
    /// When the operator became aware that personal data was affected (RFC 3339; GDPR Art. 33(1) runs from it).
    #[schema(format = DateTime)]
    pub aware_at: String,
    /// A level of policies/incidents.toml.
    #[schema(min_length = 1, max_length = 64)]
    pub level: String,
    /// Whose persons it concerns: `CN`, `EU`, member states (default `CN`).
    #[schema(max_items = 30)]
    pub jurisdictions: Option<Vec<String>>,
    /// The classes of data concerned.
    #[schema(inline, min_items = 1, max_items = 5)]
    pub data_categories: Vec<Classification>,
    #[schema(inline)]
    pub description: Text,
    #[schema(inline)]
    pub cause: Text,
    #[schema(inline)]
    pub consequences: Option<Text>,
    #[schema(inline)]
    pub measures: Option<Text>,
    /// What the persons can do to reduce the harm (PIPL Art. 57(2)).
    #[schema(inline)]
    pub advice: Option<Text>,
    /// The contact point for the authority and the persons.
    #[schema(inline)]
    pub contact: Option<Text>,
    /// Whether any data key or the master key was compromised.
    pub keys_compromised: Option<bool>,
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
    let mut errors = Errors::default();
    let detected_at = errors.time("/detected_at", &d.detected_at);
    let aware_at = errors.time("/aware_at", &d.aware_at);
    if detected_at.zip(aware_at).is_some_and(|(detected, aware)| aware < detected) {
        errors.add("/aware_at", "before the detection: awareness follows it");
    }
    let mut jurisdictions = Vec::new();
    for (i, j) in d.jurisdictions.unwrap_or_default().iter().enumerate() {
        match Jurisdiction::parse(j) {
            Ok(j) => jurisdictions.push(j),
            Err(e) => errors.add(&format!("/jurisdictions/{i}"), &e),
        }
    }
    let new = errors
        .finish(detected_at.zip(aware_at).map(|(detected_at, aware_at)| NewIncident {
            detected_at,
            aware_at,
            level: d.level,
            jurisdictions,
            data_categories: d.data_categories,
            description: d.description.0,
            cause: d.cause.0,
            consequences: d.consequences.map(|t| t.0),
            measures: d.measures.map(|t| t.0),
            advice: d.advice.map(|t| t.0),
            contact: d.contact.map(|t| t.0),
            keys_compromised: d.keys_compromised,
        }))
        .map_err(ApiError::invalid)?;
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

/// `POST /v1/incidents/{id}/notifications`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationDto {
    #[schema(inline)]
    pub to: Notify,
    /// The authority notified, or how the persons were (sealed).
    #[schema(inline)]
    pub recipient: Text,
    /// When it was made (RFC 3339).
    #[schema(format = DateTime)]
    pub at: String,
    /// The authority's case number or the message's reference (sealed).
    #[schema(inline)]
    pub reference: Option<Text>,
    /// How many persons were told.
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    #[serde(default, deserialize_with = "whole_number")]
    pub persons: Option<u64>,
}

/// A JSON number that is a whole number (`12` or `12.0`, as JSON Schema's
/// `integer` allows), up to 2^53 - 1.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<f64>::deserialize(d)? else { return Ok(None) };
    if n.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&n) {
        Ok(Some(n as u64))
    } else {
        Err(serde::de::Error::custom("a whole number from 0 to 2^53 - 1"))
    }
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
    let mut errors = Errors::default();
    let at = errors.time("/at", &d.at);
    let n = errors
        .finish(at.map(|at| NewNotification {
            to: d.to,
            recipient: d.recipient.0,
            at,
            reference: d.reference.map(|t| t.0),
            persons: d.persons,
        }))
        .map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.registers().record_notification(&ctx, &id, n).await?)))
}

/// `POST /v1/incidents/{id}/exemption`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExemptionDto {
    /// Why the data is unintelligible to anyone not authorised (sealed).
    #[schema(inline)]
    pub reasoning: Text,
    /// Must be false: the exemption needs the keys uncompromised.
    pub keys_compromised: bool,
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
    if d.keys_compromised {
        let mut errors = Errors::default();
        errors.add(
            "/keys_compromised",
            "Art. 34(3)(a) needs the data unintelligible: it does not apply when keys are compromised",
        );
        errors.finish(Some(())).map_err(ApiError::invalid)?;
    }
    Ok((StatusCode::CREATED, Json(s.archive.registers().record_exemption(&ctx, &id, &d.reasoning.0).await?)))
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
