//! Configuration: defaults, then the TOML file (`--config`), then the
//! environment, then flags. Unknown keys are an error. Secrets are never
//! printed by `Debug`.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub master_key_file: Option<PathBuf>,
    pub policies_dir: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub key_cache_entries: Option<usize>,
    pub block_cache_mb: Option<usize>,
    pub kek_rotation_days: Option<u64>,
    pub checkpoint_interval_secs: Option<u64>,
    pub retention_interval_secs: Option<u64>,
    pub grading_interval_secs: Option<u64>,
    pub stale_after_days: Option<u64>,
    pub max_document_bytes: Option<u64>,
    pub backup_dir: Option<PathBuf>,
    pub backup_target: Option<String>,
    pub backup_credentials_file: Option<PathBuf>,
    pub backup_recipients: Option<Vec<String>>,
    pub backup_at: Option<String>,
    pub backup_keep_days: Option<u32>,
    pub backup_stream_secs: Option<u64>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_read_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub rate_limit_per_second: Option<u32>,
    pub rate_limit_burst: Option<u32>,
    pub token_days: Option<u32>,
    pub admin_token_days: Option<u32>,
    /// custos as a witness of other logs (`[witness]`).
    pub witness: Option<WitnessFile>,
    /// The witnesses this log submits its checkpoints to (`[[witnesses]]`).
    pub witnesses: Option<Vec<WitnessPeerFile>>,
    pub witness_timeout_secs: Option<u64>,
}

/// `[witness]`: the witness key's name and the logs it witnesses.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessFile {
    pub name: Option<String>,
    #[serde(default)]
    pub logs: Vec<WitnessedLogFile>,
}

/// `[[witness.logs]]`: a log's origin line and its note verifier key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessedLogFile {
    pub origin: String,
    pub key: String,
}

/// `[[witnesses]]`: a witness's name, submission prefix and cosignature
/// verifier key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessPeerFile {
    pub name: String,
    pub url: String,
    pub key: String,
}

/// What one client may take of the server (docs/security.md, "Bounds").
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request's head (request line and headers) must arrive within this
    /// (`header_read_timeout_secs`, default 10).
    pub header_read_timeout: std::time::Duration,
    /// A body may pause at most this long between two reads
    /// (`body_read_timeout_secs`, default 30); then 408.
    pub body_read_timeout: std::time::Duration,
    /// Open connections at most (`max_connections`, default 1024); more
    /// wait in the accept queue.
    pub max_connections: usize,
    /// Requests a second per principal (`rate_limit_per_second`, default
    /// 300; 0 turns the limit off), with bursts up to `rate_limit_burst`
    /// (default twice the rate). Past it: 429 with `Retry-After`.
    pub rate_per_second: u32,
    pub rate_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: std::time::Duration::from_secs(10),
            body_read_timeout: std::time::Duration::from_secs(30),
            max_connections: 1024,
            rate_per_second: 300,
            rate_burst: 600,
        }
    }
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {}", path.display(), e.message()))
    }
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The age identity that wraps every data key. Default: next to the data
    /// directory (`<data-dir>.master-key`), never inside it.
    pub master_key_file: PathBuf,
    /// The operator's policy directory; `None`: the policies built into
    /// the binary (the shipped `policies/`).
    pub policies_dir: Option<PathBuf>,
    pub max_body_bytes: usize,
    pub key_cache_entries: usize,
    /// RocksDB's block cache, shared by every column family (data, index
    /// and filter blocks): the store's read memory, whatever the data size.
    pub block_cache_bytes: usize,
    /// How long a key-encryption key wraps new data keys before a new one
    /// is made (old ones stay, wrapped, for reading).
    pub kek_rotation: std::time::Duration,
    /// How often a signed checkpoint is written to `<data-dir>/checkpoints/`.
    pub checkpoint_interval: std::time::Duration,
    /// How often the retention sweep runs; `None` turns the scheduler off
    /// (`custos retention run` still works).
    pub retention_interval: Option<std::time::Duration>,
    /// How often the grading job regrades every dossier and counts overdue
    /// reviews; `None` turns it off (`custos grading run` still works).
    pub grading_interval: Option<std::time::Duration>,
    /// Dossiers unchanged for this long are flagged as stale.
    pub stale_after: time::Duration,
    /// The largest document `PUT .../documents/{name}` accepts (413 beyond).
    pub max_document_bytes: u64,
    /// Where backup sets are written (`POST /v1/backups`): `backup_dir`, or
    /// `backup_target` (a directory or `s3://bucket/prefix?…`, with
    /// `backup_credentials_file`); none: no backups.
    pub backup_target: Option<crate::backup::Location>,
    /// age X25519 public keys (offline recovery keys) every backup object is
    /// encrypted to, besides the master key's.
    pub backup_recipients: Vec<String>,
    /// When the nightly set is taken (with a backup target).
    pub backup_at: DailyAt,
    /// Sets older than this many days are deleted by the nightly job.
    pub backup_keep_days: u32,
    /// How often the standby stream ships the store's writes to the backup
    /// target (`backup_stream_secs`); none: no stream (docs/backup.md).
    pub backup_stream: Option<std::time::Duration>,
    pub bootstrap_token: Option<Secret>,
    /// The second admin's enrollment code at initialisation
    /// (`CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE`; else generated and printed once).
    pub bootstrap_second_admin_code: Option<Secret>,
    pub limits: Limits,
    /// How long enrolled tokens work: staff (`token_days`, default 90) and
    /// admins (`admin_token_days`, default 30).
    pub token_lifetimes: crate::archive::TokenLifetimes,
    /// The logs this custos witnesses and the witnesses it submits to
    /// (docs/operations.md, "Witnesses").
    pub witness: crate::archive::WitnessSettings,
}

