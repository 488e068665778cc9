//! What witnessing keeps: per witnessed log, the tree it last cosigned;
//! per witness, the last cosignature it gave this log; and the log's
//! latest cosigned checkpoint.

use crate::store::{keys, Cf, Table};
use serde::{Deserialize, Serialize};

/// As a witness: the latest tree of a log this custos cosigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Seen {
    pub size: u64,
    /// Base64 root hash.
    pub root: String,
    /// When it was last cosigned (POSIX seconds).
    pub cosigned_at: u64,
}

pub(super) const SEEN: Table<str, Seen> = Table::new(Cf::System, keys::WITNESSED_PREFIX, keys::witnessed);

/// As a log: the last cosignature a witness gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Given {
    pub size: u64,
    /// The checkpoint body it cosigned.
    pub body: String,
    /// Its signature line, with the newline.
    pub line: String,
    pub timestamp: u64,
}

pub(super) const GIVEN: Table<str, Given> = Table::new(Cf::System, keys::COSIGNATURE_PREFIX, keys::cosignature);

/// As a log: the latest checkpoint with the cosignatures it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignedNote {
    pub size: u64,
    /// The log-signed note followed by the witnesses' signature lines.
    pub note: String,
    /// The witnesses (names) whose cosignatures it carries.
    pub witnesses: Vec<String>,
}

pub(super) const COSIGNED: Table<(), CosignedNote> = Table::new(Cf::System, keys::COSIGNED_PREFIX, keys::cosigned);
