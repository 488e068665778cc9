//! Customer management, as the seeds describe it: interactions with each
//! customer (`interactions`), monthly order figures (`figures`), A/B/C
//! grading by policy with its explanation and manual override (`grading`),
//! periodic review by grade (`reviews`) and aggregate reports with small
//! cells suppressed (`reports`). Same protection as the dossiers: free
//! texts sealed, access decided by the policies, every call audited.

mod export;
mod figures;
mod grading;
mod import;
mod interactions;
mod mapping;
mod reports;
mod reviews;

pub use export::ExportFilter;
pub use figures::{FigureRecord, NewFigures};
pub use grading::{GradeChange, GradeExplanation, OverrideView};
pub use import::{ImportReport, Mapping, RowError, RowResult, MAX_ROWS};
pub use interactions::{InteractionKind, InteractionPage, InteractionView, NewInteraction};
pub use reports::{Report, ReportBy, ReportRow};
pub use reviews::{DueReview, NewReview, ReviewOutcome, ReviewView};
