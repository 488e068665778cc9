//! The use cases. Plain Rust with no HTTP types: the REST handlers, the CLI
//! and the scheduler all call these.
//!
//! Every use case that touches dossier or subject data ends in exactly one
//! durable commit holding the change (if any) and its audit entry; denials
//! and failures are committed as audit entries too. A read returns data only
//! after its audit entry is durable (fail closed).

pub mod backups;
mod certificates;
pub mod customers;
pub mod documents;
pub mod dossiers;
pub mod gate;
pub mod governance;
pub mod identity;
pub mod index;
mod interaction_records;
mod records;
pub mod registers;
pub mod retention;
pub mod subjects;
#[cfg(test)]
mod testkit;
pub mod trail;
pub(crate) mod vault;

pub use backups::BackupSettings;
pub use dossiers::{CollectionRecord, Created, DossierView, Redaction, RedactionReason, SensitiveBasis, VersionInfo};
pub use dossiers::{SearchHit, SearchPage};
pub use identity::{
    check_bootstrap_token, Bootstrapped, BrokenGlass, Enrolled, IssuedToken, NewPrincipal, PrincipalView, TokenIssue,
    TokenLifetimes, TokenView,
};
pub use index::RepairReport;
pub use records::{ConsentBasis, ConsentEventKind, TokenState};
pub use subjects::{ConsentEventView, NewConsent, SubjectStatus, SubjectView, EXPORT_SCHEMA_JSON};

use crate::audit::{AuditWriter, CommitError, EntryBody, Outcome};
use crate::clock::Clock;
use crate::crypto::{CryptoError, Keyring, MasterKey};
use crate::domain::dossier::{FieldError, TemplateValidator};
use crate::domain::{Principal, Purpose};
use crate::metrics::Metrics;
use crate::policy::{PolicySet, PurposeDef};
use crate::store::{keys, Cf, KvStore, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("missing or invalid credentials")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
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
    fn entry(&self, action: &str, resource: &str, outcome: Outcome, reason: impl Into<String>) -> EntryBody {
        self.audited.store(true, Ordering::Release);
        EntryBody {
            actor: self.principal.id.to_string(),
            roles: self.principal.role_names(),
            action: action.to_owned(),
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

/// `raw` if it is one of our ids or a fixed resource name, else a marker.
fn resource_name(raw: &str) -> &str {
    const ISSUED: [&str; 16] = [
        "dos_", "sub_", "prn_", "tok_", "bat_", "cert_", "hold_", "alr_", "bak_", "req_", "inc_", "exp_", "pia_",
        "rcp_", "xfr_", "itr_",
    ];
    let id = ISSUED.iter().any(|p| {
        raw.strip_prefix(p)
            .is_some_and(|u| u.len() == 26 && u.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()))
    });
    let fixed =
        matches!(raw, "" | "audit" | "policies" | "audit/checkpoint" | "audit/proofs" | "audit/alerts" | "disposition")
            || matches!(raw, "incidents" | "requests" | "exports" | "assessments" | "recipients" | "transfers")
            || raw.strip_prefix("audit/").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if id || fixed {
        raw
    } else {
        "(malformed id)"
    }
}

/// The composition root: the services, built once by [`Archive::open`]
/// from the ports and the settings, each reached through its accessor. It
/// keeps no use case of its own; what it answers itself is read from the
/// policy files or the audit writer (readiness, the policy hash, the
/// purposes and codes a form offers).
pub struct Archive {
    store: Arc<dyn KvStore>,
    keyring: Arc<Keyring>,
    audit: Arc<AuditWriter>,
    policy: Arc<PolicySet>,
    clock: Arc<dyn Clock>,
    /// Who may do what (every other service asks it).
    gate: Arc<gate::Gate>,
    /// Principals, tokens and authentication.
    identity: Arc<identity::Identity>,
    /// The audit log's reading side.
    trail: Arc<trail::AuditTrail>,
    /// The full-text and blind index and its upkeep.
    index: Arc<index::Indexer>,
    /// The dossier use cases, and the lookups every use case about a dossier shares.
    dossiers: Arc<dossiers::Dossiers>,
    /// Contract documents.
    documents: Arc<documents::Documents>,
    /// Recipients, transfers, impact assessments, records of processing.
    governance: Arc<governance::Governance>,
    /// Customer management.
    customers: Arc<customers::Customers>,
    /// Data subjects and their consent.
    subjects: Arc<subjects::Subjects>,
    /// Retention and destruction.
    retention: Arc<retention::Retention>,
    /// The compliance registers.
    registers: Arc<registers::Registers>,
    /// Backup sets.
    backups: Arc<backups::Backups>,
}

/// The ports the services are built from; each takes only the ones it uses.
pub(crate) struct Ports {
    pub store: Arc<dyn KvStore>,
    pub keyring: Arc<Keyring>,
    pub vault: Arc<vault::Vault>,
    pub audit: Arc<AuditWriter>,
    pub gate: Arc<gate::Gate>,
    pub policy: Arc<PolicySet>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
}

/// How an archive is tuned: what [`Archive::open`] needs besides its ports.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Unwrapped data keys kept in memory.
    pub key_cache: usize,
    /// How often the key-encryption key rotates.
    pub kek_rotation: std::time::Duration,
    /// Dossiers unchanged for this long are flagged as stale by the sweep.
    pub stale_after: time::Duration,
    /// How long enrolled tokens work.
    pub token_lifetimes: TokenLifetimes,
    /// Where backup sets go, if anywhere.
    pub backup: Option<BackupSettings>,
    /// Where the search index lives (none: search is off, as offline).
    pub index_dir: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            key_cache: 1000,
            kek_rotation: crate::crypto::DEFAULT_KEK_ROTATION,
            stale_after: time::Duration::days(365),
            token_lifetimes: TokenLifetimes::default(),
            backup: None,
            index_dir: None,
        }
    }
}

