//! Data subjects: status, consent with its append-only history, restriction,
//! and the portable export of everything held on a person (GDPR Art. 15, 20;
//! PIPL Art. 45).

use super::dossiers::parse_segment;
use super::records::{
    consent_event_key, subject_links_prefix, ConsentBasis, ConsentEvent, ConsentEventKind, DossierMeta, LiveConsent,
    SubjectMeta, VersionRecord,
};
use super::{Archive, ArchiveError, RequestCtx};
use crate::audit::{AuditFilter, Commit, Guard, Outcome};
use crate::crypto::{open, seal, segment_aad, CryptoError, KeyRef};
use crate::domain::dossier::{BusinessPart, FieldError, PersonalFields, SubjectSensitivePart};
use crate::domain::{DossierId, PrincipalId, SubjectId};
use crate::policy::access::{SubjectAction, SubjectFacts};
use crate::policy::Basis;
use crate::store::{Cf, Op};
use serde::Serialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// The schema of `GET /v1/subjects/{sid}/export`, published at
/// `/schemas/subject-export.schema.json`.
pub const EXPORT_SCHEMA_JSON: &str = include_str!("../../schemas/subject-export.schema.json");

/// Longest evidence text accepted (a reference to a signed form, a call
/// recording id, a web consent receipt).
const MAX_EVIDENCE: usize = 2000;

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
}

#[derive(Debug, Clone)]
pub struct NewConsent {
    pub purpose: String,
    pub basis: ConsentBasis,
    pub evidence: String,
    pub granted_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsentEventView {
    pub event: u32,
    pub kind: ConsentEventKind,
    pub purpose: String,
    pub basis: Option<ConsentBasis>,
    #[serde(with = "time::serde::rfc3339")]
    pub effective_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub actor: PrincipalId,
    /// `None` when none was given or the subject has been erased.
    pub evidence: Option<String>,
}

/// What an authorised subject call works on.
struct SubjectCall {
    sid: SubjectId,
    meta: SubjectMeta,
    raw: Vec<u8>,
    dossiers: Vec<DossierMeta>,
    reason: String,
}

fn evidence_aad(sid: &SubjectId, event: u32) -> Vec<u8> {
    segment_aad(sid.as_str(), event, "consent-evidence")
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(v).map_err(|e| ArchiveError::Internal(e.into()))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Archive {
    fn subject_meta(&self, sid: &SubjectId) -> Result<Option<(SubjectMeta, Vec<u8>)>, ArchiveError> {
        match self.store.get(Cf::Subjects, sid.as_str().as_bytes())? {
            None => Ok(None),
            Some(raw) => {
                let meta = serde_json::from_slice(&raw).map_err(|e| ArchiveError::Internal(e.into()))?;
                Ok(Some((meta, raw)))
            }
        }
    }

    /// The dossiers that name a subject, through its links.
    fn subject_dossiers(&self, sid: &SubjectId) -> Result<Vec<DossierMeta>, ArchiveError> {
        let prefix = subject_links_prefix(sid);
        let mut out = Vec::new();
        for row in self.store.scan(Cf::Subjects, &prefix, &prefix) {
            let (key, _) = row?;
            let id = std::str::from_utf8(&key[prefix.len()..])
                .ok()
                .and_then(|s| DossierId::parse(s).ok())
                .ok_or_else(|| anyhow::anyhow!("malformed subject link"))?;
            if let Some(raw) = self.store.get(Cf::Dossiers, id.as_str().as_bytes())? {
                out.push(serde_json::from_slice(&raw).map_err(|e| ArchiveError::Internal(e.into()))?);
            }
        }
        Ok(out)
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
        action: &str,
        op: SubjectAction,
        id: &str,
    ) -> Result<SubjectCall, ArchiveError> {
        self.purpose(ctx, action, id).await?;
        let found = match SubjectId::parse(id) {
            Ok(sid) => self.subject_meta(&sid)?.map(|(m, raw)| (sid, m, raw)),
            Err(_) => None,
        };
        let Some((sid, meta, raw)) = found else {
            let e = ctx.entry(action, id, Outcome::Error, "no such subject");
            return self.refuse(e, ArchiveError::NotFound("subject".into())).await;
        };
        let dossiers = self.subject_dossiers(&sid)?;
        let facts = SubjectFacts {
            owners: dossiers.iter().map(|d| d.owner.clone()).collect(),
            regions: dossiers.iter().map(|d| d.region.clone()).collect(),
            restricted: meta.restricted_at.is_some(),
        };
        let purpose = ctx.purpose.as_deref().unwrap_or_default();
        let decision = self.policy.access.decide_subject(&ctx.principal, op, purpose, &sid, &facts);
        if !decision.allowed {
            let mut e = ctx.entry(action, id, Outcome::Deny, decision.reason.clone());
            e.subjects = vec![sid.to_string()];
            return self.refuse(e, ArchiveError::Forbidden(decision.reason)).await;
        }
        Ok(SubjectCall { sid, meta, raw, dossiers, reason: decision.reason })
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
                .map(|(p, c)| LiveConsentView { purpose: p.clone(), basis: c.basis, granted_at: c.granted_at })
                .collect(),
        })
    }

