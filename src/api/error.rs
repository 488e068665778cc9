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
}

impl Problem {
    /// The last segment of the type: `not-found`, `internal`, ...
    pub fn slug(&self) -> &str {
        self.kind.rsplit('/').next().unwrap_or_default()
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub slug: &'static str,
    pub detail: String,
    pub errors: Option<Vec<FieldError>>,
    pub certificate_id: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, slug, detail: detail.into(), errors: None, certificate_id: None }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 422 listing every failing field (without quoting its value).
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            slug: "invalid-request",
            detail: format!("{} field(s) are not valid; see errors", errors.len()),
            errors: Some(errors),
            certificate_id: None,
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
            certificate_id: self.certificate_id.clone(),
        }
    }
}

impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> Self {
        use ArchiveError as E;
        match e {
            E::Unauthenticated => ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", e.to_string()),
            E::Forbidden(d) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", d),
            E::NotFound(what) => ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("{what} not found")),
            E::BadRequest(d) => ApiError::bad_request(d),
            E::Invalid(errors) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                slug: "invalid-request",
                detail: format!("{} field(s) are not valid; see errors", errors.len()),
                errors: Some(errors),
                certificate_id: None,
            },
            E::VersionMismatch { .. } => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, "version-mismatch", e.to_string())
            }
            E::Conflict(d) => ApiError::new(StatusCode::CONFLICT, "conflict", d),
            E::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", e.to_string()),
            E::Gone { certificate } => ApiError {
                certificate_id: Some(certificate.clone()),
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
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp.extensions_mut().insert(problem);
        resp
    }
}
