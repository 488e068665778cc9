//! Retention and destruction: closing a customer relationship, legal holds,
//! what the retention rules say is due, four-eyes destruction batches,
//! erasure, and signed destruction certificates. What is due is decided by
//! the pure `policy::retention`; this module gathers the facts and acts.
//!
//! Destruction is a state machine kept in the `disposition` column family,
//! so a crash at any point leaves a state the next run completes:
//!
//! 1. `proposed`: a batch of due items, nothing changed yet.
//! 2. `executing` (set by the approval, with the certificate id chosen):
//!    each item is one atomic batch that shreds its keys, deletes its
//!    ciphertext, writes the tombstone, records the item's result in the
//!    batch record and appends the audit entry. An item is never half done.
//! 3. compaction of the column families (idempotent), then the signed
//!    certificate and `done`, again one atomic batch.

mod batches;
mod certificate;
mod close;
mod destroy;
mod due;
mod erasure;
mod facts;
mod holds;
mod sweep;

pub(crate) use crate::archive::certificates::CERTIFICATES;
pub use crate::archive::certificates::{Certificate, CertificateItem, ItemOutcome};
pub use crate::policy::retention::Target;
pub use sweep::SweepReport;

use super::{ArchiveError, RequestCtx};
use crate::archive::backups::Backups;
use crate::archive::documents::Documents;
use crate::archive::dossiers::Dossiers;
use crate::archive::gate::Gate;
use crate::archive::index::Indexer;
use crate::archive::trail::AuditTrail;
use crate::archive::vault::Vault;
use crate::archive::Denial;
use crate::archive::Resource;
use crate::audit::{Action, AuditWriter, EntryBody, Outcome};
use crate::clock::Clock;
use crate::crypto::Keyring;
use crate::domain::{BatchId, CertificateId, DossierId, HoldId, PrincipalId, SubjectId};
use crate::policy::retention::{RetentionAction, Trigger};
use crate::policy::PolicySet;
use crate::store::{keys, KvStore};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;

/// Retention and destruction: what is due, four-eyes batches, legal holds,
/// erasure, closing dossiers, certificates, the sweep.
pub struct Retention {
    store: Arc<dyn KvStore>,
    keyring: Arc<Keyring>,
    vault: Arc<Vault>,
    audit: Arc<AuditWriter>,
    gate: Arc<Gate>,
    policy: Arc<PolicySet>,
    clock: Arc<dyn Clock>,
    /// What a dossier is, and its changes.
    dossiers: Arc<Dossiers>,
    /// Documents are destroyed with their dossier.
    documents: Arc<Documents>,
    /// Destroyed and erased data leaves the index first.
    index: Arc<Indexer>,
    /// Each certificate goes into the erasure journal.
    backups: Arc<Backups>,
    /// A certificate names the log's checkpoint and verifier key, and is a note its key signs.
    trail: Arc<AuditTrail>,
    /// Dossiers unchanged for this long are flagged by the sweep.
    stale_after: time::Duration,
    /// What the rules read of every live dossier and person, kept.
    facts: crate::archive::kept::Kept<facts::Fact>,
}

impl Retention {
    pub(in crate::archive) fn new(
        p: &crate::archive::Ports,
        dossiers: Arc<Dossiers>,
        documents: Arc<Documents>,
        index: Arc<Indexer>,
        backups: Arc<Backups>,
        trail: Arc<AuditTrail>,
        stale_after: time::Duration,
    ) -> Self {
        Retention {
            store: p.store.clone(),
            keyring: p.keyring.clone(),
            vault: p.vault.clone(),
            audit: p.audit.clone(),
            gate: p.gate.clone(),
            policy: p.policy.clone(),
            clock: p.clock.clone(),
            dossiers,
            documents,
            index,
            backups,
            trail,
            stale_after,
            facts: Default::default(),
        }
    }
}

/// The rule name recorded for an erasure a data subject asked for.
pub const DSR_ERASURE_RULE: &str = "data-subject-request";
const DSR_ERASURE_CITATION: &str = "PIPL Art. 47; GDPR Art. 17";

/// Legal holds: `h/<dos>/<hold>` in `disposition`, kept after release.
pub(super) const HOLDS: crate::store::Table<(DossierId, String), HoldRecord> =
    crate::store::Table::new(crate::store::Cf::Disposition, b"h/", |(did, hold): &(DossierId, String)| {
        keys::hold(did, hold)
    });

