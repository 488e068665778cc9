//! Stored record shapes (metadata as JSON, versions as postcard). None of
//! these hold a personal value in plaintext.

use crate::crypto::Sealed;
use crate::domain::dossier::{Grade, Status};
use crate::domain::{
    AssessmentId, Classification, DossierId, Jurisdiction, PrincipalId, RecipientId, RecipientRole, SubjectId, TokenId,
    TransferId,
};
use crate::store::{keys, Cf, Lookup, Marks, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

mod worked_on;
pub use worked_on::{mark_worked_on, WORKED_ON};

mod stand;
mod told;
pub use stand::{GradeStand, StandEvent};
pub use told::{LiftNotice, NoticeChannel, NoticeTold, NotifyChannel};

#[derive(Debug, Serialize, Deserialize)]
pub struct InitRecord {
    pub master_fingerprint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub initialized_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: TokenId,
    pub principal: PrincipalId,
    /// SHA-256 of the token, hex; empty until the enrollment code is
    /// redeemed. The token itself is never stored.
    pub hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked_at: Option<OffsetDateTime>,
    /// The admin who asked for the token (none: made at initialisation).
    #[serde(default)]
    pub requested_by: Option<PrincipalId>,
    /// Whether a second admin must approve it before it can be enrolled.
    #[serde(default)]
    pub needs_approval: bool,
    /// The second admin who approved it.
    #[serde(default)]
    pub approved_by: Option<PrincipalId>,
    /// SHA-256 of the one-time enrollment code, hex, while it can be
    /// redeemed. For a token a second admin approved: of the approving
    /// admin's half of the code.
    #[serde(default)]
    pub code_hash: Option<String>,
    /// SHA-256 of the asking admin's half of the enrollment code, for a token
    /// that needs approval: the person redeems the two halves joined, so
    /// neither admin alone holds a code that works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_part_hash: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub code_expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub enrolled_at: Option<OffsetDateTime>,
    /// When the enrolled token stops working (set at enrollment, moved by
    /// renewal). A token enrolled before expiry existed expires one
    /// lifetime after it was made.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expires_at: Option<OffsetDateTime>,
    /// The id of the second factor its holder proved when it was issued
    /// (or bound): it works only while that factor is the principal's.
    /// `None`: issued before (the bootstrap token, or one enrolled before
    /// second factors): it serves only to set one up or prove it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<String>,
}

impl TokenRecord {
    /// A token asked for and not yet enrolled.
    pub fn pending(
        id: TokenId,
        principal: PrincipalId,
        requested_by: Option<PrincipalId>,
        now: OffsetDateTime,
    ) -> Self {
        TokenRecord {
            id,
            principal,
            hash: String::new(),
            created_at: now,
            revoked_at: None,
            needs_approval: false,
            requested_by,
            approved_by: None,
            code_hash: None,
            code_part_hash: None,
            code_expires_at: None,
            enrolled_at: None,
            expires_at: None,
            factor: None,
        }
    }

    pub fn state(&self, now: OffsetDateTime) -> TokenState {
        if self.revoked_at.is_some() {
            TokenState::Revoked
        } else if !self.hash.is_empty() && self.expires_at.is_some_and(|t| t <= now) {
            TokenState::Expired
        } else if !self.hash.is_empty() {
            TokenState::Active
        } else if self.needs_approval && self.approved_by.is_none() {
            TokenState::AwaitingApproval
        } else if self.code_expires_at.is_some_and(|t| t > now) {
            TokenState::Enrollable
        } else {
            TokenState::Expired
        }
    }
}

/// Where a token is on its way from request to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// Asked for; a second admin must approve it.
    AwaitingApproval,
    /// Its one-time enrollment code can be redeemed (`POST /v1/enroll`).
    Enrollable,
    /// Enrolled: the token works.
    Active,
    /// The enrollment code expired unredeemed, or the token its lifetime.
    Expired,
    Revoked,
}

/// Dossier metadata: `<dos>` in `dossiers`.
pub(crate) const DOSSIERS: Table<DossierId, DossierMeta> =
    Table::new(Cf::Dossiers, keys::DOSSIER_PREFIX, keys::dossier).rows_where(|k| !k.contains(&b'/'));
