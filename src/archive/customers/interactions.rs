//! Interactions: every contact with a customer (a call, an email, a visit, a
//! complaint, feedback, a follow-up visit 回访), with its time, an optional
//! satisfaction score and the contact person it was with. The summary is
//! confidential free text: sealed under the contact person's key when it
//! names one (erasing the person shreds it), else under the dossier's key
//! (destroying the dossier shreds it and deletes the record); shown as the
//! access policy shows the dossier's confidential fields, and no more than
//! the named person's own fields. Interactions are append-only.

use crate::archive::customers::Customers;
pub use crate::archive::interaction_records::InteractionKind;
use crate::archive::interaction_records::{interactions_of, InteractionRecord, INTERACTIONS};
use crate::archive::vault::{Opened, Slot};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::crypto::KeyRef;
use crate::domain::dossier::FieldError;
use crate::domain::{Classification, DossierId, InteractionId, SubjectId};
use crate::policy::access::{Change, FieldOutcome};
use crate::policy::screening::Text;
use serde::Serialize;
use time::OffsetDateTime;

/// The longest summary.
pub const MAX_SUMMARY: usize = 4000;
/// Interactions per page, by default and at most.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 200;

/// An interaction, its shape checked at the edge
/// (`web::commands::InteractionDto`); when it happened and with whom are
/// checked against the clock and the dossier here.
#[derive(Debug, Clone)]
pub struct NewInteraction {
    pub kind: InteractionKind,
    pub at: OffsetDateTime,
    pub summary: String,
    pub contact: Option<String>,
    pub satisfaction: Option<u8>,
    /// The follow-up promised, on or after the day it happened and within
    /// a year from now.
    pub follow_up: Option<time::Date>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InteractionView {
    pub id: String,
    #[schema(inline)]
    pub kind: InteractionKind,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The contact person (`sub_…`), if it names one.
    pub contact: Option<String>,
    pub satisfaction: Option<u8>,
    /// As the policy shows it (`***` when masked); absent when withheld or erased.
    pub summary: Option<String>,
    /// `clear`, `masked`, `withheld` or `erased`.
    pub summary_shown: String,
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// The follow-up promised (YYYY-MM-DD), if any.
    #[schema(value_type = Option<String>, format = Date)]
    pub follow_up: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InteractionPage {
    pub interactions: Vec<InteractionView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

impl Customers {
    /// `POST /v1/dossiers/{id}/interactions`: sales on their own dossiers,
    /// service in their region (policies/access.cedar, `dossier.interact`).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn add_interaction(
        &self,
        ctx: &RequestCtx,
        id: &str,
        n: NewInteraction,
    ) -> Result<InteractionView, ArchiveError> {
        const ACTION: Action = Action::InteractionCreate;
        let (did, meta, _, reason) = self.dossiers.authorize_change(ctx, ACTION, id, Change::Interact).await?;
        let now = self.clock.now();
        let mut errors = Vec::new();
        if n.at > now + time::Duration::minutes(5) {
            errors.push(FieldError { path: "/at".into(), message: "lies in the future".into() });
        }
        if let Some(f) = n.follow_up {
            if f < n.at.date() || f > (now + time::Duration::days(366)).date() {
                errors.push(FieldError {
                    path: "/follow_up".into(),
                    message: "from the day it happened to a year ahead".into(),
                });
            }
        }
        errors.extend(self.dossiers.screened("/summary", Text::InteractionSummary, &n.summary));
        let contact = super::named_contact(&meta, n.contact.as_deref(), &mut errors);
        // What the policy keeps only as the named person's own data.
        let to_seal = self.policy.screening.to_seal(Text::InteractionSummary, &n.summary);
        if n.contact.is_none() {
            errors.extend(to_seal.iter().map(|f| FieldError {
                path: "/summary".into(),
                message: format!(
                    "{f}: kept only sealed as the person's own data: name the contact it was with (policies/screening.toml)"
                ),
            }));
        }
        if !errors.is_empty() {
            let e = self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "invalid interaction");
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let key_ref = contact.as_ref().map_or(KeyRef::Dossier(did.clone()), |s| KeyRef::Subject(s.clone()));
        let iid = InteractionId::generate();
        let summary = match self.vault.seal(&key_ref, Slot::Interaction(&did, &iid), n.summary.as_bytes())? {
            Opened::Plain(sealed) => sealed,
            Opened::Erased => {
                let e = self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "contact erased");
                let err = ArchiveError::Conflict("the contact person has been erased".into());
                return self.gate.refuse(e, err).await;
            }
        };
        let record = InteractionRecord {
            summary,
            id: iid.clone(),
            kind: n.kind,
            at: n.at,
            contact: contact.clone(),
            satisfaction: n.satisfaction,
            recorded_by: ctx.principal.id.clone(),
            recorded_at: now,
            personal: !to_seal.is_empty(),
            follow_up: n.follow_up,
        };
        let ops = vec![
            INTERACTIONS.put_unguarded(&(did.clone(), iid.clone()), &record)?,
            crate::archive::records::WORKED_ON.mark(&ctx.principal.id, &did),
        ];
        let subjects: Vec<SubjectId> = contact.iter().cloned().collect();
        let mut why = format!("{reason}; {iid} {}", crate::archive::wire_name(&n.kind));
        if !to_seal.is_empty() {
            let kinds: Vec<&str> = to_seal.iter().map(|f| f.kind.as_str()).collect();
            why = format!("{why}; summary sealed as the person's own data ({}), not indexed", kinds.join(", "));
        }
        let entry = self.dossiers.dossier_entry(ctx, ACTION, id, &subjects, Outcome::Allow, why);
        self.audit.commit(Commit::change(ops, entry)).await?;
        // Searchable like the remarks: the dossier's index entry again. A
        // failure is logged; the next version re-indexes it.
        if let Err(e) = self.index.reindex_dossiers(std::slice::from_ref(&did)) {
            tracing::error!(dossier = %did, error = %e, "indexing an interaction failed");
        }
        self.interaction_view(&did, &record, FieldOutcome::Clear)
    }

    /// An interaction's summary, opened: `Erased` once its key is shredded.
    pub(crate) fn interaction_summary(
        &self,
        did: &DossierId,
        r: &InteractionRecord,
    ) -> Result<Opened<String>, ArchiveError> {
        self.vault.open_text(&r.summary_key(did), Slot::Interaction(did, &r.id), &r.summary)
    }

    fn interaction_view(
        &self,
        did: &DossierId,
        r: &InteractionRecord,
        shown: FieldOutcome,
    ) -> Result<InteractionView, ArchiveError> {
        let (summary, how) = match shown {
            FieldOutcome::Withheld => (None, "withheld"),
            _ => match self.interaction_summary(did, r)? {
                Opened::Erased => (None, "erased"),
                Opened::Plain(_) if shown == FieldOutcome::Masked => {
                    (Some(crate::policy::masking::masked_text()), "masked")
                }
                Opened::Plain(text) => (Some(text), "clear"),
            },
        };
        Ok(InteractionView {
            id: r.id.to_string(),
            kind: r.kind,
            at: r.at,
            contact: r.contact.as_ref().map(ToString::to_string),
            satisfaction: r.satisfaction,
            summary,
            summary_shown: how.into(),
            recorded_by: r.recorded_by.to_string(),
            recorded_at: r.recorded_at,
            follow_up: r.follow_up.map(|d| d.to_string()),
        })
    }

    /// `GET /v1/dossiers/{id}/interactions?cursor=&limit=`: oldest first; a
    /// summary shown as the dossier's confidential fields are, and no more
    /// than the named person's own fields.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_interactions(
        &self,
        ctx: &RequestCtx,
        id: &str,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<InteractionPage, ArchiveError> {
        const ACTION: Action = Action::InteractionList;
        self.dossiers.refuse_outside_party(ctx, ACTION, id).await?;
        let (did, meta, plan) = self.dossiers.plan_read(ctx, ACTION, id, None).await?;
        let after = match cursor.map(InteractionId::parse) {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(_)) => {
                let e =
                    self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "malformed cursor");
                return self.gate.refuse(e, ArchiveError::BadRequest("cursor: an interaction id".into())).await;
            }
        };
        let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let all = interactions_of(self.store.as_ref(), &did)?;
        let rest: Vec<&InteractionRecord> =
            all.iter().filter(|r| after.as_ref().is_none_or(|a| r.id.as_str() > a.as_str())).collect();
        let confidential = plan.outcome(Classification::Confidential, None);
        let mut out = Vec::new();
        let mut named = Vec::new();
        for r in rest.iter().take(limit) {
            let shown = match &r.contact {
                Some(s) => {
                    if !named.contains(s) {
                        named.push(s.clone());
                    }
                    confidential.min(plan.outcome(Classification::Personal, Some(s)))
                }
                None => confidential,
            };
            out.push(self.interaction_view(&did, r, shown)?);
        }
        let next_cursor = (rest.len() > limit).then(|| out.last().map(|v| v.id.clone())).flatten();
        let reason = format!("{} interaction(s), summaries {}; {}", out.len(), confidential.as_str(), plan.reasons());
        let entry = self.dossiers.dossier_entry(ctx, ACTION, id, &named, Outcome::Allow, reason);
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(InteractionPage { interactions: out, next_cursor })
    }
}
