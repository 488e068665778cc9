//! Witness cosigning (issue 36, part 2; C2SP tlog-witness and
//! tlog-cosignature): two custos servers witnessing each other, a forked
//! log refused, every refusal of the protocol, the quorum check of `custos
//! audit verify`, and the cosignature checked by the independent Python
//! implementation in docs/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::{custos_bin, spawn_app_in, tool_available, TestApp, ADMIN_TOKEN};
use custos::archive::witness::Submission;
use custos::archive::{WitnessPeer, WitnessSettings, WitnessedLog};
use custos::audit::cosignature::CosignatureVerifier;
use custos::audit::tlog_witness::AddCheckpoint;
use custos::audit::{merkle, StoredTree};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::Path;
use tempfile::TempDir;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A server's log verifier key, its origin and its witness key.
struct Keys {
    log: String,
    origin: String,
    witness: String,
}

async fn keys(app: &TestApp) -> Keys {
    let get = |path: &'static str| async move {
        let r = app.get(ADMIN_TOKEN, None, path).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.unwrap().trim().to_owned()
    };
    let log = get("/v1/audit/verifier-key").await;
    let witness = get("/v1/audit/witness-key").await;
    let origin = log.split('+').next().unwrap().to_owned();
    Keys { log, origin, witness }
}

/// A data directory initialised once (its keys made), then stopped.
async fn initialised() -> (TempDir, Keys) {
    let app = spawn_app_in(tempfile::tempdir().unwrap(), |_| {}).await;
    let k = keys(&app).await;
    (app.stop().await, k)
}

/// A's data directory and keys, and B started as the witness of A's log
/// (its own keys beside).
async fn log_and_witness() -> (TempDir, Keys, TestApp, Keys) {
    let ((dir_a, ka), (dir_b, kb)) = (initialised().await, initialised().await);
    let b = start(dir_b, settings(Some(&ka), &[]), 3600).await;
    (dir_a, ka, b, kb)
}

async fn stop_both(a: TestApp, b: TestApp) {
    a.stop().await;
    b.stop().await;
}

fn settings(witnessed: Option<&Keys>, witnesses: &[(&Keys, &str)]) -> WitnessSettings {
    WitnessSettings {
        logs: witnessed.map(|k| WitnessedLog { origin: k.origin.clone(), key: k.log.clone() }).into_iter().collect(),
        witnesses: witnesses
            .iter()
            .map(|(k, base)| WitnessPeer {
                name: k.witness.split('+').next().unwrap().to_owned(),
                url: format!("{base}/witness"),
                key: k.witness.clone(),
            })
            .collect(),
        ..WitnessSettings::default()
    }
}

/// Starts a server on `dir` with these witness settings; the checkpoint
/// job at `interval` seconds (tests drive submissions themselves unless
/// they want the job's).
async fn start(dir: TempDir, w: WitnessSettings, interval: u64) -> TestApp {
    spawn_app_in(dir, move |c| {
        c.witness = w;
        c.checkpoint_interval = std::time::Duration::from_secs(interval);
    })
    .await
}

async fn submit(app: &TestApp) -> Vec<(String, Submission)> {
    let dir = custos::config::checkpoints_dir(&app.data_dir());
    app.archive().witness().submit_checkpoint(&dir).await.unwrap()
}

/// Some audited activity on `app`: an admin asking for the audit log's
/// checkpoint, refused (403) and audited, one entry each.
async fn grow(app: &TestApp, n: usize) {
    for _ in 0..n {
        assert_eq!(app.get(ADMIN_TOKEN, None, "/v1/audit/checkpoint").await.status(), StatusCode::FORBIDDEN);
    }
}

