//! Interactions as stored: the record and its table. Customer management
//! writes them; the search index and the subject export read them.

use crate::archive::ArchiveError;
use crate::crypto::Sealed;
use crate::domain::{DossierId, InteractionId, PrincipalId, SubjectId};
use crate::store::{keys, Cf, KvStore, Table};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InteractionKind {
    Call,
    Email,
    Visit,
    Complaint,
    Feedback,
    /// 回访: a follow-up visit or call after a service.
    FollowUp,
}

impl InteractionKind {
    pub const ALL: [InteractionKind; 6] = [
        InteractionKind::Call,
        InteractionKind::Email,
        InteractionKind::Visit,
        InteractionKind::Complaint,
        InteractionKind::Feedback,
        InteractionKind::FollowUp,
    ];
}

/// Interactions: `i/<dos>/<int>` in `documents` (ids sort by time).
pub(crate) const INTERACTIONS: Table<(DossierId, InteractionId), InteractionRecord> =
    Table::new(Cf::Documents, b"i/", |(did, iid): &(DossierId, InteractionId)| keys::interaction(did, iid));

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct InteractionRecord {
    pub id: InteractionId,
    pub kind: InteractionKind,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub contact: Option<SubjectId>,
    pub satisfaction: Option<u8>,
    pub summary: Sealed,
    pub recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// The summary holds the named person's own data (a kind
    /// `policies/screening.toml` seals): it is not indexed for search.
    #[serde(default)]
    pub personal: bool,
    /// The follow-up the recorder promised (open until a later interaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<time::Date>,
}

impl InteractionRecord {
    /// The key its summary is sealed under: the contact person's, if it
    /// names one, else the dossier's.
    pub(crate) fn summary_key(&self, did: &DossierId) -> crate::crypto::KeyRef {
        self.contact
            .as_ref()
            .map_or(crate::crypto::KeyRef::Dossier(did.clone()), |s| crate::crypto::KeyRef::Subject(s.clone()))
    }
}

/// The interactions of a dossier, oldest first.
pub(crate) fn interactions_of(store: &dyn KvStore, did: &DossierId) -> Result<Vec<InteractionRecord>, ArchiveError> {
    let rows = INTERACTIONS.scan_under(store, keys::interactions_prefix(did));
    Ok(rows.map(|r| r.map(|(_, v)| v)).collect::<Result<_, _>>()?)
}

/// An interaction's place in time: when it happened, then when it was
/// recorded (two contacts of one minute are ordered as they were entered).
fn when(r: &InteractionRecord) -> (OffsetDateTime, OffsetDateTime) {
    (r.at, r.recorded_at)
}

/// The follow-ups still open among a dossier's interactions (of `by`, or
/// anyone's): a follow-up is open until a later interaction with the
/// customer is recorded, so only the latest interaction's can be.
pub(crate) fn open_follow_ups<'a>(
    records: &'a [InteractionRecord],
    by: Option<&PrincipalId>,
) -> Vec<&'a InteractionRecord> {
    let Some(latest) = records.iter().map(when).max() else { return Vec::new() };
    let mut open: Vec<&InteractionRecord> = records
        .iter()
        .filter(|r| r.follow_up.is_some() && when(r) == latest && by.is_none_or(|p| r.recorded_by == *p))
        .collect();
    open.sort_by_key(|r| r.follow_up);
    open
}

/// The latest interaction with the customer.
pub(crate) fn last_contact(records: &[InteractionRecord]) -> Option<&InteractionRecord> {
    records.iter().max_by_key(|r| when(r))
}
