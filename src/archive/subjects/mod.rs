//! Data subjects: status, consent with its append-only history, restriction,
//! and the portable export of everything held on a person (GDPR Art. 15, 20;
//! PIPL Art. 45).

mod consent;
mod export;
mod notified;
mod portable;
mod processing;
mod restriction;

pub use export::{ExportBasis, ExportCall, ExportScope};
pub use notified::{NewNotified, NotifiedView};
pub use portable::export_csv;
pub use restriction::{LiftNoticeView, NewLiftNotice, MAX_NOTICE_REFERENCE};

use super::records::{ConsentBasis, DossierMeta, SubjectMeta, SUBJECTS};
use super::{ArchiveError, RequestCtx};
use crate::archive::documents::Documents;
use crate::archive::dossiers::Dossiers;
use crate::archive::gate::Gate;
use crate::archive::governance::Governance;
use crate::archive::index::Indexer;
use crate::archive::vault::Vault;
use crate::archive::Denial;
use crate::audit::{Action, AuditWriter, Commit, Outcome};
use crate::clock::Clock;
use crate::crypto::{KeyRef, Keyring};
use crate::domain::{DossierId, SubjectId};
use crate::policy::access::SubjectAction;
use crate::policy::PolicySet;
use crate::store::{Held, KvStore, Op};
use serde::Serialize;
use std::sync::Arc;
use time::OffsetDateTime;

/// Data subjects: their status, consent and its evidence, restriction,
/// residency, the explanation of processing, and the export of everything about
/// them.
pub struct Subjects {
    store: Arc<dyn KvStore>,
    keyring: Arc<Keyring>,
    vault: Arc<Vault>,
    audit: Arc<AuditWriter>,
    gate: Arc<Gate>,
    policy: Arc<PolicySet>,
    clock: Arc<dyn Clock>,
    /// The dossiers that name a person.
    dossiers: Arc<Dossiers>,
    /// A person's export lists their dossiers' documents.
    documents: Arc<Documents>,
    /// Recipients and transfers, for consent to provision and the explanation of processing.
    governance: Arc<Governance>,
    /// A restriction takes a person out of search.
    index: Arc<Indexer>,
}

impl Subjects {
    pub(in crate::archive) fn new(
        p: &crate::archive::Ports,
        dossiers: Arc<Dossiers>,
        documents: Arc<Documents>,
        governance: Arc<Governance>,
        index: Arc<Indexer>,
    ) -> Self {
        Subjects {
            store: p.store.clone(),
            keyring: p.keyring.clone(),
            vault: p.vault.clone(),
            audit: p.audit.clone(),
            gate: p.gate.clone(),
            policy: p.policy.clone(),
            clock: p.clock.clone(),
            dossiers,
            documents,
            governance,
            index,
        }
    }
}

/// The schema of `GET /v1/subjects/{sid}/export` (both scopes), published at
/// `/schemas/subject-export.schema.json`.
pub const EXPORT_SCHEMA_JSON: &str = include_str!("../../../schemas/subject-export.schema.json");

/// Longest evidence text accepted (a reference to a signed form, a call
/// recording id, a web consent receipt).
/// The longest consent evidence (its shape is checked at the edge, `web::commands`).
pub const MAX_EVIDENCE: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectStatus {
    Active,
    Restricted,
    Erased,
}

