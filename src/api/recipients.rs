//! `/v1/recipients` (the recipients register and deletion attestations),
//! `/v1/transfers` (cross-border transfer records and the yearly count of
//! persons transferred): compliance keeps them, auditors read them.
//! `/v1/notices`: the privacy-notice versions, for anyone signed in.

use crate::archive::governance::{
    NewAttestation, NewRecipient, NewTransfer, RecipientView, TransferView, TransferVolume,
};
use crate::domain::Jurisdiction;
use crate::web::body::{Body, Errors};
use crate::web::commands::{AttestationDto, NewRecipientDto};
use crate::web::error::ApiError;
use crate::web::{AppState, Ctx};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/recipients", post(create_recipient).get(list_recipients))
        .route("/recipients/{id}", get(get_recipient))
        .route("/recipients/{id}/attestation", post(attest))
        .route("/transfers", post(create_transfer).get(list_transfers))
        .route("/transfers/volume", get(volume))
        .route("/notices", get(notices))
}

/// Record a recipient (compliance): 403 `processing-not-assessed` without
/// the impact assessment its role needs.
#[utoipa::path(post, path = "/v1/recipients", tag = "governance",
    request_body = NewRecipientDto,
    responses((status = 201, body = RecipientView), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_recipient(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Body(d): Body<NewRecipientDto>,
) -> Result<(StatusCode, Json<RecipientView>), ApiError> {
    let new = NewRecipient::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.governance().create_recipient(&ctx, new).await?)))
}

#[derive(Serialize, ToSchema)]
pub struct RecipientsDto {
    pub recipients: Vec<RecipientView>,
}

/// The recipients register (compliance; auditor without attestation statements).
#[utoipa::path(get, path = "/v1/recipients", tag = "governance",
    responses((status = 200, body = RecipientsDto), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list_recipients(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<RecipientsDto>, ApiError> {
    Ok(Json(RecipientsDto { recipients: s.archive.governance().list_recipients(&ctx).await? }))
}

/// One recipient, with its status and deletion attestation.
#[utoipa::path(get, path = "/v1/recipients/{id}", tag = "governance", params(("id" = String, Path)),
    responses((status = 200, body = RecipientView), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_recipient(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<RecipientView>, ApiError> {
    Ok(Json(s.archive.governance().get_recipient(&ctx, &id).await?))
}

/// Record the party's deletion attestation once its term has ended
/// (compliance; PIPL Art. 21(2)); 409 before, or for a second one.
#[utoipa::path(post, path = "/v1/recipients/{id}/attestation", tag = "governance", params(("id" = String, Path)),
    request_body = AttestationDto,
    responses((status = 201, body = RecipientView), (status = 401), (status = 403), (status = 404), (status = 409),
              (status = 422)),
    security(("bearer" = [])))]
pub async fn attest(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(d): Body<AttestationDto>,
) -> Result<(StatusCode, Json<RecipientView>), ApiError> {
    let new = NewAttestation::try_from(d).map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.governance().attest_deletion(&ctx, &id, new).await?)))
}

/// `POST /v1/transfers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransferDto {
    /// The recipient abroad.
    #[schema(pattern = "^rcp_[0-9a-z]{26}$")]
    pub recipient: String,
    /// Whose persons it covers: their residency (CN, EU, a country code).
    #[schema(pattern = "^[A-Z]{2}$")]
    pub jurisdiction: String,
    /// A mechanism of policies/transfers.toml.
    #[schema(min_length = 1, max_length = 64)]
    pub mechanism: String,
    /// The standard contract's filing, the certificate, the assessment's approval, or the exemption's ground.
    #[schema(min_length = 1, max_length = 200, pattern = "[^\\s]")]
    pub reference: String,
    /// The impact assessment covering cross-border transfer for the
    /// recipient's purposes (PIPL Art. 55(4)); required while
    /// policies/assessments.toml requires `cross_border`.
    #[schema(pattern = "^pia_[0-9a-z]{26}$")]
    pub assessment: Option<String>,
}

/// Record a cross-border transfer (compliance): 403
/// `processing-not-assessed` without the impact assessment it needs.
#[utoipa::path(post, path = "/v1/transfers", tag = "governance",
    request_body = NewTransferDto,
    responses((status = 201, body = TransferView), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_transfer(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Body(d): Body<NewTransferDto>,
) -> Result<(StatusCode, Json<TransferView>), ApiError> {
    let mut errors = Errors::default();
    let jurisdiction = match Jurisdiction::parse(&d.jurisdiction) {
        Ok(j) => Some(j),
        Err(e) => {
            errors.add("/jurisdiction", &e);
            None
        }
    };
    let reference = errors.visible("/reference", d.reference, 200);
    let new = errors
        .finish(jurisdiction.map(|jurisdiction| NewTransfer {
            recipient: d.recipient,
            jurisdiction,
            mechanism: d.mechanism,
            reference,
            assessment: d.assessment,
        }))
        .map_err(ApiError::invalid)?;
    Ok((StatusCode::CREATED, Json(s.archive.governance().create_transfer(&ctx, new).await?)))
}

#[derive(Serialize, ToSchema)]
pub struct TransfersDto {
    pub transfers: Vec<TransferView>,
}

/// The transfer records (compliance, auditor).
#[utoipa::path(get, path = "/v1/transfers", tag = "governance",
    responses((status = 200, body = TransfersDto), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list_transfers(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<TransfersDto>, ApiError> {
    Ok(Json(TransfersDto { transfers: s.archive.governance().list_transfers(&ctx).await? }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VolumeQuery {
    /// The calendar year (default: this one).
    #[param(minimum = 1970, maximum = 9999)]
    pub year: Option<i32>,
}

/// The distinct persons whose data went abroad in a year, and the alert
/// threshold (compliance, auditor).
#[utoipa::path(get, path = "/v1/transfers/volume", tag = "governance", params(VolumeQuery),
    responses((status = 200, body = TransferVolume), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn volume(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    q: Result<Query<VolumeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TransferVolume>, ApiError> {
    let Query(q) = q.map_err(|_| ApiError::bad_request("unknown or repeated query parameter; allowed: year"))?;
    if let Some(y) = q.year.filter(|y| !(1970..=9999).contains(y)) {
        return Err(ApiError::bad_request(format!("year {y} is out of range (1970-9999)")));
    }
    Ok(Json(s.archive.governance().transfer_volume(&ctx, q.year).await?))
}

/// The privacy-notice versions of policies/notices.toml, each with whether
/// it is in force, whether its digest is recorded, the elements an older
/// version lacks (`incomplete`) and what it changes against the one before
/// (`changes`); to compliance and auditors also `unannounced_recipients`:
/// recipients in term on the register that the notice in force does not name.
#[utoipa::path(get, path = "/v1/notices", tag = "governance",
    responses((status = 200, body = Object, description = "{notices: [...], unannounced_recipients?: [{id, name}]}"),
              (status = 401)),
    security(("bearer" = [])))]
pub async fn notices(State(s): State<AppState>, Ctx(ctx): Ctx) -> Result<Json<Value>, ApiError> {
    let mut view = serde_json::json!({"notices": s.archive.dossiers().notices_view()?});
    if let Some(gaps) = s.archive.governance().unannounced_recipients(&ctx).await? {
        view["unannounced_recipients"] = Value::Array(gaps);
    }
    Ok(Json(view))
}
