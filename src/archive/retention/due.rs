//! What is due: the facts of every live dossier and contact, kept from
//! the store (`facts`), handed to the pure `policy::retention::due`, and
//! joined with the open batches that already propose an item.

use super::facts;
use super::{Batch, BatchState, Due, DueItem, Item, Target};
use crate::archive::records::{DossierMeta, SubjectMeta};
use crate::archive::retention::Retention;
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::{BatchId, DossierId};
use crate::policy::retention::{due, ContactFacts, DossierFacts, Finding};
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

impl Retention {
    pub(super) fn open_batches(&self) -> Result<Vec<Batch>, ArchiveError> {
        let mut out = Vec::new();
        for b in super::BATCHES.values(self.store.as_ref()) {
            let b = b?;
            if b.state != BatchState::Done {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// What retention may know of a dossier: its times, status and holds.
    pub(super) fn dossier_facts(&self, d: &DossierMeta) -> Result<DossierFacts, ArchiveError> {
        Ok(DossierFacts {
            id: d.id.clone(),
            status: d.status,
            created_at: d.created_at,
            updated_at: d.updated_at,
            ended_at: d.ended_at,
            holds: self.holds(&d.id)?.into_iter().map(|h| h.id.to_string()).collect(),
        })
    }

    /// What retention may know of a person and the live dossiers naming them.
    pub(super) fn contact_facts(
        &self,
        s: &SubjectMeta,
        dossiers: &[DossierMeta],
    ) -> Result<ContactFacts<'static>, ArchiveError> {
        Ok(ContactFacts {
            id: std::borrow::Cow::Owned(s.id.clone()),
            created_at: s.created_at,
            last_withdrawal_at: s.last_withdrawal_at,
            has_live_consent: !s.consents.is_empty(),
            lost_at: s.lost_at,
            dossiers: dossiers
                .iter()
                .filter(|d| d.destroyed.is_none())
                .map(|d| self.dossier_facts(d).map(std::borrow::Cow::Owned))
                .collect::<Result<_, _>>()?,
        })
    }

    /// What the retention rules say is due at `now`, and what blocks it.
    pub fn compute_due(&self, now: OffsetDateTime, stale_after: Option<time::Duration>) -> Result<Due, ArchiveError> {
        let (findings, stale) = self.facts.with(self.store.as_ref(), &facts::Reader(self), |rows| {
            let findings =
                due(&self.policy.retention, facts::dossiers(rows), facts::contacts(rows, &self.policy.retention), now);
            let stale: Vec<DossierId> = match stale_after {
                Some(after) => {
                    facts::dossiers(rows).filter(|d| d.updated_at + after <= now).map(|d| d.id.clone()).collect()
                }
                None => vec![],
            };
            Ok((findings, stale))
        })?;
        let in_batch: BTreeMap<Target, BatchId> = self
            .open_batches()?
            .into_iter()
            .flat_map(|b| {
                let done: BTreeSet<Target> = b.results.iter().map(|r| r.target.clone()).collect();
                b.items
                    .into_iter()
                    .filter(move |i| !done.contains(&i.target))
                    .map(move |i| (i.target, b.batch_id.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let items = findings
            .into_iter()
            .map(|f: Finding| DueItem {
                batch: in_batch.get(&f.target).cloned(),
                trigger: f.trigger,
                trigger_at: f.trigger_at,
                approval: f.approval,
                blocked_by: f.blocked_by,
                item: Item { target: f.target, rule: f.rule, citation: f.citation, action: f.action, due_at: f.due_at },
            })
            .collect();
        Ok(Due { as_of: now, items, stale })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn disposition_due(&self, ctx: &RequestCtx) -> Result<Due, ArchiveError> {
        const ACTION: Action = Action::DispositionDue;
        let reason = self.require_disposition(ctx, ACTION).await?;
        let due = self.compute_due(self.clock.now(), Some(self.stale_after))?;
        let e = ctx.entry(
            ACTION,
            Resource::Disposition.as_str(),
            Outcome::Allow,
            format!("{reason}; {} due", due.items.len()),
        );
        self.audit.commit(Commit::entry(e)).await?;
        Ok(due)
    }
}
