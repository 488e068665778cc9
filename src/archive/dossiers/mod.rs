//! Dossier use cases: create, read (current or any version), update with
//! optimistic concurrency, version history. The read plan (what each field
//! class shows, decided before anything is decrypted) is in `plan`; sealing
//! and opening versions in `archive::codec`.

mod collection;
mod create;
mod json;
mod links;
mod notified;
pub(crate) use links::DOSSIER_BY_REF;
mod plan;
mod provision;
mod read;
mod search;
mod update;

pub(crate) use collection::{check_notices, ContactCollection};
pub use collection::{CollectionRecord, SensitiveBasis};
pub(crate) use links::subject_facts;
pub use notified::{Notifications, OwedPage, MAX_OWED_PAGE};
pub(crate) use plan::ReadPlan;
pub(crate) use provision::bloc;
pub use search::{SearchHit, SearchPage};
pub use update::Rectifying;
pub(crate) use update::{Author, NextVersion};

use super::records::{DossierMeta, SUBJECTS};
use super::vault::VersionRecord;
use super::{ArchiveError, RequestCtx};
use crate::archive::gate::Gate;
use crate::archive::identity::Identity;
use crate::archive::index::Indexer;
use crate::archive::vault::Vault;
use crate::archive::Denial;
use crate::audit::AuditWriter;
use crate::audit::{Action, Commit, EntryBody, Outcome};
use crate::clock::Clock;
use crate::crypto::Keyring;
use crate::domain::dossier::TemplateValidator;
use crate::domain::{DossierId, SubjectId};
use crate::policy::access::SubjectState;
use crate::policy::PolicySet;
use crate::store::KvStore;
use crate::store::{keys, Cf};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

/// The dossier use cases: create, read, update, versions, search, and the
/// lookups and decisions every use case about a dossier shares (its
/// metadata, the read plan, the change decision, its audit entry). Reads
/// on an outside party's behalf are narrowed here (`provision`).
pub struct Dossiers {
    store: Arc<dyn KvStore>,
    /// Data keys made for new dossiers and people.
    keyring: Arc<Keyring>,
    vault: Arc<Vault>,
    audit: Arc<AuditWriter>,
    gate: Arc<Gate>,
    policy: Arc<PolicySet>,
    clock: Arc<dyn Clock>,
    index: Arc<Indexer>,
    /// Who an owner is (a new dossier's owner must exist).
    identity: Arc<Identity>,
    template: Arc<TemplateValidator>,
}

impl Dossiers {
    pub(in crate::archive) fn new(
        p: &crate::archive::Ports,
        index: Arc<Indexer>,
        identity: Arc<Identity>,
        template: Arc<TemplateValidator>,
    ) -> Self {
        Dossiers {
            store: p.store.clone(),
            keyring: p.keyring.clone(),
            vault: p.vault.clone(),
            audit: p.audit.clone(),
            gate: p.gate.clone(),
            policy: p.policy.clone(),
            clock: p.clock.clone(),
            index,
            identity,
            template,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub id: DossierId,
    pub version: u32,
    pub hash: String,
    pub subjects: Vec<SubjectId>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Redaction {
    pub path: String,
    pub reason: RedactionReason,
}

/// Why a field is not shown in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedactionReason {
    Masked,
    Withheld,
    Erased,
    /// A person's personal field in an old version, since corrected (PIPL
    /// Art. 46; GDPR Art. 16): not shown as if it were current.
    Superseded,
}

impl RedactionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RedactionReason::Masked => "masked",
            RedactionReason::Withheld => "withheld",
            RedactionReason::Erased => "erased",
            RedactionReason::Superseded => "superseded",
        }
    }
}

/// A dossier as the caller may see it.
#[derive(Debug, Clone)]
pub struct DossierView {
    pub id: DossierId,
    pub document: Value,
    pub version: u32,
    pub hash: String,
    pub redactions: Vec<Redaction>,
}

impl DossierView {
    /// The document as the API shows it: with its id, version, hash and
    /// redactions.
    pub fn into_json(self) -> Value {
        let mut doc = self.document;
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("id".into(), self.id.to_string().into());
            obj.insert("version".into(), self.version.into());
            obj.insert("hash".into(), self.hash.into());
            let red: Vec<Value> = self
                .redactions
                .into_iter()
                .map(|Redaction { path, reason }| serde_json::json!({"path": path, "reason": reason}))
                .collect();
            obj.insert("redactions".into(), red.into());
        }
        doc
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    pub version: u32,
    pub hash: String,
    pub prev_hash: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub actor: String,
}

