//! The bodies of the data grades and the compliance-audit register, each
//! with its one conversion into the archive's command (as [`super`]'s):
//! their dates parsed, their texts bounded, a report decoded. Whether a
//! date lies in the future, a set exists or a level is the policy's is the
//! use case's to check.

use crate::archive::oversight::{
    Conductor, EngagementCompletion, NewAppointment, NewEngagement, NewFinding, NewGradeDecision, Severity,
};
use crate::domain::dossier::FieldError;
use crate::domain::CreditCode;
use crate::policy::audits::EngagementKind;
use crate::policy::data_grades::Level;
use crate::web::body::{Errors, Text};
use base64::Engine;
use serde::Deserialize;
use utoipa::ToSchema;

/// The longest role name (a department or function).
const MAX_ROLE: usize = 120;

/// `POST /v1/data-grades/decisions`: the decision behind a set's level.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GradeDecisionDto {
    /// The data set's id in data_grades.toml.
    #[schema(pattern = "^[a-z_]{1,64}$")]
    pub set: String,
    #[schema(inline)]
    pub level: Level,
    /// ISO 8601 date.
    #[schema(format = Date)]
    pub decided_on: String,
    /// The body or role that decided (sealed).
    #[schema(inline)]
    pub decided_by: Text,
    /// Why this level (sealed).
    #[schema(inline)]
    pub reasoning: Text,
}

impl TryFrom<GradeDecisionDto> for NewGradeDecision {
    type Error = Vec<FieldError>;
    fn try_from(d: GradeDecisionDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let decided_on = super::api_bodies::iso_date(&mut errors, "/decided_on", &d.decided_on);
        let new = decided_on.map(|decided_on| NewGradeDecision {
            set: d.set,
            level: d.level,
            decided_on,
            decided_by: d.decided_by.0,
            reasoning: d.reasoning.0,
        });
        errors.finish(new)
    }
}

/// `POST /v1/data-grades/responsible`: who is responsible for
/// network-data security, and the body that manages it (NDSMR Art. 30).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentDto {
    /// The person responsible (sealed).
    #[schema(inline)]
    pub name: Text,
    /// How to reach them (sealed).
    #[schema(inline)]
    pub contact: Text,
    /// The managing body (网络数据安全管理机构; sealed).
    #[schema(inline)]
    pub unit: Text,
    /// ISO 8601 date.
    #[schema(format = Date)]
    pub appointed_on: String,
}

impl TryFrom<AppointmentDto> for NewAppointment {
    type Error = Vec<FieldError>;
    fn try_from(d: AppointmentDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let appointed_on = super::api_bodies::iso_date(&mut errors, "/appointed_on", &d.appointed_on);
        let new = appointed_on.map(|appointed_on| NewAppointment {
            name: d.name.0,
            contact: d.contact.0,
            unit: d.unit.0,
            appointed_on,
        });
        errors.finish(new)
    }
}

/// `POST /v1/compliance-audits`: an engagement planned.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EngagementDto {
    #[schema(inline)]
    pub kind: EngagementKind,
    #[schema(inline)]
    pub conductor: Conductor,
    /// The outside firm's unified social credit code (GB 32100-2015: 18
    /// characters, the last a check character); required for an external
    /// `pi_compliance` engagement, refused for an internal one. An
    /// organisation's code, stored and shown in clear.
    #[serde(default)]
    #[schema(pattern = "^[0-9A-HJ-NP-RTUW-Y]{2}[0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}$")]
    pub firm: Option<String>,
    /// The organisation and the auditor's role, not a person's name (sealed).
    #[schema(inline)]
    pub auditor: Text,
    /// What it covers (sealed).
    #[schema(inline)]
    pub scope: Text,
    /// ISO 8601 date.
    #[schema(format = Date)]
    pub planned_on: String,
}

impl TryFrom<EngagementDto> for NewEngagement {
    type Error = Vec<FieldError>;
    fn try_from(d: EngagementDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let planned_on = super::api_bodies::iso_date(&mut errors, "/planned_on", &d.planned_on);
        let firm = match d.firm.as_deref().map(CreditCode::parse).transpose() {
            Ok(firm) => firm,
            Err(e) => {
                errors.add("/firm", &format!("not a unified social credit code: {e}"));
                None
            }
        };
        let new = planned_on.map(|planned_on| NewEngagement {
            kind: d.kind,
            conductor: d.conductor,
            firm,
            auditor: d.auditor.0,
            scope: d.scope.0,
            planned_on,
        });
        errors.finish(new)
    }
}

/// `POST /v1/compliance-audits/{id}/start`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartDto {
    /// ISO 8601 date.
    #[schema(format = Date)]
    pub started_on: String,
}

/// `POST /v1/compliance-audits/{id}/authority-report`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorityReportDto {
    /// When the report went to the authority (ISO 8601 date).
    #[schema(format = Date)]
    pub reported_on: String,
}

