//! A person's work list (the console's start page for sales and service):
//! the customers they work on (`records::WORKED_ON`: their own, and those
//! they wrote a version, an interaction or a review of), with grade, stage,
//! last contact and the next review; the follow-ups they promised that no
//! later contact has met; and the grade changes since their last visit.
//! Read from the marks and each listed dossier's own records, never from a
//! scan of every dossier; shown as the access policy shows the dossier (a
//! name masked or withheld as a read would), and audited as one entry
//! naming the dossiers listed.

use crate::archive::customers::{Customers, InteractionKind};
use crate::archive::interaction_records::{interactions_of, last_contact, open_follow_ups};
use crate::archive::records::{DossierMeta, GradeMove, WORKED_ON};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::dossier::{Grade, Status};
use crate::domain::Classification;
use crate::policy::access::FieldOutcome;
use time::{Date, OffsetDateTime};

/// Customers listed at most, the most recently changed first.
pub const MAX_CUSTOMERS: usize = 200;
/// Without a previous visit, grade changes this far back are shown.
const FIRST_VISIT_DAYS: i64 = 7;

/// One customer of a work list.
#[derive(Debug, Clone)]
pub struct WorkCustomer {
    pub dossier: String,
    /// As the policy shows it: masked, or empty when withheld or erased.
    pub customer_name: String,
    /// Grade and stage, when the caller sees the dossier's internal fields.
    pub grade: Option<Grade>,
    pub status: Option<Status>,
    /// When the last interaction happened.
    pub last_contact: Option<OffsetDateTime>,
    /// The next periodic review (none for a closed customer).
    pub review_due_at: Option<OffsetDateTime>,
    pub review_overdue: bool,
    /// The grade's last change, when it came after the caller's last visit.
    pub grade_change: Option<GradeMove>,
    /// In the table of customers (the most recently changed); a customer
    /// outside it is here for a follow-up, a review or a grade change.
    pub listed: bool,
}

/// A follow-up the caller promised that no later contact has met.
#[derive(Debug, Clone)]
pub struct FollowUp {
    pub dossier: String,
    pub customer_name: String,
    pub interaction: String,
    pub kind: InteractionKind,
    pub due: Date,
    pub overdue: bool,
}

/// A person's work list.
#[derive(Debug, Clone, Default)]
pub struct Worklist {
    pub customers: Vec<WorkCustomer>,
    /// Soonest first.
    pub follow_ups: Vec<FollowUp>,
    /// More customers than [`MAX_CUSTOMERS`] in scope.
    pub more: bool,
}

impl Worklist {
    /// Reviews due within the look-ahead, and those overdue.
    pub fn reviews(&self) -> impl Iterator<Item = &WorkCustomer> {
        self.customers.iter().filter(|c| c.review_due_at.is_some())
    }
}

