//! What custos records when a person's data is collected into a dossier
//! (PIPL Art. 17, 28-30; GDPR Art. 13-14): the privacy-notice version the
//! person was shown, and the basis on which their sensitive fields were
//! written: their separate consent on record, or a legal basis of
//! `collection.toml` that needs none. One record per dossier version that
//! adds the person or writes their sensitive fields, append-only, beside
//! the person's metadata; no personal value in it. The notice versions
//! themselves are fixed once in force: their digests are recorded, and a
//! changed text refuses to start.

use crate::archive::dossiers::Dossiers;
use crate::archive::records::SUBJECTS;
use crate::archive::ArchiveError;
use crate::audit::{Action, Commit, EntryBody};
use crate::domain::dossier::{FieldError, SplitDossier};
use crate::domain::{DossierId, PrincipalId, SubjectId};
use crate::store::{keys, Cf, KvStore, Op};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The collection metadata a contact (or a natural-person customer) of a
/// request body carries (never stored in the dossier).
#[derive(Debug, Clone, Default)]
pub(crate) struct ContactCollection {
    pub notice: Option<String>,
    pub sensitive_basis: Option<String>,
}

/// A contact's sensitive field, and where a missing basis is reported.
const CONTACT_SENSITIVE: (&str, &str) = ("id_number", "/id_number");
/// A proprietor's sensitive fields (their finance), and where.
const PROPRIETOR_SENSITIVE: (&str, &str) = ("proprietor_finance", "/finance");

/// Where an error about a person's field is reported: within the contact,
/// or for a proprietor on the customer (their finance at `/finance`).
fn place(at: &str, path: &str) -> String {
    match (at, path) {
        ("/customer", "/finance") => path.to_owned(),
        _ => format!("{at}{path}"),
    }
}

/// The collection metadata of a request body: per contact, and for the
/// proprietor.
#[derive(Debug, Clone, Default)]
pub(crate) struct Given {
    pub contacts: Vec<ContactCollection>,
    pub proprietor: ContactCollection,
}

impl ContactCollection {
    pub fn of(d: &crate::domain::dossier::Dossier) -> Given {
        let contacts = d
            .contacts
            .iter()
            .map(|c| ContactCollection { notice: c.notice.clone(), sensitive_basis: c.sensitive_basis.clone() })
            .collect();
        let c = &d.customer;
        let proprietor = ContactCollection { notice: c.notice.clone(), sensitive_basis: c.sensitive_basis.clone() };
        Given { contacts, proprietor }
    }
}

/// On what basis a person's sensitive field was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensitiveBasis {
    pub field: String,
    /// `separate_consent`, or a basis id of collection.toml.
    pub basis: String,
    /// For a consent: the purpose and the consent event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_event: Option<u32>,
    pub citation: String,
}

/// One collection record, as stored and shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectionRecord {
    pub dossier: DossierId,
    pub version: u32,
    /// The notice version the person was shown (when the dossier first
    /// named them, or when a request named one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<SensitiveBasis>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: PrincipalId,
}

/// What a write records for its contacts.
pub(crate) struct Collected {
    pub ops: Vec<Op>,
    /// For the audit entry: per person, the notice and the basis (ids only).
    pub reason: String,
}

