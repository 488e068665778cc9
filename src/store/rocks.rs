//! RocksDB implementation: one column family per [`Cf`], synced WAL for
//! durable batches, no WAL recycling (so a purged value's WAL file is deleted,
//! not reused). The audit log and its indexes are compressed with zstd (their
//! entries are ids and words that repeat); the rest is not (ciphertext does
//! not compress).
//!
//! Reads at scale: every column family shares one LRU block cache of a
//! configured size (`block_cache_mb`), which also holds the index and filter
//! blocks (so memory stays bounded as the data grows), and the column
//! families read by key carry bloom filters, in their files and in their
//! memtables, so a look-up skips every file and memtable that cannot hold
//! the key instead of searching each one. The memtables of all column
//! families share one budget ([`MEMTABLE_BUDGET_BYTES`]).

use super::{Cf, KvIter, KvPair, KvStore, Op, StoreError};
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use std::path::Path;

pub struct RocksStore {
    db: DB,
    /// Each column family's id in this database's WAL batches (what
    /// [`KvStore::changes_since`] names them by).
    families: Vec<(u32, Cf)>,
    /// Called after every committed write (`KvStore::on_write`).
    hooks: super::hooks::Hooks,
}

fn err(e: rocksdb::Error) -> StoreError {
    StoreError::Backend(e.into_string())
}

/// Whether the audit log and its indexes are compressed (the benchmarks
/// measure both ways).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditCompression {
    Zstd,
    None,
}

/// The block cache when none is configured (`block_cache_mb`).
pub const DEFAULT_BLOCK_CACHE_BYTES: usize = 256 << 20;

/// What every column family's memtables may hold together.
pub const MEMTABLE_BUDGET_BYTES: usize = 512 << 20;

/// Bits per key of the bloom filters (about 1% false positives).
const BLOOM_BITS_PER_KEY: f64 = 10.0;

/// Whether a column family is mostly read by key (a dossier's record, a
/// version, a key, a person): those get bloom filters. The audit log, its
/// tree and its indexes are read in order (verification, proofs, a query's
/// walk) and grow by hundreds of millions of keys, where a filter would cost
/// memory for no look-up it saves.
fn read_by_key(cf: Cf) -> bool {
    !matches!(cf, Cf::Audit | Cf::Merkle | Cf::AuditIndex | Cf::Documents)
}

fn cf_options(cf: Cf, compression: AuditCompression, cache: &rocksdb::Cache) -> Options {
    let mut o = Options::default();
    if matches!(cf, Cf::Audit | Cf::AuditIndex) && compression == AuditCompression::Zstd {
        o.set_compression_type(rocksdb::DBCompressionType::Zstd);
    }
    let mut t = rocksdb::BlockBasedOptions::default();
    if cf == Cf::Documents {
        // Streamed documents pass through small memtables and bypass the
        // block cache, so a large upload or download never sits in memory.
        o.set_write_buffer_size(4 << 20);
        o.set_max_write_buffer_number(2);
        t.disable_cache();
        o.set_block_based_table_factory(&t);
        return o;
    }
    t.set_block_cache(cache);
    t.set_cache_index_and_filter_blocks(true);
    t.set_pin_l0_filter_and_index_blocks_in_cache(true);
    if read_by_key(cf) {
        t.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
        t.set_whole_key_filtering(true);
        // A memtable's own filter: a key it does not hold costs a hash, not
        // a walk down its skip list.
        o.set_memtable_prefix_bloom_ratio(0.02);
        o.set_memtable_whole_key_filtering(true);
    }
    if cf == Cf::Audit {
        // Appended and read front to back (verification) far more than
        // looked up: larger blocks make those scans cheaper.
        t.set_block_size(64 << 10);
    }
    o.set_block_based_table_factory(&t);
    o
}

