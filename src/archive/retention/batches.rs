//! Destruction batches: proposing what is due, four-eyes approval, and
//! running an approved batch to the end, one atomic item at a time.

use super::{describe_items, system_entry, with_targets, Batch, BatchState, Item, Target, BATCHES};
use crate::archive::denial::{Denial, FourEyes};
use crate::archive::retention::Retention;
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::{BatchId, CertificateId};
use crate::store::Held;
use std::collections::BTreeSet;

impl Retention {
    /// Proposes what is due, unblocked and in no open batch, for rules that
    /// need approval (`approval`) or not. `None` when nothing is.
    pub(super) async fn propose(
        &self,
        proposer: Option<&RequestCtx>,
        approval: bool,
    ) -> Result<Option<Batch>, ArchiveError> {
        let now = self.clock.now();
        let due = self.compute_due(now, None)?;
        let items: Vec<Item> = due
            .items
            .into_iter()
            .filter(|d| d.blocked_by.is_empty() && d.batch.is_none() && d.approval == approval)
            .map(|d| d.item)
            .collect();
        if items.is_empty() {
            return Ok(None);
        }
        let batch = Batch {
            batch_id: BatchId::generate(),
            state: BatchState::Proposed,
            proposed_by: proposer.map(|c| c.principal.id.clone()),
            proposed_at: now,
            approved_by: None,
            approved_at: None,
            certificate_id: None,
            items,
            results: vec![],
        };
        let reason = format!("proposed {} item(s): {}", batch.items.len(), describe_items(&batch.items));
        let entry = match proposer {
            Some(ctx) => ctx.entry(Action::DispositionPropose, batch.batch_id.as_str(), Outcome::Allow, reason),
            None => system_entry(Action::DispositionPropose, batch.batch_id.as_str(), reason),
        };
        let change = BATCHES.insert(batch.batch_id.as_str(), &batch)?;
        self.audit.commit(Commit::guarded(change, vec![], with_targets(entry, &batch.items))).await?;
        Ok(Some(batch))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn propose_batch(&self, ctx: &RequestCtx) -> Result<Batch, ArchiveError> {
        const ACTION: Action = Action::DispositionPropose;
        self.require_disposition(ctx, ACTION).await?;
        match self.propose(Some(ctx), true).await? {
            Some(b) => Ok(b),
            None => {
                let e = ctx.entry(
                    ACTION,
                    Resource::Disposition.as_str(),
                    Outcome::Error,
                    "nothing due that needs approval",
                );
                self.gate
                    .refuse(
                        e,
                        ArchiveError::Conflict(
                            "nothing is due (unblocked, not yet proposed) that needs approval".into(),
                        ),
                    )
                    .await
            }
        }
    }

    pub(super) fn batch(&self, batch_id: &str) -> Result<Option<Held<Batch>>, ArchiveError> {
        Ok(BATCHES.hold(self.store.as_ref(), batch_id)?)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_batch(&self, ctx: &RequestCtx, batch_id: &str) -> Result<Batch, ArchiveError> {
        const ACTION: Action = Action::DispositionBatch;
        self.require_disposition(ctx, ACTION).await?;
        let Some(Held { value: b, .. }) = self.batch(batch_id)? else {
            let e = ctx.entry(ACTION, batch_id, Outcome::Error, "no such batch");
            return self.gate.refuse(e, ArchiveError::NotFound("batch".into())).await;
        };
        self.audit.commit(Commit::entry(ctx.entry(ACTION, batch_id, Outcome::Allow, "batch"))).await?;
        Ok(b)
    }

    /// The batches proposed and not yet approved (the console's start page:
    /// those a second officer may approve), oldest first; one entry naming
    /// them.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn proposed_batches(&self, ctx: &RequestCtx) -> Result<Vec<Batch>, ArchiveError> {
        const ACTION: Action = Action::DispositionBatch;
        self.require_disposition(ctx, ACTION).await?;
        let mut out = Vec::new();
        for b in BATCHES.values(self.store.as_ref()) {
            let b = b?;
            if b.state == BatchState::Proposed {
                out.push(b);
            }
        }
        out.sort_by_key(|b| b.proposed_at);
        let ids: Vec<&str> = out.iter().map(|b| b.batch_id.as_str()).collect();
        let reason = format!("{} proposed: {}", ids.len(), ids.join(" "));
        self.audit.commit(Commit::entry(ctx.entry(ACTION, "", Outcome::Allow, reason))).await?;
        Ok(out)
    }

    /// Four eyes: a compliance officer other than the proposer approves, and
    /// the batch executes.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn approve_batch(&self, ctx: &RequestCtx, batch_id: &str) -> Result<Batch, ArchiveError> {
        const ACTION: Action = Action::DispositionApprove;
        let reason = self.require_disposition(ctx, ACTION).await?;
        let Some(held) = self.batch(batch_id)? else {
            let e = ctx.entry(ACTION, batch_id, Outcome::Error, "no such batch");
            return self.gate.refuse(e, ArchiveError::NotFound("batch".into())).await;
        };
        let batch = held.value.clone();
        if batch.proposed_by.as_ref() == Some(&ctx.principal.id) {
            let e = ctx.entry(ACTION, batch_id, Outcome::Deny, "");
            return self.gate.deny(e, Denial::FourEyes(FourEyes::BatchProposer), None).await;
        }
        if batch.state != BatchState::Proposed {
            let e = ctx.entry(ACTION, batch_id, Outcome::Error, "batch is not awaiting approval");
            return self.gate.refuse(e, ArchiveError::Conflict("the batch is not awaiting approval".into())).await;
        }
        let approved = Batch {
            state: BatchState::Executing,
            approved_by: Some(ctx.principal.id.clone()),
            approved_at: Some(self.clock.now()),
            certificate_id: Some(CertificateId::generate()),
            ..batch
        };
        let entry = with_targets(ctx.entry(ACTION, batch_id, Outcome::Allow, reason), &approved.items);
        let conflict = ctx.entry(ACTION, batch_id, Outcome::Error, "approved concurrently");
        let mut commit = Commit::guarded(held.replace(&approved)?, vec![], entry);
        commit.on_conflict = vec![conflict];
        self.audit.commit(commit).await?;
        self.execute(batch_id).await
    }

    /// Runs (or resumes) an approved batch to the end. Idempotent.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn execute(&self, batch_id: &str) -> Result<Batch, ArchiveError> {
        loop {
            let Some(held) = self.batch(batch_id)? else {
                return Err(ArchiveError::NotFound("batch".into()));
            };
            let batch = &held.value;
            if batch.state != BatchState::Executing {
                return Ok(held.value);
            }
            let done: BTreeSet<&Target> = batch.results.iter().map(|r| &r.target).collect();
            let next = batch.items.iter().find(|i| !done.contains(&i.target)).cloned();
            match next {
                Some(item) => self.execute_item(&held, &item).await?,
                None => {
                    self.finish(&held).await?;
                }
            }
        }
    }
}
