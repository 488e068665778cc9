//! Audit queries for compliance officers: filters, a sequence-number cursor,
//! and a bound on the work one page may do.

use super::entry::{hash_entry, AuditEntry, Outcome};
use super::entry_key;
use crate::store::{Cf, KvStore, StoreError};
use time::OffsetDateTime;

/// How many entries one page may examine before it returns what it has
/// (with a cursor to go on), so a sparse filter cannot pin a core.
const SCAN_BUDGET: usize = 200_000;

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub resource: Option<String>,
    pub subject: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
}

impl AuditFilter {
    fn matches(&self, e: &AuditEntry) -> bool {
        self.actor.as_ref().is_none_or(|a| &e.body.actor == a)
            && self.resource.as_ref().is_none_or(|r| &e.body.resource == r)
            && self.subject.as_ref().is_none_or(|s| e.body.subjects.contains(s))
            && self.action.as_ref().is_none_or(|a| &e.body.action == a)
            && self.outcome.is_none_or(|o| e.body.outcome == o)
            && self.from.is_none_or(|f| e.time >= f)
    }
}

pub struct AuditPage {
    pub entries: Vec<(AuditEntry, [u8; 32])>,
    pub next_cursor: Option<u64>,
}

/// Entries from `cursor` on (ascending), at most `limit`, that match.
/// `head` is the number of entries in the log.
pub fn run(
    store: &dyn KvStore,
    filter: &AuditFilter,
    cursor: u64,
    limit: usize,
    head: u64,
) -> Result<AuditPage, StoreError> {
    // Times never go backwards along the chain, so `from` is a binary search.
    let start = match filter.from {
        Some(from) => cursor.max(first_at_or_after(store, from, head)?),
        None => cursor,
    };
    let mut entries = Vec::new();
    let mut examined = 0usize;
    let mut next = start;
    for row in store.scan(Cf::Audit, b"", &entry_key(start)) {
        let (_, raw) = row?;
        let e =
            AuditEntry::decode(&raw).map_err(|err| StoreError::Backend(format!("audit entry undecodable: {err}")))?;
        if e.seq >= head {
            break;
        }
        if filter.to.is_some_and(|to| e.time > to) {
            return Ok(AuditPage { entries, next_cursor: None });
        }
        next = e.seq + 1;
        examined += 1;
        if filter.matches(&e) {
            let h = hash_entry(&raw);
            entries.push((e, h));
            if entries.len() == limit {
                break;
            }
        }
        if examined >= SCAN_BUDGET {
            break;
        }
    }
    let next_cursor = (next < head && (entries.len() == limit || examined >= SCAN_BUDGET)).then_some(next);
    Ok(AuditPage { entries, next_cursor })
}

pub(crate) fn first_at_or_after(store: &dyn KvStore, t: OffsetDateTime, head: u64) -> Result<u64, StoreError> {
    let (mut lo, mut hi) = (0u64, head);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let raw = store
            .get(Cf::Audit, &entry_key(mid))?
            .ok_or_else(|| StoreError::Backend(format!("audit entry {mid} missing")))?;
        let e =
            AuditEntry::decode(&raw).map_err(|err| StoreError::Backend(format!("audit entry undecodable: {err}")))?;
        if e.time < t {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}
