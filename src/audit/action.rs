//! What an audit entry records as its `action`: every operation custos
//! audits, by name. The names are the stored and published ones
//! (docs/api.md); the enum keeps a use case from writing one that does not
//! exist, and lists them all in one place.

/// An audited operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `assessment.coverage`
    AssessmentCoverage,
    /// `assessment.create`
    AssessmentCreate,
    /// `assessment.list`
    AssessmentList,
    /// `assessment.report`
    AssessmentReport,
    /// `audit.alert`
    AuditAlert,
    /// `audit.query`
    AuditQuery,
    /// `auth.fail`
    AuthFail,
    /// `backup.create`
    BackupCreate,
    /// `backup.expire`
    BackupExpire,
    /// `backup.restore`
    BackupRestore,
    /// `certificate.issue`
    CertificateIssue,
    /// `certificate.read`
    CertificateRead,
    /// `compliance_audit.create`
    ComplianceAuditCreate,
    /// `compliance_audit.finding`
    ComplianceAuditFinding,
    /// `compliance_audit.fix`
    ComplianceAuditFix,
    /// `compliance_audit.list`
    ComplianceAuditList,
    /// `compliance_audit.progress`
    ComplianceAuditProgress,
    /// `compliance_audit.read`
    ComplianceAuditRead,
    /// `compliance_audit.report`
    ComplianceAuditReport,
    /// `compliance_audit.schedule`
    ComplianceAuditSchedule,
    /// `compliance_audit.verify`
    ComplianceAuditVerify,
    /// `consent.grant`
    ConsentGrant,
    /// `consent.history`
    ConsentHistory,
    /// `consent.withdraw`
    ConsentWithdraw,
    /// `data_grade.decide`
    DataGradeDecide,
    /// `data_grade.read`
    DataGradeRead,
    /// `disposition.approve`
    DispositionApprove,
    /// `disposition.batch`
    DispositionBatch,
    /// `disposition.due`
    DispositionDue,
    /// `disposition.propose`
    DispositionPropose,
    /// `document.get`
    DocumentGet,
    /// `document.list`
    DocumentList,
    /// `document.put`
    DocumentPut,
    /// `dossier.close`
    DossierClose,
    /// `dossier.create`
    DossierCreate,
    /// `dossier.destroy`
    DossierDestroy,
    /// `dossier.export_list`
    DossierExportList,
    /// `dossier.grade`
    DossierGrade,
    /// `dossier.read`
    DossierRead,
    /// `dossier.update`
    DossierUpdate,
    /// `dossier.versions`
    DossierVersions,
    /// `export.approve`
    ExportApprove,
    /// `export.create`
    ExportCreate,
    /// `export.download`
    ExportDownload,
    /// `export.read`
    ExportRead,
    /// `factor.begin`
    FactorBegin,
    /// `factor.confirm`
    FactorConfirm,
    /// `factor.lockout`
    FactorLockout,
    /// `factor.required`
    FactorRequired,
    /// `factor.reset`
    FactorReset,
    /// `factor.unlock`
    FactorUnlock,
    /// `factor.verify`
    FactorVerify,
    /// `figures.put`
    FiguresPut,
    /// `governance.records`
    GovernanceRecords,
    /// `grade.explain`
    GradeExplain,
    /// `grade.override`
    GradeOverride,
    /// `hold.list`
    HoldList,
    /// `hold.place`
    HoldPlace,
    /// `hold.release`
    HoldRelease,
    /// `import`
    Import,
    /// `import.row`
    ImportRow,
    /// `incident.affected`
    IncidentAffected,
    /// `incident.affected_list`
    IncidentAffectedList,
    /// `incident.create`
    IncidentCreate,
    /// `incident.exemption`
    IncidentExemption,
    /// `incident.list`
    IncidentList,
    /// `incident.notice`
    IncidentNotice,
    /// `incident.notify`
    IncidentNotify,
    /// `incident.read`
    IncidentRead,
    /// `interaction.create`
    InteractionCreate,
    /// `interaction.list`
    InteractionList,
    /// `notice.publish`
    NoticePublish,
    /// `policy.load`
    PolicyLoad,
    /// `officer.appoint`
    OfficerAppoint,
    /// `officer.read`
    OfficerRead,
    /// `principal.approve`
    PrincipalApprove,
    /// `principal.break_glass`
    PrincipalBreakGlass,
    /// `principal.create`
    PrincipalCreate,
    /// `principal.disable`
    PrincipalDisable,
    /// `principal.enable`
    PrincipalEnable,
    /// `recipient.attestation`
    RecipientAttestation,
    /// `recipient.create`
    RecipientCreate,
    /// `recipient.list`
    RecipientList,
    /// `recipient.read`
    RecipientRead,
    /// `report.summary`
    ReportSummary,
    /// `request`
    Request,
    /// `request.create`
    RequestCreate,
    /// `request.handover`
    RequestHandover,
    /// `request.handover_collect`
    RequestHandoverCollect,
    /// `request.list`
    RequestList,
    /// `request.rate_limited`
    RequestRateLimited,
    /// `request.read`
    RequestRead,
    /// `request.update`
    RequestUpdate,
    /// `retention.stale`
    RetentionStale,
    /// `review.create`
    ReviewCreate,
    /// `review.due`
    ReviewDue,
    /// `search`
    Search,
    /// `subject.erase`
    SubjectErase,
    /// `subject.export`
    SubjectExport,
    /// `subject.object`
    SubjectObject,
    /// `subject.processing`
    SubjectProcessing,
    /// `subject.read`
    SubjectRead,
    /// `subject.residency`
    SubjectResidency,
    /// `subject.restrict`
    SubjectRestrict,
    /// `subject.unrestrict`
    SubjectUnrestrict,
    /// `token.approve`
    TokenApprove,
    /// `token.create`
    TokenCreate,
    /// `token.enroll`
    TokenEnroll,
    /// `token.enrolled_from_admin`
    TokenEnrolledFromAdmin,
    /// `token.list`
    TokenList,
    /// `token.renew`
    TokenRenew,
    /// `token.revoke`
    TokenRevoke,
    /// `transfer.create`
    TransferCreate,
    /// `transfer.list`
    TransferList,
    /// `transfer.volume`
    TransferVolume,
}

