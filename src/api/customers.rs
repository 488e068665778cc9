//! Customer management: interactions, monthly figures, the grade (its
//! explanation and manual override), periodic reviews and the summary
//! report.

use crate::archive::customers::{
    DueReview, FigureRecord, GradeExplanation, InteractionPage, InteractionView, MonthFigures, NewInteraction,
    NewReview, Report, ReportBy, ReviewView,
};
use crate::archive::Created;
use crate::domain::dossier::Grade;
use crate::web::body::{Body, Errors};
use crate::web::commands::{FiguresDto, InteractionDto, ReviewDto};
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dossiers/{id}/interactions", post(add_interaction).get(list_interactions))
        .route("/dossiers/{id}/figures/{month}", put(put_figures))
        .route("/dossiers/{id}/grade", get(explain_grade).post(override_grade))
        .route("/dossiers/{id}/reviews", post(add_review))
        .route("/reviews/due", get(reviews_due))
        .route("/reports/summary", get(report))
        .route("/dossiers/export", get(export_list))
        .merge(
            Router::new()
                .route("/imports", post(import))
                // A sheet has the document limit (max_document_bytes), enforced while reading.
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
}

/// Record an interaction with the customer: sales on their own dossiers,
/// service in their region.
#[utoipa::path(post, path = "/v1/dossiers/{id}/interactions", tag = "customers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    request_body = InteractionDto,
    responses((status = 201, body = InteractionView), (status = 401), (status = 403), (status = 404), (status = 409),
              (status = 410), (status = 422)),
    security(("bearer" = [])))]
pub async fn add_interaction(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<InteractionDto>,
) -> Result<(StatusCode, Json<InteractionView>), ApiError> {
    let new = NewInteraction::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.customers().add_interaction(&ctx, &id, new).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^itr_[0-9a-z]{26}$")]
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

/// A dossier's interactions, oldest first; summaries as the policy shows
/// the dossier's confidential fields (and no more than the named person's).
#[utoipa::path(get, path = "/v1/dossiers/{id}/interactions", tag = "customers",
    params(("id" = String, Path), ("X-Purpose" = String, Header), PageQuery),
    responses((status = 200, body = InteractionPage), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 410)),
    security(("bearer" = [])))]
pub async fn list_interactions(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InteractionPage>, ApiError> {
    let Query(q) =
        q.map_err(|_| ApiError::bad_request("unknown or repeated query parameter; allowed: cursor, limit"))?;
    if q.limit.is_some_and(|l| !(1..=200).contains(&l)) {
        return Err(ApiError::bad_request("limit: from 1 to 200"));
    }
    Ok(Json(s.archive.customers().list_interactions(&ctx, &id, q.cursor.as_deref(), q.limit).await?))
}

/// Record a month's figures (a new revision; the latest counts); the
/// dossier is regraded.
#[utoipa::path(put, path = "/v1/dossiers/{id}/figures/{month}", tag = "customers",
    params(("id" = String, Path), ("month" = String, Path, description = "yyyy-mm"), ("X-Purpose" = String, Header)),
    request_body = FiguresDto,
    responses((status = 201, body = FigureRecord), (status = 401), (status = 403), (status = 404), (status = 409),
              (status = 410), (status = 422)),
    security(("bearer" = [])))]
pub async fn put_figures(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((id, month)): Path<(String, String)>,
    Body(d): Body<FiguresDto>,
) -> Result<(StatusCode, Json<FigureRecord>), ApiError> {
    let new = MonthFigures::try_from((month, d)).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.customers().put_figures(&ctx, &id, new).await?)))
}

/// The grade, what decided it (the rules or a manual override), the
/// inputs and every rule's checks.
#[utoipa::path(get, path = "/v1/dossiers/{id}/grade", tag = "customers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = GradeExplanation), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 410)),
    security(("bearer" = [])))]
