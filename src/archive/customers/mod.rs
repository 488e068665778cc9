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
mod report_rows;
mod reports;
mod reviews;
mod stand;
mod worklist;

pub use export::ExportFilter;
pub use figures::{FigureRecord, Month, MonthFigures, NewFigures};
pub use grading::{GradeChange, GradeExplanation, OverrideView};
pub use import::{ImportReport, Mapping, RowError, RowResult, MAX_ROWS};
pub use interactions::{InteractionKind, InteractionPage, InteractionView, NewInteraction, MAX_SUMMARY};
pub use reports::{Report, ReportBy, ReportRow};
pub use reviews::{Contact, DueReview, Glance, NewReview, ReviewOutcome, ReviewView, MAX_NOTE};
pub use stand::Stand;
pub use worklist::{FollowUp, WorkCustomer, Worklist, MAX_CUSTOMERS, MAX_DUE};

/// Customer management: interactions, figures and grading, reviews, reports,
/// the workbook import and the export.
pub struct Customers {
    store: Arc<dyn KvStore>,
    vault: Arc<Vault>,
    audit: Arc<AuditWriter>,
    gate: Arc<Gate>,
    policy: Arc<PolicySet>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// Customers are dossiers: every change is a dossier version.
    dossiers: Arc<Dossiers>,
    /// Interactions are searchable like the remarks.
    index: Arc<Indexer>,
    /// An imported row is a dossier document.
    template: Arc<TemplateValidator>,
    /// Dossiers unchanged for this long are reported stale.
    stale_after: time::Duration,
    /// What the report reads of each dossier, kept between reports.
    report_rows: report_rows::ReportRows,
}

impl Customers {
    pub(in crate::archive) fn new(
        p: &crate::archive::Ports,
        dossiers: Arc<Dossiers>,
        index: Arc<Indexer>,
        template: Arc<TemplateValidator>,
        stale_after: time::Duration,
    ) -> Self {
        Customers {
            store: p.store.clone(),
            vault: p.vault.clone(),
            audit: p.audit.clone(),
            gate: p.gate.clone(),
            policy: p.policy.clone(),
            clock: p.clock.clone(),
            metrics: p.metrics.clone(),
            dossiers,
            index,
            template,
            stale_after,
            report_rows: Default::default(),
        }
    }
}

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

#[cfg(test)]
mod tests;

use crate::archive::dossiers::Dossiers;
use crate::archive::gate::Gate;
use crate::archive::index::Indexer;
use crate::archive::vault::Vault;
use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::domain::dossier::TemplateValidator;
use crate::metrics::Metrics;
use crate::policy::PolicySet;
use crate::store::KvStore;
use std::sync::Arc;
