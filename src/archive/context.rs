//! What every use case is called with and answers: the caller's request
//! (`RequestCtx`: principal, token, stated purpose, request id, and the
//! audit entry it makes), and the one error type (`ArchiveError`) that the
//! web edge turns into problems.

use super::Denial;
use crate::audit::{Action, CommitError, EntryBody, Outcome};
use crate::crypto::CryptoError;
use crate::domain::dossier::FieldError;
use crate::domain::{Principal, Purpose};
use crate::policy::PurposeDef;
use crate::store::StoreError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// 403: `denial` says why (audited in words, given to the caller as a
    /// code); `detail` is what the caller is told.
    #[error("{detail}")]
    Forbidden { denial: Denial, detail: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the document does not conform to the dossier template")]
    Invalid(Vec<FieldError>),
    #[error("version {expected} is not the current version ({current})")]
    VersionMismatch { expected: u32, current: u32 },
    #[error("{0}")]
    Conflict(String),
    #[error("destroyed; see certificate {certificate}")]
    Gone { certificate: String },
    #[error("larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("the audit log cannot be written; nothing was changed or returned")]
    AuditUnavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ArchiveError {
    /// A 403 telling the caller the denial's own words.
    pub fn forbidden(denial: Denial) -> Self {
        ArchiveError::Forbidden { detail: denial.told(), denial }
    }

    /// What an audit entry of this failure says: a denial's own words
    /// (never what the caller was told), else the error's text.
    pub fn audit_reason(&self) -> String {
        match self {
            ArchiveError::Forbidden { denial, .. } => denial.to_string(),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for ArchiveError {
    fn from(e: StoreError) -> Self {
        ArchiveError::Internal(e.into())
    }
}

impl From<CryptoError> for ArchiveError {
    fn from(e: CryptoError) -> Self {
        ArchiveError::Internal(e.into())
    }
}

impl From<CommitError> for ArchiveError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Conflict => ArchiveError::Conflict("concurrent change".into()),
            CommitError::Unavailable(_) => ArchiveError::AuditUnavailable,
        }
    }
}

/// A value's name as the API writes it (`in_progress`, `web_form`, ...).
pub(crate) fn wire_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The value of a plain enum whose wire name is `s` (the inverse of `wire_name`).
pub(crate) fn from_wire<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// The `X-Purpose` a request states, parsed once at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatedPurpose {
    /// No `X-Purpose` header.
    Missing,
    /// A header that is not a purpose id (never recorded: it might be anything).
    Malformed,
    Given(Purpose),
}

impl StatedPurpose {
    /// From the header's value, if any (`None` for a value that is not UTF-8
    /// counts as malformed, not missing).
    pub fn parse(header: Option<Option<&str>>) -> Self {
        match header {
            None => StatedPurpose::Missing,
            Some(v) => v.and_then(Purpose::parse).map_or(StatedPurpose::Malformed, StatedPurpose::Given),
        }
    }
}

/// A purpose the caller stated, that exists, and that their role may use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckedPurpose<'a> {
    pub id: &'a Purpose,
    pub def: &'a PurposeDef,
}

impl<'a> CheckedPurpose<'a> {
    pub fn as_str(&self) -> &'a str {
        self.id.as_str()
    }
}

impl std::fmt::Display for CheckedPurpose<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id.as_str())
    }
}

/// Who is asking, for what, under which request id.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub principal: Principal,
    /// The token the request came with: every entry of the request names it.
    pub token_id: crate::domain::TokenId,
    pub purpose: StatedPurpose,
    pub request_id: String,
    /// Set once an audit entry for this request has been made; shared by
    /// every clone, so that the API layer can write one for a request that
    /// ended before its use case did (fail closed: see `audit_unaudited`).
    pub audited: Arc<AtomicBool>,
}

impl RequestCtx {
    pub fn new(
        principal: Principal,
        token_id: crate::domain::TokenId,
        purpose: StatedPurpose,
        request_id: String,
    ) -> Self {
        RequestCtx { principal, token_id, purpose, request_id, audited: Arc::default() }
    }

    /// Whether an audit entry has been made for this request.
    pub fn is_audited(&self) -> bool {
        self.audited.load(Ordering::Acquire)
    }

