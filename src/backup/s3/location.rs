//! `s3://bucket/prefix?endpoint=…&region=…&style=path|virtual&timeout=…`: where a
//! bucket target is, and how to reach it. Credentials never go in it.

use std::path::{Path, PathBuf};

/// A bucket target's address and the client settings that reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// The folder inside the bucket (no leading or trailing `/`; may be empty).
    pub prefix: String,
    /// `https://oss-cn-hangzhou.aliyuncs.com`, `http://127.0.0.1:9000`, …;
    /// none: AWS (or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// `virtual`: `bucket.host/key` (AWS, OSS, COS); `path`: `host/bucket/key`
    /// (MinIO, Ceph RGW). Default: path style when an endpoint is named.
    pub virtual_hosted: Option<bool>,
    /// How long a request is retried (`timeout=SECONDS`, default 180).
    pub retry_secs: u64,
    /// An AWS shared-credentials file (`backup_credentials_file`, else
    /// `AWS_SHARED_CREDENTIALS_FILE`); none: the environment's keys.
    pub credentials_file: Option<PathBuf>,
}

impl std::fmt::Display for S3Location {
    /// The address without the query: what messages and audit entries name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && !b.starts_with(['.', '-'])
        && !b.ends_with(['.', '-'])
}

impl S3Location {
    /// Parses an `s3://` address; `Err` says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text.strip_prefix("s3://").ok_or("a bucket target starts with s3://")?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.contains('@') || bucket.contains(':') {
            return Err("credentials never go in the target's address: set AWS_ACCESS_KEY_ID and \
                        AWS_SECRET_ACCESS_KEY, or backup_credentials_file"
                .into());
        }
        if !valid_bucket(bucket) {
            return Err(format!("{bucket:?} is not a bucket name (3-63 of a-z, 0-9, '.', '-')"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == ".." || p == ".") || prefix.contains("//") {
            return Err(format!("{prefix:?} is not a folder in a bucket"));
        }
        let mut location = S3Location {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            region: None,
            virtual_hosted: None,
            retry_secs: 180,
            credentials_file: std::env::var_os("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| format!("{pair:?}: expected name=value"))?;
            match k {
                "endpoint" => location.endpoint = Some(check_endpoint(v)?),
                "region" if !v.is_empty() && v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') => {
                    location.region = Some(v.to_owned())
                }
                "region" => return Err(format!("{v:?} is not a region")),
                "style" => {
                    location.virtual_hosted = Some(match v {
                        "virtual" => true,
                        "path" => false,
                        _ => return Err(format!("style {v:?}: expected path or virtual")),
                    })
                }
                "timeout" => {
                    location.retry_secs = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=3600).contains(n))
                        .ok_or_else(|| format!("timeout {v:?}: seconds, 1 to 3600"))?
                }
                _ => {
                    return Err(format!("{k:?} is not a setting of a bucket target (endpoint, region, style, timeout)"))
                }
            }
        }
        if location.virtual_hosted == Some(true)
            && location.bucket.contains('.')
            && location.endpoint.as_deref().is_some_and(|e| e.starts_with("https://"))
        {
            return Err("a bucket whose name has dots cannot be reached virtual-hosted over https (the store's \
                        certificate does not cover it): use style=path"
                .into());
        }
        Ok(location)
    }

    /// The endpoint the client is given: with `style=virtual`, the bucket's
    /// own host (`https://bucket.oss-cn-hangzhou.aliyuncs.com`), which is
    /// what `object_store` expects of an endpoint in that style.
    pub fn client_endpoint(&self) -> Option<String> {
        let e = self.endpoint.as_ref()?;
        if self.virtual_hosted != Some(true) {
            return Some(e.clone());
        }
        let (scheme, host) = e.split_once("://")?;
        Some(format!("{scheme}://{}.{host}", self.bucket))
    }

    /// The client: the environment's `AWS_*` settings, then the address's,
    /// then the credentials file's keys.
    pub(super) fn build(&self) -> Result<object_store::aws::AmazonS3, String> {
        use object_store::{BackoffConfig, ClientOptions, RetryConfig};
        let options = ClientOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(10))
            // One 8 MiB part at about 600 kbit/s.
            .with_timeout(std::time::Duration::from_secs(120));
        let mut b = object_store::aws::AmazonS3Builder::from_env()
            .with_client_options(options)
            .with_bucket_name(&self.bucket)
            // Every upload carries its SHA-256, which the store checks (and
            // which a bucket with Object Lock requires).
            .with_checksum_algorithm(object_store::aws::Checksum::SHA256)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: std::time::Duration::from_millis(100),
                    max_backoff: std::time::Duration::from_secs(15),
                    base: 2.0,
                },
                // The window below governs, not a count.
                max_retries: 1000,
                retry_timeout: std::time::Duration::from_secs(self.retry_secs),
            });
        if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            b = b.with_region("us-east-1");
        }
        if let Some(r) = &self.region {
            b = b.with_region(r);
        }
        if let Some(e) = self.client_endpoint() {
            b = b.with_allow_http(e.starts_with("http://")).with_endpoint(e);
            b = b.with_virtual_hosted_style_request(self.virtual_hosted.unwrap_or(false));
        } else if let Some(v) = self.virtual_hosted {
            b = b.with_virtual_hosted_style_request(v);
        }
        if let Some(file) = &self.credentials_file {
            let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
            let keys = read_credentials(file, &profile)?;
            b = b.with_access_key_id(keys.key_id).with_secret_access_key(keys.secret);
            if let Some(t) = keys.token {
                b = b.with_token(t);
            }
        }
        b.build().map_err(|e| format!("{self}: {}", e.to_string().lines().next().unwrap_or_default()))
    }
}

