//! The request layer: request id, span, metrics, problem completion and
//! security headers for every answer, API or console.

use super::error::{ApiError, Problem};
use super::extract::Authenticated;
use super::{AppState, CorrelationId, MaxBody, MAX_HEADER_BYTES, MAX_URI_BYTES, REQUEST_ID};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use tracing::Instrument;

/// Request id, the request's span, metrics, and problem completion
/// (instance, and problem documents for the framework's own 4xx answers).
pub async fn request_layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(super::acceptable_request_id)
        .unwrap_or_else(|| format!("req_{}", ulid::Ulid::new().to_string().to_lowercase()));
    req.extensions_mut().insert(CorrelationId(id.clone()));
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
    let superseded = state.archive.backups().is_superseded() && path != "/healthz";
    let mut resp = match bounded_head(&req) {
        Err(refused) => refused.into_response(),
        // A standby was promoted over this directory: the new primary
        // holds the record now (fail closed).
        Ok(()) if superseded => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "superseded",
            "a standby was promoted over this server's data; it no longer serves (docs/backup.md)",
        )
        .into_response(),
        Ok(()) => next.run(req).instrument(span.clone()).await,
    };
    if let Some(ctx) = authenticated.0.get().filter(|c| !c.is_audited()) {
        let slug = match resp.extensions().get::<Problem>() {
            Some(p) => p.slug().to_owned(),
            None => framework_slug(resp.status()).to_owned(),
        };
        let status = resp.status().as_u16();
        let audited = state
            .archive
            .audit_trail()
            .audit_unaudited(ctx, method, &route, status, &slug)
            .instrument(span.clone())
            .await;
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
    // The console's pages answer errors in HTML, in the page; a witness's
    // 409 answers its size as C2SP tlog-witness says (`text/x.tlog.size`).
    let is_page = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v == crate::audit::tlog_witness::SIZE_MEDIA_TYPE);
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
