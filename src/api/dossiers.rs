//! `/v1/dossiers`.

use crate::archive::{Created, DossierView, VersionInfo};
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx, JsonBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dossiers", post(create))
        .route("/dossiers/{id}", get(read).put(update))
        .route("/dossiers/{id}/versions", get(versions))
        .route("/dossiers/{id}/versions/{v}", get(read_version))
}

#[derive(Serialize, ToSchema)]
pub struct CreatedDto {
    pub id: String,
    pub version: u32,
    /// SHA-256 of the stored version record, hex.
    pub hash: String,
    /// One per contact, in order.
    pub subjects: Vec<String>,
}

impl From<Created> for CreatedDto {
    fn from(c: Created) -> Self {
        CreatedDto {
            id: c.id.to_string(),
            version: c.version,
            hash: c.hash,
            subjects: c.subjects.into_iter().map(String::from).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RedactionDto {
    pub path: String,
    /// masked, withheld or erased
    pub reason: String,
}

/// The dossier fields (see the Dossier schema) plus these.
#[derive(Serialize, ToSchema)]
pub struct DossierReadDto {
    pub id: String,
    pub version: u32,
    pub hash: String,
    pub redactions: Vec<RedactionDto>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionDto {
    pub version: u32,
    pub hash: String,
    pub prev_hash: Option<String>,
    pub created_at: String,
    pub actor: String,
}

impl From<VersionInfo> for VersionDto {
    fn from(v: VersionInfo) -> Self {
        VersionDto {
            version: v.version,
            hash: v.hash,
            prev_hash: v.prev_hash,
            created_at: v.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            actor: v.actor,
        }
    }
}

fn view_response(v: DossierView) -> Response {
    let version = v.version;
    let mut resp = Json(v.into_json()).into_response();
    if let Ok(etag) = format!("\"{version}\"").parse() {
        resp.headers_mut().insert(header::ETAG, etag);
    }
    resp
}

/// Create a dossier from the template.
#[utoipa::path(post, path = "/v1/dossiers", tag = "dossiers",
    params(("X-Purpose" = String, Header, description = "purpose id from policies/purposes.toml")),
    request_body(content = serde_json::Value, description = "a document valid against schemas/dossier.schema.json (components/schemas/Dossier)"),
    responses((status = 201, body = CreatedDto), (status = 400), (status = 401), (status = 403), (status = 413), (status = 415), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<CreatedDto>), ApiError> {
    let created = s.archive.dossiers().create_dossier(&ctx, &body).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Read the current version as the caller may see it.
#[utoipa::path(get, path = "/v1/dossiers/{id}", tag = "dossiers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = DossierReadDto, description = "the dossier fields plus id, version, hash, redactions"),
              (status = 400), (status = 401), (status = 403), (status = 404), (status = 410)),
    security(("bearer" = [])))]
pub async fn read(State(s): State<AppState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(view_response(s.archive.dossiers().read_dossier(&ctx, &id, None).await?))
}

/// Read one version, with the same masking as the current one.
#[utoipa::path(get, path = "/v1/dossiers/{id}/versions/{v}", tag = "dossiers",
    params(("id" = String, Path), ("v" = u32, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = DossierReadDto), (status = 400), (status = 401), (status = 403), (status = 404), (status = 410)),
    security(("bearer" = [])))]
pub async fn read_version(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((id, v)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let v: u32 = v
        .parse()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| ApiError::bad_request("version must be a positive integer"))?;
    Ok(view_response(s.archive.dossiers().read_dossier(&ctx, &id, Some(v)).await?))
}

/// `PUT /v1/dossiers/{id}`: the rectification request the change carries out.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UpdateQuery {
    /// A verified, open rectification request (`req_...`) of a person the
    /// change corrects (PIPL Art. 46; GDPR Art. 16): the request lists the
    /// version, and is completed only once one is listed.
    #[param(pattern = "^req_[0-9a-z]{26}$")]
    pub request: Option<String>,
}

/// Replace the dossier with a new version. `If-Match` names the version the
/// change is based on; `request` names the rectification it carries out.
#[utoipa::path(put, path = "/v1/dossiers/{id}", tag = "dossiers",
    params(("id" = String, Path), ("X-Purpose" = String, Header), ("If-Match" = String, Header, pattern = "^(W/)?\"?[0-9]{1,9}\"?$", description = "the current version number"), UpdateQuery),
    request_body(content = serde_json::Value, description = "a document valid against components/schemas/Dossier"),
    responses((status = 200, body = CreatedDto), (status = 400), (status = 401), (status = 403), (status = 404), (status = 412), (status = 422), (status = 428)),
    security(("bearer" = [])))]
pub async fn update(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    q: Result<Query<UpdateQuery>, QueryRejection>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<CreatedDto>, ApiError> {
    let Query(q) = q.map_err(|_| ApiError::bad_request("unknown or repeated query parameter; allowed: request"))?;
    if q.request.as_deref().is_some_and(|r| crate::domain::RequestId::parse(r).is_err()) {
        return Err(ApiError::bad_request("request must be a request id (req_...)"));
    }
    let raw = headers.get(header::IF_MATCH).ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "If-Match with the current version is required",
        )
    })?;
    let expected: u32 = raw
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request("If-Match must be a version number"))?;
    let created = match q.request {
        Some(request) => s.archive.registers().rectify(&ctx, &id, expected, &body, &request).await?,
        None => s.archive.dossiers().update_dossier(&ctx, &id, expected, &body).await?,
    };
    Ok(Json(created.into()))
}

/// The version history.
#[utoipa::path(get, path = "/v1/dossiers/{id}/versions", tag = "dossiers",
    params(("id" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = [VersionDto]), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn versions(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<Vec<VersionDto>>, ApiError> {
    let list = s.archive.dossiers().list_versions(&ctx, &id).await?;
    Ok(Json(list.into_iter().map(VersionDto::from).collect()))
}
