//! The `custos` command line.

use crate::archive::transparency::VERIFIER_KEY;
use crate::audit::checkpoint::{Checkpoint, NoteVerifier};
use crate::audit::{check_stored_tree, merkle, verify_store_with, ChainHead, StoredTree, VerifyError, HEAD_KEY};
use crate::config::{Config, FileConfig};
use crate::store::{Cf, KvStore, RocksStore};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "custos", version, about = "Compliance archive for customer dossiers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (initialises an empty data directory).
    Serve {
        #[arg(long, env = "CUSTOS_DATA_DIR")]
        data_dir: Option<PathBuf>,
        #[arg(long, env = "CUSTOS_LISTEN")]
        listen: Option<SocketAddr>,
        /// TOML file; flags and environment override it.
        #[arg(long, env = "CUSTOS_CONFIG")]
        config: Option<PathBuf>,
        /// age identity wrapping all data keys (default: <data-dir>.master-key).
        #[arg(long, env = "CUSTOS_MASTER_KEY_FILE")]
        master_key_file: Option<PathBuf>,
        #[arg(long = "policies", env = "CUSTOS_POLICIES_DIR")]
        policies_dir: Option<PathBuf>,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Policy tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Retention: run the sweep once (the server's scheduler runs the same).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Search index tools.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Load generator against a running server (see docs/performance.md).
    Bench(crate::bench::BenchArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain: exit 0 intact, 1 tampered (naming the first bad
    /// sequence number), 2 when the log cannot be read.
    Verify {
        #[arg(long, env = "CUSTOS_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// A signed checkpoint saved earlier (e.g. by an auditor): prove the
        /// log still contains exactly the entries it committed to.
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// The verifier key to trust (`name+hash+key`); default the one
        /// recorded in the data directory. An auditor passes their own copy.
        #[arg(long)]
        verifier_key: Option<String>,
        /// Also check every stored Merkle node (what proofs are built from)
        /// against the entries, not only the tree head they make.
        #[arg(long)]
        deep: bool,
    },
    /// Print the latest signed checkpoint written by the server (to keep
    /// outside the system).
    Checkpoint {
        #[arg(long, env = "CUSTOS_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

/// A stopped server's data directory, for offline jobs.
#[derive(clap::Args)]
struct OfflineArgs {
    #[arg(long, env = "CUSTOS_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[arg(long = "policies", env = "CUSTOS_POLICIES_DIR", default_value = crate::config::DEFAULT_POLICIES_DIR)]
    policies_dir: PathBuf,
    /// default: <data-dir>.master-key
    #[arg(long, env = "CUSTOS_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
}

impl OfflineArgs {
    fn open(&self) -> anyhow::Result<crate::archive::Archive> {
        let key =
            self.master_key_file.clone().unwrap_or_else(|| crate::config::default_master_key_file(&self.data_dir));
        open_offline(&self.data_dir, &self.policies_dir, &key)
    }
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Print what is due (and what blocks it); without --dry-run also resume
    /// interrupted destructions, execute rules without approval and propose
    /// the rest. The server must not be running on the same data directory.
    Run {
        #[command(flatten)]
        offline: OfflineArgs,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Rebuild the search index from the store (the server must be stopped).
    Rebuild {
        #[command(flatten)]
        offline: OfflineArgs,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate the policy files: exit 0 valid, 1 invalid (naming file and line).
    Check {
        #[arg(long = "policies", env = "CUSTOS_POLICIES_DIR", default_value = crate::config::DEFAULT_POLICIES_DIR)]
        policies_dir: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { data_dir, listen, config, master_key_file, policies_dir } => {
            let file = match config.as_deref().map(FileConfig::load).transpose() {
                Ok(f) => f.unwrap_or_default(),
                Err(e) => return fail(&e),
            };
            let config = Config::resolve(file, data_dir, listen, master_key_file, policies_dir);
            run_async(serve(config))
        }
        Command::Audit { command: AuditCommand::Verify { data_dir, checkpoint, verifier_key, deep } } => {
            audit_verify(&data_dir, &checkpoint, verifier_key.as_deref(), deep)
        }
        Command::Audit { command: AuditCommand::Checkpoint { data_dir } } => {
            let path = crate::config::checkpoints_dir(&data_dir).join("latest.note");
            match std::fs::read_to_string(&path) {
                Ok(note) => {
                    print!("{note}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("custos: cannot read {}: {e}", path.display());
                    ExitCode::from(2)
                }
            }
        }
        Command::Policy { command: PolicyCommand::Check { policies_dir } } => {
            match crate::policy::PolicySet::load(&policies_dir) {
                Ok(p) => {
                    let ids: Vec<&str> = p.purposes.ids().collect();
                    println!("policies in {} are valid (policy set {})", policies_dir.display(), p.hash);
                    println!("purposes: {}", ids.join(", "));
                    println!("access policies: {} (validated against schema.cedarschema)", p.access.names().join(", "));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("custos: invalid policy: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Retention { command: RetentionCommand::Run { offline, dry_run } } => {
            match run_async_value(retention_run(offline, dry_run)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("custos: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Index { command: IndexCommand::Rebuild { offline } } => match index_rebuild(&offline) {
            Ok(r) => {
                println!("search index rebuilt: {} dossier(s) indexed", r.reindexed);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("custos: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Bench(args) => run_async(crate::bench::run(args)),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("custos: {e:#}");
    ExitCode::from(2)
}

fn run_async(f: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&e.into()),
    };
    match rt.block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = crate::server::start(config.clone(), Arc::new(crate::clock::SystemClock)).await?;
    if let Some(path) = &running.generated_master_key {
        eprintln!(
            "custos: generated a new master key at {}; keep a copy in your secret store: without it no dossier can be read",
            path.display()
        );
    }
    if let Some(t) = &running.admin_token {
        // Printed once, on stdout only; never logged.
        println!("admin token (shown once, store it now): {}", t.token);
    }
    println!("custos listening on http://{}", running.addr);
    tracing::info!(addr = %running.addr, data_dir = %config.data_dir.display(), "serving");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// A checkpoint to hold the log against: where it came from, and what it says.
struct Held {
    source: String,
    checkpoint: Checkpoint,
}

fn load_checkpoints(
    data_dir: &std::path::Path,
    extra: &[PathBuf],
    verifier: &NoteVerifier,
) -> Result<Vec<Held>, (u8, String)> {
    let latest = crate::config::checkpoints_dir(data_dir).join("latest.note");
    let mut files: Vec<PathBuf> = extra.to_vec();
    if latest.exists() {
        files.push(latest);
    }
    let mut held = Vec::new();
    for f in files {
        let note = std::fs::read_to_string(&f).map_err(|e| (2, format!("cannot read {}: {e}", f.display())))?;
        let checkpoint = verifier
            .open_checkpoint(&note)
            .map_err(|e| (1, format!("checkpoint {} does not verify: {e}", f.display())))?;
        held.push(Held { source: f.display().to_string(), checkpoint });
    }
    Ok(held)
}

fn audit_verify(data_dir: &std::path::Path, extra: &[PathBuf], verifier_key: Option<&str>, deep: bool) -> ExitCode {
    let fail = |code: u8, msg: String| {
        eprintln!("custos: {msg}");
        ExitCode::from(code)
    };
    let db = crate::config::db_dir(data_dir);
    if !db.join("CURRENT").exists() {
        return fail(2, format!("{} is not a custos data directory", data_dir.display()));
    }
    let store = match RocksStore::open_read_only(&db) {
        Ok(s) => s,
        Err(e) => return fail(2, format!("cannot open {}: {e}", data_dir.display())),
    };
    let head = match store.get(Cf::System, HEAD_KEY) {
        Ok(Some(b)) => match ChainHead::decode(&b) {
            Some(h) => Some(h),
            None => return fail(1, "audit log TAMPERED: the recorded chain head is malformed".into()),
        },
        Ok(None) => None,
        Err(e) => return fail(2, format!("cannot read the chain head: {e}")),
    };
    let vkey = match verifier_key
        .map(str::to_owned)
        .or_else(|| store.get(Cf::System, VERIFIER_KEY).ok().flatten().and_then(|b| String::from_utf8(b).ok()))
    {
        Some(k) => k,
        None if extra.is_empty() => String::new(),
        None => return fail(2, "no verifier key: pass --verifier-key".into()),
    };
    let held = if vkey.is_empty() {
        Vec::new()
    } else {
        let verifier = match NoteVerifier::parse(&vkey) {
            Ok(v) => v,
            Err(e) => return fail(2, format!("verifier key: {e}")),
        };
        match load_checkpoints(data_dir, extra, &verifier) {
            Ok(h) => h,
            Err((code, msg)) => return fail(code, format!("audit log TAMPERED or checkpoint foreign: {msg}")),
        }
    };
    let sizes: Vec<u64> = held.iter().map(|h| h.checkpoint.size).collect();
    let total = head.map_or(0, |h| h.next_seq);
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} entries ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let result = verify_store_with(&store, head, &sizes, |n| bar.set_position(n));
    bar.finish_and_clear();
    let r = match result {
        Ok(r) => r,
        Err(e @ VerifyError::Broken { .. }) => return fail(1, format!("audit log TAMPERED: {e}")),
        Err(e) => return fail(2, e.to_string()),
    };
    let chain_secs = started.elapsed().as_secs_f64();
    // The stored tree (what proofs are built from) must give the same head
    // as the entries; with --deep, every stored node must match them.
    match merkle::root(&StoredTree(&store), r.entries) {
        Ok(stored) if stored == r.root => {}
        Ok(_) => return fail(1, "audit log TAMPERED: the stored Merkle tree does not match the entries".into()),
        Err(e) => return fail(1, format!("audit log TAMPERED: the stored Merkle tree is incomplete: {e}")),
    }
    if deep {
        if let Err(e) = check_stored_tree(&store, &r.leaves) {
            return fail(1, format!("audit log TAMPERED: the stored Merkle tree: {e}"));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let b64 = |h: &[u8; 32]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, h);
    for h in &held {
        let cp = &h.checkpoint;
        if cp.size > r.entries {
            return fail(
                1,
                format!(
                    "audit log TAMPERED: first bad sequence number {}: log truncated: checkpoint {} commits to {} entries, the log has {}",
                    r.entries, h.source, cp.size, r.entries
                ),
            );
        }
        let at = r.roots.iter().find(|(n, _)| *n == cp.size).map(|(_, root)| *root);
        if at != Some(cp.root) {
            return fail(
                1,
                format!(
                    "audit log TAMPERED: the first {} entries are not the ones checkpoint {} committed to (entries were rewritten, removed or reordered)",
                    cp.size, h.source
                ),
            );
        }
    }
    println!(
        "audit log intact: {} entries, head hash {}, tree root {}, verified in {:.3}s ({:.0} entries/s; entries, chain and tree head {:.3}s, stored nodes {:.3}s)",
        r.entries,
        hex::encode(r.head_hash),
        b64(&r.root),
        secs,
        r.entries as f64 / secs.max(1e-9),
        chain_secs,
        secs - chain_secs
    );
    for h in &held {
        println!("consistent with checkpoint {} (size {}): the log only grew since", h.source, h.checkpoint.size);
    }
    ExitCode::SUCCESS
}

fn run_async_value<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(f)
}

/// `custos retention run`: the scheduler's sweep, once, on a stopped server's
/// data directory.
async fn retention_run(offline: OfflineArgs, dry_run: bool) -> anyhow::Result<()> {
    let mut archive = offline.open()?;
    archive.enable_search(&crate::config::index_dir(&offline.data_dir))?;
    let report = archive.retention_sweep(dry_run).await;
    archive.shutdown();
    let report = report?;
    println!("as of {}: {} item(s) due", report.due.as_of, report.due.items.len());
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
        println!(
            "  {target}  {:?} by rule {} ({}), due {} -- {state}",
            d.item.action, d.item.rule, d.item.citation, d.item.due_at
        );
    }
    if !report.due.stale.is_empty() {
        println!("{} stale dossier(s) (not changed within the review interval):", report.due.stale.len());
        for id in &report.due.stale {
            println!("  {id}");
        }
    }
    if dry_run {
        println!("dry run: nothing changed");
    } else {
        println!(
            "resumed {:?}; executed (no approval needed) {:?}; proposed for approval {:?}",
            report.resumed, report.executed, report.proposed
        );
    }
    Ok(())
}

/// Opens a stopped server's data directory for an offline job.
fn open_offline(
    data_dir: &std::path::Path,
    policies_dir: &std::path::Path,
    master_key_file: &std::path::Path,
) -> anyhow::Result<crate::archive::Archive> {
    use anyhow::Context;
    let db = crate::config::db_dir(data_dir);
    anyhow::ensure!(db.exists(), "no data directory at {}", data_dir.display());
    let policy = crate::policy::PolicySet::load(policies_dir)?;
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
        1000,
    )
}

/// `custos index rebuild`: a fresh index from the store.
fn index_rebuild(offline: &OfflineArgs) -> anyhow::Result<crate::archive::RepairReport> {
    let mut archive = offline.open()?;
    let dir = crate::config::index_dir(&offline.data_dir);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    archive.enable_search(&dir)?;
    let report = archive.repair_index();
    archive.shutdown();
    Ok(report?)
}
