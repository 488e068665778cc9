//! The bodies both front ends take, each with its one conversion into the
//! archive's command: the API reads them as JSON ([`super::body::Body`]),
//! the console as forms ([`super::form`]), so a command's shape is checked
//! once, here, whichever edge it came through (the bodies only the API
//! takes, a month's figures, an export, an incident's affected criteria,
//! are checked the same way in `commands/api_bodies.rs`).
//! What a command names in the store (a dossier's contact, a recipient, a
//! purpose) and when it says it happened are the use case's to check.

use super::body::{Errors, Text};
use crate::archive::customers::{InteractionKind, NewInteraction, NewReview, ReviewOutcome, MAX_NOTE, MAX_SUMMARY};
use crate::archive::registers::{
    AnswerKind, AnswerRef, Channel, NewRequest, NewState, RequestChange, RequestKind, RequestState, Verification,
    VerificationMethod,
};
use crate::archive::subjects::{NewConsent, MAX_EVIDENCE};
use crate::archive::ConsentBasis;
use crate::domain::dossier::FieldError;
use crate::domain::{Jurisdiction, PrincipalId};
use serde::Deserialize;
use utoipa::ToSchema;

mod api_bodies;
pub use api_bodies::{AffectedDto, FiguresDto, HandoverDto, LiftNoticeDto, NewExportDto, OfficerDto};
mod governance_bodies;
pub use governance_bodies::{AssessmentDto, AttestationDto, NewRecipientDto, ScopeDto};
mod incident_bodies;
pub use incident_bodies::{ExemptionDto, ExemptionReasoning, NewIncidentDto, NotificationDto};
mod principal_bodies;
pub use principal_bodies::{NewPrincipalDto, RoleDto};
mod oversight_bodies;
pub use oversight_bodies::{
    one_date, report_bytes, AppointmentDto, AuthorityReportDto, CompletionDto, EngagementDto, FindingDto, FixDto,
    GradeDecisionDto, ReportDto, StartDto, VerifyDto,
};

/// `POST /v1/dossiers/{id}/interactions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionDto {
    #[schema(inline)]
    pub kind: InteractionKind,
    /// When it happened (RFC 3339).
    #[schema(format = DateTime)]
    pub at: String,
    /// What was said or done (confidential; sealed).
    #[schema(min_length = 1, max_length = 4000, pattern = "[^\\s]")]
    pub summary: String,
    /// The contact person it was with (`sub_…` of this dossier).
    #[schema(pattern = "^sub_[0-9a-z]{26}$")]
    pub contact: Option<String>,
    /// 1 (poor) to 5 (excellent).
    #[schema(minimum = 1, maximum = 5)]
    pub satisfaction: Option<u8>,
    /// The follow-up promised (YYYY-MM-DD): open on the recorder's start
    /// page until a later interaction with the customer is recorded.
    #[schema(format = Date)]
    pub follow_up: Option<String>,
}

/// The API's and the console's one check of an interaction's shape.
impl TryFrom<InteractionDto> for NewInteraction {
    type Error = Vec<FieldError>;
    fn try_from(d: InteractionDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let at = errors.time("/at", &d.at);
        let follow_up = errors.date("/follow_up", d.follow_up.as_deref());
        let summary = errors.visible("/summary", d.summary, MAX_SUMMARY);
        if d.satisfaction.is_some_and(|s| !(1..=5).contains(&s)) {
            errors.add("/satisfaction", "from 1 to 5");
        }
        errors.finish(at.map(|at| NewInteraction {
            kind: d.kind,
            at,
            summary,
            contact: d.contact,
            satisfaction: d.satisfaction,
            follow_up,
        }))
    }
}

/// `POST /v1/dossiers/{id}/reviews`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDto {
    #[schema(inline)]
    pub outcome: ReviewOutcome,
    /// What the review found (sealed).
    #[schema(min_length = 1, max_length = 4000, pattern = "[^\\s]")]
    pub note: String,
    /// For `contact_lost`: the contact person (`sub_…` of this dossier).
    #[schema(pattern = "^sub_[0-9a-z]{26}$")]
    pub contact: Option<String>,
}

