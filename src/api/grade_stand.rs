//! A person's stand against their automated grade (PIPL Art. 24(3); GDPR
//! Art. 22(3)): a contest, an objection and its withdrawal, each on the
//! person's own verified request; and the human review that ends a
//! contest.

use super::customers::{GradeDecision, OverrideDto};
use crate::archive::customers::Stand;
use crate::archive::Created;
use crate::archive::GradeStand;
use crate::domain::dossier::FieldError;
use crate::domain::RequestId;
use crate::web::body::Body;
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dossiers/{id}/grade/contest", post(contest))
        .route("/dossiers/{id}/grade/objection", post(object))
        .route("/dossiers/{id}/grade/objection/withdraw", post(withdraw))
        .route("/dossiers/{id}/grade/review", post(review))
}

/// The person's request a stand rests on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StandDto {
    /// Their verified, open request (`req_...`).
    #[schema(pattern = "^req_[0-9a-z]{26}$", max_length = 30)]
    pub request: String,
}

impl StandDto {
    fn request(&self) -> Result<RequestId, ApiError> {
        RequestId::parse(&self.request).map_err(|_| {
            ApiError::invalid(vec![FieldError { path: "/request".into(), message: "not a request id".into() }])
        })
    }
}

/// What taking a stand answers: the grade's stand as the dossier now holds
/// it. One answer for the three stands, in the document (200) and on the
/// wire; their refusals are the annotations', and what every operation
/// shares is added by `openapi.rs`.
#[derive(utoipa::IntoResponses)]
#[response(status = 200, description = "the grade's stand as the dossier now holds it")]
pub struct Taken(#[to_schema] GradeStand);

impl IntoResponse for Taken {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

async fn take(s: AppState, ctx: Ctx, id: String, d: StandDto, stand: Stand) -> Result<Taken, ApiError> {
    let rid = d.request()?;
    let Ctx(ctx) = ctx;
    Ok(Taken(s.archive.registers().take_grade_stand(&ctx, &id, rid.as_str(), stand).await?))
}

/// Contest a natural-person customer's grade on its proprietor's verified
/// `contest` request (compliance): no automated change until finance or
/// compliance reviews it.
#[utoipa::path(post, path = "/v1/dossiers/{id}/grade/contest", tag = "customers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    request_body = StandDto,
    responses(Taken, (status = 403), (status = 404), (status = 409), (status = 410)),
    security(("bearer" = [])))]
pub async fn contest(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(d): Body<StandDto>,
) -> Result<Taken, ApiError> {
    take(s, ctx, id, d, Stand::Contest).await
}

/// Record the proprietor's refusal of decisions by automated means alone,
/// on their verified `automated_objection` request (compliance): no
/// automated grading of the dossier until withdrawn.
#[utoipa::path(post, path = "/v1/dossiers/{id}/grade/objection", tag = "customers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    request_body = StandDto,
    responses(Taken, (status = 403), (status = 404), (status = 409), (status = 410)),
    security(("bearer" = [])))]
pub async fn object(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(d): Body<StandDto>,
) -> Result<Taken, ApiError> {
    take(s, ctx, id, d, Stand::Object).await
}

/// Withdraw the proprietor's objection on their verified `withdrawal`
/// request (compliance): automated grading resumes.
#[utoipa::path(post, path = "/v1/dossiers/{id}/grade/objection/withdraw", tag = "customers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    request_body = StandDto,
    responses(Taken, (status = 403), (status = 404), (status = 409), (status = 410)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(d): Body<StandDto>,
) -> Result<Taken, ApiError> {
    take(s, ctx, id, d, Stand::Withdraw).await
}

/// Review a contested grade (finance or compliance, never the customer's
/// account manager): keep it or set another, with a reason (sealed); the
/// contest ends in the same version.
#[utoipa::path(post, path = "/v1/dossiers/{id}/grade/review", tag = "customers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)), request_body = OverrideDto,
    responses((status = 201, body = Object, description = "the version with the decided grade: {id, version, hash, subjects}"),
              (status = 401), (status = 403), (status = 404), (status = 409), (status = 410), (status = 422)),
    security(("bearer" = [])))]
pub async fn review(d: GradeDecision) -> Result<(StatusCode, Json<Created>), ApiError> {
    let created = d.state.archive.customers().review_grade(&d.ctx, &d.id, (d.grade, &d.reason)).await?;
    Ok(GradeDecision::created(created))
}
