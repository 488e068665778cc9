//! Audit queries for compliance officers: filters, a sequence-number cursor,
//! and a bound on the work one page may do.
//!
//! Time is a range of sequence numbers (times never go backwards along the
//! chain, so each bound is a binary search). The other filters are answered
//! from the audit indexes ([`super::index`]): one filter is a walk along its
//! rows, several are a leapfrog join of theirs (each seeks to the largest
//! sequence number any other has reached), so a page costs the rows it
//! skips, not the size of the log.

use super::entry::{hash_entry, AuditEntry, Outcome};
use super::entry_key;
use super::index::{self, Field, Term};
use crate::store::{Cf, KvStore, StoreError};
use time::OffsetDateTime;

/// How many index seeks one page may make before it returns what it has
/// (with a cursor to go on), so filters whose rows interleave without
/// meeting cannot pin a core.
const SEEK_BUDGET: usize = 10_000;
/// How many entries a page with no indexed filter (time and `allow` only)
/// may examine.
const SCAN_BUDGET: usize = 10_000;

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
            && self.to.is_none_or(|t| e.time <= t)
    }

    /// The index terms of the filters set, rarest-looking first (a
    /// resource or subject names few entries). A refusal or error outcome
    /// goes with the actor or action as one term where one is given.
    fn terms(&self) -> Vec<Term> {
        let mut t = Vec::new();
        if let Some(r) = &self.resource {
            t.push(index::term(Field::Resource, r));
        }
        if let Some(s) = &self.subject {
            t.push(index::term(Field::Subject, s));
        }
        let outcome = self.outcome.filter(|o| index::indexed(*o)).map(index::outcome_name);
        match (&self.actor, outcome) {
            (Some(a), Some(o)) => t.push(index::pair(Field::ActorOutcome, a, o)),
            (Some(a), None) => t.push(index::term(Field::Actor, a)),
            _ => {}
        }
        match (&self.action, outcome) {
            (Some(a), Some(o)) => t.push(index::pair(Field::ActionOutcome, a, o)),
            (Some(a), None) => t.push(index::term(Field::Action, a)),
            _ => {}
        }
        if let (Some(o), None, None) = (outcome, &self.actor, &self.action) {
            t.push(index::term(Field::Outcome, o));
        }
        t
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
    let start = match filter.from {
        Some(from) => cursor.max(first_where(store, head, |t| t >= from)?),
        None => cursor,
    };
    let end = match filter.to {
        Some(to) => first_where(store, head, |t| t > to)?,
        None => head,
    };
    let terms = filter.terms();
    let mut entries = Vec::new();
    let mut at = start;
    if terms.is_empty() {
        // The range itself (nearly every entry matches an `allow` filter).
        for (examined, row) in store.scan(Cf::Audit, b"", &entry_key(start)).enumerate() {
            let (_, raw) = row?;
            let e = decode(&raw)?;
            if e.seq >= end || entries.len() == limit || examined == SCAN_BUDGET {
                break;
            }
            at = e.seq + 1;
            if filter.matches(&e) {
                entries.push((e, hash_entry(&raw)));
            }
        }
    } else {
        let mut seeks = 0usize;
        'page: while at < end && entries.len() < limit {
            // Leapfrog: go round the terms until all of them have a row at `at`.
            let (mut agreed, mut i) = (0, 0);
            while agreed < terms.len() {
                if seeks == SEEK_BUDGET {
                    break 'page;
                }
                seeks += 1;
                match index::seek(store, &terms[i], at)? {
                    Some(s) if s == at => agreed += 1,
                    Some(s) if s < end => (at, agreed) = (s, 1),
                    _ => {
                        at = end;
                        break 'page;
                    }
                }
                i = (i + 1) % terms.len();
            }
            let raw = store
                .get(Cf::Audit, &entry_key(at))?
                .ok_or_else(|| StoreError::Backend(format!("audit entry {at} missing")))?;
            let e = decode(&raw)?;
            if filter.matches(&e) {
                entries.push((e, hash_entry(&raw)));
            }
            at += 1;
        }
    }
    Ok(AuditPage { entries, next_cursor: (at < end).then_some(at) })
}

