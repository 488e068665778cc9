//! Storage: an ordered key-value store with column families, atomic durable
//! batches, and a purge that makes deletions physical.
//!
//! The archive holds the store as `Arc<dyn KvStore>`; RocksDB is the embedded
//! default and [`MemStore`] serves unit tests. Both pass the same contract
//! suite (`contract_tests` below).

pub mod codec;
pub mod hooks;
pub mod keys;
mod lookup;
mod marks;
mod mem;
mod rocks;
mod table;

pub use lookup::{Lookup, Named};
pub use marks::Marks;
pub use mem::MemStore;
pub use rocks::{AuditCompression, RocksStore, DEFAULT_BLOCK_CACHE_BYTES};
pub use table::{Change, Guard, Held, Table};

/// Column families. Plaintext metadata never holds personal data; dossier
/// content lives only in `Versions`, sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cf {
    /// Initialisation marker, master-key fingerprint, audit chain head.
    System,
    /// Principals (`p/<id>`), tokens (`t/<id>`), token hash index (`h/<hex>`).
    Principals,
    /// Dossier metadata (owner, region, grade, status, current version).
    Dossiers,
    /// Dossier versions: `<dossier id>/<version u32 BE>` → sealed record.
    Versions,
    /// Subject metadata (dossiers that name the person, status).
    Subjects,
    /// Wrapped data keys (`d/<dossier id>`, `s/<subject id>`).
    Keys,
    /// Audit entries: `<seq u64 BE>` → canonical entry bytes.
    Audit,
    /// Merkle tree over the audit entries: `<level u8><index u64 BE>` → the
    /// hash of that complete subtree.
    Merkle,
    /// Secondary indexes over the audit log (actor, resource, subject,
    /// action, outcome): `<field><value hash><seq u64 BE>` → empty.
    AuditIndex,
    /// Unusual-access alerts: `<audit seq u64 BE>` → alert record.
    Alerts,
    /// Retention and destruction: legal holds (`h/<dossier>/<hold>`),
    /// disposition batches (`b/<batch>`), certificates (`c/<certificate>`).
    Disposition,
    /// Documents: metadata (`m/<dossier>/<name>`) and sealed chunks
    /// (`c/<dossier>/<upload>/<n u32 BE>`).
    Documents,
    /// The compliance registers: data-subject requests (`r/<req>`),
    /// incidents (`i/<inc>`) and their affected-person lists
    /// (`a/<inc>/<n u32 BE>`), bulk exports (`x/<exp>`).
    Registers,
    /// The subject map over the audit log: `<map key>` → count, last
    /// sequence number and hash chain of the entries naming that person
    /// (`audit::subject_map`). Derived from the log; rebuilt when missing.
    SubjectMap,
}

impl Cf {
    pub const ALL: [Cf; 14] = [
        Cf::System,
        Cf::Principals,
        Cf::Dossiers,
        Cf::Versions,
        Cf::Subjects,
        Cf::Keys,
        Cf::Audit,
        Cf::Merkle,
        Cf::AuditIndex,
        Cf::Alerts,
        Cf::Disposition,
        Cf::Documents,
        Cf::Registers,
        Cf::SubjectMap,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cf::System => "system",
            Cf::Principals => "principals",
            Cf::Dossiers => "dossiers",
            Cf::Versions => "versions",
            Cf::Subjects => "subjects",
            Cf::Keys => "keys",
            Cf::Audit => "audit",
            Cf::Merkle => "merkle",
            Cf::AuditIndex => "audit_index",
            Cf::Alerts => "alerts",
            Cf::Disposition => "disposition",
            Cf::Documents => "documents",
            Cf::Registers => "registers",
            Cf::SubjectMap => "subject_map",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
}

impl Op {
    pub fn target(&self) -> (Cf, &[u8]) {
        match self {
            Op::Put(cf, k, _) | Op::Delete(cf, k) => (*cf, k),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Backend(String),
    /// A stored record that does not decode as its table's type.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

pub type KvPair = (Vec<u8>, Vec<u8>);

/// One atomic write as the store's log recorded it: its first sequence
/// number, how many numbers it took (one per op) and its ops. What the
/// standby stream ships and a standby applies, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub seq: u64,
    pub count: u64,
    pub ops: Vec<Op>,
}
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<KvPair, StoreError>> + 'a>;

pub trait KvStore: Send + Sync {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Applies all ops atomically; with `durable` the call returns only once
    /// the batch is on stable storage (synced WAL).
    fn write(&self, ops: &[Op], durable: bool) -> Result<(), StoreError>;
    /// Entries with key >= `from` that start with `prefix`, in key order.
    fn scan<'a>(&'a self, cf: Cf, prefix: &[u8], from: &[u8]) -> KvIter<'a>;
    /// Calls `f` on every entry with key >= `from`, in key order, without
    /// allocating per entry, until `f` returns false. For long scans.
    fn for_each(&self, cf: Cf, from: &[u8], f: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        for row in self.scan(cf, b"", from) {
            let (k, v) = row?;
            if !f(&k, &v) {
                break;
            }
        }
        Ok(())
    }
    /// The first entry with key >= `from` that starts with `prefix`: one
    /// seek (what the audit indexes' joins are made of).
    fn first(&self, cf: Cf, prefix: &[u8], from: &[u8]) -> Result<Option<KvPair>, StoreError> {
        self.scan(cf, prefix, from).next().transpose()
    }
    /// The entry with the greatest key, if any.
    fn last(&self, cf: Cf) -> Result<Option<KvPair>, StoreError>;
    /// Makes deletions in `cf` physical: flushes memtables and the WAL and
    /// compacts the column family so no file under the data directory still
    /// holds a deleted value.
    fn purge(&self, cf: Cf) -> Result<(), StoreError>;
    /// A consistent copy of the whole store, as of one instant, in the new
    /// directory `dir` (hard links where the file system allows): what a
    /// backup set is made from. Writes go on meanwhile.
    /// Has `hook` called after every committed write from now on; `false`
    /// when this store cannot (nothing derived from it can then be kept).
    fn on_write(&self, hook: hooks::WriteHook) -> bool {
        let _ = hook;
        false
    }
    /// The sequence number of the last write (0 for a store without one).
    fn sequence(&self) -> u64 {
        0
    }
    /// The writes from sequence number `from` on, in order, up to about
    /// `max_bytes`: the first holds `from` (a gap is the caller's to see).
    /// `Err` when the log no longer reaches back to `from`.
    fn changes_since(&self, from: u64, max_bytes: usize) -> Result<Vec<Logged>, StoreError> {
        let _ = max_bytes;
        Err(StoreError::Backend(format!("this store keeps no log of its writes (asked from {from})")))
    }
    fn checkpoint(&self, dir: &std::path::Path) -> Result<(), StoreError> {
        Err(StoreError::Backend(format!("this store cannot make a checkpoint in {}", dir.display())))
    }
}

#[cfg(test)]
pub(crate) mod contract_tests {
    //! The contract every `KvStore` implementation must meet.
    use super::*;