    /// An audit entry for this request. The resource is recorded only if it
    /// is an id the server issued or a fixed name: a client-supplied string
    /// (a malformed id in a path) might be a personal value.
    pub(in crate::archive) fn entry(
        &self,
        action: Action,
        resource: &str,
        outcome: Outcome,
        reason: impl Into<String>,
    ) -> EntryBody {
        self.audited.store(true, Ordering::Release);
        EntryBody {
            actor: self.principal.id.to_string(),
            roles: self.principal.role_names(),
            action: action.as_str().to_owned(),
            resource: resource_name(resource).to_owned(),
            subjects: vec![],
            purpose: match &self.purpose {
                StatedPurpose::Given(p) => p.as_str().to_owned(),
                StatedPurpose::Missing | StatedPurpose::Malformed => String::new(),
            },
            outcome,
            reason: reason.into(),
            released: vec![],
            masked: vec![],
            withheld: vec![],
            request_id: self.request_id.clone(),
            token_id: self.token_id.to_string(),
        }
    }
}

/// What an audit entry names that is not one record (a record is named by
/// its id): a register, a view of the log, the policies. The one list of
/// these names: an entry's resource is one of them, an id, an audit entry's
/// `audit/<seq>`, or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Audit,
    AuditAlerts,
    AuditCheckpoint,
    AuditProofs,
    Policies,
    Disposition,
    Incidents,
    Requests,
    Exports,
    Assessments,
    Recipients,
    Transfers,
    RecordsOfProcessing,
    Officer,
    DataGrades,
    ComplianceAudits,
    /// The privacy notices' owed notifications (PIPL Art. 17(2)).
    Notices,
    /// The log's checkpoint as its witnesses cosigned it.
    AuditCosigned,
    /// Other logs' checkpoints this custos cosigns as their witness.
    Witness,
}

impl Resource {
    pub const ALL: [Resource; 19] = [
        Resource::Audit,
        Resource::AuditAlerts,
        Resource::AuditCheckpoint,
        Resource::AuditProofs,
        Resource::Policies,
        Resource::Disposition,
        Resource::Incidents,
        Resource::Requests,
        Resource::Exports,
        Resource::Assessments,
        Resource::Recipients,
        Resource::Transfers,
        Resource::RecordsOfProcessing,
        Resource::Officer,
        Resource::DataGrades,
        Resource::ComplianceAudits,
        Resource::Notices,
        Resource::AuditCosigned,
        Resource::Witness,
    ];

    /// The name entries carry (and auditors filter by).
    pub const fn as_str(self) -> &'static str {
        match self {
            Resource::Audit => "audit",
            Resource::AuditAlerts => "audit/alerts",
            Resource::AuditCheckpoint => "audit/checkpoint",
            Resource::AuditProofs => "audit/proofs",
            Resource::Policies => "policies",
            Resource::Disposition => "disposition",
            Resource::Incidents => "incidents",
            Resource::Requests => "requests",
            Resource::Exports => "exports",
            Resource::Assessments => "assessments",
            Resource::Recipients => "recipients",
            Resource::Transfers => "transfers",
            Resource::Officer => "officer",
            Resource::DataGrades => "data-grades",
            Resource::ComplianceAudits => "compliance-audits",
            Resource::Notices => "notices",
            Resource::RecordsOfProcessing => "records-of-processing",
            Resource::AuditCosigned => "audit/checkpoint/cosigned",
            Resource::Witness => "witness",
        }
    }
}

/// `raw` if it is one of our ids or a [`Resource`]'s name, else a marker.
fn resource_name(raw: &str) -> &str {
    const ISSUED: [&str; 18] = [
        "dos_", "sub_", "prn_", "tok_", "bat_", "cert_", "hold_", "alr_", "bak_", "req_", "inc_", "exp_", "pia_",
        "rcp_", "xfr_", "itr_", "grd_", "eng_",
    ];
    let id = ISSUED.iter().any(|p| {
        raw.strip_prefix(p)
            .is_some_and(|u| u.len() == 26 && u.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()))
    });
    let fixed = raw.is_empty()
        || Resource::ALL.iter().any(|r| r.as_str() == raw)
        || raw.strip_prefix("audit/").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if id || fixed {
        raw
    } else {
        "(malformed id)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_names_ids_and_the_listed_resources_and_nothing_else() {
        for r in Resource::ALL {
            assert_eq!(resource_name(r.as_str()), r.as_str());
        }
        assert_eq!(resource_name("records-of-processing"), "records-of-processing");
        assert_eq!(resource_name("dos_01jd0000000000000000000000"), "dos_01jd0000000000000000000000");
        assert_eq!(resource_name("audit/42"), "audit/42");
        for raw in ["13800138000", "张伟", "audit/", "audit/4x", "dos_short", "incidents2"] {
            assert_eq!(resource_name(raw), "(malformed id)", "{raw}");
        }
    }
}
