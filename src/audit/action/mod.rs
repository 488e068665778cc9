//! What an audit entry records as its `action`: every operation custos
//! audits, by name. The names are the stored and published ones
//! (docs/api.md); the enum keeps a use case from writing one that does not
//! exist, and lists them all in one place.

mod names;

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
    /// `backup.list`
    BackupList,
    /// `backup.restore`
    BackupPromote,
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
    /// `customer.worklist`
    CustomerWorklist,
    /// `data_grade.decide`
    DataGradeDecide,
    /// `data_grade.read`
    DataGradeRead,
    /// `data_security.appoint`
    DataSecurityAppoint,
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
    /// `grade.contest`
    GradeContest,
    /// `grade.object`
    GradeObject,
    /// `grade.objection_withdraw`
    GradeObjectionWithdraw,
    /// `grade.review`
    GradeReview,
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
    /// `notice.notify`: a person recorded as told of a notice version
    NoticeNotify,
    /// `notice.owed`: the persons owed a notification of a notice version listed
    NoticeOwed,
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
    /// `principal.list`
    PrincipalList,
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
    /// `request.link`
    RequestLink,
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
    /// `subject.access_report`
    SubjectAccessReport,
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
    /// `subject.restriction_notice`
    SubjectRestrictionNotice,
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
    /// `witness.cosign`: another log's checkpoint cosigned, or refused, by this custos as its witness
    WitnessCosign,
    /// `witness.submit`: this log's checkpoint refused by a witness, or the witness unreachable
    WitnessSubmit,
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
        let doc = include_str!("../../../docs/api.md");
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
