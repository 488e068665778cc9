//! `/v1/principals`, `/v1/tokens`.

use crate::archive::{NewPrincipal, TokenIssue, TokenState, TokenView};
use crate::web::body::Body;
pub use crate::web::commands::{NewPrincipalDto, RoleDto};
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct IdDto {
    pub id: String,
}

/// A token asked for or approved (each shown once, never stored):
/// `enrollment_code`, for an admin's own token, is the whole code;
/// `enrollment_code_part`, for anyone else's, is half of it: the asking
/// admin gets the first half, the approving admin the second, and the
/// person redeems the two joined (first, then second) with
/// `POST /v1/enroll` for the token, which no admin sees. Neither admin
/// alone holds a code that works.
#[derive(Serialize, ToSchema)]
pub struct TokenIssueDto {
    pub token_id: String,
    pub principal_id: String,
    #[schema(inline)]
    pub state: TokenState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollment_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollment_code_part: Option<String>,
    /// RFC 3339: until when the code can be redeemed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Whom the token is for (on approval): what the approving admin
    /// checks before handing over the second half.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<crate::archive::PrincipalView>,
    /// The admin who asked for it, and when (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
}

impl From<TokenIssue> for TokenIssueDto {
    fn from(t: TokenIssue) -> Self {
        let rfc3339 = |e: time::OffsetDateTime| e.format(&time::format_description::well_known::Rfc3339).ok();
        TokenIssueDto {
            token_id: t.token_id.to_string(),
            principal_id: t.principal.to_string(),
            state: t.state,
            enrollment_code: t.code,
            enrollment_code_part: t.code_part,
            expires_at: t.code_expires_at.and_then(rfc3339),
            principal: t.holder,
            requested_by: t.requested_by.map(|p| p.to_string()),
            requested_at: t.requested_at.and_then(rfc3339),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollDto {
    /// The one-time enrollment code an admin handed over.
    #[schema(min_length = 1, max_length = 200)]
    pub code: String,
    /// The second factor's current 6-digit code (or a recovery code):
    /// without it, a person with no factor yet is given one to set up (202)
    /// and a person with one is refused (403 `second-factor-required`).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub second_factor: Option<String>,
}

/// The enrolled token: shown once, to the person who redeemed the code.
#[derive(Serialize, ToSchema)]
pub struct EnrolledDto {
    pub token_id: String,
    pub principal_id: String,
    /// Shown once; only its hash is stored. Bound to the second factor proven.
    pub token: String,
    /// When this enrollment confirmed a new second factor: its one-time
    /// recovery codes (shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

/// A person with no second factor yet: the factor to set up, then send the
/// enrollment code again with its first code as `second_factor`.
#[derive(Serialize, ToSchema)]
pub struct FactorNeededDto {
    pub second_factor: super::factor::FactorSetupDto,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/principals", post(create_principal))
        .route("/principals/{id}/tokens", post(create_token).get(list_tokens))
        .route("/principals/{id}/approve", post(approve_principal))
        .route("/principals/{id}/disable", post(disable_principal))
        .route("/principals/{id}/enable", post(enable_principal))
        .route("/tokens/{token_id}", delete(revoke_token))
        .route("/tokens/{token_id}/approve", post(approve_token))
        .route("/tokens/{token_id}/renew", post(renew_token))
        .route("/enroll", post(enroll))
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
    let id = s.archive.identity().create_principal(&ctx, principal).await?;
    Ok((StatusCode::CREATED, Json(IdDto { id: id.to_string() })))
}

/// Approve an admin principal (a second admin, not the one who made it):
/// until then it acts without the admin role. The answer shows whom the
/// approval is for.
#[utoipa::path(post, path = "/v1/principals/{id}/approve", tag = "principals",
    params(("id" = String, Path, description = "principal id")),
    responses((status = 200, body = crate::archive::PrincipalView), (status = 401), (status = 403), (status = 404),
              (status = 409)),
    security(("bearer" = [])))]
pub async fn approve_principal(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<crate::archive::PrincipalView>, ApiError> {
    Ok(Json(s.archive.identity().approve_principal(&ctx, &id).await?))
}

/// Disable a principal (an admin, not for themself): every token of it
/// stops working at once, on every path; audited `principal.disable`.
#[utoipa::path(post, path = "/v1/principals/{id}/disable", tag = "principals",
    params(("id" = String, Path, description = "principal id")),
    responses((status = 200, body = crate::archive::PrincipalView), (status = 401), (status = 403), (status = 404),
              (status = 409)),
    security(("bearer" = [])))]
pub async fn disable_principal(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<crate::archive::PrincipalView>, ApiError> {
    Ok(Json(s.archive.identity().set_disabled(&ctx, &id, true).await?))
}

/// Enable a disabled principal again (an admin other than the one who
/// disabled it); audited `principal.enable`.
#[utoipa::path(post, path = "/v1/principals/{id}/enable", tag = "principals",
    params(("id" = String, Path, description = "principal id")),
    responses((status = 200, body = crate::archive::PrincipalView), (status = 401), (status = 403), (status = 404),
              (status = 409)),
    security(("bearer" = [])))]