/// An endpoint is `http(s)://host[:port]`: no credentials, path, query or
/// fragment. Plain `http://` only to this machine or a private network
/// (a session token would cross it in the clear).
fn check_endpoint(v: &str) -> Result<String, String> {
    let (scheme, rest) = v.split_once("://").ok_or_else(|| format!("endpoint {v:?} is not an http(s) URL"))?;
    let host = rest.trim_end_matches('/');
    if !matches!(scheme, "http" | "https") || host.is_empty() {
        return Err(format!("endpoint {v:?} is not an http(s) URL"));
    }
    if host.contains(['@', '/', '?', '#', ' ']) {
        return Err("the endpoint is scheme://host[:port] only: credentials never go in the target's address".into());
    }
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    let private = name == "localhost"
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| match ip {
            std::net::IpAddr::V4(a) => a.is_loopback() || a.is_private(),
            std::net::IpAddr::V6(a) => a.is_loopback(),
        });
    if scheme == "http" && !private {
        return Err(format!("endpoint {v:?}: plain http only to this machine or a private address; use https"));
    }
    Ok(format!("{scheme}://{host}"))
}

struct Keys {
    key_id: String,
    secret: String,
    token: Option<String>,
}

/// Reads `[profile]`'s keys from an AWS shared-credentials file, which must
/// be readable by its owner only. Errors never quote the file's lines.
fn read_credentials(file: &Path, profile: &str) -> Result<Keys, String> {
    let name = file.display();
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(file).map_err(|e| format!("backup credentials file {name}: {e}"))?;
        if meta.mode() & 0o077 != 0 {
            return Err(format!("backup credentials file {name} is readable by others: chmod 600 it"));
        }
    }
    let text = std::fs::read_to_string(file).map_err(|e| format!("backup credentials file {name}: {e}"))?;
    let (mut section, mut key_id, mut secret, mut token) = (String::new(), None, None, None);
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_owned();
            continue;
        }
        if section != profile {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim().to_owned();
        match k.trim() {
            "aws_access_key_id" => key_id = Some(v),
            "aws_secret_access_key" => secret = Some(v),
            "aws_session_token" => token = Some(v),
            _ => {}
        }
    }
    match (key_id, secret) {
        (Some(key_id), Some(secret)) if !key_id.is_empty() && !secret.is_empty() => Ok(Keys { key_id, secret, token }),
        _ => Err(format!(
            "backup credentials file {name}: profile [{profile}] has no aws_access_key_id and aws_secret_access_key"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_parses_and_names_what_is_wrong() {
        let l = S3Location::parse(
            "s3://custos-backups/prod/site-a/?endpoint=http://127.0.0.1:9000/&region=cn-east-1&style=path",
        )
        .unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("custos-backups", "prod/site-a"));
        assert_eq!(l.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(l.region.as_deref(), Some("cn-east-1"));
        assert_eq!(l.virtual_hosted, Some(false));
        assert_eq!(l.to_string(), "s3://custos-backups/prod/site-a");
        assert_eq!(S3Location::parse("s3://bkt").unwrap().to_string(), "s3://bkt");
        // Virtual-hosted: the bucket's own host is the client's endpoint.
        let oss =
            S3Location::parse("s3://custos-bk/p?endpoint=https://oss-cn-hangzhou.aliyuncs.com&style=virtual").unwrap();
        assert_eq!(oss.client_endpoint().as_deref(), Some("https://custos-bk.oss-cn-hangzhou.aliyuncs.com"));
        assert_eq!(l.client_endpoint().as_deref(), Some("http://127.0.0.1:9000"), "path style: as given");
        for ok in ["http://10.0.0.5:9000", "http://192.168.1.2", "http://[::1]:9000", "http://localhost:9000"] {
            assert!(S3Location::parse(&format!("s3://bkt/x?endpoint={ok}")).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("/srv/backups", "s3://"),
            ("s3://AKIA:secret@bucket/x", "credentials never"),
            ("s3://B/x", "bucket name"),
            ("s3://ok-bucket/a/../b", "folder"),
            ("s3://ok-bucket/x?endpoint=ftp://h", "http(s)"),
            ("s3://ok-bucket/x?secret=1", "not a setting"),
            ("s3://ok-bucket/x?style=odd", "path or virtual"),
            ("s3://ok-bucket/x?timeout=0", "1 to 3600"),
            ("s3://ok-bucket/x?endpoint=https://AKIA:secret@oss.example.com", "credentials never"),
            ("s3://ok-bucket/x?endpoint=https://oss.example.com/path", "host[:port] only"),
            ("s3://ok-bucket/x?endpoint=http://oss.example.com", "plain http"),
            ("s3://my.bucket/x?endpoint=https://oss.example.com&style=virtual", "style=path"),
        ] {
            let e = S3Location::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("secret@"), "{e}");
        }
    }

    #[test]
    fn a_credentials_file_is_read_by_profile_and_refused_when_others_can_read_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = AKIDEFAULT\naws_secret_access_key = s3cr3t-default\n\n\
             [archive]\naws_access_key_id=AKIARCHIVE\naws_secret_access_key=s3cr3t-archive\naws_session_token=tok\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let k = read_credentials(&file, "archive").unwrap();
        assert_eq!(
            (k.key_id.as_str(), k.secret.as_str(), k.token.as_deref()),
            ("AKIARCHIVE", "s3cr3t-archive", Some("tok"))
        );
        assert_eq!(read_credentials(&file, "default").unwrap().key_id, "AKIDEFAULT");
        let missing = read_credentials(&file, "other").err().unwrap();
        assert!(missing.contains("[other]") && !missing.contains("s3cr3t"), "{missing}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open = read_credentials(&file, "default").err().unwrap();
        assert!(open.contains("readable by others") && !open.contains("s3cr3t"), "{open}");
    }
}