#[derive(Debug, Clone, Serialize)]
pub struct LiveConsentView {
    pub purpose: String,
    pub basis: ConsentBasis,
    #[serde(with = "time::serde::rfc3339")]
    pub granted_at: OffsetDateTime,
    /// The notice version it was given under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Whether it counts: the notice it was given under names the purpose.
    pub effective: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubjectView {
    pub id: SubjectId,
    pub status: SubjectStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub restricted_at: Option<OffsetDateTime>,
    pub dossiers: Vec<DossierId>,
    pub consents: Vec<LiveConsentView>,
    /// Where the person resides (`CN` unless stated): whose law governs
    /// their requests and which legal holds can block their erasure.
    pub residency: crate::domain::Jurisdiction,
    /// Purposes the person objected to for good (direct marketing).
    pub objected: Vec<String>,
    /// Per dossier version that collected their data: the privacy-notice
    /// version they were shown and the basis of their sensitive fields.
    pub collection: Vec<crate::archive::CollectionRecord>,
    /// The last notice that the restriction is about to be lifted (GDPR
    /// Art. 18(3)), if any.
    pub lift_notice: Option<LiftNoticeView>,
}

#[derive(Debug, Clone)]
pub struct NewConsent {
    pub purpose: String,
    pub basis: ConsentBasis,
    pub evidence: String,
    pub granted_at: OffsetDateTime,
    pub notice: Option<String>,
    pub recipient: Option<String>,
}

/// A grant or withdrawal as shown: the stored event with its evidence
/// opened (`None` when none was given or the subject has been erased).
pub type ConsentEventView = super::records::ConsentEvent<String>;

/// What an authorised subject call works on.
struct SubjectCall {
    sid: SubjectId,
    meta: SubjectMeta,
    /// The subject's record as read: a change commits under its guard.
    held: Held<SubjectMeta>,
    dossiers: Vec<DossierMeta>,
    reason: String,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Subjects {
    fn subject_meta(&self, sid: &SubjectId) -> Result<Option<Held<SubjectMeta>>, ArchiveError> {
        Ok(SUBJECTS.hold(self.store.as_ref(), sid)?)
    }

    fn subject_status(&self, sid: &SubjectId, meta: &SubjectMeta) -> Result<SubjectStatus, ArchiveError> {
        Ok(if !self.keyring.exists(&KeyRef::Subject(sid.clone()))? {
            SubjectStatus::Erased
        } else if meta.restricted_at.is_some() {
            SubjectStatus::Restricted
        } else {
            SubjectStatus::Active
        })
    }

    /// Purpose check, lookup (404) and policy decision (403), each refusal
    /// audited under `action`.
    async fn authorize_subject(
        &self,
        ctx: &RequestCtx,
        action: Action,
        op: SubjectAction,
        id: &str,
    ) -> Result<SubjectCall, ArchiveError> {
        let purpose = self.gate.purpose(ctx, action, id).await?;
        let found = match SubjectId::parse(id) {
            Ok(sid) => self.subject_meta(&sid)?.map(|held| (sid, held)),
            Err(_) => None,
        };
        let Some((sid, held)) = found else {
            let e = ctx.entry(action, id, Outcome::Error, "no such subject");
            return self.gate.refuse(e, ArchiveError::NotFound("subject".into())).await;
        };
        let meta = held.value.clone();
        let dossiers = self.dossiers.subject_dossiers(&sid)?;
        let facts = crate::archive::dossiers::subject_facts(&meta, &dossiers);
        let decision = self.policy.access.decide_subject(&ctx.principal, op, purpose.as_str(), &sid, &facts);
        if !decision.allowed {
            let mut e = ctx.entry(action, id, Outcome::Deny, "");
            e.subjects = vec![sid.to_string()];
            return self.gate.deny(e, Denial::Policy(decision.basis), None).await;
        }
        Ok(SubjectCall { sid, meta, held, dossiers, reason: decision.reason() })
    }

    fn subject_view(&self, call: &SubjectCall, meta: &SubjectMeta) -> Result<SubjectView, ArchiveError> {
        Ok(SubjectView {
            id: call.sid.clone(),
            status: self.subject_status(&call.sid, meta)?,
            created_at: meta.created_at,
            restricted_at: meta.restricted_at,
            dossiers: call.dossiers.iter().map(|d| d.id.clone()).collect(),
            consents: meta
                .consents
                .iter()
                .map(|(p, c)| {
                    let notice =
                        self.policy.notices.under(c.notice.as_deref(), c.granted_at).map(|n| n.version.clone());
                    LiveConsentView {
                        purpose: p.clone(),
                        basis: c.basis,
                        granted_at: c.granted_at,
                        notice,
                        effective: c.counts(p, &self.policy.notices),
                    }
                })
                .collect(),
            residency: meta.residency(),
            objected: meta.objected.iter().cloned().collect(),
            collection: self.dossiers.collection_records(&call.sid)?,
            lift_notice: meta.lift_notice.as_ref().map(|n| LiftNoticeView::of(n, meta.restricted_at)),
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_subject(&self, ctx: &RequestCtx, id: &str) -> Result<SubjectView, ArchiveError> {
        const ACTION: Action = Action::SubjectRead;
        let call = self.authorize_subject(ctx, ACTION, SubjectAction::Read, id).await?;
        let view = self.subject_view(&call, &call.meta)?;
        let mut e = ctx.entry(ACTION, id, Outcome::Allow, call.reason.clone());
        e.subjects = vec![call.sid.to_string()];
        self.audit.commit(Commit::entry(e)).await?;
        Ok(view)
    }

    /// Writes a subject's new state with what goes with it, guarded against
    /// a concurrent change of the same subject.
    async fn commit_subject(
        &self,
        ctx: &RequestCtx,
        action: Action,
        call: &SubjectCall,
        meta: &SubjectMeta,
        ops: Vec<Op>,
        reason: String,
    ) -> Result<(), ArchiveError> {
        let mut entry = ctx.entry(action, call.sid.as_str(), Outcome::Allow, reason);
        entry.subjects = vec![call.sid.to_string()];
        let mut conflict = ctx.entry(action, call.sid.as_str(), Outcome::Error, "concurrent change of the subject");
        conflict.subjects = vec![call.sid.to_string()];
        let mut commit = Commit::guarded(call.held.replace(meta)?, ops, entry);
        commit.on_conflict = vec![conflict];
        self.audit.commit(commit).await?;
        Ok(())
    }

    /// Records where a subject resides (compliance, stating dsr or
    /// legal_compliance).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_residency(
        &self,
        ctx: &RequestCtx,
        id: &str,
        residency: crate::domain::Jurisdiction,
    ) -> Result<SubjectView, ArchiveError> {
        const ACTION: Action = Action::SubjectResidency;
        let call = self.authorize_subject(ctx, ACTION, SubjectAction::Residency, id).await?;
        let mut meta = call.meta.clone();
        let before = meta.residency();
        meta.residency = Some(residency.clone());
        let reason = format!("{}; residency {before} -> {residency}", call.reason);
        self.commit_subject(ctx, ACTION, &call, &meta, vec![], reason).await?;
        self.subject_view(&call, &meta)
    }
}

#[cfg(test)]
mod tests;