impl Action {
    /// Every action, in name order.
    pub const ALL: [Action; 115] = [
        Action::AssessmentCoverage,
        Action::AssessmentCreate,
        Action::AssessmentList,
        Action::AssessmentReport,
        Action::AuditAlert,
        Action::AuditQuery,
        Action::AuthFail,
        Action::BackupCreate,
        Action::BackupExpire,
        Action::BackupRestore,
        Action::CertificateIssue,
        Action::CertificateRead,
        Action::ComplianceAuditCreate,
        Action::ComplianceAuditFinding,
        Action::ComplianceAuditFix,
        Action::ComplianceAuditList,
        Action::ComplianceAuditProgress,
        Action::ComplianceAuditRead,
        Action::ComplianceAuditReport,
        Action::ComplianceAuditSchedule,
        Action::ComplianceAuditVerify,
        Action::ConsentGrant,
        Action::ConsentHistory,
        Action::ConsentWithdraw,
        Action::DataGradeDecide,
        Action::DataGradeRead,
        Action::DispositionApprove,
        Action::DispositionBatch,
        Action::DispositionDue,
        Action::DispositionPropose,
        Action::DocumentGet,
        Action::DocumentList,
        Action::DocumentPut,
        Action::DossierClose,
        Action::DossierCreate,
        Action::DossierDestroy,
        Action::DossierExportList,
        Action::DossierGrade,
        Action::DossierRead,
        Action::DossierUpdate,
        Action::DossierVersions,
        Action::ExportApprove,
        Action::ExportCreate,
        Action::ExportDownload,
        Action::ExportRead,
        Action::FactorBegin,
        Action::FactorConfirm,
        Action::FactorLockout,
        Action::FactorRequired,
        Action::FactorReset,
        Action::FactorUnlock,
        Action::FactorVerify,
        Action::FiguresPut,
        Action::GovernanceRecords,
        Action::GradeExplain,
        Action::GradeOverride,
        Action::HoldList,
        Action::HoldPlace,
        Action::HoldRelease,
        Action::Import,
        Action::ImportRow,
        Action::IncidentAffected,
        Action::IncidentAffectedList,
        Action::IncidentCreate,
        Action::IncidentExemption,
        Action::IncidentList,
        Action::IncidentNotice,
        Action::IncidentNotify,
        Action::IncidentRead,
        Action::InteractionCreate,
        Action::InteractionList,
        Action::NoticePublish,
        Action::OfficerAppoint,
        Action::OfficerRead,
        Action::PolicyLoad,
        Action::PrincipalApprove,
        Action::PrincipalBreakGlass,
        Action::PrincipalCreate,
        Action::PrincipalDisable,
        Action::PrincipalEnable,
        Action::RecipientAttestation,
        Action::RecipientCreate,
        Action::RecipientList,
        Action::RecipientRead,
        Action::ReportSummary,
        Action::Request,
        Action::RequestCreate,
        Action::RequestHandover,
        Action::RequestHandoverCollect,
        Action::RequestList,
        Action::RequestRateLimited,
        Action::RequestRead,
        Action::RequestUpdate,
        Action::RetentionStale,
        Action::ReviewCreate,
        Action::ReviewDue,
        Action::Search,
        Action::SubjectErase,
        Action::SubjectExport,
        Action::SubjectObject,
        Action::SubjectProcessing,
        Action::SubjectRead,
        Action::SubjectResidency,
        Action::SubjectRestrict,
        Action::SubjectUnrestrict,
        Action::TokenApprove,
        Action::TokenCreate,
        Action::TokenEnroll,
        Action::TokenEnrolledFromAdmin,
        Action::TokenList,
        Action::TokenRenew,
        Action::TokenRevoke,
        Action::TransferCreate,
        Action::TransferList,
        Action::TransferVolume,
    ];

