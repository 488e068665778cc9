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
    pub checkpoint_interval_secs: Option<u64>,
    pub retention_interval_secs: Option<u64>,
    pub stale_after_days: Option<u64>,
    pub max_document_bytes: Option<u64>,
    pub backup_dir: Option<PathBuf>,
    pub backup_recipients: Option<Vec<String>>,
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
    /// How often a signed checkpoint is written to `<data-dir>/checkpoints/`.
    pub checkpoint_interval: std::time::Duration,
    /// How often the retention sweep runs; `None` turns the scheduler off
    /// (`custos retention run` still works).
    pub retention_interval: Option<std::time::Duration>,
    /// Dossiers unchanged for this long are flagged as stale.
    pub stale_after: time::Duration,
    /// The largest document `PUT .../documents/{name}` accepts (413 beyond).
    pub max_document_bytes: u64,
    /// Where backup sets are written (`POST /v1/backups`); none: no backups.
    pub backup_dir: Option<PathBuf>,
    /// age X25519 public keys (offline recovery keys) every backup object is
    /// encrypted to, besides the master key's.
    pub backup_recipients: Vec<String>,
    pub bootstrap_token: Option<Secret>,
}

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
            checkpoint_interval: std::time::Duration::from_secs(60),
            retention_interval: Some(std::time::Duration::from_secs(3600)),
            stale_after: time::Duration::days(365),
            max_document_bytes: 100 * 1024 * 1024,
            backup_dir: None,
            backup_recipients: Vec::new(),
            bootstrap_token: None,
        }
    }

    /// Merges the layers; `None` means "not given at this layer".
    pub fn resolve(
        file: FileConfig,
        data_dir: Option<PathBuf>,
        listen: Option<SocketAddr>,
        master_key_file: Option<PathBuf>,
        policies_dir: Option<PathBuf>,
    ) -> Self {
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
        if let Some(n) = file.checkpoint_interval_secs {
            c.checkpoint_interval = std::time::Duration::from_secs(n.max(1));
        }
        if let Some(n) = file.retention_interval_secs {
            c.retention_interval = (n > 0).then(|| std::time::Duration::from_secs(n));
        }
        if let Some(n) = file.max_document_bytes {
            c.max_document_bytes = n;
        }
        c.backup_dir = file.backup_dir;
        c.backup_recipients = file.backup_recipients.unwrap_or_default();
        if let Some(n) = file.stale_after_days {
            c.stale_after = time::Duration::days(n.clamp(1, 36_500) as i64);
        }
        c.bootstrap_token = std::env::var("CUSTOS_BOOTSTRAP_TOKEN").ok().filter(|t| !t.is_empty()).map(Secret::new);
        c
    }
}

/// The RocksDB database inside a data directory.
pub fn db_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("db")
}

/// The search index.
pub fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("index")
}

/// Where a backup's checkpoint of the store is made (on the data directory's
/// file system, for hard links), and removed once the set is written.
pub fn backup_scratch_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("backup-scratch")
}

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
    fn flags_beat_file_and_unknown_keys_are_refused() {
        let file: FileConfig = toml::from_str("data_dir = \"/f\"\nlisten = \"127.0.0.1:9\"").unwrap();
        let c = Config::resolve(file, Some("/flag".into()), None, None, None);
        assert_eq!(c.data_dir, PathBuf::from("/flag"));
        assert_eq!(c.listen.port(), 9);
        assert!(toml::from_str::<FileConfig>("datadir = \"/x\"").is_err());
        assert_eq!(format!("{:?}", Secret::new("hunter2".into())), "Secret(..)");
    }
}
