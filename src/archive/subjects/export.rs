//! The portable export of everything held on a person (GDPR Art. 15, 20;
//! PIPL Art. 45).

use super::{rfc3339, SubjectStatus};
use crate::archive::records::DossierMeta;
use crate::archive::subjects::Subjects;
use crate::archive::vault::{Opened, Part, SegmentName, VersionRecord};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, AuditFilter, Commit, Outcome};
use crate::domain::SubjectId;
use crate::policy::access::SubjectAction;
use crate::store::{keys, Cf};
use serde_json::{json, Value};

impl Subjects {
    /// Everything held on a person: their fields in every version of every
    /// dossier that names them, their consent history and the audit entries
    /// about them. The export's own audit entry is durable first, and is in
    /// the export.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn export_subject(&self, ctx: &RequestCtx, id: &str) -> Result<Value, ArchiveError> {
        const ACTION: Action = Action::SubjectExport;
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
            crate::audit::query::for_each_match(store.as_ref(), &filter, head, |e| out.push(e)).map(|_| out)
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
            "processing": self.processing_of(&call.meta, &call.dossiers),
            "audit": audit,
        }))
    }

    /// The person's fields in each version of one dossier.
    fn export_dossier(&self, sid: &SubjectId, d: &DossierMeta) -> Result<Value, ArchiveError> {
        let mut versions = Vec::new();
        let mut customer = None;
        let prefix = keys::versions_prefix(&d.id);
        for row in self.store.scan(Cf::Versions, &prefix, &prefix) {
            let (_, bytes) = row?;
            let rec = VersionRecord::decode(&bytes)?;
            let mut contact = serde_json::Map::new();
            for seg in &rec.segments {
                let wanted = match &seg.name {
                    SegmentName::Personal(s) | SegmentName::SubjectSensitive(s) => s == sid,
                    SegmentName::Business => rec.version == d.current_version,
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
                    Opened::Plain(Part::Business(b)) => customer = Some(b.customer.name),
                    Opened::Plain(_) | Opened::Erased => {}
                }
            }
            if !contact.is_empty() {
                versions.push(
                    json!({"version": rec.version, "created_at": rfc3339(rec.created_at()?), "contact": contact}),
                );
            }
        }
        let documents: Vec<Value> = self
            .documents
            .documents_of(&d.id)?
            .into_iter()
            .map(|doc| json!({"name": doc.name, "sha256": doc.sha256, "size": doc.size}))
            .collect();
        // The interactions that name the person, their summaries opened.
        let interactions: Vec<Value> =
            crate::archive::interaction_records::interactions_of(self.store.as_ref(), &d.id)?
                .iter()
                .filter(|r| r.contact.as_ref() == Some(sid))
                .map(|r| {
                    let slot = crate::archive::vault::Slot::Interaction(&d.id, &r.id);
                    let summary = self.vault.open_text(&r.summary_key(&d.id), slot, &r.summary)?.plain();
                    Ok(json!({"id": r.id, "kind": r.kind, "at": rfc3339(r.at), "satisfaction": r.satisfaction,
                    "summary": summary}))
                })
                .collect::<Result<_, ArchiveError>>()?;
        Ok(json!({
            "dossier_id": d.id,
            "customer_name": customer,
            "status": d.status,
            "versions": versions,
            "documents": documents,
            "interactions": interactions,
        }))
    }
}
