//! Reading dossiers on an outside party's behalf (PIPL Art. 21, 23, 38-40;
//! GDPR Art. 28, 44-46): a principal bound to a recipients-register entry
//! reads one dossier at a time, only the classes its agreement names (an
//! independent recipient a person's fields only with their separate consent
//! naming it), and a person residing outside the recipient's country only
//! under a transfer record (and, where its mechanism says so, their separate
//! consent). A recipient abroad whose agreed classes reach a data set
//! graded important or core (`policies/data_grades.toml`) reads only under
//! a record for the PRC's data whose mechanism that grade allows. The
//! registers themselves are kept by `governance`.

use super::ReadPlan;
use crate::archive::dossiers::Dossiers;
use crate::archive::records::{ConsentBasis, DossierMeta, RECIPIENTS, SUBJECTS, TRANSFERRED, TRANSFERS};
use crate::archive::Denial;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Outcome};
use crate::domain::{Jurisdiction, RecipientRole, Role, SubjectId, TransferId};
use crate::policy::access::FieldOutcome;
use crate::store::Op;

/// EU member states count as the EU.
pub(crate) fn bloc(j: &Jurisdiction) -> String {
    if j.is_eu() {
        "EU".into()
    } else {
        j.to_string()
    }
}

fn withheld(why: String) -> crate::policy::access::FieldDecision {
    crate::policy::access::FieldDecision { outcome: FieldOutcome::Withheld, policies: [why].into() }
}

impl Dossiers {
    /// An outside party reads dossiers one at a time, within its agreement:
    /// no search across them, no contract documents (403, audited).
    pub(crate) async fn refuse_outside_party(
        &self,
        ctx: &RequestCtx,
        action: Action,
        resource: &str,
    ) -> Result<(), ArchiveError> {
        if ctx.principal.recipient.is_none() && !ctx.principal.has_role(Role::Processor) {
            return Ok(());
        }
        self.gate.deny(ctx.entry(action, resource, Outcome::Deny, ""), Denial::OutsideParty, None).await
    }

    /// Narrows a read plan to a recipient's agreement: agreed classes only,
    /// and an independent recipient a person's fields only with their
    /// separate consent naming it.
    pub(crate) fn narrow_to_agreement(
        &self,
        p: &crate::domain::Principal,
        purpose: &str,
        plan: &mut ReadPlan,
        states: &[(SubjectId, crate::policy::access::SubjectState)],
    ) -> Result<(), ArchiveError> {
        let Some(rid) = &p.recipient else { return Ok(()) };
        let r = RECIPIENTS.get(self.store.as_ref(), rid)?;
        let agreed = |c: crate::domain::Classification| r.as_ref().is_some_and(|r| r.classes.contains(&c));
        let independent = r.as_ref().is_none_or(|r| r.role == RecipientRole::Independent);
        let consent_key = format!("{purpose}@{rid}");
        plan.note(format!(
            "for recipient {rid} ({})",
            r.as_ref().map_or("not on the register".to_owned(), |r| crate::archive::wire_name(&r.role))
        ));
        plan.narrow(|class, subject| {
            if !agreed(class) {
                return Some(withheld(format!("agreement:{rid}")));
            }
            let sid = subject?;
            let consented = states
                .iter()
                .find(|(s, _)| s == sid)
                .is_some_and(|(_, st)| st.separate_consents.contains(&consent_key));
            (independent && !consented).then(|| withheld(format!("no-consent-naming:{rid}")))
        });
        Ok(())
    }

    /// The cross-border check of a read by a recipient's principal: every
    /// person whose fields it would see and who resides outside the
    /// recipient's country needs a transfer record (and, where its
    /// mechanism says so, their separate consent naming the recipient).
    /// 403 naming what is missing; else the persons are counted for the
    /// year and the plan notes the transfer for the audit entry.
    pub(crate) async fn check_transfer(
        &self,
        ctx: &RequestCtx,
        (action, resource): (Action, &str),
        meta: &DossierMeta,
        purpose: &str,
        plan: &mut ReadPlan,
    ) -> Result<(), ArchiveError> {
        let Some(rid) = &ctx.principal.recipient else { return Ok(()) };
        let Some(r) = RECIPIENTS.get(self.store.as_ref(), rid)? else { return Ok(()) };
        let dest = bloc(&r.country);
        let mut records = Vec::new();
        for t in TRANSFERS.values(self.store.as_ref()) {
            records.extend(Some(t?).filter(|t| &t.recipient == rid));
        }
        let mut missing = Vec::new();
        // The company's data graded important or core (data_grades.toml)
        // leaves the PRC only under the record its grade needs.
        let grades = &self.policy.data_grades;
        if dest != "CN" && !grades.graded_above_general(&r.classes).is_empty() {
            let mut from_prc = records.iter().filter(|t| t.jurisdiction.as_str() == "CN");
            if !from_prc.any(|t| grades.outbound_need(&r.classes, &t.mechanism).is_ok()) {
                let why = grades.outbound_need(&r.classes, "").err().unwrap_or_default();
                missing.push(format!("a transfer record for the PRC's data to {rid} ({}): {why}", r.country));
            }
        }
        let mut moved: Vec<(SubjectId, TransferId)> = Vec::new();
        // The people of the version read (not those an earlier one named).
        let current: Vec<SubjectId> = match self.vault.load_version(&meta.id, meta.current_version)? {
            Some((rec, _)) => rec
                .segments
                .iter()
                .filter_map(|s| match &s.name {
                    crate::archive::vault::SegmentName::Personal(sid)
                    | crate::archive::vault::SegmentName::Proprietor(sid) => Some(sid.clone()),
                    _ => None,
                })
                .collect(),
            None => meta.subjects.clone(),
        };
        for sid in &current {
            if !plan.shows_person(sid) {
                continue;
            }
            let Some(m) = SUBJECTS.get(self.store.as_ref(), sid)? else { continue };
            let from = bloc(&m.residency());
            if from == dest {
                continue;
            }
            let Some(t) = records.iter().find(|t| t.jurisdiction.as_str() == from) else {
                missing.push(format!("a transfer record for {from} residents to {rid} ({})", r.country));
                continue;
            };
            let key = format!("{purpose}@{rid}");
            let consented = m
                .consents
                .get(&key)
                .is_some_and(|c| c.basis == ConsentBasis::SeparateConsent && c.counts(&key, &self.policy.notices));
            if t.separate_consent && !consented {
                missing.push(format!(
                    "{sid}'s separate consent naming {rid} for {purpose} ({} under {})",
                    t.mechanism, t.citation
                ));
                continue;
            }
            moved.push((sid.clone(), t.id.clone()));
        }
        missing.dedup();
        if !missing.is_empty() {
            let e = self.dossier_entry(ctx, action, resource, &meta.subjects, Outcome::Deny, "");
            return self.gate.deny(e, Denial::TransferUnmet(missing), None).await;
        }
        if moved.is_empty() {
            return Ok(());
        }
        let year = self.clock.now().year();
        let ops: Vec<Op> = moved.iter().map(|(s, _)| TRANSFERRED.mark(&year, s)).collect();
        // Derived from the audit entries (each names the transfer): the
        // count of persons, written beside them.
        self.store.write(&ops, false)?;
        let list: Vec<String> = moved.iter().map(|(s, t)| format!("{s} under {t}")).collect();
        plan.note(format!("abroad to {rid} ({}): {}", r.country, list.join(", ")));
        Ok(())
    }
}
