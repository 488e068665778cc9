//! A target in a bucket of an S3-protocol object store (AWS S3, Alibaba OSS,
//! Tencent COS, MinIO, Ceph RGW), through the `object_store` crate.
//!
//! - **Written once.** A file is uploaded only when no object has its name
//!   (checked first, and a single upload is conditional: `If-None-Match: *`);
//!   with S3 Object Lock in compliance mode on the bucket, not even its owner
//!   can change it (docs/backup.md).
//! - **Bounded in memory.** A file is encrypted to a spool file on the data
//!   directory's disk (ciphertext only), then uploaded from it in 8 MiB
//!   parts: memory holds one part, whatever the file's size.
//! - **Resumable.** A file larger than a part goes up as a multipart upload
//!   whose id and finished parts are recorded beside the spool file after
//!   each part; an upload interrupted (a crash, the store unreachable past
//!   the retries) goes on from the next part at the next attempt, with the
//!   same bytes.
//! - **Retried.** Every request is retried with exponential back-off
//!   (100 ms doubling to 15 s, for up to 3 minutes, or the address's
//!   `timeout=SECONDS`) by `object_store`.
//! - **Credentials** come from the environment (`AWS_ACCESS_KEY_ID`, …) or a
//!   credentials file (`backup_credentials_file`, AWS's shared format, mode
//!   0600); never from the target's URL, and never in a message.

use super::medium::{older_than, Fill, Hashing, Listed, Medium, Stored, SyncedInSlices};
use super::BackupError;
use object_store::aws::AmazonS3;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod location;
pub use location::S3Location;

/// What a multipart upload the store no longer knows fails with.
const GONE: &str = "the store has no such upload any more";

/// One part of an upload, and what a read fetches at a time.
pub const PART_BYTES: usize = 8 << 20;

/// The runtime every S3 request runs on: a small one of its own, so the
/// blocking callers (a set's thread, the CLI) can wait for a request from
/// any thread, inside the server's runtime or outside any. Its two threads
/// run at the lowest priority (`SCHED_BATCH`, nice 19).
fn runtime() -> Result<&'static tokio::runtime::Runtime, BackupError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("custos-s3")
                // At the lowest CPU priority, like the set's own thread: an
                // upload yields to requests (docs/backup.md).
                .on_thread_start(super::lower_thread_priority)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| BackupError::Io(format!("the S3 client's runtime: {e}")))
}

/// Runs `fut` on the S3 runtime and waits for it on this thread.
fn block<T: Send + 'static>(
    fut: impl std::future::Future<Output = object_store::Result<T>> + Send + 'static,
) -> Result<T, object_store::Error> {
    let rt = runtime().map_err(|e| object_store::Error::Generic { store: "S3", source: e.to_string().into() })?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| object_store::Error::Generic { store: "S3", source: "the request was dropped".into() })?
}

/// A bucket (and prefix) as a backup target's storage.
pub struct S3 {
    store: std::sync::Arc<AmazonS3>,
    location: S3Location,
    /// Where files are encrypted to before they go up, and where an upload
    /// in progress is recorded.
    spool: Option<PathBuf>,
}

/// An upload in progress, recorded after every part.
#[derive(Debug, Serialize, Deserialize)]
struct Upload {
    rel: String,
    /// The spool file's name (in the spool directory).
    spool: String,
    id: String,
    part_bytes: usize,
    len: u64,
    sha256: String,
    /// The finished parts' ids, in order.
    parts: Vec<String>,
}

impl S3 {
    /// Opens the bucket `location` names; `spool` is a directory on the
    /// data directory's disk for the files going up (none: read-only).
    pub fn open(location: &S3Location, spool: Option<&Path>) -> Result<Self, BackupError> {
        let store = location.build().map_err(|e| BackupError::Unreadable(e.to_string()))?;
        Ok(S3 { store: std::sync::Arc::new(store), location: location.clone(), spool: spool.map(Path::to_owned) })
    }

