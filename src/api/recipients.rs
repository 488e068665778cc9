//! `/v1/recipients` (the recipients register and deletion attestations),
//! `/v1/transfers` (cross-border transfer records and the yearly count of
//! persons transferred): compliance keeps them, auditors read them.
//! `/v1/notices`: the privacy-notice versions, for anyone signed in.

use crate::archive::governance::{
    NewAttestation, NewRecipient, NewTransfer, RecipientRole, RecipientView, TransferView, TransferVolume,
};
use crate::domain::{Classification, Jurisdiction};
use crate::web::body::{Body, Errors};
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

/// `POST /v1/recipients`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecipientDto {
    /// The party's (a company's) name.
    #[schema(min_length = 1, max_length = 200, pattern = "[^\\s]")]
    pub name: String,
    #[schema(inline)]
    pub role: RecipientRole,
    /// The purposes agreed (policies/purposes.toml).
    #[schema(min_items = 1, max_items = 32)]
    pub purposes: Vec<String>,
    /// The field classes agreed.
    #[schema(inline, min_items = 1, max_items = 5)]
    pub classes: Vec<Classification>,
    /// Where the party processes the data (ISO 3166-1 alpha-2, or EU).
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: String,
    /// The term (RFC 3339): the party's tokens work within it only.
    #[schema(format = DateTime)]
    pub term_from: String,
    #[schema(format = DateTime)]
    pub term_until: String,
    /// The contract's reference (an entrustment contract, PIPL Art. 21; a DPA, GDPR Art. 28(3)).
    #[schema(min_length = 1, max_length = 200, pattern = "[^\\s]")]
    pub contract: String,
    /// The impact assessment covering entrustment (a processor) or
    /// provision to a third party (an independent recipient) for the agreed
    /// purposes (PIPL Art. 55(3)); required while policies/assessments.toml
    /// requires that kind.
    #[schema(pattern = "^pia_[0-9a-z]{26}$")]
    pub assessment: Option<String>,
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
    let mut errors = Errors::default();
    let from = errors.time("/term_from", &d.term_from);
    let until = errors.time("/term_until", &d.term_until);
    if from.zip(until).is_some_and(|(from, until)| until <= from) {
        errors.add("/term_until", "must come after term_from");
    }
    let name = errors.visible("/name", d.name, 200);
    let contract = errors.visible("/contract", d.contract, 200);
    if d.purposes.is_empty() {
        errors.add("/purposes", "at least one agreed purpose");
    }
    if d.classes.is_empty() {
        errors.add("/classes", "at least one agreed field class");
    }
    let country = match Jurisdiction::parse(&d.country) {
        Ok(j) => Some(j),
        Err(e) => {
            errors.add("/country", &e);
            None
        }
    };
    let new = errors
        .finish(from.zip(until).zip(country).map(|((term_from, term_until), country)| NewRecipient {
            name,
            role: d.role,
            purposes: d.purposes,
            classes: d.classes,
            country,
            term_from,
            term_until,
            contract,
            assessment: d.assessment,
        }))
        .map_err(ApiError::invalid)?;
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

/// `POST /v1/recipients/{id}/attestation`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestationDto {
    /// When the party deleted the data (RFC 3339).
    #[schema(format = DateTime)]
    pub deleted_at: String,
    /// How (overwriting, key destruction, return of media ...).
    #[schema(min_length = 1, max_length = 200, pattern = "[^\\s]")]
    pub method: String,
    /// The party's statement (sealed).
    #[schema(min_length = 1, max_length = 8000, pattern = "[^\\s]")]
    pub statement: String,
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
    let mut errors = Errors::default();
    let at = errors.time("/deleted_at", &d.deleted_at);
    let method = errors.visible("/method", d.method, 200);
    let statement = errors.visible("/statement", d.statement, 8000);
    let new = errors
        .finish(at.map(|deleted_at| NewAttestation { deleted_at, method, statement }))
        .map_err(ApiError::invalid)?;
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
