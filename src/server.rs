//! Start-up and shutdown of the service: data directory, master key,
//! policies, store, bootstrap, HTTP.

use crate::api;
use crate::archive::{Archive, IssuedToken};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::jobs::{self, Scheduler};
use crate::metrics::Metrics;
use crate::policy::PolicySet;
use crate::store::{KvStore, RocksStore};
use crate::web::{self, AppState};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long the store keeps WAL files no memtable needs while the standby
/// stream ships (shipped ones go at once): how far back the stream can
/// pick up after an outage of the target.
const KEEP_WAL_SECS: u64 = 600;

pub struct Running {
    pub addr: SocketAddr,
    /// Set when this start initialised the data directory and generated the
    /// admin token: show it once, then forget it.
    pub admin_token: Option<IssuedToken>,
    /// Set when this start initialised the data directory and generated the
    /// second admin's enrollment code: show it once.
    pub second_admin_code: Option<String>,
    /// Set when this start generated the master key file.
    pub generated_master_key: Option<std::path::PathBuf>,
    pub archive: Arc<Archive>,
    checkpoints: std::path::PathBuf,
    jobs: Scheduler,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting connections, finishes in-flight requests, drains the
    /// audit writer and closes the store.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await??;
        self.jobs.stop_periodic().await;
        // Failed authentications of the last minutes, counted.
        self.archive.identity().flush_auth_failures(true).await?;
        // A last checkpoint covering everything this run wrote, and the
        // log's last entries to the backup target.
        self.archive.audit_trail().write_checkpoint_file(&self.checkpoints, None)?;
        if let Some(settings) = self.archive.backups().backup_settings() {
            self.archive.backups().ship_audit(settings)?;
            if !self.archive.backups().is_superseded() {
                self.archive.backups().ship_stream(settings)?;
            }
        }
        // The writer stops; the alert engine drains what it wrote and ends.
        self.archive.shutdown();
        self.jobs.join_threads();
        Ok(())
    }
}

fn open_master_key(config: &Config, initialized: bool) -> anyhow::Result<(MasterKey, bool)> {
    let path = &config.master_key_file;
    if path.exists() {
        return Ok((MasterKey::load(path)?, false));
    }
    if initialized {
        anyhow::bail!(
            "master key file {} not found; this data directory was initialised with another key (set --master-key-file or CUSTOS_MASTER_KEY_FILE)",
            path.display()
        );
    }
    let key = MasterKey::generate();
    key.write_new(path)?;
    Ok((key, true))
}