    fn key(&self, rel: &str) -> Result<ObjectPath, BackupError> {
        if rel.split('/').any(|part| part.is_empty() || part == "..") {
            return Err(BackupError::Io(format!("{rel:?} is not a path inside the target")));
        }
        let full =
            if self.location.prefix.is_empty() { rel.to_owned() } else { format!("{}/{rel}", self.location.prefix) };
        ObjectPath::parse(&full).map_err(|e| BackupError::Io(format!("{rel:?}: {e}")))
    }

    fn error(&self, rel: &str, e: object_store::Error) -> BackupError {
        BackupError::Io(format!("{}/{rel}: {}", self.describe(), brief(&e)))
    }

    /// A multipart request's error; the store's "no such upload" (it was
    /// aborted or expired) says [`GONE`].
    fn upload_error(&self, rel: &str, e: object_store::Error) -> BackupError {
        match e {
            object_store::Error::NotFound { .. } => BackupError::Io(format!("{}/{rel}: {GONE}", self.describe())),
            e => self.error(rel, e),
        }
    }

    /// The spool directory, and the record of an upload of `rel` there.
    fn spool_dir(&self, rel: &str) -> Result<(PathBuf, PathBuf), BackupError> {
        let spool = self.spool.as_ref().ok_or_else(|| BackupError::Io("this target was opened to read only".into()))?;
        crate::crypto::owner_only_dir(spool)?;
        Ok((spool.clone(), spool.join(format!("{}.upload", rel.replace('/', "_")))))
    }

    /// The upload recorded for `rel` and its spool file, if that is whole
    /// and as recorded (else both are dropped, and the file is written
    /// again).
    fn recorded_upload(&self, rel: &str, dir: &Path, record: &Path) -> Option<(Upload, PathBuf)> {
        let upload: Upload = serde_json::from_slice(&std::fs::read(record).ok()?).ok()?;
        let plain_name = !upload.spool.contains('/') && upload.spool.ends_with(".spool");
        let spool = dir.join(&upload.spool);
        let whole = plain_name
            && upload.rel == rel
            && upload.part_bytes == PART_BYTES
            && sha256_of(&spool).ok().is_some_and(|s| s.len == upload.len && s.sha256 == upload.sha256);
        if whole {
            return Some((upload, spool));
        }
        let _ = std::fs::remove_file(record);
        if plain_name {
            let _ = std::fs::remove_file(&spool);
        }
        None
    }

    fn multipart(&self, rel: &str, spool: &Path, record: &Path, upload: &mut Upload) -> Result<(), BackupError> {
        let key = self.key(rel)?;
        let mut file = std::fs::File::open(spool)?;
        let parts = upload.len.div_ceil(PART_BYTES as u64) as usize;
        for idx in upload.parts.len()..parts {
            let start = idx as u64 * PART_BYTES as u64;
            let mut buf = vec![0u8; (upload.len - start).min(PART_BYTES as u64) as usize];
            file.seek(std::io::SeekFrom::Start(start))?;
            file.read_exact(&mut buf)?;
            let (store, k, id) = (self.store.clone(), key.clone(), upload.id.clone());
            let part = block(async move { store.put_part(&k, &id, idx, PutPayload::from(buf)).await })
                .map_err(|e| self.upload_error(rel, e))?;
            upload.parts.push(part.content_id);
            write_record(record, upload)?;
            tracing::debug!(target = %self.describe(), file = rel, part = idx + 1, of = parts, "part uploaded");
        }
        // The store completes a multipart upload unconditionally: look once
        // more just before, so that a file that appeared meanwhile (another
        // writer of the same name) is never replaced.
        if self.exists(rel)? {
            let (store, k, id) = (self.store.clone(), key, upload.id.clone());
            let _ = block(async move { store.abort_multipart(&k, &id).await });
            return Err(exists(&self.describe(), rel));
        }
        let (store, k, id) = (self.store.clone(), key, upload.id.clone());
        let ids: Vec<PartId> = upload.parts.iter().map(|c| PartId { content_id: c.clone() }).collect();
        block(async move { store.complete_multipart(&k, &id, ids).await }).map_err(|e| self.upload_error(rel, e))?;
        Ok(())
    }

