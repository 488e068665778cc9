//! `/v1/subjects`: a data subject's status, consents, restriction and export.

use super::error::ApiError;
use super::{AppState, Ctx, JsonBody};
use crate::archive::{ConsentBasis, ConsentEventView, NewConsent, SubjectView};
use crate::domain::dossier::FieldError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/subjects/{sid}", get(read))
        .route("/subjects/{sid}/consents", post(grant).get(history))
        .route("/subjects/{sid}/consents/{purpose}", delete(withdraw))
        .route("/subjects/{sid}/restriction", post(restrict).delete(unrestrict))
        .route("/subjects/{sid}/export", get(export))
}

/// The body of a consent grant, checked field by field; messages never
/// quote the submitted value.
fn parse_consent(body: &Value) -> Result<NewConsent, ApiError> {
    let mut errors = Vec::new();
    let err = |errors: &mut Vec<FieldError>, path: &str, message: &str| {
        errors.push(FieldError { path: path.into(), message: message.into() })
    };
    let Some(obj) = body.as_object() else {
        return Err(ApiError::invalid(vec![FieldError { path: String::new(), message: "must be an object".into() }]));
    };
    for k in obj.keys() {
        if !matches!(k.as_str(), "purpose" | "basis" | "evidence" | "granted_at") {
            err(&mut errors, "", "unknown field(s): only purpose, basis, evidence, granted_at");
            break;
        }
    }
    let text = |k: &str| obj.get(k).and_then(Value::as_str);
    let purpose = text("purpose").unwrap_or_default().to_owned();
    if purpose.is_empty() {
        err(&mut errors, "/purpose", "required: a purpose id");
    }
    let basis = match text("basis") {
        Some("consent") => Some(ConsentBasis::Consent),
        Some("separate_consent") => Some(ConsentBasis::SeparateConsent),
        _ => {
            err(&mut errors, "/basis", "must be one of consent, separate_consent");
            None
        }
    };
    let evidence = match text("evidence") {
        Some(e) => e.to_owned(),
        None => {
            err(&mut errors, "/evidence", "required: how the consent was given (a form, a recording, a receipt)");
            String::new()
        }
    };
    let granted_at = match text("granted_at").map(|t| OffsetDateTime::parse(t, &Rfc3339)) {
        Some(Ok(t)) => Some(t),
        _ => {
            err(&mut errors, "/granted_at", "required: an RFC 3339 time");
            None
        }
    };
    match (basis, granted_at) {
        (Some(basis), Some(granted_at)) if errors.is_empty() => Ok(NewConsent { purpose, basis, evidence, granted_at }),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// A subject's status (active, restricted, erased), dossiers and live consents.
#[utoipa::path(get, path = "/v1/subjects/{sid}", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object, description = "{id, status, created_at, restricted_at, dossiers, consents}"),
              (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn read(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
) -> Result<Json<SubjectView>, ApiError> {
    Ok(Json(s.archive.get_subject(&ctx, &sid).await?))
}

/// Record a consent: `{"purpose", "basis", "evidence", "granted_at"}`;
/// `basis` is `consent` or `separate_consent` (required for sensitive data).
#[utoipa::path(post, path = "/v1/subjects/{sid}/consents", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    request_body(content = Object, description = "{purpose, basis: consent|separate_consent, evidence, granted_at (RFC 3339)}"),
    responses((status = 201, body = Object, description = "the consent event"), (status = 400), (status = 401),
              (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn grant(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<ConsentEventView>), ApiError> {
    let consent = parse_consent(&body)?;
    Ok((StatusCode::CREATED, Json(s.archive.grant_consent(&ctx, &sid, consent).await?)))
}

/// Withdraw a consent, effective for every request from now on; the history
/// keeps the grant.
#[utoipa::path(delete, path = "/v1/subjects/{sid}/consents/{purpose}", tag = "subjects",
    params(("sid" = String, Path), ("purpose" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object, description = "the withdrawal event"), (status = 400), (status = 401),
              (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((sid, purpose)): Path<(String, String)>,
) -> Result<Json<ConsentEventView>, ApiError> {
    Ok(Json(s.archive.withdraw_consent(&ctx, &sid, &purpose).await?))
}

/// The full consent history: every grant and withdrawal, oldest first.
#[utoipa::path(get, path = "/v1/subjects/{sid}/consents", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = [Object]), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn history(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
) -> Result<Json<Vec<ConsentEventView>>, ApiError> {
    Ok(Json(s.archive.consent_history(&ctx, &sid).await?))
}

/// Restrict processing: from now on the person's fields are released only
/// for the purposes purposes.toml keeps open (legal_compliance, dsr).
#[utoipa::path(post, path = "/v1/subjects/{sid}/restriction", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn restrict(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
) -> Result<Json<SubjectView>, ApiError> {
    Ok(Json(s.archive.set_restriction(&ctx, &sid, true).await?))
}

/// Lift a restriction (GDPR Art. 18(3)).
#[utoipa::path(delete, path = "/v1/subjects/{sid}/restriction", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn unrestrict(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
) -> Result<Json<SubjectView>, ApiError> {
    Ok(Json(s.archive.set_restriction(&ctx, &sid, false).await?))
}

/// Everything held on the person, as JSON valid against
/// `/schemas/subject-export.schema.json` (GDPR Art. 15, 20; PIPL Art. 45).
#[utoipa::path(get, path = "/v1/subjects/{sid}/export", tag = "subjects",
    params(("sid" = String, Path), ("X-Purpose" = String, Header)),
    responses((status = 200, body = Object, description = "see /schemas/subject-export.schema.json"),
              (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn export(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.archive.export_subject(&ctx, &sid).await?))
}
