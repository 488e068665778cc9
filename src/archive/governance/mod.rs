//! The governance records a regulator asks for first: privacy notices and
//! what each collection recorded (`collection`), impact assessments
//! (`assessments`), the recipients register with processors' deletion
//! attestations (`recipients`), cross-border transfer records and the
//! yearly count of persons transferred (`transfers`), and the records of
//! processing generated from all of them (`records`).

mod assessments;
mod recipients;
mod records;
mod transfers;

pub(crate) use crate::archive::records::RecipientRecord;
pub(crate) use assessments::assessed_purposes;
pub use assessments::{AssessmentView, NewAssessment, ProcessingKind};
pub use recipients::{AttestationView, NewAttestation, NewRecipient, RecipientRole, RecipientView};
pub use records::{ProcessingRecord, RecordsOfProcessing};
pub use transfers::{NewTransfer, TransferView, TransferVolume};

/// The governance registers: recipients and their attestations, transfers, impact assessments, and the records of processing drawn from them.
pub struct Governance {
    store: std::sync::Arc<dyn crate::store::KvStore>,
    vault: std::sync::Arc<crate::archive::vault::Vault>,
    audit: std::sync::Arc<crate::audit::AuditWriter>,
    gate: std::sync::Arc<crate::archive::gate::Gate>,
    policy: std::sync::Arc<crate::policy::PolicySet>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
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