    pub async fn get_subject(&self, ctx: &RequestCtx, id: &str) -> Result<SubjectView, ArchiveError> {
        const ACTION: &str = "subject.read";
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
        action: &str,
        call: &SubjectCall,
        meta: &SubjectMeta,
        mut ops: Vec<Op>,
        reason: String,
    ) -> Result<(), ArchiveError> {
        ops.push(Op::Put(Cf::Subjects, call.sid.as_str().as_bytes().to_vec(), to_json(meta)?));
        let mut entry = ctx.entry(action, call.sid.as_str(), Outcome::Allow, reason);
        entry.subjects = vec![call.sid.to_string()];
        let mut conflict = ctx.entry(action, call.sid.as_str(), Outcome::Error, "concurrent change of the subject");
        conflict.subjects = vec![call.sid.to_string()];
        let guard =
            Guard { cf: Cf::Subjects, key: call.sid.as_str().as_bytes().to_vec(), expected: Some(call.raw.clone()) };
        self.audit
            .commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![conflict] })
            .await?;
        Ok(())
    }

    pub async fn grant_consent(
        &self,
        ctx: &RequestCtx,
        id: &str,
        consent: NewConsent,
    ) -> Result<ConsentEventView, ArchiveError> {
        const ACTION: &str = "consent.grant";
        let call = self.authorize_subject(ctx, ACTION, SubjectAction::GrantConsent, id).await?;
        let now = self.clock.now();
        let mut errors = Vec::new();
        let known = crate::domain::Purpose::parse(&consent.purpose).and_then(|p| self.policy.purposes.get(&p).cloned());
        match known {
            None => errors.push(FieldError { path: "/purpose".into(), message: "unknown purpose".into() }),
            Some(def) if !matches!(def.basis, Basis::Consent | Basis::SeparateConsent) => errors.push(FieldError {
                path: "/purpose".into(),
                message: format!("this purpose rests on {}, not on consent", def.basis.as_str()),
            }),
            Some(_) => {}
        }
        if consent.evidence.trim().is_empty() || consent.evidence.chars().count() > MAX_EVIDENCE {
            errors.push(FieldError {
                path: "/evidence".into(),
                message: format!("evidence is required, at most {MAX_EVIDENCE} characters"),
            });
        }
        if consent.granted_at > now + time::Duration::minutes(5) {
            errors.push(FieldError { path: "/granted_at".into(), message: "lies in the future".into() });
        }
        if !errors.is_empty() {
            let mut e = ctx.entry(ACTION, id, Outcome::Error, "invalid consent record");
            e.subjects = vec![call.sid.to_string()];
            return self.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let key = match self.keyring.get(&KeyRef::Subject(call.sid.clone())) {
            Ok(k) => k,
            Err(CryptoError::KeyDestroyed(_)) => {
                let mut e = ctx.entry(ACTION, id, Outcome::Error, "subject erased");
                e.subjects = vec![call.sid.to_string()];
                return self.refuse(e, ArchiveError::Conflict("the subject has been erased".into())).await;
            }
            Err(err) => return Err(err.into()),
        };
        let n = call.meta.consent_events;
        let evidence = seal(&key, &evidence_aad(&call.sid, n), consent.evidence.as_bytes())?;
        let event = ConsentEvent {
            event: n,
            kind: ConsentEventKind::Grant,
            purpose: consent.purpose.clone(),
            basis: Some(consent.basis),
            effective_at: consent.granted_at,
            recorded_at: now,
            actor: ctx.principal.id.clone(),
            evidence: Some(evidence),
        };
        let mut meta = call.meta.clone();
        meta.consent_events = n + 1;
        meta.consents.insert(
            consent.purpose.clone(),
            LiveConsent { basis: consent.basis, granted_at: consent.granted_at, event: n },
        );
        let ops = vec![Op::Put(Cf::Subjects, consent_event_key(&call.sid, n), to_json(&event)?)];
        let basis = if consent.basis == ConsentBasis::SeparateConsent { "separate_consent" } else { "consent" };
        let reason = format!("{}; purpose {}, basis {basis}, event {n}", call.reason, consent.purpose);
        self.commit_subject(ctx, ACTION, &call, &meta, ops, reason).await?;
        Ok(self.event_view(&call.sid, event))
    }

    pub async fn withdraw_consent(
        &self,
        ctx: &RequestCtx,
        id: &str,
        purpose: &str,
    ) -> Result<ConsentEventView, ArchiveError> {
        const ACTION: &str = "consent.withdraw";
        let call = self.authorize_subject(ctx, ACTION, SubjectAction::WithdrawConsent, id).await?;
        if !call.meta.consents.contains_key(purpose) {
            let mut e = ctx.entry(ACTION, id, Outcome::Error, "no live consent for that purpose");
            e.subjects = vec![call.sid.to_string()];
            return self.refuse(e, ArchiveError::NotFound("live consent for that purpose".into())).await;
        }
        let now = self.clock.now();
        let n = call.meta.consent_events;
        let event = ConsentEvent {
            event: n,
            kind: ConsentEventKind::Withdrawal,
            purpose: purpose.to_owned(),
            basis: None,
            effective_at: now,
            recorded_at: now,
            actor: ctx.principal.id.clone(),
            evidence: None,
        };
        let mut meta = call.meta.clone();
        meta.consent_events = n + 1;
        meta.consents.remove(purpose);
        meta.last_withdrawal_at = Some(now);
        let ops = vec![Op::Put(Cf::Subjects, consent_event_key(&call.sid, n), to_json(&event)?)];
        // `purpose` is a key of the live consents: one of our purpose ids.
        let reason = format!("{}; purpose {purpose} withdrawn, event {n}", call.reason);
        self.commit_subject(ctx, ACTION, &call, &meta, ops, reason).await?;
        Ok(self.event_view(&call.sid, event))
    }

    fn consent_events(&self, sid: &SubjectId) -> Result<Vec<ConsentEventView>, ArchiveError> {
        let prefix = format!("{sid}/c/").into_bytes();
        let mut out = Vec::new();
        for row in self.store.scan(Cf::Subjects, &prefix, &prefix) {
            let (_, raw) = row?;
            let event: ConsentEvent = serde_json::from_slice(&raw).map_err(|e| ArchiveError::Internal(e.into()))?;
            out.push(self.event_view(sid, event));
        }
        Ok(out)
    }

    fn event_view(&self, sid: &SubjectId, e: ConsentEvent) -> ConsentEventView {
        // The evidence opens only while the subject's key exists.
        let evidence = e.evidence.as_ref().and_then(|sealed| {
            let key = self.keyring.get(&KeyRef::Subject(sid.clone())).ok()?;
            let plain = open(&key, &evidence_aad(sid, e.event), sealed).ok()?;
            String::from_utf8(plain.to_vec()).ok()
        });
        ConsentEventView {
            event: e.event,
            kind: e.kind,
            purpose: e.purpose,
            basis: e.basis,
            effective_at: e.effective_at,
            recorded_at: e.recorded_at,
            actor: e.actor,
            evidence,
        }
    }

    pub async fn consent_history(&self, ctx: &RequestCtx, id: &str) -> Result<Vec<ConsentEventView>, ArchiveError> {
        const ACTION: &str = "consent.history";
        let call = self.authorize_subject(ctx, ACTION, SubjectAction::Read, id).await?;
        let events = self.consent_events(&call.sid)?;
        let mut e = ctx.entry(ACTION, id, Outcome::Allow, call.reason.clone());
        e.subjects = vec![call.sid.to_string()];
        self.audit.commit(Commit::entry(e)).await?;
        Ok(events)
    }

    /// Restricts (`restrict`) or lifts the restriction of a subject. Either
    /// is idempotent: restricting a restricted subject keeps its first time.
    pub async fn set_restriction(
        &self,
        ctx: &RequestCtx,
        id: &str,
        restrict: bool,
    ) -> Result<SubjectView, ArchiveError> {
        let action = if restrict { "subject.restrict" } else { "subject.unrestrict" };
        let call = self.authorize_subject(ctx, action, SubjectAction::Restrict, id).await?;
        let mut meta = call.meta.clone();
        let changed = match (restrict, meta.restricted_at) {
            (true, None) => {
                meta.restricted_at = Some(self.clock.now());
                true
            }
            (false, Some(_)) => {
                meta.restricted_at = None;
                true
            }
            _ => false,
        };
        let reason = format!("{}; {}", call.reason, if changed { "changed" } else { "already so" });
        self.commit_subject(ctx, action, &call, &meta, vec![], reason).await?;
        self.subject_view(&call, &meta)
    }

    /// Everything held on a person: their fields in every version of every
    /// dossier that names them, their consent history and the audit entries
    /// about them. The export's own audit entry is durable first, and is in
    /// the export.
    pub async fn export_subject(&self, ctx: &RequestCtx, id: &str) -> Result<Value, ArchiveError> {
        const ACTION: &str = "subject.export";
        let call = self.authorize_subject(ctx, ACTION, SubjectAction::Export, id).await?;
        let status = self.subject_status(&call.sid, &call.meta)?;
        let mut dossiers = Vec::new();
        if status != SubjectStatus::Erased {
            for d in &call.dossiers {
                dossiers.push(self.export_dossier(&call.sid, d)?);
            }
        }
        let consents = self.consent_events(&call.sid)?;
        let mut e = ctx.entry(ACTION, id, Outcome::Allow, call.reason.clone());
        e.subjects = vec![call.sid.to_string()];
        let seqs = self.audit.commit(Commit::entry(e)).await?;
        let head = seqs.last().map_or(self.audit.head().next_seq, |s| s + 1);
        let store = self.store.clone();
        let filter = AuditFilter { subject: Some(call.sid.to_string()), ..Default::default() };
        let audit = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut cursor = 0;
            loop {
                let page = crate::audit::query::run(store.as_ref(), &filter, cursor, 10_000, head)?;
                out.extend(page.entries.into_iter().map(|(e, _)| e));
                match page.next_cursor {
                    Some(c) => cursor = c,
                    None => return Ok::<_, crate::store::StoreError>(out),
                }
            }
        })
        .await
        .map_err(|e| ArchiveError::Internal(e.into()))??;
        let audit: Vec<Value> = audit
            .into_iter()
            .map(|e| {
                json!({
                    "seq": e.seq,
                    "time": rfc3339(e.time),
                    "actor": e.body.actor,
                    "action": e.body.action,
                    "resource": e.body.resource,
                    "purpose": e.body.purpose,
                    "outcome": e.body.outcome,
                    "reason": e.body.reason,
                })
            })
            .collect();
        Ok(json!({
            "format": "custos.subject-export.v1",
            "generated_at": rfc3339(self.clock.now()),
            "subject": {
                "id": call.sid,
                "status": status,
                "created_at": rfc3339(call.meta.created_at),
                "restricted_at": call.meta.restricted_at.map(rfc3339),
            },
            "dossiers": dossiers,
            "consents": consents,
            "audit": audit,
        }))
    }

    /// The person's fields in each version of one dossier.
    fn export_dossier(&self, sid: &SubjectId, d: &DossierMeta) -> Result<Value, ArchiveError> {
        let skey = self.keyring.get(&KeyRef::Subject(sid.clone()))?;
        let mut versions = Vec::new();
        let mut customer = None;
        let prefix = format!("{}/", d.id).into_bytes();
        for row in self.store.scan(Cf::Versions, &prefix, &prefix) {
            let (_, bytes) = row?;
            let rec: VersionRecord = postcard::from_bytes(&bytes).map_err(|e| ArchiveError::Internal(e.into()))?;
            let mut contact = serde_json::Map::new();
            for seg in &rec.segments {
                let aad = segment_aad(d.id.as_str(), rec.version, &seg.name);
                if seg.name == format!("personal/{sid}") {
                    let p: PersonalFields = parse_segment(&open(&skey, &aad, &seg.sealed)?)?;
                    contact.insert("name".into(), p.name.into());
                    for (k, v) in [("phone", p.phone), ("email", p.email), ("role", p.role)] {
                        if let Some(v) = v {
                            contact.insert(k.into(), v.into());
                        }
                    }
                } else if seg.name == format!("sensitive/{sid}") {
                    let s: SubjectSensitivePart = parse_segment(&open(&skey, &aad, &seg.sealed)?)?;
                    if let Some(n) = s.id_number {
                        contact.insert("id_number".into(), n.into());
                    }
                } else if seg.name == "business" && rec.version == d.current_version {
                    let key = self.keyring.get(&KeyRef::Dossier(d.id.clone()))?;
                    let b: BusinessPart = parse_segment(&open(&key, &aad, &seg.sealed)?)?;
                    customer = Some(b.customer.name);
                }
            }
            if !contact.is_empty() {
                let created = OffsetDateTime::from_unix_timestamp_nanos(rec.created_at_us as i128 * 1000)
                    .map_err(|e| ArchiveError::Internal(e.into()))?;
                versions.push(json!({"version": rec.version, "created_at": rfc3339(created), "contact": contact}));
            }
        }
        let documents: Vec<Value> = self
            .documents_of(&d.id)?
            .into_iter()
            .map(|doc| json!({"name": doc.name, "sha256": doc.sha256, "size": doc.size}))
            .collect();
        Ok(json!({
            "dossier_id": d.id,
            "customer_name": customer,
            "status": d.status,
            "versions": versions,
            "documents": documents,
        }))
    }
}