/// Calls `f` on every entry before `head` that matches, page after page;
/// returns how many matched. For the subject export and the incident
/// derivation, which need all of them.
pub fn for_each_match(
    store: &dyn KvStore,
    filter: &AuditFilter,
    head: u64,
    mut f: impl FnMut(AuditEntry),
) -> Result<u64, StoreError> {
    let (mut cursor, mut n) = (0, 0u64);
    loop {
        let page = run(store, filter, cursor, 10_000, head)?;
        n += page.entries.len() as u64;
        page.entries.into_iter().for_each(|(e, _)| f(e));
        match page.next_cursor {
            Some(c) => cursor = c,
            None => return Ok(n),
        }
    }
}

/// For each `[from, to)` window: how many entries it holds (from the
/// sequence numbers at its ends, two binary searches on time) and how many
/// of them were refusals, counted through the outcome index up to `cap` (a
/// count that reaches `cap` means "at least").
pub fn activity(
    store: &dyn KvStore,
    windows: &[(OffsetDateTime, OffsetDateTime)],
    head: u64,
    cap: usize,
) -> Result<Vec<(u64, u64)>, StoreError> {
    let mut out = Vec::with_capacity(windows.len());
    for &(from, to) in windows {
        let start = first_where(store, head, |t| t >= from)?;
        let end = first_where(store, head, |t| t >= to)?;
        let filter = AuditFilter { outcome: Some(Outcome::Deny), from: Some(from), ..AuditFilter::default() };
        let (mut refused, mut cursor) = (0u64, start);
        loop {
            let page = run(store, &filter, cursor, cap.saturating_sub(refused as usize).max(1), end)?;
            refused += page.entries.len() as u64;
            match page.next_cursor {
                Some(c) if (refused as usize) < cap => cursor = c,
                _ => break,
            }
        }
        out.push((end.saturating_sub(start), refused));
    }
    Ok(out)
}

fn decode(raw: &[u8]) -> Result<AuditEntry, StoreError> {
    AuditEntry::decode(raw).map_err(|err| StoreError::Backend(format!("audit entry undecodable: {err}")))
}

