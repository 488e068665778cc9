//! Who may import, and what a row may learn of a dossier on record: decided
//! before the sheet is read, and for each row before anything about the
//! dossier its reference names is answered (docs/security.md, round 2).

use super::{problem, RowDoc, RowOutcome};
use crate::archive::customers::Customers;
use crate::archive::denial::{Denial, RowDenial};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::DossierId;
use serde_json::Value;

impl Customers {
    /// Whether this caller may apply `doc` to the dossier `did` its
    /// reference names, decided before anything about that dossier is
    /// answered: the access policy's update decision (the dossier as it is
    /// and as the row would make it), every field the row states shown to
    /// the caller in clear, and, for a row with contact details, every
    /// person of the dossier in clear (else "unchanged" against "would
    /// update" confirms a value the caller sees masked). A refusal is
    /// audited with the dossier's id and answers without it.
    /// `Some(merged)`: allowed, with the merged version (`None` inside when
    /// nothing would change).
    pub(super) async fn importable(
        &self,
        ctx: &RequestCtx,
        n: usize,
        did: &DossierId,
        doc: &RowDoc,
    ) -> Result<Option<Option<(u32, Value)>>, String> {
        let (meta, _) =
            self.dossiers.meta(did).map_err(problem)?.ok_or_else(|| "the dossier is no longer on record".to_owned())?;
        // Decided from the plaintext facts alone (the dossier as it is, and
        // as the row would make it): nothing is decrypted before.
        let incoming = self.template.parse(&doc.body).map_err(|e| problem(ArchiveError::Invalid(e)))?;
        let before = meta.facts();
        let after = crate::policy::access::DossierFacts {
            owner: if doc.given.owner { &incoming.owner } else { &meta.owner },
            region: &incoming.customer.region,
            grade: if doc.given.grade { incoming.grade } else { meta.grade },
            status: if doc.given.status { incoming.status } else { meta.status },
        };
        let checked = self.gate.purpose(ctx, Action::ImportRow, did.as_str()).await.map_err(problem)?;
        let decision = self.policy.access.decide_change(
            &ctx.principal,
            crate::policy::access::Change::Update,
            checked.as_str(),
            did.as_str(),
            before,
            after,
        );
        let mut refusal = (!decision.allowed).then(|| RowDenial::Policy(decision.basis.clone()));
        if refusal.is_none() {
            // Every value the row states must be one the caller sees in
            // clear: else "unchanged" against "would update" confirms it.
            let plan = self.dossiers.read_plan(ctx, checked, &meta, &meta.subjects).map_err(problem)?;
            let classes = crate::policy::classes::FieldClasses::template();
            let mut stated = Vec::new();
            leaf_pointers(&doc.body, String::new(), &mut stated);
            let hidden = stated.iter().find(|p| {
                !(p.as_str() == "/contacts" || p.starts_with("/contacts/"))
                    && plan.outcome(classes.class_of(p), None) != crate::policy::access::FieldOutcome::Clear
            });
            if let Some(p) = hidden {
                refusal = Some(RowDenial::Hidden(p.clone()));
            } else if doc.given.contact && !plan.shows_everyone_clear(&meta.subjects) {
                refusal = Some(RowDenial::ContactsHidden);
            }
        }
        match refusal {
            None => Ok(Some(self.merged(did, &doc.body, doc.given).map_err(problem)?)),
            Some(why) => {
                let denial = Denial::ImportRow { row: n, why };
                let e = ctx.entry(Action::ImportRow, did.as_str(), Outcome::Deny, denial.to_string());
                self.audit.commit(Commit::entry(e)).await.map_err(|e| problem(e.into()))?;
                Ok(None)
            }
        }
    }

    /// An allowed row applied to the dossier its reference names (or, in a
    /// dry run, what would happen, audited with the dossier's id).
    pub(super) async fn import_merged(
        &self,
        ctx: &RequestCtx,
        n: usize,
        did: DossierId,
        merged: Option<(u32, Value)>,
        dry_run: bool,
    ) -> RowOutcome {
        match merged {
            None => {
                let what = if dry_run { "dry run, unchanged" } else { "unchanged" };
                let e = ctx.entry(Action::ImportRow, did.as_str(), Outcome::Allow, format!("row {n}: {what}"));
                self.audit.commit(Commit::entry(e)).await.map_err(|e| problem(e.into()))?;
                Ok(("unchanged".into(), Some(did.to_string())))
            }
            Some(_) if dry_run => {
                let e = ctx.entry(
                    Action::ImportRow,
                    did.as_str(),
                    Outcome::Allow,
                    format!("row {n}: dry run, would update"),
                );
                self.audit.commit(Commit::entry(e)).await.map_err(|e| problem(e.into()))?;
                Ok(("would_update".into(), Some(did.to_string())))
            }
            Some((version, body)) => {
                self.dossiers.update_dossier(ctx, did.as_str(), version, &body).await.map_err(problem)?;
                Ok(("updated".into(), Some(did.to_string())))
            }
        }
    }

    /// `POST /v1/imports`, before the sheet is read: a caller the access
    /// policy would not let create a dossier of their own (auditors,
    /// finance, outside parties) is refused before any byte of the sheet is
    /// parsed, and a missing purpose too.
    pub async fn may_import(&self, ctx: &RequestCtx, owner: Option<&str>) -> Result<(), ArchiveError> {
        const ACTION: Action = Action::Import;
        self.dossiers.refuse_outside_party(ctx, ACTION, "").await?;
        let purpose = self.gate.purpose(ctx, ACTION, "").await?;
        let owner = match owner.map(crate::domain::PrincipalId::parse) {
            Some(Ok(o)) => o,
            Some(Err(_)) => return Err(ArchiveError::BadRequest("owner: a principal id (prn_...)".into())),
            None => ctx.principal.id.clone(),
        };
        let facts = crate::policy::access::DossierFacts {
            owner: &owner,
            region: &ctx.principal.region,
            grade: crate::domain::dossier::Grade::C,
            status: crate::domain::dossier::Status::Active,
        };
        let decision = self.policy.access.decide_change(
            &ctx.principal,
            crate::policy::access::Change::Create,
            purpose.as_str(),
            "new",
            facts,
            facts,
        );
        if !decision.allowed {
            let e = ctx.entry(ACTION, "", Outcome::Deny, "");
            return self.gate.deny(e, Denial::Policy(decision.basis), None).await;
        }
        Ok(())
    }
}

/// The pointers of a body's leaves (an array counts as one leaf).
fn leaf_pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                leaf_pointers(v, format!("{at}/{k}"), out);
            }
        }
        _ => out.push(at),
    }
}
