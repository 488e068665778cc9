//! Offline jobs on a stopped server's data directory: the retention sweep
//! and the search index rebuild, through the same use cases as the server.

use crate::store::{KvStore, RocksStore};
use std::path::PathBuf;
use std::sync::Arc;

/// A stopped server's data directory, for offline jobs.
#[derive(clap::Args)]
pub(super) struct OfflineArgs {
    #[arg(long, env = "CUSTOS_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// default: the policies built into the binary
    #[arg(long = "policies", env = "CUSTOS_POLICIES_DIR")]
    policies_dir: Option<PathBuf>,
    /// default: <data-dir>.master-key
    #[arg(long, env = "CUSTOS_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
}

impl OfflineArgs {
    pub(super) fn open(&self) -> anyhow::Result<crate::archive::Archive> {
        self.open_with(crate::archive::Settings::default())
    }

    /// [`OfflineArgs::open`], keeping the search index in step (jobs that
    /// change or destroy dossiers).
    pub(super) fn open_with_index(&self) -> anyhow::Result<crate::archive::Archive> {
        let index_dir = Some(crate::config::index_dir(&self.data_dir));
        self.open_with(crate::archive::Settings { index_dir, ..Default::default() })
    }

    fn open_with(&self, settings: crate::archive::Settings) -> anyhow::Result<crate::archive::Archive> {
        let key =
            self.master_key_file.clone().unwrap_or_else(|| crate::config::default_master_key_file(&self.data_dir));
        open_offline(&self.data_dir, self.policies_dir.as_deref(), &key, settings)
    }
}

pub(super) fn run_async_value<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(f)
}

/// `custos retention run`: the scheduler's sweep, once, on a stopped server's
/// data directory.
pub(super) async fn retention_run(offline: OfflineArgs, dry_run: bool) -> anyhow::Result<()> {
    let archive = offline.open_with_index()?;
    let report = archive.retention().retention_sweep(dry_run).await;
    archive.shutdown();
    let report = report?;
    out!("as of {}: {} item(s) due", report.due.as_of, report.due.items.len());
    for d in &report.due.items {
        let target = match &d.item.target {
            crate::archive::retention::Target::Dossier(id) => id.to_string(),
            crate::archive::retention::Target::Subject(id) => id.to_string(),
        };
        let state = match (&d.blocked_by[..], &d.batch) {
            ([], None) => "due".to_owned(),
            ([], Some(b)) => format!("in batch {b}"),
            (blocked, _) => format!("blocked by {}", blocked.join(", ")),
        };
        out!(
            "  {target}  {:?} by rule {} ({}), due {} -- {state}",
            d.item.action,
            d.item.rule,
            d.item.citation,
            d.item.due_at
        );
    }
    if !report.due.stale.is_empty() {
        out!("{} stale dossier(s) (not changed within the review interval):", report.due.stale.len());
        for id in &report.due.stale {
            out!("  {id}");
        }
    }
    if dry_run {
        out!("dry run: nothing changed");
    } else {
        out!(
            "resumed {:?}; executed (no approval needed) {:?}; proposed for approval {:?}; \
             pending erasures carried out (certificates) {:?}",
            report.resumed,
            report.executed,
            report.proposed,
            report.erasures
        );
    }
    Ok(())
}

/// `custos grading run [--dry-run]`.
pub(super) async fn grading_run(offline: OfflineArgs, dry_run: bool) -> anyhow::Result<()> {
    let archive = offline.open()?;
    let changes = archive.customers().regrade_all(dry_run).await;
    archive.shutdown();
    let changes = changes?;
    for c in &changes {
        let version = c.version.map_or(String::new(), |v| format!(", version {v}"));
        out!("  {}  {:?} -> {:?} by {}{version}", c.dossier, c.from, c.to, c.rule);
    }
    let verb = if dry_run { "would change (dry run: nothing changed)" } else { "changed" };
    out!("{} grade(s) {verb}", changes.len());
    Ok(())
}

/// Opens a stopped server's data directory for an offline job.
fn open_offline(
    data_dir: &std::path::Path,
    policies_dir: Option<&std::path::Path>,
    master_key_file: &std::path::Path,
    settings: crate::archive::Settings,
) -> anyhow::Result<crate::archive::Archive> {
    use anyhow::Context;
    let db = crate::config::db_dir(data_dir);
    anyhow::ensure!(db.exists(), "no data directory at {}", data_dir.display());
    let policy = crate::policy::PolicySet::load_or_embedded(policies_dir)?;
    let master = crate::crypto::MasterKey::load(master_key_file)
        .with_context(|| format!("reading the master key {}", master_key_file.display()))?;
    let store: Arc<dyn KvStore> = Arc::new(
        RocksStore::open(&db)
            .with_context(|| format!("opening {} (is the server running on it? stop it first)", db.display()))?,
    );
    crate::archive::Archive::open(
        store,
        master,
        policy,
        Arc::new(crate::clock::SystemClock),
        Arc::new(crate::metrics::Metrics::default()),
        settings,
    )
}

/// `custos index rebuild`: a fresh index from the store.
pub(super) fn index_rebuild(offline: &OfflineArgs) -> anyhow::Result<crate::archive::RepairReport> {
    // Opened once without the index first: a running server (the store's
    // lock), a wrong master key or no data directory fails here, before the
    // index is touched.
    let probe = offline.open()?;
    probe.shutdown();
    drop(probe);
    let dir = crate::config::index_dir(&offline.data_dir);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let archive = offline.open_with_index()?;
    let report = archive.search_index().repair_index();
    archive.shutdown();
    Ok(report?)
}
