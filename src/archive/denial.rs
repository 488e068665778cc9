//! Why an operation is refused, as one value. The audit entry's reason
//! (in words) and the caller's problem document (`denial`, a stable code)
//! are both made from it, so that no refusal and no policy name is ever
//! parsed back out of text.

use crate::domain::{CreditCode, EngagementId, ProcessingKind, RecipientId, RequestId};
use crate::policy::access::Basis;
use std::fmt;

/// A refusal: what the audit entry says, and the code the caller is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The access policy (`policies/access.cedar`) refused.
    Policy(Basis),
    /// The policy permits the change, but the caller does not see the
    /// business fields in clear, so could not know what they overwrite.
    FieldsNotClear(Basis),
    /// The policy lets the caller see no field of the dossier; the read
    /// plan's reasons (policy ids per class).
    NothingVisible(String),
    /// No customer scope (all, region, own) is permitted.
    NoCustomerScope,
    /// `X-Purpose` is missing.
    PurposeMissing,
    /// `X-Purpose` names no purpose of `policies/purposes.toml`.
    PurposeUnknown,
    /// The caller's roles may not state this purpose.
    PurposeNotForRole(String),
    /// The purpose needs an impact assessment and none on record covers it.
    PurposeNotAssessed(String),
    /// Processing of this kind (PIPL Art. 55) needs an impact assessment
    /// named for it, and none was.
    ProcessingNotAssessed(ProcessingKind),
    /// A processor's or recipient's agreement does not cover the call.
    Agreement(AgreementGap),
    /// An outside party reads dossiers one at a time.
    OutsideParty,
    /// A cross-border transfer lacks what PIPL Art. 38-39 need (each named).
    TransferUnmet(Vec<String>),
    /// A contact names a subject the caller may not name (`path`); `None`
    /// when no such subject exists.
    Link { path: String, basis: Option<Basis> },
    /// A second person must do this (four eyes).
    FourEyes(FourEyes),
    /// Only a token's holder renews it.
    NotTheHolder,
    /// Only the one who asked for an export downloads it.
    NotTheAsker,
    /// A data-subject request is recorded by compliance, or by service for
    /// a person of their region; `known` says whether the person exists.
    OutOfReach { known: bool },
    /// An erasure a hold or rule blocks (the person restricted instead).
    ErasureBlocked { blocked: String, pending: bool },
    /// Consent for a purpose the person objected to for good (direct
    /// marketing, GDPR Art. 21(3)).
    Objected(String),
    /// An import row the caller may not apply.
    ImportRow { row: usize, why: RowDenial },
    /// A person's export is given only for their own access or portability
    /// request, their identity verified, the request open (GDPR Art. 12(6),
    /// 15, 20; PIPL Art. 45, 50; NDSMR Art. 25(1)).
    NoVerifiedRequest { request: Option<RequestId>, gap: RequestGap },
    /// Only a principal of the recipient a hand-over is for collects it.
    NotTheRecipient,
    /// The token is not bound to a proven second factor yet: it serves
    /// only to set one up (`POST /v1/factor`) or prove it.
    SecondFactorRequired,
    /// The second-factor code is wrong, used before, or out of its window.
    SecondFactorInvalid,
    /// Too many failed second-factor attempts: the principal is locked
    /// out until the lock ends or an admin unlocks it.
    SecondFactorLocked,
    /// A restriction is lifted before the person was told it would be
    /// (GDPR Art. 18(3)): no notice is recorded since it began.
    RestrictionLiftNotNotified,
    /// A contested grade is reviewed by someone other than the customer's
    /// account manager (PIPL Art. 24(3); GDPR Art. 22(3)).
    OwnCustomerReview,
    /// The firm conducted the two personal-information compliance audits
    /// next to this one in the register's order: a third in a row is not
    /// allowed (Compliance-Audit Measures 2025).
    AuditorRotation { firm: CreditCode, run: [EngagementId; 2] },
}

/// What the request an export names lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestGap {
    /// No request was named.
    Missing,
    /// No such request.
    Unknown,
    /// The request is another person's.
    OtherPerson,
    /// The request is of another kind (`kind`) than this answers (`wanted`).
    Kind { kind: String, wanted: &'static str },
    /// The person's identity is not verified yet.
    Unverified,
    /// The request is closed (`completed`, `refused`).
    Closed(&'static str),
}

/// How a processor's or recipient's agreement falls short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgreementGap {
    NotInTerm(RecipientId),
    /// It covers these purposes only.
    Purposes {
        recipient: RecipientId,
        purposes: Vec<String>,
    },
    NotRegistered(RecipientId),
}

