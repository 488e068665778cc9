//! `/v1/search`.

use crate::archive::SearchPage;
use crate::web::error::ApiError;
use crate::web::{offload, AppState, Ctx};
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/search", get(search))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    grade: Option<String>,
    region: Option<String>,
    /// 1..=100, default 20
    limit: Option<String>,
    cursor: Option<String>,
}

/// Full-text search (Chinese and Latin) over the searchable business fields,
/// and exact personal values (a full phone number, an email, a name) through
/// the blind index. Only dossiers the caller may read appear; the fields
/// shown obey the read policy. Audited (`search`), the query as a keyed hash.
#[utoipa::path(get, path = "/v1/search", tag = "search",
    params(("q" = Option<String>, Query, max_length = 500), ("grade" = Option<String>, Query, pattern = "^[ABC]?$"),
           ("region" = Option<String>, Query), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100),
           ("cursor" = Option<String>, Query, pattern = "^o(10000|[0-9]{1,4})$", description = "`next_cursor` of the previous page"),
           ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object, description = "{hits: [{id, score, customer_name, grade, region}], next_cursor}"),
              (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn search(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SearchPage>, ApiError> {
    let Query(p) = params.map_err(|_| ApiError::bad_request("parameters: q, grade, region, limit, cursor"))?;
    let limit = match p.limit.as_deref() {
        None => None,
        Some(l) => Some(
            l.parse::<usize>()
                .ok()
                .filter(|l| (1..=100).contains(l))
                .ok_or_else(|| ApiError::bad_request("limit must be 1 to 100"))?,
        ),
    };
    let page = offload(&s, move |a| async move {
        a.dossiers().search(&ctx, &p.q, p.grade.as_deref(), p.region.as_deref(), limit, p.cursor.as_deref()).await
    })
    .await?;
    Ok(Json(page))
}
