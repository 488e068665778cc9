//! Operations: liveness, readiness, metrics, the OpenAPI document.

use super::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use utoipa::OpenApi;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/schemas/{name}", get(schema))
}

/// The published JSON Schemas and the label catalogue.
///
/// `dossier.schema.json` (the template) and `subject-export.schema.json`
/// (the subject export), `application/schema+json`; `labels.json`, the
/// label catalogue (`application/json`): every enumerated wire value named
/// in Chinese and English, by set (the template's `x-labels` name them).
#[utoipa::path(get, path = "/schemas/{name}", tag = "operations", params(("name" = String, Path)),
    responses((status = 200, content((Object = "application/schema+json"), (Object = "application/json"))), (status = 404)))]
pub async fn schema(axum::extract::Path(name): axum::extract::Path<String>) -> axum::response::Response {
    let (text, media) = match name.as_str() {
        "dossier.schema.json" => (crate::domain::dossier::SCHEMA_JSON, "application/schema+json"),
        "subject-export.schema.json" => (crate::archive::EXPORT_SCHEMA_JSON, "application/schema+json"),
        "labels.json" => (crate::domain::labels::LABELS_JSON, "application/json"),
        _ => {
            return crate::web::error::ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such schema")
                .into_response()
        }
    };
    ([(header::CONTENT_TYPE, media)], text).into_response()
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the store answers and the data directory is initialised.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200), (status = 503)))]
pub async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    // A failing backup does not stop traffic; it is shown here and on /metrics.
    let backup = if s.metrics.backup_failing() { "\nbackup: the last scheduled backup failed" } else { "" };
    if s.archive.ready() {
        (StatusCode::OK, format!("ready{backup}"))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready{backup}"))
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.render())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, body = Object)))]
pub async fn openapi(State(s): State<AppState>) -> Json<Value> {
    Json((*s.openapi).clone())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "custos", description = "Compliance archive for customer dossiers. Errors are RFC 9457 problem documents (application/problem+json)."),
    paths(
        healthz, readyz, metrics, openapi, schema,
        super::principals::create_principal, super::principals::create_token, super::principals::revoke_token,
        super::principals::approve_token, super::principals::enroll, super::principals::approve_principal,
        super::principals::disable_principal, super::principals::enable_principal,
        super::principals::list_tokens, super::principals::renew_token,
        super::dossiers::create, super::dossiers::read, super::dossiers::update,
        super::dossiers::versions, super::dossiers::read_version,
        super::audit::list, super::audit::one, super::audit::raw,
        super::audit::checkpoint, super::audit::verifier_key, super::audit::inclusion, super::audit::consistency,
        super::audit::alerts,
        super::subjects::read, super::subjects::grant, super::subjects::withdraw, super::subjects::history,
        super::subjects::restrict, super::subjects::unrestrict, super::subjects::export,
        super::access_report::access_report, super::access_report::kept_access_report,
        super::subjects::residency,
        super::disposition::close, super::disposition::place_hold, super::disposition::list_holds,
        super::disposition::release_hold, super::disposition::due, super::disposition::propose,
        super::disposition::batch, super::disposition::approve, super::disposition::certificate,
        super::disposition::erase, super::search::search,
        super::documents::list, super::documents::upload, super::documents::download,
        super::backups::list,
        super::backups::create,
        super::subjects::processing,
        super::requests::create_request, super::requests::list_requests, super::requests::get_request,
        super::requests::change_request, super::incidents::create_incident, super::incidents::list_incidents,
        super::incidents::get_incident, super::incidents::derive_affected, super::incidents::affected_list,
        super::incidents::notify, super::incidents::exemption, super::incidents::notice,
        super::incidents::create_export, super::incidents::get_export, super::incidents::approve_export,
        super::incidents::export_content, super::governance::records_of_processing,
        super::governance::create_assessment, super::governance::list_assessments, super::governance::assessment_report,
        super::governance::assessment_coverage,
        super::governance::officer, super::governance::record_officer,
        super::recipients::create_recipient, super::recipients::list_recipients, super::recipients::get_recipient,
        super::recipients::attest, super::recipients::create_transfer, super::recipients::list_transfers,
        super::recipients::volume, super::recipients::notices,
        super::oversight::data_grades, super::oversight::decide_grade, super::oversight::appoint_responsible, super::oversight::plan_engagement,
        super::oversight::audit_register, super::oversight::engagement, super::oversight::start_engagement,
        super::oversight::complete_engagement, super::oversight::report_to_authority,
        super::oversight::engagement_report, super::oversight::raise_finding, super::oversight::fix_finding,
        super::oversight::verify_finding,
        super::customers::add_interaction, super::customers::list_interactions, super::customers::put_figures,
        super::customers::explain_grade, super::customers::override_grade, super::customers::add_review,
        super::customers::reviews_due, super::customers::report, super::customers::import,
        super::customers::export_list,
        super::requests::prepare_handover, super::requests::collect_handover,
        super::factor::begin_factor, super::factor::confirm_factor, super::factor::reset_factor,
        super::factor::unlock_factor,
        super::subjects::lift_notice,
        super::grade_stand::contest, super::grade_stand::object, super::grade_stand::withdraw,
        super::grade_stand::review,
        super::notices::owed, super::notices::notified,
        super::witness::add_checkpoint, super::witness::witness_key, super::witness::cosigned,
    ),
    modifiers(&Security)
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document: generated from the handlers, with the dossier
/// template itself as `components/schemas/Dossier` and the problem shape.
pub fn document(vocabulary: &super::openapi::Vocabulary) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    let mut template: Value = serde_json::from_str(crate::domain::dossier::SCHEMA_JSON).unwrap_or_else(|_| json!({}));
    if let Some(t) = template.as_object_mut() {
        t.remove("$schema");
        t.remove("$id");
    }
    let problem = json!({
        "type": "object",
        "description": "RFC 9457 problem document",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "instance": {"type": "string"},
            "certificate_id": {"type": "string", "description": "410: the destruction certificate"},
            "denial": {"type": "string", "enum": crate::archive::Denial::FORBIDDEN_CODES, "description": "403: why, as a stable code"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {"path": {"type": "string"}, "message": {"type": "string"}}}}
        }
    });
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        schemas.insert("Dossier".into(), template);
        schemas.insert("Problem".into(), problem);
    }
    for (path, method) in [("/v1/dossiers", "post"), ("/v1/dossiers/{id}", "put")] {
        let ptr = format!("/paths/{}/{method}/requestBody/content/application~1json/schema", path.replace('/', "~1"));
        if let Some(s) = doc.pointer_mut(&ptr) {
            *s = json!({"$ref": "#/components/schemas/Dossier"});
        }
    }
    super::openapi::make_exact(&mut doc, vocabulary);
    doc
}
