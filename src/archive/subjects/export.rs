//! The export of what is held on a person: the whole copy (GDPR Art. 15;
//! PIPL Art. 45(1)) or its portable part (GDPR Art. 20; PIPL Art. 45(3);
//! NDSMR Art. 25), as JSON valid against
//! `schemas/subject-export.schema.json`, or as CSV (one row per value).
//! Which request an export answers, and whether it may be given, is the
//! request register's to decide (`registers::requests::portability`).

use super::{rfc3339, SubjectCall, SubjectStatus};
use crate::archive::records::{DossierMeta, SUBJECTS};
use crate::archive::subjects::Subjects;
use crate::archive::vault::{Opened, Part, SegmentName, VersionRecord};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, AuditFilter, Commit, Outcome};
use crate::domain::{RecipientId, RequestId, SubjectId};
use crate::policy::access::SubjectAction;
use crate::store::{keys, Cf};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// What an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportScope {
    /// Everything held on the person, with the purposes, recipients,
    /// retention and sources of its processing and the audit entries about
    /// them (GDPR Art. 15; PIPL Art. 45(1)): an access request's answer.
    Access,
    /// What the person provided, or what was collected under their consent
    /// or a contract with them, in the form another handler can take in
    /// (GDPR Art. 20; PIPL Art. 45(3); NDSMR Art. 25): a portability
    /// request's answer.
    Portability,
}

impl ExportScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportScope::Access => "access",
            ExportScope::Portability => "portability",
        }
    }
}

/// The request an export answers, and the handler it goes to when it is
/// not the caller's to keep.
#[derive(Debug, Clone)]
pub struct ExportBasis {
    pub request: RequestId,
    /// The request's kind, as stored (`access`, `portability`).
    pub kind: String,
    pub recipient: Option<RecipientId>,
}

/// A person whose export may be built: checked by the policy (or, for a
/// recipient collecting a hand-over, by the hand-over's own checks).
pub struct ExportCall(SubjectCall);

impl ExportCall {
    pub fn subject(&self) -> &SubjectId {
        &self.0.sid
    }
}

/// The person's contact fields in one version of a dossier.
pub(super) struct ContactVersion {
    pub version: u32,
    pub created_at: String,
    pub contact: Map<String, Value>,
}

/// A dossier's customer (its current name) and the versions naming the person.
pub(super) struct ContactVersions {
    pub customer: Option<String>,
    pub versions: Vec<ContactVersion>,
}

impl Subjects {
    /// The purpose check, lookup (404) and policy decision (403) of a
    /// person's export, each refusal audited under `action`.
    pub(in crate::archive) async fn authorize_export(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
    ) -> Result<ExportCall, ArchiveError> {
        Ok(ExportCall(self.authorize_subject(ctx, action, SubjectAction::Export, id).await?))
    }

    /// The person of a prepared hand-over, for the recipient who collects
    /// it: the hand-over's checks stand in for the policy's (`why`).
    pub(in crate::archive) fn handover_call(&self, sid: &SubjectId, why: String) -> Result<ExportCall, ArchiveError> {
        let held = SUBJECTS.hold(self.store.as_ref(), sid)?.ok_or_else(|| ArchiveError::NotFound("subject".into()))?;
        let dossiers = self.dossiers.subject_dossiers(sid)?;
        Ok(ExportCall(SubjectCall { sid: sid.clone(), meta: held.value.clone(), held, dossiers, reason: why }))
    }

