//! Secondary indexes over the audit log: actor, resource, subject, action
//! and outcome when not `allow` (time needs none: it never goes backwards
//! along the chain).
//!
//! A row is `<field tag><first 16 bytes of SHA-256(value)><seq u64 BE>`
//! with an empty value, in [`Cf::AuditIndex`]. Rows are written in the same
//! batch as their entry (the writer, a restore's replay, the synthetic
//! filler), so an entry is never durable without its rows. Hashing gives
//! every row the same short length whatever the value (a resource name may
//! be long); a query re-checks each entry it returns against its filter, so
//! a collision could never return a wrong entry.
//!
//! The rows of one value are ordered by sequence number, so a page of a
//! filter is a seek and a short walk, and a combination of filters is a
//! leapfrog join of their rows: the cost of a page depends on the rows
//! skipped over, not on how many entries the log holds.

use super::entry::{AuditEntry, Outcome};
use crate::store::{keys, Cf, KvStore, Op, StoreError};
use sha2::{Digest, Sha256};

/// Which field a row indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Actor,
    Resource,
    Subject,
    Action,
    Outcome,
    /// Actor and outcome together (refusals and errors only).
    ActorOutcome,
    /// Action and outcome together (refusals and errors only).
    ActionOutcome,
}

impl Field {
    fn tag(self) -> u8 {
        match self {
            Field::Actor => b'a',
            Field::Resource => b'r',
            Field::Subject => b's',
            Field::Action => b'c',
            Field::Outcome => b'o',
            Field::ActorOutcome => b'A',
            Field::ActionOutcome => b'C',
        }
    }
}

/// The rows' common prefix for one field and value.
pub type Term = [u8; 17];

pub fn term(field: Field, value: &str) -> Term {
    let mut t = [0u8; 17];
    t[0] = field.tag();
    t[1..].copy_from_slice(&Sha256::digest(value.as_bytes())[..16]);
    t
}

/// The term of two values together (`actor` or `action` with an outcome):
/// "this employee's refusals" is one walk, not a join of two long lists.
pub fn pair(field: Field, value: &str, outcome: &str) -> Term {
    term(field, &format!("{value}\0{outcome}"))
}

pub fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::Error => "error",
    }
}

/// Whether an outcome has index rows: refusals and errors (the rare ones an
/// officer looks for). `allow` is nearly every entry: a filter on it is
/// checked on the entries the other filters find, and rows for it would
/// cost every read a write for nothing.
pub fn indexed(o: Outcome) -> bool {
    o != Outcome::Allow
}

/// Every index row of an entry (a subject named twice is indexed once).
pub fn rows(e: &AuditEntry) -> Vec<[u8; 25]> {
    let b = &e.body;
    let mut terms =
        vec![term(Field::Actor, &b.actor), term(Field::Resource, &b.resource), term(Field::Action, &b.action)];
    if indexed(b.outcome) {
        let o = outcome_name(b.outcome);
        terms.push(term(Field::Outcome, o));
        terms.push(pair(Field::ActorOutcome, &b.actor, o));
        terms.push(pair(Field::ActionOutcome, &b.action, o));
    }
    for s in &b.subjects {
        let t = term(Field::Subject, s);
        if !terms.contains(&t) {
            terms.push(t);
        }
    }
    terms.iter().map(|t| keys::audit_index(t, e.seq)).collect()
}

/// The ops writing an entry's rows.
pub fn ops(e: &AuditEntry) -> impl Iterator<Item = Op> {
    rows(e).into_iter().map(|k| Op::Put(Cf::AuditIndex, k.to_vec(), Vec::new()))
}

/// The first sequence number at or after `from` that `term` indexes.
pub fn seek(store: &dyn KvStore, term: &Term, from: u64) -> Result<Option<u64>, StoreError> {
    let row = store.first(Cf::AuditIndex, term, &keys::audit_index(term, from))?;
    Ok(row.and_then(|(k, _)| k.get(17..25).and_then(|s| s.try_into().ok())).map(u64::from_be_bytes))
}