impl Archive {
    pub fn open(
        store: Arc<dyn KvStore>,
        master: MasterKey,
        policy: PolicySet,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        if let Some(raw) = store.get(Cf::System, keys::INITIALIZED)? {
            let rec: records::InitRecord = serde_json::from_slice(&raw)?;
            if rec.master_fingerprint != master.fingerprint() {
                anyhow::bail!(
                    "the master key (fingerprint {}) is not the one this data directory was initialised with ({})",
                    master.fingerprint(),
                    rec.master_fingerprint
                );
            }
        }
        dossiers::check_notices(store.as_ref(), &policy.notices)?;
        let signer = Arc::new(trail::transparency::load_signer(store.as_ref(), &master)?);
        let audit = Arc::new(AuditWriter::start(store.clone(), clock.clone(), policy.hash.clone(), metrics.clone())?);
        let policy = Arc::new(policy);
        let assessed = governance::assessed_purposes(store.as_ref())?;
        let gate = Arc::new(gate::Gate::new(policy.clone(), audit.clone(), store.clone(), clock.clone(), assessed));
        let keyring = Arc::new(Keyring::open(master, store.clone(), settings.key_cache, settings.kek_rotation)?);
        let vault = Arc::new(vault::Vault::new(store.clone(), keyring.clone(), clock.clone()));
        let identity = Arc::new(identity::Identity::new(
            store.clone(),
            keyring.clone(),
            vault.clone(),
            audit.clone(),
            gate.clone(),
            clock.clone(),
            settings.token_lifetimes,
        ));
        let trail = Arc::new(trail::AuditTrail::new(
            store.clone(),
            audit.clone(),
            gate.clone(),
            policy.clone(),
            clock.clone(),
            signer.clone(),
        ));
        let index =
            Arc::new(index::Indexer::open(store.clone(), &keyring, vault.clone(), settings.index_dir.as_deref())?);
        let template = Arc::new(TemplateValidator::new()?);
        let ports = Ports {
            store: store.clone(),
            keyring: keyring.clone(),
            vault: vault.clone(),
            audit: audit.clone(),
            gate: gate.clone(),
            policy: policy.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
        };
        let dossiers = Arc::new(dossiers::Dossiers::new(&ports, index.clone(), identity.clone(), template.clone()));
        let documents = Arc::new(documents::Documents::new(&ports, dossiers.clone()));
        let governance = Arc::new(governance::Governance::new(&ports));
        let customers = Arc::new(customers::Customers::new(
            &ports,
            dossiers.clone(),
            index.clone(),
            template.clone(),
            settings.stale_after,
        ));
        let subjects = Arc::new(subjects::Subjects::new(
            &ports,
            dossiers.clone(),
            documents.clone(),
            governance.clone(),
            index.clone(),
        ));
        let backups = Arc::new(backups::Backups::new(
            backups::BackupPorts {
                store: store.clone(),
                keyring: keyring.clone(),
                audit: audit.clone(),
                gate: gate.clone(),
                trail: trail.clone(),
                clock: clock.clone(),
                signer: signer.clone(),
                metrics: metrics.clone(),
            },
            settings.backup,
        ));
        let retention = Arc::new(retention::Retention::new(
            &ports,
            dossiers.clone(),
            documents.clone(),
            index.clone(),
            backups.clone(),
            trail.clone(),
            signer.clone(),
            settings.stale_after,
        ));
        let registers = Arc::new(registers::Registers::new(
            &ports,
            dossiers.clone(),
            subjects.clone(),
            governance.clone(),
            identity.clone(),
        ));
        Ok(Archive {
            store,
            keyring,
            audit,
            policy,
            clock,
            gate,
            identity,
            trail,
            index,
            dossiers,
            documents,
            governance,
            customers,
            subjects,
            retention,
            registers,
            backups,
        })
    }

    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.store
    }

    /// The decision gate (for menus and views: what may this caller do?).
    pub fn gate(&self) -> &gate::Gate {
        &self.gate
    }

    /// Principals, tokens and authentication.
    pub fn identity(&self) -> &identity::Identity {
        &self.identity
    }

    /// The audit log's reading side: queries, proofs, checkpoints, alerts.
    pub fn audit_trail(&self) -> &trail::AuditTrail {
        &self.trail
    }

    /// Backup sets.
    pub fn backups(&self) -> &backups::Backups {
        &self.backups
    }

    /// The search index's upkeep (start-up repair).
    pub fn search_index(&self) -> &index::Indexer {
        &self.index
    }

    /// Recipients, transfers, impact assessments, records of processing.
    pub fn governance(&self) -> &governance::Governance {
        &self.governance
    }

    /// The compliance registers: requests, incidents, exports.
    pub fn registers(&self) -> &registers::Registers {
        &self.registers
    }

    /// Retention and destruction.
    pub fn retention(&self) -> &retention::Retention {
        &self.retention
    }

    /// Data subjects and their consent.
    pub fn subjects(&self) -> &subjects::Subjects {
        &self.subjects
    }

    /// Customer management.
    pub fn customers(&self) -> &customers::Customers {
        &self.customers
    }

    /// Contract documents.
    pub fn documents(&self) -> &documents::Documents {
        &self.documents
    }

    /// The dossier use cases.
    pub fn dossiers(&self) -> &dossiers::Dossiers {
        &self.dossiers
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub fn audit_head(&self) -> crate::audit::ChainHead {
        self.audit.head()
    }

    /// The time as the archive sees it (the injected clock).
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// The purposes the loaded policies define (`X-Purpose` values).
    pub fn purpose_ids(&self) -> Vec<String> {
        self.policy.purposes.ids().map(str::to_owned).collect()
    }

    /// The incident levels of policies/incidents.toml.
    pub fn incident_levels(&self) -> Vec<String> {
        self.policy.incidents.levels.clone()
    }

    /// The transfer mechanisms of policies/transfers.toml.
    pub fn transfer_mechanisms(&self) -> Vec<String> {
        self.policy.transfers.mechanisms.keys().cloned().collect()
    }

    /// The notice versions of policies/notices.toml, oldest first.
    pub fn notice_versions(&self) -> Vec<String> {
        self.policy.notices.versions().iter().map(|n| n.version.clone()).collect()
    }

    /// The refusal reason codes of policies/requests.toml.
    pub fn refusal_codes(&self) -> Vec<String> {
        self.policy.requests.refusal_reasons.keys().cloned().collect()
    }

    /// The purposes that rest on consent (what a consent record may name).
    pub fn consent_purpose_ids(&self) -> Vec<String> {
        self.purpose_ids()
            .into_iter()
            .filter(|id| {
                crate::domain::Purpose::parse(id)
                    .and_then(|p| self.policy.purposes.get(&p).map(|d| d.basis))
                    .is_some_and(|b| matches!(b, crate::policy::Basis::Consent | crate::policy::Basis::SeparateConsent))
            })
            .collect()
    }

    pub fn policy_hash(&self) -> String {
        self.audit.policy_hash()
    }

    /// Readiness: the store answers and the audit writer accepts work.
    pub fn ready(&self) -> bool {
        self.store.get(Cf::System, keys::INITIALIZED).is_ok_and(|v| v.is_some())
    }

    pub fn shutdown(&self) {
        self.audit.shutdown();
    }
}
