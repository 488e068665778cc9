//! `/v1/factor`, `/v1/principals/{id}/factor/...`: the second factor
//! (TOTP, RFC 6238) a token is bound to, and the admins' reset and unlock.

use crate::archive::{FactorChange, FactorSetup, Proven, MAX_CODE};
use crate::domain::dossier::FieldError;
use crate::web::body::{Body, Errors};
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx, FactorCtx};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A second factor to add to an authenticator app (shown once): the secret
/// typed in, or the `otpauth://` URI (what a QR code carries). TOTP, RFC
/// 6238: HMAC-SHA-1, 30-second steps, 6 digits.
#[derive(Serialize, ToSchema)]
pub struct FactorSetupDto {
    pub factor_id: String,
    /// Whose factor it is (the account name the app shows).
    pub principal_id: String,
    /// Base32, as authenticator apps take it.
    pub secret: String,
    pub otpauth_uri: String,
    pub algorithm: &'static str,
    pub digits: u32,
    pub period: u32,
}

impl From<FactorSetup> for FactorSetupDto {
    fn from(s: FactorSetup) -> Self {
        FactorSetupDto {
            factor_id: s.factor_id,
            principal_id: s.principal.to_string(),
            secret: s.secret.to_string(),
            otpauth_uri: s.uri.to_string(),
            algorithm: "SHA1",
            digits: 6,
            period: 30,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactorCodeDto {
    /// The authenticator app's current 6-digit code, or an unused recovery code.
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
}

/// A second-factor code as the archive takes it: present and bounded.
pub fn factor_code(path: &str, code: &str) -> Result<String, Vec<FieldError>> {
    let mut errors = Errors::default();
    let code = code.trim();
    if code.is_empty() || code.len() > MAX_CODE {
        errors.add(path, &format!("a 6-digit code or a recovery code (at most {MAX_CODE} characters)"));
    }
    errors.finish(Some(code.to_owned()))
}

/// The factor proven: its id, and the recovery codes when this confirmed it
/// (shown once; each works once, in place of a code).
#[derive(Serialize, ToSchema)]
pub struct ProvenDto {
    pub factor_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

impl From<Proven> for ProvenDto {
    fn from(p: Proven) -> Self {
        ProvenDto { factor_id: p.factor_id, recovery_codes: p.recovery_codes }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/factor", post(begin_factor))
        .route("/factor/confirm", post(confirm_factor))
        .route("/principals/{id}/factor/reset", post(reset_factor))
        .route("/principals/{id}/factor/unlock", post(unlock_factor))
}

/// Set up a second factor for the caller (any token of theirs, also one
/// not bound to a factor yet): the secret for an authenticator app. 409
/// when one is set up already (an admin resets a lost one); 403
/// `second-factor-locked` while locked out.
#[utoipa::path(post, path = "/v1/factor", tag = "principals",
    responses((status = 201, body = FactorSetupDto), (status = 401), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub async fn begin_factor(
    State(s): State<AppState>,
    FactorCtx(ctx): FactorCtx,
) -> Result<(StatusCode, Json<FactorSetupDto>), ApiError> {
    let setup = s.archive.identity().factors().begin_factor(&ctx).await?;
    Ok((StatusCode::CREATED, Json(setup.into())))
}

/// Prove the caller's second factor with a current code (or a recovery
/// code): a pending factor is confirmed (its recovery codes in the answer,
/// once) and the caller's token is bound to it. 403
/// `second-factor-invalid` for a wrong, used or out-of-window code (counted
/// towards the lockout), `second-factor-locked` while locked out.
#[utoipa::path(post, path = "/v1/factor/confirm", tag = "principals",
    request_body = FactorCodeDto,
    responses((status = 200, body = ProvenDto), (status = 401), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn confirm_factor(
    State(s): State<AppState>,
    FactorCtx(ctx): FactorCtx,
    Body(dto): Body<FactorCodeDto>,
) -> Result<Json<ProvenDto>, ApiError> {
    let code = factor_code("/code", &dto.code).map_err(ApiError::invalid)?;
    Ok(Json(s.archive.identity().factors().confirm_factor(&ctx, &code).await?.into()))
}

/// Reset a principal's second factor (an admin, not for themself): every
/// token bound to it stops working at once; the person sets up a new one
/// with a new token, which two admins ask for and approve.
#[utoipa::path(post, path = "/v1/principals/{id}/factor/reset", tag = "principals",
    params(("id" = String, Path, description = "principal id")),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn reset_factor(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.archive.identity().change_factor(&ctx, FactorChange::Reset, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lift a principal's second-factor lockout before its time (an admin, not
/// for themself).
#[utoipa::path(post, path = "/v1/principals/{id}/factor/unlock", tag = "principals",
    params(("id" = String, Path, description = "principal id")),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn unlock_factor(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.archive.identity().change_factor(&ctx, FactorChange::Unlock, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