pub use crate::clock::DailyAt;

/// The machine's UTC offset, read once while the process has one thread
/// (the `time` crate refuses to read it later, as that is unsound on Linux).
pub fn local_offset() -> time::UtcOffset {
    static OFFSET: std::sync::OnceLock<time::UtcOffset> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC))
}

pub use crate::crypto::DEFAULT_KEK_ROTATION;

impl Config {
    /// Defaults for a data directory (used by tests and as the base).
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Config {
            master_key_file: default_master_key_file(&data_dir),
            data_dir,
            listen: DEFAULT_LISTEN.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080))),
            policies_dir: None,
            max_body_bytes: 1024 * 1024,
            key_cache_entries: 100_000,
            block_cache_bytes: crate::store::DEFAULT_BLOCK_CACHE_BYTES,
            kek_rotation: DEFAULT_KEK_ROTATION,
            checkpoint_interval: std::time::Duration::from_secs(60),
            retention_interval: Some(std::time::Duration::from_secs(3600)),
            grading_interval: Some(std::time::Duration::from_secs(3600)),
            stale_after: time::Duration::days(365),
            max_document_bytes: 100 * 1024 * 1024,
            backup_target: None,
            backup_recipients: Vec::new(),
            backup_at: DailyAt { hour: 2, minute: 0, offset: local_offset() },
            backup_keep_days: 35,
            backup_stream: None,
            bootstrap_token: None,
            bootstrap_second_admin_code: None,
            token_lifetimes: crate::archive::TokenLifetimes::default(),
            limits: Limits::default(),
            witness: crate::archive::WitnessSettings::default(),
        }
    }

    /// Merges the layers; `None` means "not given at this layer".
    pub fn resolve(
        file: FileConfig,
        data_dir: Option<PathBuf>,
        listen: Option<SocketAddr>,
        master_key_file: Option<PathBuf>,
        policies_dir: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let data_dir = data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let mut c = Config::for_data_dir(data_dir);
        if let Some(l) = listen.or(file.listen) {
            c.listen = l;
        }
        if let Some(m) = master_key_file.or(file.master_key_file) {
            c.master_key_file = m;
        }
        c.policies_dir = policies_dir.or(file.policies_dir);
        if let Some(n) = file.max_body_bytes {
            c.max_body_bytes = n;
        }
        if let Some(n) = file.key_cache_entries {
            c.key_cache_entries = n;
        }
        if let Some(mb) = file.block_cache_mb {
            anyhow::ensure!((8..=1 << 20).contains(&mb), "block_cache_mb must be between 8 and 1048576");
            c.block_cache_bytes = mb << 20;
        }
        if let Some(d) = file.kek_rotation_days {
            anyhow::ensure!(d >= 1, "kek_rotation_days must be at least 1");
            c.kek_rotation = std::time::Duration::from_secs(d.saturating_mul(86_400));
        }
        if let Some(n) = file.checkpoint_interval_secs {
            c.checkpoint_interval = std::time::Duration::from_secs(n.max(1));
        }
        if let Some(n) = file.retention_interval_secs {
            c.retention_interval = (n > 0).then(|| std::time::Duration::from_secs(n));
        }
        if let Some(n) = file.grading_interval_secs {
            c.grading_interval = (n > 0).then(|| std::time::Duration::from_secs(n));
        }
        if let Some(n) = file.max_document_bytes {
            c.max_document_bytes = n;
        }
        c.backup_target = match (file.backup_dir, file.backup_target) {
            (Some(_), Some(_)) => anyhow::bail!("set backup_dir or backup_target, not both"),
            (Some(dir), None) => Some(crate::backup::Location::Dir(dir)),
            (None, Some(t)) => {
                match crate::backup::Location::parse(&t).map_err(|e| anyhow::anyhow!("backup_target: {e}"))? {
                    crate::backup::Location::Dir(d) if d.is_relative() => {
                        anyhow::bail!("backup_target {t:?}: a directory target is an absolute path")
                    }
                    l => Some(l),
                }
            }
            (None, None) => None,
        };
        match (&mut c.backup_target, file.backup_credentials_file) {
            (Some(crate::backup::Location::S3(l)), Some(f)) => l.credentials_file = Some(f),
            (_, Some(_)) => anyhow::bail!("backup_credentials_file is for an s3:// backup_target"),
            _ => {}
        }
        c.backup_recipients = file.backup_recipients.unwrap_or_default();
        if let Some(n) = file.backup_keep_days {
            c.backup_keep_days = n.max(1);
        }
        if let Some(n) = file.backup_stream_secs {
            anyhow::ensure!(c.backup_target.is_some(), "backup_stream_secs needs a backup_target (or backup_dir)");
            anyhow::ensure!((1..=3600).contains(&n), "backup_stream_secs must be 1 to 3600");
            c.backup_stream = Some(std::time::Duration::from_secs(n));
        }
        if let Some(at) = &file.backup_at {
            c.backup_at = DailyAt::parse(at, local_offset()).map_err(anyhow::Error::msg)?;
        }
        if let Some(n) = file.stale_after_days {
            c.stale_after = time::Duration::days(n.clamp(1, 36_500) as i64);
        }
        if let Some(n) = file.header_read_timeout_secs {
            c.limits.header_read_timeout = std::time::Duration::from_secs(n.clamp(1, 3600));
        }
        if let Some(n) = file.body_read_timeout_secs {
            c.limits.body_read_timeout = std::time::Duration::from_secs(n.clamp(1, 3600));
        }
        if let Some(n) = file.max_connections {
            c.limits.max_connections = n.max(1);
        }
        if let Some(n) = file.rate_limit_per_second {
            c.limits.rate_per_second = n;
            c.limits.rate_burst = n.saturating_mul(2);
        }
        if let Some(n) = file.token_days {
            c.token_lifetimes.staff = time::Duration::days(i64::from(n.clamp(1, 3650)));
        }
        if let Some(n) = file.admin_token_days {
            c.token_lifetimes.admin = time::Duration::days(i64::from(n.clamp(1, 3650)));
        }
        if let Some(n) = file.rate_limit_burst {
            c.limits.rate_burst = n.max(1);
        }
        if let Some(w) = file.witness {
            c.witness.name = w.name;
            c.witness.logs =
                w.logs.into_iter().map(|l| crate::archive::WitnessedLog { origin: l.origin, key: l.key }).collect();
        }
        c.witness.witnesses = file
            .witnesses
            .unwrap_or_default()
            .into_iter()
            .map(|w| crate::archive::WitnessPeer { name: w.name, url: w.url, key: w.key })
            .collect();
        if let Some(n) = file.witness_timeout_secs {
            c.witness.timeout = std::time::Duration::from_secs(n.clamp(1, 300));
        }
        c.bootstrap_token = std::env::var("CUSTOS_BOOTSTRAP_TOKEN").ok().filter(|t| !t.is_empty()).map(Secret::new);
        c.bootstrap_second_admin_code =
            std::env::var("CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE").ok().filter(|t| !t.is_empty()).map(Secret::new);
        Ok(c)
    }
}