impl RocksStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, AuditCompression::Zstd)
    }

    pub fn open_with(path: &Path, compression: AuditCompression) -> Result<Self, StoreError> {
        Self::open_tuned(path, compression, DEFAULT_BLOCK_CACHE_BYTES)
    }

    /// Opens with a block cache of `cache_bytes` shared by every column
    /// family (data, index and filter blocks).
    pub fn open_tuned(path: &Path, compression: AuditCompression, cache_bytes: usize) -> Result<Self, StoreError> {
        Self::open_streaming(path, compression, cache_bytes, 0)
    }

    /// [`RocksStore::open_tuned`], keeping WAL files that no memtable needs
    /// any more for up to `keep_wal_secs` (0: deleted at once), so that the
    /// standby stream ([`KvStore::changes_since`]) can still read what a
    /// flush made obsolete before it was shipped. The stream deletes them
    /// itself once shipped (the backups' stream shipper).
    pub fn open_streaming(
        path: &Path,
        compression: AuditCompression,
        cache_bytes: usize,
        keep_wal_secs: u64,
    ) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        if keep_wal_secs > 0 {
            opts.set_wal_ttl_seconds(keep_wal_secs);
        }
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_recycle_log_file_num(0);
        opts.set_keep_log_file_num(4);
        // All memtables together: past this the largest is flushed, so the
        // write buffers of thirteen column families (64 MiB each, two each
        // by default) stay near this instead of adding up to 1.6 GiB.
        opts.set_db_write_buffer_size(MEMTABLE_BUDGET_BYTES);
        let cache = rocksdb::Cache::new_lru_cache(cache_bytes);
        let cfs = Cf::ALL.iter().map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(*cf, compression, &cache)));
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(err)?;
        Self::with_families(db)
    }

    /// Learns each column family's WAL id: RocksDB's Rust binding does not
    /// expose it, but a batch of one put names it.
    fn with_families(db: DB) -> Result<Self, StoreError> {
        struct First(Option<u32>);
        impl rocksdb::WriteBatchIteratorCf for First {
            fn put_cf(&mut self, id: u32, _: &[u8], _: &[u8]) {
                self.0.get_or_insert(id);
            }
            fn delete_cf(&mut self, _: u32, _: &[u8]) {}
            fn merge_cf(&mut self, _: u32, _: &[u8], _: &[u8]) {}
        }
        let mut families = Vec::new();
        for cf in Cf::ALL {
            let Some(h) = db.cf_handle(cf.name()) else { continue };
            let mut probe = WriteBatch::default();
            probe.put_cf(h, b"", b"");
            let mut first = First(None);
            probe.iterate_cf(&mut first);
            if let Some(id) = first.0 {
                families.push((id, cf));
            }
        }
        Ok(RocksStore { db, families, hooks: Default::default() })
    }

    /// Opens without taking the lock, for `custos audit verify` next to a
    /// running server. Sees what was flushed or in the WAL at open time.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let opts = Options::default();
        // Only the column families this directory has (an older one may lack
        // some); a missing one reads as empty through `cf()` erroring.
        let names = DB::list_cf(&opts, path).map_err(err)?;
        let db = DB::open_cf_for_read_only(&opts, path, names, false).map_err(err)?;
        Self::with_families(db)
    }

    /// Flushes every memtable, then reports each column family's live SST
    /// bytes and estimated keys (the capacity figures of docs/performance.md).
    pub fn sizes(&self) -> Result<Vec<(Cf, u64, u64)>, StoreError> {
        let mut out = Vec::new();
        for cf in Cf::ALL {
            let h = self.cf(cf)?;
            self.db.flush_cf(h).map_err(err)?;
            let bytes = self.db.property_int_value_cf(h, "rocksdb.total-sst-files-size").map_err(err)?.unwrap_or(0);
            let keys = self.db.property_int_value_cf(h, "rocksdb.estimate-num-keys").map_err(err)?.unwrap_or(0);
            out.push((cf, bytes, keys));
        }
        Ok(out)
    }

    fn cf(&self, cf: Cf) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db.cf_handle(cf.name()).ok_or_else(|| StoreError::Backend(format!("missing column family {}", cf.name())))
    }
}

