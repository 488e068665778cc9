//! `/v1/principals`, `/v1/tokens`.

use super::error::ApiError;
use super::{AppState, Ctx, JsonBody};
use crate::archive::NewPrincipal;
use crate::domain::Role;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrincipalDto {
    pub name: String,
    /// Any of sales, service, finance, compliance, admin.
    pub roles: Vec<String>,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub region: String,
}

impl TryFrom<NewPrincipalDto> for NewPrincipal {
    type Error = ApiError;
    fn try_from(d: NewPrincipalDto) -> Result<Self, ApiError> {
        let invalid = |m: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-principal", m);
        if d.name.trim().is_empty() || d.name.len() > 200 {
            return Err(invalid("name must be 1 to 200 characters"));
        }
        if d.department.len() > 200 || d.region.len() > 100 {
            return Err(invalid("department or region too long"));
        }
        if d.roles.is_empty() {
            return Err(invalid("at least one role is required"));
        }
        let mut roles: Vec<Role> =
            d.roles.iter().map(|r| r.parse::<Role>().map_err(|e| invalid(&e))).collect::<Result<_, _>>()?;
        roles.sort();
        roles.dedup();
        Ok(NewPrincipal { name: d.name, roles, department: d.department, region: d.region })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdDto {
    pub id: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenDto {
    pub token_id: String,
    /// Shown once; only its hash is stored.
    pub token: String,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/principals", post(create_principal))
        .route("/principals/{id}/tokens", post(create_token))
        .route("/tokens/{token_id}", delete(revoke_token))
}

/// Create a principal (admin).
#[utoipa::path(post, path = "/v1/principals", tag = "principals",
    request_body = NewPrincipalDto,
    responses((status = 201, body = IdDto), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_principal(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<IdDto>), ApiError> {
    let dto: NewPrincipalDto = serde_json::from_value(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-principal",
            format!("{:?} error in the principal", e.classify()).to_lowercase(),
        )
    })?;
    let id = s.archive.create_principal(&ctx, dto.try_into()?).await?;
    Ok((StatusCode::CREATED, Json(IdDto { id: id.to_string() })))
}

/// Issue a token for a principal (admin). The token is shown once.
#[utoipa::path(post, path = "/v1/principals/{id}/tokens", tag = "principals",
    params(("id" = String, Path, description = "principal id")),
    responses((status = 201, body = TokenDto), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TokenDto>), ApiError> {
    let t = s.archive.create_token(&ctx, &id).await?;
    Ok((StatusCode::CREATED, Json(TokenDto { token_id: t.token_id.to_string(), token: t.token })))
}

/// Revoke a token (admin); it stops working at once.
#[utoipa::path(delete, path = "/v1/tokens/{token_id}", tag = "principals",
    params(("token_id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(token_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.archive.revoke_token(&ctx, &token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
