//! Periodic review (避免"死档"): each dossier is reviewed on the cycle of its
//! grade (`policies/grading.toml` [review]); a review confirms the dossier,
//! records that it was updated, or finds a contact person lost, which sets
//! the `contact_lost` retention trigger for that person (their erasure then
//! falls due under retention.toml). Reviews are append-only; the note is
//! sealed under the dossier's key.

use crate::archive::customers::Customers;
use crate::archive::interaction_records::{interactions_of, last_contact, open_follow_ups, InteractionRecord};
use crate::archive::records::{DossierMeta, SubjectMeta, SUBJECTS};
use crate::archive::vault::Slot;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::crypto::{KeyRef, Sealed};
use crate::domain::dossier::Grade;
use crate::domain::{DossierId, InteractionId, PrincipalId, SubjectId};
use crate::policy::access::Change;
use crate::store::{keys, Cf, Table};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How far ahead the due list looks.
pub(super) const LOOK_AHEAD_DAYS: i64 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    Confirmed,
    Updated,
    ContactLost,
}

/// What the console's dossier page shows first ([`Customers::glance`]).
#[derive(Debug, Clone, Default)]
pub struct Glance {
    /// The next review and whether it is past (none for a closed customer).
    pub review: Option<(OffsetDateTime, bool)>,
    pub last_contact: Option<Contact>,
    pub follow_ups: Vec<Contact>,
    /// The cursor of `list_interactions` from which the newest list.
    pub newest_from: Option<String>,
}

/// An interaction as the glance shows it: no summary.
#[derive(Debug, Clone)]
pub struct Contact {
    pub at: OffsetDateTime,
    pub kind: crate::archive::customers::InteractionKind,
    pub by: String,
    pub follow_up: Option<time::Date>,
}

/// The longest review note.
pub const MAX_NOTE: usize = 4000;

/// A review, its shape checked at the edge (`web::commands::ReviewDto`).
#[derive(Debug, Clone)]
pub struct NewReview {
    pub outcome: ReviewOutcome,
    pub note: String,
    pub contact: Option<String>,
}

/// Reviews: `v/<dos>/<rev>` in `documents`.
const REVIEWS: Table<(DossierId, String), ReviewRecord> =
    Table::new(Cf::Documents, b"v/", |(did, id): &(DossierId, String)| keys::review(did, id));

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ReviewRecord {
    id: String,
    outcome: ReviewOutcome,
    contact: Option<SubjectId>,
    note: Sealed,
    by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    pub id: String,
    #[schema(inline)]
    pub outcome: ReviewOutcome,
    pub contact: Option<String>,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// When the next review is due.
    #[serde(with = "time::serde::rfc3339")]
    pub next_due: OffsetDateTime,
}

/// A dossier on a review list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DueReview {
    pub dossier: String,
    pub owner: String,
    pub region: String,
    #[schema(value_type = String)]
    pub grade: Grade,
    /// The cycle of its grade (`3m`, ...).
    pub cycle: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_review: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    pub overdue: bool,
}

impl Customers {
    fn last_review(&self, did: &DossierId) -> Result<Option<OffsetDateTime>, ArchiveError> {
        let mut last = None;
        for row in REVIEWS.scan_under(self.store.as_ref(), keys::reviews_prefix(did)) {
            let (_, r) = row?;
            last = last.max(Some(r.at));
        }
        Ok(last)
    }

    /// When `meta` is next due for review: a cycle after its last review
    /// (or after it was opened).
    pub(super) fn review_due(
        &self,
        meta: &DossierMeta,
    ) -> Result<(Option<OffsetDateTime>, OffsetDateTime), ArchiveError> {
        let last = self.last_review(&meta.id)?;
        let cycle = self.policy.grading.review_cycle(meta.grade);
        Ok((last, cycle.after(last.unwrap_or(meta.created_at))))
    }

