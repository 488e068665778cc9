//! `/v1/notices/{version}/owed` and `/v1/subjects/{sid}/notified`: telling
//! persons of a changed privacy notice (PIPL Art. 17(2)), compliance only.

use crate::archive::dossiers::{OwedPage, MAX_OWED_PAGE};
use crate::archive::subjects::{NewNotified, NotifiedView};
use crate::archive::NotifyChannel;
use crate::domain::dossier::FieldError;
use crate::web::body::{Body, Errors};
use crate::web::error::ApiError;
use crate::web::{offload, AppState, Ctx};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new().route("/notices/{version}/owed", get(owed)).route("/subjects/{sid}/notified", post(notified))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OwedQuery {
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^sub_[0-9a-z]{26}$")]
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// The persons owed a notification of a notice version (compliance): those
/// whose record shows only an earlier version that differs from it in
/// purposes, categories, recipients, transfers or methods; counts and
/// subject ids only, paged by id.
#[utoipa::path(get, path = "/v1/notices/{version}/owed", tag = "governance",
    params(("version" = String, Path), OwedQuery),
    responses((status = 200, body = OwedPage), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn owed(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(version): Path<String>,
    q: Result<Query<OwedQuery>, QueryRejection>,
) -> Result<Json<OwedPage>, ApiError> {
    let Query(q) =
        q.map_err(|_| ApiError::bad_request("unknown or repeated query parameter; allowed: cursor, limit"))?;
    if q.limit.is_some_and(|l| !(1..=MAX_OWED_PAGE).contains(&l)) {
        return Err(ApiError::bad_request(format!("limit: from 1 to {MAX_OWED_PAGE}")));
    }
    if q.cursor.as_deref().is_some_and(|c| crate::domain::SubjectId::parse(c).is_err()) {
        return Err(ApiError::bad_request("cursor: the next_cursor of the previous page"));
    }
    let limit = q.limit.unwrap_or(100);
    // Every person's records are read to count those owed: off the async workers.
    let page = offload(&s, move |a| async move {
        a.dossiers().notifications().list_owed(&ctx, &version, q.cursor.as_deref(), limit).await
    })
    .await?;
    Ok(Json(page))
}

/// `POST /v1/subjects/{sid}/notified`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifiedDto {
    /// The notice version the person was told of (notices.toml, in force).
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub version: String,
    #[schema(inline)]
    pub channel: NotifyChannel,
    /// When the person was told (RFC 3339; not in the future).
    #[schema(format = DateTime)]
    pub told_at: String,
}

impl TryFrom<NotifiedDto> for NewNotified {
    type Error = Vec<FieldError>;
    fn try_from(d: NotifiedDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let shape = |v: &str| {
            (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if !shape(&d.version) {
            errors.add("/version", "a notice version (letters, digits, . _ -; at most 64)");
        }
        let told_at = errors.time("/told_at", &d.told_at);
        errors.finish(told_at.map(|told_at| NewNotified { version: d.version, channel: d.channel, told_at }))
    }
}

/// Record that a person was told of a notice version (compliance): they
/// leave the version's owed list. Once per person and version (409 again).
#[utoipa::path(post, path = "/v1/subjects/{sid}/notified", tag = "subjects",
    params(("sid" = String, Path)),
    request_body = NotifiedDto,
    responses((status = 201, body = NotifiedView), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn notified(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
    Body(body): Body<NotifiedDto>,
) -> Result<(StatusCode, Json<NotifiedView>), ApiError> {
    let told = NewNotified::try_from(body).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.subjects().record_notified(&ctx, &sid, told).await?)))
}