    pub fn run(store: &dyn KvStore) {
        atomic_batches(store);
        scan_prefix_and_from(store);
        for_each_stops_when_told(store);
        last_entry(store);
        delete_then_purge(store);
    }

    fn atomic_batches(s: &dyn KvStore) {
        s.write(
            &[Op::Put(Cf::Dossiers, b"a".to_vec(), b"1".to_vec()), Op::Put(Cf::Keys, b"a".to_vec(), b"2".to_vec())],
            true,
        )
        .unwrap();
        assert_eq!(s.get(Cf::Dossiers, b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(s.get(Cf::Keys, b"a").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(s.get(Cf::Versions, b"a").unwrap(), None, "column families are separate");
    }

    fn scan_prefix_and_from(s: &dyn KvStore) {
        let ops: Vec<Op> =
            ["x/1", "x/2", "x/3", "y/1"].iter().map(|k| Op::Put(Cf::Versions, k.as_bytes().to_vec(), vec![])).collect();
        s.write(&ops, false).unwrap();
        let keys = |prefix: &[u8], from: &[u8]| -> Vec<Vec<u8>> {
            s.scan(Cf::Versions, prefix, from).map(|r| r.unwrap().0).collect()
        };
        assert_eq!(keys(b"x/", b"x/"), vec![b"x/1".to_vec(), b"x/2".to_vec(), b"x/3".to_vec()]);
        assert_eq!(keys(b"x/", b"x/2"), vec![b"x/2".to_vec(), b"x/3".to_vec()]);
        assert_eq!(keys(b"", b"x/3"), vec![b"x/3".to_vec(), b"y/1".to_vec()]);
        assert!(keys(b"z", b"z").is_empty());
    }

    fn for_each_stops_when_told(s: &dyn KvStore) {
        let mut seen = vec![];
        s.for_each(Cf::Versions, b"x/2", &mut |k, _| {
            seen.push(k.to_vec());
            seen.len() < 2
        })
        .unwrap();
        assert_eq!(seen, vec![b"x/2".to_vec(), b"x/3".to_vec()]);
    }

    fn last_entry(s: &dyn KvStore) {
        assert_eq!(s.last(Cf::Audit).unwrap(), None);
        for i in [3u64, 1, 2] {
            s.write(&[Op::Put(Cf::Audit, i.to_be_bytes().to_vec(), vec![i as u8])], false).unwrap();
        }
        assert_eq!(s.last(Cf::Audit).unwrap().unwrap().1, vec![3]);
    }

    fn delete_then_purge(s: &dyn KvStore) {
        s.write(&[Op::Put(Cf::Keys, b"gone".to_vec(), b"v".to_vec())], true).unwrap();
        s.write(&[Op::Delete(Cf::Keys, b"gone".to_vec())], true).unwrap();
        s.purge(Cf::Keys).unwrap();
        assert_eq!(s.get(Cf::Keys, b"gone").unwrap(), None);
    }

    #[test]
    fn mem_store_meets_the_contract() {
        run(&MemStore::default());
    }

    #[test]
    fn rocks_store_meets_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        run(&RocksStore::open(dir.path()).unwrap());
    }
}
