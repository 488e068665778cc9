//! Order figures: per customer and calendar month, the orders, amount,
//! returns and on-time rate. Business data (no personal value), append-only:
//! a second `PUT` for a month is a new revision, the latest counts. They feed
//! grading and the reports; a new revision regrades the dossier.

use crate::archive::customers::Customers;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::dossier::FieldError;
use crate::domain::DossierId;
use crate::policy::access::Change;
use crate::store::{keys, Cf, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A month's figures as a body or a sheet's row gives them. Their own
/// shape ([`NewFigures::shape_errors`]) is checked where they are read
/// (`web::commands`, the import), not by [`Customers::put_figures`].
#[derive(Debug, Clone)]
pub struct NewFigures {
    pub orders: u64,
    pub amount: f64,
    pub returns: u64,
    pub on_time_rate: Option<f64>,
}

impl NewFigures {
    /// Where the figures contradict themselves or leave their range: an
    /// amount that is not a number from 0 to 10^15, more returns than
    /// orders, an on-time rate outside 0 to 1 (paths of the API's body).
    pub fn shape_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !self.amount.is_finite() || self.amount < 0.0 || self.amount > 1e15 {
            errors.push(FieldError { path: "/amount".into(), message: "a non-negative amount".into() });
        }
        if self.returns > self.orders {
            errors.push(FieldError { path: "/returns".into(), message: "more returns than orders".into() });
        }
        if self.on_time_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
            errors.push(FieldError { path: "/on_time_rate".into(), message: "a fraction from 0 to 1".into() });
        }
        errors
    }
}

/// A calendar month from 2000 to 2100, written `yyyy-mm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u8,
}

impl Month {
    /// `yyyy-mm`, from 2000-01 to 2100-12; `None` otherwise.
    pub fn parse(s: &str) -> Option<Month> {
        parse_month(s).map(|(year, month)| Month { year, month })
    }

    fn pair(self) -> (i32, u8) {
        (self.year, self.month)
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// `PUT /v1/dossiers/{id}/figures/{yyyy-mm}`: a month's figures to
/// record, the month typed and the figures' shape checked by whoever built it.
#[derive(Debug, Clone)]
pub struct MonthFigures {
    pub month: Month,
    pub figures: NewFigures,
}

/// Figures: `g/<dos>/<yyyy-mm>/<revision u32 BE>` in `documents`, one row per
/// revision, never rewritten.
pub(super) const FIGURES: Table<(DossierId, String, u32), FigureRecord> =
    Table::new(Cf::Documents, b"g/", |(did, month, rev): &(DossierId, String, u32)| keys::figures(did, month, *rev));

/// One month's figures, one revision.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FigureRecord {
    /// `yyyy-mm`.
    pub month: String,
    pub revision: u32,
    pub orders: u64,
    /// CNY.
    pub amount: f64,
    pub returns: u64,
    /// Share of orders delivered on time (0-1).
    pub on_time_rate: Option<f64>,
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// `yyyy-mm` → (year, month), for a month from 2000 to 2100.
pub(crate) fn parse_month(s: &str) -> Option<(i32, u8)> {
    let (y, m) = s.split_once('-')?;
    if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m): (i32, u8) = (y.parse().ok()?, m.parse().ok()?);
    ((2000..=2100).contains(&y) && (1..=12).contains(&m)).then_some((y, m))
}

/// The month `n` months before (year, month).
pub(crate) fn months_before((y, m): (i32, u8), n: u32) -> (i32, u8) {
    let total = y * 12 + i32::from(m) - 1 - n as i32;
    (total.div_euclid(12), (total.rem_euclid(12) + 1) as u8)
}

pub(crate) fn month_of(t: OffsetDateTime) -> (i32, u8) {
    let t = t.to_offset(time::UtcOffset::UTC);
    (t.year(), u8::from(t.month()))
}

impl Customers {
    /// Every figure revision of a dossier, oldest month first.
    pub(crate) fn figure_rows(&self, did: &DossierId) -> Result<Vec<FigureRecord>, ArchiveError> {
        let rows = FIGURES.scan_under(self.store.as_ref(), keys::figures_prefix(did));
        Ok(rows.map(|r| r.map(|(_, v)| v)).collect::<Result<_, _>>()?)
    }

    /// The latest revision of each month.
    pub(crate) fn current_figures(&self, did: &DossierId) -> Result<BTreeMap<(i32, u8), FigureRecord>, ArchiveError> {
        let mut by_month = BTreeMap::new();
        for r in self.figure_rows(did)? {
            if let Some(m) = parse_month(&r.month) {
                by_month.insert(m, r); // rows come in revision order: the last wins
            }
        }
        Ok(by_month)
    }

    /// `PUT /v1/dossiers/{id}/figures/{yyyy-mm}`: whoever may record
    /// interactions with the customer (sales on their own dossiers, service
    /// in their region) records its figures; then the dossier is regraded.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn put_figures(&self, ctx: &RequestCtx, id: &str, m: MonthFigures) -> Result<FigureRecord, ArchiveError> {
        const ACTION: Action = Action::FiguresPut;
        let (did, _, _, reason) = self.dossiers.authorize_change(ctx, ACTION, id, Change::Interact).await?;
        let now = self.clock.now();
        // The month's and the figures' shape were checked where the command
        // was built; when the month lies is the clock's.
        if m.month.pair() > month_of(now) {
            let errors = vec![FieldError { path: "month".into(), message: "lies in the future".into() }];
            let e = self.dossiers.dossier_entry(ctx, ACTION, id, &[], Outcome::Error, "invalid figures");
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let (month, n) = (m.month.to_string(), m.figures);
        let revision = self.figure_rows(&did)?.iter().filter(|r| r.month == month).count() as u32 + 1;
        let record = FigureRecord {
            month: month.clone(),
            revision,
            orders: n.orders,
            amount: (n.amount * 100.0).round() / 100.0,
            returns: n.returns,
            on_time_rate: n.on_time_rate,
            recorded_by: ctx.principal.id.to_string(),
            recorded_at: now,
        };
        let change = FIGURES.insert(&(did.clone(), month.clone(), revision), &record)?;
        let why = format!("{reason}; {month} revision {revision}");
        let entry = self.dossiers.dossier_entry(ctx, ACTION, id, &[], Outcome::Allow, why);
        let conflict = self.dossiers.dossier_entry(ctx, ACTION, id, &[], Outcome::Error, "concurrent revision");
        let mut commit = Commit::guarded(change, vec![], entry);
        commit.on_conflict = vec![conflict];
        match self.audit.commit(commit).await {
            Ok(_) => {}
            Err(crate::audit::CommitError::Conflict) => {
                return Err(ArchiveError::Conflict(
                    "another revision of this month was recorded at the same time: retry".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        // New figures: the grade follows them (an override lapses).
        if let Err(e) = self.regrade(&did, false).await {
            tracing::warn!(dossier = %did, error = %e, "regrading after new figures failed; the grading job retries");
        }
        Ok(record)
    }
}
