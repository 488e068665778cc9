//! The governance records a regulator asks for first (issue 13). Built so
//! far: the records of processing (GDPR Art. 30; PIPL Art. 56's records),
//! generated from the policy files and registers, never written by hand.

mod assessments;
mod records;

pub(crate) use assessments::assessed_purposes;
pub use assessments::{AssessmentView, NewAssessment, ProcessingKind};
pub use records::{ProcessingRecord, RecordsOfProcessing};
