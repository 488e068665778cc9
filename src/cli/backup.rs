//! `custos backup create|list|verify`: backup sets from the command line.
//! `create` works on a stopped server's data directory; `list` and
//! `verify` need no key and may run anywhere the target is mounted.

use super::offline::{run_async_value, OfflineArgs};
use crate::archive::BackupSettings;
use crate::backup::{verify, Location, Target};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(super) enum BackupCommand {
    /// Take a set of a stopped server's data directory into DIR.
    Create {
        #[command(flatten)]
        offline: OfflineArgs,
        /// The backup target: a directory, or s3://bucket/prefix?endpoint=…
        /// (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or
        /// AWS_SHARED_CREDENTIALS_FILE).
        #[arg(long)]
        to: Location,
        /// An offline recovery key (age X25519 public key) every object is
        /// also encrypted to; repeat for more.
        #[arg(long = "recipient")]
        recipients: Vec<String>,
    },
    /// The sets in a target, oldest first (no key needed).
    List {
        #[arg(long)]
        from: Location,
        #[arg(long)]
        verifier_key: Option<String>,
    },
    /// Restore a set into a new data directory, applying every journaled
    /// destruction and erasure again. Exit 0 restored, 1 the target is
    /// damaged (nothing restored), 2 anything else.
    Restore {
        #[arg(long)]
        from: Location,
        /// The set (default: the newest).
        #[arg(long)]
        backup: Option<String>,
        /// The new data directory (must not exist, or be empty).
        #[arg(long)]
        data_dir: PathBuf,
        /// The master key, or (with --identity) an offline recovery key,
        /// to decrypt the set with.
        #[arg(long, conflicts_with = "identity")]
        master_key_file: Option<PathBuf>,
        #[arg(long)]
        identity: Option<PathBuf>,
        /// Go on without the erasure journal (then people erased or dossiers
        /// destroyed after the set may come back: the report says so).
        #[arg(long)]
        accept_missing_journal: bool,
        /// The log's verifier key, from your own records (`GET
        /// /v1/audit/verifier-key`): the one the backup target records is
        /// not trusted, since whoever can write the target can change it.
        #[arg(long, conflicts_with = "verifier_key_from")]
        verifier_key: Option<String>,
        /// Or: the old data directory, whose store records the key.
        #[arg(long)]
        verifier_key_from: Option<PathBuf>,
    },
    /// Check every set's signature and every object's size and SHA-256 (no
    /// key needed): exit 0 intact, 1 damaged (naming the file), 2 unreadable.
    Verify {
        #[arg(long)]
        from: Location,
        /// The log's verifier key to trust; default the one the target records.
        #[arg(long)]
        verifier_key: Option<String>,
        /// The nightly check: also exit 1 when the newest set is older than
        /// this many hours, or there is none.
        #[arg(long)]
        max_age_hours: Option<u64>,
    },
}