    fn single(&self, rel: &str, spool: &Path) -> Result<(), BackupError> {
        let bytes = std::fs::read(spool)?;
        let (store, key) = (self.store.clone(), self.key(rel)?);
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match block(async move { store.put_opts(&key, PutPayload::from(bytes), opts).await }) {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(exists(&self.describe(), rel)),
            Err(e) => Err(self.error(rel, e)),
        }
    }
}

fn exists(target: &str, rel: &str) -> BackupError {
    BackupError::Io(format!("{target}/{rel} exists already; backup files are never rewritten"))
}

/// An `object_store` error in one line: its kind and the store's reason,
/// never a request's headers (which carry the signature, not the secret).
fn brief(e: &object_store::Error) -> String {
    match e {
        object_store::Error::NotFound { .. } => "not found".into(),
        object_store::Error::AlreadyExists { .. } => "exists already".into(),
        other => {
            let text = other.to_string();
            let tag = |t: &str| {
                let open = format!("<{t}>");
                let start = text.find(&open)? + open.len();
                Some(text[start..].split('<').next().unwrap_or_default().to_owned())
            };
            // The store's own answer (`<Code>SignatureDoesNotMatch</Code>`),
            // never the rest of its body (which may echo the request).
            match (tag("Code"), tag("Message")) {
                (Some(code), Some(message)) => format!("{code}: {message}").chars().take(300).collect(),
                (Some(code), None) => code.chars().take(100).collect(),
                _ => text
                    .split('<')
                    .next()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect(),
            }
        }
    }
}

fn sha256_of(path: &Path) -> Result<Stored, BackupError> {
    let mut h = Hashing::new(std::io::sink());
    std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
    Ok(h.stored().1)
}

fn write_record(record: &Path, upload: &Upload) -> Result<(), BackupError> {
    let tmp = record.with_extension("upload.tmp");
    let bytes = serde_json::to_vec(upload).map_err(|e| BackupError::Io(e.to_string()))?;
    let mut f = crate::crypto::owner_only_file().create(true).truncate(true).open(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, record)?;
    Ok(())
}

/// Reads an object in ranges of one part: bounded in memory, each range
/// retried on its own.
struct RangeReader<'a> {
    s3: &'a S3,
    rel: String,
    key: ObjectPath,
    size: u64,
    pos: u64,
    buf: bytes::Bytes,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            if self.pos >= self.size {
                return Ok(0);
            }
            let end = self.size.min(self.pos + PART_BYTES as u64);
            let (store, key, range) = (self.s3.store.clone(), self.key.clone(), self.pos..end);
            self.buf = block(async move { store.get_range(&key, range).await })
                .map_err(|e| std::io::Error::other(self.s3.error(&self.rel, e).to_string()))?;
            if self.buf.is_empty() {
                return Err(std::io::Error::other(format!("{}: the object ended early", self.rel)));
            }
            self.pos += self.buf.len() as u64;
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

impl Medium for S3 {
    fn describe(&self) -> String {
        self.location.to_string()
    }

    fn prepare(&self, _folders: &[&str]) -> Result<(), BackupError> {
        Ok(())
    }

    /// Its marker, or any file in it (a directory target copied into a
    /// bucket by another tool has no markers).
    fn has_folder(&self, folder: &str) -> Result<bool, BackupError> {
        Ok(self.exists(&format!("{folder}/.custos"))? || !self.list(folder)?.is_empty())
    }

    fn mark(&self, folder: &str) -> Result<(), BackupError> {
        let rel = format!("{folder}/.custos");
        if self.exists(&rel)? {
            return Ok(());
        }
        match self.put_new(&rel, &mut |w| Ok(w.write_all(b"custos-backup folder\n")?)) {
            // Another writer marked it first: marked.
            Err(_) if self.exists(&rel)? => Ok(()),
            other => other.map(|_| ()),
        }
    }

