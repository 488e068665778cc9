//! Bucket targets (issue 37, part 1), against a real S3-protocol server:
//! `s3s-fs`, which `./dev.sh test` installs from crates.io and names in
//! `CUSTOS_S3S_FS`. It keeps each object as a file under its root
//! (`<root>/<bucket>/<key>`), so a test can damage one as a disk would.

use super::*;
use custos::backup::medium::Medium;
use custos::backup::s3::{S3Location, PART_BYTES, S3};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const BUCKET: &str = "custos-test";
const KEY_ID: &str = "AKIACUSTOSTEST";
const SECRET: &str = "s3cr3t-that-never-reaches-a-log-line";

/// An `s3s-fs` server on a free port, with one bucket and one key.
struct S3Server {
    child: std::process::Child,
    port: u16,
    root: PathBuf,
}

impl S3Server {
    fn start(root: &Path, port: u16) -> S3Server {
        let bin = std::env::var("CUSTOS_S3S_FS").unwrap();
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let mut child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", KEY_ID, "--secret-key", SECRET])
            .arg(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return S3Server { child, port, root: root.to_owned() };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("s3s-fs did not start on port {port}");
    }

    /// The object's file: `<root>/<bucket>/<key>`.
    fn file(&self, key: &str) -> PathBuf {
        self.root.join(BUCKET).join(key)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Whether the S3 server the tests use is here (`CUSTOS_S3S_FS`).
fn have_s3s() -> bool {
    let present = std::env::var("CUSTOS_S3S_FS").is_ok_and(|p| Path::new(&p).is_file());
    tool_available("s3s-fs (the S3-protocol test server)", present)
}

/// A credentials file in AWS's shared format, mode 0600.
fn credentials_file(dir: &Path, secret: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let f = dir.join("s3-credentials");
    std::fs::write(&f, format!("[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {secret}\n")).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    f
}

/// A relay between custos and the S3 server: counts the multipart parts
/// custos sends, and cuts every connection once more than `cut_after`
/// have started (an outage in the middle of an upload) until told to heal.
struct Relay {
    port: u16,
    parts: Arc<AtomicUsize>,
    cut_after: Arc<AtomicUsize>,
    cut: Arc<AtomicBool>,
}

impl Relay {
    fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (parts, cut_after, cut) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(usize::MAX)), Arc::new(AtomicBool::new(false)));
        let (p, a, c) = (parts.clone(), cut_after.clone(), cut.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                let (c2s_in, c2s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (p, a, c) = (p.clone(), a.clone(), c.clone());
                std::thread::spawn(move || pump(c2s_in, c2s_out, Some((p, a)), c));
                let c = Arc::new(AtomicBool::new(false));
                std::thread::spawn(move || pump(server, client, None, c));
            }
        });
        Relay { port, parts, cut_after, cut }
    }

    fn heal(&self) {
        self.cut_after.store(usize::MAX, Ordering::SeqCst);
        self.cut.store(false, Ordering::SeqCst);
        self.parts.store(0, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`; on the request side, counts `partNumber=` and
/// cuts both sockets when the count passes the limit.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    count: Option<(Arc<AtomicUsize>, Arc<AtomicUsize>)>,
    cut: Arc<AtomicBool>,
) {
    let needle = b"partNumber=";
    let mut buf = vec![0u8; 64 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((parts, limit)) = &count {
            let mut window = std::mem::take(&mut tail);
            window.extend_from_slice(&buf[..n]);
            let seen = window.windows(needle.len()).filter(|w| w == needle).count();
            tail = window[window.len().saturating_sub(needle.len() - 1)..].to_vec();
            if seen > 0 && parts.fetch_add(seen, Ordering::SeqCst) + seen > limit.load(Ordering::SeqCst) {
                cut.store(true, Ordering::SeqCst);
            }
        }
        if cut.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An upload cut in its second part fails; the next attempt sends only
/// the parts that were missing, from the same spooled bytes (the file is
/// not encrypted again), and the object is whole.
#[test]
fn an_interrupted_upload_goes_on_from_its_next_part() {
    if !have_s3s() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("s3"), free_port());
    let relay = Relay::start(s3.port);
    let mut location = S3Location::parse(&format!(
        "s3://{BUCKET}/resume?endpoint=http://127.0.0.1:{}&region=us-east-1&timeout=2",
        relay.port
    ))
    .unwrap();
    location.credentials_file = Some(credentials_file(dir.path(), SECRET));
    let spool = dir.path().join("spool");
    let medium = S3::open(&location, Some(&spool)).unwrap();
    let data = pseudo_random(2 * PART_BYTES + 12_345);

    relay.cut_after.store(1, Ordering::SeqCst);
    let cut = medium.put_new("objects/big.age", &mut |w| Ok(w.write_all(&data)?));
    let e = cut.expect_err("the outage fails the upload");
    assert!(!e.to_string().contains(SECRET), "{e}");
    assert!(!medium_has(&s3, "resume/objects/big.age"), "no object until every part is in");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(spool.join("objects_big.age.upload")).unwrap()).unwrap();
    assert_eq!(record["parts"].as_array().unwrap().len(), 1, "the first part is recorded: {record}");

    relay.heal();
    let stored = medium
        .put_new("objects/big.age", &mut |_| Err(custos::backup::BackupError::Io("encrypted again".into())))
        .expect("resumed from the spooled bytes, without writing them again");
    assert_eq!(relay.parts.load(Ordering::SeqCst), 2, "only the second and third parts are sent again");
    assert_eq!(stored.len, data.len() as u64);
    let mut back = Vec::new();
    medium.read("objects/big.age").unwrap().read_to_end(&mut back).unwrap();
    assert!(back == data, "the object is the spooled bytes");
    assert_eq!(std::fs::read(s3.file("resume/objects/big.age")).unwrap().len(), data.len());
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "the spool is emptied");
    // Written once: a second upload of the same name is refused.
    let again = medium.put_new("objects/big.age", &mut |w| Ok(w.write_all(b"other")?));
    assert!(again.unwrap_err().to_string().contains("never rewritten"));

    // An upload cut off, and meanwhile another writer put the same name:
    // the next attempt neither resumes over it nor keeps the stopped
    // upload's spool.
    relay.cut_after.store(1, Ordering::SeqCst);
    assert!(medium.put_new("objects/raced.age", &mut |w| Ok(w.write_all(&data)?)).is_err());
    assert!(spool.join("objects_raced.age.upload").is_file(), "recorded to resume");
    relay.heal();
    let other = S3::open(&location, Some(&dir.path().join("other-spool"))).unwrap();
    other.put_new("objects/raced.age", &mut |w| Ok(w.write_all(b"the other writer's")?)).unwrap();
    let refused =
        medium.put_new("objects/raced.age", &mut |_| Err(custos::backup::BackupError::Io("encrypted again".into())));
    assert!(refused.unwrap_err().to_string().contains("never rewritten"));
    assert_eq!(std::fs::read(s3.file("resume/objects/raced.age")).unwrap(), b"the other writer's");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "the stopped upload's record and spool are gone");
}

fn medium_has(s3: &S3Server, key: &str) -> bool {
    s3.file(key).is_file()
}

/// A server backing up to a bucket: full and incremental sets, the erasure
/// journal and the shipped log in the bucket, all ciphertext but the
/// journal's ids; `backup list|verify|restore --from s3://…`; a damaged
/// object named; the secret key in no log line, message or audit entry.
#[test]
fn a_bucket_target_holds_sets_the_journal_and_the_log_and_restores() {
    if !have_s3s() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("s3"), free_port());
    let creds = credentials_file(dir.path(), SECRET);
    let address = format!("s3://{BUCKET}/site-a?endpoint=http://127.0.0.1:{}&region=us-east-1", s3.port);
    let (data, config, log) = (dir.path().join("data"), dir.path().join("custos.toml"), dir.path().join("server.log"));
    std::fs::write(
        &config,
        format!("backup_target = {address:?}\nbackup_credentials_file = {:?}\n", creds.to_str().unwrap()),
    )
    .unwrap();
    let mut cmd = Command::new(custos_bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .arg("--policies")
        .arg(policies_dir())
        .env("CUSTOS_LOG", "debug");
    let mut server = BinaryServer::spawn(cmd, &log);
    let (client, base) = (reqwest::Client::new(), server.base.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ids, person, cert, vkey, first, second) = rt.block_on(async {
        let (sid, service) = principal(&client, &base, &["service"], "华东").await;
        let (_, compliance) = principal(&client, &base, &["compliance"], "").await;
        let mut ids = Vec::new();
        let mut people = Vec::new();
        for i in 0..8 {
            let r = create_dossier(&client, &base, &service, &fixture(i % 6, &sid)).await;
            assert_eq!(r.status(), StatusCode::CREATED);
            let c: Value = r.json().await.unwrap();
            ids.push(c["id"].as_str().unwrap().to_owned());
            people.push(c["subjects"][0].as_str().unwrap().to_owned());
        }
        let backup = || client.post(format!("{base}/v1/backups")).bearer_auth(ADMIN_TOKEN).send();
        let r = backup().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let first: Value = r.json().await.unwrap();
        assert_eq!(first["bytes"], first["new_bytes"], "the first set writes everything");
        let r = create_dossier(&client, &base, &service, &fixture(1, &sid)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let erased = client
            .post(format!("{base}/v1/subjects/{}/erasure", people[0]))
            .bearer_auth(&compliance)
            .header("X-Purpose", "dsr")
            .json(&serde_json::json!({"reason": "consent_withdrawn"}))
            .send()
            .await
            .unwrap();
        assert_eq!(erased.status(), StatusCode::OK);
        let cert = erased.json::<Value>().await.unwrap()["certificate_id"].as_str().unwrap().to_owned();
        let r = backup().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let second: Value = r.json().await.unwrap();
        assert!(
            second["new_bytes"].as_u64().unwrap() < second["bytes"].as_u64().unwrap(),
            "the second set is incremental: {second}"
        );
        let entries: Value = client
            .get(format!("{base}/v1/audit/entries?action=backup.create"))
            .bearer_auth(&compliance)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(entries.to_string().contains(second["backup_id"].as_str().unwrap()), "{entries}");
        assert!(!entries.to_string().contains(SECRET) && !entries.to_string().contains(KEY_ID), "{entries}");
        let vkey = client
            .get(format!("{base}/v1/audit/verifier-key"))
            .bearer_auth(&compliance)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (ids, people[0].clone(), cert, vkey.trim().to_owned(), first, second)
    });
    assert!(server.terminate().success(), "a clean stop ships the log's tail to the bucket");

    // In the bucket: the journal (ids only), age objects and segments.
    let prefix = s3.root.join(BUCKET).join("site-a");
    assert!(prefix.join("journal").join(format!("{cert}.note")).is_file(), "the erasure is journaled");
    let segments = files_under(&prefix.join("audit"));
    assert!(!segments.is_empty(), "the log is shipped");
    for f in files_under(&prefix.join("objects")).iter().chain(&segments) {
        assert!(std::fs::read(f).unwrap().starts_with(b"age-encryption.org/v1\n"), "{}", f.display());
    }
    for id in ids.iter().chain([&person]) {
        let holding = files_containing(&s3.root, id);
        assert!(holding.iter().all(|p| p.starts_with(prefix.join("journal"))), "{id} in {holding:?}");
    }

    // The CLI reads the bucket with the credentials from the environment.
    let s3cli = |args: &[&str]| {
        let out = Command::new(custos_bin()).args(args).env("AWS_SHARED_CREDENTIALS_FILE", &creds).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = s3cli(&["backup", "list", "--from", &address]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains(first["backup_id"].as_str().unwrap()) && out.contains(second["backup_id"].as_str().unwrap()));
    let (code, out, err) = s3cli(&["backup", "verify", "--from", &address, "--max-age-hours", "1"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 set(s)") && out.contains("1 journaled"), "{out}");

    // Restore from the bucket into a new data directory: the erased person
    // stays erased, the log verifies.
    let restored = dir.path().join("restored");
    let master = custos::config::default_master_key_file(&data);
    let (code, out, err) = s3cli(&[
        "backup",
        "restore",
        "--from",
        &address,
        "--data-dir",
        restored.to_str().unwrap(),
        "--master-key-file",
        master.to_str().unwrap(),
        "--verifier-key",
        &vkey,
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let verified = audit_verify(&restored);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));

    // Wrong credentials: a readable refusal that quotes no secret.
    let elsewhere = dir.path().join("wrong");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let wrong = credentials_file(&elsewhere, "not-the-secret-either");
    let out = Command::new(custos_bin())
        .args(["backup", "list", "--from", &address])
        .env("AWS_SHARED_CREDENTIALS_FILE", &wrong)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("s3://custos-test/site-a") && !err.contains("not-the-secret-either"), "{err}");
    eprintln!("wrong credentials: {err}");

    // A damaged object is named by verify, and nothing is restored from it.
    let object =
        files_under(&prefix.join("objects")).into_iter().max_by_key(|p| std::fs::metadata(p).unwrap().len()).unwrap();
    flip_a_byte(&object, 200);
    let (code, out, err) = s3cli(&["backup", "verify", "--from", &address]);
    assert_eq!(code, Some(1), "{out}{err}");
    let name = object.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(&format!("objects/{name}")), "{err}");

    // The secret key is in no log line and no output.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("backup"), "the log was written");
    assert!(!logged.contains(SECRET), "the secret key is in the server's log");
    assert!(files_containing(&data, SECRET).is_empty(), "the secret key is in the data directory");
}