/// The API's and the console's one check of a review's shape.
impl TryFrom<ReviewDto> for NewReview {
    type Error = Vec<FieldError>;
    fn try_from(d: ReviewDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let note = errors.visible("/note", d.note, MAX_NOTE);
        if d.outcome == ReviewOutcome::ContactLost && d.contact.is_none() {
            errors.add("/contact", "contact_lost names the contact person");
        }
        errors.finish(Some(NewReview { outcome: d.outcome, note, contact: d.contact }))
    }
}

/// `POST /v1/dossiers/{id}/legal-holds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldDto {
    /// Why the dossier must be kept (sealed; may name people).
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 2000
    )]
    pub reason: String,
    /// The case or matter it is kept for (sealed).
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 200
    )]
    pub case_ref: String,
    /// Whose law requires the hold: `CN` (the default), `EU`, or an EU
    /// member state's code. An EU resident's erasure yields only to an EU
    /// or member-state hold; anyone else's to a PRC hold.
    #[schema(pattern = "^[A-Z]{2}$", example = "CN")]
    pub jurisdiction: Option<String>,
}

/// A legal hold to place.
pub struct NewHold {
    pub reason: String,
    pub case_ref: String,
    pub jurisdiction: Jurisdiction,
}

impl TryFrom<HoldDto> for NewHold {
    type Error = Vec<FieldError>;
    fn try_from(d: HoldDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let reason = errors.text("/reason", &d.reason, 2000);
        let case_ref = errors.text("/case_ref", &d.case_ref, 200);
        let jurisdiction = match d.jurisdiction.as_deref().map(Jurisdiction::parse) {
            None => Some(Jurisdiction::cn()),
            Some(Ok(j)) if j.may_hold() => Some(j),
            Some(Ok(_)) => {
                errors.add("/jurisdiction", "a legal hold obeys PRC law (CN), Union law (EU) or a member state's law");
                None
            }
            Some(Err(e)) => {
                errors.add("/jurisdiction", &e);
                None
            }
        };
        errors.finish(jurisdiction.map(|jurisdiction| NewHold { reason, case_ref, jurisdiction }))
    }
}

/// `POST /v1/subjects/{sid}/erasure`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureDto {
    /// A ground (purpose_achieved, consent_withdrawn, service_ended,
    /// unlawful_processing, objection, retention_expired) or free text (not stored).
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 2000
    )]
    pub reason: String,
}

/// `POST /v1/subjects/{sid}/consents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentDto {
    /// A consent-based purpose of policies/purposes.toml.
    #[schema(min_length = 1, max_length = 64)]
    pub purpose: String,
    /// `separate_consent` is required for sensitive data (PIPL Art. 29).
    #[schema(inline)]
    pub basis: BasisDto,
    /// How the consent was given (a form, a recording, a receipt); sealed.
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 2000
    )]
    pub evidence: String,
    /// When the person gave it (RFC 3339).
    #[schema(format = DateTime)]
    pub granted_at: String,
    /// The privacy-notice version the person consented under (notices.toml);
    /// absent: the one in force when they consented.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub notice: Option<String>,
    /// A recipient of the recipients register this consent names: the
    /// person's separate consent to provision to it (PIPL Art. 23, 39).
    #[serde(default)]
    #[schema(pattern = "^rcp_[0-9a-z]{26}$")]
    pub recipient: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BasisDto {
    Consent,
    SeparateConsent,
}

impl From<BasisDto> for ConsentBasis {
    fn from(b: BasisDto) -> Self {
        match b {
            BasisDto::Consent => ConsentBasis::Consent,
            BasisDto::SeparateConsent => ConsentBasis::SeparateConsent,
        }
    }
}

