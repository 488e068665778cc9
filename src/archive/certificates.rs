//! Destruction certificates as stored: what was destroyed and what proves
//! it, never a personal value. Retention issues them; backups journal them
//! so that a restore of an older set destroys again what they name.

use crate::domain::{BatchId, CertificateId, PrincipalId, SubjectId};
use crate::policy::retention::{RetentionAction, Target};
use crate::store::{keys, Cf, Table};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What executing one item did. Stored and shown as `destroyed`, `erased`
/// or `skipped: <why>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ItemOutcome {
    Destroyed,
    Erased,
    Skipped(String),
}

impl ItemOutcome {
    pub fn is_skipped(&self) -> bool {
        matches!(self, ItemOutcome::Skipped(_))
    }
}

impl std::fmt::Display for ItemOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemOutcome::Destroyed => f.write_str("destroyed"),
            ItemOutcome::Erased => f.write_str("erased"),
            ItemOutcome::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

impl TryFrom<String> for ItemOutcome {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "destroyed" => Ok(ItemOutcome::Destroyed),
            "erased" => Ok(ItemOutcome::Erased),
            _ => s
                .strip_prefix("skipped: ")
                .map(|w| ItemOutcome::Skipped(w.to_owned()))
                .ok_or_else(|| "unknown item outcome".to_owned()),
        }
    }
}

impl From<ItemOutcome> for String {
    fn from(o: ItemOutcome) -> String {
        o.to_string()
    }
}

/// Destruction certificates: `c/<cert>` in `disposition`.
pub(crate) const CERTIFICATES: Table<CertificateId, Certificate> =
    Table::new(Cf::Disposition, b"c/", |c: &CertificateId| keys::certificate(c.as_str()));

/// A destruction certificate: names what was destroyed and what proves it,
/// never a personal value. Signed as a note by the log's Ed25519 key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    pub certificate_id: CertificateId,
    pub batch_id: BatchId,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    pub proposer: Option<PrincipalId>,
    pub approver: Option<PrincipalId>,
    pub items: Vec<CertificateItem>,
    /// The log's signed checkpoint after the destruction entries (it
    /// contains them; inclusion proofs are at `/v1/audit/proofs/inclusion`).
    pub checkpoint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CertificateItem {
    pub target: Target,
    pub action: RetentionAction,
    pub rule: String,
    pub citation: String,
    pub outcome: ItemOutcome,
    pub subjects: Vec<SubjectId>,
    pub keys_shredded: Vec<String>,
    pub ciphertext_sha256: Vec<String>,
    #[serde(default)]
    pub documents: Vec<String>,
    pub audit_seq: Option<u64>,
}

/// A certificate as a note signed with the log's key: its text is the
/// certificate's JSON.
pub(crate) fn signed_note(
    signer: &crate::audit::checkpoint::NoteSigner,
    certificate: &Certificate,
) -> Result<String, crate::archive::ArchiveError> {
    let text = serde_json::to_string(certificate).map_err(|e| crate::archive::ArchiveError::Internal(e.into()))?;
    Ok(signer.sign(&format!("{text}\n")))
}
