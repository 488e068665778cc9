//! Reading a dossier (current or any version) as the caller may see it.

use super::json::{contact_of, leaf_paths, prune, remove_pointer};
use super::{DossierView, ReadPlan, Redaction, RedactionReason};
use crate::archive::dossiers::Dossiers;
use crate::archive::vault::{Opened, Part, SegmentName, VersionRecord};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::{Classification, DossierId, SubjectId};
use crate::policy::access::FieldOutcome;
use crate::policy::classes::FieldClasses;
use serde_json::Value;

/// A natural-person customer's fields sealed under its proprietor's key.
const PROPRIETOR_FIELDS: [&str; 6] = [
    "/customer/address",
    "/customer/credit_code",
    "/customer/name",
    "/finance/bank_account",
    "/finance/credit_rating",
    "/finance/payment_terms",
];

/// The proprietor's identifying fields under `/customer`: personal
/// information of theirs, decided field by field like a contact's.
fn proprietor_identity_field(path: &str) -> Option<&str> {
    path.strip_prefix("/customer/").filter(|f| ["name", "credit_code", "address"].contains(f))
}

/// A version as the caller may see it.
struct Visible {
    document: Value,
    redactions: Vec<Redaction>,
    /// The subjects the version names, in contact order.
    subjects: Vec<SubjectId>,
    /// Paths released in clear.
    released: Vec<String>,
}

/// Adds the business segment's fields to the document, keeping the
/// customer fields a proprietor's segment already put there.
fn merge_business(doc: &mut serde_json::Map<String, Value>, fields: serde_json::Map<String, Value>) {
    for (k, v) in fields {
        match (doc.get_mut(&k), v) {
            (Some(Value::Object(have)), Value::Object(more)) => {
                for (f, x) in more {
                    have.entry(f).or_insert(x);
                }
            }
            (_, v) => {
                doc.insert(k, v);
            }
        }
    }
}

/// A part's fields as JSON members.
fn fields_of(part: &Part) -> Result<serde_json::Map<String, Value>, ArchiveError> {
    let value = match part {
        Part::Business(b) => serde_json::to_value(b),
        Part::Confidential(c) => serde_json::to_value(c),
        Part::Sensitive(s) => serde_json::to_value(s),
        Part::Personal(_, p) => serde_json::to_value(p),
        Part::SubjectSensitive(_, s) => serde_json::to_value(s),
        Part::Proprietor(_, p) => serde_json::to_value(p),
    }
    .map_err(|e| ArchiveError::Internal(e.into()))?;
    match prune(value) {
        Value::Object(m) => Ok(m),
        _ => Ok(serde_json::Map::new()),
    }
}