    /// Builds an export of `scope` for the request `basis` names (which the
    /// caller has checked). Its own audit entry (naming the request and the
    /// recipient) is durable first, and is in an access export.
    pub(in crate::archive) async fn export_for(
        &self,
        ctx: &RequestCtx,
        ExportCall(call): ExportCall,
        scope: ExportScope,
        basis: &ExportBasis,
    ) -> Result<Value, ArchiveError> {
        let status = self.subject_status(&call.sid, &call.meta)?;
        let mut reason =
            format!("{}; scope {}; for {} request {}", call.reason, scope.as_str(), basis.kind, basis.request);
        if let Some(r) = &basis.recipient {
            reason.push_str(&format!("; handed to recipient {r}"));
        }
        let mut e = ctx.entry(Action::SubjectExport, call.sid.as_str(), Outcome::Allow, reason);
        e.subjects = vec![call.sid.to_string()];
        let seqs = self.audit.commit(Commit::entry(e)).await?;
        let request = json!({"id": basis.request, "kind": basis.kind});
        let recipient = basis.recipient.as_ref();
        let erased = status == SubjectStatus::Erased;
        if scope == ExportScope::Portability {
            return self.portable_export(&call, status, request, recipient);
        }
        let mut dossiers = Vec::new();
        for d in call.dossiers.iter().filter(|_| !erased) {
            dossiers.push(self.export_dossier(&call.sid, d)?);
        }
        let head = seqs.last().map_or(self.audit.head().next_seq, |s| s + 1);
        Ok(json!({
            "format": "custos.subject-export.v1",
            "scope": scope,
            "generated_at": rfc3339(self.clock.now()),
            "request": request,
            "subject": {
                "id": call.sid,
                "status": status,
                "created_at": rfc3339(call.meta.created_at),
                "restricted_at": call.meta.restricted_at.map(rfc3339),
            },
            "dossiers": dossiers,
            "consents": self.consent_events(&call.sid)?,
            "processing": self.processing_of(&call.meta, &call.dossiers),
            "audit": self.audit_about(&call.sid, head).await?,
        }))
    }

