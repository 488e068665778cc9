//! Rows derived from the store's records, kept in memory between requests
//! so that a page over every dossier does not read every dossier's records
//! per request (the report's rows, retention's facts, the work lists).
//!
//! DESIGN: a [`Kept`] holds one row per id (a dossier's, a subject's). It
//! registers a hook with the store (`KvStore::on_write`) before it first
//! reads every row; after each committed write the hook notes the ids the
//! written keys name (ids only, no value). Before each use, the rows of the
//! noted ids are read again from the store. A write committed while rows
//! are read is noted too, so it is read again at the next use at the
//! latest; a row is never older than the use before. Too many noted ids
//! (more than a quarter of the rows, or the bound on what is noted), a
//! failed read, or a store without hooks: every row is read again, as a
//! scan always did. So what a use sees is what a scan of the store would
//! give; only the cost differs. (The hook runs inside `KvStore::write`
//! after the commit, so every write whose call has returned is seen; one
//! still inside its call when a use begins may be seen at the next use,
//! as if the use had read just before it.)

use crate::archive::ArchiveError;
use crate::domain::{DossierId, SubjectId};
use crate::store::{Cf, KvStore, Op};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Ids noted at most between two uses; past this every row is read again.
const MAX_NOTED: usize = 1 << 18;

/// How a kind of row is read from the store.
pub(crate) trait Derive {
    type Row;
    /// Every row, read now.
    fn read_all(&self) -> Result<BTreeMap<String, Self::Row>, ArchiveError>;
    /// The row of `id` read now (`None`: it has none, e.g. destroyed);
    /// `old` is the row kept so far, for what is costly to read again.
    fn read_one(&self, id: &str, old: Option<&Self::Row>) -> Result<Option<Self::Row>, ArchiveError>;
    /// The id prefixes (`dos_`, `sub_`) whose ids in a written key name a row.
    fn prefixes(&self) -> &'static [&'static str];
}

/// The ids written since the last use.
#[derive(Default)]
struct Noted {
    ids: BTreeSet<String>,
    /// More than [`MAX_NOTED`]: the ids were dropped.
    overflow: bool,
}

/// Rows of one kind, kept between uses.
pub(crate) struct Kept<R> {
    rows: Mutex<Option<BTreeMap<String, R>>>,
    noted: Arc<Mutex<Noted>>,
    /// Whether the store calls the hook (set at the first use).
    hooked: OnceLock<bool>,
    /// How often every row was read (the first use included).
    full_reads: AtomicU64,
}

impl<R> Default for Kept<R> {
    fn default() -> Self {
        Kept { rows: Mutex::new(None), noted: Arc::default(), hooked: OnceLock::new(), full_reads: AtomicU64::new(0) }
    }
}

/// The dossier and subject ids under `prefixes` in a write's key (a false
/// match only costs a read). The
/// audit log's families never name a row.
fn named_ids(op: &Op, prefixes: &[&str], into: &mut BTreeSet<String>) {
    let (cf, key) = op.target();
    if matches!(cf, Cf::Audit | Cf::Merkle | Cf::AuditIndex | Cf::SubjectMap | Cf::Alerts) {
        return;
    }
    for prefix in prefixes {
        let p = prefix.as_bytes();
        let mut at = 0;
        while let Some(i) = key[at..].windows(p.len()).position(|w| w == p) {
            let start = at + i;
            // An id is what the domain's own parsers accept.
            let candidate = key.get(start..start + p.len() + 26).and_then(|c| std::str::from_utf8(c).ok());
            if let Some(id) = candidate.filter(|c| DossierId::parse(c).is_ok() || SubjectId::parse(c).is_ok()) {
                into.insert(id.to_owned());
            }
            at = start + p.len();
        }
    }
}

