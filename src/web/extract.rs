//! Extractors: the authenticated caller (`Ctx`) and a strictly read JSON
//! body (`JsonBody`).

use super::error::ApiError;
use super::{listener, AppState, CorrelationId, MaxBody, PURPOSE};
use crate::archive::{ArchiveError, RequestCtx, StatedPurpose};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use std::sync::Arc;

/// Where the `Ctx` extractor leaves the authenticated caller for the request
/// layer, which audits any request that passed authentication and ended
/// without an entry of its own.
#[derive(Clone, Default)]
pub(crate) struct Authenticated(pub(crate) Arc<std::sync::OnceLock<RequestCtx>>);

/// For the console's extractor: the request layer audits this caller's
/// request if its use case does not, as for an API request.
pub(crate) fn note_authenticated(parts: &Parts, ctx: &RequestCtx) {
    if let Some(seen) = parts.extensions.get::<Authenticated>() {
        let _ = seen.0.set(ctx.clone());
    }
}

/// The answer to a request the rate limiter refused, counted for the
/// per-minute audit entry; past the hard cap the connection is closed too.
pub(crate) fn rate_refusal(
    state: &AppState,
    principal: &crate::domain::PrincipalId,
    wait: std::time::Duration,
) -> ApiError {
    let refused = state.archive.identity().note_rate_refusal(principal);
    ApiError { close: refused > crate::archive::identity::auth_failures::RATE_HARD_CAP, ..ApiError::rate_limited(wait) }
}

/// The authenticated caller with purpose and request id, whose token is
/// bound to their proven second factor (else 403 `second-factor-required`,
/// or `second-factor-locked` while they are locked out; audited).
pub struct Ctx(pub RequestCtx);

/// The authenticated caller of a second-factor route (`POST /v1/factor`,
/// `.../confirm`): a token not bound yet serves here, and only here.
pub struct FactorCtx(pub RequestCtx);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        caller(parts, state, false).await.map(Ctx)
    }
}

impl FromRequestParts<AppState> for FactorCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        caller(parts, state, true).await.map(FactorCtx)
    }
}

/// The caller of a request; `unbound`: a token not bound to a second
/// factor yet is let through (the use case refuses a locked-out one).
async fn caller(parts: &mut Parts, state: &AppState, unbound: bool) -> Result<RequestCtx, ApiError> {
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 512)
        .ok_or(ApiError::from(ArchiveError::Unauthenticated))?;
    let peer = parts.extensions.get::<listener::Peer>().map(|p| p.0.ip());
    let (principal, token_id, standing) = state.archive.identity().authenticate(token).inspect_err(|e| {
        if matches!(e, ArchiveError::Unauthenticated) {
            state.archive.identity().note_auth_failure(peer);
        }
    })?;
    tracing::Span::current().record("actor", principal.id.as_str());
    if principal.has_role(crate::domain::Role::Admin) {
        if let Some(peer) = peer {
            state.archive.identity().note_admin_address(&principal.id, peer);
        }
    }
    let request_id = parts.extensions.get::<CorrelationId>().map(|r| r.0.clone()).unwrap_or_default();
    let purpose = StatedPurpose::parse(parts.headers.get(PURPOSE).map(|v| v.to_str().ok()));
    let ctx = RequestCtx::new(principal, token_id, purpose, request_id);
    if let Some(limiter) = &state.limiter {
        if let Err(not_until) = limiter.check_key(&ctx.principal.id) {
            use governor::clock::{Clock, DefaultClock};
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            // Audited in aggregate (one entry per principal and minute),
            // not one entry per refusal: see `archive::auth_failures`.
            return Err(rate_refusal(state, &ctx.principal.id, wait));
        }
    }
    let usable = match standing {
        crate::archive::Standing::Bound => true,
        crate::archive::Standing::Unbound => unbound,
        crate::archive::Standing::Locked => false,
    };
    if !usable {
        return Err(state.archive.identity().factors().refuse_standing(&ctx, standing).await.into());
    }
    if let Some(seen) = parts.extensions.get::<Authenticated>() {
        // The request layer writes an entry if the use case does not.
        let _ = seen.0.set(ctx.clone());
    }
    Ok(ctx)
}

/// A JSON body read strictly: `application/json`, UTF-8, well-formed, within
/// the body limit. Error messages never quote the body.
pub struct JsonBody(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        let declared =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        let limit = req.extensions().get::<MaxBody>().map(|m| m.0 as u64);
        if let (Some(declared), Some(limit)) = (declared, limit) {
            if declared > limit {
                // Answered at once: the body is neither awaited nor read.
                return Err(too_large());
            }
        }
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else if is_timeout(&r) {
                body_timeout()
            } else {
                ApiError::bad_request("the request body could not be read")
            }
        })?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| ApiError::bad_request(format!("the body is not valid UTF-8 (byte {})", e.valid_up_to())))?;
        let value = serde_json::from_str(text).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not well-formed JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        Ok(JsonBody(value))
    }
}

fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", "the request body is larger than the configured limit")
}

/// 408: the body stopped arriving (`body_read_timeout_secs`).
pub fn body_timeout() -> ApiError {
    ApiError::new(StatusCode::REQUEST_TIMEOUT, "request-timeout", "the request body stopped arriving; send it again")
}

/// Whether reading a body failed because it stopped arriving.
pub fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        next = err.source();
    }
    false
}
