//! `/v1/requests` (the data-subject request register) and `/v1/incidents`
//! (the incident register): compliance keeps them, auditors read them,
//! service records requests it receives.

use super::body::{Body, Errors};
use super::error::ApiError;
use super::{AppState, Ctx};
use crate::archive::registers::{
    AffectedCriteria, AffectedSet, Answer, AnswerKind, Channel, IncidentView, NewIncident, NewNotification, NewRequest,
    NoticeDraft, RequestChange, RequestKind, RequestState, RequestView, Verification, VerificationMethod,
};
use crate::domain::{Classification, Jurisdiction, PrincipalId};
use crate::policy::registers::Notify;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/requests", post(create_request).get(list_requests))
        .route("/requests/{id}", get(get_request).patch(change_request))
        .route("/incidents", post(create_incident).get(list_incidents))
        .route("/incidents/{id}", get(get_incident))
        .route("/incidents/{id}/affected", post(derive_affected))
        .route("/incidents/{id}/affected/{n}", get(affected_list))
        .route("/incidents/{id}/notifications", post(notify))
        .route("/incidents/{id}/exemption", post(exemption))
        .route("/incidents/{id}/notice", get(notice))
}

fn time(errors: &mut Errors, path: &str, v: &Option<String>) -> Option<OffsetDateTime> {
    v.as_ref().and_then(|s| errors.time(path, s))
}

/// How the person's identity was verified.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationDto {
    #[schema(inline)]
    pub method: VerificationMethod,
    /// The principal who verified it (`prn_...`).
    #[schema(pattern = "^prn_[0-9a-z]{26}$")]
    pub verified_by: String,
    /// Details (sealed under the person's key).
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 4000
    )]
    pub note: Option<String>,
}

fn verification(errors: &mut Errors, path: &str, v: Option<VerificationDto>) -> Option<Verification> {
    let v = v?;
    match PrincipalId::parse(&v.verified_by) {
        Ok(by) => Some(Verification { method: v.method, verified_by: by, note: v.note }),
        Err(_) => {
            errors.add(&format!("{path}/verified_by"), "a principal id (prn_...)");
            None
        }
    }
}

/// `POST /v1/requests`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequestDto {
    /// The person (`sub_...`).
    #[schema(pattern = "^sub_[0-9a-z]{26}$")]
    pub subject_id: String,
    #[schema(inline)]
    pub kind: RequestKind,
    /// For an objection or a withdrawal: the purpose it concerns.
    #[schema(min_length = 1, max_length = 64)]
    pub purpose: Option<String>,
    /// When the request reached the operator (RFC 3339): the period runs from it.
    #[schema(format = DateTime)]
    pub received_at: String,
    #[schema(inline)]
    pub channel: Channel,
    /// What the person asked (sealed under their key).
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 4000
    )]
    pub details: Option<String>,
    /// Given: the request is recorded as verified.
    #[schema(inline)]
    pub verification: Option<VerificationDto>,
}