impl TryFrom<ConsentDto> for NewConsent {
    type Error = Vec<FieldError>;
    fn try_from(d: ConsentDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        if d.purpose.trim().is_empty() {
            errors.add("/purpose", "required: a purpose id");
        }
        let granted_at = errors.time("/granted_at", &d.granted_at);
        let evidence = errors.visible("/evidence", d.evidence, MAX_EVIDENCE);
        if d.recipient.is_some() && !matches!(d.basis, BasisDto::SeparateConsent) {
            errors.add("/basis", "a consent naming a recipient is a separate consent (PIPL Art. 23, 39)");
        }
        errors.finish(granted_at.map(|granted_at| NewConsent {
            purpose: d.purpose,
            basis: d.basis.into(),
            evidence,
            granted_at,
            notice: d.notice,
            recipient: d.recipient,
        }))
    }
}

/// How the person's identity was verified.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationDto {
    #[schema(inline)]
    pub method: VerificationMethod,
    /// The principal who verified it (`prn_...`).
    #[schema(pattern = "^prn_[0-9a-z]{26}$")]
    pub verified_by: String,
    /// Details (sealed under the person's key).
    #[schema(inline)]
    pub note: Option<Text>,
}

fn verification(errors: &mut Errors, path: &str, v: Option<VerificationDto>) -> Option<Verification> {
    let v = v?;
    match PrincipalId::parse(&v.verified_by) {
        Ok(by) => Some(Verification { method: v.method, verified_by: by, note: v.note.map(|t| t.0) }),
        Err(_) => {
            errors.add(&format!("{path}/verified_by"), "a principal id (prn_...)");
            None
        }
    }
}

/// `POST /v1/requests`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequestDto {
    /// The person (`sub_...`).
    #[schema(pattern = "^sub_[0-9a-z]{26}$")]
    pub subject_id: String,
    #[schema(inline)]
    pub kind: RequestKind,
    /// For an objection or a withdrawal: the purpose it concerns.
    #[schema(min_length = 1, max_length = 64)]
    pub purpose: Option<String>,
    /// When the request reached the operator (RFC 3339): the period runs from it.
    #[schema(format = DateTime)]
    pub received_at: String,
    #[schema(inline)]
    pub channel: Channel,
    /// What the person asked (sealed under their key).
    #[schema(inline)]
    pub details: Option<Text>,
    /// Given: the request is recorded as verified.
    #[schema(inline)]
    pub verification: Option<VerificationDto>,
}

