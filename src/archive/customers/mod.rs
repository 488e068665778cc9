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

/// The contact person a request names (`contact`), which must be a person
/// of the dossier; an error at `/contact` otherwise.
fn named_contact(
    meta: &crate::archive::records::DossierMeta,
    named: Option<&str>,
    errors: &mut Vec<crate::domain::dossier::FieldError>,
) -> Option<crate::domain::SubjectId> {
    match named.map(crate::domain::SubjectId::parse) {
        None => None,
        Some(Ok(s)) if meta.subjects.contains(&s) => Some(s),
        Some(_) => {
            errors.push(crate::domain::dossier::FieldError {
                path: "/contact".into(),
                message: "not a contact person of this dossier".into(),
            });
            None
        }
    }
}
