//! The read plan: per class for the dossier's own fields, and per contact
//! for that person's personal and sensitive fields, what a request may see
//! (clear, masked, withheld). Decided before anything is decrypted.

use crate::archive::dossiers::{Dossiers, RedactionReason};
use crate::archive::records::DossierMeta;
use crate::archive::Denial;
use crate::archive::{ArchiveError, CheckedPurpose, RequestCtx};
use crate::audit::{Action, Outcome};
use crate::domain::{Classification, DossierId, SubjectId};
use crate::policy::access::{FieldDecision, FieldOutcome, SubjectState};
use crate::policy::classes::FieldClasses;
use std::collections::{BTreeSet, HashMap};

/// What a read may show: per class for the dossier's own fields, and per
/// contact for that person's personal and sensitive fields. Decided before
/// anything is decrypted.
#[derive(Debug, Default)]
pub(crate) struct ReadPlan {
    dossier: HashMap<Classification, FieldDecision>,
    subjects: HashMap<SubjectId, (FieldDecision, FieldDecision)>,
    /// Said in the audit entry after the decisions (a transfer abroad).
    notes: Vec<String>,
    /// Per person whose personal fields a later version corrected (an old
    /// version is read; PIPL Art. 46, GDPR Art. 16): those fields, and
    /// the decision for them knowing they are superseded.
    superseded: HashMap<SubjectId, (BTreeSet<String>, FieldDecision)>,
}

impl ReadPlan {
    pub(crate) fn outcome(&self, class: Classification, subject: Option<&SubjectId>) -> FieldOutcome {
        let decision = match (class, subject) {
            (Classification::Personal, Some(s)) => self.subjects.get(s).map(|d| &d.0),
            (Classification::Sensitive, Some(s)) => self.subjects.get(s).map(|d| &d.1),
            _ => self.dossier.get(&class),
        };
        decision.map_or(FieldOutcome::Withheld, |d| d.outcome)
    }

    /// Replaces the decisions `f` overrides (class, and the person for a
    /// contact's own fields): a recipient's agreement narrows a plan.
    pub(crate) fn narrow(&mut self, f: impl Fn(Classification, Option<&SubjectId>) -> Option<FieldDecision>) {
        for (class, d) in self.dossier.iter_mut() {
            if let Some(n) = f(*class, None) {
                *d = n;
            }
        }
        for (sid, (p, s)) in self.subjects.iter_mut() {
            if let Some(n) = f(Classification::Personal, Some(sid)) {
                *p = n;
            }
            if let Some(n) = f(Classification::Sensitive, Some(sid)) {
                *s = n;
            }
        }
    }

    /// Whether any of a person's own fields would be shown.
    pub(crate) fn shows_person(&self, sid: &SubjectId) -> bool {
        self.subjects
            .get(sid)
            .is_some_and(|(p, s)| p.outcome != FieldOutcome::Withheld || s.outcome != FieldOutcome::Withheld)
    }

    /// Whether every one of `people` would be shown with their personal
    /// fields in clear (what a match on a personal value may reveal).
    pub(crate) fn shows_everyone_clear(&self, people: &[SubjectId]) -> bool {
        people.iter().all(|sid| self.outcome(Classification::Personal, Some(sid)) == FieldOutcome::Clear)
    }

    /// The outcome for one of a person's personal fields (`field`, e.g.
    /// `phone`), and the reason should it be withheld: a value a later
    /// version corrected is shown no more than its decision as superseded
    /// allows (and never more than the person's fields otherwise are).
    pub(crate) fn field_outcome(&self, sid: &SubjectId, field: &str) -> (FieldOutcome, RedactionReason) {
        let current = self.outcome(Classification::Personal, Some(sid));
        match self.superseded.get(sid) {
            Some((fields, d)) if fields.contains(field) && d.outcome < current => {
                (d.outcome, RedactionReason::Superseded)
            }
            _ => (current, RedactionReason::Withheld),
        }
    }