    fn size(&self, rel: &str) -> Result<Option<u64>, BackupError> {
        let (store, key) = (self.store.clone(), self.key(rel)?);
        match block(async move { store.head(&key).await }) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(rel, e)),
        }
    }

    fn read(&self, rel: &str) -> Result<Box<dyn Read + Send + '_>, BackupError> {
        let size = self.size(rel)?.ok_or_else(|| {
            self.error(rel, object_store::Error::NotFound { path: rel.to_owned(), source: "no such object".into() })
        })?;
        Ok(Box::new(RangeReader {
            s3: self,
            rel: rel.to_owned(),
            key: self.key(rel)?,
            size,
            pos: 0,
            buf: bytes::Bytes::new(),
        }))
    }

    fn list(&self, folder: &str) -> Result<Vec<Listed>, BackupError> {
        let (store, prefix) = (self.store.clone(), self.key(folder)?);
        let listed =
            block(async move { store.list_with_delimiter(Some(&prefix)).await }).map_err(|e| self.error(folder, e))?;
        let mut out: Vec<Listed> = listed
            .objects
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_owned();
                let secs = u64::try_from(m.last_modified.timestamp()).unwrap_or(0);
                Some(Listed { name, modified: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)) })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn put_new(&self, rel: &str, fill: Fill<'_>) -> Result<Stored, BackupError> {
        let (dir, record) = self.spool_dir(rel)?;
        if self.exists(rel)? {
            // An upload of it that stopped is of no use any more.
            if let Some((_, spool)) = self.recorded_upload(rel, &dir, &record) {
                let _ = std::fs::remove_file(&record);
                let _ = std::fs::remove_file(spool);
            }
            return Err(exists(&self.describe(), rel));
        }
        if let Some((mut upload, spool)) = self.recorded_upload(rel, &dir, &record) {
            tracing::info!(target = %self.describe(), file = rel, parts = upload.parts.len(), "resuming an upload");
            let stored = Stored { len: upload.len, sha256: upload.sha256.clone() };
            match self.multipart(rel, &spool, &record, &mut upload) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&record);
                    let _ = std::fs::remove_file(&spool);
                    return Ok(stored);
                }
                // The store forgot the upload (expired, aborted): from the start.
                Err(e) if e.to_string().contains(GONE) => {
                    tracing::warn!(file = rel, error = %e, "the recorded upload is gone; uploading again");
                    let _ = std::fs::remove_file(&record);
                    let _ = std::fs::remove_file(&spool);
                    if self.exists(rel)? {
                        return Err(exists(&self.describe(), rel));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // A name of its own: two writers of one file never share a spool.
        let name = format!("{}.{}.spool", rel.replace('/', "_"), ulid::Ulid::new());
        let spool = dir.join(&name);
        let written = (|| {
            let mut f = crate::crypto::owner_only_file().create_new(true).open(&spool)?;
            // Synced in slices, like a directory target's files: the spool
            // shares the disk with the store's write-ahead log.
            let slices = SyncedInSlices { file: &mut f, unsynced: 0 };
            let mut hashing = Hashing::new(std::io::BufWriter::with_capacity(1 << 20, slices));
            fill(&mut hashing)?;
            hashing.flush()?;
            let (_, stored) = hashing.stored();
            f.sync_all()?;
            Ok(stored)
        })();
        let stored = match written {
            Ok(s) => s,
            Err(e) => {
                let _ = std::fs::remove_file(&spool);
                return Err(e);
            }
        };
        let result = if stored.len <= PART_BYTES as u64 {
            self.single(rel, &spool)
        } else {
            let (store, key) = (self.store.clone(), self.key(rel)?);
            let created = block(async move { store.create_multipart(&key).await }).map_err(|e| self.error(rel, e));
            let id = match created {
                Ok(id) => id,
                Err(e) => {
                    let _ = std::fs::remove_file(&spool);
                    return Err(e);
                }
            };
            let mut upload = Upload {
                rel: rel.to_owned(),
                spool: name,
                id,
                part_bytes: PART_BYTES,
                len: stored.len,
                sha256: stored.sha256.clone(),
                parts: vec![],
            };
            if let Err(e) = write_record(&record, &upload) {
                let _ = std::fs::remove_file(&spool);
                return Err(e);
            }
            let done = self.multipart(rel, &spool, &record, &mut upload);
            if done.is_err() {
                // Kept with its record: the next attempt goes on from here.
                return done.map(|()| stored);
            }
            done
        };
        let _ = std::fs::remove_file(&record);
        let _ = std::fs::remove_file(&spool);
        result.map(|()| stored)
    }

    fn delete(&self, rel: &str) -> Result<(), BackupError> {
        let (store, key) = (self.store.clone(), self.key(rel)?);
        block(async move { store.delete(&key).await }).map_err(|e| self.error(rel, e))
    }

    /// The bucket's leftovers are its own (docs/backup.md: a lifecycle
    /// rule); here, spool files older than a day that no upload record
    /// names: what a set stopped mid-file left on the data directory's disk.
    fn remove_stale(&self, _folders: &[&str]) -> Result<usize, BackupError> {
        let Some(dir) = self.spool.as_ref().filter(|d| d.is_dir()) else { return Ok(0) };
        let (mut recorded, mut spooled, mut removed) = (std::collections::HashSet::new(), Vec::new(), 0);
        for e in std::fs::read_dir(dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".upload") {
                let upload = serde_json::from_slice::<Upload>(&std::fs::read(e.path())?).ok();
                // A week: the store's lifecycle rule has aborted the upload
                // by then (docs/backup.md); its spool goes below.
                if upload.is_none() || older_than(e.metadata().and_then(|m| m.modified()).ok(), 7 * 24 * 3600) {
                    std::fs::remove_file(e.path())?;
                    removed += 1;
                } else if let Some(u) = upload {
                    recorded.insert(u.spool);
                }
            } else if name.ends_with(".spool") && older_than(e.metadata().and_then(|m| m.modified()).ok(), 24 * 3600) {
                spooled.push((name, e.path()));
            }
        }
        for (name, path) in spooled {
            if !recorded.contains(&name) {
                std::fs::remove_file(path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spool files a stopped set left go after a day, unless an upload
    /// record names them (that upload resumes from them).
    #[test]
    fn stale_spool_files_go_unless_an_upload_goes_on_from_them() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir_all(&spool).unwrap();
        let location = S3Location::parse("s3://custos-test/x?endpoint=http://127.0.0.1:9&region=us-east-1").unwrap();
        let s3 = S3::open(&location, Some(&spool)).unwrap();
        let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 24 * 3600);
        for name in ["objects_a.age.01.spool", "objects_b.age.02.spool", "objects_c.age.03.spool"] {
            let f = std::fs::File::create(spool.join(name)).unwrap();
            if name != "objects_c.age.03.spool" {
                f.set_modified(two_days_ago).unwrap();
            }
        }
        let upload = Upload {
            rel: "objects/b.age".into(),
            spool: "objects_b.age.02.spool".into(),
            id: "upload-1".into(),
            part_bytes: PART_BYTES,
            len: 0,
            sha256: String::new(),
            parts: vec![],
        };
        write_record(&spool.join("objects_b.age.upload"), &upload).unwrap();
        assert_eq!(s3.remove_stale(&[]).unwrap(), 1);
        assert!(!spool.join("objects_a.age.01.spool").exists(), "old and named by no record");
        assert!(spool.join("objects_b.age.02.spool").exists(), "an upload goes on from it");
        assert!(spool.join("objects_c.age.03.spool").exists(), "fresh: a set may be writing it");
    }
}