async fn post_raw(app: &TestApp, body: String) -> (StatusCode, String, String) {
    let r = app.client.post(format!("{}/witness/add-checkpoint", app.base)).body(body).send().await.unwrap();
    let status = r.status();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

async fn alerts(app: &TestApp, compliance: &str) -> String {
    let r = app.get(compliance, None, "/v1/audit/alerts").await;
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

fn verify_cli(data_dir: &Path, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(custos_bin())
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// A (the log) witnessed by B, and B witnessed by A: each cosigns the
/// other's checkpoints; the cosigned checkpoint is served, written to the
/// data directory, and passes `audit verify --witness --quorum` with
/// enough keys and fails with too few; the Python implementation in docs/
/// accepts its cosignature and refuses a changed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_custos_witness_each_other() {
    let (dir_a, ka, b, kb) = log_and_witness().await;
    // A's checkpoint job runs every second: the real job submits to B.
    let a = start(dir_a, settings(Some(&kb), &[(&kb, &b.base)]), 1).await;
    let cosigned_file = custos::config::checkpoints_dir(&a.data_dir()).join("latest.cosigned.note");
    for _ in 0..100 {
        if cosigned_file.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(cosigned_file.exists(), "A's checkpoint job had B cosign a checkpoint");
    // B again, now also submitting to A (A witnesses B). A's job keeps
    // trying B's first address, which is gone: it alerts, and the
    // cosigned checkpoint it has stays.
    let dir_b = b.stop().await;
    let b = start(dir_b, settings(Some(&ka), &[(&ka, &a.base)]), 3600).await;
    let report = submit(&b).await;
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].1, Submission::Cosigned, "{report:?}");
    // Nothing new: the same checkpoint is not submitted again.
    assert_eq!(submit(&b).await[0].1, Submission::Kept);

    let (_, compliance) = a.principal(&["compliance"], "").await;
    let r = a.get(&compliance, None, "/v1/audit/checkpoint/cosigned").await;
    assert_eq!(r.status(), StatusCode::OK);
    let note = r.text().await.unwrap();
    let by_b = CosignatureVerifier::parse(&kb.witness).unwrap();
    let at = by_b.verify_note(&note).unwrap();
    assert!(at > 1_700_000_000, "a POSIX timestamp: {at}");
    let log_a = custos::audit::checkpoint::NoteVerifier::parse(&ka.log).unwrap();
    assert!(log_a.open_checkpoint(&note).is_ok(), "the log's own signature is still on it");
    // A's own witness key is not B's: its cosignature is not there.
    assert!(CosignatureVerifier::parse(&ka.witness).unwrap().verify_note(&note).is_err());
    // The read is audited; a sales person is refused, and that is audited too.
    let entries = a.audit(&compliance, "resource=audit/checkpoint/cosigned").await;
    assert!(entries.iter().any(|e| e["outcome"] == "allow"), "{entries:?}");
    let (_, sales) = a.principal(&["sales"], "华东").await;
    assert_eq!(a.get(&sales, None, "/v1/audit/checkpoint/cosigned").await.status(), StatusCode::FORBIDDEN);
    // B audited each cosignature of A's checkpoints.
    let (_, b_compliance) = b.principal(&["compliance"], "").await;
    let cosigns = b.audit(&b_compliance, "action=witness.cosign").await;
    assert!(cosigns.iter().any(|e| e["outcome"] == "allow" && e["resource"] == format!("witness/{}", ka.origin)));

    // The witness key the CLI reads from the data directory is the one served.
    let printed = std::process::Command::new(custos_bin())
        .args(["audit", "witness-key", "--data-dir"])
        .arg(a.data_dir())
        .output()
        .unwrap();
    assert!(printed.status.success());
    assert_eq!(String::from_utf8_lossy(&printed.stdout).trim(), ka.witness);

    // The quorum check of the CLI, on the cosigned file in A's data directory.
    let stranger = initialised().await.1;
    let (code, out) = verify_cli(&a.data_dir(), &["--witness", &kb.witness, "--quorum", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cosigned by 1 of 1"), "{out}");
    let (code, out) =
        verify_cli(&a.data_dir(), &["--witness", &kb.witness, "--witness", &stranger.witness, "--quorum", "2"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("carries 1 of the 2") && out.contains(stranger.witness.split('+').next().unwrap()), "{out}");
    // The same key twice is one witness: not a quorum of two.
    let (code, out) = verify_cli(&a.data_dir(), &["--witness", &kb.witness, "--witness", &kb.witness, "--quorum", "2"]);
    assert_eq!(code, 2, "{out}");
    // A cosignature changed in a kept copy is named as forged.
    let kept = tempfile::tempdir().unwrap();
    let forged_file = kept.path().join("forged.note");
    let last = note.trim_end().rsplit(' ').next().unwrap();
    let mut blob = B64.decode(last).unwrap();
    blob[20] ^= 1;
    std::fs::write(&forged_file, note.replace(last, &B64.encode(&blob))).unwrap();
    let (code, out) =
        verify_cli(&a.data_dir(), &["--witness", &kb.witness, "--checkpoint", forged_file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not verify"), "{out}");

    // The independent implementation (docs/verify_cosignature.py).
    let have_python = std::process::Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if tool_available("python3 (the outside cosignature verifier)", have_python) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verify_cosignature.py");
        let good = kept.path().join("good.note");
        std::fs::write(&good, &note).unwrap();
        let run = |file: &Path, quorum: &str, keys: &[&str]| {
            let mut cmd = std::process::Command::new("python3");
            cmd.arg(&script).arg(file).arg("--quorum").arg(quorum);
            for k in keys {
                cmd.arg("--witness").arg(k);
            }
            cmd.arg("--log-key").arg(&ka.log);
            cmd.output().unwrap()
        };
        let ok = run(&good, "1", &[&kb.witness]);
        assert!(ok.status.success(), "{}{}", String::from_utf8_lossy(&ok.stdout), String::from_utf8_lossy(&ok.stderr));
        assert!(String::from_utf8_lossy(&ok.stdout).contains(&format!("time {at}")));
        let bad = run(&forged_file, "1", &[&kb.witness]);
        assert_eq!(bad.status.code(), Some(1), "{}", String::from_utf8_lossy(&bad.stdout));
        let short = run(&good, "2", &[&kb.witness, &stranger.witness]);
        assert_eq!(short.status.code(), Some(1), "{}", String::from_utf8_lossy(&short.stdout));
    }
    stop_both(a, b).await;
}

/// Every refusal of `add-checkpoint` as C2SP tlog-witness gives it, and two
/// racing submissions: one is cosigned, the other refused, and the state
/// never goes back.
/// A person's access report on A carries the cosignature B gives its
/// checkpoint then; the report's verifier requires a quorum of the
/// witnesses the person trusts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_report_carries_its_witnesses_cosignatures() {
    let have_python = std::process::Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !tool_available("python3 (the access report verifier)", have_python) {
        return;
    }
    let (dir_a, ka, b, kb) = log_and_witness().await;
    let a = start(dir_a, settings(None, &[(&kb, &b.base)]), 3600).await;
    let (owner, service) = a.principal(&["service"], "华东").await;
    let (officer, compliance) = a.principal(&["compliance"], "").await;
    let (_, people) = a.create_ok(&service, "service_delivery", &common::fixture(0, &owner)).await;
    let now = time::OffsetDateTime::now_utc();
    let req = a.verified_request(&compliance, &officer, &people[0], "access", now).await;
    let r = a.get(&compliance, Some("dsr"), &format!("/v1/subjects/{}/access-report?request={req}", people[0])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.unwrap();
    let b_name = kb.witness.split('+').next().unwrap();
    assert_eq!(report["witnesses"], serde_json::json!([b_name]), "{report}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&report).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verify_access_report.py");
    let run = |extra: &[&str]| {
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(file.path())
            .args(["--verifier-key", &ka.log])
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, out) = run(&["--witness", &kb.witness]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("cosigned by 1 of the witnesses given"), "{out}");
    // A witness the person trusts that did not cosign: no quorum of two.
    let (code, out) = run(&["--witness", &kb.witness, "--witness", &ka.witness, "--quorum", "2"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("witness quorum not met: 1 of 2"), "{out}");
    stop_both(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_refuses_as_the_spec_says() {
    let (dir_a, ka, b, _) = log_and_witness().await;
    let a = start(dir_a, settings(None, &[]), 3600).await;
    let archive = a.archive();
    let note_now = || archive.audit_trail().checkpoint_note().unwrap();
    let proof =
        |from: u64, to: u64| merkle::consistency_proof(&StoredTree(archive.store().as_ref()), from, to).unwrap();
    let body = |old: u64, proof: Vec<merkle::Hash>, note: &str| {
        AddCheckpoint { old_size: old, proof, note: note.into() }.encode()
    };

    // First sight: old 0, no proof.
    let (n1, note1) = note_now();
    let (status, _, lines) = post_raw(&b, body(0, vec![], &note1)).await;
    assert_eq!(status, StatusCode::OK, "{lines}");
    assert!(lines.starts_with('\u{2014}') && lines.ends_with('\n'));
    let bv = CosignatureVerifier::parse(&keys(&b).await.witness).unwrap();
    assert!(bv.verify_note(&format!("{note1}{lines}")).is_ok());
    // The same checkpoint again, from its own size: cosigned again.
    assert_eq!(post_raw(&b, body(n1, vec![], &note1)).await.0, StatusCode::OK);

    grow(&a, 3).await;
    let (n2, note2) = note_now();
    // A stale old size: 409, the size known as text/x.tlog.size.
    let (status, ct, size) = post_raw(&b, body(0, vec![], &note2)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(ct, "text/x.tlog.size");
    assert_eq!(size, format!("{n1}\n"));
    // A proof that does not verify: 422.
    let (status, ct, _) = post_raw(&b, body(n1, vec![[9u8; 32]; 3], &note2)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ct, "application/problem+json");
    // A changed signature: 403. An origin B does not witness: 404.
    let sig = note2.trim_end().rsplit(' ').next().unwrap();
    let mut blob = B64.decode(sig).unwrap();
    blob[10] ^= 1;
    let forged = note2.replace(sig, &B64.encode(&blob));
    assert_eq!(post_raw(&b, body(n1, proof(n1, n2), &forged)).await.0, StatusCode::FORBIDDEN);
    let stranger = note2.replacen(&ka.origin, "example.com/not-witnessed", 1);
    assert_eq!(post_raw(&b, body(n1, proof(n1, n2), &stranger)).await.0, StatusCode::NOT_FOUND);
    // Malformed: an old size larger than the checkpoint, a bad old line,
    // too large a body.
    assert_eq!(post_raw(&b, body(n2 + 1, vec![], &note2)).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(post_raw(&b, format!("old 01\n\n{note2}")).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(post_raw(&b, "x".repeat(70 * 1024)).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // Two racing submissions from n1: whichever commits first is cosigned,
    // the other is checked again against it and refused with its size.
    grow(&a, 2).await;
    let (n3, note3) = note_now();
    let (first, second) =
        tokio::join!(post_raw(&b, body(n1, proof(n1, n2), &note2)), post_raw(&b, body(n1, proof(n1, n3), &note3)));
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{first:?} {second:?}");
    let winner = if first.0 == StatusCode::OK { n2 } else { n3 };
    let loser = if first.0 == StatusCode::OK { &second } else { &first };
    assert_eq!(loser.2, format!("{winner}\n"));
    // The state is the winner's: from it, the other one is proven and cosigned.
    if winner == n2 {
        assert_eq!(post_raw(&b, body(n2, proof(n2, n3), &note3)).await.0, StatusCode::OK);
    }
    let (status, _, size) = post_raw(&b, body(0, vec![], &note3)).await;
    assert_eq!((status, size), (StatusCode::CONFLICT, format!("{n3}\n")), "never rolled back");

    // Each signed submission is audited on B, cosigned or refused; the
    // unsigned ones are counted per address (auth.fail), not one by one.
    let (_, compliance) = b.principal(&["compliance"], "").await;
    let entries = b.audit(&compliance, "action=witness.cosign").await;
    let denied = entries.iter().filter(|e| e["outcome"] == "deny").count();
    assert!(denied >= 4, "{entries:?}");
    assert!(entries.iter().all(|e| e["actor"] == "system"));
    assert!(alerts(&b, &compliance).await.contains("witness_log_fork"), "the bad proof from a signed checkpoint");
    stop_both(a, b).await;
}

/// A log restored from an older copy of its data directory, which then
/// writes other entries, is refused by the witness that saw it grow past
/// the copy: the witness answers 409 then 422, the forked side raises the
/// `witness_fork` alert, and the witness raises `witness_log_fork`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_log_is_refused_by_its_witness() {
    let (dir_a, _, b, kb) = log_and_witness().await;
    let with_b = settings(None, &[(&kb, &b.base)]);
    let a = start(dir_a, with_b.clone(), 3600).await;
    assert_eq!(submit(&a).await[0].1, Submission::Cosigned);
    let dir_a = a.stop().await;
    // The copy: the whole directory (data and master key), as a backup.
    let copy = tempfile::tempdir().unwrap();
    let cp = std::process::Command::new("cp").arg("-a").arg(dir_a.path().join(".")).arg(copy.path()).status().unwrap();
    assert!(cp.success());

    // A grows and is cosigned past the copy.
    let a = start(dir_a, with_b.clone(), 3600).await;
    grow(&a, 3).await;
    assert_eq!(submit(&a).await[0].1, Submission::Cosigned);
    a.stop().await;

    // The copy comes back, writes other entries (more of them), submits.
    let forked = start(copy, with_b, 3600).await;
    grow(&forked, 12).await;
    let report = submit(&forked).await;
    assert!(matches!(&report[0].1, Submission::Fork(_)), "{report:?}");
    let (_, compliance) = forked.principal(&["compliance"], "").await;
    assert!(alerts(&forked, &compliance).await.contains("witness_fork"));
    let submits = forked.audit(&compliance, "action=witness.submit").await;
    assert!(submits.iter().any(|e| e["outcome"] == "deny"), "{submits:?}");
    // It stays refused: the next round is a fork again, alerted again.
    grow(&forked, 1).await;
    assert!(matches!(submit(&forked).await[0].1, Submission::Fork(_)));
    let (_, b_compliance) = b.principal(&["compliance"], "").await;
    assert!(alerts(&b, &b_compliance).await.contains("witness_log_fork"));
    // Nothing of the fork was cosigned: the forked side keeps its old cosigned note.
    let r = forked.get(&compliance, None, "/v1/audit/checkpoint/cosigned").await;
    let note: String = r.text().await.unwrap();
    let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
    let fork_size = forked.archive().audit_trail().checkpoint_note().unwrap().0;
    assert!(size < fork_size);
    stop_both(forked, b).await;
}

/// A witness that is down: the submission fails within the timeout, is
/// audited and alerted once, and succeeds once the witness is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_that_is_down_is_alerted_once() {
    let ((dir_a, ka), (dir_b, kb)) = (initialised().await, initialised().await);
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let mut w = settings(None, &[(&kb, &closed)]);
    w.timeout = std::time::Duration::from_secs(2);
    let a = start(dir_a, w, 3600).await;
    let started = std::time::Instant::now();
    assert!(matches!(submit(&a).await[0].1, Submission::Unavailable(_)));
    grow(&a, 1).await;
    assert!(matches!(submit(&a).await[0].1, Submission::Unavailable(_)));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let (_, compliance) = a.principal(&["compliance"], "").await;
    let list: Value = a.get(&compliance, None, "/v1/audit/alerts").await.json().await.unwrap();
    let down = list["alerts"].as_array().unwrap().iter().filter(|x| x["rule"] == "witness_unavailable").count();
    assert_eq!(down, 1, "{list}");
    let errors = a.audit(&compliance, "action=witness.submit&outcome=error").await;
    assert_eq!(errors.len(), 2);
    let dir_a = a.stop().await;
    let b = start(dir_b, settings(Some(&ka), &[]), 3600).await;
    let a = start(dir_a, settings(None, &[(&kb, &b.base)]), 3600).await;
    assert_eq!(submit(&a).await[0].1, Submission::Cosigned);
    stop_both(a, b).await;
}

/// The cost of one checkpoint submission (a cosigning round trip to a
/// local witness: proof, request, the witness's checks and durable commit,
/// the cosignature verified and kept). `cargo test --release --test witness
/// -- --ignored --nocapture submission_cost`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn submission_cost() {
    let (dir_a, _, b, kb) = log_and_witness().await;
    let a = start(dir_a, settings(None, &[(&kb, &b.base)]), 3600).await;
    let mut times = Vec::new();
    for _ in 0..200 {
        grow(&a, 1).await;
        let t = std::time::Instant::now();
        assert_eq!(submit(&a).await[0].1, Submission::Cosigned);
        times.push(t.elapsed());
    }
    times.sort();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!(
        "checkpoint submission, local witness, {} rounds: median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10]),
        ms(times[times.len() - 1])
    );
    stop_both(a, b).await;
}