pub use crate::layout::{backup_scratch_dir, db_dir, index_dir};

/// Signed checkpoints written by the server, for auditors to copy out.
pub fn checkpoints_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("checkpoints")
}

pub fn default_master_key_file(data_dir: &Path) -> PathBuf {
    let name = data_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "custos".into());
    let parent = data_dir.parent().unwrap_or_else(|| Path::new("."));
    parent.join(format!("{name}.master-key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_key_defaults_beside_not_inside_the_data_dir() {
        assert_eq!(default_master_key_file(Path::new("./data")), PathBuf::from("./data.master-key"));
        assert_eq!(default_master_key_file(Path::new("/var/lib/custos")), PathBuf::from("/var/lib/custos.master-key"));
    }

    #[test]
    fn backup_at_is_a_time_of_day_in_an_offset() {
        use time::macros::{datetime, offset};
        let at = DailyAt::parse("02:00+08:00", offset!(UTC)).unwrap();
        assert_eq!(at.next_after(datetime!(2026-11-30 12:00 UTC)), datetime!(2026-11-30 18:00 UTC));
        assert_eq!(at.next_after(datetime!(2026-11-30 18:00 UTC)), datetime!(2026-12-01 18:00 UTC));
        let local = DailyAt::parse("23:30", offset!(-05:00)).unwrap();
        assert_eq!(local.next_after(datetime!(2026-11-30 12:00 UTC)), datetime!(2026-12-01 04:30 UTC));
        for bad in ["2:00pm", "24:00", "02:60", "02:00+8", "", "02"] {
            assert!(DailyAt::parse(bad, offset!(UTC)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_backup_target_is_one_place_named_plainly() {
        let resolve = |text: &str| Config::resolve(toml::from_str(text).unwrap(), None, None, None, None);
        let c = resolve(
            "backup_target = \"s3://bkt/site-a?endpoint=http://127.0.0.1:9000\"\n\
                         backup_credentials_file = \"/etc/custos/s3\"",
        )
        .unwrap();
        match c.backup_target {
            Some(crate::backup::Location::S3(l)) => {
                assert_eq!(l.credentials_file.as_deref(), Some(Path::new("/etc/custos/s3")))
            }
            other => panic!("{other:?}"),
        }
        let dir = resolve("backup_dir = \"offsite\"").unwrap().backup_target;
        assert_eq!(dir, Some(crate::backup::Location::Dir(PathBuf::from("offsite"))), "backup_dir as before");
        for (bad, says) in [
            ("backup_dir = \"/a\"\nbackup_target = \"/b\"", "not both"),
            ("backup_target = \"offsite\"", "absolute path"),
            ("backup_target = \"S3://bkt\"", "s3://"),
            ("backup_dir = \"/a\"\nbackup_credentials_file = \"/c\"", "s3://"),
        ] {
            let e = resolve(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn kek_rotation_is_in_days_and_at_least_one() {
        let file: FileConfig = toml::from_str("kek_rotation_days = 30").unwrap();
        let c = Config::resolve(file, None, None, None, None).unwrap();
        assert_eq!(c.kek_rotation, std::time::Duration::from_secs(30 * 86_400));
        let zero: FileConfig = toml::from_str("kek_rotation_days = 0").unwrap();
        let err = Config::resolve(zero, None, None, None, None).unwrap_err().to_string();
        assert!(err.contains("kek_rotation_days"), "{err}");
    }

    #[test]
    fn block_cache_is_in_mebibytes_and_bounded() {
        let c = Config::resolve(FileConfig::default(), None, None, None, None).unwrap();
        assert_eq!(c.block_cache_bytes, crate::store::DEFAULT_BLOCK_CACHE_BYTES);
        let file: FileConfig = toml::from_str("block_cache_mb = 1024").unwrap();
        assert_eq!(Config::resolve(file, None, None, None, None).unwrap().block_cache_bytes, 1 << 30);
        for bad in ["block_cache_mb = 0", "block_cache_mb = 7", "block_cache_mb = 2000000"] {
            let file: FileConfig = toml::from_str(bad).unwrap();
            let err = Config::resolve(file, None, None, None, None).unwrap_err().to_string();
            assert!(err.contains("block_cache_mb"), "{bad}: {err}");
        }
    }

    #[test]
    fn witnesses_are_read_strictly() {
        let file: FileConfig = toml::from_str(
            "witness_timeout_secs = 5\n[witness]\nname = \"w.example/a\"\n[[witness.logs]]\norigin = \"o\"\nkey = \"k\"\n\
             [[witnesses]]\nname = \"w.example/b\"\nurl = \"http://127.0.0.1:1/witness\"\nkey = \"v\"\n",
        )
        .unwrap();
        let c = Config::resolve(file, None, None, None, None).unwrap();
        assert_eq!(c.witness.name.as_deref(), Some("w.example/a"));
        assert_eq!(c.witness.logs, vec![crate::archive::WitnessedLog { origin: "o".into(), key: "k".into() }]);
        assert_eq!(c.witness.witnesses[0].url, "http://127.0.0.1:1/witness");
        assert_eq!(c.witness.timeout, std::time::Duration::from_secs(5));
        assert!(
            toml::from_str::<FileConfig>("[[witnesses]]\nname = \"a\"\nurl = \"u\"\nkey = \"k\"\nquorum = 2").is_err()
        );
        assert!(toml::from_str::<FileConfig>("[witness]\nlog = []").is_err());
    }

    #[test]
    fn flags_beat_file_and_unknown_keys_are_refused() {
        let file: FileConfig = toml::from_str("data_dir = \"/f\"\nlisten = \"127.0.0.1:9\"").unwrap();
        let c = Config::resolve(file, Some("/flag".into()), None, None, None).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/flag"));
        assert_eq!(c.listen.port(), 9);
        assert!(toml::from_str::<FileConfig>("datadir = \"/x\"").is_err());
        assert_eq!(format!("{:?}", Secret::new("hunter2".into())), "Secret(..)");
    }
}
