//! Retention and destruction: closing a customer relationship, legal holds,
//! what the retention rules say is due, four-eyes destruction batches,
//! erasure, and signed destruction certificates.
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

use super::dossiers::parse_segment;
use super::records::{
    consent_event_key, subject_links_prefix, version_key, DossierMeta, SubjectMeta, Tombstone, VersionRecord,
};
use super::{Archive, ArchiveError, RequestCtx};
use crate::audit::{Commit, EntryBody, Guard, Outcome};
use crate::crypto::{open, seal, segment_aad, KeyRef};
use crate::domain::dossier::{BusinessPart, FieldError, SplitDossier, Status};
use crate::domain::{DossierId, PrincipalId, SubjectId};
use crate::policy::access::{Change, SubjectAction};
use crate::policy::retention::{Covers, RetentionAction, Rule, Trigger};
use crate::store::{Cf, Op};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

/// The rule name recorded for an erasure a data subject asked for.
pub const DSR_ERASURE_RULE: &str = "data-subject-request";
const DSR_ERASURE_CITATION: &str = "PIPL Art. 47; GDPR Art. 17";

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(v).map_err(|e| ArchiveError::Internal(e.into()))
}

fn from_json<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ArchiveError> {
    serde_json::from_slice(b).map_err(|e| ArchiveError::Internal(e.into()))
}

fn hold_key(dossier: &DossierId, hold: &str) -> Vec<u8> {
    format!("h/{dossier}/{hold}").into_bytes()
}

fn batch_key(batch: &str) -> Vec<u8> {
    format!("b/{batch}").into_bytes()
}

fn certificate_key(cert: &str) -> Vec<u8> {
    format!("c/{cert}").into_bytes()
}

/// A legal hold. Reason and case reference may name people: they are sealed
/// under the dossier's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct HoldRecord {
    id: String,
    dossier: DossierId,
    sealed: crate::crypto::Sealed,
    placed_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    placed_at: OffsetDateTime,
    released_by: Option<PrincipalId>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    released_at: Option<OffsetDateTime>,
}

#[derive(Serialize, Deserialize)]
struct HoldText {
    reason: String,
    case_ref: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HoldView {
    pub hold_id: String,
    pub case_ref: String,
    pub reason: String,
    pub placed_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
}

/// What a retention item acts on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    Dossier(DossierId),
    Subject(SubjectId),
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
    pub trigger: String,
    #[serde(with = "time::serde::rfc3339")]
    pub trigger_at: OffsetDateTime,
    pub approval: bool,
    /// Hold ids (`hold_...`) and keep rules (`rule:<id>`) that block it.
    pub blocked_by: Vec<String>,
    /// An open batch that already proposes it.
    pub batch: Option<String>,
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
    /// `destroyed`, `erased`, or `skipped: <why>`.
    pub outcome: String,
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
    pub batch_id: String,
    pub state: BatchState,
    /// `None`: proposed by the retention scheduler.
    pub proposed_by: Option<PrincipalId>,
    #[serde(with = "time::serde::rfc3339")]
    pub proposed_at: OffsetDateTime,
    pub approved_by: Option<PrincipalId>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub approved_at: Option<OffsetDateTime>,
    /// Chosen at approval, named by every tombstone of the batch.
    pub certificate_id: Option<String>,
    pub items: Vec<Item>,
    pub results: Vec<ItemResult>,
}

/// A destruction certificate: names what was destroyed and what proves it,
/// never a personal value. Signed as a note by the log's Ed25519 key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    pub certificate_id: String,
    pub batch_id: String,
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
    pub outcome: String,
    pub subjects: Vec<SubjectId>,
    pub keys_shredded: Vec<String>,
    pub ciphertext_sha256: Vec<String>,
    #[serde(default)]
    pub documents: Vec<String>,
    pub audit_seq: Option<u64>,
}

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

impl Archive {
    async fn require_disposition(&self, ctx: &RequestCtx, action: &str) -> Result<String, ArchiveError> {
        self.purpose(ctx, action, "disposition").await?;
        let purpose = ctx.purpose.as_deref().unwrap_or_default();
        let d = self.policy.access.decide_disposition(&ctx.principal, purpose);
        if !d.allowed {
            let e = ctx.entry(action, "disposition", Outcome::Deny, d.reason.clone());
            return self.refuse(e, ArchiveError::Forbidden(d.reason)).await;
        }
        Ok(d.reason)
    }

    // ------------------------------------------------------------ close

