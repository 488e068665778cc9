//! A person's work list (the console's start page for sales and service):
//! the customers they work on (`records::WORKED_ON`: their own, and those
//! they wrote a version, an interaction or a review of), with grade, stage,
//! last contact and the next review; the follow-ups they promised that no
//! later contact has met; and the grade changes since their last visit.
//! Read from the marks and the kept rows (`report_rows`: each dossier's
//! follow-ups, review date and grade change, read again after each write
//! naming it), never from a scan of every dossier; each listed dossier's
//! meta is read for its decision; shown as the access policy shows the
//! dossier (a name masked or withheld as a read would), and audited as one
//! entry naming the dossiers listed.

use super::report_rows::{with_rows, OpenFollowUp};
use crate::archive::customers::{Customers, InteractionKind};
use crate::archive::records::{DossierMeta, GradeMove, WORKED_ON};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::dossier::{Grade, Status};
use crate::domain::Classification;
use crate::domain::DossierId;
use crate::policy::access::FieldOutcome;
use time::{Date, OffsetDateTime};

/// Customers listed at most, the most recently changed first.
pub const MAX_CUSTOMERS: usize = 200;
/// Follow-ups, reviews and grade changes listed at most each: the soonest
/// (the newest changes); the totals say how many there are.
pub const MAX_DUE: usize = 50;
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
    /// How many open follow-ups, reviews due and grade changes the caller's
    /// customers in scope have (each list holds the first [`MAX_DUE`]).
    pub follow_ups_total: usize,
    pub reviews_total: usize,
    pub changes_total: usize,
}

impl Worklist {
    /// Reviews due within the look-ahead, and those overdue: the soonest
    /// [`MAX_DUE`].
    pub fn reviews(&self) -> Vec<&WorkCustomer> {
        let mut due: Vec<_> = self.customers.iter().filter(|c| c.review_due_at.is_some()).collect();
        due.sort_by_key(|c| c.review_due_at);
        due.truncate(MAX_DUE);
        due
    }

    /// Grade changes since the last visit: the newest [`MAX_DUE`].
    pub fn changes(&self) -> Vec<(&WorkCustomer, GradeMove)> {
        let mut moved: Vec<_> = self.customers.iter().filter_map(|c| c.grade_change.map(|g| (c, g))).collect();
        moved.sort_by_key(|(_, g)| std::cmp::Reverse(g.at));
        moved.truncate(MAX_DUE);
        moved
    }
}

/// How many of `found` have a `key`, and the indexes of the [`MAX_DUE`]
/// smallest keys.
fn first_due<K: Ord>(found: &[Found], key: impl Fn(&Found) -> Option<K>) -> (usize, Vec<usize>) {
    let mut keyed: Vec<(K, usize)> = found.iter().enumerate().filter_map(|(i, f)| key(f).map(|k| (k, i))).collect();
    let total = keyed.len();
    keyed.sort();
    (total, keyed.into_iter().take(MAX_DUE).map(|(_, i)| i).collect())
}

/// A marked customer in scope, as the kept rows have it.
struct Found {
    did: DossierId,
    updated_at: OffsetDateTime,
    /// The caller's open follow-up.
    promised: Option<OpenFollowUp>,
    /// The review date if within the look-ahead, and whether overdue
    /// (`None`: closed, no review).
    review: Option<(Option<OffsetDateTime>, bool)>,
    /// The grade change since the caller's last visit.
    moved: Option<GradeMove>,
    last_contact: Option<OffsetDateTime>,
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
        let look_ahead = now + time::Duration::days(super::reviews::LOOK_AHEAD_DAYS);
        let marks = WORKED_ON.members(store, &me.id)?;
        // The cheap part from the kept rows (no read per mark): which marks
        // still hold a customer in scope, newest change first, and what of
        // each a list would show.
        let (mut found, mut stale) = (Vec::new(), Vec::new());
        with_rows(self, false, |rows| {
            for did in marks {
                match rows.get(did.as_str()) {
                    Some(r) if scope.covers_owned(me, &r.owner, &r.region) => found.push(Found {
                        updated_at: r.updated_at,
                        promised: r.follow_ups.iter().find(|f| f.by == me.id).cloned(),
                        review: r.review_due.map(|due| (Some(due).filter(|d| *d <= look_ahead), due < now)),
                        moved: r.grade_change.filter(|g| g.at > since),
                        last_contact: r.last_contact,
                        did,
                    }),
                    _ => stale.push(WORKED_ON.unmark(&me.id, &did)),
                }
            }
        })?;
        if !stale.is_empty() {
            store.write(&stale, false)?;
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.updated_at));
        // The first of each list, over every customer in scope: the table's
        // customers and these are all a page shows.
        let today = now.date();
        let (follow_ups_total, a) = first_due(&found, |f| f.promised.as_ref().map(|p| p.due.unwrap_or(today)));
        let (reviews_total, b) = first_due(&found, |f| f.review.and_then(|(due, _)| due));
        let (changes_total, c) = first_due(&found, |f| f.moved.map(|g| std::cmp::Reverse(g.at)));
        let wanted: std::collections::HashSet<usize> = a.into_iter().chain(b).chain(c).collect();
        let mut list = Worklist {
            more: found.len() > MAX_CUSTOMERS,
            follow_ups_total,
            reviews_total,
            changes_total,
            ..Worklist::default()
        };
        for (n, f) in found.into_iter().enumerate() {
            let listed = n < MAX_CUSTOMERS;
            let (review_due_at, review_overdue) = f.review.unwrap_or((None, false));
            // The policy decides (and the name is opened) only for a
            // customer some list shows: the table's, or one among the first
            // follow-ups, reviews or grade changes; most of a large
            // portfolio is in none of these and costs no decision.
            if !listed && !wanted.contains(&n) {
                continue;
            }
            let Some((meta, _)) = self.dossiers.meta(&f.did)?.filter(|(m, _)| m.destroyed.is_none()) else { continue };
            let plan = self.dossiers.read_plan(ctx, purpose, &meta, &meta.subjects)?;
            if !plan.anything_visible() {
                continue;
            }
            let internal = plan.outcome(Classification::Internal, None) == FieldOutcome::Clear;
            let grade_change = f.moved.filter(|_| internal);
            if !listed && f.promised.is_none() && review_due_at.is_none() && grade_change.is_none() {
                continue;
            }
            let name_outcome = match &meta.proprietor {
                Some(sid) => plan.field_outcome(sid, "name").0,
                None => plan.outcome(Classification::Internal, None),
            };
            let customer_name = shown_name(self, &meta, name_outcome)?;
            if let Some(r) = f.promised {
                let due = r.due.unwrap_or(now.date());
                list.follow_ups.push(FollowUp {
                    dossier: meta.id.to_string(),
                    customer_name: customer_name.clone(),
                    interaction: r.interaction.to_string(),
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
                last_contact: f.last_contact,
                review_due_at,
                review_overdue,
                grade_change,
                listed,
            });
        }
        list.follow_ups.sort_by_key(|f| f.due);
        list.follow_ups.truncate(MAX_DUE);
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