    /// Dossiers due for review within the look-ahead (or overdue), for
    /// `owner` or everyone; the number overdue.
    pub(crate) fn reviews_due(&self, filter: impl Fn(&DossierMeta) -> bool) -> Result<Vec<DueReview>, ArchiveError> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for meta in self.dossiers.all_dossiers()? {
            if meta.destroyed.is_some() || meta.status == crate::domain::dossier::Status::Closed || !filter(&meta) {
                continue;
            }
            let (last, due_at) = self.review_due(&meta)?;
            if due_at <= now + time::Duration::days(LOOK_AHEAD_DAYS) {
                out.push(DueReview {
                    dossier: meta.id.to_string(),
                    owner: meta.owner.to_string(),
                    region: meta.region.clone(),
                    grade: meta.grade,
                    cycle: self.policy.grading.review_cycle(meta.grade).to_string(),
                    last_review: last,
                    due_at,
                    overdue: due_at < now,
                });
            }
        }
        out.sort_by_key(|d| d.due_at);
        Ok(out)
    }

    /// The number of overdue reviews (the grading job sets the metric).
    pub async fn count_overdue_reviews(&self) -> Result<u64, ArchiveError> {
        let n = self.reviews_due(|_| true)?.iter().filter(|d| d.overdue).count() as u64;
        self.metrics.set_reviews_overdue(n);
        Ok(n)
    }

    /// `GET /v1/reviews/due?owner=`: sales see their own dossiers, service
    /// its region, compliance and finance everyone's (or `owner`'s).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_reviews_due(
        &self,
        ctx: &RequestCtx,
        owner: Option<&str>,
    ) -> Result<Vec<DueReview>, ArchiveError> {
        const ACTION: Action = Action::ReviewDue;
        let p = &ctx.principal;
        let scope = self
            .gate
            .require_customer_scope(ctx, ACTION, "review lists are for sales, service, finance and compliance")
            .await?;
        let list = self.reviews_due(|m| scope.covers(p, m) && owner.is_none_or(|o| m.owner.as_str() == o))?;
        let overdue = list.iter().filter(|d| d.overdue).count();
        let e = ctx.entry(ACTION, "", Outcome::Allow, format!("{} due, {overdue} overdue", list.len()));
        self.audit.commit(Commit::entry(e)).await?;
        Ok(list)
    }

    /// What the console's dossier page shows first, from records alone
    /// (no sealed text is opened): the next review and whether it is past,
    /// the last contact, the open follow-ups, and the cursor from which the
    /// newest `recent` interactions list. For a caller whose customer scope
    /// includes the dossier (the page's own read is the audited one);
    /// `None` outside their scope or for an unknown or destroyed dossier.
    pub fn glance(&self, ctx: &RequestCtx, id: &str, recent: usize) -> Result<Option<Glance>, ArchiveError> {
        let p = &ctx.principal;
        let Some(scope) = self.gate.customer_scope(p) else { return Ok(None) };
        let Ok(did) = DossierId::parse(id) else { return Ok(None) };
        let Some((meta, _)) = self.dossiers.meta(&did)? else { return Ok(None) };
        if !scope.covers(p, &meta) || meta.destroyed.is_some() {
            return Ok(None);
        }
        let review = match meta.status {
            crate::domain::dossier::Status::Closed => None,
            _ => {
                let (_, due) = self.review_due(&meta)?;
                Some((due, due < self.clock.now()))
            }
        };
        let records = interactions_of(self.store.as_ref(), &did)?;
        let contact = |r: &InteractionRecord| Contact {
            at: r.at,
            kind: r.kind,
            by: r.recorded_by.to_string(),
            follow_up: r.follow_up,
        };
        Ok(Some(Glance {
            review,
            last_contact: last_contact(&records).map(contact),
            follow_ups: open_follow_ups(&records, None).into_iter().map(contact).collect(),
            newest_from: records.len().checked_sub(recent + 1).map(|i| records[i].id.to_string()),
        }))
    }

    /// `POST /v1/dossiers/{id}/reviews`: whoever may record interactions
    /// with the customer reviews its dossier.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn add_review(&self, ctx: &RequestCtx, id: &str, n: NewReview) -> Result<ReviewView, ArchiveError> {
        const ACTION: Action = Action::ReviewCreate;
        let (did, meta, _, reason) = self.dossiers.authorize_change(ctx, ACTION, id, Change::Interact).await?;
        let mut errors = Vec::new();
        let contact = super::named_contact(&meta, n.contact.as_deref(), &mut errors);
        if !errors.is_empty() {
            let e = self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "invalid review");
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let now = self.clock.now();
        let rid = InteractionId::generate().as_str().replacen("itr_", "rev_", 1);
        let note = self.vault.seal_live(&KeyRef::Dossier(did.clone()), Slot::Review(&did, &rid), n.note.as_bytes())?;
        let record = ReviewRecord {
            id: rid.clone(),
            outcome: n.outcome,
            contact: contact.clone(),
            note,
            by: ctx.principal.id.clone(),
            at: now,
        };
        let mut ops = vec![
            REVIEWS.put_unguarded(&(did.clone(), rid.clone()), &record)?,
            crate::archive::records::WORKED_ON.mark(&ctx.principal.id, &did),
        ];
        let mut guard = None;
        let mut why = format!("{reason}; {rid} {}", crate::archive::wire_name(&n.outcome));
        if let (ReviewOutcome::ContactLost, Some(sid)) = (n.outcome, &contact) {
            if let Some(held) = SUBJECTS.hold(self.store.as_ref(), sid)? {
                let mut m: SubjectMeta = held.value.clone();
                if m.lost_at.is_none() {
                    m.lost_at = Some(now);
                    let change = held.replace(&m)?;
                    ops.push(change.op);
                    guard = Some(change.guard);
                }
                why.push_str(&format!("; {sid} lost as a contact: the contact_lost retention trigger"));
            }
        }
        let subjects: Vec<SubjectId> = contact.iter().cloned().collect();
        let entry = self.dossiers.dossier_entry(ctx, ACTION, id, &subjects, Outcome::Allow, why);
        match self.audit.commit(Commit { ops, entries: vec![entry], guard, on_conflict: vec![] }).await {
            Ok(_) => {}
            Err(crate::audit::CommitError::Conflict) => {
                return Err(ArchiveError::Conflict("the contact person changed meanwhile: retry".into()))
            }
            Err(e) => return Err(e.into()),
        }
        let (_, next_due) = self.review_due(&meta)?;
        Ok(ReviewView {
            id: rid,
            outcome: n.outcome,
            contact: contact.map(|s| s.to_string()),
            by: ctx.principal.id.to_string(),
            at: now,
            next_due,
        })
    }
}
