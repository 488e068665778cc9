//! `/v1/requests`: the data-subject request register (compliance keeps
//! it, auditors read it, service records requests it receives).

use crate::archive::registers::{NewRequest, RequestChange, RequestState, RequestView};
use crate::domain::RecipientId;
use crate::web::body::Body;
use crate::web::commands::{HandoverDto, NewRequestDto, RequestChangeDto};
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx};
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
        .route("/requests/{id}/handovers", post(prepare_handover))
        .route("/requests/{id}/access-report", get(super::access_report::kept_access_report))
        .route("/requests/{id}/handovers/{recipient}/content", get(collect_handover))
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
    let new = NewRequest::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.registers().create_request(&ctx, new).await?)))
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
    if q.subject.as_deref().is_some_and(|sid| crate::domain::SubjectId::parse(sid).is_err()) {
        return Err(ApiError::bad_request("subject must be a subject id (sub_...)"));
    }
    let requests = s.archive.registers().list_requests(&ctx, q.state, due_before, q.subject.as_deref()).await?;
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
    Ok(Json(s.archive.registers().get_request(&ctx, &id).await?))
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
    let change = RequestChange::try_from(d).map_err(ApiError::invalid)?;
    Ok(Json(s.archive.registers().change_request(&ctx, &id, change).await?))
}

/// Hand a verified, open portability request's data to another handler
/// the person named (GDPR Art. 20(2); PIPL Art. 45(3); NDSMR Art. 25):
/// the recipient must be on the recipients register and in term; its
/// principal collects the package once, within `handover_valid_hours`
/// (`policies/requests.toml`). Compliance, stating `dsr`.
#[utoipa::path(post, path = "/v1/requests/{id}/handovers", tag = "registers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    request_body = HandoverDto,
    responses((status = 201, body = RequestView, description = "the request, its handovers listing the new one"),
              (status = 400), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn prepare_handover(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<HandoverDto>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let recipient = RecipientId::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.registers().prepare_handover(&ctx, &id, recipient).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HandoverQuery {
    /// `json` (the default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
}

/// The recipient's principal collects the package: the portable part of the
/// person's data (`/schemas/subject-export.schema.json`, scope
/// `portability`, naming the request and the recipient), once.
#[utoipa::path(get, path = "/v1/requests/{id}/handovers/{recipient}/content", tag = "registers",
    params(("id" = String, Path), ("recipient" = String, Path), HandoverQuery,
           ("Accept" = Option<String>, Header, description = "text/csv for CSV; JSON otherwise")),
    responses((status = 200, content((Object = "application/json"), (String = "text/csv")),
               description = "see /schemas/subject-export.schema.json"),
              (status = 400), (status = 401), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn collect_handover(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((id, recipient)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    q: Result<Query<HandoverQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    let Query(q) = q.map_err(|_| ApiError::bad_request("unknown or repeated query parameter; allowed: format"))?;
    let csv = super::subjects::wants_csv(q.format.as_deref(), &headers)?;
    let export =
        crate::web::offload(&s, move |a| async move { a.registers().collect_handover(&ctx, &id, &recipient).await })
            .await?;
    super::subjects::export_response(export, csv)
}