pub async fn explain_grade(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<GradeExplanation>, ApiError> {
    Ok(Json(s.archive.customers().explain_grade(&ctx, &id).await?))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum GradeDto {
    A,
    B,
    C,
}

/// `POST /v1/dossiers/{id}/grade`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideDto {
    #[schema(inline)]
    pub grade: GradeDto,
    /// Why (sealed).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    pub reason: String,
}

/// A grade a person decides on a dossier (a manual override, the review of
/// a contest): the caller, the dossier the path names, and the body's grade
/// and reason, the reason checked for visible text. The prelude of both
/// handlers, extracted in the order they would (caller, path, body).
pub struct GradeDecision {
    pub(super) state: AppState,
    pub(super) ctx: crate::archive::RequestCtx,
    pub(super) id: String,
    pub(super) grade: Grade,
    pub(super) reason: String,
}

impl FromRequest<AppState> for GradeDecision {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Ctx(ctx) = Ctx::from_request_parts(&mut parts, state).await.map_err(IntoResponse::into_response)?;
        let Path(id) =
            Path::<String>::from_request_parts(&mut parts, state).await.map_err(IntoResponse::into_response)?;
        let Body(d) = Body::<OverrideDto>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (grade, reason) = d.checked().map_err(IntoResponse::into_response)?;
        Ok(GradeDecision { state: state.clone(), ctx, id, grade, reason })
    }
}

impl GradeDecision {
    /// 201 with the version that holds the decided grade.
    pub(super) fn created(created: Created) -> (StatusCode, Json<Created>) {
        (StatusCode::CREATED, Json(created))
    }
}

impl OverrideDto {
    /// The grade and the reason, the reason checked for visible text.
    fn checked(self) -> Result<(Grade, String), ApiError> {
        let mut errors = Errors::default();
        let reason = errors.visible("/reason", self.reason, 2000);
        errors.finish(Some(())).map_err(ApiError::invalid)?;
        let grade = match self.grade {
            GradeDto::A => Grade::A,
            GradeDto::B => Grade::B,
            GradeDto::C => Grade::C,
        };
        Ok((grade, reason))
    }
}

/// Set a grade by hand (whoever may update the dossier), with a reason; it
/// wins until the dossier's figures change.
#[utoipa::path(post, path = "/v1/dossiers/{id}/grade", tag = "customers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    request_body = OverrideDto,
    responses((status = 201, body = Object, description = "{id, version, hash, subjects}"), (status = 401),
              (status = 403), (status = 404), (status = 409), (status = 410), (status = 422)),
    security(("bearer" = [])))]
pub async fn override_grade(d: GradeDecision) -> Result<(StatusCode, Json<Created>), ApiError> {
    let created = d.state.archive.customers().override_grade(&d.ctx, &d.id, d.grade, &d.reason).await?;
    Ok(GradeDecision::created(created))
}

/// Record a periodic review; `contact_lost` starts the person's
/// `contact_lost` retention period.
#[utoipa::path(post, path = "/v1/dossiers/{id}/reviews", tag = "customers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    request_body = ReviewDto,
    responses((status = 201, body = ReviewView), (status = 401), (status = 403), (status = 404), (status = 409),
              (status = 410), (status = 422)),
    security(("bearer" = [])))]
