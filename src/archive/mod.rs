//! The use cases. Plain Rust with no HTTP types: the REST handlers, the CLI
//! and the scheduler all call these.
//!
//! Every use case that touches dossier or subject data ends in exactly one
//! durable commit holding the change (if any) and its audit entry; denials
//! and failures are committed as audit entries too. A read returns data only
//! after its audit entry is durable (fail closed).

mod alerts;
mod audit_log;
pub mod documents;
mod dossiers;
mod principals;
mod records;
pub mod retention;
mod search;
mod subjects;
pub mod transparency;

pub use dossiers::{Created, DossierView, Redaction, VersionInfo};
pub use principals::{check_bootstrap_token, IssuedToken, NewPrincipal};
pub use records::{ConsentBasis, ConsentEventKind};
pub use search::{RepairReport, SearchHit, SearchPage};
pub use subjects::{ConsentEventView, NewConsent, SubjectStatus, SubjectView, EXPORT_SCHEMA_JSON};

use crate::audit::{AuditWriter, Commit, CommitError, EntryBody, Outcome};
use crate::clock::Clock;
use crate::crypto::{CryptoError, Keyring, MasterKey};
use crate::domain::dossier::{FieldError, TemplateValidator};
use crate::domain::{Principal, Purpose};
use crate::metrics::Metrics;
use crate::policy::{PolicySet, PurposeDef};
use crate::store::{Cf, KvStore, StoreError};
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

/// Who is asking, for what, under which request id.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub principal: Principal,
    /// The raw `X-Purpose` header, if any.
    pub purpose: Option<String>,
    pub request_id: String,
}

impl RequestCtx {
    /// An audit entry for this request. The resource is recorded only if it
    /// is an id the server issued or a fixed name: a client-supplied string
    /// (a malformed id in a path) might be a personal value.
    fn entry(&self, action: &str, resource: &str, outcome: Outcome, reason: impl Into<String>) -> EntryBody {
        EntryBody {
            actor: self.principal.id.to_string(),
            roles: self.principal.role_names(),
            action: action.to_owned(),
            resource: resource_name(resource).to_owned(),
            subjects: vec![],
            purpose: self.purpose.as_deref().filter(|p| Purpose::parse(p).is_some()).unwrap_or("").to_owned(),
            outcome,
            reason: reason.into(),
            released: vec![],
            masked: vec![],
            withheld: vec![],
            request_id: self.request_id.clone(),
        }
    }
}

/// `raw` if it is one of our ids or a fixed resource name, else a marker.
fn resource_name(raw: &str) -> &str {
    let id = ["dos_", "sub_", "prn_", "tok_", "bat_", "cert_", "hold_"].iter().any(|p| {
        raw.strip_prefix(p)
            .is_some_and(|u| u.len() == 26 && u.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()))
    });
    let fixed =
        matches!(raw, "" | "audit" | "policies" | "audit/checkpoint" | "audit/proofs" | "audit/alerts" | "disposition")
            || raw.strip_prefix("audit/").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if id || fixed {
        raw
    } else {
        "(malformed id)"
    }
}

pub struct Archive {
    store: Arc<dyn KvStore>,
    keyring: Keyring,
    pub(crate) audit: AuditWriter,
    template: TemplateValidator,
    policy: PolicySet,
    clock: Arc<dyn Clock>,
    signer: crate::audit::checkpoint::NoteSigner,
    /// Dossiers unchanged for this long are flagged as stale by the sweep.
    stale_after: time::Duration,
    /// The full-text and blind index, once enabled.
    search: Option<crate::search::SearchIndex>,
    /// Token hash → principal, for tokens seen valid. Revocation removes the
    /// entry before it answers, so a revoked token fails on its next use.
    auth_cache: std::sync::Mutex<std::collections::HashMap<String, Principal>>,
}

/// `System` key marking an initialised data directory.
const INIT_KEY: &[u8] = b"initialized";

impl Archive {
    pub fn open(
        store: Arc<dyn KvStore>,
        master: MasterKey,
        policy: PolicySet,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        key_cache: usize,
    ) -> anyhow::Result<Self> {
        if let Some(raw) = store.get(Cf::System, INIT_KEY)? {
            let rec: records::InitRecord = serde_json::from_slice(&raw)?;
            if rec.master_fingerprint != master.fingerprint() {
                anyhow::bail!(
                    "the master key (fingerprint {}) is not the one this data directory was initialised with ({})",
                    master.fingerprint(),
                    rec.master_fingerprint
                );
            }
        }
        let signer = transparency::load_signer(store.as_ref(), &master)?;
        let audit = AuditWriter::start(store.clone(), clock.clone(), policy.hash.clone(), metrics)?;
        Ok(Archive {
            keyring: Keyring::new(master, store.clone(), key_cache),
            store,
            audit,
            template: TemplateValidator::new()?,
            policy,
            clock,
            auth_cache: Default::default(),
            signer,
            stale_after: time::Duration::days(365),
            search: None,
        })
    }

    /// How long a dossier may go unchanged before the sweep flags it.
    pub fn set_stale_after(&mut self, after: time::Duration) {
        self.stale_after = after;
    }

    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.store
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub fn audit_head(&self) -> crate::audit::ChainHead {
        self.audit.head()
    }

    pub fn policy_hash(&self) -> String {
        self.audit.policy_hash()
    }

    /// Readiness: the store answers and the audit writer accepts work.
    pub fn ready(&self) -> bool {
        self.store.get(Cf::System, INIT_KEY).is_ok_and(|v| v.is_some())
    }

    pub fn shutdown(&self) {
        self.audit.shutdown();
    }

    /// Commits a denial or failure entry, then returns `err`. If even the
    /// entry cannot be written the caller learns that instead.
    async fn refuse<T>(&self, entry: EntryBody, err: ArchiveError) -> Result<T, ArchiveError> {
        self.audit.commit(Commit::entry(entry)).await?;
        Err(err)
    }

    /// The purpose check every personal-data call starts with: 400 when the
    /// header is missing or unknown, 403 when the caller's role may not use
    /// it. Each refusal is audited under `action`.
    async fn purpose(&self, ctx: &RequestCtx, action: &str, resource: &str) -> Result<&PurposeDef, ArchiveError> {
        let Some(raw) = ctx.purpose.as_deref() else {
            let e = ctx.entry(action, resource, Outcome::Deny, "missing purpose");
            return self
                .refuse(e, ArchiveError::BadRequest("the X-Purpose header is required for this call".into()))
                .await;
        };
        let parsed = Purpose::parse(raw);
        let Some((purpose, def)) = parsed.as_ref().and_then(|p| self.policy.purposes.get(p).map(|d| (p, d))) else {
            let mut e = ctx.entry(action, resource, Outcome::Deny, "unknown purpose");
            e.purpose.clear(); // not one of ours: it might be anything
            let known: Vec<&str> = self.policy.purposes.ids().collect();
            return self
                .refuse(e, ArchiveError::BadRequest(format!("unknown purpose; known purposes: {}", known.join(", "))))
                .await;
        };
        if !self.policy.purposes.may_use(&ctx.principal, purpose) {
            let e = ctx.entry(action, resource, Outcome::Deny, format!("role may not use purpose {purpose}"));
            return self
                .refuse(e, ArchiveError::Forbidden(format!("your role may not use the purpose {purpose}")))
                .await;
        }
        Ok(def)
    }
}
