//! The use cases, as services (docs/architecture.md, "Services"): each a
//! type with the ports it uses and the state it owns, depending on the
//! services below it only; `Archive` builds them and hands them out. Plain
//! Rust with no HTTP types: the REST handlers, the console, the CLI and the
//! scheduler all call these.
//!
//! Every use case that touches dossier or subject data ends in exactly one
//! durable commit holding the change (if any) and its audit entry; denials
//! and failures are committed as audit entries too. A read returns data only
//! after its audit entry is durable (fail closed).

pub mod backups;
mod certificates;
mod context;
pub mod customers;
pub mod denial;
pub mod documents;
pub mod dossiers;
pub mod gate;
pub mod governance;
pub mod identity;
pub mod index;
mod interaction_records;
mod kept;
pub mod oversight;
mod records;
pub mod registers;
pub mod retention;
pub mod standby;
pub mod subjects;
#[cfg(test)]
mod testkit;
pub mod trail;
pub(crate) mod vault;
pub mod witness;

pub use backups::{BackupSetView, BackupSettings, BackupStatus, DamagedSet};
pub(crate) use context::{from_wire, wire_name, CheckedPurpose};
pub use context::{ArchiveError, RequestCtx, Resource, StatedPurpose};
pub use denial::Denial;
pub use dossiers::{CollectionRecord, Created, DossierView, Redaction, RedactionReason, SensitiveBasis, VersionInfo};
pub use dossiers::{SearchHit, SearchPage};
pub use identity::{
    check_bootstrap_token, Bootstrapped, BrokenGlass, Enrolled, IssuedToken, NewPrincipal, PrincipalView, TokenIssue,
    TokenLifetimes, TokenView,
};
pub use identity::{Enrollment, FactorChange, FactorSetup, Proven, Standing, MAX_CODE};
pub use index::RepairReport;
pub use records::{
    mark_worked_on, ConsentBasis, ConsentEventKind, GradeStand, NoticeChannel, NotifyChannel, StandEvent, TokenState,
};
pub use subjects::{
    ConsentEventView, LiftNoticeView, NewConsent, NewLiftNotice, SubjectStatus, SubjectView, EXPORT_SCHEMA_JSON,
    MAX_NOTICE_REFERENCE,
};
pub use witness::{WitnessPeer, WitnessSettings, WitnessedLog};

use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::crypto::{Keyring, MasterKey};
use crate::domain::dossier::TemplateValidator;
use crate::metrics::Metrics;
use crate::policy::PolicySet;
use crate::store::{keys, Cf, KvStore};
use std::sync::Arc;

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
    oversight: Arc<oversight::Oversight>,
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
    /// Witnessing: cosigning other logs, being cosigned.
    witness: Arc<witness::Witness>,
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
    /// The logs this custos witnesses and the witnesses it submits to.
    pub witness: WitnessSettings,
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
            witness: WitnessSettings::default(),
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
            let rec: records::InitRecord = crate::store::codec::decode(Cf::System.name(), &raw)?;
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
        let assessed = governance::assessed(store.as_ref())?;
        let gate = Arc::new(gate::Gate::new(policy.clone(), audit.clone(), store.clone(), clock.clone(), assessed));
        let cosigner =
            witness::load_cosigner(store.as_ref(), &master, signer.name(), settings.witness.name.as_deref())?;
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
        let oversight = Arc::new(oversight::Oversight::new(&ports));
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
            settings.stale_after,
        ));
        let witness =
            Arc::new(witness::Witness::new(&ports, identity.clone(), trail.clone(), cosigner, settings.witness)?);
        let registers = Arc::new(registers::Registers::new(
            &ports,
            registers::RegisterServices {
                dossiers: dossiers.clone(),
                subjects: subjects.clone(),
                governance: governance.clone(),
                identity: identity.clone(),
                oversight: oversight.clone(),
                customers: customers.clone(),
                trail: trail.clone(),
                witness: witness.clone(),
            },
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
            oversight,
            customers,
            subjects,
            retention,
            registers,
            backups,
            witness,
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

    /// Witnessing: cosigning other logs' checkpoints, being cosigned.
    pub fn witness(&self) -> &witness::Witness {
        &self.witness
    }

    /// The search index's upkeep (start-up repair).
    pub fn search_index(&self) -> &index::Indexer {
        &self.index
    }

    /// Recipients, transfers, impact assessments, records of processing.
    pub fn governance(&self) -> &governance::Governance {
        &self.governance
    }

    /// The data grades and the compliance-audit register.
    pub fn oversight(&self) -> &oversight::Oversight {
        &self.oversight
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
