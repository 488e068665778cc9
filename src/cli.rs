//! The `custos` command line.

use crate::audit::{verify_store, ChainHead, VerifyError, HEAD_KEY};
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
        Command::Audit { command: AuditCommand::Verify { data_dir } } => audit_verify(&data_dir),
        Command::Policy { command: PolicyCommand::Check { policies_dir } } => {
            match crate::policy::PolicySet::load(&policies_dir) {
                Ok(p) => {
                    let ids: Vec<&str> = p.purposes.ids().collect();
                    println!("policies in {} are valid (policy set {})", policies_dir.display(), p.hash);
                    println!("purposes: {}", ids.join(", "));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("custos: invalid policy: {e}");
                    ExitCode::from(1)
                }
            }
        }
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

fn audit_verify(data_dir: &std::path::Path) -> ExitCode {
    if !data_dir.join("CURRENT").exists() {
        eprintln!("custos: {} is not a custos data directory", data_dir.display());
        return ExitCode::from(2);
    }
    let store = match RocksStore::open_read_only(data_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("custos: cannot open {}: {e}", data_dir.display());
            return ExitCode::from(2);
        }
    };
    let head = match store.get(Cf::System, HEAD_KEY) {
        Ok(Some(b)) => match ChainHead::decode(&b) {
            Some(h) => Some(h),
            None => {
                eprintln!("custos: audit log TAMPERED: the recorded chain head is malformed");
                return ExitCode::from(1);
            }
        },
        Ok(None) => None,
        Err(e) => {
            eprintln!("custos: cannot read the chain head: {e}");
            return ExitCode::from(2);
        }
    };
    let total = head.map_or(0, |h| h.next_seq);
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} entries ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let result = verify_store(&store, head, |n| bar.set_position(n));
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    match result {
        Ok(r) => {
            println!(
                "audit log intact: {} entries, head hash {}, verified in {:.3}s ({:.0} entries/s)",
                r.entries,
                hex::encode(r.head_hash),
                secs,
                r.entries as f64 / secs.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        Err(e @ VerifyError::Broken { .. }) => {
            eprintln!("custos: audit log TAMPERED: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("custos: {e}");
            ExitCode::from(2)
        }
    }
}