pub async fn add_review(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<ReviewDto>,
) -> Result<(StatusCode, Json<ReviewView>), ApiError> {
    let new = NewReview::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.customers().add_review(&ctx, &id, new).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DueQuery {
    /// Only this owner's dossiers (`prn_…`).
    #[param(pattern = "^prn_[0-9a-z]{26}$")]
    pub owner: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DueDto {
    pub reviews: Vec<DueReview>,
}

/// Dossiers due for review within 14 days or overdue, soonest first (sales:
/// their own; service: their region; finance, compliance: all).
#[utoipa::path(get, path = "/v1/reviews/due", tag = "customers", params(DueQuery),
    responses((status = 200, body = DueDto), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn reviews_due(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    q: Result<Query<DueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DueDto>, ApiError> {
    let Query(q) = q.map_err(|_| ApiError::bad_request("unknown or repeated query parameter; allowed: owner"))?;
    if q.owner.as_deref().is_some_and(|o| crate::domain::PrincipalId::parse(o).is_err()) {
        return Err(ApiError::bad_request("owner: a principal id (prn_...)"));
    }
    Ok(Json(DueDto { reviews: s.archive.customers().list_reviews_due(&ctx, q.owner.as_deref()).await? }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    #[param(inline)]
    pub by: ReportBy,
}

/// Counts, order totals, review backlog, stale share, interactions by kind
/// and average satisfaction per group; cells under the minimum count
/// suppressed. JSON, or CSV with `Accept: text/csv`.
#[utoipa::path(get, path = "/v1/reports/summary", tag = "customers",
    params(ReportQuery, ("Accept" = Option<String>, Header, description = "text/csv for CSV; JSON otherwise")),
    responses((status = 200, content((Report = "application/json"), (String = "text/csv"))), (status = 400),
              (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn report(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|_| ApiError::bad_request("by: one of grade, region, industry, stage, owner"))?;
    let report = s.archive.customers().report_summary(&ctx, q.by).await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv")));
    if wants_csv {
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], report.to_csv()?).into_response());
    }
    Ok(Json(report).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Validate and report what would happen; change nothing.
    pub dry_run: Option<bool>,
    /// The owner of rows without an owner column (default: the caller).
    #[param(pattern = "^prn_[0-9a-z]{26}$")]
    pub owner: Option<String>,
    /// The privacy-notice version the persons of rows without a notice
    /// (告知版本) column were shown (PIPL Art. 17).
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub notice: Option<String>,
}

/// Import a sheet: `text/csv` (UTF-8), or an Excel workbook (.xlsx, first
/// sheet; .xls and .ods are refused: save as .xlsx). Columns by the default mapping (the seeds' Chinese headers or the
/// field names); each row created, or updated when its credit code is on
/// record; per-row errors name the row and column, never a value.
#[utoipa::path(post, path = "/v1/imports", tag = "customers",
    params(ImportQuery, ("X-Purpose" = String, Header)),
    request_body(content((String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
        description = "the sheet"),
    responses((status = 200, body = crate::archive::customers::ImportReport), (status = 400), (status = 401), (status = 403),
              (status = 413), (status = 415), (status = 422)),
    security(("bearer" = [])))]
pub async fn import(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    q: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Body,
) -> Result<Json<crate::archive::customers::ImportReport>, ApiError> {
    let Query(q) =
        q.map_err(|_| ApiError::bad_request("unknown or repeated query parameter; allowed: dry_run, owner, notice"))?;
    let ask = crate::web::import::ImportAsk { owner: q.owner, notice: q.notice, dry_run: q.dry_run.unwrap_or(false) };
    ask.check()?;
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let format = crate::web::import::format_of_media(media)?;
    Ok(Json(crate::web::import::import(&s, &ctx, &ask, format, body.into_data_stream()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `csv` (the only format).
    #[param(pattern = "^csv$")]
    pub format: Option<String>,
    #[param(pattern = "^[ABC]$")]
    pub grade: Option<String>,
    #[param(max_length = 100)]
    pub region: Option<String>,
    #[param(pattern = "^(prospect|active|closed)$")]
    pub status: Option<String>,
    #[param(pattern = "^prn_[0-9a-z]{26}$")]
    pub owner: Option<String>,
}

/// The caller's list as CSV in the import's columns (one row per contact
/// person), each dossier as the policy lets the caller read it (masked
/// values masked, withheld ones empty), every read audited; more than
/// exports.toml's `max_items` dossiers is a 409: ask for a bulk export.
#[utoipa::path(get, path = "/v1/dossiers/export", tag = "customers",
    params(ExportQuery, ("X-Purpose" = String, Header)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400), (status = 401), (status = 403),
              (status = 409)),
    security(("bearer" = [])))]
pub async fn export_list(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    q: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|_| {
        ApiError::bad_request("unknown or repeated query parameter; allowed: format, grade, region, status, owner")
    })?;
    let filter =
        crate::archive::customers::ExportFilter { grade: q.grade, region: q.region, status: q.status, owner: q.owner };
    if q.format.as_deref().is_some_and(|f| f != "csv") {
        return Err(ApiError::bad_request("format: csv"));
    }
    filter.check().map_err(ApiError::bad_request)?;
    let csv = s.archive.customers().export_list(&ctx, &filter).await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}
