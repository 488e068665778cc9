//! What the report (`reports.rs`) and the work lists (`worklist.rs`) read
//! of each dossier, kept in memory (`archive::kept`) so that neither reads
//! every dossier's records per request.
//!
//! DESIGN: one `Row` per dossier that is not destroyed, holding only what
//! the report's groups and sums and a work list's filters need: the meta's
//! group keys and dates, the current figures of every month, the
//! interactions' kinds, satisfaction, last contact and open follow-ups, and
//! when its review falls due (the review cycle comes from the grading
//! policy, fixed for the archive's life). What depends on the time of the
//! request (the window of months, overdue, stale, the look-ahead) is
//! decided per request from these, so a row changes only when its
//! dossier's records change, and is read again then (any key naming the
//! dossier). The sums are taken in key order, as the scan of every dossier
//! took them, so the figures are exactly the scan's.

use super::{Customers, InteractionKind};
use crate::archive::interaction_records::{interactions_of, last_contact, open_follow_ups};
use crate::archive::kept::{Derive, Kept};
use crate::archive::records::{DossierMeta, GradeMove, DOSSIERS};
use crate::archive::ArchiveError;
use crate::domain::dossier::{Grade, Status};
use crate::domain::{DossierId, InteractionId, PrincipalId};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A follow-up promised and not yet met by a later contact.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenFollowUp {
    pub by: PrincipalId,
    pub interaction: InteractionId,
    pub kind: InteractionKind,
    pub due: Option<time::Date>,
}

/// One dossier as the report and the work lists read it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub region: String,
    pub owner: PrincipalId,
    pub grade: Grade,
    pub status: Status,
    pub updated_at: OffsetDateTime,
    /// The grade's last change.
    pub grade_change: Option<GradeMove>,
    /// When its review falls due; `None` for a closed dossier (never overdue).
    pub review_due: Option<OffsetDateTime>,
    /// The current figures by month: orders, amount, returns.
    pub figures: BTreeMap<(i32, u8), (u64, f64, u64)>,
    /// Interactions by kind (wire name).
    pub kinds: BTreeMap<String, u64>,
    /// The sum and the number of satisfaction scores given.
    pub satisfaction: (u64, u64),
    /// When the latest interaction happened.
    pub last_contact: Option<OffsetDateTime>,
    /// The open follow-ups, soonest first.
    pub follow_ups: Vec<OpenFollowUp>,
    /// The industry, read from the sealed version when a report by
    /// industry first asks (`None`: not read yet).
    pub industry: Option<String>,
    current_version: u32,
}

/// The rows, kept between reports and work lists.
pub(super) type ReportRows = Kept<Row>;

/// The dossier a row's figures and review come from, read now.
fn row_of(c: &Customers, meta: &DossierMeta) -> Result<Row, ArchiveError> {
    let figures = c.current_figures(&meta.id)?.into_iter().map(|(m, f)| (m, (f.orders, f.amount, f.returns))).collect();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut satisfaction = (0, 0);
    let interactions = interactions_of(c.store.as_ref(), &meta.id)?;
    for i in &interactions {
        *kinds.entry(crate::archive::wire_name(&i.kind)).or_default() += 1;
        if let Some(s) = i.satisfaction {
            satisfaction.0 += u64::from(s);
            satisfaction.1 += 1;
        }
    }
    let follow_ups = open_follow_ups(&interactions, None)
        .into_iter()
        .map(|r| OpenFollowUp { by: r.recorded_by.clone(), interaction: r.id.clone(), kind: r.kind, due: r.follow_up })
        .collect();
    let review_due = match meta.status {
        Status::Closed => None,
        _ => Some(c.review_due(meta)?.1),
    };
    Ok(Row {
        region: meta.region.clone(),
        owner: meta.owner.clone(),
        grade: meta.grade,
        status: meta.status,
        updated_at: meta.updated_at,
        grade_change: meta.grade_change,
        review_due,
        figures,
        kinds,
        satisfaction,
        last_contact: last_contact(&interactions).map(|r| r.at),
        follow_ups,
        industry: None,
        current_version: meta.current_version,
    })
}

impl Derive for Customers {
    type Row = Row;

    fn read_all(&self) -> Result<BTreeMap<String, Row>, ArchiveError> {
        let mut rows = BTreeMap::new();
        for meta in self.dossiers.all_dossiers()? {
            if meta.destroyed.is_none() {
                rows.insert(meta.id.to_string(), row_of(self, &meta)?);
            }
        }
        Ok(rows)
    }

    fn read_one(&self, id: &str, old: Option<&Row>) -> Result<Option<Row>, ArchiveError> {
        let meta = DossierId::parse(id).ok().map(|d| DOSSIERS.get(self.store.as_ref(), &d)).transpose()?;
        let Some(meta) = meta.flatten().filter(|m| m.destroyed.is_none()) else { return Ok(None) };
        let mut row = row_of(self, &meta)?;
        // The industry is the sealed version's: unchanged with the version.
        if let Some(old) = old.filter(|o| o.current_version == row.current_version) {
            row.industry.clone_from(&old.industry);
        }
        Ok(Some(row))
    }

    fn prefixes(&self) -> &'static [&'static str] {
        &["dos_"]
    }
}

/// Runs `f` on every row of `c`, brought up to date with the store first;
/// with `industry`, every row's industry read.
pub(super) fn with_rows<T>(
    c: &Customers,
    industry: bool,
    f: impl FnOnce(&BTreeMap<String, Row>) -> T,
) -> Result<T, ArchiveError> {
    c.report_rows.with(c.store.as_ref(), c, |rows| {
        if industry {
            for (id, row) in rows.iter_mut().filter(|(_, r)| r.industry.is_none()) {
                let Ok(did) = DossierId::parse(id) else { continue };
                let split = c.vault.open_version_split(&did, row.current_version)?;
                row.industry = Some(split.business.customer.industry.unwrap_or_else(|| "(none)".into()));
            }
        }
        Ok(f(rows))
    })
}
