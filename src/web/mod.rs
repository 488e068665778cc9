//! The web edge shared by the REST API (`api/`) and the console
//! (`console/`): application state, the request layer (request id, span,
//! metrics, problem completion, security headers), the caller extractor,
//! bounded body decoding, the error table, the listener, console sessions.
//! Both front ends depend on this room and not on each other; `server`
//! assembles their routes with [`app`].

pub mod body;
pub mod commands;
mod download;
pub mod error;
mod extract;
pub mod form;
pub mod import;
mod layer;
pub mod listener;
pub mod session;
pub mod upload;

pub use download::document_response;
pub use extract::{body_timeout, is_timeout, Ctx, FactorCtx, JsonBody};
pub(crate) use extract::{note_authenticated, rate_refusal};
pub use layer::{method_label, over_tls, request_layer};

use crate::archive::{Archive, ArchiveError};
use crate::metrics::Metrics;
use axum::http::{HeaderValue, StatusCode};
use axum::Router;
use error::ApiError;
use std::sync::Arc;

pub const REQUEST_ID: &str = "x-request-id";
pub const PURPOSE: &str = "x-purpose";

#[derive(Clone)]
pub struct AppState {
    pub archive: Arc<Archive>,
    pub metrics: Arc<Metrics>,
    pub openapi: Arc<serde_json::Value>,
    pub max_document_bytes: u64,
    /// The largest JSON body (`max_body_bytes`).
    pub max_body_bytes: usize,
    /// Requests a second per principal; `None` when turned off.
    pub limiter: Option<Arc<PrincipalLimiter>>,
    /// The console's sessions.
    pub console: Arc<session::Sessions>,
}

/// A token bucket per principal (`governor`'s GCRA).
pub type PrincipalLimiter = governor::DefaultKeyedRateLimiter<crate::domain::PrincipalId>;

/// The per-principal limiter of `limits`, unless turned off (rate 0).
pub fn principal_limiter(limits: &crate::config::Limits) -> Option<Arc<PrincipalLimiter>> {
    let rate = std::num::NonZeroU32::new(limits.rate_per_second)?;
    let burst = std::num::NonZeroU32::new(limits.rate_burst.max(limits.rate_per_second)).unwrap_or(rate);
    Some(Arc::new(governor::RateLimiter::keyed(governor::Quota::per_second(rate).allow_burst(burst))))
}

/// The longest path and query custos reads (414 past it).
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) custos reads (431 past it).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The JSON body limit, for `JsonBody` to refuse a declared length at once.
#[derive(Clone, Copy)]
pub(crate) struct MaxBody(pub(crate) usize);

/// The id one HTTP request is known by (`X-Request-Id`, and the
/// `request_id` of every audit entry it makes), from a well-formed header
/// or generated. Not a data-subject request (`domain::RequestId`), though
/// the wire shapes share the `req_` prefix that API clients rely on.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

fn acceptable_request_id(v: &HeaderValue) -> Option<String> {
    // Only shapes that cannot carry a personal value (the id is written into
    // audit entries): a UUID, or one of our own `req_<ulid>`.
    let s = v.to_str().ok()?;
    let is_uuid = s.len() == 36
        && s.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
    let is_ours = s
        .strip_prefix("req_")
        .is_some_and(|u| u.len() == 26 && u.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
    (is_uuid || is_ours).then(|| s.to_owned())
}

/// Runs a use case off the async executor, in the request's span, for the
/// use cases whose work grows with the data (search, what is due, batches
/// with their compactions, erasure, the subject export, audit queries,
/// alerts). A use case bounded by one dossier (read, create, update, a
/// consent, a hold, a proof) runs inline: its store, AEAD and Cedar work is
/// tens of microseconds, and moving it to the blocking pool cost 30% of
/// read and ingest throughput (docs/performance-history.md, "Where the work runs").
pub async fn offload<T, F, Fut>(state: &AppState, f: F) -> Result<T, ApiError>
where
    F: FnOnce(Arc<Archive>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, ArchiveError>> + Send,
    T: Send + 'static,
{
    let archive = state.archive.clone();
    let span = tracing::Span::current();
    let handle = tokio::runtime::Handle::current();
    let joined = tokio::task::spawn_blocking(move || span.in_scope(|| handle.block_on(f(archive)))).await;
    match joined {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ArchiveError::Internal(anyhow::anyhow!("use case task failed: {e}")).into()),
    }
}

/// The service: the front ends' routes behind the request layer, with the
/// body limits and the panic guard every route shares.
pub fn app(
    state: AppState,
    routes: Router<AppState>,
    max_body_bytes: usize,
    body_read_timeout: std::time::Duration,
) -> Router {
    routes
        .fallback(|| async { StatusCode::NOT_FOUND })
        // Innermost first: a panic becomes a 500 that request_layer turns
        // into a problem document with the request id.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_read_timeout))
        .layer(axum::middleware::from_fn_with_state(state.clone(), request_layer))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}
