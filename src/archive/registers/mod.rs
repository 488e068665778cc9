//! The compliance registers an officer runs every week: data-subject
//! requests with their legal deadlines (`requests`), personal-data
//! incidents with their notification deadlines and the persons affected
//! (`incidents`), and the deadline check that raises their alerts
//! (`deadlines`). Records live in the `registers` column family as JSON
//! with no personal value in the clear: free texts are sealed, under the
//! person's key for a request (erasure shreds them; the record of the
//! request stays) and under the registers key for an incident.
//!
//! Compliance officers keep the registers; auditors read them (without
//! the sealed texts); service staff may record a request they received.

mod deadlines;
mod exports;
mod incidents;
mod requests;

pub use exports::{ExportState, ExportView, NewExport};
pub use incidents::{
    AffectedCriteria, AffectedSet, DeadlineView, IncidentView, NewIncident, NewNotification, NoticeDraft, Notification,
};
pub use requests::{
    Answer, AnswerKind, AnswerRef, Channel, NewRequest, NewState, RequestChange, RequestKind, RequestState,
    RequestView, Verification, VerificationMethod,
};
pub use requests::{Handover, HandoverState};

use super::ArchiveError;
use crate::archive::dossiers::Dossiers;
use crate::archive::gate::Gate;
use crate::archive::governance::Governance;
use crate::archive::identity::Identity;
use crate::archive::subjects::Subjects;
use crate::archive::vault::{Slot, Vault};
use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::crypto::{KeyRef, Keyring, Sealed};
use crate::policy::PolicySet;
use crate::store::KvStore;
use std::sync::Arc;

use super::wire_name as code;

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// An alert (or several) with the change of the register record that marks
/// it raised, written together.
struct AlertWrite {
    resource: String,
    subjects: Vec<String>,
    alerts: Vec<crate::policy::alerts::Alert>,
    /// The record marked alerted, guarded on what was read.
    change: crate::store::Change,
}

fn field_error(path: &str, message: impl Into<String>) -> crate::domain::dossier::FieldError {
    crate::domain::dossier::FieldError { path: path.into(), message: message.into() }
}

pub(crate) use crate::archive::gate::Access;

/// The compliance registers: data-subject requests, incidents and their
/// affected persons, bulk exports, and their deadline alerts.
pub struct Registers {
    store: Arc<dyn KvStore>,
    keyring: Arc<Keyring>,
    vault: Arc<Vault>,
    audit: Arc<AuditWriter>,
    gate: Arc<Gate>,
    policy: Arc<PolicySet>,
    clock: Arc<dyn Clock>,
    /// A request's answer reads the person's dossiers.
    dossiers: Arc<Dossiers>,
    /// An access request is answered with the subject export.
    subjects: Arc<Subjects>,
    /// The deadline job also checks the yearly transfer volume.
    governance: Arc<Governance>,
    /// Who verified a request must exist.
    identity: Arc<Identity>,
    /// The deadline job also keeps the compliance-audit schedule.
    oversight: Arc<crate::archive::oversight::Oversight>,
    /// A person's contest of, or objection to, their automated grade rests
    /// on their request.
    customers: Arc<crate::archive::customers::Customers>,
    texts: Texts,
    /// Makes an access request's verifiable report.
    reports: requests::AccessReports,
}

/// The services the registers answer requests with.
pub(in crate::archive) struct RegisterServices {
    pub dossiers: Arc<Dossiers>,
    pub subjects: Arc<Subjects>,
    pub governance: Arc<Governance>,
    pub identity: Arc<Identity>,
    pub oversight: Arc<crate::archive::oversight::Oversight>,
    pub customers: Arc<crate::archive::customers::Customers>,
    pub trail: Arc<crate::archive::trail::AuditTrail>,
    pub witness: Arc<crate::archive::witness::Witness>,
}

impl Registers {
    pub(in crate::archive) fn new(p: &crate::archive::Ports, services: RegisterServices) -> Self {
        let RegisterServices { dossiers, subjects, governance, identity, oversight, customers, trail, witness } =
            services;
        let reports = requests::AccessReports::new(trail, witness, identity.clone(), p.policy.clone(), p.clock.clone());
        Registers {
            store: p.store.clone(),
            keyring: p.keyring.clone(),
            vault: p.vault.clone(),
            audit: p.audit.clone(),
            gate: p.gate.clone(),
            policy: p.policy.clone(),
            clock: p.clock.clone(),
            dossiers,
            subjects,
            governance,
            identity,
            oversight,
            customers,
            texts: Texts { vault: p.vault.clone() },
            reports,
        }
    }
}

/// The registers' free texts, sealed and opened through the vault.
struct Texts {
    vault: Arc<Vault>,
}

impl Texts {
    /// Seals a register text under `key` (a person's key or the registers key).
    fn seal(&self, key: &KeyRef, owner: &str, field: &str, text: &str) -> Result<Sealed, ArchiveError> {
        self.vault.seal_live(key, Slot::RegisterText { owner, field }, text.as_bytes())
    }

    /// Seals a text about a person under their key; `None` once they are
    /// erased (nothing about them is kept any more: the text is dropped).
    fn seal_person(
        &self,
        sid: &crate::domain::SubjectId,
        field: &str,
        text: &str,
    ) -> Result<Option<Sealed>, ArchiveError> {
        let slot = Slot::RegisterText { owner: sid.as_str(), field };
        Ok(self.vault.seal(&KeyRef::Subject(sid.clone()), slot, text.as_bytes())?.plain())
    }

    /// Opens a register text; `None` once its key is shredded, an error
    /// when it does not open with its key.
    fn open(&self, key: &KeyRef, owner: &str, field: &str, sealed: &Sealed) -> Result<Option<String>, ArchiveError> {
        Ok(self.vault.open_text(key, Slot::RegisterText { owner, field }, sealed)?.plain())
    }
}

#[cfg(test)]
mod tests;
