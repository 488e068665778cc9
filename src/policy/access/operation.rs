//! Operations on the archive as a whole (`Archive::decide`).

/// Operations on the archive as a whole, not on one dossier or person:
/// each a Cedar action on the `Archive` entity, decided in
/// `policies/access.cedar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// The audit log, its entries, proofs, checkpoints, activity and alerts.
    AuditRead,
    /// The compliance registers (requests, incidents, exports, assessments,
    /// recipients, transfers, records of processing), read.
    RegisterRead,
    /// The compliance registers, kept: recorded, changed, their sealed texts read.
    RegisterKeep,
    /// Principals, their tokens and enrollment, backups.
    Administer,
}

impl Operation {
    pub const ALL: [Operation; 4] =
        [Operation::AuditRead, Operation::RegisterRead, Operation::RegisterKeep, Operation::Administer];

    pub fn cedar_name(self) -> &'static str {
        match self {
            Operation::AuditRead => "audit.read",
            Operation::RegisterRead => "register.read",
            Operation::RegisterKeep => "register.keep",
            Operation::Administer => "staff.administer",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.cedar_name() == s)
    }
}
