//! HTTP only: routes, DTOs, extraction, problem documents. Handlers extract,
//! call an archive use case, and map the result.

pub mod audit;
pub mod backups;
pub mod body;
pub mod customers;
pub mod disposition;
pub mod documents;
pub mod dossiers;
pub mod error;
pub mod governance;
pub mod incidents;
pub mod listener;
pub mod openapi;
pub mod ops;
pub mod principals;
pub mod recipients;
pub mod requests;
pub mod search;
pub mod subjects;

use crate::archive::{Archive, ArchiveError, RequestCtx, StatedPurpose};
use crate::metrics::Metrics;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use error::{ApiError, Problem};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

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
    pub console: Arc<crate::console::Sessions>,
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
struct MaxBody(usize);

/// The request id, from a well-formed `X-Request-Id` or generated.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

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
/// read and ingest throughput (docs/performance.md, "Where the work runs").
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

/// Request id, the request's span, metrics, and problem completion
/// (instance, and problem documents for the framework's own 4xx answers).
pub async fn request_layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| format!("req_{}", ulid::Ulid::new().to_string().to_lowercase()));
    req.extensions_mut().insert(RequestId(id.clone()));
    req.extensions_mut().insert(MaxBody(state.max_body_bytes));
    let authenticated = Authenticated::default();
    req.extensions_mut().insert(authenticated.clone());
    // A method is any token to HTTP: only the ones custos serves become a
    // metric label, a log field or an audit word, so made-up methods cannot
    // grow the metrics registry (one label set each, never freed) or the logs.
    let method = method_label(req.method());
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let path = req.uri().path().to_owned();
    let tls = over_tls(req.headers());
    // Ids, the route template and numbers only: never the path itself (it
    // may carry a malformed id that is a personal value) or a header.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        actor = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let mut resp = match bounded_head(&req) {
        Err(refused) => refused.into_response(),
        Ok(()) => next.run(req).instrument(span.clone()).await,
    };
    if let Some(ctx) = authenticated.0.get().filter(|c| !c.is_audited()) {
        let slug = match resp.extensions().get::<Problem>() {
            Some(p) => p.slug().to_owned(),
            None => framework_slug(resp.status()).to_owned(),
        };
        let status = resp.status().as_u16();
        let audited = state.archive.audit_unaudited(ctx, method, &route, status, &slug).instrument(span.clone()).await;
        if let Err(e) = audited {
            // Fail closed: an answer whose entry could not be written is not given.
            resp = ApiError::from(e).into_response();
        }
    }
    let status = resp.status();
    let elapsed = started.elapsed();
    span.record("status", status.as_u16());
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::debug!("request finished"));
    let is_problem = resp.extensions().get::<Problem>().is_some();
    // The console's pages answer errors in HTML, in the page.
    let is_page = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if (status.is_client_error() || status.is_server_error()) && !is_page {
        let mut problem = match resp.extensions().get::<Problem>() {
            Some(p) => p.clone(),
            None => framework_problem(status),
        };
        problem.instance = Some(format!("{path}#{id}"));
        let headers = resp.headers().clone();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        resp = (status, body).into_response();
        for (k, v) in headers.iter() {
            if k != header::CONTENT_LENGTH && (is_problem || k == header::ALLOW) {
                resp.headers_mut().insert(k, v.clone());
            }
        }
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    }
    // No answer is kept by a browser or proxy cache: API answers carry
    // personal data. Over TLS (a proxy in front says so), browsers are told
    // to use nothing else for a year.
    let h = resp.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if tls {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    state.metrics.record_http(method, &route, status.as_u16(), elapsed);
    resp
}

/// Whether the request reached the proxy in front of custos over TLS
/// (`X-Forwarded-Proto: https` or `Forwarded: proto=https`).
pub fn over_tls(headers: &axum::http::HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v == "https")
        || headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("proto=https"))
}