impl KvStore for RocksStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.cf(cf)?, key).map_err(err)
    }

    fn write(&self, ops: &[Op], durable: bool) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for op in ops {
            match op {
                Op::Put(cf, k, v) => batch.put_cf(self.cf(*cf)?, k, v),
                Op::Delete(cf, k) => batch.delete_cf(self.cf(*cf)?, k),
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(durable);
        self.db.write_opt(batch, &wo).map_err(err)?;
        self.hooks.call(ops);
        Ok(())
    }

    fn on_write(&self, hook: super::hooks::WriteHook) -> bool {
        self.hooks.add(hook);
        true
    }

    fn scan<'a>(&'a self, cf: Cf, prefix: &[u8], from: &[u8]) -> KvIter<'a> {
        let handle = match self.cf(cf) {
            Ok(h) => h,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let prefix = prefix.to_vec();
        let iter = self
            .db
            .iterator_cf(handle, IteratorMode::From(from, Direction::Forward))
            .map(|r| r.map(|(k, v)| (k.into_vec(), v.into_vec())).map_err(err))
            .take_while(move |r| match r {
                Ok((k, _)) => k.starts_with(&prefix),
                Err(_) => true,
            });
        Box::new(iter)
    }

    fn for_each(&self, cf: Cf, from: &[u8], f: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_readahead_size(4 << 20);
        ro.fill_cache(false);
        let mut it = self.db.raw_iterator_cf_opt(self.cf(cf)?, ro);
        it.seek(from);
        while it.valid() {
            match (it.key(), it.value()) {
                (Some(k), Some(v)) => {
                    if !f(k, v) {
                        return Ok(());
                    }
                }
                _ => break,
            }
            it.next();
        }
        it.status().map_err(err)
    }

    fn first(&self, cf: Cf, prefix: &[u8], from: &[u8]) -> Result<Option<KvPair>, StoreError> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf)?);
        it.seek(from);
        if let (true, Some(k), Some(v)) = (it.valid(), it.key(), it.value()) {
            return Ok(k.starts_with(prefix).then(|| (k.to_vec(), v.to_vec())));
        }
        it.status().map_err(err)?;
        Ok(None)
    }

    fn last(&self, cf: Cf) -> Result<Option<KvPair>, StoreError> {
        let mut it = self.db.iterator_cf(self.cf(cf)?, IteratorMode::End);
        it.next().transpose().map(|o| o.map(|(k, v)| (k.into_vec(), v.into_vec()))).map_err(err)
    }

    fn purge(&self, cf: Cf) -> Result<(), StoreError> {
        // Every column family is flushed so that the WAL files holding the
        // deleted value become obsolete and are removed.
        for c in Cf::ALL {
            self.db.flush_cf(self.cf(c)?).map_err(err)?;
        }
        self.db.flush_wal(true).map_err(err)?;
        let mut opts = rocksdb::CompactOptions::default();
        opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        self.db.compact_range_cf_opt(self.cf(cf)?, None::<&[u8]>, None::<&[u8]>, &opts);
        Ok(())
    }

    fn sequence(&self) -> u64 {
        self.db.latest_sequence_number()
    }

    fn changes_since(&self, from: u64, max_bytes: usize) -> Result<Vec<super::Logged>, StoreError> {
        let mut out = Vec::new();
        let mut bytes = 0;
        // The binding yields the batches after the number it is given.
        for row in self.db.get_updates_since(from.saturating_sub(1)).map_err(err)? {
            let (seq, batch) = row.map_err(err)?;
            let count = u64::try_from(batch.len()).unwrap_or(u64::MAX);
            // The first batch may begin before `from` (it holds it); an
            // empty batch takes no sequence number and carries nothing.
            if count == 0 || seq.saturating_add(count) <= from {
                continue;
            }
            let mut ops = Vec::new();
            let mut odd = None;
            batch.iterate_cf(&mut Collect { families: &self.families, ops: &mut ops, odd: &mut odd });
            if let Some(what) = odd {
                return Err(StoreError::Backend(format!(
                    "the WAL batch at {seq} holds {what}, which a stream cannot carry"
                )));
            }
            bytes += batch.size_in_bytes();
            out.push(super::Logged { seq, count, ops });
            if bytes >= max_bytes {
                break;
            }
        }
        Ok(out)
    }

    fn checkpoint(&self, dir: &Path) -> Result<(), StoreError> {
        // Flushes the memtables first (RocksDB's default for a checkpoint
        // with WAL size 0), so the copy is SST files, MANIFEST and CURRENT.
        let cp = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(err)?;
        cp.create_checkpoint(dir).map_err(err)
    }
}