impl Customers {
    /// The caller's work list; `since` is their previous visit. Follow-ups,
    /// reviews and grade changes are those of every customer in scope; the
    /// table of customers shows the [`MAX_CUSTOMERS`] most recently
    /// changed. A mark whose dossier is gone, destroyed or no longer in the
    /// caller's scope is removed as it is read.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn worklist(&self, ctx: &RequestCtx, since: Option<OffsetDateTime>) -> Result<Worklist, ArchiveError> {
        const ACTION: Action = Action::CustomerWorklist;
        let scope = self
            .gate
            .require_customer_scope(ctx, ACTION, "work lists are for sales, service, finance and compliance")
            .await?;
        let purpose = self.gate.purpose(ctx, ACTION, "").await?;
        let me = &ctx.principal;
        let now = self.clock.now();
        let since = since.unwrap_or(now - time::Duration::days(FIRST_VISIT_DAYS));
        let store = self.store.as_ref();
        let (mut metas, mut stale) = (Vec::new(), Vec::new());
        for did in WORKED_ON.members(store, &me.id)? {
            match self.dossiers.meta(&did)? {
                Some((meta, _)) if meta.destroyed.is_none() && scope.covers(me, &meta) => metas.push(meta),
                _ => stale.push(WORKED_ON.unmark(&me.id, &did)),
            }
        }
        if !stale.is_empty() {
            store.write(&stale, false)?;
        }
        metas.sort_by_key(|m| std::cmp::Reverse(m.updated_at));
        let mut list = Worklist { more: metas.len() > MAX_CUSTOMERS, ..Worklist::default() };
        let look_ahead = now + time::Duration::days(super::reviews::LOOK_AHEAD_DAYS);
        for (n, meta) in metas.into_iter().enumerate() {
            let listed = n < MAX_CUSTOMERS;
            let interactions = interactions_of(store, &meta.id)?;
            let promised = open_follow_ups(&interactions, Some(&me.id)).into_iter().next();
            let (review_due_at, review_overdue) = match meta.status {
                Status::Closed => (None, false),
                _ => {
                    let (_, due) = self.review_due(&meta)?;
                    (Some(due).filter(|d| *d <= look_ahead), due < now)
                }
            };
            let moved = meta.grade_change.filter(|g| g.at > since);
            // The policy decides (and the name is opened) only for a
            // customer some list would show: the table's, or one with a
            // follow-up, a review or a grade change; most of a large
            // portfolio has none of these and costs no decision.
            if !listed && promised.is_none() && review_due_at.is_none() && moved.is_none() {
                continue;
            }
            let plan = self.dossiers.read_plan(ctx, purpose, &meta, &meta.subjects)?;
            if !plan.anything_visible() {
                continue;
            }
            let internal = plan.outcome(Classification::Internal, None) == FieldOutcome::Clear;
            let grade_change = moved.filter(|_| internal);
            if !listed && promised.is_none() && review_due_at.is_none() && grade_change.is_none() {
                continue;
            }
            let name_outcome = match &meta.proprietor {
                Some(sid) => plan.field_outcome(sid, "name").0,
                None => plan.outcome(Classification::Internal, None),
            };
            let customer_name = shown_name(self, &meta, name_outcome)?;
            if let Some(r) = promised {
                let due = r.follow_up.unwrap_or(now.date());
                list.follow_ups.push(FollowUp {
                    dossier: meta.id.to_string(),
                    customer_name: customer_name.clone(),
                    interaction: r.id.to_string(),
                    kind: r.kind,
                    due,
                    overdue: due < now.date(),
                });
            }
            list.customers.push(WorkCustomer {
                dossier: meta.id.to_string(),
                customer_name,
                grade: internal.then_some(meta.grade),
                status: internal.then_some(meta.status),
                last_contact: last_contact(&interactions).map(|r| r.at),
                review_due_at,
                review_overdue,
                grade_change,
                listed,
            });
        }
        list.follow_ups.sort_by_key(|f| f.due);
        let ids: Vec<&str> = list.customers.iter().map(|c| c.dossier.as_str()).collect();
        let reason = format!(
            "purpose {purpose}; {} customer(s), {} follow-up(s): {}",
            ids.len(),
            list.follow_ups.len(),
            ids.join(" ")
        );
        self.audit.commit(Commit::entry(ctx.entry(ACTION, "", Outcome::Allow, reason))).await?;
        Ok(list)
    }
}

/// The customer's name as the policy shows it: masked as a read masks
/// it; empty when withheld or erased.
fn shown_name(c: &Customers, meta: &DossierMeta, outcome: FieldOutcome) -> Result<String, ArchiveError> {
    if outcome == FieldOutcome::Withheld {
        return Ok(String::new());
    }
    let Some(name) = c.index.customer_name(meta)? else { return Ok(String::new()) };
    Ok(match outcome {
        FieldOutcome::Masked => c
            .policy
            .masking
            .mask("/customer/name", &name.into())
            .as_str()
            .map_or_else(crate::policy::masking::masked_text, str::to_owned),
        _ => name,
    })
}
