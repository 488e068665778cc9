//! What the report (`reports.rs`) reads of each dossier, kept in memory so
//! that a report does not read every dossier's records per request.
//!
//! DESIGN: one `Row` per dossier that is not destroyed, holding only what
//! the report's groups and sums need: the meta's group keys and dates, the
//! current figures of every month, the interactions' kinds and
//! satisfaction, and when its review falls due (the review cycle comes from
//! the grading policy, fixed for the archive's life). What depends on the
//! time of the request (the window of months, overdue, stale) is decided
//! per request from these, so a row changes only when its dossier's records
//! change. Rows are kept as of a store sequence number; before a report the
//! writes since (the store's own log, `KvStore::changes_since`, the one the
//! standby stream reads) are read and every dossier a written key names is
//! read again. A store without such a log, a log that no longer reaches
//! back, or more changes than rebuilding costs: every row is read again,
//! as the report always did. The sums are taken in key order, as the scan
//! of every dossier took them, so the figures are exactly the scan's.

use super::Customers;
use crate::archive::records::{DossierMeta, DOSSIERS};
use crate::archive::ArchiveError;
use crate::domain::dossier::{Grade, Status};
use crate::domain::{DossierId, PrincipalId};
use crate::store::{Cf, Op};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use time::OffsetDateTime;

/// Bytes of the store's log read per call while catching up.
const LOG_SLICE: usize = 4 << 20;

/// One dossier as the report reads it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Row {
    pub region: String,
    pub owner: PrincipalId,
    pub grade: Grade,
    pub status: Status,
    pub updated_at: OffsetDateTime,
    /// When its review falls due; `None` for a closed dossier (never overdue).
    pub review_due: Option<OffsetDateTime>,
    /// The current figures by month: orders, amount, returns.
    pub figures: BTreeMap<(i32, u8), (u64, f64, u64)>,
    /// Interactions by kind (wire name).
    pub kinds: BTreeMap<String, u64>,
    /// The sum and the number of satisfaction scores given.
    pub satisfaction: (u64, u64),
    /// The industry, read from the sealed version when a report by
    /// industry first asks (`None`: not read yet).
    pub industry: Option<String>,
    current_version: u32,
}

struct Kept {
    /// Every write up to this sequence number is in the rows.
    seq: u64,
    rows: BTreeMap<String, Row>,
}

/// The rows, kept between reports.
#[derive(Default)]
pub(super) struct ReportRows {
    kept: Mutex<Option<Kept>>,
}

/// The dossier a row's figures and review come from, read now.
fn row_of(c: &Customers, meta: &DossierMeta) -> Result<Row, ArchiveError> {
    let figures = c.current_figures(&meta.id)?.into_iter().map(|(m, f)| (m, (f.orders, f.amount, f.returns))).collect();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut satisfaction = (0, 0);
    for i in crate::archive::interaction_records::interactions_of(c.store.as_ref(), &meta.id)? {
        *kinds.entry(crate::archive::wire_name(&i.kind)).or_default() += 1;
        if let Some(s) = i.satisfaction {
            satisfaction.0 += u64::from(s);
            satisfaction.1 += 1;
        }
    }
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
        review_due,
        figures,
        kinds,
        satisfaction,
        industry: None,
        current_version: meta.current_version,
    })
}

/// Every dossier's row, read now.
fn all_rows(c: &Customers) -> Result<BTreeMap<String, Row>, ArchiveError> {
    let mut rows = BTreeMap::new();
    for meta in c.dossiers.all_dossiers()? {
        if meta.destroyed.is_none() {
            rows.insert(meta.id.to_string(), row_of(c, &meta)?);
        }
    }
    Ok(rows)
}

/// The dossiers a write's keys name (any `dos_` id in a key of a family
/// that holds dossier records; a false match only costs a read).
fn named_dossiers(op: &Op, into: &mut BTreeSet<String>) {
    let (cf, key) = op.target();
    if matches!(cf, Cf::Audit | Cf::Merkle | Cf::AuditIndex | Cf::SubjectMap | Cf::Alerts) {
        return;
    }
    let mut at = 0;
    while let Some(i) = key[at..].windows(4).position(|w| w == b"dos_") {
        let start = at + i;
        let end = (start + 30).min(key.len());
        if let Ok(id) = std::str::from_utf8(&key[start..end]) {
            if DossierId::parse(id).is_ok() {
                into.insert(id.to_owned());
            }
        }
        at = start + 4;
    }
}

/// The dossiers written after `from` up to at least `to`, and the number
/// reached; `None` when the log cannot tell (no log, a gap, too much).
fn changed_since(c: &Customers, from: u64, to: u64, most: usize) -> Option<(BTreeSet<String>, u64)> {
    let mut ids = BTreeSet::new();
    let mut next = from + 1;
    while next <= to {
        let batch = c.store.changes_since(next, LOG_SLICE).ok()?;
        let first = batch.first()?;
        if first.seq > next {
            return None; // a gap: the log no longer holds `next`
        }
        let before = next;
        for logged in &batch {
            logged.ops.iter().for_each(|op| named_dossiers(op, &mut ids));
            next = next.max(logged.seq + logged.count);
        }
        if next == before {
            return None;
        }
        if ids.len() > most {
            return None;
        }
    }
    Some((ids, next - 1))
}

impl ReportRows {
    /// Runs `f` on every row, brought up to date with the store first;
    /// with `industry`, every row's industry read.
    pub(super) fn with_rows<T>(
        &self,
        c: &Customers,
        industry: bool,
        f: impl FnOnce(&BTreeMap<String, Row>) -> T,
    ) -> Result<T, ArchiveError> {
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let to = c.store.sequence();
        let fresh = match kept.as_mut() {
            // A store without a log: nothing can be kept.
            _ if to == 0 => None,
            Some(k) if k.seq >= to => Some(()),
            Some(k) => match changed_since(c, k.seq, to, k.rows.len() / 4 + 64) {
                Some((ids, reached)) => {
                    for id in ids {
                        let meta =
                            DossierId::parse(&id).ok().map(|d| DOSSIERS.get(c.store.as_ref(), &d)).transpose()?;
                        match meta.flatten().filter(|m| m.destroyed.is_none()) {
                            Some(m) => {
                                let mut row = row_of(c, &m)?;
                                if let Some(old) = k.rows.get(&id).filter(|o| o.current_version == row.current_version)
                                {
                                    row.industry.clone_from(&old.industry);
                                }
                                k.rows.insert(id, row);
                            }
                            None => {
                                k.rows.remove(&id);
                            }
                        }
                    }
                    k.seq = reached;
                    Some(())
                }
                None => None,
            },
            None => None,
        };
        if fresh.is_none() {
            // Read before the rows: a write between the two is read again.
            let seq = c.store.sequence();
            *kept = Some(Kept { seq, rows: all_rows(c)? });
        }
        let Some(k) = kept.as_mut() else {
            return Err(ArchiveError::Internal(anyhow::anyhow!("the report's rows are missing")));
        };
        if industry {
            for (id, row) in k.rows.iter_mut().filter(|(_, r)| r.industry.is_none()) {
                let Ok(did) = DossierId::parse(id) else { continue };
                let split = c.vault.open_version_split(&did, row.current_version)?;
                row.industry = Some(split.business.customer.industry.unwrap_or_else(|| "(none)".into()));
            }
        }
        let out = f(&k.rows);
        if to == 0 {
            *kept = None;
        }
        Ok(out)
    }
}
