//! The `custos` command line: `serve`, and the one-shot operator jobs
//! (`audit verify|reindex`, `retention run`, `index rebuild`, `policy check|show`).

/// `println!` for the CLI's output that ends the process quietly (exit 0)
/// when standard output is closed, as when piped into `head`: a reader
/// that has seen enough is not an error, and must not be a panic.
macro_rules! out {
    ($($arg:tt)+) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)+) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("custos: cannot write to standard output: {e}");
            std::process::exit(2);
        }
    }};
}

mod audit;
mod backup;
mod import;
mod offline;
mod quorum;
mod restore;
mod standby;

use offline::{index_rebuild, retention_run, run_async_value, OfflineArgs};

use crate::config::{Config, FileConfig};
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
        #[command(flatten)]
        standby: standby::StandbyArgs,
    },
    /// Make a stopped standby the primary (docs/backup.md, "A warm standby").
    Promote(standby::PromoteArgs),
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
    /// Grading: regrade every dossier once (the server's grading job runs the same).
    Grading {
        #[command(subcommand)]
        command: GradingCommand,
    },
    /// Import a spreadsheet (CSV or Excel) into the running server as the
    /// token's principal; per-row errors name the row and column.
    Import(import::ImportArgs),
    /// Search index tools.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Backup sets: create (server stopped), list, verify.
    Backup {
        #[command(subcommand)]
        command: backup::BackupCommand,
    },
    /// Break-glass (server stopped): every admin token lost, make two new
    /// admins, each with an enrollment code in a file of its own (for two
    /// different people); audited with the reason, and alerted.
    BreakGlass {
        #[command(flatten)]
        offline: offline::OfflineArgs,
        /// Why (10 to 2,000 characters): recorded in the audit log.
        #[arg(long)]
        reason: String,
    },
    /// Print the current TOTP code of a second-factor secret (base32, from
    /// the environment): what an authenticator app shows, for scripts and
    /// the README's walk-through. A person normally uses an app.
    TotpCode {
        #[arg(long = "secret-from-env", env = "CUSTOS_TOTP_SECRET", hide_env_values = true)]
        secret: String,
    },
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
        /// against the entries, not only the tree head they make, and the
        /// audit indexes against the log (every row, every entry).
        #[arg(long, conflicts_with = "from_checkpoint")]
        deep: bool,
        /// Verify only what was added since this signed checkpoint (kept
        /// from an earlier run): the new entries, the chain link from the
        /// checkpoint's last entry, and the consistency proof between the
        /// two tree heads.
        #[arg(long, value_name = "NOTE", conflicts_with = "checkpoint")]
        from_checkpoint: Option<PathBuf>,
        /// A witness's cosignature verifier key (repeatable): the cosigned
        /// checkpoint in the data directory and every --checkpoint must
        /// carry valid cosignatures from --quorum of them.
        #[arg(long = "witness", value_name = "KEY", conflicts_with = "from_checkpoint")]
        witness: Vec<String>,
        /// How many distinct witnesses must have cosigned (default 1).
        #[arg(long, requires = "witness")]
        quorum: Option<usize>,
    },
    /// Print this custos's witness verifier key (for the logs it witnesses).
    WitnessKey {
        #[arg(long, env = "CUSTOS_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Rebuild the audit indexes from the log (the server must be stopped).
    Reindex {
        #[arg(long, env = "CUSTOS_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Print the latest signed checkpoint written by the server (to keep
    /// outside the system).
    Checkpoint {
        #[arg(long, env = "CUSTOS_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
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
enum GradingCommand {
    /// Regrade every dossier by policies/grading.toml and print each change;
    /// with --dry-run change nothing. The server must not be running on the
    /// same data directory.
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
        /// default: the policies built into the binary
        #[arg(long = "policies", env = "CUSTOS_POLICIES_DIR")]
        policies_dir: Option<PathBuf>,
    },
    /// Print the policy files (default: the ones built into the binary, a
    /// starting point for an operator's own directory).
    Show {
        #[arg(long = "policies", env = "CUSTOS_POLICIES_DIR")]
        policies_dir: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { data_dir, listen, config, master_key_file, policies_dir, standby } => {
            let file = match config.as_deref().map(FileConfig::load).transpose() {
                Ok(f) => f.unwrap_or_default(),
                Err(e) => return fail(&e),
            };
            match Config::resolve(file, data_dir, listen, master_key_file, policies_dir) {
                Ok(config) => match standby.of {
                    Some(from) => run_async(standby::serve(config, from, standby.verifier_key, shutdown_signal())),
                    None => run_async(serve(config)),
                },
                Err(e) => fail(&e),
            }
        }
        Command::Promote(args) => standby::promote(&args),
        Command::Audit {
            command:
                AuditCommand::Verify { data_dir, checkpoint, verifier_key, deep, from_checkpoint: None, witness, quorum },
        } => audit::verify_with_witnesses(&data_dir, &checkpoint, verifier_key.as_deref(), deep, &witness, quorum),
        Command::Audit { command: AuditCommand::WitnessKey { data_dir } } => audit::witness_key(&data_dir),
        Command::Audit {
            command: AuditCommand::Verify { data_dir, verifier_key, from_checkpoint: Some(note), .. },
        } => audit::verify_incremental(&data_dir, &note, verifier_key.as_deref()),
        Command::Audit { command: AuditCommand::Reindex { data_dir } } => audit::reindex(&data_dir),
        Command::Audit { command: AuditCommand::Checkpoint { data_dir } } => {
            let path = crate::config::checkpoints_dir(&data_dir).join("latest.note");
            match std::fs::read_to_string(&path) {
                Ok(note) => {
                    use std::io::Write as _;
                    match std::io::stdout().lock().write_all(note.as_bytes()) {
                        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                            eprintln!("custos: cannot write to standard output: {e}");
                            ExitCode::from(2)
                        }
                        _ => ExitCode::SUCCESS,
                    }
                }
                Err(e) => {
                    eprintln!("custos: cannot read {}: {e}", path.display());
                    ExitCode::from(2)
                }
            }
        }
        Command::Policy { command: PolicyCommand::Check { policies_dir } } => {
            match crate::policy::PolicySet::load_or_embedded(policies_dir.as_deref()) {
                Ok(p) => {
                    let ids: Vec<&str> = p.purposes.ids().collect();
                    out!("{} are valid (policy set {})", p.source, p.hash);
                    out!("purposes: {}", ids.join(", "));
                    out!("access policies: {} (validated against schema.cedarschema)", p.access.names().join(", "));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("custos: invalid policy: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Policy { command: PolicyCommand::Show { policies_dir } } => {
            let files = match policies_dir {
                Some(d) => crate::policy::PolicyFiles::read_dir(&d),
                None => Ok(crate::policy::PolicyFiles::embedded()),
            };
            match files {
                Ok(files) => {
                    out!("# {} (policy set {})", files.source, files.hash());
                    for (name, text) in &files.files {
                        out!("\n# ==> policies/{name} <==\n{}", text.trim_end());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("custos: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Import(args) => match run_async_value(import::run(args)) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("custos: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Grading { command: GradingCommand::Run { offline, dry_run } } => {
            match run_async_value(offline::grading_run(offline, dry_run)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("custos: {e:#}");
                    ExitCode::from(2)
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
                out!("search index rebuilt: {} dossier(s) indexed", r.reindexed);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("custos: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Backup { command } => backup::run(command),
        Command::BreakGlass { offline, reason } => match break_glass(&offline, &reason) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("custos: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::TotpCode { secret } => match totp_code(&secret) {
            Ok(code) => {
                out!("{code}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("custos: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

/// `custos totp-code`: the current code of a base32 TOTP secret (RFC 6238,
/// SHA-1, 30 s, 6 digits), on the system clock.
fn totp_code(secret: &str) -> anyhow::Result<String> {
    let bytes = totp_rs::Secret::try_from_base32(secret.trim())
        .map_err(|_| anyhow::anyhow!("CUSTOS_TOTP_SECRET is not a base32 secret"))?;
    let totp = totp_rs::Builder::new().with_secret(bytes.as_bytes().to_vec()).build()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    Ok(totp.generate(now).to_string())
}

/// `custos break-glass`: two new admins' codes, each into a 0600 file of
/// its own (never on standard output).
fn break_glass(offline: &offline::OfflineArgs, reason: &str) -> anyhow::Result<()> {
    let file = |n: usize| offline.data_dir.join(format!("break-glass-admin-{n}-enrollment-code"));
    // Checked before anything is made: codes that could not be written
    // would be lost with the admins already on record.
    for n in 1..=2 {
        anyhow::ensure!(
            !file(n).exists(),
            "{} exists from an earlier break-glass: hand it over or delete it first",
            file(n).display()
        );
    }
    let archive = offline.open()?;
    let made = offline::run_async_value(async { Ok(archive.identity().break_glass(reason).await?) });
    archive.shutdown();
    for (n, (admin, code)) in made?.admins.iter().enumerate() {
        let path = file(n + 1);
        write_private(&path, &format!("{code}\n"))?;
        out!("admin {admin}: enrollment code written to {} (valid 72 hours; hand it to one person, who redeems it with POST /v1/enroll, then delete it)", path.display());
    }
    out!("audited as principal.break_glass, and the break_glass alert raised for compliance");
    Ok(())
}

/// Writes `text` to the new file `path`, readable and writable by this user only.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = crate::crypto::owner_only_file()
        .create_new(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
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
        out!("admin token (shown once, store it now): {}", t.token);
    }
    if let Some(code) = &running.second_admin_code {
        // Not beside the admin token on the same standard output (which a
        // service manager keeps in its journal): a file only this user may
        // read, for the second admin to take and delete.
        let path = config.data_dir.join("second-admin-enrollment-code");
        write_private(&path, &format!("{code}\n"))?;
        out!(
            "second admin's enrollment code: written to {} (readable by this user only); hand the file to the second admin, who redeems the code with POST /v1/enroll, and delete it",
            path.display()
        );
    }
    out!("custos listening on http://{}", running.addr);
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
