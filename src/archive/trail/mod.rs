//! The audit trail as compliance officers and auditors use it: querying
//! entries, the activity chart, inclusion and consistency proofs, signed
//! checkpoints (and their file for witnesses), and alerts. Reading any of
//! it is itself decided by the gate and audited.
//!
//! The trail sits above the gate and identity; backups and destruction
//! certificates use its checkpoints and verifier key.

pub mod access_report;
mod alerts;
pub(super) mod audit_log;
pub mod transparency;

use super::gate::Gate;
use crate::audit::checkpoint::NoteSigner;
use crate::audit::subject_map::SubjectMap;
use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::policy::PolicySet;
use crate::store::KvStore;
use std::sync::Arc;

/// The audit log's reading side: queries, proofs, checkpoints, alerts.
pub struct AuditTrail {
    store: Arc<dyn KvStore>,
    audit: Arc<AuditWriter>,
    gate: Arc<Gate>,
    policy: Arc<PolicySet>,
    clock: Arc<dyn Clock>,
    /// Signs checkpoints (its key is sealed under the master key).
    signer: Arc<NoteSigner>,
    /// The subject map every checkpoint signs the root of; loaded on the
    /// first checkpoint. Held while a checkpoint (or an access report at
    /// one) is made, so the root signed is the map proofs are made from.
    subject_map: std::sync::Mutex<Option<SubjectMap>>,
}

impl AuditTrail {
    pub(super) fn new(
        store: Arc<dyn KvStore>,
        audit: Arc<AuditWriter>,
        gate: Arc<Gate>,
        policy: Arc<PolicySet>,
        clock: Arc<dyn Clock>,
        signer: Arc<NoteSigner>,
    ) -> Self {
        AuditTrail { store, audit, gate, policy, clock, signer, subject_map: std::sync::Mutex::new(None) }
    }

    /// The log's origin line (its checkpoints' first line).
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The log's signing key (destruction certificates are notes it signs).
    pub(in crate::archive) fn signer(&self) -> &NoteSigner {
        &self.signer
    }
}

#[cfg(test)]
mod tests;