/// A body that is one date, parsed.
pub fn one_date(path: &str, value: &str) -> Result<time::Date, Vec<FieldError>> {
    let mut errors = Errors::default();
    let d = super::api_bodies::iso_date(&mut errors, path, value);
    errors.finish(d)
}

/// `POST /v1/compliance-audits/{id}/complete`: the conclusion and report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletionDto {
    /// ISO 8601 date.
    #[schema(format = Date)]
    pub ended_on: String,
    /// Its conclusion (sealed).
    #[schema(inline)]
    pub conclusion: Text,
    #[schema(inline)]
    pub report: ReportDto,
}

/// A report document (stored sealed; its SHA-256 recorded).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportDto {
    /// Its media type (`application/pdf`).
    #[schema(pattern = "^[a-z]+/[a-z0-9.+-]+$", max_length = 127)]
    pub media_type: String,
    /// The document, standard base64 with padding (at most what a body may hold).
    #[schema(
        min_length = 4,
        max_length = 1048576,
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
    )]
    pub content_base64: String,
}

/// A report document sent as standard base64 with padding; padding bits
/// need not be zero: any base64 the schemas' pattern admits decodes.
pub fn report_bytes(errors: &mut Errors, path: &str, b64: &str) -> Option<Vec<u8>> {
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let report = lenient.decode(b64.as_bytes()).ok();
    if report.is_none() {
        errors.add(path, "standard base64 with padding");
    }
    report
}

impl TryFrom<CompletionDto> for EngagementCompletion {
    type Error = Vec<FieldError>;
    fn try_from(d: CompletionDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let ended_on = super::api_bodies::iso_date(&mut errors, "/ended_on", &d.ended_on);
        let report = report_bytes(&mut errors, "/report/content_base64", &d.report.content_base64);
        let new = ended_on.zip(report).map(|(ended_on, report)| EngagementCompletion {
            ended_on,
            conclusion: d.conclusion.0,
            report,
            report_type: d.report.media_type,
        });
        errors.finish(new)
    }
}

/// `POST /v1/compliance-audits/{id}/findings`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingDto {
    #[schema(inline)]
    pub severity: Severity,
    /// What was found (sealed).
    #[schema(inline)]
    pub description: Text,
    /// The role or department that owns the fix, not a person (at most
    /// 120 characters).
    #[schema(inline)]
    pub owner_role: Text,
    /// The day the fix is due (ISO 8601 date).
    #[schema(format = Date)]
    pub due_on: String,
}

impl TryFrom<FindingDto> for NewFinding {
    type Error = Vec<FieldError>;
    fn try_from(d: FindingDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let due_on = super::api_bodies::iso_date(&mut errors, "/due_on", &d.due_on);
        let owner_role = errors.text("/owner_role", &d.owner_role.0, MAX_ROLE);
        let new =
            due_on.map(|due_on| NewFinding { severity: d.severity, description: d.description.0, owner_role, due_on });
        errors.finish(new)
    }
}

/// `POST /v1/compliance-audits/{id}/findings/{n}/fix`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixDto {
    /// What shows the fix (sealed).
    #[schema(inline)]
    pub evidence: Text,
}

/// `POST /v1/compliance-audits/{id}/findings/{n}/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyDto {
    /// `true`: the fix holds (verified); `false`: the finding is open again.
    pub accepted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(due_on: &str, owner_role: &str) -> Result<NewFinding, Vec<FieldError>> {
        NewFinding::try_from(FindingDto {
            severity: Severity::High,
            description: Text("x".into()),
            owner_role: Text(owner_role.into()),
            due_on: due_on.into(),
        })
    }

    #[test]
    fn bodies_parse_their_dates_and_bound_their_texts_and_reports() {
        let paths = |e: Vec<FieldError>| e.into_iter().map(|e| e.path).collect::<Vec<_>>();
        assert_eq!(finding("2027-01-31", " IT operations ").unwrap().owner_role, "IT operations");
        assert_eq!(paths(finding("31.01.2027", "IT").unwrap_err()), ["/due_on"]);
        assert_eq!(paths(finding("2027-01-31", &"x".repeat(121)).unwrap_err()), ["/owner_role"]);
        assert_eq!(paths(finding("2027-01-31", " \t").unwrap_err()), ["/owner_role"]);
        let done = |b64: &str, ended_on: &str| {
            EngagementCompletion::try_from(CompletionDto {
                ended_on: ended_on.into(),
                conclusion: Text("c".into()),
                report: ReportDto { media_type: "application/pdf".into(), content_base64: b64.into() },
            })
        };
        assert_eq!(done("JVBERi0=", "2027-01-31").unwrap().report, b"%PDF-");
        assert_eq!(paths(done("not base64!", "2027-02-30").unwrap_err()), ["/ended_on", "/report/content_base64"]);
        assert_eq!(one_date("/started_on", "2027-01-31").unwrap().to_string(), "2027-01-31");
        assert_eq!(paths(one_date("/started_on", "soon").unwrap_err()), ["/started_on"]);
    }
}
