//! Witnessing over HTTP: `POST /witness/add-checkpoint` (C2SP
//! tlog-witness; no token, the log's signature on the checkpoint is the
//! authentication), the witness's verifier key, and the log's cosigned
//! checkpoint (compliance).

use crate::archive::witness::Refusal;
use crate::audit::tlog_witness::{MAX_REQUEST_BYTES, SIZE_MEDIA_TYPE};
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

/// The witness's submission prefix (its `add-checkpoint` is under it).
pub const PREFIX: &str = "/witness";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/witness/add-checkpoint",
            post(add_checkpoint).layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES)),
        )
        .route("/v1/audit/witness-key", get(witness_key))
        .route("/v1/audit/checkpoint/cosigned", get(cosigned))
}

/// Submit a checkpoint to this custos as a witness (C2SP tlog-witness
/// `add-checkpoint`): `old <size>`, the consistency proof (base64 lines),
/// a blank line, the signed checkpoint. 200: the cosignature line(s);
/// 409: `text/x.tlog.size`, the size last cosigned and a newline.
#[utoipa::path(post, path = "/witness/add-checkpoint", tag = "witness",
    request_body(content = String, content_type = "text/plain"),
    responses((status = 200, content_type = "text/plain", body = String),
              (status = 400), (status = 403), (status = 404),
              (status = 409, content_type = "text/x.tlog.size", body = String), (status = 422)))]
pub async fn add_checkpoint(
    State(s): State<AppState>,
    peer: Option<axum::Extension<crate::web::listener::Peer>>,
    request_id: Option<axum::Extension<crate::web::CorrelationId>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request_id = request_id.map(|r| r.0 .0).unwrap_or_default();
    let source = peer.map(|p| p.0 .0.ip());
    let answer = s.archive.witness().add_checkpoint(&body, source, &request_id).await?;
    Ok(match answer {
        Ok(lines) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], lines).into_response(),
        Err(Refusal::Conflict { known }) => {
            (StatusCode::CONFLICT, [(header::CONTENT_TYPE, SIZE_MEDIA_TYPE)], format!("{known}\n")).into_response()
        }
        Err(r @ Refusal::Malformed(why)) => refused(&r, format!("malformed submission: {why}")),
        Err(r @ Refusal::BadSignature) => refused(&r, "no signature by the log's key verifies".into()),
        Err(r @ Refusal::UnknownOrigin) => refused(&r, "this witness does not witness that log".into()),
        Err(r @ Refusal::BadProof) => refused(&r, "the consistency proof does not verify".into()),
    })
}

fn refused(r: &Refusal, detail: String) -> Response {
    let (status, slug) = match r.status() {
        403 => (StatusCode::FORBIDDEN, "forbidden"),
        404 => (StatusCode::NOT_FOUND, "not-found"),
        422 => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-request"),
        _ => (StatusCode::BAD_REQUEST, "bad-request"),
    };
    ApiError::new(status, slug, detail).into_response()
}

/// This custos's witness verifier key (`<name>+<hex key id>+<base64(0x04
/// || public key)>`, C2SP tlog-cosignature), for the logs it witnesses.
/// Any authenticated caller.
#[utoipa::path(get, path = "/v1/audit/witness-key", tag = "audit",
    responses((status = 200, content_type = "text/plain", body = String), (status = 401)),
    security(("bearer" = [])))]
pub async fn witness_key(State(s): State<AppState>, _caller: Ctx) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", s.archive.witness().verifier_key()))
}

/// The log's latest checkpoint with its witnesses' cosignatures (a signed
/// note: the log's signature, then one line per witness). Compliance and
/// auditors; audited. 404 until a witness has cosigned one.
#[utoipa::path(get, path = "/v1/audit/checkpoint/cosigned", tag = "audit",
    responses((status = 200, content_type = "text/plain", body = String), (status = 401), (status = 403),
              (status = 404)),
    security(("bearer" = [])))]
pub async fn cosigned(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<impl IntoResponse, ApiError> {
    let note = s.archive.witness().cosigned_checkpoint(&ctx).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note))
}
