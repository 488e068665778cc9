//! The bodies of the recipients register and the impact-assessment
//! register, each with its one conversion into the archive's command (as
//! [`super`]'s): the API reads them as JSON, the console as forms. Their
//! times and dates parsed, their texts bounded, the report decoded; whether
//! a purpose exists, a date lies in the future or a term has ended is the
//! use case's to check.

use super::api_bodies::iso_date;
use super::oversight_bodies::report_bytes;
use crate::archive::governance::{NewAssessment, NewAttestation, NewRecipient, ProcessingKind, RecipientRole};
use crate::domain::dossier::FieldError;
use crate::domain::{Classification, Jurisdiction};
use crate::web::body::{Errors, Text};
use serde::Deserialize;
use utoipa::ToSchema;

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

/// The API's and the console's one check of a recipient's shape.
impl TryFrom<NewRecipientDto> for NewRecipient {
    type Error = Vec<FieldError>;
    fn try_from(d: NewRecipientDto) -> Result<Self, Self::Error> {
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
        errors.finish(from.zip(until).zip(country).map(|((term_from, term_until), country)| NewRecipient {
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
    }
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

/// The API's and the console's one check of an attestation's shape.
impl TryFrom<AttestationDto> for NewAttestation {
    type Error = Vec<FieldError>;
    fn try_from(d: AttestationDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let at = errors.time("/deleted_at", &d.deleted_at);
        let method = errors.visible("/method", d.method, 200);
        let statement = errors.visible("/statement", d.statement, 8000);
        errors.finish(at.map(|deleted_at| NewAttestation { deleted_at, method, statement }))
    }
}

/// What an assessment covers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeDto {
    /// Purposes of policies/purposes.toml.
    #[schema(min_items = 1, max_items = 64)]
    pub purposes: Vec<String>,
    #[schema(inline, max_items = 5)]
    pub data_categories: Vec<Classification>,
    #[schema(inline, max_items = 5)]
    pub processing: Vec<ProcessingKind>,
}

/// `POST /v1/assessments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentDto {
    #[schema(inline)]
    pub scope: ScopeDto,
    /// When it was carried out (ISO 8601 date).
    #[schema(format = Date)]
    pub conducted_on: String,
    /// Its conclusion (sealed).
    #[schema(inline)]
    pub conclusion: Text,
    /// The report document, base64 (stored sealed; its SHA-256 recorded).
    #[schema(
        min_length = 4,
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
    )]
    pub report_base64: String,
    /// The report's media type.
    #[schema(pattern = "^[a-z]+/[a-z0-9.+-]+$", max_length = 127)]
    pub report_type: String,
}

/// The API's and the console's one check of an assessment's shape: its
/// date parsed, its report decoded.
impl TryFrom<AssessmentDto> for NewAssessment {
    type Error = Vec<FieldError>;
    fn try_from(d: AssessmentDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let date = iso_date(&mut errors, "/conducted_on", &d.conducted_on);
        let report = report_bytes(&mut errors, "/report_base64", &d.report_base64);
        errors.finish(date.zip(report).map(|(conducted_on, report)| NewAssessment {
            purposes: d.scope.purposes,
            data_categories: d.scope.data_categories,
            processing: d.scope.processing,
            conducted_on,
            conclusion: d.conclusion.0,
            report,
            report_type: d.report_type,
        }))
    }
}