/// The first sequence number whose entry's time satisfies `pred` (a
/// predicate false then true along the chain), or `head`.
fn first_where(store: &dyn KvStore, head: u64, pred: impl Fn(OffsetDateTime) -> bool) -> Result<u64, StoreError> {
    let (mut lo, mut hi) = (0u64, head);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let raw = store
            .get(Cf::Audit, &entry_key(mid))?
            .ok_or_else(|| StoreError::Backend(format!("audit entry {mid} missing")))?;
        if pred(decode(&raw)?.time) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

pub(crate) fn first_at_or_after(store: &dyn KvStore, t: OffsetDateTime, head: u64) -> Result<u64, StoreError> {
    first_where(store, head, |time| time >= t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::entry_for_tests;
    use crate::store::{keys, MemStore, Op};

    /// 300 entries a second apart: actor prn_{seq % 3}, resource dos_{seq % 10},
    /// every 7th denied.
    fn log() -> (MemStore, OffsetDateTime) {
        let store = MemStore::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let mut ops = vec![];
        for seq in 0..300u64 {
            let mut e = entry_for_tests(seq);
            e.time = t0 + time::Duration::seconds(seq as i64);
            e.body.actor = format!("prn_{}", seq % 3);
            e.body.resource = format!("dos_{}", seq % 10);
            e.body.outcome = if seq % 7 == 0 { Outcome::Deny } else { Outcome::Allow };
            ops.push(Op::Put(Cf::Audit, keys::audit_entry(seq).to_vec(), e.encode()));
            ops.extend(index::ops(&e));
        }
        store.write(&ops, true).unwrap();
        (store, t0)
    }

    fn seqs(p: &AuditPage) -> Vec<u64> {
        p.entries.iter().map(|(e, _)| e.seq).collect()
    }

    #[test]
    fn combined_filters_return_exactly_the_matching_entries_in_order() {
        let (store, t0) = log();
        let f = AuditFilter {
            actor: Some("prn_1".into()),
            resource: Some("dos_4".into()),
            outcome: Some(Outcome::Deny),
            ..Default::default()
        };
        let want: Vec<u64> = (0..300).filter(|s| s % 3 == 1 && s % 10 == 4 && s % 7 == 0).collect();
        assert_eq!(want, vec![154]);
        let page = run(&store, &f, 0, 50, 300).unwrap();
        assert_eq!(seqs(&page), want);
        assert_eq!(page.next_cursor, None);
        // Time bounds as a sequence range, inclusive of `to`.
        let f = AuditFilter {
            actor: Some("prn_0".into()),
            from: Some(t0 + time::Duration::seconds(10)),
            to: Some(t0 + time::Duration::seconds(21)),
            ..Default::default()
        };
        assert_eq!(seqs(&run(&store, &f, 0, 50, 300).unwrap()), vec![12, 15, 18, 21]);
    }

    #[test]
    fn pages_follow_the_cursor_and_the_head_bounds_them() {
        let (store, _) = log();
        let f = AuditFilter { resource: Some("dos_3".into()), ..Default::default() };
        let first = run(&store, &f, 0, 4, 300).unwrap();
        assert_eq!(seqs(&first), vec![3, 13, 23, 33]);
        let second = run(&store, &f, first.next_cursor.unwrap(), 4, 300).unwrap();
        assert_eq!(seqs(&second), vec![43, 53, 63, 73]);
        // Entries at or past the head (not yet acknowledged) are not shown.
        let bounded = run(&store, &f, 0, 100, 50).unwrap();
        assert_eq!(seqs(&bounded), vec![3, 13, 23, 33, 43]);
        assert_eq!(bounded.next_cursor, None);
        let mut all = vec![];
        assert_eq!(for_each_match(&store, &f, 300, |e| all.push(e.seq)).unwrap(), 30);
        assert_eq!(all.len(), 30);
        // No indexed filter: the range itself.
        let none = run(&store, &AuditFilter::default(), 295, 10, 300).unwrap();
        assert_eq!(seqs(&none), vec![295, 296, 297, 298, 299]);
    }

    #[test]
    fn on_a_realistic_log_every_combination_finds_what_a_full_scan_finds() {
        use crate::audit::synthetic::{self, actor, dossier, subject, RARE_ACTOR};
        let store = MemStore::default();
        let n = 20_000;
        synthetic::fill(&store, n).unwrap();
        let all: Vec<AuditEntry> =
            store.scan(Cf::Audit, b"", b"").map(|r| AuditEntry::decode(&r.unwrap().1).unwrap()).collect();
        let mid = all[n as usize / 2].time;
        let busy = all[10].body.actor.clone();
        let d = all[20].body.resource.clone();
        let filters = [
            AuditFilter { actor: Some(busy.clone()), ..Default::default() },
            AuditFilter { actor: Some(RARE_ACTOR.into()), ..Default::default() },
            AuditFilter { actor: Some(busy.clone()), outcome: Some(Outcome::Deny), ..Default::default() },
            AuditFilter {
                actor: Some(busy.clone()),
                action: Some("dossier.update".into()),
                from: Some(mid),
                ..Default::default()
            },
            AuditFilter { resource: Some(d.clone()), ..Default::default() },
            AuditFilter { resource: Some(d), actor: Some(actor(3)), ..Default::default() },
            AuditFilter { subject: Some(subject(2 * 7)), ..Default::default() },
            AuditFilter { action: Some("dossier.destroy".into()), outcome: Some(Outcome::Allow), ..Default::default() },
            AuditFilter { action: Some("search".into()), to: Some(mid), ..Default::default() },
            AuditFilter { outcome: Some(Outcome::Allow), from: Some(mid), ..Default::default() },
            AuditFilter { outcome: Some(Outcome::Error), ..Default::default() },
            AuditFilter { action: Some("dossier.update".into()), outcome: Some(Outcome::Deny), ..Default::default() },
            AuditFilter {
                actor: Some(busy.clone()),
                action: Some("dossier.read".into()),
                outcome: Some(Outcome::Deny),
                ..Default::default()
            },
            AuditFilter { resource: Some(dossier(999_999_999)), ..Default::default() },
        ];
        for f in &filters {
            let want: Vec<u64> = all.iter().filter(|e| f.matches(e)).map(|e| e.seq).collect();
            let mut got = vec![];
            for_each_match(&store, f, n, |e| got.push(e.seq)).unwrap();
            assert_eq!(got, want, "{f:?}");
        }
    }

    #[test]
    fn a_value_never_logged_returns_nothing_at_once() {
        let (store, _) = log();
        let f = AuditFilter { actor: Some("prn_9".into()), action: Some("dossier.read".into()), ..Default::default() };
        let page = run(&store, &f, 0, 50, 300).unwrap();
        assert!(page.entries.is_empty());
        assert_eq!(page.next_cursor, None);
    }
}