    /// The name an entry stores.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::AssessmentCoverage => "assessment.coverage",
            Action::AssessmentCreate => "assessment.create",
            Action::AssessmentList => "assessment.list",
            Action::AssessmentReport => "assessment.report",
            Action::AuditAlert => "audit.alert",
            Action::AuditQuery => "audit.query",
            Action::AuthFail => "auth.fail",
            Action::BackupCreate => "backup.create",
            Action::BackupExpire => "backup.expire",
            Action::BackupRestore => "backup.restore",
            Action::CertificateIssue => "certificate.issue",
            Action::CertificateRead => "certificate.read",
            Action::ComplianceAuditCreate => "compliance_audit.create",
            Action::ComplianceAuditFinding => "compliance_audit.finding",
            Action::ComplianceAuditFix => "compliance_audit.fix",
            Action::ComplianceAuditList => "compliance_audit.list",
            Action::ComplianceAuditProgress => "compliance_audit.progress",
            Action::ComplianceAuditRead => "compliance_audit.read",
            Action::ComplianceAuditReport => "compliance_audit.report",
            Action::ComplianceAuditSchedule => "compliance_audit.schedule",
            Action::ComplianceAuditVerify => "compliance_audit.verify",
            Action::ConsentGrant => "consent.grant",
            Action::ConsentHistory => "consent.history",
            Action::ConsentWithdraw => "consent.withdraw",
            Action::DataGradeDecide => "data_grade.decide",
            Action::DataGradeRead => "data_grade.read",
            Action::DispositionApprove => "disposition.approve",
            Action::DispositionBatch => "disposition.batch",
            Action::DispositionDue => "disposition.due",
            Action::DispositionPropose => "disposition.propose",
            Action::DocumentGet => "document.get",
            Action::DocumentList => "document.list",
            Action::DocumentPut => "document.put",
            Action::DossierClose => "dossier.close",
            Action::DossierCreate => "dossier.create",
            Action::DossierDestroy => "dossier.destroy",
            Action::DossierExportList => "dossier.export_list",
            Action::DossierGrade => "dossier.grade",
            Action::DossierRead => "dossier.read",
            Action::DossierUpdate => "dossier.update",
            Action::DossierVersions => "dossier.versions",
            Action::ExportApprove => "export.approve",
            Action::ExportCreate => "export.create",
            Action::ExportDownload => "export.download",
            Action::ExportRead => "export.read",
            Action::FiguresPut => "figures.put",
            Action::GovernanceRecords => "governance.records",
            Action::GradeExplain => "grade.explain",
            Action::GradeOverride => "grade.override",
            Action::HoldList => "hold.list",
            Action::HoldPlace => "hold.place",
            Action::HoldRelease => "hold.release",
            Action::Import => "import",
            Action::ImportRow => "import.row",
            Action::IncidentAffected => "incident.affected",
            Action::IncidentAffectedList => "incident.affected_list",
            Action::IncidentCreate => "incident.create",
            Action::IncidentExemption => "incident.exemption",
            Action::IncidentList => "incident.list",
            Action::IncidentNotice => "incident.notice",
            Action::IncidentNotify => "incident.notify",
            Action::IncidentRead => "incident.read",
            Action::InteractionCreate => "interaction.create",
            Action::InteractionList => "interaction.list",
            Action::NoticePublish => "notice.publish",
            Action::PolicyLoad => "policy.load",
            Action::PrincipalApprove => "principal.approve",
            Action::PrincipalBreakGlass => "principal.break_glass",
            Action::PrincipalCreate => "principal.create",
            Action::PrincipalDisable => "principal.disable",
            Action::PrincipalEnable => "principal.enable",
            Action::RecipientAttestation => "recipient.attestation",
            Action::RecipientCreate => "recipient.create",
            Action::RecipientList => "recipient.list",
            Action::RecipientRead => "recipient.read",
            Action::ReportSummary => "report.summary",
            Action::Request => "request",
            Action::RequestCreate => "request.create",
            Action::RequestHandover => "request.handover",
            Action::RequestHandoverCollect => "request.handover_collect",
            Action::RequestList => "request.list",
            Action::RequestRateLimited => "request.rate_limited",
            Action::RequestRead => "request.read",
            Action::RequestUpdate => "request.update",
            Action::RetentionStale => "retention.stale",
            Action::ReviewCreate => "review.create",
            Action::ReviewDue => "review.due",
            Action::Search => "search",
            Action::SubjectErase => "subject.erase",
            Action::SubjectExport => "subject.export",
            Action::SubjectObject => "subject.object",
            Action::SubjectProcessing => "subject.processing",
            Action::SubjectRead => "subject.read",
            Action::SubjectResidency => "subject.residency",
            Action::SubjectRestrict => "subject.restrict",
            Action::SubjectUnrestrict => "subject.unrestrict",
            Action::TokenApprove => "token.approve",
            Action::TokenCreate => "token.create",
            Action::TokenEnroll => "token.enroll",
            Action::TokenEnrolledFromAdmin => "token.enrolled_from_admin",
            Action::TokenList => "token.list",
            Action::TokenRenew => "token.renew",
            Action::TokenRevoke => "token.revoke",
            Action::OfficerAppoint => "officer.appoint",
            Action::OfficerRead => "officer.read",
            Action::TransferCreate => "transfer.create",
            Action::TransferList => "transfer.list",
            Action::TransferVolume => "transfer.volume",
            Action::FactorBegin => "factor.begin",
            Action::FactorConfirm => "factor.confirm",
            Action::FactorLockout => "factor.lockout",
            Action::FactorRequired => "factor.required",
            Action::FactorReset => "factor.reset",
            Action::FactorUnlock => "factor.unlock",
            Action::FactorVerify => "factor.verify",
        }
    }

    /// The action a stored name is, if custos writes it.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Action> for String {
    fn from(a: Action) -> String {
        a.as_str().to_owned()
    }
}

/// A stored entry's action is compared with an [`Action`] by name.
impl PartialEq<Action> for String {
    fn eq(&self, a: &Action) -> bool {
        self == a.as_str()
    }
}

impl PartialEq<Action> for str {
    fn eq(&self, a: &Action) -> bool {
        self == a.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_one_action_in_order() {
        for w in Action::ALL.windows(2) {
            assert!(w[0].as_str() < w[1].as_str(), "{} before {}", w[0], w[1]);
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("dossier.steal"), None);
    }

    #[test]
    fn the_api_reference_lists_every_action_and_no_other() {
        let doc = include_str!("../../docs/api.md");
        let start = doc.find("Action names in entries").unwrap();
        let end = start + doc[start..].find("\n### ").unwrap();
        let listed: Vec<&str> = doc[start..end]
            .lines()
            .filter_map(|l| l.strip_prefix("- "))
            .flat_map(|l| l.split(", "))
            .map(|n| n.trim_matches('`'))
            .collect();
        let all: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(listed, all);
    }
}