/// A legal hold. Reason and case reference may name people: they are sealed
/// under the dossier's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct HoldRecord {
    pub id: HoldId,
    pub dossier: DossierId,
    pub sealed: crate::crypto::Sealed,
    pub placed_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    /// Whose law requires the hold (a hold placed before jurisdictions
    /// were recorded is read as PRC law).
    #[serde(default = "crate::domain::Jurisdiction::cn")]
    pub jurisdiction: crate::domain::Jurisdiction,
    pub released_by: Option<PrincipalId>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub released_at: Option<OffsetDateTime>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct HoldText {
    pub reason: String,
    pub case_ref: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HoldView {
    pub hold_id: HoldId,
    pub case_ref: String,
    pub reason: String,
    /// Whose law requires the hold: `CN`, `EU` or a member state.
    pub jurisdiction: crate::domain::Jurisdiction,
    pub placed_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub target: Target,
    pub rule: String,
    pub citation: String,
    pub action: RetentionAction,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct DueItem {
    #[serde(flatten)]
    pub item: Item,
    pub trigger: Trigger,
    #[serde(with = "time::serde::rfc3339")]
    pub trigger_at: OffsetDateTime,
    pub approval: bool,
    /// Hold ids (`hold_...`) and keep rules (`rule:<id>`) that block it.
    pub blocked_by: Vec<String>,
    /// An open batch that already proposes it.
    pub batch: Option<BatchId>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Due {
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
    pub items: Vec<DueItem>,
    /// Dossiers not changed for longer than the configured review interval.
    pub stale: Vec<DossierId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    Proposed,
    Executing,
    Done,
}

/// What executing one item did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemResult {
    pub target: Target,
    pub outcome: ItemOutcome,
    pub keys_shredded: Vec<String>,
    /// SHA-256 of each destroyed version record (the ciphertext), hex.
    pub ciphertext_sha256: Vec<String>,
    pub subjects: Vec<SubjectId>,
    pub audit_seq: Option<u64>,
    /// Documents destroyed with a dossier: `<name> sha256:<hash>`.
    #[serde(default)]
    pub documents: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    pub batch_id: BatchId,
    pub state: BatchState,
    /// `None`: proposed by the retention scheduler.
    pub proposed_by: Option<PrincipalId>,
    #[serde(with = "time::serde::rfc3339")]
    pub proposed_at: OffsetDateTime,
    pub approved_by: Option<PrincipalId>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub approved_at: Option<OffsetDateTime>,
    /// Chosen at approval, named by every tombstone of the batch.
    pub certificate_id: Option<CertificateId>,
    pub items: Vec<Item>,
    pub results: Vec<ItemResult>,
}

/// Disposition batches: `b/<bat>` in `disposition`.
pub(super) const BATCHES: crate::store::Table<str, Batch> =
    crate::store::Table::new(crate::store::Cf::Disposition, keys::BATCH_PREFIX, keys::batch);

#[derive(Debug, Clone, Serialize)]
pub struct SignedCertificate {
    #[serde(flatten)]
    pub certificate: Certificate,
    pub signature: CertificateSignature,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateSignature {
    pub algorithm: &'static str,
    /// The log's verifier key (`/v1/audit/verifier-key`).
    pub verifier_key: String,
    /// A signed note (golang.org/x/mod/sumdb/note) whose text is the
    /// certificate's JSON without this `signature` member.
    pub signed_note: String,
}

impl Retention {
    async fn require_disposition(&self, ctx: &RequestCtx, action: Action) -> Result<String, ArchiveError> {
        let purpose = self.gate.purpose(ctx, action, Resource::Disposition.as_str()).await?;
        let d = self.policy.access.decide_disposition(&ctx.principal, purpose.as_str());
        if !d.allowed {
            let e = ctx.entry(action, Resource::Disposition.as_str(), Outcome::Deny, "");
            return self.gate.deny(e, Denial::Policy(d.basis), None).await;
        }
        Ok(d.reason())
    }
}

/// The PIPL Art. 47 / GDPR Art. 17 grounds an erasure request may name; a
/// free-text reason is not stored (it may name the person).
fn ground_code(reason: &str) -> &'static str {
    const GROUNDS: [&str; 6] = [
        "purpose_achieved",
        "consent_withdrawn",
        "service_ended",
        "unlawful_processing",
        "objection",
        "retention_expired",
    ];
    GROUNDS.into_iter().find(|g| *g == reason.trim()).unwrap_or("stated by the officer (free text not stored)")
}

/// An entry written by the retention machinery itself.
fn system_entry(action: Action, resource: &str, reason: String) -> EntryBody {
    EntryBody {
        actor: "system:retention".into(),
        purpose: "legal_compliance".into(),
        ..EntryBody::system(action, resource, reason)
    }
}

fn with_targets(mut e: EntryBody, items: &[Item]) -> EntryBody {
    e.subjects = items
        .iter()
        .filter_map(|i| match &i.target {
            Target::Subject(s) => Some(s.to_string()),
            Target::Dossier(_) => None,
        })
        .collect();
    e
}

/// The request id of the audit entry of a batch's `n`-th executed item.
fn item_request_id(batch: &str, n: usize) -> String {
    format!("{batch}#{n}")
}

fn describe_items(items: &[Item]) -> String {
    items
        .iter()
        .map(|i| match &i.target {
            Target::Dossier(d) => format!("{d} ({})", i.rule),
            Target::Subject(s) => format!("{s} ({})", i.rule),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