/// Rebuilds every row from the log: removes what is there, writes the rows
/// of entries `0..head` in large batches, then the marker. For a data
/// directory from before the indexes, and `custos audit reindex`.
pub fn rebuild(store: &dyn KvStore, head: u64, mut progress: impl FnMut(u64)) -> Result<u64, StoreError> {
    let mut ops: Vec<Op> = Vec::new();
    // Old rows first (a rebuild after damage must not keep a forged row).
    store.write(&[Op::Delete(Cf::System, keys::AUDIT_INDEX_MARKER.to_vec())], true)?;
    let mut failed = None;
    store.for_each(Cf::AuditIndex, b"", &mut |k, _| {
        ops.push(Op::Delete(Cf::AuditIndex, k.to_vec()));
        if ops.len() >= 100_000 {
            if let Err(e) = store.write(&std::mem::take(&mut ops), false) {
                failed = Some(e);
                return false;
            }
        }
        true
    })?;
    if let Some(e) = failed.take() {
        return Err(e);
    }
    let mut n = 0u64;
    store.for_each(Cf::Audit, b"", &mut |_, raw| {
        let e = match AuditEntry::decode(raw) {
            Ok(e) if e.seq < head => e,
            Ok(_) => return false,
            Err(err) => {
                failed = Some(StoreError::Backend(format!("audit entry {n} undecodable: {err}")));
                return false;
            }
        };
        ops.extend(self::ops(&e));
        n += 1;
        if ops.len() >= 100_000 {
            progress(n);
            if let Err(e) = store.write(&std::mem::take(&mut ops), false) {
                failed = Some(e);
                return false;
            }
        }
        true
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    ops.push(Op::Put(Cf::System, keys::AUDIT_INDEX_MARKER.to_vec(), MARKER_V1.to_vec()));
    store.write(&ops, true)?;
    progress(n);
    Ok(n)
}

/// The marker's value: the rows of every entry are present, in this layout.
pub const MARKER_V1: &[u8] = b"v1";

/// Whether the indexes are complete (written since the log began or
/// rebuilt), per the marker.
pub fn is_complete(store: &dyn KvStore) -> Result<bool, StoreError> {
    Ok(store.get(Cf::System, keys::AUDIT_INDEX_MARKER)?.as_deref() == Some(MARKER_V1))
}

/// Makes the indexes complete: a no-op when the marker says so; a rebuild
/// for a data directory from before the indexes.
pub fn ensure(store: &dyn KvStore, head: u64) -> Result<(), StoreError> {
    if is_complete(store)? {
        return Ok(());
    }
    tracing::info!(entries = head, "building the audit indexes");
    rebuild(store, head, |_| {})?;
    Ok(())
}

/// An order-independent digest of a set of rows: the sum of their SHA-256
/// hashes modulo 2^256, and their count.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct RowSum {
    count: u64,
    sum: [u64; 4],
}

impl RowSum {
    fn add(&mut self, key: &[u8]) {
        let h = Sha256::digest(key);
        let mut carry = 0u128;
        for (i, limb) in self.sum.iter_mut().enumerate() {
            let x = u64::from_le_bytes(h[i * 8..i * 8 + 8].try_into().unwrap_or_default());
            let s = *limb as u128 + x as u128 + carry;
            *limb = s as u64;
            carry = s >> 64;
        }
        self.count += 1;
    }
}

/// Checks the indexes against the log (`custos audit verify --deep`): every
/// row points at an entry that has that value, and every entry's rows are
/// there. One pass over each (their digests compared); on a difference, a
/// second pass names the first row or entry at fault.
pub fn check(store: &dyn KvStore, head: u64) -> Result<u64, String> {
    if !is_complete(store).map_err(|e| e.to_string())? {
        return Err("the audit indexes are not built (custos audit reindex)".into());
    }
    let (expected, actual) = std::thread::scope(|scope| {
        let actual = scope.spawn(|| {
            let mut sum = RowSum::default();
            store.for_each(Cf::AuditIndex, b"", &mut |k, _| {
                sum.add(k);
                true
            })?;
            Ok::<_, StoreError>(sum)
        });
        let mut sum = RowSum::default();
        let mut bad = None;
        let expected = store.for_each(Cf::Audit, b"", &mut |_, raw| match AuditEntry::decode(raw) {
            Ok(e) if e.seq < head => {
                for r in rows(&e) {
                    sum.add(&r);
                }
                true
            }
            Ok(_) => false,
            Err(err) => {
                bad = Some(err.to_string());
                false
            }
        });
        let actual = actual.join().unwrap_or_else(|_| Err(StoreError::Backend("index reader failed".into())));
        (expected.map(|()| (sum, bad)), actual)
    });
    let (expected, bad) = expected.map_err(|e| e.to_string())?;
    if let Some(b) = bad {
        return Err(format!("an audit entry is undecodable: {b}"));
    }
    let actual = actual.map_err(|e| e.to_string())?;
    if expected == actual {
        return Ok(actual.count);
    }
    Err(locate_difference(store, head)
        .unwrap_or_else(|| format!("the index holds {} rows, the entries need {}", actual.count, expected.count)))
}

/// Names the first index row without its entry value, or the first entry
/// missing a row.
fn locate_difference(store: &dyn KvStore, head: u64) -> Option<String> {
    let mut found = None;
    let _ = store.for_each(Cf::AuditIndex, b"", &mut |k, _| {
        let seq = k.get(17..25).and_then(|s| s.try_into().ok()).map(u64::from_be_bytes);
        let entry = seq
            .filter(|s| *s < head)
            .and_then(|s| store.get(Cf::Audit, &keys::audit_entry(s)).ok().flatten())
            .and_then(|raw| AuditEntry::decode(&raw).ok());
        match (seq, entry) {
            (Some(_), Some(e)) if rows(&e).iter().any(|r| r.as_slice() == k) => true,
            (Some(s), _) => {
                found = Some(format!("index row for entry {s} does not match that entry"));
                false
            }
            (None, _) => {
                found = Some("malformed index row".into());
                false
            }
        }
    });
    if found.is_some() {
        return found;
    }
    let _ = store.for_each(Cf::Audit, b"", &mut |_, raw| {
        let Ok(e) = AuditEntry::decode(raw) else { return false };
        if e.seq >= head {
            return false;
        }
        for r in rows(&e) {
            if !matches!(store.get(Cf::AuditIndex, &r), Ok(Some(_))) {
                found = Some(format!("entry {} is missing from the index", e.seq));
                return false;
            }
        }
        true
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::entry_for_tests;
    use crate::store::MemStore;

    fn store_with(n: u64) -> MemStore {
        let store = MemStore::default();
        let mut ops = vec![];
        for seq in 0..n {
            let mut e = entry_for_tests(seq);
            e.body.actor = format!("prn_{}", seq % 3);
            ops.push(Op::Put(Cf::Audit, keys::audit_entry(seq).to_vec(), e.encode()));
            ops.extend(super::ops(&e));
        }
        ops.push(Op::Put(Cf::System, keys::AUDIT_INDEX_MARKER.to_vec(), MARKER_V1.to_vec()));
        store.write(&ops, true).unwrap();
        store
    }

    #[test]
    fn seek_finds_the_next_row_of_a_value() {
        let store = store_with(10);
        let t = term(Field::Actor, "prn_1");
        assert_eq!(seek(&store, &t, 0).unwrap(), Some(1));
        assert_eq!(seek(&store, &t, 2).unwrap(), Some(4));
        assert_eq!(seek(&store, &t, 8).unwrap(), None);
        assert_eq!(seek(&store, &term(Field::Actor, "prn_9"), 0).unwrap(), None);
    }

    #[test]
    fn check_passes_on_an_intact_index_and_names_a_forged_or_missing_row() {
        let store = store_with(20);
        assert!(check(&store, 20).is_ok());
        // A forged row: entry 5 is said to be prn_1's.
        let forged = keys::audit_index(&term(Field::Actor, "prn_1"), 5);
        store.write(&[Op::Put(Cf::AuditIndex, forged.to_vec(), vec![])], false).unwrap();
        let err = check(&store, 20).unwrap_err();
        assert!(err.contains("entry 5"), "{err}");
        store.write(&[Op::Delete(Cf::AuditIndex, forged.to_vec())], false).unwrap();
        // A missing row: entry 7's actor row deleted.
        let e7 = AuditEntry::decode(&store.get(Cf::Audit, &keys::audit_entry(7)).unwrap().unwrap()).unwrap();
        let row = keys::audit_index(&term(Field::Actor, &e7.body.actor), 7);
        store.write(&[Op::Delete(Cf::AuditIndex, row.to_vec())], false).unwrap();
        let err = check(&store, 20).unwrap_err();
        assert!(err.contains("entry 7 is missing"), "{err}");
        // A rebuild restores it.
        assert_eq!(rebuild(&store, 20, |_| {}).unwrap(), 20);
        assert!(check(&store, 20).is_ok());
    }

    #[test]
    fn an_unbuilt_index_is_reported_and_ensure_builds_it() {
        let store = store_with(5);
        store.write(&[Op::Delete(Cf::System, keys::AUDIT_INDEX_MARKER.to_vec())], false).unwrap();
        assert!(check(&store, 5).unwrap_err().contains("reindex"));
        ensure(&store, 5).unwrap();
        assert!(check(&store, 5).is_ok());
    }
}
