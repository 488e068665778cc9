//! The governance records a regulator asks for first: privacy notices and
//! what each collection recorded (`collection`), impact assessments
//! (`assessments`) and what they cover (`coverage`), the recipients register with processors' deletion
//! attestations (`recipients`), cross-border transfer records and the
//! yearly count of persons transferred (`transfers`), the personal-
//! information protection officer and the count of persons that makes one
//! required (`officer`), and the records of processing generated from all
//! of them (`records`).

mod assessments;
mod coverage;
mod officer;
mod recipients;
mod records;
mod transfers;

pub(crate) use crate::archive::records::RecipientRecord;
pub(crate) use assessments::assessed;
pub use assessments::{AssessmentView, NewAssessment, ProcessingKind};
pub use coverage::{Coverage, KindCoverage, PurposeCoverage, UncoveredRecord};
pub use officer::{NewOfficer, OfficerStatus, OfficerView};
pub use recipients::{AttestationView, NewAttestation, NewRecipient, RecipientRole, RecipientView};
pub use records::{ProcessingRecord, RecordsOfProcessing};
pub use transfers::{NewTransfer, TransferView, TransferVolume};

use crate::archive::gate::Gate;
use crate::archive::vault::Vault;
use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::policy::PolicySet;
use crate::store::KvStore;
use std::sync::Arc;

/// The governance registers: recipients and their attestations, transfers,
/// impact assessments, and the records of processing drawn from them.
pub struct Governance {
    store: Arc<dyn KvStore>,
    vault: Arc<Vault>,
    audit: Arc<AuditWriter>,
    gate: Arc<Gate>,
    policy: Arc<PolicySet>,
    clock: Arc<dyn Clock>,
}

impl Governance {
    pub(in crate::archive) fn new(p: &crate::archive::Ports) -> Self {
        Governance {
            store: p.store.clone(),
            vault: p.vault.clone(),
            audit: p.audit.clone(),
            gate: p.gate.clone(),
            policy: p.policy.clone(),
            clock: p.clock.clone(),
        }
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests;
