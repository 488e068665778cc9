//! `/v1/principals`, `/v1/tokens`.

use super::body::{Body, Errors};
use super::error::ApiError;
use super::{AppState, Ctx};
use crate::archive::NewPrincipal;
use crate::domain::dossier::FieldError;
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
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Any of sales, service, finance, compliance, admin.
    #[schema(min_items = 1)]
    #[schema(inline)]
    pub roles: Vec<RoleDto>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub department: String,
    /// The region a service principal serves (`customer.region`).
    #[serde(default)]
    #[schema(max_length = 100)]
    pub region: String,
}

/// A built-in role.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleDto {
    Sales,
    Service,
    Finance,
    Compliance,
    Admin,
}

impl From<RoleDto> for Role {
    fn from(r: RoleDto) -> Role {
        match r {
            RoleDto::Sales => Role::Sales,
            RoleDto::Service => Role::Service,
            RoleDto::Finance => Role::Finance,
            RoleDto::Compliance => Role::Compliance,
            RoleDto::Admin => Role::Admin,
        }
    }
}

impl TryFrom<NewPrincipalDto> for NewPrincipal {
    type Error = Vec<FieldError>;
    fn try_from(d: NewPrincipalDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let name = errors.text("/name", &d.name, 200);
        if d.roles.is_empty() {
            errors.add("/roles", "at least one role is required");
        }
        let mut roles: Vec<Role> = d.roles.into_iter().map(Role::from).collect();
        roles.sort();
        roles.dedup();
        errors.finish(Some(NewPrincipal { name, roles, department: d.department, region: d.region }))
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
    Body(dto): Body<NewPrincipalDto>,
) -> Result<(StatusCode, Json<IdDto>), ApiError> {
    let principal = NewPrincipal::try_from(dto).map_err(ApiError::invalid)?;
    let id = s.archive.create_principal(&ctx, principal).await?;
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
