//! Dossier use cases: create, read (current or any version), update with
//! optimistic concurrency, version history.

use super::records::{subject_link_key, version_key, DossierMeta, SegmentRecord, SubjectMeta, VersionRecord};
use super::{Archive, ArchiveError, RequestCtx};
use crate::audit::{Commit, EntryBody, Guard, Outcome};
use crate::crypto::{open, seal, segment_aad, CryptoError, DataKey, KeyRef};
use crate::domain::dossier::{
    BusinessPart, ConfidentialPart, Dossier, FieldError, PersonalFields, SensitivePart, SplitDossier,
    SubjectSensitivePart,
};
use crate::domain::Classification;
use crate::domain::{DossierId, SubjectId};
use crate::policy::access::{Change, DossierFacts, FieldDecision, FieldOutcome, SubjectState};
use crate::policy::classes::FieldClasses;
use crate::policy::PurposeDef;
use crate::store::{Cf, Op};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use time::OffsetDateTime;

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
    pub reason: String,
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

#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    pub version: u32,
    pub hash: String,
    pub prev_hash: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub actor: String,
}

/// Data keys a new version needs, and the ones created for it (stored
/// wrapped in the same batch, cached once it is durable).
#[derive(Default)]
struct Keys {
    dossier: Option<Arc<DataKey>>,
    subjects: Vec<(SubjectId, Arc<DataKey>)>,
    created: Vec<(KeyRef, Arc<DataKey>)>,
    ops: Vec<Op>,
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(v).map_err(|e| ArchiveError::Internal(e.into()))
}

fn version_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A value-free reason for an audit entry recording a failure.
fn failure_reason(e: &ArchiveError) -> &'static str {
    match e {
        ArchiveError::Conflict(_) => "names an erased subject",
        _ => "internal error",
    }
}