/// The method as a bounded label: the standard ones by name, anything else `OTHER`.
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// 414 and 431 for a request line or headers over custos's limits (hyper's
/// own limit, `listener::MAX_HEAD_BYTES`, is the backstop for larger ones).
fn bounded_head(req: &Request) -> Result<(), ApiError> {
    let uri = req.uri().path_and_query().map(|p| p.as_str().len()).unwrap_or(0);
    if uri > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            format!("the path and query are longer than {MAX_URI_BYTES} bytes"),
        ));
    }
    let headers: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if headers > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            format!("the headers are larger than {MAX_HEADER_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Problems for answers the framework made itself (unknown route, wrong
/// method, malformed path or query). Its messages are not passed on: they
/// can quote input.
fn framework_problem(status: StatusCode) -> Problem {
    let detail = match status {
        StatusCode::NOT_FOUND => "no such resource",
        StatusCode::METHOD_NOT_ALLOWED => "this resource does not support that method",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than the configured limit",
        StatusCode::URI_TOO_LONG => "the request's path and query are longer than the server accepts",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request's headers are larger than the server accepts",
        StatusCode::REQUEST_TIMEOUT => "the request was not received in time",
        StatusCode::TOO_MANY_REQUESTS => "too many requests; retry later",
        StatusCode::INTERNAL_SERVER_ERROR => "internal error",
        StatusCode::SERVICE_UNAVAILABLE => "the service is unavailable; retry later",
        s if s.is_server_error() => "the server could not answer",
        _ => "the request's path, query or headers are malformed",
    };
    ApiError::new(status, framework_slug(status), detail).problem()
}

/// The problem type of a status: each status has its own, so that a type
/// never contradicts its status.
fn framework_slug(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        StatusCode::URI_TOO_LONG => "uri-too-long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers-too-large",
        StatusCode::REQUEST_TIMEOUT => "request-timeout",
        StatusCode::TOO_MANY_REQUESTS => "rate-limited",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::INTERNAL_SERVER_ERROR => "internal",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "server-error",
        s if s.is_success() => "ok",
        _ => "bad-request",
    }
}

/// Where the `Ctx` extractor leaves the authenticated caller for the request
/// layer, which audits any request that passed authentication and ended
/// without an entry of its own.
#[derive(Clone, Default)]
struct Authenticated(Arc<std::sync::OnceLock<RequestCtx>>);

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
    let refused = state.archive.note_rate_refusal(principal);
    ApiError { close: refused > crate::archive::auth_failures::RATE_HARD_CAP, ..ApiError::rate_limited(wait) }
}

/// The authenticated caller with purpose and request id.
pub struct Ctx(pub RequestCtx);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 512)
            .ok_or(ApiError::from(ArchiveError::Unauthenticated))?;
        let peer = parts.extensions.get::<listener::Peer>().map(|p| p.0.ip());
        let (principal, token_id) = state.archive.authenticate(token).inspect_err(|e| {
            if matches!(e, ArchiveError::Unauthenticated) {
                state.archive.note_auth_failure(peer);
            }
        })?;
        tracing::Span::current().record("actor", principal.id.as_str());
        if principal.has_role(crate::domain::Role::Admin) {
            if let Some(peer) = peer {
                state.archive.note_admin_address(&principal.id, peer);
            }
        }
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
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
        if let Some(seen) = parts.extensions.get::<Authenticated>() {
            // The request layer writes an entry if the use case does not.
            let _ = seen.0.set(ctx.clone());
        }
        Ok(Ctx(ctx))
    }
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

pub fn router(state: AppState, max_body_bytes: usize, body_read_timeout: std::time::Duration) -> Router {
    let v1 = Router::new()
        .merge(principals::routes())
        .merge(dossiers::routes())
        .merge(subjects::routes())
        .merge(disposition::routes())
        .merge(search::routes())
        .merge(documents::routes())
        .merge(audit::routes())
        .merge(backups::routes())
        .merge(requests::routes())
        .merge(incidents::routes())
        .merge(governance::routes())
        .merge(recipients::routes())
        .merge(customers::routes());
    Router::new()
        .nest("/v1", v1)
        .merge(ops::routes())
        .merge(crate::console::routes())
        .fallback(|| async { StatusCode::NOT_FOUND })
        // Innermost first: a panic becomes a 500 that request_layer turns
        // into a problem document with the request id.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_read_timeout))
        .layer(axum::middleware::from_fn_with_state(state.clone(), request_layer))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}