/// Subject metadata: `<sub>` in `subjects` (the rows under it are links
/// and consent events, which a scan of the table does not read: see
/// `keys::SUBJECT_PREFIX`).
pub(crate) const SUBJECTS: Table<SubjectId, SubjectMeta> =
    Table::new(Cf::Subjects, keys::SUBJECT_PREFIX, keys::subject).rows_where(|k| !k.contains(&b'/'));
/// Links: `<sub>/d/<dos>` in `subjects`, an empty value: the person is
/// named by the dossier.
pub(crate) const SUBJECT_LINKS: Marks<SubjectId, DossierId> = Marks::new(Cf::Subjects, keys::subject_links_prefix);
/// The persons whose data went abroad in a year: `y/<yyyy>/<sub>` in
/// `registers`, an empty value; counted for the yearly volume alert.
pub(crate) const TRANSFERRED: Marks<i32, SubjectId> = Marks::new(Cf::Registers, keys::transferred_prefix);
/// Consent events: `<sub>/c/<event u32 BE>` in `subjects`, append-only.
pub(crate) const CONSENT_EVENTS: Table<(SubjectId, u32), ConsentEvent> =
    Table::new(Cf::Subjects, keys::SUBJECT_PREFIX, |(sid, n): &(SubjectId, u32)| keys::consent_event(sid, *n))
        .rows_where(|k| k.windows(3).any(|w| w == b"/c/"));
/// Unusual-access alerts: `<alr>` in `alerts`, written once each.
pub(crate) const ALERTS: Table<str, crate::policy::alerts::Alert> = Table::new(Cf::Alerts, b"", keys::alert);
/// Tokens: `t/<tok>` in `principals`.
pub(crate) const TOKENS: Table<TokenId, TokenRecord> = Table::new(Cf::Principals, b"t/", keys::token);
/// A token by the hash of its secret: `h/<hash>` in `principals`.
pub(crate) const TOKEN_BY_HASH: Lookup<str, TokenId> = Lookup::new(Cf::Principals, keys::token_hash);
/// A token by the hash of its enrollment code (or of the code's joined
/// halves): `e/<hash>` in `principals`, until the code is redeemed.
pub(crate) const TOKEN_BY_CODE: Lookup<str, TokenId> = Lookup::new(Cf::Principals, keys::enrollment);

/// Plaintext metadata needed to decide without decrypting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DossierMeta {
    pub id: DossierId,
    pub current_version: u32,
    /// Hash of the current version record, hex.
    pub head_hash: String,
    pub owner: PrincipalId,
    pub region: String,
    pub grade: Grade,
    pub status: Status,
    pub created_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Every subject any version names.
    pub subjects: Vec<SubjectId>,
    /// When the customer relationship ended (`POST .../close`).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub ended_at: Option<OffsetDateTime>,
    /// Set when the dossier was destroyed; nothing else of it remains.
    #[serde(default)]
    pub destroyed: Option<Tombstone>,
    /// Per person and personal field (`phone`, `email`, ...), the version
    /// that last changed it (a correction, PIPL Art. 46; GDPR Art. 16):
    /// older versions hold a value since superseded.
    #[serde(default)]
    pub corrected: BTreeMap<SubjectId, BTreeMap<String, u32>>,
    /// A natural-person customer's proprietor (also in `subjects`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proprietor: Option<SubjectId>,
    /// The proprietor's stand against automated grading: while it holds,
    /// no rule changes the grade. Kept in the metadata so that every change
    /// of it, and every version, is one compare-and-set.
    #[serde(default, skip_serializing_if = "GradeStand::is_empty")]
    pub grade_stand: GradeStand,
    /// The last change of grade: the grade before it and when (the start
    /// page's "grade changes since your last visit").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade_change: Option<GradeMove>,
}

/// A dossier's last change of grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradeMove {
    pub from: Grade,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What is left of a destroyed dossier or an erased subject: no personal
/// value, only what proves the destruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub certificate: String,
    pub batch: String,
    pub rule: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl DossierMeta {
    /// What access decisions may know of the dossier.
    pub fn facts(&self) -> crate::policy::access::DossierFacts<'_> {
        crate::policy::access::DossierFacts {
            owner: &self.owner,
            region: &self.region,
            grade: self.grade,
            status: self.status,
        }
    }
}

