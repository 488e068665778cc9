//! RocksDB implementation: one column family per [`Cf`], synced WAL for
//! durable batches, no WAL recycling (so a purged value's WAL file is deleted,
//! not reused). The audit log and its indexes are compressed with zstd (their
//! entries are ids and words that repeat); the rest is not (ciphertext does
//! not compress).

use super::{Cf, KvIter, KvPair, KvStore, Op, StoreError};
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use std::path::Path;

pub struct RocksStore {
    db: DB,
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

/// The audit log is appended and read front to back (verification) far more
/// than it is looked up: larger blocks make those scans cheaper.
fn cf_options(cf: Cf, compression: AuditCompression) -> Options {
    let mut o = Options::default();
    if matches!(cf, Cf::Audit | Cf::AuditIndex) && compression == AuditCompression::Zstd {
        o.set_compression_type(rocksdb::DBCompressionType::Zstd);
    }
    if cf == Cf::Audit {
        let mut t = rocksdb::BlockBasedOptions::default();
        t.set_block_size(64 << 10);
        o.set_block_based_table_factory(&t);
    }
    if cf == Cf::Documents {
        // Streamed documents pass through small memtables and bypass the
        // block cache, so a large upload or download never sits in memory.
        o.set_write_buffer_size(4 << 20);
        o.set_max_write_buffer_number(2);
        let mut t = rocksdb::BlockBasedOptions::default();
        t.disable_cache();
        o.set_block_based_table_factory(&t);
    }
    o
}

impl RocksStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, AuditCompression::Zstd)
    }

    pub fn open_with(path: &Path, compression: AuditCompression) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_recycle_log_file_num(0);
        opts.set_keep_log_file_num(4);
        let cfs = Cf::ALL.iter().map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(*cf, compression)));
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(err)?;
        Ok(RocksStore { db })
    }

    /// Opens without taking the lock, for `custos audit verify` next to a
    /// running server. Sees what was flushed or in the WAL at open time.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let opts = Options::default();
        // Only the column families this directory has (an older one may lack
        // some); a missing one reads as empty through `cf()` erroring.
        let names = DB::list_cf(&opts, path).map_err(err)?;
        let db = DB::open_cf_for_read_only(&opts, path, names, false).map_err(err)?;
        Ok(RocksStore { db })
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
        self.db.write_opt(batch, &wo).map_err(err)
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

    fn checkpoint(&self, dir: &Path) -> Result<(), StoreError> {
        // Flushes the memtables first (RocksDB's default for a checkpoint
        // with WAL size 0), so the copy is SST files, MANIFEST and CURRENT.
        let cp = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(err)?;
        cp.create_checkpoint(dir).map_err(err)
    }
}