/// The digest recorded for a notice version, if any.
fn recorded_digest(store: &dyn KvStore, version: &str) -> anyhow::Result<Option<String>> {
    Ok(store.get(Cf::Registers, &keys::notice(version))?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// Refuses a policy set whose notice text changed after it was recorded.
pub(crate) fn check_notices(store: &dyn KvStore, notices: &crate::policy::governance::Notices) -> anyhow::Result<()> {
    for n in notices.versions() {
        if let Some(d) = recorded_digest(store, &n.version)? {
            if d != n.digest {
                anyhow::bail!(
                    "privacy notice {} changed after it took effect (recorded digest {d}, now {}): notices are append-only; restore its text and publish a new version",
                    n.version,
                    n.digest
                );
            }
        }
    }
    Ok(())
}

impl Dossiers {
    /// Records the digest of every notice version in force and not yet
    /// recorded, each with an audit entry (at start-up and every minute).
    pub async fn record_notices(&self) -> Result<Vec<String>, ArchiveError> {
        let now = self.clock.now();
        let mut done = Vec::new();
        for n in self.policy.notices.versions() {
            if n.effective > now.date() || recorded_digest(self.store.as_ref(), &n.version)?.is_some() {
                continue;
            }
            let ops = vec![Op::Put(Cf::Registers, keys::notice(&n.version), n.digest.as_bytes().to_vec())];
            let reason = format!("privacy notice {} in force since {}; digest {}", n.version, n.effective, n.digest);
            let entry = EntryBody::system(Action::NoticePublish, &n.version, reason);
            self.audit.commit(Commit::change(ops, entry)).await?;
            done.push(n.version.clone());
        }
        Ok(done)
    }

    /// The notice versions with whether each is in force and recorded.
    pub fn notices_view(&self) -> Result<Vec<serde_json::Value>, ArchiveError> {
        let now = self.clock.now();
        let current = self.policy.notices.in_force(now).map(|n| n.version.clone());
        let mut out = Vec::new();
        let mut previous = None;
        for n in self.policy.notices.versions() {
            let mut v = serde_json::to_value(n).map_err(|e| ArchiveError::Internal(e.into()))?;
            v["in_force"] = serde_json::Value::Bool(current.as_deref() == Some(n.version.as_str()));
            v["recorded"] = serde_json::Value::Bool(recorded_digest(self.store.as_ref(), &n.version)?.is_some());
            // An older version lacking elements required since (PIPL Art. 17, 30).
            v["incomplete"] = serde_json::json!(n.incomplete);
            // What persons under the version before must be told of (Art. 17(2)).
            v["changes"] = serde_json::json!(previous.map(|p| crate::policy::notice_elements::changes(p, n)));
            previous = Some(n);
            out.push(v);
        }
        Ok(out)
    }

    /// The collection records of a person, oldest dossier first.
    pub(crate) fn collection_records(&self, sid: &SubjectId) -> Result<Vec<CollectionRecord>, ArchiveError> {
        let prefix = keys::collections_prefix(sid);
        let mut out = Vec::new();
        for row in self.store.scan(Cf::Subjects, &prefix, &prefix) {
            let (_, raw) = row?;
            out.push(crate::store::codec::decode(Cf::Subjects.name(), &raw)?);
        }
        Ok(out)
    }

    /// For each contact a write names, and a natural-person customer's
    /// proprietor: the notice version to record (the named one; a person
    /// new to the dossier without one is refused) and the basis of their
    /// sensitive fields when written (`sensitive_written`); 422 errors
    /// naming the field and what is missing.
    pub(crate) fn collect_contacts(
        &self,
        actor: &PrincipalId,
        (dossier, version): (&DossierId, u32),
        split: &SplitDossier,
        given: &Given,
        linked_before: &[SubjectId],
        sensitive_written: &dyn Fn(&SubjectId) -> bool,
    ) -> Result<Result<Collected, Vec<FieldError>>, ArchiveError> {
        let now = self.clock.now();
        let mut errors = Vec::new();
        let mut ops = Vec::new();
        let mut reasons = Vec::new();
        let contacts = split.contacts.iter().enumerate().map(|(i, (sid, _, sens))| {
            let written = sens.as_ref().is_some_and(|s| s.id_number.is_some());
            let g = given.contacts.get(i).cloned().unwrap_or_default();
            (sid, g, written.then_some(CONTACT_SENSITIVE), format!("/contacts/{i}"))
        });
        let proprietor = split.proprietor_id().map(|sid| {
            let written = split
                .proprietor
                .as_ref()
                .is_some_and(|p| p.credit_rating.is_some() || p.payment_terms.is_some() || p.bank_account.is_some());
            (sid, given.proprietor.clone(), written.then_some(PROPRIETOR_SENSITIVE), "/customer".to_owned())
        });
        for (sid, g, field, at) in contacts.chain(proprietor) {
            let notice = match self.policy.notices.to_record(g.notice.as_deref(), !linked_before.contains(sid), now) {
                Ok(n) => n,
                Err((path, message)) => {
                    errors.push(FieldError { path: place(&at, path), message });
                    None
                }
            };
            let sensitive = match field.filter(|_| sensitive_written(sid)) {
                None => None,
                Some(field) => match self.sensitive_basis(sid, g.sensitive_basis.as_deref(), field)? {
                    Ok(b) => Some(b),
                    Err((path, message)) => {
                        errors.push(FieldError { path: place(&at, path), message });
                        None
                    }
                },
            };
            let mut parts = Vec::new();
            if let Some(n) = &notice {
                parts.push(format!("notice {n}"));
            }
            if let Some(b) = &sensitive {
                match (&b.purpose, b.consent_event) {
                    (Some(p), Some(e)) => parts.push(format!("{} under separate consent event {e} ({p})", b.field)),
                    _ => parts.push(format!("{} under basis {}", b.field, b.basis)),
                }
            }
            if parts.is_empty() {
                continue;
            }
            reasons.push(format!("{sid}: {}", parts.join(", ")));
            let record = CollectionRecord {
                dossier: dossier.clone(),
                version,
                notice,
                sensitive,
                at: now,
                actor: actor.clone(),
            };
            let bytes = crate::store::codec::encode(&record)?;
            ops.push(Op::Put(Cf::Subjects, keys::collection(sid, dossier, version), bytes));
        }
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        Ok(Ok(Collected { ops, reason: reasons.join("; ") }))
    }

    /// The basis for writing `sid`'s sensitive field (`id_number`, or a
    /// proprietor's finance): the named legal basis, a live separate consent
    /// to a purpose that covers it, or a legal basis recorded for the person
    /// before. Else the path (within the person) and what is missing.
    fn sensitive_basis(
        &self,
        sid: &SubjectId,
        named: Option<&str>,
        (field, path): (&str, &'static str),
    ) -> Result<Result<SensitiveBasis, (&'static str, String)>, ArchiveError> {
        let rules = &self.policy.collection;
        if let Some(b) = named {
            return Ok(match rules.bases.get(b) {
                Some(def) if def.fields.iter().any(|f| f == field) => Ok(SensitiveBasis {
                    field: field.into(),
                    basis: b.to_owned(),
                    purpose: None,
                    consent_event: None,
                    citation: def.citation.clone(),
                }),
                Some(_) => Err(("/sensitive_basis", format!("the basis {b} does not cover {field}"))),
                None => Err(("/sensitive_basis", "no such basis in collection.toml".to_owned())),
            });
        }
        let purposes = rules.fields.get(field).map(|f| f.consent_purposes.clone()).unwrap_or_default();
        if let Some(meta) = SUBJECTS.get(self.store.as_ref(), sid)? {
            for p in &purposes {
                if let Some(c) = meta.separate_consent(p, &self.policy.notices) {
                    return Ok(Ok(SensitiveBasis {
                        field: field.into(),
                        basis: "separate_consent".into(),
                        purpose: Some(p.clone()),
                        consent_event: Some(c.event),
                        citation: "PIPL Art. 29".into(),
                    }));
                }
            }
            let earlier = self
                .collection_records(sid)?
                .into_iter()
                .filter_map(|r| r.sensitive)
                .rfind(|b| b.field == field && b.basis != "separate_consent" && rules.bases.contains_key(&b.basis));
            if let Some(b) = earlier {
                return Ok(Ok(b));
            }
        }
        let bases: Vec<&str> =
            rules.bases.iter().filter(|(_, d)| d.fields.iter().any(|f| f == field)).map(|(k, _)| k.as_str()).collect();
        Ok(Err((
            path,
            format!(
                "sensitive personal data: needs the person's separate consent to {} on record, or a legal basis named in sensitive_basis ({}) (PIPL Art. 28-29)",
                if purposes.is_empty() { "(none configured)".to_owned() } else { purposes.join(" or ") },
                if bases.is_empty() { "none configured".to_owned() } else { bases.join(", ") }
            ),
        )))
    }
}
