//! Where things live inside a data directory: one place for every room
//! that opens one (the server, the CLI, a standby), depending on nothing.

use std::path::{Path, PathBuf};

/// The RocksDB database inside a data directory.
pub fn db_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("db")
}

/// The search index.
pub fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("index")
}

/// Where a backup's checkpoint of the store is made (on the data directory's
/// file system, for hard links), and removed once the set is written; a
/// bucket target's spool is inside it.
pub fn backup_scratch_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("backup-scratch")
}