/// The API's and the console's one check of a new request's shape.
impl TryFrom<NewRequestDto> for NewRequest {
    type Error = Vec<FieldError>;
    fn try_from(d: NewRequestDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let received_at = errors.time("/received_at", &d.received_at);
        if d.purpose.is_none() && d.kind.needs_purpose() {
            errors.add("/purpose", "an objection or withdrawal names the purpose it concerns");
        }
        let verification = verification(&mut errors, "/verification", d.verification);
        errors.finish(received_at.map(|received_at| NewRequest {
            subject: d.subject_id,
            kind: d.kind,
            purpose: d.purpose,
            received_at,
            channel: d.channel,
            details: d.details.map(|t| t.0),
            verification,
        }))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerDto {
    #[schema(inline)]
    pub kind: AnswerKind,
    /// The audit entry's seq, or the certificate id.
    #[schema(min_length = 1, max_length = 64)]
    pub reference: String,
}

/// `PATCH /v1/requests/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestChangeDto {
    /// The new state.
    #[schema(inline)]
    pub state: Option<RequestState>,
    /// With `verified`: how and by whom.
    #[schema(inline)]
    pub verification: Option<VerificationDto>,
    /// With `completed`: what answered it.
    #[schema(inline, max_items = 20)]
    pub answered_by: Option<Vec<AnswerDto>>,
    /// With `refused`: a code of policies/requests.toml.
    #[schema(min_length = 1, max_length = 64)]
    pub reason_code: Option<String>,
    /// With `refused`: the reasons given to the person (sealed).
    #[schema(inline)]
    pub reason: Option<Text>,
    /// Extends the period once, where the law allows (sealed).
    #[schema(inline)]
    pub extension_reason: Option<Text>,
}

/// The API's and the console's one check of a request change's shape:
/// something changes, and the new state comes with what it needs.
impl TryFrom<RequestChangeDto> for RequestChange {
    type Error = Vec<FieldError>;
    fn try_from(d: RequestChangeDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        if d.state.is_none() && d.extension_reason.is_none() {
            errors.add("", "give a state, an extension_reason, or both");
        }
        let given = d.verification.is_some();
        let verification = verification(&mut errors, "/verification", d.verification);
        let state = match d.state {
            None => None,
            Some(RequestState::Received) => Some(NewState::Received),
            Some(RequestState::InProgress) => Some(NewState::InProgress),
            Some(RequestState::Verified) => {
                if !given {
                    errors.add("/verification", "how the identity was verified and by whom");
                }
                verification.map(NewState::Verified)
            }
            Some(RequestState::Refused) => match d.reason {
                None => {
                    errors.add("/reason", "the reasons given to the person");
                    None
                }
                Some(reason) => Some(NewState::Refused { code: d.reason_code, reason: reason.0 }),
            },
            Some(RequestState::Completed) => {
                let given = d.answered_by.unwrap_or_default();
                if given.is_empty() {
                    errors.add("/answered_by", "what answered the request: an audit entry or a certificate");
                }
                let mut answers = Vec::new();
                for (i, a) in given.into_iter().enumerate() {
                    match a.kind {
                        AnswerKind::AuditEntry => match seq_of(&a.reference) {
                            Some(seq) => answers.push(AnswerRef::AuditEntry(seq)),
                            None => errors.add(&format!("/answered_by/{i}/reference"), "an audit entry's seq"),
                        },
                        AnswerKind::Certificate => answers.push(AnswerRef::Certificate(a.reference)),
                    }
                }
                Some(NewState::Completed(answers))
            }
        };
        let extension_reason = d.extension_reason.map(|t| t.0);
        errors.finish(RequestChange::new(state, extension_reason))
    }
}

/// An audit entry's sequence number: decimal digits only (no sign).
fn seq_of(reference: &str) -> Option<u64> {
    let digits = !reference.is_empty() && reference.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| reference.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The failing paths and messages of a conversion that must fail.
    pub(super) fn refused<T: std::fmt::Debug>(r: Result<T, Vec<FieldError>>) -> Vec<(String, String)> {
        r.expect_err("the shape is refused").into_iter().map(|e| (e.path, e.message)).collect()
    }

    pub(super) fn one(path: &str, message: &str) -> Vec<(String, String)> {
        vec![(path.to_owned(), message.to_owned())]
    }

    fn change() -> RequestChangeDto {
        RequestChangeDto {
            state: None,
            verification: None,
            answered_by: None,
            reason_code: None,
            reason: None,
            extension_reason: None,
        }
    }

    fn answer(kind: AnswerKind, reference: &str) -> AnswerDto {
        AnswerDto { kind, reference: reference.into() }
    }

    #[test]
    fn a_change_of_nothing_is_refused() {
        assert_eq!(refused(RequestChange::try_from(change())), one("", "give a state, an extension_reason, or both"));
        let d = RequestChangeDto { reason_code: Some("excessive".into()), ..change() };
        assert_eq!(refused(RequestChange::try_from(d)), one("", "give a state, an extension_reason, or both"));
        let extend = RequestChangeDto { extension_reason: Some(Text("complex".into())), ..change() };
        let c = RequestChange::try_from(extend).unwrap();
        assert!(c.state().is_none() && c.extension_reason() == Some("complex"));
    }

    #[test]
    fn each_state_comes_with_what_it_needs() {
        let verified = RequestChangeDto { state: Some(RequestState::Verified), ..change() };
        assert_eq!(
            refused(RequestChange::try_from(verified)),
            one("/verification", "how the identity was verified and by whom")
        );
        let refusal =
            RequestChangeDto { state: Some(RequestState::Refused), reason_code: Some("excessive".into()), ..change() };
        assert_eq!(refused(RequestChange::try_from(refusal)), one("/reason", "the reasons given to the person"));
        for answered_by in [None, Some(vec![])] {
            let completed = RequestChangeDto { state: Some(RequestState::Completed), answered_by, ..change() };
            assert_eq!(
                refused(RequestChange::try_from(completed)),
                one("/answered_by", "what answered the request: an audit entry or a certificate")
            );
        }
        // The refusal code itself is the policy's: the use case checks it.
        let refusal =
            RequestChangeDto { state: Some(RequestState::Refused), reason: Some(Text("x".into())), ..change() };
        let c = RequestChange::try_from(refusal).unwrap();
        assert!(matches!(c.state(), Some(NewState::Refused { code: None, ref reason }) if reason == "x"));
        let verification = VerificationDto {
            method: VerificationMethod::IdDocument,
            verified_by: PrincipalId::generate().to_string(),
            note: None,
        };
        let verified =
            RequestChangeDto { state: Some(RequestState::Verified), verification: Some(verification), ..change() };
        assert!(matches!(RequestChange::try_from(verified).unwrap().state(), Some(NewState::Verified(_))));
        let bad_by = VerificationDto { method: VerificationMethod::Other, verified_by: "officer".into(), note: None };
        let verified = RequestChangeDto { state: Some(RequestState::Verified), verification: Some(bad_by), ..change() };
        assert_eq!(
            refused(RequestChange::try_from(verified)),
            one("/verification/verified_by", "a principal id (prn_...)")
        );
    }

    #[test]
    fn an_audit_entry_answer_is_a_seq() {
        let completed = |answers: Vec<AnswerDto>| RequestChangeDto {
            state: Some(RequestState::Completed),
            answered_by: Some(answers),
            ..change()
        };
        let c = RequestChange::try_from(completed(vec![
            answer(AnswerKind::AuditEntry, "42"),
            answer(AnswerKind::Certificate, "cert_x"),
        ]))
        .unwrap();
        let Some(NewState::Completed(answers)) = c.state() else { panic!("completed") };
        assert_eq!(*answers, [AnswerRef::AuditEntry(42), AnswerRef::Certificate("cert_x".into())]);
        for bad in ["abc", "-1", "+7", "1.5", " 7", "", "18446744073709551616"] {
            let d = completed(vec![answer(AnswerKind::AuditEntry, "1"), answer(AnswerKind::AuditEntry, bad)]);
            assert_eq!(
                refused(RequestChange::try_from(d)),
                one("/answered_by/1/reference", "an audit entry's seq"),
                "{bad}"
            );
        }
        // Answers go with completed only, as before: other states ignore them.
        let d = RequestChangeDto {
            state: Some(RequestState::InProgress),
            answered_by: Some(vec![answer(AnswerKind::AuditEntry, "abc")]),
            ..change()
        };
        assert!(matches!(RequestChange::try_from(d).unwrap().state(), Some(NewState::InProgress)));
    }

    #[test]
    fn a_consent_naming_a_recipient_is_a_separate_consent() {
        let consent = |basis| ConsentDto {
            purpose: "service_delivery".into(),
            basis,
            evidence: "signed".into(),
            granted_at: "2026-07-01T00:00:00Z".into(),
            notice: None,
            recipient: Some("rcp_01arz3ndektsv4rrffq69g5fav".into()),
        };
        assert_eq!(
            refused(NewConsent::try_from(consent(BasisDto::Consent))),
            one("/basis", "a consent naming a recipient is a separate consent (PIPL Art. 23, 39)")
        );
        assert!(NewConsent::try_from(consent(BasisDto::SeparateConsent)).is_ok());
        let plain = ConsentDto { recipient: None, ..consent(BasisDto::Consent) };
        assert!(NewConsent::try_from(plain).is_ok());
    }
}