pub async fn enable_principal(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<crate::archive::PrincipalView>, ApiError> {
    Ok(Json(s.archive.identity().set_disabled(&ctx, &id, false).await?))
}

/// Ask for a token for a principal (admin). For the asking admin themself:
/// 201 with the enrollment code. For anyone else: 202, awaiting a second
/// admin's approval (`POST /v1/tokens/{token_id}/approve`).
#[utoipa::path(post, path = "/v1/principals/{id}/tokens", tag = "principals",
    params(("id" = String, Path, description = "principal id")),
    responses((status = 201, body = TokenIssueDto, description = "enrollable: the code is in the body"),
              (status = 202, body = TokenIssueDto, description = "awaiting a second admin's approval"),
              (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TokenIssueDto>), ApiError> {
    let t = s.archive.identity().create_token(&ctx, &id).await?;
    let status = if t.code.is_some() { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    Ok((status, Json(t.into())))
}

/// Approve a token another admin asked for (a second admin): the answer
/// holds the enrollment code to hand to the person it is for.
#[utoipa::path(post, path = "/v1/tokens/{token_id}/approve", tag = "principals",
    params(("token_id" = String, Path)),
    responses((status = 200, body = TokenIssueDto), (status = 401), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn approve_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(token_id): Path<String>,
) -> Result<Json<TokenIssueDto>, ApiError> {
    Ok(Json(s.archive.identity().approve_token(&ctx, &token_id).await?.into()))
}

/// A principal's tokens (an admin, or the principal themself): state,
/// times, who asked and who approved; never a token or a code.
#[utoipa::path(get, path = "/v1/principals/{id}/tokens", tag = "principals",
    params(("id" = String, Path, description = "principal id")),
    responses((status = 200, body = Vec<TokenView>), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn list_tokens(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(s.archive.identity().list_tokens(&ctx, &id).await?))
}

/// Renew a token (its holder only; 403 for anyone else): it works for one more lifetime
/// (`token_days`, `admin_token_days`) from now. 409 for a token that is
/// not active (expired or revoked: ask for a new one).
#[utoipa::path(post, path = "/v1/tokens/{token_id}/renew", tag = "principals",
    params(("token_id" = String, Path)),
    responses((status = 200, body = TokenView), (status = 401), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn renew_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(token_id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(s.archive.identity().renew_token(&ctx, &token_id).await?))
}

/// Redeem a one-time enrollment code for the token (no credentials: the
/// code is the credential), issued only once the person proves their
/// second factor: 202 with a factor to set up when they have none (send
/// the code again with its first code as `second_factor`), 201 with the
/// token bound to the factor. 401 for a code that is unknown, used,
/// expired or revoked, alike; 403 `second-factor-required`,
/// `second-factor-invalid` or `second-factor-locked`.
#[utoipa::path(post, path = "/v1/enroll", tag = "principals",
    request_body = EnrollDto,
    responses((status = 201, body = EnrolledDto), (status = 202, body = FactorNeededDto), (status = 401),
              (status = 403), (status = 422)))]
pub async fn enroll(
    State(s): State<AppState>,
    peer: Option<axum::Extension<crate::web::listener::Peer>>,
    request_id: Option<axum::Extension<crate::web::CorrelationId>>,
    Body(dto): Body<EnrollDto>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let request_id = request_id.map(|r| r.0 .0).unwrap_or_default();
    let peer = peer.map(|p| p.0 .0.ip());
    // A refused code counts as a failed authentication: audited per address
    // and minute, and a burst raises the alert (`archive::auth_failures`).
    let second = dto.second_factor.as_deref().map(|c| super::factor::factor_code("/second_factor", c));
    let second = second.transpose().map_err(ApiError::invalid)?;
    let e = s.archive.identity().enroll(&dto.code, second.as_deref(), peer, &request_id).await.inspect_err(|e| {
        if matches!(e, crate::archive::ArchiveError::Unauthenticated) {
            s.archive.identity().note_auth_failure(peer);
        }
    })?;
    Ok(match e {
        crate::archive::Enrollment::SetUp(setup) => {
            (StatusCode::ACCEPTED, Json(FactorNeededDto { second_factor: setup.into() })).into_response()
        }
        crate::archive::Enrollment::Enrolled(e) => (
            StatusCode::CREATED,
            Json(EnrolledDto {
                token_id: e.token_id.to_string(),
                principal_id: e.principal.to_string(),
                token: e.token,
                recovery_codes: e.recovery_codes,
            }),
        )
            .into_response(),
    })
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
    s.archive.identity().revoke_token(&ctx, &token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
