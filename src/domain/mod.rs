//! Parsed domain types. Everything that crosses the HTTP or CLI edge is turned
//! into one of these first, so the layers below never see an unchecked string.

pub mod catalog;
mod credit_code;
pub mod dossier;
mod ids;
mod jurisdiction;
pub mod labels;
mod lang;

pub use credit_code::{CreditCode, CreditCodeError};
pub use ids::{
    AlertId, AssessmentId, BackupId, BatchId, CertificateId, DossierId, ExportId, HoldId, IdError, IncidentId,
    InteractionId, PrincipalId, RecipientId, RequestId, SubjectId, TokenId, TransferId,
};
pub use ids::{AppointmentId, EngagementId, GradeDecisionId};
pub use jurisdiction::{Jurisdiction, EU_MEMBER_STATES};
pub use lang::Lang;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A built-in role (API.md "Principals and roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Sales,
    Service,
    Finance,
    Compliance,
    Admin,
    /// Read-only: the audit log, its proofs and checkpoints, alerts; never
    /// dossier content (separation of duties).
    Auditor,
    /// An outside party's principal (a carrier, a warehouse, an IT
    /// processor, an independent recipient), bound to its entry of the
    /// recipients register: its agreed purposes, classes and term.
    Processor,
}

impl Role {
    pub const ALL: [Role; 7] =
        [Role::Sales, Role::Service, Role::Finance, Role::Compliance, Role::Admin, Role::Auditor, Role::Processor];

    /// Roles one principal may not hold together (separation of duties,
    /// the three administrators of MLPS level 3 and GB/T 35273 §7.1): the
    /// system administrator (admin) manages principals and tokens and holds
    /// no business role, no security role (compliance) and no audit role;
    /// the audit administrator (auditor) holds nothing else; the security
    /// administrator (compliance) is neither of the other two.
    pub fn conflict(roles: &[Role]) -> Option<(Role, Role)> {
        let has = |r: Role| roles.contains(&r);
        // An outside party's principal is nothing else.
        if has(Role::Processor) {
            if let Some(other) = roles.iter().find(|r| **r != Role::Processor) {
                return Some((Role::Processor, *other));
            }
        }
        if has(Role::Admin) {
            for other in [Role::Sales, Role::Service, Role::Finance, Role::Compliance, Role::Auditor] {
                if has(other) {
                    return Some((Role::Admin, other));
                }
            }
        }
        if has(Role::Auditor) {
            for other in [Role::Sales, Role::Service, Role::Finance, Role::Compliance] {
                if has(other) {
                    return Some((Role::Auditor, other));
                }
            }
        }
        None
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sales => "sales",
            Role::Service => "service",
            Role::Finance => "finance",
            Role::Compliance => "compliance",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Processor => "processor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("unknown role {s:?}"))
    }
}

/// Field classification (API.md "The dossier template").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    Public,
    Internal,
    Confidential,
    Personal,
    Sensitive,
}

impl Classification {
    pub const ALL: [Classification; 5] = [
        Classification::Public,
        Classification::Internal,
        Classification::Confidential,
        Classification::Personal,
        Classification::Sensitive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::Internal => "internal",
            Classification::Confidential => "confidential",
            Classification::Personal => "personal",
            Classification::Sensitive => "sensitive",
        }
    }
}

impl FromStr for Classification {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Self::Public),
            "internal" => Ok(Self::Internal),
            "confidential" => Ok(Self::Confidential),
            "personal" => Ok(Self::Personal),
            "sensitive" => Ok(Self::Sensitive),
            _ => Err(format!("unknown classification {s:?}")),
        }
    }
}

/// A purpose id as sent in `X-Purpose`. Only syntax is checked here; whether
/// the purpose exists is the purpose registry's business.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Purpose(String);

impl Purpose {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit());
        ok.then(|| Purpose(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub id: PrincipalId,
    pub name: String,
    pub roles: Vec<Role>,
    pub department: String,
    pub region: String,
    pub created_at: time::OffsetDateTime,
    /// For a `processor`: the recipients-register entry it acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<RecipientId>,
    /// An admin made through the API acts as an admin only once a second
    /// admin, not its creator, has approved it: until then this names the
    /// creator, and authentication leaves the admin role out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_pending: Option<PrincipalId>,
    /// Set when an admin disabled the principal: every token of it stops
    /// working at once, until a different admin enables it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_by: Option<PrincipalId>,
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn role_names(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.as_str().to_owned()).collect()
    }
}

/// What a recipients-register entry is to the company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    /// Processes on the company's behalf (entrusted party, PIPL Art. 21; GDPR Art. 28).
    Processor,
    /// Decides its own purposes: provision needs each person's separate
    /// consent naming it (PIPL Art. 23).
    Independent,
}

/// The kinds of processing PIPL Art. 55 names as needing an impact
/// assessment before they start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessingKind {
    SensitiveData,
    AutomatedDecision,
    Entrustment,
    ProvisionToThirdParty,
    CrossBorder,
}

impl ProcessingKind {
    pub const ALL: [ProcessingKind; 5] = [
        ProcessingKind::SensitiveData,
        ProcessingKind::AutomatedDecision,
        ProcessingKind::Entrustment,
        ProcessingKind::ProvisionToThirdParty,
        ProcessingKind::CrossBorder,
    ];

    /// As written in policies and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessingKind::SensitiveData => "sensitive_data",
            ProcessingKind::AutomatedDecision => "automated_decision",
            ProcessingKind::Entrustment => "entrustment",
            ProcessingKind::ProvisionToThirdParty => "provision_to_third_party",
            ProcessingKind::CrossBorder => "cross_border",
        }
    }

    pub fn parse(s: &str) -> Option<ProcessingKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ProcessingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
