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
use crate::domain::{DossierId, SubjectId};
use crate::policy::access::{decide, Action, DossierFacts};
use crate::store::{Cf, Op};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
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

impl Archive {
    fn meta(&self, id: &DossierId) -> Result<Option<(DossierMeta, Vec<u8>)>, ArchiveError> {
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

    fn dossier_entry(
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
        let facts = DossierFacts { owner: &dossier.owner, region: &dossier.customer.region };
        let decision = decide(&ctx.principal, Action::Create, facts, None);
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
        };
        let ops = self.version_ops(keys.ops, bytes, &meta, &subjects)?;
        let entry = self.dossier_entry(ctx, ACTION, id.as_str(), &subjects, Outcome::Allow, decision.reason);
        let guard = Guard { cf: Cf::Dossiers, key: id.as_str().as_bytes().to_vec(), expected: None };
        self.audit.commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![] }).await?;
        for (r, k) in keys.created {
            self.keyring.remember(r, k);
        }
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
                let meta = SubjectMeta { id: sid.clone(), created_at: now };
                ops.push(Op::Put(Cf::Subjects, sid.as_str().as_bytes().to_vec(), to_json(&meta)?));
            }
            ops.push(Op::Put(Cf::Subjects, subject_link_key(sid, id), vec![]));
        }
        Ok(ops)
    }

    /// Looks a dossier up for `action`, auditing not-found and denial.
    async fn authorized_meta(
        &self,
        ctx: &RequestCtx,
        action: &str,
        id: &str,
        access: Action,
    ) -> Result<(DossierId, DossierMeta, Vec<u8>, String), ArchiveError> {
        let found = match DossierId::parse(id) {
            Ok(did) => self.meta(&did)?.map(|(m, raw)| (did, m, raw)),
            Err(_) => None,
        };
        let Some((did, meta, raw)) = found else {
            let e = ctx.entry(action, id, Outcome::Error, "no such dossier");
            return self.refuse(e, ArchiveError::NotFound("dossier".into())).await;
        };
        let facts = DossierFacts { owner: &meta.owner, region: &meta.region };
        let decision = decide(&ctx.principal, access, facts, None);
        if !decision.allowed && access == Action::Read {
            let e = self.dossier_entry(ctx, action, id, &meta.subjects, Outcome::Deny, decision.reason.clone());
            return self.refuse(e, ArchiveError::Forbidden(decision.reason)).await;
        }
        Ok((did, meta, raw, decision.reason))
    }

    pub async fn read_dossier(
        &self,
        ctx: &RequestCtx,
        id: &str,
        version: Option<u32>,
    ) -> Result<DossierView, ArchiveError> {
        const ACTION: &str = "dossier.read";
        self.purpose(ctx, ACTION, id).await?;
        let (did, meta, _, reason) = self.authorized_meta(ctx, ACTION, id, Action::Read).await?;
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
        let (document, redactions, subjects) = self.open_version(&did, &rec)?;
        let mut released = Vec::new();
        leaf_paths(&document, "", &mut released);
        let mut entry =
            self.dossier_entry(ctx, ACTION, id, &subjects, Outcome::Allow, format!("{reason}; version {v}"));
        entry.released = released;
        entry.withheld = redactions.iter().map(|r| r.path.clone()).collect();
        // Fail closed: the data leaves only once the entry is durable.
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(DossierView { id: did, document, version: v, hash, redactions })
    }

    /// Opens every segment of a version. A subject whose key was destroyed
    /// reads as erased; any other failure is an error.
    fn open_version(
        &self,
        id: &DossierId,
        rec: &VersionRecord,
    ) -> Result<(Value, Vec<Redaction>, Vec<SubjectId>), ArchiveError> {
        fn parse<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ArchiveError> {
            // serde_json's messages can quote the input, and this input is
            // decrypted personal data: keep only the category and position.
            serde_json::from_slice(b).map_err(|e| {
                ArchiveError::Internal(anyhow::anyhow!(
                    "a decrypted segment does not parse ({:?} error at line {} column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ))
            })
        }
        let mut business: Option<BusinessPart> = None;
        let mut confidential = None;
        let mut sensitive = None;
        let mut contacts: Vec<(SubjectId, Option<PersonalFields>, Option<SubjectSensitivePart>)> = Vec::new();
        for seg in &rec.segments {
            let key_ref = match seg.key.split_once('/') {
                Some(("d", _)) => KeyRef::Dossier(id.clone()),
                Some(("s", sid)) => KeyRef::Subject(SubjectId::parse(sid).map_err(|e| anyhow::anyhow!(e))?),
                _ => return Err(anyhow::anyhow!("segment names an unknown key").into()),
            };
            let aad = segment_aad(id.as_str(), rec.version, &seg.name);
            let plain = match self.keyring.get(&key_ref) {
                Ok(key) => Some(open(&key, &aad, &seg.sealed)?),
                Err(CryptoError::KeyDestroyed(_)) if matches!(key_ref, KeyRef::Subject(_)) => None,
                Err(e) => return Err(e.into()),
            };
            match (seg.name.split_once('/'), plain) {
                (None, Some(p)) if seg.name == "business" => business = Some(parse(&p)?),
                (None, Some(p)) if seg.name == "confidential" => confidential = Some(parse::<ConfidentialPart>(&p)?),
                (None, Some(p)) if seg.name == "sensitive" => sensitive = Some(parse::<SensitivePart>(&p)?),
                (Some(("personal", sid)), p) => {
                    let sid = SubjectId::parse(sid).map_err(|e| anyhow::anyhow!(e))?;
                    contacts.push((sid, p.map(|p| parse(&p)).transpose()?, None));
                }
                (Some(("sensitive", sid)), p) => {
                    if let (Some(c), Some(p)) = (contacts.iter_mut().find(|c| c.0.as_str() == sid), p) {
                        c.2 = Some(parse(&p)?);
                    }
                }
                _ => return Err(anyhow::anyhow!("unexpected segment {}", seg.name).into()),
            }
        }
        let business = business.ok_or_else(|| anyhow::anyhow!("version has no business segment"))?;
        let subjects: Vec<SubjectId> = contacts.iter().map(|c| c.0.clone()).collect();
        let erased: Vec<usize> = contacts.iter().enumerate().filter(|(_, c)| c.1.is_none()).map(|(i, _)| i).collect();
        let joined = SplitDossier {
            business,
            confidential,
            sensitive,
            contacts: contacts
                .into_iter()
                .map(|(sid, p, s)| {
                    (sid, p.unwrap_or(PersonalFields { name: String::new(), phone: None, email: None, role: None }), s)
                })
                .collect(),
        }
        .join();
        let mut document = serde_json::to_value(joined).map_err(|e| ArchiveError::Internal(e.into()))?;
        let mut redactions = Vec::new();
        for i in erased {
            if let Some(c) = document.pointer_mut(&format!("/contacts/{i}")).and_then(Value::as_object_mut) {
                c.retain(|k, _| k == "subject_id");
            }
            for f in ["name", "phone", "email", "role", "id_number"] {
                redactions.push(Redaction { path: format!("/contacts/{i}/{f}"), reason: "erased".into() });
            }
        }
        Ok((document, redactions, subjects))
    }

    pub async fn update_dossier(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expected: u32,
        body: &Value,
    ) -> Result<Created, ArchiveError> {
        const ACTION: &str = "dossier.update";
        self.purpose(ctx, ACTION, id).await?;
        let (did, meta, meta_raw, _) = self.authorized_meta(ctx, ACTION, id, Action::Update).await?;
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
        let before = DossierFacts { owner: &meta.owner, region: &meta.region };
        let after = DossierFacts { owner: &dossier.owner, region: &dossier.customer.region };
        let decision = decide(&ctx.principal, Action::Update, before, Some(after));
        if !decision.allowed {
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Deny, decision.reason.clone());
            return self.refuse(e, ArchiveError::Forbidden(decision.reason)).await;
        }
        let mismatch = ArchiveError::VersionMismatch { expected, current: meta.current_version };
        if expected != meta.current_version {
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "version mismatch");
            return self.refuse(e, mismatch).await;
        }
        let split = SplitDossier::split(dossier);
        let version = meta.current_version + 1;
        let sealed = hex::decode(&meta.head_hash)
            .ok()
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or_else(|| ArchiveError::Internal(anyhow::anyhow!("stored head hash is malformed")))
            .and_then(|prev| {
                let keys = self.keys_for(&did, &split, false)?;
                let s = self.seal_version(&did, version, prev, ctx.principal.id.as_str(), &split, &keys)?;
                Ok((keys, s))
            });
        let (keys, (bytes, hash)) = match sealed {
            Ok(v) => v,
            Err(err) => {
                let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, failure_reason(&err));
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
            ..meta
        };
        let ops = self.version_ops(keys.ops, bytes, &new_meta, &version_subjects)?;
        let entry = self.dossier_entry(
            ctx,
            ACTION,
            id,
            &all_subjects,
            Outcome::Allow,
            format!("{}; version {version}", decision.reason),
        );
        let conflict =
            self.dossier_entry(ctx, ACTION, id, &all_subjects, Outcome::Error, "version mismatch (concurrent update)");
        let guard = Guard { cf: Cf::Dossiers, key: did.as_str().as_bytes().to_vec(), expected: Some(meta_raw) };
        match self
            .audit
            .commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![conflict] })
            .await
        {
            Ok(_) => {}
            Err(crate::audit::CommitError::Conflict) => {
                let current = self.meta(&did)?.map_or(0, |(m, _)| m.current_version);
                return Err(ArchiveError::VersionMismatch { expected, current });
            }
            Err(e) => return Err(e.into()),
        }
        for (r, k) in keys.created {
            self.keyring.remember(r, k);
        }
        Ok(Created { id: did, version, hash: hex::encode(hash), subjects: version_subjects })
    }

    pub async fn list_versions(&self, ctx: &RequestCtx, id: &str) -> Result<Vec<VersionInfo>, ArchiveError> {
        const ACTION: &str = "dossier.versions";
        self.purpose(ctx, ACTION, id).await?;
        let (did, meta, _, reason) = self.authorized_meta(ctx, ACTION, id, Action::Read).await?;
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
        let entry = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Allow, reason);
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(out)
    }
}