/// Which second pair of eyes is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FourEyes {
    /// The admin who asked for a token approving it.
    TokenAsker,
    /// An admin approving a token for themself.
    OwnToken,
    /// The admin who made an admin approving it.
    AdminMaker,
    /// An admin approving themself.
    OwnAdmin,
    /// An admin disabling themself.
    DisableSelf,
    /// The admin who disabled a principal (or the principal) enabling it.
    EnableByDisabler,
    /// The proposer of a destruction batch approving it.
    BatchProposer,
    /// The asker of a bulk export approving it.
    ExportAsker,
    /// The one who marked an audit finding fixed verifying the fix.
    FindingFixer,
    /// An admin resetting or unlocking their own second factor.
    OwnFactor,
}

/// Why an import row is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowDenial {
    Policy(Basis),
    /// The row states a field (pointer) the caller does not see in clear.
    Hidden(String),
    /// The row names contact details and the caller does not see every
    /// contact in clear.
    ContactsHidden,
}

impl Denial {
    /// The stable code a client matches on (`denial` in the problem document).
    pub fn code(&self) -> &'static str {
        match self {
            Denial::Policy(_) => "policy",
            Denial::FieldsNotClear(_) => "fields-not-clear",
            Denial::NothingVisible(_) => "nothing-visible",
            Denial::NoCustomerScope => "no-customer-scope",
            Denial::PurposeMissing => "purpose-missing",
            Denial::PurposeUnknown => "purpose-unknown",
            Denial::PurposeNotForRole(_) => "purpose-not-for-role",
            Denial::PurposeNotAssessed(_) => "purpose-not-assessed",
            Denial::ProcessingNotAssessed(_) => "processing-not-assessed",
            Denial::Agreement(_) => "agreement",
            Denial::OutsideParty => "outside-party",
            Denial::TransferUnmet(_) => "transfer-unmet",
            Denial::Link { .. } => "link",
            Denial::FourEyes(_) => "four-eyes",
            Denial::NotTheHolder => "not-the-holder",
            Denial::NotTheAsker => "not-the-asker",
            Denial::OutOfReach { .. } => "out-of-reach",
            Denial::ErasureBlocked { .. } => "erasure-blocked",
            Denial::Objected(_) => "objected",
            Denial::ImportRow { .. } => "import-row",
            Denial::NoVerifiedRequest { .. } => "no-verified-request",
            Denial::NotTheRecipient => "not-the-recipient",
            Denial::SecondFactorRequired => "second-factor-required",
            Denial::SecondFactorInvalid => "second-factor-invalid",
            Denial::SecondFactorLocked => "second-factor-locked",
            Denial::RestrictionLiftNotNotified => "restriction-lift-not-notified",
            Denial::OwnCustomerReview => "own-customer-review",
            Denial::AuditorRotation { .. } => "auditor-rotation",
        }
    }

    /// The codes a 403 carries as `denial` (the OpenAPI `Problem` schema
    /// lists them; docs/api.md's table is checked against them).
    pub const FORBIDDEN_CODES: [&'static str; 22] = [
        "policy",
        "fields-not-clear",
        "nothing-visible",
        "no-customer-scope",
        "purpose-not-for-role",
        "purpose-not-assessed",
        "processing-not-assessed",
        "agreement",
        "outside-party",
        "transfer-unmet",
        "link",
        "four-eyes",
        "not-the-holder",
        "not-the-asker",
        "out-of-reach",
        "no-verified-request",
        "not-the-recipient",
        "second-factor-required",
        "second-factor-invalid",
        "second-factor-locked",
        "own-customer-review",
        "auditor-rotation",
    ];

    /// Whether the caller is answered 403 with this denial. The others are
    /// audited as denials but answered otherwise: a missing or unknown
    /// purpose 400, a blocked erasure and a consent after an objection 409,
    /// an import row in the import's report.
    pub fn is_forbidden(&self) -> bool {
        !matches!(
            self,
            Denial::PurposeMissing
                | Denial::PurposeUnknown
                | Denial::ErasureBlocked { .. }
                | Denial::Objected(_)
                | Denial::ImportRow { .. }
                | Denial::RestrictionLiftNotNotified
        )
    }

    /// What the caller is told when no kinder words are given: the reason
    /// itself, except where it would confirm what the caller may not learn.
    pub fn told(&self) -> String {
        match self {
            Denial::Link { path, .. } => format!("{path}: no such subject, or not one you may name"),
            Denial::NothingVisible(_) => "the policy lets you see no field of this dossier for this purpose".into(),
            Denial::OutOfReach { .. } => {
                "requests are recorded by compliance, or by service for a person of their region".into()
            }
            Denial::PurposeNotForRole(p) => format!("your role may not use the purpose {p}"),
            Denial::PurposeNotAssessed(p) => format!(
                "the purpose {p} needs an impact assessment on record (PIPL Art. 55; GDPR Art. 35): none covers it"
            ),
            Denial::ProcessingNotAssessed(k) => format!(
                "{k} needs an impact assessment on record (PIPL Art. 55): name the one covering {k} and these purposes in `assessment` (record it with POST /v1/assessments)"
            ),
            Denial::NotTheAsker => "only the one who asked may download the export".into(),
            Denial::NoVerifiedRequest { gap, .. } => format!(
                "a person's data and decisions about them answer their own request of the right kind, verified and open: {}",
                gap.told()
            ),
            Denial::OwnCustomerReview => {
                "a contested grade is reviewed by finance or compliance, not by the customer's account manager".into()
            }
            Denial::NotTheRecipient => "only the recipient the hand-over is for collects it".into(),
            Denial::SecondFactorRequired => "this token works once its holder has set up and proven a second factor: \
                POST /v1/factor for the secret, add it to an authenticator app, then POST /v1/factor/confirm \
                with the app's current code"
                .into(),
            Denial::FourEyes(FourEyes::BatchProposer) => {
                "the proposer of a batch may not approve it (four eyes)".into()
            }
            Denial::FourEyes(FourEyes::ExportAsker) => {
                "a bulk export is approved by a second officer, not by the one who asked".into()
            }
            Denial::FourEyes(FourEyes::FindingFixer) => {
                "a finding's fix is verified by a second officer, not by the one who marked it fixed".into()
            }
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Denial {
    /// The audit entry's reason: policy ids and codes, never a personal value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::Policy(b) => write!(f, "{b}"),
            Denial::FieldsNotClear(b) => write!(f, "{b}; but the business fields are not visible in clear"),
            Denial::NothingVisible(reasons) => write!(f, "no field visible: {reasons}"),
            Denial::NoCustomerScope => {
                f.write_str("no policy permits customers.all, customers.region or customers.own")
            }
            Denial::PurposeMissing => f.write_str("missing purpose"),
            Denial::PurposeUnknown => f.write_str("unknown purpose"),
            Denial::PurposeNotForRole(p) => write!(f, "role may not use purpose {p}"),
            Denial::PurposeNotAssessed(_) => f.write_str("no impact assessment covers the purpose"),
            Denial::ProcessingNotAssessed(k) => write!(f, "no impact assessment named for {k}"),
            Denial::Agreement(AgreementGap::NotInTerm(r)) => write!(f, "the agreement of {r} is not in term"),
            Denial::Agreement(AgreementGap::Purposes { recipient, purposes }) => {
                write!(f, "the agreement of {recipient} covers the purposes {} only", purposes.join(", "))
            }
            Denial::Agreement(AgreementGap::NotRegistered(r)) => write!(f, "{r} is not on the recipients register"),
            Denial::OutsideParty => {
                f.write_str("an outside party's principal reads dossiers one at a time, within its agreement")
            }
            Denial::TransferUnmet(missing) => {
                write!(f, "cross-border transfer needs {} (PIPL Art. 38-39)", missing.join("; "))
            }
            Denial::Link { path, basis: None } => write!(f, "{path} names an unknown subject"),
            Denial::Link { path, basis: Some(b) } => write!(f, "{path} {b}"),
            Denial::FourEyes(e) => f.write_str(match e {
                FourEyes::TokenAsker => "the admin who asked for a token cannot approve it: a second admin must",
                FourEyes::OwnToken => "an admin cannot approve a token for themself",
                FourEyes::AdminMaker => "the admin who made an admin cannot approve it: a second admin must",
                FourEyes::OwnAdmin => "an admin cannot approve themself",
                FourEyes::DisableSelf => "an admin does not disable themself",
                FourEyes::EnableByDisabler => "a second admin, not the one who disabled it, enables a principal",
                FourEyes::BatchProposer => "the proposer may not approve (four eyes)",
                FourEyes::ExportAsker => "the asker may not approve their own export",
                FourEyes::FindingFixer => "the one who marked a finding fixed may not verify the fix",
                FourEyes::OwnFactor => "an admin does not reset or unlock their own second factor: a second admin does",
            }),
            Denial::NotTheHolder => f.write_str(
                "a token is renewed by its holder; for anyone else, ask for a new token, which a second admin approves",
            ),
            Denial::NotTheAsker => f.write_str("only the asker downloads an export"),
            Denial::OutOfReach { known: true } => f.write_str("compliance, or service for a person of their region"),
            Denial::OutOfReach { known: false } => f.write_str("no such subject, or not one of the caller's region"),
            Denial::ErasureBlocked { blocked, pending } => {
                let then = if *pending { "restricted and the erasure pending" } else { "restricted instead" };
                write!(f, "erasure blocked by {blocked}; {then}")
            }
            Denial::Objected(_) => f.write_str("the person objected to this purpose for good"),
            Denial::NoVerifiedRequest { request: None, gap } => {
                write!(f, "no verified open request answers it: {}", gap.told())
            }
            Denial::NoVerifiedRequest { request: Some(r), gap } => {
                write!(f, "request {r} does not answer it: {}", gap.told())
            }
            Denial::NotTheRecipient => f.write_str("the caller is not a principal of the hand-over's recipient"),
            Denial::ImportRow { row, why } => match why {
                RowDenial::Policy(b) => write!(f, "row {row}: {b}"),
                RowDenial::Hidden(p) => {
                    write!(f, "row {row}: the row states {p}, which the caller does not see in clear")
                }
                RowDenial::ContactsHidden => write!(
                    f,
                    "row {row}: the row names contact details and the caller does not see every contact in clear"
                ),
            },
            Denial::SecondFactorRequired => f.write_str("the token is not bound to a proven second factor"),
            Denial::SecondFactorInvalid => {
                f.write_str("the second-factor code is wrong, used before, or outside its time window")
            }
            Denial::SecondFactorLocked => {
                f.write_str("locked out after repeated failed second-factor attempts; the code was not checked")
            }
            Denial::RestrictionLiftNotNotified => f.write_str(
                "the person was not told before the lift of their restriction (GDPR Art. 18(3)): no notice recorded since it began",
            ),
            Denial::OwnCustomerReview => f.write_str("the reviewer is the customer's account manager"),
            Denial::AuditorRotation { firm, run: [a, b] } => write!(
                f,
                "firm {firm} conducted the personal-information compliance audits {a} and {b}: a third in a row \
                 by the same firm is not allowed (Compliance-Audit Measures 2025)"
            ),
        }
    }
}