impl Dossiers {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn read_dossier(
        &self,
        ctx: &RequestCtx,
        id: &str,
        version: Option<u32>,
    ) -> Result<DossierView, ArchiveError> {
        const ACTION: Action = Action::DossierRead;
        let (did, meta, plan) = self.plan_read(ctx, ACTION, id, version).await?;
        let v = version.unwrap_or(meta.current_version);
        let found = if (1..=meta.current_version).contains(&v) { self.vault.load_version(&did, v)? } else { None };
        let Some((rec, bytes)) = found else {
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, format!("no version {v}"));
            return self.gate.refuse(e, ArchiveError::NotFound(format!("version {v}"))).await;
        };
        let hash =
            if v == meta.current_version { meta.head_hash.clone() } else { hex::encode(VersionRecord::hash(&bytes)) };
        let Visible { document, redactions, subjects, released } = self.visible_version(&did, &rec, &plan)?;
        let mut entry =
            self.dossier_entry(ctx, ACTION, id, &subjects, Outcome::Allow, format!("version {v}; {}", plan.reasons()));
        entry.released = released;
        for r in &redactions {
            match r.reason {
                RedactionReason::Masked => entry.masked.push(r.path.clone()),
                RedactionReason::Withheld | RedactionReason::Erased | RedactionReason::Superseded => {
                    entry.withheld.push(r.path.clone())
                }
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
    fn visible_version(&self, id: &DossierId, rec: &VersionRecord, plan: &ReadPlan) -> Result<Visible, ArchiveError> {
        let classes = FieldClasses::template();
        let mut doc = serde_json::Map::new();
        let mut redactions = Vec::new();
        let mut contacts: Vec<(SubjectId, serde_json::Map<String, Value>)> = Vec::new();
        // A natural-person customer's own fields are its proprietor's.
        let mut proprietor = rec.segments.iter().find_map(|s| match &s.name {
            SegmentName::Proprietor(sid) => Some(sid.clone()),
            _ => None,
        });
        // Set when the proprietor's segment is not opened: the business
        // segment of a version written before their identifying fields
        // moved under their key still holds them, never shown then.
        let mut hide_identity = false;
        // Template fields of a class that a withheld segment would hold.
        let template_fields = |class: Classification, under_contacts: bool| {
            classes
                .fields()
                .filter(move |(p, c)| *c == class && p.starts_with("/contacts/") == under_contacts)
                .map(|(p, _)| p.to_owned())
        };
        for seg in &rec.segments {
            let (class, subject) = (seg.name.class(), seg.name.subject());
            if let SegmentName::Personal(sid) = &seg.name {
                contacts.push((sid.clone(), serde_json::Map::new()));
            }
            let contact_index = subject.and_then(|s| contacts.iter().position(|c| &c.0 == s));
            // An erased person reads as erased whatever the policy says.
            if subject.is_some() && self.vault.is_erased(seg)? {
                if let (SegmentName::Personal(_), Some(i)) = (&seg.name, contact_index) {
                    for f in ["name", "phone", "email", "role", "id_number"] {
                        redactions
                            .push(Redaction { path: format!("/contacts/{i}/{f}"), reason: RedactionReason::Erased });
                    }
                }
                if let SegmentName::Proprietor(_) = &seg.name {
                    let erased =
                        PROPRIETOR_FIELDS.map(|p| Redaction { path: p.into(), reason: RedactionReason::Erased });
                    redactions.extend(erased);
                    hide_identity = true;
                }
                continue;
            }
            if let SegmentName::Proprietor(_) = &seg.name {
                // Who they are is personal, their finance sensitive: the
                // segment is opened when either may be shown.
                let personal = plan.outcome(Classification::Personal, subject);
                if personal == FieldOutcome::Withheld && plan.outcome(class, subject) == FieldOutcome::Withheld {
                    let withheld =
                        PROPRIETOR_FIELDS.map(|p| Redaction { path: p.into(), reason: RedactionReason::Withheld });
                    redactions.extend(withheld);
                    hide_identity = true;
                    continue;
                }
            }
            // A proprietor's segment opened above is decided field by field.
            let per_field = matches!(seg.name, SegmentName::Proprietor(_));
            if !per_field && plan.outcome(class, subject) == FieldOutcome::Withheld {
                for path in template_fields(class, subject.is_some()) {
                    let path = match contact_index {
                        Some(i) => path.replacen('*', &i.to_string(), 1),
                        None => path,
                    };
                    redactions.push(Redaction { path, reason: RedactionReason::Withheld });
                }
                continue;
            }
            let part = match self.vault.open_segment(id, rec, seg)? {
                Opened::Plain(p) => p,
                Opened::Erased => continue,
            };
            let mut fields = fields_of(&part)?;
            if let Part::Proprietor(_, p) = &part {
                let customer = doc
                    .entry("customer")
                    .or_insert_with(|| Value::Object(Default::default()))
                    .as_object_mut()
                    .ok_or_else(|| anyhow::anyhow!("customer is not an object"))?;
                for (name, value) in p.identity() {
                    fields.remove(name);
                    if let Some(v) = value {
                        customer.insert(name.into(), Value::String(v.to_owned()));
                    }
                }
            }
            let target = match (&part, contact_index) {
                (Part::Business(_), _) => &mut doc,
                (Part::Confidential(_) | Part::Sensitive(_) | Part::Proprietor(..), _) => doc
                    .entry("finance")
                    .or_insert_with(|| Value::Object(Default::default()))
                    .as_object_mut()
                    .ok_or_else(|| anyhow::anyhow!("finance is not an object"))?,
                (_, Some(i)) => &mut contacts[i].1,
                _ => return Err(anyhow::anyhow!("sensitive segment of a subject with no personal segment").into()),
            };
            if let Part::Business(_) = &part {
                // A proprietor's segment read before this one may have
                // filled in the customer's identifying fields.
                merge_business(target, fields);
            } else {
                target.extend(fields);
            }
        }
        // A natural-person customer's version without the proprietor's
        // segment: written once they were erased, or (the older format)
        // without finance; either way the fields are still theirs.
        let named = doc.get("customer").filter(|c| c.get("kind").is_some_and(|k| k != "legal_person"));
        let named = named.and_then(|c| c.get("subject_id")?.as_str()).and_then(|s| SubjectId::parse(s).ok());
        if let (None, Some(sid)) = (&proprietor, named) {
            if self.keyring.exists(&crate::crypto::KeyRef::Subject(sid.clone()))? {
                proprietor = Some(sid);
            } else {
                redactions
                    .extend(PROPRIETOR_FIELDS.map(|p| Redaction { path: p.into(), reason: RedactionReason::Erased }));
                hide_identity = true;
            }
        }
        if hide_identity {
            if let Some(Value::Object(customer)) = doc.get_mut("customer") {
                for f in ["name", "credit_code", "address"] {
                    customer.remove(f);
                }
            }
        }
        if let Some(Value::Object(customer)) = doc.get_mut("customer") {
            // A business segment written since the move holds an empty name.
            if customer.get("name").is_some_and(|n| n == "") {
                customer.remove("name");
            }
            if customer.is_empty() {
                doc.remove("customer");
            }
        }
        if doc.get("finance").is_some_and(|f| f.as_object().is_some_and(serde_json::Map::is_empty)) {
            doc.remove("finance");
        }
        let people: Vec<SubjectId> = contacts.iter().map(|c| c.0.clone()).collect();
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
            let (class, subject) = match (&proprietor, path.strip_prefix("/finance/")) {
                // A person's credit data and account: sensitive (PIPL Art. 28).
                (Some(sid), Some(_)) => (Classification::Sensitive, Some(sid)),
                // Who the person is: their personal information.
                (Some(sid), None) if proprietor_identity_field(&path).is_some() => {
                    (Classification::Personal, Some(sid))
                }
                _ => {
                    let class = classes.class_of(&path);
                    match (class, contact_of(&path)) {
                        (Classification::Personal | Classification::Sensitive, Some(i)) => (class, people.get(i)),
                        _ => (class, None),
                    }
                }
            };
            let (outcome, withheld) = match (class, subject) {
                (Classification::Personal, Some(sid)) => {
                    let field = proprietor_identity_field(&path).or_else(|| path.split('/').nth(3));
                    plan.field_outcome(sid, field.unwrap_or_default())
                }
                _ => (plan.outcome(class, subject), RedactionReason::Withheld),
            };
            match outcome {
                FieldOutcome::Clear => released.push(path),
                FieldOutcome::Masked => {
                    if let Some(v) = document.pointer_mut(&path) {
                        *v = self.policy.masking.mask(&path, v);
                    }
                    redactions.push(Redaction { path, reason: RedactionReason::Masked });
                }
                FieldOutcome::Withheld => {
                    remove_pointer(&mut document, &path);
                    redactions.push(Redaction { path, reason: withheld });
                }
            }
        }
        redactions.sort_by(|a, b| a.path.cmp(&b.path));
        let subjects = people.into_iter().chain(proprietor).collect();
        Ok(Visible { document, redactions, subjects, released })
    }
}