impl<R> Kept<R> {
    /// Whether the store notes writes for these rows; registers the hook
    /// at the first call.
    fn hooked(&self, store: &dyn KvStore, prefixes: &'static [&'static str]) -> bool {
        *self.hooked.get_or_init(|| {
            let noted = self.noted.clone();
            store.on_write(Box::new(move |ops| {
                let mut n = noted.lock().unwrap_or_else(PoisonError::into_inner);
                if n.overflow {
                    return;
                }
                ops.iter().for_each(|op| named_ids(op, prefixes, &mut n.ids));
                if n.ids.len() > MAX_NOTED {
                    n.ids.clear();
                    n.overflow = true;
                }
            }))
        })
    }

    /// Runs `f` on every row, brought up to date with the store first.
    pub(crate) fn with<T>(
        &self,
        store: &dyn KvStore,
        derive: &impl Derive<Row = R>,
        f: impl FnOnce(&mut BTreeMap<String, R>) -> Result<T, ArchiveError>,
    ) -> Result<T, ArchiveError> {
        if !self.hooked(store, derive.prefixes()) {
            // Nothing tells what changed: every row, every time.
            self.full_reads.fetch_add(1, Ordering::Relaxed);
            return f(&mut derive.read_all()?);
        }
        let mut kept = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        // Taken before the rows are read: a write after this is noted anew.
        let noted = std::mem::take(&mut *self.noted.lock().unwrap_or_else(PoisonError::into_inner));
        let read_again = match kept.as_mut() {
            Some(rows) if !noted.overflow && noted.ids.len() <= rows.len() / 4 + 64 => {
                noted.ids.into_iter().try_for_each(|id| {
                    match derive.read_one(&id, rows.get(&id))? {
                        Some(row) => rows.insert(id, row),
                        None => rows.remove(&id),
                    };
                    Ok::<(), ArchiveError>(())
                })
            }
            _ => {
                if kept.is_some() {
                    tracing::debug!(noted = noted.ids.len(), overflow = noted.overflow, "every kept row is read again");
                }
                *kept = None;
                self.full_reads.fetch_add(1, Ordering::Relaxed);
                derive.read_all().map(|rows| *kept = Some(rows))
            }
        };
        if let Err(e) = read_again {
            // The noted ids are gone: nothing half-read is kept.
            *kept = None;
            return Err(e);
        }
        let Some(rows) = kept.as_mut() else {
            return Err(ArchiveError::Internal(anyhow::anyhow!("the kept rows are missing")));
        };
        f(rows)
    }

    /// How often every row was read so far.
    #[cfg(test)]
    pub(crate) fn full_reads(&self) -> u64 {
        self.full_reads.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_the_ids_it_holds_and_the_audit_log_names_none() {
        let d = "dos_0123456789abcdefghijklmnop";
        let s = "sub_abcdefghijklmnop0123456789";
        let mut ids = BTreeSet::new();
        let key = format!("l/{s}/{d}");
        named_ids(&Op::Delete(Cf::Subjects, key.into_bytes()), &["dos_", "sub_"], &mut ids);
        assert_eq!(ids, BTreeSet::from([d.to_owned(), s.to_owned()]));
        let mut none = BTreeSet::new();
        named_ids(&Op::Delete(Cf::Audit, d.as_bytes().to_vec()), &["dos_"], &mut none);
        named_ids(&Op::Delete(Cf::Dossiers, b"dos_short".to_vec()), &["dos_"], &mut none);
        named_ids(&Op::Delete(Cf::Dossiers, b"dos_0123456789ABCDEFGHIJKLMNOP".to_vec()), &["dos_"], &mut none);
        assert!(none.is_empty(), "{none:?}");
    }

    /// Rows of `dos_` keys in `Cf::Dossiers`: the value, as text.
    struct Values<'a>(&'a crate::store::MemStore, std::cell::Cell<usize>);

    impl Derive for Values<'_> {
        type Row = String;
        fn read_all(&self) -> Result<BTreeMap<String, String>, ArchiveError> {
            let rows = self.0.scan(Cf::Dossiers, b"", b"").map(|r| {
                let (k, v) = r.unwrap();
                (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
            });
            Ok(rows.collect())
        }
        fn read_one(&self, id: &str, _old: Option<&String>) -> Result<Option<String>, ArchiveError> {
            self.1.set(self.1.get() + 1);
            Ok(self.0.get(Cf::Dossiers, id.as_bytes())?.map(|v| String::from_utf8(v).unwrap()))
        }
        fn prefixes(&self) -> &'static [&'static str] {
            &["dos_"]
        }
    }

    #[test]
    fn a_write_is_read_again_by_itself_and_too_many_read_everything_again() {
        let store = crate::store::MemStore::default();
        let id = |n: usize| format!("dos_{n:026}");
        let put = |n: usize, v: &str| Op::Put(Cf::Dossiers, id(n).into_bytes(), v.as_bytes().to_vec());
        store.write(&(0..400).map(|n| put(n, "a")).collect::<Vec<_>>(), false).unwrap();
        let kept: Kept<String> = Kept::default();
        let d = Values(&store, std::cell::Cell::new(0));
        let all = |k: &Kept<String>| k.with(&store, &d, |rows| Ok(rows.clone())).unwrap();
        assert_eq!(all(&kept).len(), 400);

        store.write(&[put(7, "b"), Op::Delete(Cf::Dossiers, id(8).into_bytes()), put(400, "new")], false).unwrap();
        store.write(&[Op::Put(Cf::Audit, id(9).into_bytes(), b"x".to_vec())], false).unwrap();
        let rows = all(&kept);
        assert_eq!((rows[&id(7)].as_str(), rows.get(&id(8)), rows[&id(400)].as_str()), ("b", None, "new"));
        assert_eq!(d.1.get(), 3, "the three named rows were read again, the audit log's key named none");
        assert_eq!(kept.full_reads(), 1);
        assert_eq!(rows, d.read_all().unwrap(), "what a scan gives");

        // More than a quarter of the rows written: every row read again.
        store.write(&(0..200).map(|n| put(n, "c")).collect::<Vec<_>>(), false).unwrap();
        assert_eq!(all(&kept), d.read_all().unwrap());
        assert_eq!((kept.full_reads(), d.1.get()), (2, 3));
    }
}
