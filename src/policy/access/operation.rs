//! Operations on the archive as a whole (`archive::gate::Gate::decide`).

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
    /// Every customer's dossier in lists, reports and review lists.
    CustomersAll,
    /// The customers of the caller's region.
    CustomersRegion,
    /// The caller's own customers.
    CustomersOwn,
    /// Recording a data-subject request for a person named in a dossier of
    /// the caller's region (compliance records any, by `RegisterKeep`).
    RequestInRegion,
    /// Reviewing a grade its person contested (PIPL Art. 24(3); GDPR Art.
    /// 22(3)): a human decides it.
    GradeReview,
    /// The staff directory: a colleague's name, roles and department where
    /// the console names who acted (owners, authors, audit entries).
    StaffDirectory,
}

impl Operation {
    pub const ALL: [Operation; 10] = [
        Operation::AuditRead,
        Operation::RegisterRead,
        Operation::RegisterKeep,
        Operation::Administer,
        Operation::CustomersAll,
        Operation::CustomersRegion,
        Operation::CustomersOwn,
        Operation::RequestInRegion,
        Operation::GradeReview,
        Operation::StaffDirectory,
    ];

    pub fn cedar_name(self) -> &'static str {
        match self {
            Operation::AuditRead => "audit.read",
            Operation::RegisterRead => "register.read",
            Operation::RegisterKeep => "register.keep",
            Operation::Administer => "staff.administer",
            Operation::CustomersAll => "customers.all",
            Operation::CustomersRegion => "customers.region",
            Operation::CustomersOwn => "customers.own",
            Operation::RequestInRegion => "request.record-in-region",
            Operation::GradeReview => "grade.review",
            Operation::StaffDirectory => "staff.directory",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.cedar_name() == s)
    }
}