    /// Ends the customer relationship: a new version with status `closed`,
    /// and `ended_at` (the relationship_end trigger) in the metadata.
    pub async fn close_dossier(
        &self,
        ctx: &RequestCtx,
        id: &str,
        ended_at: OffsetDateTime,
    ) -> Result<super::Created, ArchiveError> {
        const ACTION: &str = "dossier.close";
        self.purpose(ctx, ACTION, id).await?;
        let (did, meta, meta_raw) = self.find_meta(ctx, ACTION, id).await?;
        let purpose = ctx.purpose.as_deref().unwrap_or_default();
        let d =
            self.policy.access.decide_change(&ctx.principal, Change::Close, purpose, id, meta.facts(), meta.facts());
        if !d.allowed {
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Deny, d.reason.clone());
            return self.refuse(e, ArchiveError::Forbidden(d.reason)).await;
        }
        if ended_at > self.clock.now() + time::Duration::minutes(5) {
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "ended_at in the future");
            let err = FieldError { path: "/ended_at".into(), message: "lies in the future".into() };
            return self.refuse(e, ArchiveError::Invalid(vec![err])).await;
        }
        let mut split = self.open_all(&did, meta.current_version)?;
        split.business.status = Status::Closed;
        let reason = format!("{}; relationship ended", d.reason);
        let created = self.append_version(ctx, ACTION, &did, meta, meta_raw, split, Some(ended_at), reason).await?;
        Ok(created)
    }

    /// Every segment of a version, decrypted (internal use: nothing of it
    /// leaves the process).
    fn open_all(&self, id: &DossierId, version: u32) -> Result<SplitDossier, ArchiveError> {
        let bytes = self
            .store
            .get(Cf::Versions, &version_key(id, version))?
            .ok_or_else(|| anyhow::anyhow!("version record missing"))?;
        let rec: VersionRecord = postcard::from_bytes(&bytes).map_err(|e| ArchiveError::Internal(e.into()))?;
        self.split_of(id, &rec)
    }

    /// Decrypts every segment of a version record.
    pub(super) fn split_of(&self, id: &DossierId, rec: &VersionRecord) -> Result<SplitDossier, ArchiveError> {
        let mut business: Option<BusinessPart> = None;
        let mut split =
            SplitDossier { business: placeholder_business(), confidential: None, sensitive: None, contacts: vec![] };
        for seg in &rec.segments {
            let key_ref = match seg.key.split_once('/') {
                Some(("s", sid)) => KeyRef::Subject(SubjectId::parse(sid).map_err(|e| anyhow::anyhow!(e))?),
                _ => KeyRef::Dossier(id.clone()),
            };
            let key = match self.keyring.get(&key_ref) {
                Ok(k) => k,
                Err(crate::crypto::CryptoError::KeyDestroyed(_)) => {
                    return Err(ArchiveError::Conflict("the dossier names an erased subject".into()))
                }
                Err(e) => return Err(e.into()),
            };
            let plain = open(key.as_ref(), &segment_aad(id.as_str(), rec.version, &seg.name), &seg.sealed)?;
            match seg.name.split_once('/') {
                None if seg.name == "business" => business = Some(parse_segment(&plain)?),
                None if seg.name == "confidential" => split.confidential = Some(parse_segment(&plain)?),
                None if seg.name == "sensitive" => split.sensitive = Some(parse_segment(&plain)?),
                Some(("personal", sid)) => {
                    let sid = SubjectId::parse(sid).map_err(|e| anyhow::anyhow!(e))?;
                    split.contacts.push((sid, parse_segment(&plain)?, None));
                }
                Some(("sensitive", sid)) => {
                    if let Some(c) = split.contacts.iter_mut().find(|c| c.0.as_str() == sid) {
                        c.2 = Some(parse_segment(&plain)?);
                    }
                }
                _ => return Err(anyhow::anyhow!("unexpected segment").into()),
            }
        }
        split.business = business.ok_or_else(|| anyhow::anyhow!("version has no business segment"))?;
        Ok(split)
    }

    // ------------------------------------------------------- legal holds

    async fn hold_target(
        &self,
        ctx: &RequestCtx,
        action: &str,
        id: &str,
    ) -> Result<(DossierId, DossierMeta), ArchiveError> {
        self.purpose(ctx, action, id).await?;
        let (did, meta, _) = self.find_meta(ctx, action, id).await?;
        let purpose = ctx.purpose.as_deref().unwrap_or_default();
        let d = self.policy.access.decide_hold(&ctx.principal, purpose, id, meta.facts());
        if !d.allowed {
            let e = self.dossier_entry(ctx, action, id, &meta.subjects, Outcome::Deny, d.reason.clone());
            return self.refuse(e, ArchiveError::Forbidden(d.reason)).await;
        }
        Ok((did, meta))
    }

    pub async fn place_hold(
        &self,
        ctx: &RequestCtx,
        id: &str,
        reason: &str,
        case_ref: &str,
    ) -> Result<String, ArchiveError> {
        const ACTION: &str = "hold.place";
        let (did, meta) = self.hold_target(ctx, ACTION, id).await?;
        let hold = new_id("hold");
        let key = self.keyring.get(&KeyRef::Dossier(did.clone()))?;
        let text = to_json(&HoldText { reason: reason.to_owned(), case_ref: case_ref.to_owned() })?;
        let sealed = seal(key.as_ref(), &segment_aad(did.as_str(), 0, &format!("hold/{hold}")), &text)?;
        let rec = HoldRecord {
            id: hold.clone(),
            dossier: did.clone(),
            sealed,
            placed_by: ctx.principal.id.clone(),
            placed_at: self.clock.now(),
            released_by: None,
            released_at: None,
        };
        let ops = vec![Op::Put(Cf::Disposition, hold_key(&did, &hold), to_json(&rec)?)];
        let entry = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Allow, format!("legal hold {hold}"));
        self.audit.commit(Commit { ops, entries: vec![entry], guard: None, on_conflict: vec![] }).await?;
        Ok(hold)
    }

    pub async fn release_hold(&self, ctx: &RequestCtx, id: &str, hold: &str) -> Result<(), ArchiveError> {
        const ACTION: &str = "hold.release";
        let (did, meta) = self.hold_target(ctx, ACTION, id).await?;
        let key = hold_key(&did, hold);
        let found = self.store.get(Cf::Disposition, &key)?;
        let rec = match found.as_deref().map(from_json::<HoldRecord>).transpose()? {
            Some(r) if r.released_at.is_none() => r,
            _ => {
                let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "no such active hold");
                return self.refuse(e, ArchiveError::NotFound("active legal hold".into())).await;
            }
        };
        let released = HoldRecord {
            released_by: Some(ctx.principal.id.clone()),
            released_at: Some(self.clock.now()),
            ..rec.clone()
        };
        let ops = vec![Op::Put(Cf::Disposition, key.clone(), to_json(&released)?)];
        let entry = self.dossier_entry(
            ctx,
            ACTION,
            id,
            &meta.subjects,
            Outcome::Allow,
            format!("legal hold {} released", rec.id),
        );
        let guard = Guard { cf: Cf::Disposition, key, expected: found };
        self.audit.commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![] }).await?;
        Ok(())
    }

    /// Active holds on a dossier.
    fn holds(&self, did: &DossierId) -> Result<Vec<HoldRecord>, ArchiveError> {
        let prefix = format!("h/{did}/").into_bytes();
        let mut out = Vec::new();
        for row in self.store.scan(Cf::Disposition, &prefix, &prefix) {
            let (_, raw) = row?;
            let h: HoldRecord = from_json(&raw)?;
            if h.released_at.is_none() {
                out.push(h);
            }
        }
        Ok(out)
    }

    pub async fn list_holds(&self, ctx: &RequestCtx, id: &str) -> Result<Vec<HoldView>, ArchiveError> {
        const ACTION: &str = "hold.list";
        let (did, meta) = self.hold_target(ctx, ACTION, id).await?;
        let key = self.keyring.get(&KeyRef::Dossier(did.clone()))?;
        let mut out = Vec::new();
        for h in self.holds(&did)? {
            let plain = open(key.as_ref(), &segment_aad(did.as_str(), 0, &format!("hold/{}", h.id)), &h.sealed)?;
            let text: HoldText = parse_segment(&plain)?;
            out.push(HoldView {
                hold_id: h.id,
                case_ref: text.case_ref,
                reason: text.reason,
                placed_by: h.placed_by,
                placed_at: h.placed_at,
            });
        }
        let entry = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Allow, "legal holds");
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(out)
    }

    // --------------------------------------------------------------- due

    fn all_dossiers(&self) -> Result<Vec<DossierMeta>, ArchiveError> {
        let mut out = Vec::new();
        for row in self.store.scan(Cf::Dossiers, b"dos_", b"dos_") {
            let (k, raw) = row?;
            if !k.contains(&b'/') {
                out.push(from_json::<DossierMeta>(&raw)?);
            }
        }
        Ok(out)
    }

    fn open_batches(&self) -> Result<Vec<Batch>, ArchiveError> {
        let mut out = Vec::new();
        for row in self.store.scan(Cf::Disposition, b"b/", b"b/") {
            let (_, raw) = row?;
            let b: Batch = from_json(&raw)?;
            if b.state != BatchState::Done {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Keep rules that still protect a dossier in `status` whose trigger
    /// times are given.
    fn keeping(
        &self,
        covers: Covers,
        statuses: &[Status],
        times: &dyn Fn(Trigger) -> Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Vec<String> {
        self.policy
            .retention
            .rules
            .iter()
            .filter(|r| r.action == RetentionAction::Keep && r.covers == covers)
            .filter(|r| statuses.iter().all(|s| r.applies_to(*s)))
            .filter(|r| times(r.trigger).is_some_and(|t| r.period.after(t) > now))
            .map(|r| format!("rule:{}", r.id))
            .collect()
    }

    /// What the retention rules say is due at `now`, and what blocks it.
    pub fn compute_due(&self, now: OffsetDateTime, stale_after: Option<time::Duration>) -> Result<Due, ArchiveError> {
        let dossiers = self.all_dossiers()?;
        let live: Vec<&DossierMeta> = dossiers.iter().filter(|d| d.destroyed.is_none()).collect();
        let by_id: std::collections::HashMap<&DossierId, &DossierMeta> = live.iter().map(|d| (&d.id, *d)).collect();
        let in_batch: BTreeMap<Target, String> = self
            .open_batches()?
            .into_iter()
            .flat_map(|b| {
                let done: BTreeSet<Target> = b.results.iter().map(|r| r.target.clone()).collect();
                b.items
                    .into_iter()
                    .filter(move |i| !done.contains(&i.target))
                    .map(move |i| (i.target, b.batch_id.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut items = Vec::new();
        let due_item = |rule: &Rule, target: Target, trigger_at: OffsetDateTime, blocked_by: Vec<String>| DueItem {
            batch: in_batch.get(&target).cloned(),
            item: Item {
                target,
                rule: rule.id.clone(),
                citation: rule.citation.clone(),
                action: rule.action,
                due_at: rule.period.after(trigger_at),
            },
            trigger: format!("{:?}", rule.trigger).to_lowercase(),
            trigger_at,
            approval: rule.approval,
            blocked_by,
        };
        for d in &live {
            let times = |t: Trigger| match t {
                Trigger::Created => Some(d.created_at),
                Trigger::RelationshipEnd => d.ended_at,
                Trigger::LastActivity => Some(d.updated_at),
                Trigger::ConsentWithdrawn => None,
            };
            for rule in &self.policy.retention.rules {
                if rule.covers != Covers::Dossier
                    || rule.action != RetentionAction::Destroy
                    || !rule.applies_to(d.status)
                {
                    continue;
                }
                let Some(t) = times(rule.trigger) else { continue };
                if rule.period.after(t) > now {
                    continue;
                }
                let mut blocked: Vec<String> = self.holds(&d.id)?.into_iter().map(|h| h.id).collect();
                blocked.extend(self.keeping(Covers::Dossier, &[d.status], &times, now));
                items.push(due_item(rule, Target::Dossier(d.id.clone()), t, blocked));
                break; // the first rule that makes it due
            }
        }
        // Contact rules: subjects not erased, all of whose dossiers match.
        let contact_rules: Vec<&Rule> = self
            .policy
            .retention
            .rules
            .iter()
            .filter(|r| r.covers == Covers::Contact && r.action == RetentionAction::Erase)
            .collect();
        if !contact_rules.is_empty() {
            for row in self.store.scan(Cf::Subjects, b"sub_", b"sub_") {
                let (k, raw) = row?;
                if k.contains(&b'/') {
                    continue;
                }
                let s: SubjectMeta = from_json(&raw)?;
                if s.erased.is_some() {
                    continue;
                }
                let theirs: Vec<&&DossierMeta> =
                    self.linked_dossiers(&s.id)?.iter().filter_map(|d| by_id.get(d)).collect();
                let statuses: Vec<Status> = theirs.iter().map(|d| d.status).collect();
                let times = |t: Trigger| match t {
                    Trigger::Created => Some(s.created_at),
                    Trigger::ConsentWithdrawn if s.consents.is_empty() => s.last_withdrawal_at,
                    Trigger::LastActivity => theirs.iter().map(|d| d.updated_at).max(),
                    Trigger::RelationshipEnd => {
                        theirs.iter().map(|d| d.ended_at).collect::<Option<Vec<_>>>().and_then(|v| v.into_iter().max())
                    }
                    _ => None,
                };
                for rule in &contact_rules {
                    if !statuses.iter().all(|st| rule.applies_to(*st)) {
                        continue;
                    }
                    let Some(t) = times(rule.trigger) else { continue };
                    if rule.period.after(t) > now {
                        continue;
                    }
                    let mut blocked = Vec::new();
                    for d in &theirs {
                        blocked.extend(self.holds(&d.id)?.into_iter().map(|h| h.id));
                    }
                    blocked.extend(self.keeping(Covers::Contact, &statuses, &times, now));
                    items.push(due_item(rule, Target::Subject(s.id.clone()), t, blocked));
                    break;
                }
            }
        }
        let stale = match stale_after {
            Some(after) => live.iter().filter(|d| d.updated_at + after <= now).map(|d| d.id.clone()).collect(),
            None => vec![],
        };
        Ok(Due { as_of: now, items, stale })
    }

    pub async fn disposition_due(&self, ctx: &RequestCtx) -> Result<Due, ArchiveError> {
        const ACTION: &str = "disposition.due";
        let reason = self.require_disposition(ctx, ACTION).await?;
        let due = self.compute_due(self.clock.now(), Some(self.stale_after))?;
        let e = ctx.entry(ACTION, "disposition", Outcome::Allow, format!("{reason}; {} due", due.items.len()));
        self.audit.commit(Commit::entry(e)).await?;
        Ok(due)
    }

    // ---------------------------------------------------------- batches

    /// Proposes what is due, unblocked and in no open batch, for rules that
    /// need approval (`approval`) or not. `None` when nothing is.
    async fn propose(&self, proposer: Option<&RequestCtx>, approval: bool) -> Result<Option<Batch>, ArchiveError> {
        let now = self.clock.now();
        let due = self.compute_due(now, None)?;
        let items: Vec<Item> = due
            .items
            .into_iter()
            .filter(|d| d.blocked_by.is_empty() && d.batch.is_none() && d.approval == approval)
            .map(|d| d.item)
            .collect();
        if items.is_empty() {
            return Ok(None);
        }
        let batch = Batch {
            batch_id: new_id("bat"),
            state: BatchState::Proposed,
            proposed_by: proposer.map(|c| c.principal.id.clone()),
            proposed_at: now,
            approved_by: None,
            approved_at: None,
            certificate_id: None,
            items,
            results: vec![],
        };
        let reason = format!("proposed {} item(s): {}", batch.items.len(), describe_items(&batch.items));
        let entry = match proposer {
            Some(ctx) => ctx.entry("disposition.propose", &batch.batch_id, Outcome::Allow, reason),
            None => system_entry("disposition.propose", &batch.batch_id, reason),
        };
        let ops = vec![Op::Put(Cf::Disposition, batch_key(&batch.batch_id), to_json(&batch)?)];
        self.audit
            .commit(Commit { ops, entries: vec![with_targets(entry, &batch.items)], guard: None, on_conflict: vec![] })
            .await?;
        Ok(Some(batch))
    }

    pub async fn propose_batch(&self, ctx: &RequestCtx) -> Result<Batch, ArchiveError> {
        const ACTION: &str = "disposition.propose";
        self.require_disposition(ctx, ACTION).await?;
        match self.propose(Some(ctx), true).await? {
            Some(b) => Ok(b),
            None => {
                let e = ctx.entry(ACTION, "disposition", Outcome::Error, "nothing due that needs approval");
                self.refuse(
                    e,
                    ArchiveError::Conflict("nothing is due (unblocked, not yet proposed) that needs approval".into()),
                )
                .await
            }
        }
    }

    fn batch(&self, batch_id: &str) -> Result<Option<(Batch, Vec<u8>)>, ArchiveError> {
        match self.store.get(Cf::Disposition, &batch_key(batch_id))? {
            None => Ok(None),
            Some(raw) => Ok(Some((from_json(&raw)?, raw))),
        }
    }

    pub async fn get_batch(&self, ctx: &RequestCtx, batch_id: &str) -> Result<Batch, ArchiveError> {
        const ACTION: &str = "disposition.batch";
        self.require_disposition(ctx, ACTION).await?;
        let Some((b, _)) = self.batch(batch_id)? else {
            let e = ctx.entry(ACTION, batch_id, Outcome::Error, "no such batch");
            return self.refuse(e, ArchiveError::NotFound("batch".into())).await;
        };
        self.audit.commit(Commit::entry(ctx.entry(ACTION, batch_id, Outcome::Allow, "batch"))).await?;
        Ok(b)
    }

    /// Four eyes: a compliance officer other than the proposer approves, and
    /// the batch executes.
    pub async fn approve_batch(&self, ctx: &RequestCtx, batch_id: &str) -> Result<Batch, ArchiveError> {
        const ACTION: &str = "disposition.approve";
        let reason = self.require_disposition(ctx, ACTION).await?;
        let Some((batch, raw)) = self.batch(batch_id)? else {
            let e = ctx.entry(ACTION, batch_id, Outcome::Error, "no such batch");
            return self.refuse(e, ArchiveError::NotFound("batch".into())).await;
        };
        if batch.proposed_by.as_ref() == Some(&ctx.principal.id) {
            let e = ctx.entry(ACTION, batch_id, Outcome::Deny, "the proposer may not approve (four eyes)");
            return self
                .refuse(e, ArchiveError::Forbidden("the proposer of a batch may not approve it (four eyes)".into()))
                .await;
        }
        if batch.state != BatchState::Proposed {
            let e = ctx.entry(ACTION, batch_id, Outcome::Error, "batch is not awaiting approval");
            return self.refuse(e, ArchiveError::Conflict("the batch is not awaiting approval".into())).await;
        }
        let approved = Batch {
            state: BatchState::Executing,
            approved_by: Some(ctx.principal.id.clone()),
            approved_at: Some(self.clock.now()),
            certificate_id: Some(new_id("cert")),
            ..batch
        };
        let entry = with_targets(ctx.entry(ACTION, batch_id, Outcome::Allow, reason), &approved.items);
        let conflict = ctx.entry(ACTION, batch_id, Outcome::Error, "approved concurrently");
        let key = batch_key(batch_id);
        let ops = vec![Op::Put(Cf::Disposition, key.clone(), to_json(&approved)?)];
        let guard = Guard { cf: Cf::Disposition, key, expected: Some(raw) };
        self.audit
            .commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![conflict] })
            .await?;
        self.execute(batch_id).await
    }

    /// Runs (or resumes) an approved batch to the end. Idempotent.
    pub async fn execute(&self, batch_id: &str) -> Result<Batch, ArchiveError> {
        loop {
            let Some((batch, raw)) = self.batch(batch_id)? else {
                return Err(ArchiveError::NotFound("batch".into()));
            };
            if batch.state != BatchState::Executing {
                return Ok(batch);
            }
            let done: BTreeSet<&Target> = batch.results.iter().map(|r| &r.target).collect();
            let next = batch.items.iter().find(|i| !done.contains(&i.target)).cloned();
            match next {
                Some(item) => self.execute_item(&batch, raw, &item).await?,
                None => {
                    self.finish(&batch, raw).await?;
                }
            }
        }
    }

    /// One item, atomically: shred, delete, tombstone, result, audit entry.
    async fn execute_item(&self, batch: &Batch, raw: Vec<u8>, item: &Item) -> Result<(), ArchiveError> {
        let cert = batch.certificate_id.clone().unwrap_or_default();
        let now = self.clock.now();
        let tomb =
            Tombstone { certificate: cert.clone(), batch: batch.batch_id.clone(), rule: item.rule.clone(), at: now };
        let mut ops = Vec::new();
        let mut result = ItemResult {
            target: item.target.clone(),
            outcome: String::new(),
            keys_shredded: vec![],
            ciphertext_sha256: vec![],
            subjects: vec![],
            audit_seq: None,
            documents: vec![],
        };
        let mut shredded: Vec<KeyRef> = Vec::new();
        let (action, resource) = match &item.target {
            Target::Dossier(did) => ("dossier.destroy", did.to_string()),
            Target::Subject(sid) => ("subject.erase", sid.to_string()),
        };
        match &item.target {
            Target::Dossier(did) => {
                let meta = self
                    .store
                    .get(Cf::Dossiers, did.as_str().as_bytes())?
                    .map(|r| from_json::<DossierMeta>(&r))
                    .transpose()?;
                let holds = self.holds(did)?;
                match meta {
                    None => result.outcome = "skipped: no such dossier".into(),
                    Some(m) if m.destroyed.is_some() => result.outcome = "skipped: already destroyed".into(),
                    Some(_) if !holds.is_empty() => {
                        result.outcome = format!(
                            "skipped: under legal hold {}",
                            holds.iter().map(|h| h.id.as_str()).collect::<Vec<_>>().join(", ")
                        )
                    }
                    Some(mut m) => {
                        // The index first: never a shredded key with a live index entry.
                        self.unindex_dossiers(std::slice::from_ref(did))?;
                        let prefix = format!("{did}/").into_bytes();
                        for row in self.store.scan(Cf::Versions, &prefix, &prefix) {
                            let (k, bytes) = row?;
                            result.ciphertext_sha256.push(hex::encode(Sha256::digest(&bytes)));
                            ops.push(Op::Delete(Cf::Versions, k));
                        }
                        shredded.push(KeyRef::Dossier(did.clone()));
                        for sid in &m.subjects {
                            ops.push(Op::Delete(Cf::Subjects, super::records::subject_link_key(sid, did)));
                            // The person's key goes too unless another live dossier names them.
                            let others = self.linked_dossiers(sid)?.into_iter().any(|o| &o != did);
                            if !others {
                                let (erase_ops, keys) = self.erase_subject_ops(sid, &tomb)?;
                                ops.extend(erase_ops);
                                shredded.extend(keys);
                            }
                        }
                        for h in self.store.scan(
                            Cf::Disposition,
                            format!("h/{did}/").as_bytes(),
                            format!("h/{did}/").as_bytes(),
                        ) {
                            ops.push(Op::Delete(Cf::Disposition, h?.0));
                        }
                        for d in self.documents_of(did)? {
                            result.documents.push(format!("{} sha256:{}", d.name, d.sha256));
                        }
                        ops.extend(self.delete_documents_ops(did)?);
                        result.subjects = m.subjects.clone();
                        m.destroyed = Some(tomb.clone());
                        m.subjects.clear();
                        ops.push(Op::Put(Cf::Dossiers, did.as_str().as_bytes().to_vec(), to_json(&m)?));
                        result.outcome = "destroyed".into();
                    }
                }
            }
            Target::Subject(sid) => {
                let linked = self.linked_dossiers(sid)?;
                let mut held = Vec::new();
                for d in &linked {
                    held.extend(self.holds(d)?.into_iter().map(|h| h.id));
                }
                let exists = self.store.get(Cf::Subjects, sid.as_str().as_bytes())?.is_some();
                if !exists {
                    result.outcome = "skipped: no such subject".into();
                } else if !held.is_empty() {
                    result.outcome = format!("skipped: under legal hold {}", held.join(", "));
                } else {
                    self.unindex_subject(sid, &linked)?;
                    let (erase_ops, keys) = self.erase_subject_ops(sid, &tomb)?;
                    ops.extend(erase_ops);
                    shredded.extend(keys);
                    result.subjects = vec![sid.clone()];
                    result.outcome =
                        if shredded.is_empty() { "skipped: already erased".into() } else { "erased".into() };
                }
            }
        }
        for k in &shredded {
            ops.push(Op::Delete(Cf::Keys, k.storage_key().into_bytes()));
        }
        result.keys_shredded = shredded.iter().map(|k| k.storage_key()).collect();
        let mut entry = system_entry(
            action,
            &resource,
            format!(
                "{}; rule {} ({}); batch {}; certificate {cert}",
                result.outcome, item.rule, item.citation, batch.batch_id
            ),
        );
        entry.subjects = result.subjects.iter().map(|s| s.to_string()).collect();
        entry.request_id = item_request_id(&batch.batch_id, batch.results.len());
        if let (Some(approver), true) = (&batch.approved_by, !result.outcome.starts_with("skipped")) {
            entry.actor = approver.to_string();
        }
        // The result records the seq this entry will get: the writer assigns
        // it, so read it back from the commit and store it with the next
        // write (the certificate step) rather than guessing.
        let mut updated = batch.clone();
        updated.results.push(result);
        let key = batch_key(&batch.batch_id);
        ops.push(Op::Put(Cf::Disposition, key.clone(), to_json(&updated)?));
        let guard = Guard { cf: Cf::Disposition, key, expected: Some(raw) };
        let seqs =
            self.audit.commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![] }).await?;
        self.keyring.forget(&shredded);
        // Record the entry's sequence number (a second, idempotent write).
        if let (Some(seq), Some((mut b, raw))) = (seqs.last().copied(), self.batch(&batch.batch_id)?) {
            if let Some(r) = b.results.iter_mut().find(|r| r.target == item.target) {
                r.audit_seq = Some(seq);
                let key = batch_key(&b.batch_id);
                let guard = Guard { cf: Cf::Disposition, key: key.clone(), expected: Some(raw) };
                let commit = Commit {
                    ops: vec![Op::Put(Cf::Disposition, key, to_json(&b)?)],
                    entries: vec![],
                    guard: Some(guard),
                    on_conflict: vec![],
                };
                self.audit.commit(commit).await?;
            }
        }
        Ok(())
    }

    /// Dossiers (not destroyed) that name a subject.
    fn linked_dossiers(&self, sid: &SubjectId) -> Result<Vec<DossierId>, ArchiveError> {
        let prefix = subject_links_prefix(sid);
        let mut out = Vec::new();
        for row in self.store.scan(Cf::Subjects, &prefix, &prefix) {
            let (k, _) = row?;
            if let Some(d) = std::str::from_utf8(&k[prefix.len()..]).ok().and_then(|s| DossierId::parse(s).ok()) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// The ops that erase a subject: its consent history (evidence is sealed
    /// under its key, the rest is no longer needed), a tombstone in its
    /// record; and the key to shred (if it still exists).
    fn erase_subject_ops(&self, sid: &SubjectId, tomb: &Tombstone) -> Result<(Vec<Op>, Vec<KeyRef>), ArchiveError> {
        let mut ops = Vec::new();
        let Some(raw) = self.store.get(Cf::Subjects, sid.as_str().as_bytes())? else { return Ok((ops, vec![])) };
        let mut meta: SubjectMeta = from_json(&raw)?;
        for n in 0..meta.consent_events {
            ops.push(Op::Delete(Cf::Subjects, consent_event_key(sid, n)));
        }
        meta.consents.clear();
        if meta.erased.is_none() {
            meta.erased = Some(tomb.clone());
        }
        ops.push(Op::Put(Cf::Subjects, sid.as_str().as_bytes().to_vec(), to_json(&meta)?));
        let key = KeyRef::Subject(sid.clone());
        let keys = if self.keyring.exists(&key)? { vec![key] } else { vec![] };
        Ok((ops, keys))
    }

    /// Makes the deletions physical, then issues the signed certificate.
    async fn finish(&self, batch: &Batch, raw: Vec<u8>) -> Result<(), ArchiveError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            for cf in [Cf::Keys, Cf::Versions, Cf::Documents, Cf::Subjects, Cf::Dossiers, Cf::Disposition] {
                store.purge(cf)?;
            }
            Ok::<_, crate::store::StoreError>(())
        })
        .await
        .map_err(|e| ArchiveError::Internal(e.into()))??;
        let cert_id = batch.certificate_id.clone().unwrap_or_else(|| new_id("cert"));
        // A crash between an item and the write recording its entry's
        // sequence number leaves it unrecorded: find it by its request id.
        let mut batch = batch.clone();
        for (n, r) in batch.results.iter_mut().enumerate() {
            if r.audit_seq.is_none() && !r.outcome.starts_with("skipped") {
                r.audit_seq = self.find_entry(&item_request_id(&batch.batch_id, n))?;
            }
        }
        // The destruction entries are durable: the checkpoint taken now
        // contains them, and goes into the certificate, which is written
        // with the batch's final state and the issuing entry, atomically.
        let (_, checkpoint) = self.checkpoint_note()?;
        let items_by_target: BTreeMap<&Target, &Item> = batch.items.iter().map(|i| (&i.target, i)).collect();
        let certificate = Certificate {
            certificate_id: cert_id.clone(),
            batch_id: batch.batch_id.clone(),
            issued_at: self.clock.now(),
            proposer: batch.proposed_by.clone(),
            approver: batch.approved_by.clone(),
            items: batch
                .results
                .iter()
                .map(|r| {
                    let item = items_by_target.get(&r.target);
                    CertificateItem {
                        target: r.target.clone(),
                        action: item.map_or(RetentionAction::Destroy, |i| i.action),
                        rule: item.map(|i| i.rule.clone()).unwrap_or_default(),
                        citation: item.map(|i| i.citation.clone()).unwrap_or_default(),
                        outcome: r.outcome.clone(),
                        subjects: r.subjects.clone(),
                        keys_shredded: r.keys_shredded.clone(),
                        ciphertext_sha256: r.ciphertext_sha256.clone(),
                        documents: r.documents.clone(),
                        audit_seq: r.audit_seq,
                    }
                })
                .collect(),
            checkpoint,
        };
        let mut entry = system_entry("certificate.issue", &cert_id, format!("batch {}", batch.batch_id));
        entry.subjects = batch.results.iter().flat_map(|r| r.subjects.iter().map(|s| s.to_string())).collect();
        let done = Batch { state: BatchState::Done, ..batch.clone() };
        let key = batch_key(&batch.batch_id);
        let guard = Guard { cf: Cf::Disposition, key: key.clone(), expected: Some(raw) };
        let ops = vec![
            Op::Put(Cf::Disposition, certificate_key(&cert_id), to_json(&certificate)?),
            Op::Put(Cf::Disposition, key, to_json(&done)?),
        ];
        self.audit.commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![] }).await?;
        Ok(())
    }

    /// The sequence number of the entry with `request_id`, searched from the
    /// newest back over a bounded window.
    fn find_entry(&self, request_id: &str) -> Result<Option<u64>, ArchiveError> {
        let head = self.audit.head().next_seq;
        for seq in (head.saturating_sub(100_000)..head).rev() {
            let Some(raw) = self.store.get(Cf::Audit, &crate::audit::entry_key(seq))? else { continue };
            let e = crate::audit::AuditEntry::decode(&raw).map_err(|e| ArchiveError::Internal(e.into()))?;
            if e.body.request_id == request_id {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }

    pub async fn certificate(&self, ctx: &RequestCtx, cert_id: &str) -> Result<SignedCertificate, ArchiveError> {
        const ACTION: &str = "certificate.read";
        self.require_disposition(ctx, ACTION).await?;
        let Some(raw) = self.store.get(Cf::Disposition, &certificate_key(cert_id))? else {
            let e = ctx.entry(ACTION, cert_id, Outcome::Error, "no such certificate");
            return self.refuse(e, ArchiveError::NotFound("certificate".into())).await;
        };
        let certificate: Certificate = from_json(&raw)?;
        self.audit.commit(Commit::entry(ctx.entry(ACTION, cert_id, Outcome::Allow, "certificate"))).await?;
        let text = serde_json::to_string(&certificate).map_err(|e| ArchiveError::Internal(e.into()))?;
        let signed_note = self.signer.sign(&format!("{text}\n"));
        Ok(SignedCertificate {
            certificate,
            signature: CertificateSignature { algorithm: "ed25519", verifier_key: self.verifier_key(), signed_note },
        })
    }

    // ----------------------------------------------------------- erasure

    /// Erasure on a data subject's request: 409 naming the hold or keep rule
    /// that blocks it (and the subject is restricted instead), else the
    /// subject's key is shredded and a certificate issued.
    pub async fn erase_subject(&self, ctx: &RequestCtx, id: &str, ground: &str) -> Result<String, ArchiveError> {
        const ACTION: &str = "subject.erase";
        self.purpose(ctx, ACTION, id).await?;
        let Some(sid) = SubjectId::parse(id)
            .ok()
            .filter(|s| matches!(self.store.get(Cf::Subjects, s.as_str().as_bytes()), Ok(Some(_))))
        else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such subject");
            return self.refuse(e, ArchiveError::NotFound("subject".into())).await;
        };
        let linked = self.linked_dossiers(&sid)?;
        let metas: Vec<DossierMeta> = linked
            .iter()
            .filter_map(|d| self.store.get(Cf::Dossiers, d.as_str().as_bytes()).ok().flatten())
            .map(|r| from_json::<DossierMeta>(&r))
            .collect::<Result<_, _>>()?;
        let facts = crate::policy::access::SubjectFacts {
            owners: metas.iter().map(|d| d.owner.clone()).collect(),
            regions: metas.iter().map(|d| d.region.clone()).collect(),
            restricted: false,
        };
        let purpose = ctx.purpose.as_deref().unwrap_or_default();
        let d = self.policy.access.decide_subject(&ctx.principal, SubjectAction::Erase, purpose, &sid, &facts);
        let subject_entry = |outcome, reason: String| {
            let mut e = ctx.entry(ACTION, id, outcome, reason);
            e.subjects = vec![sid.to_string()];
            e
        };
        if !d.allowed {
            let e = subject_entry(Outcome::Deny, d.reason.clone());
            return self.refuse(e, ArchiveError::Forbidden(d.reason)).await;
        }
        let meta: SubjectMeta = from_json(&self.store.get(Cf::Subjects, sid.as_str().as_bytes())?.unwrap_or_default())?;
        if let Some(t) = &meta.erased {
            let e = subject_entry(Outcome::Allow, format!("already erased; certificate {}", t.certificate));
            self.audit.commit(Commit::entry(e)).await?;
            return Ok(t.certificate.clone());
        }
        // What blocks it: holds on any dossier naming the person, keep rules.
        let mut blocked: Vec<String> = Vec::new();
        for m in &metas {
            blocked.extend(self.holds(&m.id)?.into_iter().map(|h| format!("legal hold {} on {}", h.id, m.id)));
        }
        let statuses: Vec<Status> = metas.iter().map(|m| m.status).collect();
        let times = |t: Trigger| match t {
            Trigger::Created => Some(meta.created_at),
            Trigger::LastActivity => metas.iter().map(|d| d.updated_at).max(),
            Trigger::RelationshipEnd => {
                metas.iter().map(|d| d.ended_at).collect::<Option<Vec<_>>>().and_then(|v| v.into_iter().max())
            }
            Trigger::ConsentWithdrawn => meta.last_withdrawal_at,
        };
        blocked.extend(
            self.keeping(Covers::Contact, &statuses, &times, self.clock.now())
                .into_iter()
                .map(|r| format!("retention {r}")),
        );
        if !blocked.is_empty() {
            // PIPL Art. 47(2): what cannot be deleted is kept for storage only.
            let raw = self.store.get(Cf::Subjects, sid.as_str().as_bytes())?;
            let mut restricted = meta.clone();
            restricted.restricted_at.get_or_insert(self.clock.now());
            let e =
                subject_entry(Outcome::Deny, format!("erasure blocked by {}; restricted instead", blocked.join(", ")));
            let ops = vec![Op::Put(Cf::Subjects, sid.as_str().as_bytes().to_vec(), to_json(&restricted)?)];
            let guard = Guard { cf: Cf::Subjects, key: sid.as_str().as_bytes().to_vec(), expected: raw };
            self.audit.commit(Commit { ops, entries: vec![e], guard: Some(guard), on_conflict: vec![] }).await?;
            return Err(ArchiveError::Conflict(format!(
                "erasure is blocked by {}; the subject is restricted (storage only) instead",
                blocked.join(", ")
            )));
        }
        let now = self.clock.now();
        let item = Item {
            target: Target::Subject(sid.clone()),
            rule: DSR_ERASURE_RULE.into(),
            citation: DSR_ERASURE_CITATION.into(),
            action: RetentionAction::Erase,
            due_at: now,
        };
        let batch = Batch {
            batch_id: new_id("bat"),
            state: BatchState::Executing,
            proposed_by: Some(ctx.principal.id.clone()),
            proposed_at: now,
            approved_by: Some(ctx.principal.id.clone()),
            approved_at: Some(now),
            certificate_id: Some(new_id("cert")),
            items: vec![item],
            results: vec![],
        };
        let e = subject_entry(
            Outcome::Allow,
            format!("{}; ground: {}; batch {}", d.reason, ground_code(ground), batch.batch_id),
        );
        let ops = vec![Op::Put(Cf::Disposition, batch_key(&batch.batch_id), to_json(&batch)?)];
        self.audit.commit(Commit { ops, entries: vec![e], guard: None, on_conflict: vec![] }).await?;
        let done = self.execute(&batch.batch_id).await?;
        Ok(done.certificate_id.unwrap_or_default())
    }

    // --------------------------------------------------------- the sweep

    /// One retention sweep: resumes batches left executing (a crash), runs
    /// what is due without approval, proposes what needs it. Idempotent.
    pub async fn retention_sweep(&self, dry_run: bool) -> Result<SweepReport, ArchiveError> {
        let due = self.compute_due(self.clock.now(), Some(self.stale_after))?;
        let mut report = SweepReport { due, resumed: vec![], executed: vec![], proposed: vec![] };
        if dry_run {
            return Ok(report);
        }
        for b in self.open_batches()? {
            if b.state == BatchState::Executing {
                self.execute(&b.batch_id).await?;
                report.resumed.push(b.batch_id);
            }
        }
        if let Some(b) = self.propose(None, false).await? {
            // No approval needed: approve as the system and execute.
            let (batch, raw) = self.batch(&b.batch_id)?.ok_or_else(|| anyhow::anyhow!("batch vanished"))?;
            let approved = Batch {
                state: BatchState::Executing,
                approved_at: Some(self.clock.now()),
                certificate_id: Some(new_id("cert")),
                ..batch
            };
            let key = batch_key(&b.batch_id);
            let entry = with_targets(
                system_entry("disposition.approve", &b.batch_id, "rules without approval".into()),
                &approved.items,
            );
            let guard = Guard { cf: Cf::Disposition, key: key.clone(), expected: Some(raw) };
            let ops = vec![Op::Put(Cf::Disposition, key, to_json(&approved)?)];
            self.audit.commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![] }).await?;
            self.execute(&b.batch_id).await?;
            report.executed.push(b.batch_id);
        }
        if let Some(b) = self.propose(None, true).await? {
            report.proposed.push(b.batch_id);
        }
        if !report.due.stale.is_empty() {
            let e = system_entry(
                "retention.stale",
                "disposition",
                format!("{} dossier(s) not reviewed", report.due.stale.len()),
            );
            self.audit.commit(Commit::entry(e)).await?;
        }
        Ok(report)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub due: Due,
    /// Batches a crash had left executing, now completed.
    pub resumed: Vec<String>,
    /// Batches executed at once (rules without approval).
    pub executed: Vec<String>,
    /// Batches proposed for approval.
    pub proposed: Vec<String>,
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

fn placeholder_business() -> BusinessPart {
    BusinessPart {
        customer: crate::domain::dossier::Customer {
            name: String::new(),
            credit_code: None,
            industry: None,
            region: String::new(),
            address: None,
        },
        owner: PrincipalId::generate(),
        status: Status::Active,
        grade: crate::domain::dossier::Grade::C,
        transport: None,
        preferences: None,
        remarks: None,
        tags: vec![],
    }
}

/// An entry written by the retention machinery itself.
fn system_entry(action: &str, resource: &str, reason: String) -> EntryBody {
    EntryBody {
        actor: "system:retention".into(),
        roles: vec![],
        action: action.to_owned(),
        resource: resource.to_owned(),
        subjects: vec![],
        purpose: "legal_compliance".into(),
        outcome: Outcome::Allow,
        reason,
        released: vec![],
        masked: vec![],
        withheld: vec![],
        request_id: String::new(),
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