pub async fn start(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    if let Some(t) = &config.bootstrap_token {
        crate::archive::check_bootstrap_token(t.expose()).map_err(anyhow::Error::msg)?;
    }
    let policy = PolicySet::load_or_embedded(config.policies_dir.as_deref()).context("loading the policies")?;
    tracing::info!(source = %policy.source, policy_set = %policy.hash, "policies loaded");
    // Bind before initialising anything: a first start that cannot listen
    // must not create an admin whose generated token is never shown.
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700));
    }
    let store: Arc<dyn KvStore> = Arc::new(
        RocksStore::open_streaming(
            &crate::config::db_dir(&config.data_dir),
            crate::store::AuditCompression::Zstd,
            config.block_cache_bytes,
            if config.backup_stream.is_some() { KEEP_WAL_SECS } else { 0 },
        )
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
    );
    let initialized = store.get(crate::store::Cf::System, crate::store::keys::INITIALIZED)?.is_some();
    let (master, generated) = open_master_key(&config, initialized)?;
    let metrics = Arc::new(Metrics::default());
    let backup = match &config.backup_target {
        Some(target) => Some(crate::archive::BackupSettings {
            target: target.clone(),
            recipients: crate::archive::BackupSettings::parse_recipients(&config.backup_recipients)?,
            scratch: crate::config::backup_scratch_dir(&config.data_dir),
            keep_days: config.backup_keep_days,
            wal_archive: config.backup_stream.map(|_| crate::config::db_dir(&config.data_dir).join("archive")),
            at: Some(config.backup_at),
        }),
        None => None,
    };
    // A bucket's client and credentials file are checked now, not at the
    // first set or erasure.
    if let Some(crate::backup::Location::S3(l)) = &config.backup_target {
        crate::backup::s3::S3::open(l, None).map_err(|e| anyhow::anyhow!("backup_target: {e}"))?;
    }
    let settings = crate::archive::Settings {
        key_cache: config.key_cache_entries,
        kek_rotation: config.kek_rotation,
        stale_after: config.stale_after,
        token_lifetimes: config.token_lifetimes,
        backup,
        index_dir: Some(crate::config::index_dir(&config.data_dir)),
        witness: config.witness.clone(),
    };
    let archive = Archive::open(store, master, policy, clock, metrics.clone(), settings)?;
    // A standby promoted over this directory: it must not serve again.
    if let Some(settings) = archive.backups().backup_settings() {
        let backups = archive.backups();
        // An unreachable target does not stop the start (the stream's
        // shipments look again every tick); a promotion on record does.
        let seen = backups.check_superseded(settings).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot look for a promotion in the backup target at start-up");
            None
        });
        if let Some(p) = seen {
            anyhow::bail!(
                "a standby was promoted over this data directory at {} (lineage {} supersedes this one, {}): \
                 it must not serve; make it a standby of the new primary or retire it (docs/backup.md)",
                p.promoted_at,
                p.lineage,
                p.supersedes
            );
        }
    }
    let repaired = archive.search_index().repair_index()?;
    if repaired.reindexed + repaired.removed > 0 {
        tracing::info!(
            reindexed = repaired.reindexed,
            removed = repaired.removed,
            "search index repaired from the store"
        );
    }
    let archive = Arc::new(archive);
    let token = config.bootstrap_token.as_ref().map(|s| s.expose().to_owned());
    let second = config.bootstrap_second_admin_code.as_ref().map(|s| s.expose().to_owned());
    let bootstrapped = {
        let archive = archive.clone();
        tokio::task::spawn_blocking(move || archive.identity().bootstrap(token.as_deref(), second.as_deref())).await??
    };
    let sealed = archive.identity().seal_plain_principals()?;
    if sealed > 0 {
        tracing::info!(sealed, "principal records written in the clear by an older custos are now sealed");
    }
    let marked = crate::archive::mark_worked_on(archive.store().as_ref())?;
    if marked > 0 {
        tracing::info!(marked, "the start page's lists of customers now cover dossiers written before them");
    }
    let clashes = archive.identity().alert_role_clashes().await?;
    if clashes > 0 {
        tracing::warn!(clashes, "principals on record hold roles that may not be combined: alerts raised");
    }
    archive.audit_trail().record_policy_load().await?;
    archive.dossiers().record_notices().await?;
    let checkpoints = crate::config::checkpoints_dir(&config.data_dir);
    let first = archive.audit_trail().write_checkpoint_file(&checkpoints, None)?;
    let mut scheduler = Scheduler::default();
    let alerts = {
        let archive = archive.clone();
        tokio::task::spawn_blocking(move || jobs::alerts::start(archive)).await??
    };
    scheduler.thread("alerts", alerts);
    let checkpoint = jobs::checkpoint::job(archive.clone(), checkpoints.clone(), first);
    scheduler.every("checkpoint", config.checkpoint_interval, checkpoint);
    scheduler.every("auth-failures", std::time::Duration::from_secs(60), jobs::auth_failures::job(archive.clone()));
    scheduler.every("deadlines", std::time::Duration::from_secs(60), jobs::deadlines::job(archive.clone()));
    if let Some(every) = config.retention_interval {
        scheduler.every("retention", every, jobs::retention::job(archive.clone()));
    }
    if let Some(every) = config.grading_interval {
        scheduler.every("grading", every, jobs::grading::job(archive.clone()));
    }
    if config.backup_target.is_some() {
        scheduler.daily("backup", config.backup_at, jobs::backup::job(archive.clone()));
    }
    if let Some(every) = config.backup_stream {
        scheduler.every("standby-stream", every, jobs::backup::stream_job(archive.clone()));
    }
    let state = AppState {
        archive: archive.clone(),
        metrics,
        openapi: Arc::new(api::ops::document(&api::openapi::Vocabulary {
            purposes: archive.purpose_ids(),
            consent_purposes: archive.consent_purpose_ids(),
            incident_levels: archive.incident_levels(),
            refusal_codes: archive.refusal_codes(),
            transfer_mechanisms: archive.transfer_mechanisms(),
            notices: archive.notice_versions(),
        })),
        max_document_bytes: config.max_document_bytes,
        max_body_bytes: config.max_body_bytes,
        limiter: web::principal_limiter(&config.limits),
        console: Arc::default(),
    };
    let routes = api::routes().merge(crate::console::routes());
    let app = web::app(state, routes, config.max_body_bytes, config.limits.body_read_timeout);
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(web::listener::serve(listener, app, config.limits.clone(), rx));
    Ok(Running {
        addr,
        admin_token: bootstrapped.admin_token,
        second_admin_code: bootstrapped.second_admin_code,
        generated_master_key: generated.then(|| config.master_key_file.clone()),
        archive,
        checkpoints,
        jobs: scheduler,
        shutdown: Some(tx),
        task,
    })
}