/// JSON Pointers of the leaves of a document (arrays of scalars count as one
/// leaf), for the released/withheld field lists of audit entries.
pub(crate) fn leaf_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                leaf_paths(v, &format!("{prefix}/{k}"), out);
            }
        }
        Value::Array(a) if a.iter().any(|x| x.is_object()) => {
            for (i, v) in a.iter().enumerate() {
                leaf_paths(v, &format!("{prefix}/{i}"), out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

fn parse_sid(s: &str) -> Result<SubjectId, ArchiveError> {
    SubjectId::parse(s).map_err(|e| ArchiveError::Internal(anyhow::anyhow!(e)))
}

/// Parses a decrypted segment. serde_json's messages can quote the input,
/// and this input is personal data: keep only the category and position.
pub(super) fn parse_segment<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ArchiveError> {
    serde_json::from_slice(b).map_err(|e| {
        ArchiveError::Internal(anyhow::anyhow!(
            "a decrypted segment does not parse ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// Drops null members and empty arrays (absent optional fields), as the
/// template's own serialisation does.
fn prune(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null() && !matches!(v, Value::Array(a) if a.is_empty()))
                .map(|(k, v)| (k, prune(v)))
                .collect(),
        ),
        other => other,
    }
}

/// `/contacts/3/phone` → 3.
fn contact_of(pointer: &str) -> Option<usize> {
    pointer.strip_prefix("/contacts/")?.split('/').next()?.parse().ok()
}

fn remove_pointer(doc: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else { return };
    match doc.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}

/// A version as the caller may see it.
struct Opened {
    document: Value,
    redactions: Vec<Redaction>,
    /// The subjects the version names, in contact order.
    subjects: Vec<SubjectId>,
    /// Paths released in clear.
    released: Vec<String>,
}

/// What a read may show: per class for the dossier's own fields, and per
/// contact for that person's personal and sensitive fields. Decided before
/// anything is decrypted.
#[derive(Debug, Default)]
pub(super) struct ReadPlan {
    dossier: HashMap<Classification, FieldDecision>,
    subjects: HashMap<SubjectId, (FieldDecision, FieldDecision)>,
}

impl ReadPlan {
    pub(super) fn outcome(&self, class: Classification, subject: Option<&SubjectId>) -> FieldOutcome {
        let decision = match (class, subject) {
            (Classification::Personal, Some(s)) => self.subjects.get(s).map(|d| &d.0),
            (Classification::Sensitive, Some(s)) => self.subjects.get(s).map(|d| &d.1),
            _ => self.dossier.get(&class),
        };
        decision.map_or(FieldOutcome::Withheld, |d| d.outcome)
    }

    /// Whether any field the template has could be shown.
    pub(super) fn anything_visible(&self) -> bool {
        let dossier_fields = FieldClasses::template().fields().any(|(p, c)| {
            let own =
                !p.starts_with("/contacts/") || !matches!(c, Classification::Personal | Classification::Sensitive);
            own && self.outcome(c, None) != FieldOutcome::Withheld
        });
        let contact_fields = self
            .subjects
            .values()
            .any(|(p, s)| p.outcome != FieldOutcome::Withheld || s.outcome != FieldOutcome::Withheld);
        dossier_fields || contact_fields
    }

    /// The deciding policies, for the audit entry (ids only).
    pub(super) fn reasons(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut classes: Vec<_> = self.dossier.iter().collect();
        classes.sort_by_key(|(c, _)| **c);
        for (c, d) in classes {
            let by = if d.policies.is_empty() { "no permit".to_owned() } else { d.policies.join("+") };
            parts.push(format!("{}={} ({by})", c.as_str(), d.outcome.as_str()));
        }
        let mut subjects: Vec<_> = self.subjects.iter().collect();
        subjects.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        for (sid, (p, s)) in subjects {
            let by =
                |d: &FieldDecision| if d.policies.is_empty() { "no permit".to_owned() } else { d.policies.join("+") };
            parts.push(format!(
                "{sid}: personal={} ({}), sensitive={} ({})",
                p.outcome.as_str(),
                by(p),
                s.outcome.as_str(),
                by(s)
            ));
        }
        parts.join("; ")
    }
}

impl Archive {
    pub(super) fn meta(&self, id: &DossierId) -> Result<Option<(DossierMeta, Vec<u8>)>, ArchiveError> {
        match self.store.get(Cf::Dossiers, id.as_str().as_bytes())? {
            None => Ok(None),
            Some(raw) => {
                let meta = serde_json::from_slice(&raw).map_err(|e| ArchiveError::Internal(e.into()))?;
                Ok(Some((meta, raw)))
            }
        }
    }

    fn parse_body(&self, body: &Value) -> Result<Dossier, ArchiveError> {
        let dossier = self.template.parse(body).map_err(ArchiveError::Invalid)?;
        let mut errors = Vec::new();
        if !matches!(self.principal(&dossier.owner), Ok(Some(_))) {
            errors.push(FieldError { path: "/owner".into(), message: "not a known principal".into() });
        }
        let mut seen = HashSet::new();
        for (i, c) in dossier.contacts.iter().enumerate() {
            if let Some(sid) = &c.subject_id {
                if !seen.insert(sid.clone()) {
                    errors.push(FieldError {
                        path: format!("/contacts/{i}/subject_id"),
                        message: "the same subject appears twice".into(),
                    });
                } else if self.store.get(Cf::Subjects, sid.as_str().as_bytes())?.is_none() {
                    errors.push(FieldError {
                        path: format!("/contacts/{i}/subject_id"),
                        message: "unknown subject".into(),
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(dossier)
        } else {
            Err(ArchiveError::Invalid(errors))
        }
    }

    /// Resolves (or creates) every data key the split dossier needs.
    fn keys_for(&self, id: &DossierId, split: &SplitDossier, new_dossier: bool) -> Result<Keys, ArchiveError> {
        let mut keys = Keys::default();
        let dref = KeyRef::Dossier(id.clone());
        keys.dossier = Some(if new_dossier {
            let (k, op) = self.keyring.create(&dref)?;
            keys.ops.push(op);
            keys.created.push((dref, k.clone()));
            k
        } else {
            self.keyring.get(&dref)?
        });
        for (sid, _, _) in &split.contacts {
            let sref = KeyRef::Subject(sid.clone());
            let key = match self.keyring.get(&sref) {
                Ok(k) => k,
                Err(CryptoError::KeyDestroyed(_))
                    if self.store.get(Cf::Subjects, sid.as_str().as_bytes())?.is_none() =>
                {
                    let (k, op) = self.keyring.create(&sref)?;
                    keys.ops.push(op);
                    keys.created.push((sref, k.clone()));
                    k
                }
                Err(CryptoError::KeyDestroyed(_)) => {
                    return Err(ArchiveError::Conflict(format!(
                        "subject {sid} has been erased and cannot be linked again"
                    )))
                }
                Err(e) => return Err(e.into()),
            };
            keys.subjects.push((sid.clone(), key));
        }
        Ok(keys)
    }

    fn seal_version(
        &self,
        id: &DossierId,
        version: u32,
        prev_hash: [u8; 32],
        actor: &str,
        split: &SplitDossier,
        keys: &Keys,
    ) -> Result<(Vec<u8>, [u8; 32]), ArchiveError> {
        let dkey = keys.dossier.as_ref().ok_or_else(|| anyhow::anyhow!("dossier key missing"))?;
        let dref = KeyRef::Dossier(id.clone()).storage_key();
        let mut segments = Vec::new();
        let mut add = |name: String, key_name: &str, key: &DataKey, plain: Vec<u8>| -> Result<(), ArchiveError> {
            let plain = zeroize::Zeroizing::new(plain);
            let sealed = seal(key, &segment_aad(id.as_str(), version, &name), &plain)?;
            segments.push(SegmentRecord { name, key: key_name.to_owned(), sealed });
            Ok(())
        };
        add("business".into(), &dref, dkey, to_json(&split.business)?)?;
        if let Some(c) = &split.confidential {
            add("confidential".into(), &dref, dkey, to_json(c)?)?;
        }
        if let Some(s) = &split.sensitive {
            add("sensitive".into(), &dref, dkey, to_json(s)?)?;
        }
        for ((sid, personal, sens), (_, skey)) in split.contacts.iter().zip(&keys.subjects) {
            let sref = KeyRef::Subject(sid.clone()).storage_key();
            add(format!("personal/{sid}"), &sref, skey, to_json(personal)?)?;
            if let Some(s) = sens {
                add(format!("sensitive/{sid}"), &sref, skey, to_json(s)?)?;
            }
        }
        let rec = VersionRecord {
            dossier: id.to_string(),
            version,
            prev_hash,
            created_at_us: (self.clock.now().unix_timestamp_nanos() / 1000) as i64,
            actor: actor.to_owned(),
            segments,
        };
        let bytes = postcard::to_allocvec(&rec).map_err(|e| ArchiveError::Internal(e.into()))?;
        let hash = version_hash(&bytes);
        Ok((bytes, hash))
    }

    pub(super) fn dossier_entry(
        &self,
        ctx: &RequestCtx,
        action: &str,
        id: &str,
        subjects: &[SubjectId],
        outcome: Outcome,
        reason: impl Into<String>,
    ) -> EntryBody {
        let mut e = ctx.entry(action, id, outcome, reason);
        e.subjects = subjects.iter().map(|s| s.to_string()).collect();
        e
    }

    pub async fn create_dossier(&self, ctx: &RequestCtx, body: &Value) -> Result<Created, ArchiveError> {
        const ACTION: &str = "dossier.create";
        self.purpose(ctx, ACTION, "").await?;
        let dossier = match self.parse_body(body) {
            Ok(d) => d,
            Err(err) => {
                let e = ctx.entry(ACTION, "", Outcome::Error, "document does not conform to the template");
                return self.refuse(e, err).await;
            }
        };
        let facts = DossierFacts::of(&dossier);
        let purpose = ctx.purpose.as_deref().unwrap_or_default();
        let decision = self.policy.access.decide_change(&ctx.principal, Change::Create, purpose, "new", facts, facts);
        if !decision.allowed {
            let e = ctx.entry(ACTION, "", Outcome::Deny, decision.reason.clone());
            return self.refuse(e, ArchiveError::Forbidden(decision.reason)).await;
        }
        let id = DossierId::generate();
        let split = SplitDossier::split(dossier);
        let sealed = self.keys_for(&id, &split, true).and_then(|keys| {
            let s = self.seal_version(&id, 1, [0u8; 32], ctx.principal.id.as_str(), &split, &keys)?;
            Ok((keys, s))
        });
        let (keys, (bytes, hash)) = match sealed {
            Ok(v) => v,
            Err(err) => {
                let e = ctx.entry(ACTION, id.as_str(), Outcome::Error, failure_reason(&err));
                return self.refuse(e, err).await;
            }
        };
        let now = self.clock.now();
        let subjects: Vec<SubjectId> = split.contacts.iter().map(|(s, _, _)| s.clone()).collect();
        let meta = DossierMeta {
            id: id.clone(),
            current_version: 1,
            head_hash: hex::encode(hash),
            owner: split.business.owner.clone(),
            region: split.business.customer.region.clone(),
            grade: split.business.grade,
            status: split.business.status,
            created_by: ctx.principal.id.clone(),
            created_at: now,
            updated_at: now,
            subjects: subjects.clone(),
            ended_at: None,
            destroyed: None,
        };
        let ops = self.version_ops(keys.ops, bytes, &meta, &subjects)?;
        let entry = self.dossier_entry(ctx, ACTION, id.as_str(), &subjects, Outcome::Allow, decision.reason);
        let guard = Guard { cf: Cf::Dossiers, key: id.as_str().as_bytes().to_vec(), expected: None };
        self.audit.commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![] }).await?;
        for (r, k) in keys.created {
            self.keyring.remember(r, k);
        }
        self.index_version(&id, 1, &split);
        Ok(Created { id, version: 1, hash: hex::encode(hash), subjects })
    }

    /// The ops that write a new version: its keys, the sealed record, the
    /// metadata, and for each subject it names a link (and a record for a
    /// new subject).
    fn version_ops(
        &self,
        mut ops: Vec<Op>,
        record: Vec<u8>,
        meta: &DossierMeta,
        subjects: &[SubjectId],
    ) -> Result<Vec<Op>, ArchiveError> {
        let id = &meta.id;
        let now = meta.updated_at;
        ops.push(Op::Put(Cf::Versions, version_key(id, meta.current_version), record));
        ops.push(Op::Put(Cf::Dossiers, id.as_str().as_bytes().to_vec(), to_json(meta)?));
        for sid in subjects {
            if self.store.get(Cf::Subjects, sid.as_str().as_bytes())?.is_none() {
                let meta = SubjectMeta::new(sid.clone(), now);
                ops.push(Op::Put(Cf::Subjects, sid.as_str().as_bytes().to_vec(), to_json(&meta)?));
            }
            ops.push(Op::Put(Cf::Subjects, subject_link_key(sid, id), vec![]));
        }
        Ok(ops)
    }

    /// Looks a dossier up, auditing an unknown id.
    pub(super) async fn find_meta(
        &self,
        ctx: &RequestCtx,
        action: &str,
        id: &str,
    ) -> Result<(DossierId, DossierMeta, Vec<u8>), ArchiveError> {
        let found = match DossierId::parse(id) {
            Ok(did) => self.meta(&did)?.map(|(m, raw)| (did, m, raw)),
            Err(_) => None,
        };
        let Some(found) = found else {
            let e = ctx.entry(action, id, Outcome::Error, "no such dossier");
            return self.refuse(e, ArchiveError::NotFound("dossier".into())).await;
        };
        if let Some(t) = &found.1.destroyed {
            let e = ctx.entry(action, id, Outcome::Error, format!("destroyed; certificate {}", t.certificate));
            return self.refuse(e, ArchiveError::Gone { certificate: t.certificate.clone() }).await;
        }
        Ok(found)
    }

    /// A subject's consent and restriction state, for decisions.
    pub(super) fn subject_state(&self, sid: &SubjectId) -> Result<SubjectState, ArchiveError> {
        let Some(raw) = self.store.get(Cf::Subjects, sid.as_str().as_bytes())? else {
            return Ok(SubjectState::default());
        };
        let meta: SubjectMeta = serde_json::from_slice(&raw).map_err(|e| ArchiveError::Internal(e.into()))?;
        Ok(meta.state())
    }

    /// Decides every field class of a dossier for this request, before
    /// anything is decrypted.
    pub(super) fn read_plan(
        &self,
        ctx: &RequestCtx,
        def: &PurposeDef,
        meta: &DossierMeta,
        subjects: &[SubjectId],
    ) -> Result<ReadPlan, ArchiveError> {
        let purpose = ctx.purpose.as_deref().unwrap_or_default();
        let mut reader = self.policy.access.reader(&ctx.principal, meta.id.as_str(), meta.facts(), purpose, def);
        let mut plan = ReadPlan::default();
        // Only the classes the template has at dossier level (a class no
        // field carries needs no decision; it reads as withheld).
        for class in FieldClasses::template().dossier_level() {
            plan.dossier.insert(class, reader.decide(class, None));
        }
        for sid in subjects {
            let state = self.subject_state(sid)?;
            let personal = reader.decide(Classification::Personal, Some(&state));
            let sensitive = reader.decide(Classification::Sensitive, Some(&state));
            plan.subjects.insert(sid.clone(), (personal, sensitive));
        }
        Ok(plan)
    }

    /// The purpose check, the lookup and the read plan of a read-like call;
    /// 403 (audited, with the policies' reasons) when the caller may see
    /// nothing of the dossier.
    pub(super) async fn plan_read(
        &self,
        ctx: &RequestCtx,
        action: &str,
        id: &str,
    ) -> Result<(DossierId, DossierMeta, ReadPlan), ArchiveError> {
        let def = self.purpose(ctx, action, id).await?;
        let (did, meta, _) = self.find_meta(ctx, action, id).await?;
        let plan = self.read_plan(ctx, def, &meta, &meta.subjects)?;
        if !plan.anything_visible() {
            let reason = format!("no field visible: {}", plan.reasons());
            let e = self.dossier_entry(ctx, action, id, &meta.subjects, Outcome::Deny, reason);
            let msg = "the policy lets you see no field of this dossier for this purpose";
            return self.refuse(e, ArchiveError::Forbidden(msg.into())).await;
        }
        Ok((did, meta, plan))
    }

    pub async fn read_dossier(
        &self,
        ctx: &RequestCtx,
        id: &str,
        version: Option<u32>,
    ) -> Result<DossierView, ArchiveError> {
        const ACTION: &str = "dossier.read";
        let (did, meta, plan) = self.plan_read(ctx, ACTION, id).await?;
        let v = version.unwrap_or(meta.current_version);
        let Some(bytes) = (1..=meta.current_version)
            .contains(&v)
            .then(|| self.store.get(Cf::Versions, &version_key(&did, v)))
            .transpose()?
            .flatten()
        else {
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, format!("no version {v}"));
            return self.refuse(e, ArchiveError::NotFound(format!("version {v}"))).await;
        };
        let hash = if v == meta.current_version { meta.head_hash.clone() } else { hex::encode(version_hash(&bytes)) };
        let rec: VersionRecord = postcard::from_bytes(&bytes).map_err(|e| ArchiveError::Internal(e.into()))?;
        let Opened { document, redactions, subjects, released } = self.open_version(&did, &rec, &plan)?;
        let mut entry =
            self.dossier_entry(ctx, ACTION, id, &subjects, Outcome::Allow, format!("version {v}; {}", plan.reasons()));
        entry.released = released;
        for r in &redactions {
            match r.reason.as_str() {
                "masked" => entry.masked.push(r.path.clone()),
                _ => entry.withheld.push(r.path.clone()),
            }
        }
        // Fail closed: the data leaves only once the entry is durable.
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(DossierView { id: did, document, version: v, hash, redactions })
    }

    /// Opens the segments of a version the plan lets the caller see, and
    /// applies masking. A segment whose fields are all withheld is never
    /// decrypted; a subject whose key was destroyed reads as erased. Returns
    /// the document, its redactions, the subjects it names and the paths
    /// released in clear.
    fn open_version(&self, id: &DossierId, rec: &VersionRecord, plan: &ReadPlan) -> Result<Opened, ArchiveError> {
        let classes = FieldClasses::template();
        let mut doc = serde_json::Map::new();
        let mut redactions = Vec::new();
        let mut contacts: Vec<(SubjectId, serde_json::Map<String, Value>)> = Vec::new();
        // Template fields of a class that a withheld segment would hold.
        let template_fields = |class: Classification, under_contacts: bool| {
            classes
                .fields()
                .filter(move |(p, c)| *c == class && p.starts_with("/contacts/") == under_contacts)
                .map(|(p, _)| p.to_owned())
        };
        for seg in &rec.segments {
            let (class, subject) = match seg.name.split_once('/') {
                None if seg.name == "business" => (Classification::Internal, None),
                None if seg.name == "confidential" => (Classification::Confidential, None),
                None if seg.name == "sensitive" => (Classification::Sensitive, None),
                Some(("personal", sid)) => (Classification::Personal, Some(parse_sid(sid)?)),
                Some(("sensitive", sid)) => (Classification::Sensitive, Some(parse_sid(sid)?)),
                _ => return Err(anyhow::anyhow!("unexpected segment {}", seg.name).into()),
            };
            if seg.name.starts_with("personal/") {
                let sid = subject.clone().ok_or_else(|| anyhow::anyhow!("segment without subject"))?;
                contacts.push((sid, serde_json::Map::new()));
            }
            let contact_index = subject.as_ref().and_then(|s| contacts.iter().position(|c| &c.0 == s));
            let key_ref = match seg.key.split_once('/') {
                Some(("d", _)) => KeyRef::Dossier(id.clone()),
                Some(("s", sid)) => KeyRef::Subject(parse_sid(sid)?),
                _ => return Err(anyhow::anyhow!("segment names an unknown key").into()),
            };
            // An erased person reads as erased whatever the policy says.
            if matches!(key_ref, KeyRef::Subject(_)) && !self.keyring.exists(&key_ref)? {
                if seg.name.starts_with("personal/") {
                    let i = contact_index.unwrap_or_default();
                    for f in ["name", "phone", "email", "role", "id_number"] {
                        redactions.push(Redaction { path: format!("/contacts/{i}/{f}"), reason: "erased".into() });
                    }
                }
                continue;
            }
            if plan.outcome(class, subject.as_ref()) == FieldOutcome::Withheld {
                for path in template_fields(class, subject.is_some()) {
                    let path = match contact_index {
                        Some(i) => path.replacen('*', &i.to_string(), 1),
                        None => path,
                    };
                    redactions.push(Redaction { path, reason: "withheld".into() });
                }
                continue;
            }
            let aad = segment_aad(id.as_str(), rec.version, &seg.name);
            let plain = open(self.keyring.get(&key_ref)?.as_ref(), &aad, &seg.sealed)?;
            let value: Value = match seg.name.as_str() {
                "business" => serde_json::to_value(parse_segment::<BusinessPart>(&plain)?),
                "confidential" => serde_json::to_value(parse_segment::<ConfidentialPart>(&plain)?),
                "sensitive" => serde_json::to_value(parse_segment::<SensitivePart>(&plain)?),
                n if n.starts_with("personal/") => serde_json::to_value(parse_segment::<PersonalFields>(&plain)?),
                _ => serde_json::to_value(parse_segment::<SubjectSensitivePart>(&plain)?),
            }
            .map_err(|e| ArchiveError::Internal(e.into()))?;
            let Value::Object(fields) = prune(value) else { continue };
            let target = match (seg.name.as_str(), contact_index) {
                ("business", _) => &mut doc,
                ("confidential" | "sensitive", _) => doc
                    .entry("finance")
                    .or_insert_with(|| Value::Object(Default::default()))
                    .as_object_mut()
                    .ok_or_else(|| anyhow::anyhow!("finance is not an object"))?,
                (_, Some(i)) => &mut contacts[i].1,
                _ => return Err(anyhow::anyhow!("sensitive segment of a subject with no personal segment").into()),
            };
            target.extend(fields);
        }
        let subjects: Vec<SubjectId> = contacts.iter().map(|c| c.0.clone()).collect();
        if !contacts.is_empty() {
            let list = contacts
                .into_iter()
                .map(|(sid, mut fields)| {
                    fields.insert("subject_id".into(), Value::String(sid.to_string()));
                    Value::Object(fields)
                })
                .collect();
            doc.insert("contacts".into(), Value::Array(list));
        }
        let mut document = Value::Object(doc);
        // Field by field: what the plan masks or withholds within the
        // segments that were opened (a contact's subject_id is internal).
        let mut leaves = Vec::new();
        leaf_paths(&document, "", &mut leaves);
        let mut released = Vec::new();
        for path in leaves {
            let class = classes.class_of(&path);
            let subject = match (class, contact_of(&path)) {
                (Classification::Personal | Classification::Sensitive, Some(i)) => subjects.get(i),
                _ => None,
            };
            match plan.outcome(class, subject) {
                FieldOutcome::Clear => released.push(path),
                FieldOutcome::Masked => {
                    if let Some(v) = document.pointer_mut(&path) {
                        *v = self.policy.masking.mask(&path, v);
                    }
                    redactions.push(Redaction { path, reason: "masked".into() });
                }
                FieldOutcome::Withheld => {
                    remove_pointer(&mut document, &path);
                    redactions.push(Redaction { path, reason: "withheld".into() });
                }
            }
        }
        redactions.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Opened { document, redactions, subjects, released })
    }

    pub async fn update_dossier(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expected: u32,
        body: &Value,
    ) -> Result<Created, ArchiveError> {
        const ACTION: &str = "dossier.update";
        let def = self.purpose(ctx, ACTION, id).await?;
        let (did, meta, meta_raw) = self.find_meta(ctx, ACTION, id).await?;
        let dossier = match self.parse_body(body) {
            Ok(d) => d,
            Err(err) => {
                let e = self.dossier_entry(
                    ctx,
                    ACTION,
                    id,
                    &meta.subjects,
                    Outcome::Error,
                    "document does not conform to the template",
                );
                return self.refuse(e, err).await;
            }
        };
        let (before, after) = (meta.facts(), DossierFacts::of(&dossier));
        let purpose = ctx.purpose.as_deref().unwrap_or_default();
        let mut decision = self.policy.access.decide_change(&ctx.principal, Change::Update, purpose, id, before, after);
        let plan = self.read_plan(ctx, def, &meta, &meta.subjects)?;
        if decision.allowed && plan.outcome(Classification::Internal, None) != FieldOutcome::Clear {
            decision.allowed = false;
            decision.reason = format!("{}; but the business fields are not visible in clear", decision.reason);
        }
        if !decision.allowed {
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Deny, decision.reason.clone());
            return self.refuse(e, ArchiveError::Forbidden(decision.reason)).await;
        }
        let mismatch = ArchiveError::VersionMismatch { expected, current: meta.current_version };
        if expected != meta.current_version {
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "version mismatch");
            return self.refuse(e, mismatch).await;
        }
        let mut split = SplitDossier::split(dossier);
        let kept = self.keep_hidden(&did, &meta, &plan, &mut split)?;
        let version = meta.current_version + 1;
        let reason = match kept.is_empty() {
            true => format!("{}; version {version}", decision.reason),
            false => format!(
                "{}; version {version}; kept from version {}: {}",
                decision.reason,
                version - 1,
                kept.join(", ")
            ),
        };
        self.append_version(ctx, ACTION, &did, meta, meta_raw, split, None, reason).await
    }

    /// Seals `split` as the next version and commits it with its audit entry,
    /// guarded against a concurrent change (412). `ended_at` records the end
    /// of the customer relationship.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn append_version(
        &self,
        ctx: &RequestCtx,
        action: &str,
        did: &DossierId,
        meta: DossierMeta,
        meta_raw: Vec<u8>,
        split: SplitDossier,
        ended_at: Option<OffsetDateTime>,
        reason: String,
    ) -> Result<Created, ArchiveError> {
        let id = did.as_str();
        let expected = meta.current_version;
        let version = meta.current_version + 1;
        let sealed = hex::decode(&meta.head_hash)
            .ok()
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or_else(|| ArchiveError::Internal(anyhow::anyhow!("stored head hash is malformed")))
            .and_then(|prev| {
                let keys = self.keys_for(did, &split, false)?;
                let s = self.seal_version(did, version, prev, ctx.principal.id.as_str(), &split, &keys)?;
                Ok((keys, s))
            });
        let (keys, (bytes, hash)) = match sealed {
            Ok(v) => v,
            Err(err) => {
                let e = self.dossier_entry(ctx, action, id, &meta.subjects, Outcome::Error, failure_reason(&err));
                return self.refuse(e, err).await;
            }
        };
        let now = self.clock.now();
        let version_subjects: Vec<SubjectId> = split.contacts.iter().map(|(s, _, _)| s.clone()).collect();
        let mut all_subjects = meta.subjects.clone();
        for s in &version_subjects {
            if !all_subjects.contains(s) {
                all_subjects.push(s.clone());
            }
        }
        let new_meta = DossierMeta {
            current_version: version,
            head_hash: hex::encode(hash),
            owner: split.business.owner.clone(),
            region: split.business.customer.region.clone(),
            grade: split.business.grade,
            status: split.business.status,
            updated_at: now,
            subjects: all_subjects.clone(),
            ended_at: ended_at.or(meta.ended_at),
            ..meta
        };
        let ops = self.version_ops(keys.ops, bytes, &new_meta, &version_subjects)?;
        let entry = self.dossier_entry(ctx, action, id, &all_subjects, Outcome::Allow, reason);
        let conflict =
            self.dossier_entry(ctx, action, id, &all_subjects, Outcome::Error, "version mismatch (concurrent update)");
        let guard = Guard { cf: Cf::Dossiers, key: did.as_str().as_bytes().to_vec(), expected: Some(meta_raw) };
        match self
            .audit
            .commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![conflict] })
            .await
        {
            Ok(_) => {}
            Err(crate::audit::CommitError::Conflict) => {
                let current = self.meta(did)?.map_or(0, |(m, _)| m.current_version);
                return Err(ArchiveError::VersionMismatch { expected, current });
            }
            Err(e) => return Err(e.into()),
        }
        for (r, k) in keys.created {
            self.keyring.remember(r, k);
        }
        self.index_version(did, version, &split);
        Ok(Created { id: did.clone(), version, hash: hex::encode(hash), subjects: version_subjects })
    }

    /// Fields the updater may not see in clear are not theirs to change: the
    /// new version keeps the current values of those segments, so a masked
    /// `***` read back and sent again never overwrites the real value, and a
    /// withheld field left out is not dropped. Returns the segments kept.
    fn keep_hidden(
        &self,
        id: &DossierId,
        meta: &DossierMeta,
        plan: &ReadPlan,
        split: &mut SplitDossier,
    ) -> Result<Vec<String>, ArchiveError> {
        let bytes = self
            .store
            .get(Cf::Versions, &version_key(id, meta.current_version))?
            .ok_or_else(|| anyhow::anyhow!("current version record missing"))?;
        let rec: VersionRecord = postcard::from_bytes(&bytes).map_err(|e| ArchiveError::Internal(e.into()))?;
        let open_segment = |name: &str| -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, ArchiveError> {
            let Some(seg) = rec.segments.iter().find(|s| s.name == name) else { return Ok(None) };
            let key_ref = match seg.key.split_once('/') {
                Some(("s", sid)) => KeyRef::Subject(parse_sid(sid)?),
                _ => KeyRef::Dossier(id.clone()),
            };
            match self.keyring.get(&key_ref) {
                Ok(key) => Ok(Some(open(key.as_ref(), &segment_aad(id.as_str(), rec.version, name), &seg.sealed)?)),
                Err(CryptoError::KeyDestroyed(_)) => Ok(None),
                Err(e) => Err(e.into()),
            }
        };
        let mut kept = Vec::new();
        if plan.outcome(Classification::Confidential, None) != FieldOutcome::Clear {
            split.confidential = open_segment("confidential")?.map(|p| parse_segment(&p)).transpose()?;
            kept.push("confidential".to_owned());
        }
        if plan.outcome(Classification::Sensitive, None) != FieldOutcome::Clear {
            split.sensitive = open_segment("sensitive")?.map(|p| parse_segment(&p)).transpose()?;
            kept.push("sensitive".to_owned());
        }
        for (sid, personal, sensitive) in split.contacts.iter_mut() {
            let name = format!("personal/{sid}");
            if !rec.segments.iter().any(|s| s.name == name) {
                continue; // a person new to this dossier: the caller provides them
            }
            if plan.outcome(Classification::Personal, Some(sid)) != FieldOutcome::Clear {
                if let Some(p) = open_segment(&name)? {
                    *personal = parse_segment(&p)?;
                    kept.push(name);
                }
            }
            if plan.outcome(Classification::Sensitive, Some(sid)) != FieldOutcome::Clear {
                let name = format!("sensitive/{sid}");
                *sensitive = open_segment(&name)?.map(|p| parse_segment(&p)).transpose()?;
                kept.push(name);
            }
        }
        Ok(kept)
    }

    pub async fn list_versions(&self, ctx: &RequestCtx, id: &str) -> Result<Vec<VersionInfo>, ArchiveError> {
        const ACTION: &str = "dossier.versions";
        let (did, meta, plan) = self.plan_read(ctx, ACTION, id).await?;
        let mut out = Vec::new();
        let prefix = format!("{did}/").into_bytes();
        for row in self.store.scan(Cf::Versions, &prefix, &prefix) {
            let (_, bytes) = row?;
            let rec: VersionRecord = postcard::from_bytes(&bytes).map_err(|e| ArchiveError::Internal(e.into()))?;
            out.push(VersionInfo {
                version: rec.version,
                hash: hex::encode(version_hash(&bytes)),
                prev_hash: (rec.version > 1).then(|| hex::encode(rec.prev_hash)),
                created_at: OffsetDateTime::from_unix_timestamp_nanos(rec.created_at_us as i128 * 1000)
                    .map_err(|e| ArchiveError::Internal(e.into()))?,
                actor: rec.actor,
            });
        }
        let entry = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Allow, plan.reasons());
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(out)
    }
}
