//! Errors become HTTP here, and only here, as RFC 9457 problem documents.
//! A 500 says "internal error"; the detail goes to the log once, and never a
//! personal value, key or token.

use crate::archive::ArchiveError;
use crate::domain::dossier::FieldError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Problem details, completed with `instance` by the request-id middleware.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For 410: the destruction certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_id: Option<String>,
    /// For 403: why, as a stable code (`archive::Denial::code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denial: Option<&'static str>,
}

impl Problem {
    /// The last segment of the type: `not-found`, `internal`, ...
    pub fn slug(&self) -> &str {
        self.kind.rsplit('/').next().unwrap_or_default()
    }
}

/// How many failing fields a 422 lists, and how long each text may be.
const MAX_LISTED: usize = 20;
const MAX_TEXT: usize = 200;

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
}

/// The member a problem document adds for its status, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    None,
    /// 410: the destruction certificate.
    Certificate(String),
    /// 403: the denial's code (`archive::Denial::code`).
    Denial(&'static str),
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub slug: &'static str,
    pub detail: String,
    pub errors: Option<Vec<FieldError>>,
    /// A member only some statuses add (410's certificate, 403's denial).
    pub extension: Extension,
    /// For 429: seconds until a retry can succeed (`Retry-After`).
    pub retry_after: Option<u64>,
    /// Close the connection after this answer (`Connection: close`).
    pub close: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            slug,
            detail: detail.into(),
            errors: None,
            extension: Extension::None,
            retry_after: None,
            close: false,
        }
    }

    /// 429: the caller's principal is over its rate (`rate_limit_per_second`).
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError {
            retry_after: Some(secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "too many requests from this principal; retry after the time in Retry-After",
            )
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 422 listing the failing fields (without quoting their values): the
    /// first `MAX_LISTED`, each cut to a readable length, so that the answer
    /// stays a few kilobytes however large the bad request.
    pub fn invalid(mut errors: Vec<FieldError>) -> Self {
        let total = errors.len();
        errors.truncate(MAX_LISTED);
        for e in &mut errors {
            cut(&mut e.path, MAX_TEXT);
            cut(&mut e.message, MAX_TEXT);
        }
        let detail = if total > MAX_LISTED {
            format!("{total} field(s) are not valid; the first {MAX_LISTED} are listed in errors")
        } else {
            format!("{total} field(s) are not valid; see errors")
        };
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            slug: "invalid-request",
            detail,
            errors: Some(errors),
            extension: Extension::None,
            retry_after: None,
            close: false,
        }
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("https://custos.dev/problems/{}", self.slug),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            instance: None,
            errors: self.errors.clone(),
            certificate_id: match &self.extension {
                Extension::Certificate(c) => Some(c.clone()),
                _ => None,
            },
            denial: match self.extension {
                Extension::Denial(code) => Some(code),
                _ => None,
            },
        }
    }
}

impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> Self {
        use ArchiveError as E;
        match e {
            E::Unauthenticated => ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", e.to_string()),
            E::Forbidden { denial, detail } => ApiError {
                extension: Extension::Denial(denial.code()),
                ..ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
            },
            E::NotFound(what) => ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("{what} not found")),
            E::BadRequest(d) => ApiError::bad_request(d),
            E::Invalid(errors) => ApiError::invalid(errors),
            E::VersionMismatch { .. } => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, "version-mismatch", e.to_string())
            }
            E::Conflict(d) => ApiError::new(StatusCode::CONFLICT, "conflict", d),
            E::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", e.to_string()),
            E::Gone { certificate } => ApiError {
                extension: Extension::Certificate(certificate.clone()),
                ..ApiError::new(
                    StatusCode::GONE,
                    "destroyed",
                    format!("destroyed; destruction certificate {certificate}"),
                )
            },
            E::AuditUnavailable => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "audit-unavailable", e.to_string()),
            E::Internal(err) => {
                tracing::error!(error = %err, "internal error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.close {
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp.extensions_mut().insert(problem);
        resp
    }
}