/// A WAL batch's operations as [`Op`]s, by column family.
struct Collect<'a> {
    families: &'a [(u32, Cf)],
    ops: &'a mut Vec<Op>,
    odd: &'a mut Option<String>,
}

impl Collect<'_> {
    fn cf(&mut self, id: u32) -> Option<Cf> {
        let cf = self.families.iter().find(|(i, _)| *i == id).map(|(_, cf)| *cf);
        if cf.is_none() {
            self.odd.get_or_insert_with(|| format!("column family {id}, unknown here"));
        }
        cf
    }
}

impl rocksdb::WriteBatchIteratorCf for Collect<'_> {
    fn put_cf(&mut self, id: u32, key: &[u8], value: &[u8]) {
        if let Some(cf) = self.cf(id) {
            self.ops.push(Op::Put(cf, key.to_vec(), value.to_vec()));
        }
    }
    fn delete_cf(&mut self, id: u32, key: &[u8]) {
        if let Some(cf) = self.cf(id) {
            self.ops.push(Op::Delete(cf, key.to_vec()));
        }
    }
    fn merge_cf(&mut self, _: u32, _: &[u8], _: &[u8]) {
        self.odd.get_or_insert_with(|| "a merge".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options RocksDB recorded at open (the newest `OPTIONS-*` file).
    fn options_file(dir: &Path) -> String {
        let file = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("OPTIONS-")))
            .max()
            .expect("an OPTIONS file");
        std::fs::read_to_string(file).unwrap()
    }

    /// One column family's table options in `text`, as `name=value` lines.
    fn table_options(text: &str, cf: Cf) -> Vec<String> {
        let header = format!("[TableOptions/BlockBasedTable \"{}\"]", cf.name());
        text.lines()
            .skip_while(|l| l.trim() != header)
            .skip(1)
            .take_while(|l| !l.trim_start().starts_with('['))
            .map(|l| l.trim().to_owned())
            .collect()
    }

    #[test]
    fn the_log_of_writes_reads_back_in_order_across_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open_streaming(dir.path(), AuditCompression::Zstd, 8 << 20, 600).unwrap();
        let put = |k: &str| Op::Put(Cf::Dossiers, k.as_bytes().to_vec(), b"v".to_vec());
        store.write(&[put("a"), put("b")], true).unwrap();
        let base = store.sequence();
        store.write(&[put("c")], true).unwrap();
        store.checkpoint(&dir.path().join("cp")).unwrap();
        store.write(&[Op::Delete(Cf::Keys, b"k".to_vec()), put("d")], true).unwrap();
        let changes = store.changes_since(base + 1, 1 << 20).unwrap();
        let got: Vec<(u64, u64, usize)> = changes.iter().map(|c| (c.seq, c.count, c.ops.len())).collect();
        assert_eq!(got, vec![(base + 1, 1, 1), (base + 2, 2, 2)], "{changes:?}");
        assert_eq!(changes[1].ops[0], Op::Delete(Cf::Keys, b"k".to_vec()));
        assert_eq!(store.sequence(), base + 3);
    }

    #[test]
    fn point_read_families_have_bloom_filters_and_every_family_caches_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path()).unwrap();
        store.write(&[Op::Put(Cf::Dossiers, b"d/x".to_vec(), b"v".to_vec())], true).unwrap();
        drop(store);
        let text = options_file(dir.path());
        for cf in Cf::ALL {
            let opts = table_options(&text, cf);
            assert!(!opts.is_empty(), "{} has table options", cf.name());
            let bloom = opts.iter().any(|l| l.starts_with("filter_policy=") && l.contains("bloomfilter"));
            assert_eq!(bloom, read_by_key(cf), "{}: {opts:?}", cf.name());
            if cf != Cf::Documents {
                assert!(opts.contains(&"cache_index_and_filter_blocks=true".to_owned()), "{}: {opts:?}", cf.name());
            }
        }
        assert!(read_by_key(Cf::Keys) && read_by_key(Cf::Versions) && !read_by_key(Cf::AuditIndex));
        assert!(text.contains(&format!("db_write_buffer_size={MEMTABLE_BUDGET_BYTES}")), "the memtable budget");
        assert!(text.contains("memtable_whole_key_filtering=true"), "memtable filters");
    }
}