/// A value-free reason for an audit entry recording a failure.
fn failure_reason(e: &ArchiveError) -> &'static str {
    match e {
        ArchiveError::Conflict(_) => "names an erased subject",
        _ => "internal error",
    }
}

impl Dossiers {
    pub(super) fn meta(&self, id: &DossierId) -> Result<Option<(DossierMeta, Vec<u8>)>, ArchiveError> {
        match self.store.get(Cf::Dossiers, &keys::dossier(id))? {
            None => Ok(None),
            Some(raw) => {
                let meta = crate::store::codec::decode(Cf::Dossiers.name(), &raw)?;
                Ok(Some((meta, raw)))
            }
        }
    }

    pub(crate) fn dossier_entry(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
        subjects: &[SubjectId],
        outcome: Outcome,
        reason: impl Into<String>,
    ) -> EntryBody {
        let mut e = ctx.entry(action, id, outcome, reason);
        e.subjects = subjects.iter().map(|s| s.to_string()).collect();
        e
    }

    /// The purpose check, the lookup and the decision of a call that changes
    /// an existing dossier without a new body (close, a document upload):
    /// each refusal audited. Returns the dossier, its stored metadata and
    /// the decision's reason.
    pub(crate) async fn authorize_change(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
        change: crate::policy::access::Change,
    ) -> Result<(DossierId, DossierMeta, Vec<u8>, String), ArchiveError> {
        let purpose = self.gate.purpose(ctx, action, id).await?;
        let (did, meta, meta_raw) = self.find_meta(ctx, action, id).await?;
        let facts = meta.facts();
        let d = self.policy.access.decide_change(&ctx.principal, change, purpose.as_str(), id, facts, facts);
        if !d.allowed {
            let e = self.dossier_entry(ctx, action, id, &meta.subjects, Outcome::Deny, "");
            return self.gate.deny(e, Denial::Policy(d.basis), None).await;
        }
        Ok((did, meta, meta_raw, d.reason()))
    }

    /// Looks a dossier up, auditing an unknown id.
    pub(crate) async fn find_meta(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
    ) -> Result<(DossierId, DossierMeta, Vec<u8>), ArchiveError> {
        let found = match DossierId::parse(id) {
            Ok(did) => self.meta(&did)?.map(|(m, raw)| (did, m, raw)),
            Err(_) => None,
        };
        let Some(found) = found else {
            let e = ctx.entry(action, id, Outcome::Error, "no such dossier");
            return self.gate.refuse(e, ArchiveError::NotFound("dossier".into())).await;
        };
        if let Some(t) = &found.1.destroyed {
            let e = ctx.entry(action, id, Outcome::Error, format!("destroyed; certificate {}", t.certificate));
            return self.gate.refuse(e, ArchiveError::Gone { certificate: t.certificate.clone() }).await;
        }
        Ok(found)
    }

    /// A subject's consent and restriction state, for decisions.
    pub(super) fn subject_state(&self, sid: &SubjectId) -> Result<SubjectState, ArchiveError> {
        let Some(meta) = SUBJECTS.get(self.store.as_ref(), sid)? else {
            return Ok(SubjectState::default());
        };
        Ok(meta.state(&self.policy.notices))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_versions(&self, ctx: &RequestCtx, id: &str) -> Result<Vec<VersionInfo>, ArchiveError> {
        const ACTION: Action = Action::DossierVersions;
        let (did, meta, plan) = self.plan_read(ctx, ACTION, id, None).await?;
        let mut out = Vec::new();
        let prefix = keys::versions_prefix(&did);
        for row in self.store.scan(Cf::Versions, &prefix, &prefix) {
            let (_, bytes) = row?;
            let rec = VersionRecord::decode(&bytes)?;
            out.push(VersionInfo {
                version: rec.version,
                hash: hex::encode(VersionRecord::hash(&bytes)),
                prev_hash: (rec.version > 1).then(|| hex::encode(rec.prev_hash)),
                created_at: rec.created_at()?,
                actor: rec.actor,
            });
        }
        let entry = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Allow, plan.reasons());
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
