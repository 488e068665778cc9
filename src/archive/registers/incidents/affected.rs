//! The persons an incident affected, derived from the audit log alone.

use super::{AffectedCriteria, AffectedSet};
use crate::archive::records::SUBJECTS;
use crate::archive::registers::Access;
use crate::archive::registers::Registers;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, AuditEntry, AuditFilter, Commit, Outcome};
use crate::crypto::{KeyRef, Sealed};
use crate::domain::IncidentId;
use crate::domain::{Jurisdiction, SubjectId};
use crate::store::{keys, Cf, Table};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// The sealed affected-person lists: `a/<inc>/<n u32 BE>` in `registers`,
/// one per derivation, never rewritten.
const AFFECTED: Table<(IncidentId, u32), Sealed> =
    Table::new(Cf::Registers, b"a/", |(id, n): &(IncidentId, u32)| keys::affected_list(id, *n));

/// The persons an audit entry shows personal data of (clear or masked):
/// for a dossier read, the contacts with a released or masked field; for a
/// person's export or consent history, or a document of a dossier, the
/// persons it names.
fn shown(e: &AuditEntry) -> Vec<String> {
    let b = &e.body;
    if b.outcome != Outcome::Allow {
        return vec![];
    }
    match Action::parse(&b.action) {
        Some(Action::DossierRead) => b
            .subjects
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let prefix = format!("/contacts/{i}/");
                b.released.iter().chain(&b.masked).any(|p| p.starts_with(&prefix))
            })
            .map(|(_, s)| s.clone())
            .collect(),
        Some(Action::SubjectExport | Action::ConsentHistory | Action::DocumentGet) => b.subjects.clone(),
        _ => vec![],
    }
}

impl Registers {
    /// `POST /v1/incidents/{id}/affected` (compliance): the persons whose
    /// personal data the audit log shows was shown (clear or masked) in
    /// entries matching the criteria, as a count and a sealed list.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn derive_affected(
        &self,
        ctx: &RequestCtx,
        id: &str,
        c: AffectedCriteria,
    ) -> Result<AffectedSet, ArchiveError> {
        const ACTION: Action = Action::IncidentAffected;
        self.gate.require_register(ctx, ACTION, id, Access::Keep).await?;
        let held = self.find_incident(ctx, ACTION, id).await?;
        let mut r = held.value.clone();
        // The actor's and the dossiers' ids were checked at the edge (`web::commands`).
        let dossiers: BTreeSet<String> = c.dossiers.iter().cloned().collect();
        // Entries up to now; this derivation's own entry comes after.
        let head = self.audit.head().next_seq;
        let store = self.store.clone();
        let crit = c.clone();
        let (persons, records, examined) = tokio::task::spawn_blocking(move || -> Result<_, ArchiveError> {
            // The audit indexes answer the criteria: one query per dossier
            // named (each entry names one resource), or the actor's rows, or
            // the time range alone.
            let base = AuditFilter { actor: crit.actor.clone(), from: crit.from, to: crit.to, ..Default::default() };
            let filters: Vec<AuditFilter> = if dossiers.is_empty() {
                vec![base]
            } else {
                dossiers.iter().map(|d| AuditFilter { resource: Some(d.clone()), ..base.clone() }).collect()
            };
            let mut persons = BTreeSet::new();
            let (mut records, mut examined) = (0u64, 0u64);
            for f in &filters {
                examined += crate::audit::query::for_each_match(store.as_ref(), f, head, |e| {
                    let who = shown(&e);
                    if !who.is_empty() {
                        records += 1;
                        persons.extend(who);
                    }
                })?;
            }
            Ok((persons, records, examined))
        })
        .await
        .map_err(|e| ArchiveError::Internal(e.into()))??;
        let list: Vec<String> = persons.into_iter().collect();
        let plain = crate::store::codec::encode_text(&list)?;
        let n = r.affected.len() as u32;
        let sealed =
            self.texts.seal(&KeyRef::Registers, r.id.as_str(), &format!("incident/{}/affected/{n}", r.id), &plain)?;
        let set = AffectedSet {
            n,
            criteria: AffectedCriteria { dossiers: c.dossiers.clone(), ..c },
            count: list.len() as u64,
            records,
            examined,
            up_to_seq: head,
            list_sha256: hex::encode(Sha256::digest(plain.as_bytes())),
            derived_by: ctx.principal.id.to_string(),
            derived_at: self.clock.now(),
        };
        // The persons' residencies widen the incident's jurisdictions (an
        // EU resident among them brings in GDPR Art. 33).
        let mut added = Vec::new();
        for s in &list {
            let Ok(sid) = SubjectId::parse(s) else { continue };
            let Some(meta) = SUBJECTS.get(self.store.as_ref(), &sid)? else { continue };
            let res = meta.residency();
            let j = if res.is_eu() { Jurisdiction::parse("EU").unwrap_or_else(|_| Jurisdiction::cn()) } else { res };
            let covered = r.jurisdictions.iter().any(|have| have == &j || (j.is_eu() && have.is_eu()));
            if !covered && !added.contains(&j) {
                added.push(j);
            }
        }
        r.jurisdictions.extend(added.iter().cloned());
        r.jurisdictions.sort();
        r.affected.push(set.clone());
        let list_op = AFFECTED.put_unguarded(&(r.id.clone(), n), &sealed)?;
        let reason = format!(
            "affected set {n}: {} person(s) in {records} entr(ies) of {examined} examined up to seq {head}{}",
            set.count,
            if added.is_empty() {
                String::new()
            } else {
                format!("; jurisdictions added: {}", added.iter().map(|j| j.as_str()).collect::<Vec<_>>().join(", "))
            }
        );
        self.commit_incident(ctx, ACTION, &held, &r, vec![list_op], reason).await?;
        Ok(set)
    }

    /// The subject ids of one affected set (compliance: for notifying them).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn affected_list(&self, ctx: &RequestCtx, id: &str, n: u32) -> Result<Vec<String>, ArchiveError> {
        const ACTION: Action = Action::IncidentAffectedList;
        self.gate.require_register(ctx, ACTION, id, Access::Keep).await?;
        let r = self.find_incident(ctx, ACTION, id).await?.value;
        let Some(sealed) = AFFECTED.get(self.store.as_ref(), &(r.id.clone(), n))? else {
            let e = ctx.entry(ACTION, id, Outcome::Error, format!("no affected set {n}"));
            return self.gate.refuse(e, ArchiveError::NotFound(format!("affected set {n}"))).await;
        };
        let plain = self
            .texts
            .open(&KeyRef::Registers, r.id.as_str(), &format!("incident/{}/affected/{n}", r.id), &sealed)?
            .ok_or_else(|| anyhow::anyhow!("the affected list does not open"))?;
        let list: Vec<String> = crate::store::codec::decode("affected list", plain.as_bytes())?;
        let mut e = ctx.entry(ACTION, id, Outcome::Allow, format!("affected set {n}: {} person(s)", list.len()));
        e.subjects = list.clone();
        self.audit.commit(Commit::entry(e)).await?;
        Ok(list)
    }
}