/// A data subject's current state. The consent history it summarises is
/// kept as `ConsentEvent`s beside it and never rewritten.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubjectMeta {
    pub id: SubjectId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Set by `POST .../restriction` (PIPL Art. 44, 47(2); GDPR Art. 18).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub restricted_at: Option<OffsetDateTime>,
    /// Live consents by purpose.
    #[serde(default)]
    pub consents: BTreeMap<String, LiveConsent>,
    /// Number of consent events recorded (the next event's number).
    #[serde(default)]
    pub consent_events: u32,
    /// The last consent withdrawal (a retention trigger).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_withdrawal_at: Option<OffsetDateTime>,
    /// Set when the subject was erased.
    #[serde(default)]
    pub erased: Option<Tombstone>,
    /// Where the person resides, when stated (`PUT .../residency`); else
    /// PRC residency is assumed. A jurisdiction code, no personal value.
    #[serde(default)]
    pub residency: Option<crate::domain::Jurisdiction>,
    /// Purposes the person objected to for good (GDPR Art. 21(3): direct
    /// marketing); consent for them is never recorded again.
    #[serde(default)]
    pub objected: std::collections::BTreeSet<String>,
    /// When a periodic review found the person lost as a contact (the
    /// `contact_lost` retention trigger).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub lost_at: Option<OffsetDateTime>,
    /// The last notice to the person that their restriction is about to be
    /// lifted (GDPR Art. 18(3)); a lift needs one given since the
    /// restriction began.
    #[serde(default)]
    pub lift_notice: Option<LiftNotice>,
    /// The notice versions the person was told of after collection (PIPL
    /// Art. 17(2)), oldest first (`POST .../notified`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notified: Vec<NoticeTold>,
}

impl SubjectMeta {
    pub fn new(id: SubjectId, created_at: OffsetDateTime) -> Self {
        SubjectMeta {
            id,
            created_at,
            restricted_at: None,
            consents: BTreeMap::new(),
            consent_events: 0,
            last_withdrawal_at: None,
            erased: None,
            residency: None,
            objected: Default::default(),
            lost_at: None,
            lift_notice: None,
            notified: Vec::new(),
        }
    }

    /// Where the person resides: as stated, else the PRC.
    pub fn residency(&self) -> crate::domain::Jurisdiction {
        self.residency.clone().unwrap_or_else(crate::domain::Jurisdiction::cn)
    }

    /// The legal-basis state access decisions use.
    /// A consent counts only where the notice it was given under names its
    /// purpose (PIPL Art. 14, 17): a purpose a later notice adds needs
    /// consent under that notice.
    pub fn state(&self, notices: &crate::policy::governance::Notices) -> crate::policy::access::SubjectState {
        let live: Vec<(&String, &LiveConsent)> = self.consents.iter().filter(|(k, c)| c.counts(k, notices)).collect();
        crate::policy::access::SubjectState {
            restricted: self.restricted_at.is_some(),
            consents: live.iter().map(|(k, _)| (*k).clone()).collect(),
            separate_consents: live
                .iter()
                .filter(|(_, c)| c.basis == ConsentBasis::SeparateConsent)
                .map(|(k, _)| (*k).clone())
                .collect(),
            superseded: false,
        }
    }

