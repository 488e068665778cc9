//! The governance records a regulator asks for first (issue 13). Built so
//! far: the records of processing (GDPR Art. 30; PIPL Art. 56's records),
//! generated from the policy files and registers, never written by hand.

mod records;

pub use records::{ProcessingRecord, RecordsOfProcessing};