pub(super) fn run(command: BackupCommand) -> ExitCode {
    match command {
        BackupCommand::Create { offline, to, recipients } => match create(&offline, to, &recipients) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("custos: {e:#}");
                ExitCode::from(2)
            }
        },
        BackupCommand::List { from, verifier_key } => {
            let sets = Target::open(&from, verifier_key.as_deref()).and_then(|t| t.sets());
            match sets {
                Ok((sets, bad)) => {
                    for s in &sets {
                        let m = &s.manifest;
                        out!(
                            "{}  {}  audit tree size {}  {} files  {} bytes ({} new)",
                            m.backup_id,
                            m.created_at,
                            m.tree_size,
                            m.files.len(),
                            m.bytes,
                            m.new_bytes
                        );
                    }
                    for d in &bad {
                        eprintln!("custos: {}: {}", d.path, d.what);
                    }
                    if bad.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("custos: {e}");
                    ExitCode::from(2)
                }
            }
        }
        BackupCommand::Restore {
            from,
            backup,
            data_dir,
            master_key_file,
            identity,
            accept_missing_journal,
            verifier_key,
            verifier_key_from,
        } => {
            let key = match (master_key_file, identity) {
                (Some(f), None) | (None, Some(f)) => f,
                _ => {
                    eprintln!("custos: restore needs --master-key-file or --identity (a recovery key)");
                    return ExitCode::from(2);
                }
            };
            let verifier_key = match (verifier_key, verifier_key_from) {
                (Some(k), _) => k,
                (None, Some(dir)) => match recorded_verifier_key(&dir) {
                    Ok(k) => k,
                    Err(e) => {
                        eprintln!("custos: {e:#}");
                        return ExitCode::from(2);
                    }
                },
                (None, None) => {
                    eprintln!(
                        "custos: restore needs the log's verifier key from you: --verifier-key KEY (GET /v1/audit/verifier-key, \
                         kept with your records) or --verifier-key-from OLD_DATA_DIR; the key the backup target \
                         records is not trusted"
                    );
                    return ExitCode::from(2);
                }
            };
            let args = RestoreArgs { from, backup, data_dir, key, accept_missing_journal, verifier_key };
            match super::restore::restore(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(super::restore::RestoreError::Damaged(msg)) => {
                    eprintln!("custos: {msg}; nothing was restored");
                    ExitCode::from(1)
                }
                Err(super::restore::RestoreError::Other(e)) => {
                    eprintln!("custos: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        BackupCommand::Verify { from, verifier_key, max_age_hours } => match verify(&from, verifier_key.as_deref()) {
            Ok(r) if r.damaged.is_empty() => {
                out!(
                    "{} set(s), {} object(s), {} bytes, {} journaled destruction(s): intact",
                    r.sets,
                    r.objects,
                    r.bytes,
                    r.journal
                );
                match (max_age_hours, r.newest) {
                    (None, _) => ExitCode::SUCCESS,
                    (Some(h), Some(newest))
                        if time::OffsetDateTime::now_utc() - newest <= time::Duration::hours(h.min(1 << 40) as i64) =>
                    {
                        ExitCode::SUCCESS
                    }
                    (Some(h), newest) => {
                        let when = newest.map_or("there is none".to_owned(), |t| format!("it was made at {t}"));
                        eprintln!("custos: no set in the last {h} hours: {when}");
                        ExitCode::from(1)
                    }
                }
            }
            Ok(r) => {
                for d in &r.damaged {
                    eprintln!("custos: damaged: {}: {}", d.path, d.what);
                }
                out!("{} set(s), {} object(s): {} damaged", r.sets, r.objects, r.damaged.len());
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("custos: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// What `custos backup restore` was told.
pub(super) struct RestoreArgs {
    pub from: Location,
    pub backup: Option<String>,
    pub data_dir: PathBuf,
    pub key: PathBuf,
    pub accept_missing_journal: bool,
    /// From the operator (or the old data directory), never the target.
    pub verifier_key: String,
}

/// The verifier key an (old) data directory's store records.
fn recorded_verifier_key(data_dir: &std::path::Path) -> anyhow::Result<String> {
    use crate::store::KvStore;
    let store = crate::store::RocksStore::open_read_only(&crate::config::db_dir(data_dir))
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", data_dir.display()))?;
    let raw = store
        .get(crate::store::Cf::System, crate::archive::trail::transparency::VERIFIER_KEY)?
        .ok_or_else(|| anyhow::anyhow!("{} records no verifier key", data_dir.display()))?;
    Ok(String::from_utf8(raw)?)
}

fn create(offline: &OfflineArgs, to: Location, recipients: &[String]) -> anyhow::Result<()> {
    let archive = offline.open()?;
    let settings = BackupSettings {
        target: to,
        recipients: BackupSettings::parse_recipients(recipients)?,
        scratch: crate::config::backup_scratch_dir(&offline.data_dir),
        wal_archive: None,
        keep_days: 0,
        at: None,
    };
    let m = run_async_value(async { Ok(archive.backups().create_backup_offline(&settings).await?) });
    archive.shutdown();
    let m = m?;
    out!(
        "backup {}: audit tree size {}, {} files, {} bytes ({} new) in {}",
        m.backup_id,
        m.tree_size,
        m.files.len(),
        m.bytes,
        m.new_bytes,
        settings.target
    );
    Ok(())
}
