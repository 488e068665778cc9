//! Oversight of the data and of the compliance work itself: the data sets
//! and their grades with the register of grading decisions (`grades`: DSL
//! Art. 21, NDSMR Art. 5), and the compliance-audit register (`audits`:
//! engagements, their sealed reports and the report to the authority;
//! `findings`: each finding to its fix and a second officer's check; PIPL
//! Art. 54, NDSMR Art. 27, and the yearly risk assessment of important
//! data, NDSMR Art. 30-33), whose schedule the deadline job keeps
//! (`schedule`); and the person responsible for network-data security
//! (`responsible`, NDSMR Art. 30). Read by compliance and the auditor, written by compliance
//! (`register.read`, `register.keep`); every change a guarded write with
//! its audit entry.

mod audits;
mod findings;
mod grades;
mod plan;
mod responsible;
mod schedule;

pub use audits::{
    AuditRegister, Conductor, EngagementCompletion, EngagementState, EngagementView, NewEngagement, ScheduleView,
};
pub use findings::{FindingState, FindingView, NewFinding, Severity};
pub use grades::{DataGradesView, DataSetView, DecisionState, GradeDecisionView, NewGradeDecision};
pub use responsible::{AppointmentView, NewAppointment};

use crate::archive::{gate::Gate, vault::Slot, vault::Vault, ArchiveError};
use crate::crypto::{KeyRef, Sealed};
use std::sync::Arc;

/// The data grades and the compliance-audit register.
pub struct Oversight {
    /// The registers' column family: decisions, engagements, the schedule.
    store: Arc<dyn crate::store::KvStore>,
    /// Seals and opens their texts under the registers key.
    vault: Arc<Vault>,
    /// Every change is one commit with its entry.
    audit: Arc<crate::audit::AuditWriter>,
    /// `register.read` and `register.keep`.
    gate: Arc<Gate>,
    /// `data_grades.toml` and `compliance_audits.toml`.
    policy: Arc<crate::policy::PolicySet>,
    /// Today, for dates and due days.
    clock: Arc<dyn crate::clock::Clock>,
}

impl Oversight {
    pub(in crate::archive) fn new(p: &crate::archive::Ports) -> Self {
        let (store, vault, audit) = (p.store.clone(), p.vault.clone(), p.audit.clone());
        Oversight { store, vault, audit, gate: p.gate.clone(), policy: p.policy.clone(), clock: p.clock.clone() }
    }

    /// Seals a text of a record under the registers key.
    fn seal(&self, owner: &str, field: &str, text: &[u8]) -> Result<Sealed, ArchiveError> {
        self.vault.seal_live(&KeyRef::Registers, Slot::RegisterText { owner, field }, text)
    }

    /// Opens a text sealed by [`Self::seal`].
    fn open(&self, owner: &str, field: &str, sealed: &Sealed) -> Result<String, ArchiveError> {
        let plain = self.vault.open_live(&KeyRef::Registers, Slot::RegisterText { owner, field }, sealed)?;
        Ok(String::from_utf8_lossy(&plain).into_owned())
    }
}

fn iso(d: time::Date) -> String {
    d.to_string()
}

#[cfg(test)]
mod tests;