    /// The live separate consent for `purpose` that counts, if any.
    pub fn separate_consent(&self, key: &str, notices: &crate::policy::governance::Notices) -> Option<&LiveConsent> {
        self.consents.get(key).filter(|c| c.basis == ConsentBasis::SeparateConsent && c.counts(key, notices))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveConsent {
    pub basis: ConsentBasis,
    #[serde(with = "time::serde::rfc3339")]
    pub granted_at: OffsetDateTime,
    /// The event that granted it.
    pub event: u32,
    /// The notice version it was given under (absent: recorded before
    /// notices were kept; the version in force when it was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

impl LiveConsent {
    /// Whether the notice it was given under names its purpose. `key` is
    /// the purpose, or `purpose@recipient` for a consent naming a recipient.
    pub fn counts(&self, key: &str, notices: &crate::policy::governance::Notices) -> bool {
        let purpose = key.split_once('@').map_or(key, |(p, _)| p);
        notices.under(self.notice.as_deref(), self.granted_at).is_some_and(|n| n.purposes.iter().any(|p| p == purpose))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentBasis {
    Consent,
    SeparateConsent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentEventKind {
    Grant,
    Withdrawal,
}

/// One grant or withdrawal, append-only. The evidence (which may name the
/// person) is stored sealed under the subject's key, so erasure shreds it
/// too; a view of the event (`subjects::ConsentEventView`) is the same
/// record with the evidence opened (`E = String`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsentEvent<E = Sealed> {
    pub event: u32,
    pub kind: ConsentEventKind,
    pub purpose: String,
    /// For a grant.
    pub basis: Option<ConsentBasis>,
    /// When the person gave (grant) or withdrew (withdrawal) consent.
    #[serde(with = "time::serde::rfc3339")]
    pub effective_at: OffsetDateTime,
    /// When custos recorded it.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub actor: PrincipalId,
    /// Sealed as stored; opened in a view, `None` there when none was given
    /// or the subject has been erased.
    pub evidence: Option<E>,
    /// For a grant: the notice version it was given under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// For a consent to provision: the recipient it names (PIPL Art. 23, 39).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
}

impl<E> ConsentEvent<E> {
    /// The same event with `evidence` in place of its own (opened, for a view).
    pub fn with_evidence<F>(self, evidence: Option<F>) -> ConsentEvent<F> {
        let ConsentEvent {
            event,
            kind,
            purpose,
            basis,
            effective_at,
            recorded_at,
            actor,
            evidence: _,
            notice,
            recipient,
        } = self;
        ConsentEvent { event, kind, purpose, basis, effective_at, recorded_at, actor, evidence, notice, recipient }
    }
}

/// The recipients register: `t/<rcp>` in `registers`.
pub(crate) const RECIPIENTS: Table<RecipientId, RecipientRecord> =
    Table::new(Cf::Registers, keys::RECIPIENT_PREFIX, keys::recipient)
        .rows_where(|k| !k.ends_with(keys::ATTESTATION_SUFFIX));

/// One entry of the recipients register (written once, never changed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RecipientRecord {
    pub id: RecipientId,
    /// A company's name: no personal value.
    pub name: String,
    pub role: RecipientRole,
    pub purposes: Vec<String>,
    pub classes: Vec<Classification>,
    pub country: Jurisdiction,
    #[serde(with = "time::serde::rfc3339")]
    pub term_from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub term_until: OffsetDateTime,
    pub contract: String,
    /// The impact assessment covering its entrustment or provision
    /// (PIPL Art. 55(3)); absent on entries made before custos asked for it.
    #[serde(default)]
    pub assessment: Option<AssessmentId>,
    pub recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

impl RecipientRecord {
    pub fn in_term(&self, now: OffsetDateTime) -> bool {
        self.term_from <= now && now < self.term_until
    }
}

/// The transfer records: `f/<trf>` in `registers`.
pub(crate) const TRANSFERS: Table<TransferId, TransferRecord> =
    Table::new(Cf::Registers, keys::TRANSFER_PREFIX, keys::transfer);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TransferRecord {
    pub id: TransferId,
    pub recipient: RecipientId,
    /// Whose persons' data it covers (their residency; EU for any member state).
    pub jurisdiction: Jurisdiction,
    pub mechanism: String,
    pub citation: String,
    pub separate_consent: bool,
    pub reference: String,
    #[serde(default)]
    pub assessment: Option<AssessmentId>,
    pub recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// Erasures a legal hold blocks: `p/<sub>` in `disposition`.
pub(crate) const PENDING_ERASURES: Table<SubjectId, PendingErasure> =
    Table::new(Cf::Disposition, keys::PENDING_ERASURE_PREFIX, keys::pending_erasure);

/// An erasure a legal hold blocks. No personal value: ids, a ground code
/// and what blocked it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingErasure {
    pub subject: SubjectId,
    pub requested_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    pub ground: String,
    /// What blocked it when asked.
    pub blocked_by: Vec<String>,
}