impl RequestGap {
    /// In words (ids and codes only).
    pub fn told(&self) -> String {
        match self {
            RequestGap::Missing => "name the request it answers (request=req_...)".into(),
            RequestGap::Unknown => "no such request".into(),
            RequestGap::OtherPerson => "the request is another person's".into(),
            RequestGap::Kind { kind, wanted } => {
                format!("the request is of kind {kind}; this answers {wanted} requests only")
            }
            RequestGap::Unverified => {
                "the person's identity is not verified yet (GDPR Art. 12(6); NDSMR Art. 25(1))".into()
            }
            RequestGap::Closed(state) => format!("the request is {state}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every variant; the match fails to compile when a variant is
    /// added and not sampled here.
    fn every_denial() -> Vec<Denial> {
        let b = || Basis::Forbidden(vec!["x".into()]);
        let rid = || RecipientId::generate();
        let all = vec![
            Denial::Policy(b()),
            Denial::FieldsNotClear(b()),
            Denial::NothingVisible("x".into()),
            Denial::NoCustomerScope,
            Denial::PurposeMissing,
            Denial::PurposeUnknown,
            Denial::PurposeNotForRole("marketing".into()),
            Denial::PurposeNotAssessed("marketing".into()),
            Denial::ProcessingNotAssessed(ProcessingKind::Entrustment),
            Denial::Agreement(AgreementGap::NotInTerm(rid())),
            Denial::Agreement(AgreementGap::Purposes { recipient: rid(), purposes: vec!["x".into()] }),
            Denial::Agreement(AgreementGap::NotRegistered(rid())),
            Denial::OutsideParty,
            Denial::TransferUnmet(vec!["x".into()]),
            Denial::Link { path: "/contacts/0/subject_id".into(), basis: None },
            Denial::FourEyes(FourEyes::TokenAsker),
            Denial::NotTheHolder,
            Denial::NotTheAsker,
            Denial::OutOfReach { known: true },
            Denial::ErasureBlocked { blocked: "hold".into(), pending: true },
            Denial::Objected("marketing".into()),
            Denial::ImportRow { row: 3, why: RowDenial::ContactsHidden },
            Denial::NoVerifiedRequest { request: Some(RequestId::generate()), gap: RequestGap::Unverified },
            Denial::NotTheRecipient,
            Denial::SecondFactorRequired,
            Denial::SecondFactorInvalid,
            Denial::SecondFactorLocked,
            Denial::RestrictionLiftNotNotified,
            Denial::OwnCustomerReview,
            Denial::AuditorRotation {
                firm: CreditCode::parse("91350100M000100Y43").unwrap(),
                run: [EngagementId::generate(), EngagementId::generate()],
            },
        ];
        for d in &all {
            match d {
                Denial::Policy(_)
                | Denial::FieldsNotClear(_)
                | Denial::NothingVisible(_)
                | Denial::NoCustomerScope
                | Denial::PurposeMissing
                | Denial::PurposeUnknown
                | Denial::PurposeNotForRole(_)
                | Denial::PurposeNotAssessed(_)
                | Denial::ProcessingNotAssessed(_)
                | Denial::Agreement(_)
                | Denial::OutsideParty
                | Denial::TransferUnmet(_)
                | Denial::Link { .. }
                | Denial::FourEyes(_)
                | Denial::NotTheHolder
                | Denial::NotTheAsker
                | Denial::OutOfReach { .. }
                | Denial::ErasureBlocked { .. }
                | Denial::Objected(_)
                | Denial::ImportRow { .. }
                | Denial::NoVerifiedRequest { .. }
                | Denial::NotTheRecipient => {}
                Denial::SecondFactorRequired | Denial::SecondFactorInvalid | Denial::SecondFactorLocked => {}
                Denial::RestrictionLiftNotNotified => {}
                Denial::OwnCustomerReview => {}
                Denial::AuditorRotation { .. } => {}
            }
        }
        all
    }

    #[test]
    fn the_403_codes_are_exactly_those_listed_and_documented() {
        let all = every_denial();
        let mut forbidden: Vec<&str> = all.iter().filter(|d| d.is_forbidden()).map(Denial::code).collect();
        forbidden.dedup();
        assert_eq!(forbidden, Denial::FORBIDDEN_CODES, "in declaration order, each once");
        let api = include_str!("../../docs/api.md");
        for d in &all {
            assert!(api.contains(&format!("`{}`", d.code())), "docs/api.md names the code {}", d.code());
            assert!(!d.to_string().is_empty() && !d.told().is_empty());
        }
        let mut codes: Vec<&str> = all.iter().map(Denial::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 28, "one code per variant");
    }

    #[test]
    fn the_policy_names_are_a_value_not_words() {
        let d = Denial::Policy(Basis::Forbidden(vec!["restricted-subject".into(), "sales-own".into()]));
        assert_eq!(d.to_string(), "forbidden by restricted-subject, sales-own");
        let Denial::Policy(b) = &d else { unreachable!() };
        assert_eq!(b.policies(), ["restricted-subject", "sales-own"]);
        let none = Basis::NoPermit { action: "update".into(), roles: vec!["sales".into()], on_dossier: true };
        assert_eq!(none.to_string(), "no policy permits update for roles sales here");
        assert!(none.policies().is_empty());
    }

    #[test]
    fn a_link_refusal_does_not_tell_whether_the_subject_exists() {
        let unknown = Denial::Link { path: "/contacts/0/subject_id".into(), basis: None };
        let hidden = Denial::Link { path: "/contacts/0/subject_id".into(), basis: Some(Basis::Unbuildable("x")) };
        assert_eq!(unknown.told(), hidden.told());
        assert_ne!(unknown.to_string(), hidden.to_string(), "the audit entry does say which");
    }
}