    pub(crate) fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// Whether any field the template has could be shown.
    pub(crate) fn anything_visible(&self) -> bool {
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
    pub(crate) fn reasons(&self) -> String {
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
        parts.extend(self.notes.iter().cloned());
        parts.join("; ")
    }
}

impl Dossiers {
    /// Decides every field class of a dossier for this request, before
    /// anything is decrypted.
    pub(crate) fn read_plan(
        &self,
        ctx: &RequestCtx,
        purpose: CheckedPurpose<'_>,
        meta: &DossierMeta,
        subjects: &[SubjectId],
    ) -> Result<ReadPlan, ArchiveError> {
        self.read_plan_of(ctx, purpose, meta, subjects, &HashMap::new())
    }

    /// The read plan of a version some of whose personal fields were since
    /// corrected (`corrected`, per person): for those the policy decides
    /// knowing the values are superseded (`basis.superseded`).
    fn read_plan_of(
        &self,
        ctx: &RequestCtx,
        purpose: CheckedPurpose<'_>,
        meta: &DossierMeta,
        subjects: &[SubjectId],
        corrected: &HashMap<SubjectId, BTreeSet<String>>,
    ) -> Result<ReadPlan, ArchiveError> {
        let mut reader =
            self.policy.access.reader(&ctx.principal, meta.id.as_str(), meta.facts(), purpose.as_str(), purpose.def);
        let mut plan = ReadPlan::default();
        // Only the classes the template has at dossier level (a class no
        // field carries needs no decision; it reads as withheld).
        for class in FieldClasses::template().dossier_level() {
            plan.dossier.insert(class, reader.decide(class, None));
        }
        let mut states = Vec::new();
        for sid in subjects {
            let state = self.subject_state(sid)?;
            let personal = reader.decide(Classification::Personal, Some(&state));
            if let Some(fields) = corrected.get(sid) {
                let old = SubjectState { superseded: true, ..state.clone() };
                let old = reader.decide(Classification::Personal, Some(&old));
                plan.superseded.insert(sid.clone(), (fields.clone(), old));
            }
            let sensitive = reader.decide(Classification::Sensitive, Some(&state));
            plan.subjects.insert(sid.clone(), (personal, sensitive));
            if ctx.principal.recipient.is_some() {
                states.push((sid.clone(), state));
            }
        }
        self.narrow_to_agreement(&ctx.principal, purpose.as_str(), &mut plan, &states)?;
        Ok(plan)
    }

    /// The purpose check, the lookup and the read plan of a read-like call
    /// of `version` (`None`: the current one; the people whose personal
    /// fields a later version corrected are decided as superseded); 403
    /// (audited, with the policies' reasons) when the caller may see
    /// nothing of the dossier.
    pub(crate) async fn plan_read(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
        version: Option<u32>,
    ) -> Result<(DossierId, DossierMeta, ReadPlan), ArchiveError> {
        let purpose = self.gate.purpose(ctx, action, id).await?;
        let (did, meta, _) = self.find_meta(ctx, action, id).await?;
        let v = version.unwrap_or(meta.current_version);
        let corrected: HashMap<SubjectId, BTreeSet<String>> = meta
            .corrected
            .iter()
            .map(|(sid, fields)| {
                (sid.clone(), fields.iter().filter(|(_, at)| v < **at).map(|(f, _)| f.clone()).collect())
            })
            .filter(|(_, fields): &(SubjectId, BTreeSet<String>)| !fields.is_empty())
            .collect();
        let mut plan = self.read_plan_of(ctx, purpose, &meta, &meta.subjects, &corrected)?;
        if !plan.anything_visible() {
            let e = self.dossier_entry(ctx, action, id, &meta.subjects, Outcome::Deny, "");
            return self.gate.deny(e, Denial::NothingVisible(plan.reasons()), None).await;
        }
        self.check_transfer(ctx, (action, id), &meta, purpose.as_str(), &mut plan).await?;
        Ok((did, meta, plan))
    }
}