    /// Every audit entry naming the person before `head`; another person an
    /// entry names (its resource, its reason) shows as `sub_…`.
    async fn audit_about(&self, sid: &SubjectId, head: u64) -> Result<Vec<Value>, ArchiveError> {
        let store = self.store.clone();
        let filter = AuditFilter { subject: Some(sid.to_string()), ..Default::default() };
        let audit = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            crate::audit::query::for_each_match(store.as_ref(), &filter, head, |e| out.push(e)).map(|_| out)
        })
        .await
        .map_err(|e| ArchiveError::Internal(e.into()))??;
        Ok(audit
            .into_iter()
            .map(|e| {
                json!({
                    "seq": e.seq,
                    "time": rfc3339(e.time),
                    "actor": e.body.actor,
                    "action": e.body.action,
                    "resource": others_hidden(&e.body.resource, sid),
                    "purpose": e.body.purpose,
                    "outcome": e.body.outcome,
                    "reason": others_hidden(&e.body.reason, sid),
                })
            })
            .collect())
    }

    /// The person's contact fields in each version of one dossier that
    /// names them (oldest first), and the customer's name in its current
    /// version.
    pub(super) fn contact_versions(&self, sid: &SubjectId, d: &DossierMeta) -> Result<ContactVersions, ArchiveError> {
        let mut versions = Vec::new();
        let mut customer = None;
        let prefix = keys::versions_prefix(&d.id);
        for row in self.store.scan(Cf::Versions, &prefix, &prefix) {
            let (_, bytes) = row?;
            let rec = VersionRecord::decode(&bytes)?;
            let mut contact = Map::new();
            for seg in &rec.segments {
                let wanted = match &seg.name {
                    SegmentName::Personal(s) | SegmentName::SubjectSensitive(s) | SegmentName::Proprietor(s) => {
                        s == sid
                    }
                    // The customer's own fields are the proprietor's data.
                    SegmentName::Business => true,
                    _ => false,
                };
                if !wanted {
                    continue;
                }
                match self.vault.open_segment(&d.id, &rec, seg)? {
                    Opened::Plain(Part::Personal(_, p)) => {
                        contact.insert("name".into(), p.name.into());
                        for (k, v) in [("phone", p.phone), ("email", p.email), ("role", p.role)] {
                            if let Some(v) = v {
                                contact.insert(k.into(), v.into());
                            }
                        }
                    }
                    Opened::Plain(Part::SubjectSensitive(_, s)) => {
                        if let Some(n) = s.id_number {
                            contact.insert("id_number".into(), n.into());
                        }
                    }
                    Opened::Plain(Part::Proprietor(_, p)) => {
                        if let Some(name) = &p.name {
                            contact.insert("customer_name".into(), name.clone().into());
                            if rec.version == d.current_version {
                                customer = Some(name.clone());
                            }
                        }
                        for (k, v) in [("credit_code", &p.credit_code), ("address", &p.address)] {
                            if let Some(v) = v {
                                contact.insert(k.into(), v.clone().into());
                            }
                        }
                        let fields = [("credit_rating", p.credit_rating), ("payment_terms", p.payment_terms)];
                        for (k, v) in fields.into_iter().chain([("bank_account", p.bank_account)]) {
                            if let Some(v) = v {
                                contact.insert(k.into(), v.into());
                            }
                        }
                    }
                    Opened::Plain(Part::Business(b)) => {
                        let c = b.customer;
                        // A version written since a natural person's name
                        // moved under their key holds none here (it is read
                        // from their segment, after this one); an older one
                        // gives it to the person alone, not to their contacts.
                        let own = c.kind.is_natural() && c.subject_id.as_ref() == Some(sid);
                        let name = Some(c.name).filter(|n| !n.is_empty() && (own || c.kind.is_legal_person()));
                        if own {
                            contact.insert("customer_kind".into(), c.kind.as_str().into());
                            let fields = [("customer_name", name.clone()), ("credit_code", c.credit_code)];
                            for (k, v) in fields.into_iter().chain([("address", c.address)]) {
                                if let Some(v) = v {
                                    contact.insert(k.into(), v.into());
                                }
                            }
                        }
                        if rec.version == d.current_version {
                            customer = name;
                        }
                    }
                    Opened::Plain(_) | Opened::Erased => {}
                }
            }
            if !contact.is_empty() {
                versions.push(ContactVersion { version: rec.version, created_at: rfc3339(rec.created_at()?), contact });
            }
        }
        Ok(ContactVersions { customer, versions })
    }

    /// The interactions of one dossier that name the person, their
    /// summaries opened when `summaries`.
    pub(super) fn interactions_naming(
        &self,
        sid: &SubjectId,
        d: &DossierMeta,
        summaries: bool,
    ) -> Result<Vec<Value>, ArchiveError> {
        crate::archive::interaction_records::interactions_of(self.store.as_ref(), &d.id)?
            .iter()
            .filter(|r| r.contact.as_ref() == Some(sid))
            .map(|r| {
                let mut v = json!({"id": r.id, "kind": r.kind, "at": rfc3339(r.at), "satisfaction": r.satisfaction});
                if summaries {
                    let slot = crate::archive::vault::Slot::Interaction(&d.id, &r.id);
                    v["summary"] = self.vault.open_text(&r.summary_key(&d.id), slot, &r.summary)?.plain().into();
                }
                Ok(v)
            })
            .collect()
    }

    /// The person's fields in each version of one dossier, its documents
    /// and the interactions that name them.
    fn export_dossier(&self, sid: &SubjectId, d: &DossierMeta) -> Result<Value, ArchiveError> {
        let ContactVersions { customer, versions } = self.contact_versions(sid, d)?;
        let versions: Vec<Value> = versions
            .into_iter()
            .map(|v| json!({"version": v.version, "created_at": v.created_at, "contact": v.contact}))
            .collect();
        let documents: Vec<Value> = self
            .documents
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
            "interactions": self.interactions_naming(sid, d, true)?,
        }))
    }
}

/// `text` with every subject id other than `sid` replaced by `sub_…`: an
/// entry about several persons tells each of them only that there were
/// others.
fn others_hidden(text: &str, sid: &SubjectId) -> String {
    const PREFIX: &str = SubjectId::PREFIX;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let len = PREFIX.len() + 26;
        match tail.get(..len) {
            Some(id) if SubjectId::parse(id).is_ok() && id != sid.as_str() => out.push_str("sub_…"),
            Some(id) if SubjectId::parse(id).is_ok() => out.push_str(id),
            _ => {
                out.push_str(PREFIX);
                rest = &tail[PREFIX.len()..];
                continue;
            }
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_about_several_persons_shows_only_this_persons_id() {
        let me = SubjectId::generate();
        let other = SubjectId::generate();
        let text = format!("{me}: notice v1; {other}: notice v2, sub_short, 张伟sub_");
        let shown = others_hidden(&text, &me);
        assert_eq!(shown, format!("{me}: notice v1; sub_…: notice v2, sub_short, 张伟sub_"));
        assert!(!shown.contains(other.as_str()));
    }
}