/// A data-subject request: when it came, who verified the person, when it is due.
#[utoipa::path(post, path = "/v1/requests", tag = "registers",
    request_body = NewRequestDto,
    responses((status = 201, body = RequestView), (status = 400), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_request(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Body(d): Body<NewRequestDto>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let mut errors = Errors::default();
    let received_at = errors.time("/received_at", &d.received_at);
    let verification = verification(&mut errors, "/verification", d.verification);
    let new = errors
        .finish(received_at.map(|received_at| NewRequest {
            subject: d.subject_id,
            kind: d.kind,
            purpose: d.purpose,
            received_at,
            channel: d.channel,
            details: d.details,
            verification,
        }))
        .map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.create_request(&ctx, new).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RequestQuery {
    #[param(inline)]
    state: Option<RequestState>,
    /// RFC 3339: only requests due before it.
    #[param(value_type = Option<String>, format = DateTime)]
    due_before: Option<String>,
    /// Only this person's requests (`sub_...`).
    #[param(pattern = "^sub_[0-9a-z]{26}$")]
    subject: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RequestsDto {
    pub requests: Vec<RequestView>,
}

/// The officer's queue: requests by due date (compliance, auditor).
#[utoipa::path(get, path = "/v1/requests", tag = "registers", params(RequestQuery),
    responses((status = 200, body = RequestsDto), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list_requests(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    q: Result<Query<RequestQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RequestsDto>, ApiError> {
    let Query(q) = q.map_err(|_| {
        ApiError::bad_request(
            "unknown, repeated or malformed query parameter; allowed: state (received, verified, in_progress, completed, refused), due_before, subject",
        )
    })?;
    let due_before = q
        .due_before
        .map(|t| {
            OffsetDateTime::parse(&t, &Rfc3339)
                .map_err(|_| ApiError::bad_request("due_before must be an RFC 3339 time"))
        })
        .transpose()?;
    let requests = s.archive.list_requests(&ctx, q.state, due_before, q.subject.as_deref()).await?;
    Ok(Json(RequestsDto { requests }))
}

/// One request (compliance, auditor).
#[utoipa::path(get, path = "/v1/requests/{id}", tag = "registers", params(("id" = String, Path)),
    responses((status = 200, body = RequestView), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_request(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(s.archive.get_request(&ctx, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerDto {
    #[schema(inline)]
    pub kind: AnswerKind,
    /// The audit entry's seq, or the certificate id.
    #[schema(min_length = 1, max_length = 64)]
    pub reference: String,
}

/// `PATCH /v1/requests/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestChangeDto {
    /// The new state.
    #[schema(inline)]
    pub state: Option<RequestState>,
    /// With `verified`: how and by whom.
    #[schema(inline)]
    pub verification: Option<VerificationDto>,
    /// With `completed`: what answered it.
    #[schema(inline, max_items = 20)]
    pub answered_by: Option<Vec<AnswerDto>>,
    /// With `refused`: a code of policies/requests.toml.
    #[schema(min_length = 1, max_length = 64)]
    pub reason_code: Option<String>,
    /// With `refused`: the reasons given to the person (sealed).
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 4000
    )]
    pub reason: Option<String>,
    /// Extends the period once, where the law allows (sealed).
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 4000
    )]
    pub extension_reason: Option<String>,
}

/// Move a request on (compliance): verify, start, complete (with what
/// answered it), refuse (with a reason code and text), or extend its period.
#[utoipa::path(patch, path = "/v1/requests/{id}", tag = "registers", params(("id" = String, Path)),
    request_body = RequestChangeDto,
    responses((status = 200, body = RequestView), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn change_request(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<RequestChangeDto>,
) -> Result<Json<RequestView>, ApiError> {
    let mut errors = Errors::default();
    let verification = verification(&mut errors, "/verification", d.verification);
    let change = errors
        .finish(Some(RequestChange {
            state: d.state,
            verification,
            answered_by: d
                .answered_by
                .unwrap_or_default()
                .into_iter()
                .map(|a| Answer { kind: a.kind, reference: a.reference, action: String::new() })
                .collect(),
            reason_code: d.reason_code,
            reason: d.reason,
            extension_reason: d.extension_reason,
        }))
        .map_err(ApiError::invalid)?;
    Ok(Json(s.archive.change_request(&ctx, &id, change).await?))
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
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 8000
    )]
    pub description: String,
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 8000
    )]
    pub cause: String,
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 8000
    )]
    pub consequences: Option<String>,
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 8000
    )]
    pub measures: Option<String>,
    /// What the persons can do to reduce the harm (PIPL Art. 57(2)).
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 8000
    )]
    pub advice: Option<String>,
    /// The contact point for the authority and the persons.
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 8000
    )]
    pub contact: Option<String>,
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
            description: d.description,
            cause: d.cause,
            consequences: d.consequences,
            measures: d.measures,
            advice: d.advice,
            contact: d.contact,
            keys_compromised: d.keys_compromised,
        }))
        .map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.create_incident(&ctx, new).await?)))
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
    Ok(Json(IncidentsDto { incidents: s.archive.list_incidents(&ctx).await? }))
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
    Ok(Json(s.archive.get_incident(&ctx, &id).await?))
}

/// `POST /v1/incidents/{id}/affected`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AffectedDto {
    /// Only what this principal was shown (`prn_...`).
    #[schema(pattern = "^prn_[0-9a-z]{26}$")]
    pub actor: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub to: Option<String>,
    /// Only what was shown of these dossiers.
    #[schema(max_items = 1000)]
    pub dossiers: Option<Vec<String>>,
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
    let mut errors = Errors::default();
    let from = time(&mut errors, "/from", &d.from);
    let to = time(&mut errors, "/to", &d.to);
    let c = errors
        .finish(Some(AffectedCriteria { actor: d.actor, from, to, dossiers: d.dossiers.unwrap_or_default() }))
        .map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.derive_affected(&ctx, &id, c).await?)))
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
    Ok(Json(AffectedListDto { set: n, subjects: s.archive.affected_list(&ctx, &id, n).await? }))
}

/// `POST /v1/incidents/{id}/notifications`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationDto {
    #[schema(inline)]
    pub to: Notify,
    /// The authority notified, or how the persons were (sealed).
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 8000
    )]
    pub recipient: String,
    /// When it was made (RFC 3339).
    #[schema(format = DateTime)]
    pub at: String,
    /// The authority's case number or the message's reference (sealed).
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 8000
    )]
    pub reference: Option<String>,
    /// How many persons were told.
    #[schema(minimum = 0)]
    pub persons: Option<u64>,
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
            recipient: d.recipient,
            at,
            reference: d.reference,
            persons: d.persons,
        }))
        .map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.record_notification(&ctx, &id, n).await?)))
}

/// `POST /v1/incidents/{id}/exemption`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExemptionDto {
    /// Why the data is unintelligible to anyone not authorised (sealed).
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 8000
    )]
    pub reasoning: String,
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
    Ok((StatusCode::CREATED, Json(s.archive.record_exemption(&ctx, &id, &d.reasoning, d.keys_compromised).await?)))
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
    Ok(Json(s.archive.incident_notice(&ctx, &id).await?))
}
