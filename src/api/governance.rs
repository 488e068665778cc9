//! `/v1/records-of-processing`: the records of processing activities
//! (compliance, auditor), as JSON or, with `Accept: text/csv`, CSV.

use super::error::ApiError;
use super::{AppState, Ctx};
use crate::archive::governance::RecordsOfProcessing;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new().route("/records-of-processing", get(records_of_processing))
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
    let records = s.archive.get_records_of_processing(&ctx).await?;
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
