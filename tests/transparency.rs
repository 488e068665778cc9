//! The provable audit log: proofs checked against signed checkpoints, an
//! auditor's checkpoint catching a rewritten or truncated log, and alerts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use custos::audit::checkpoint::NoteVerifier;
use custos::audit::index;
use custos::audit::merkle::{self, leaf_hash, Frontier, Hash};
use custos::audit::{entry_key, hash_entry, node_key, AuditEntry, ChainHead, GENESIS_PREV, HEAD_KEY};
use custos::clock::ManualClock;
use custos::store::{Cf, KvStore, Op, RocksStore};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

fn hashes(v: &Value) -> Vec<Hash> {
    v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect()
}

async fn text(app: &TestApp, token: &str, path: &str) -> (StatusCode, String) {
    let r = app.get(token, None, path).await;
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_verify_against_signed_checkpoints() {
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    for i in 0..5 {
        app.create(&service, "service_delivery", &fixture(i, &sid)).await;
    }
    let (status, vkey) = text(&app, &service, "/v1/audit/verifier-key").await;
    assert_eq!(status, StatusCode::OK);
    let verifier = NoteVerifier::parse(vkey.trim()).unwrap();
    assert_eq!(app.get(&service, None, "/v1/audit/checkpoint").await.status(), StatusCode::FORBIDDEN);

    let (status, note_a) = text(&app, &compliance, "/v1/audit/checkpoint").await;
    assert_eq!(status, StatusCode::OK);
    assert!(note_a.contains("\n\n\u{2014} custos/"), "{note_a}");
    let a = verifier.open_checkpoint(&note_a).unwrap();
    assert!(a.size >= 10);
    for seq in [0, a.size / 2, a.size - 1] {
        let raw = app.get(&compliance, None, &format!("/v1/audit/entries/{seq}/raw")).await.bytes().await.unwrap();
        let p: Value = app
            .get(&compliance, None, &format!("/v1/audit/proofs/inclusion?seq={seq}&tree_size={}", a.size))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!((p["leaf_index"].as_u64(), p["tree_size"].as_u64()), (Some(seq), Some(a.size)));
        assert!(merkle::verify_inclusion(seq, a.size, &leaf_hash(&raw), &hashes(&p), &a.root), "entry {seq}");
        let mut other = raw.to_vec();
        other[20] ^= 1;
        assert!(!merkle::verify_inclusion(seq, a.size, &leaf_hash(&other), &hashes(&p), &a.root));
    }

    for i in 5..12 {
        app.create(&service, "service_delivery", &fixture(i, &sid)).await;
    }
    let b = verifier.open_checkpoint(&text(&app, &compliance, "/v1/audit/checkpoint").await.1).unwrap();
    assert!(b.size > a.size);
    for from in [1, a.size] {
        let p: Value = app
            .get(&compliance, None, &format!("/v1/audit/proofs/consistency?from={from}&to={}", b.size))
            .await
            .json()
            .await
            .unwrap();
        let root_from = if from == a.size {
            a.root
        } else {
            let raw = app.get(&compliance, None, "/v1/audit/entries/0/raw").await.bytes().await.unwrap();
            leaf_hash(&raw)
        };
        assert!(merkle::verify_consistency(from, b.size, &hashes(&p), &root_from, &b.root), "{from} -> {}", b.size);
        assert!(!merkle::verify_consistency(from, b.size, &hashes(&p), &b.root, &b.root) || from == b.size);
    }
    for (q, status) in [
        (format!("inclusion?seq={}&tree_size={}", b.size, b.size), StatusCode::BAD_REQUEST),
        ("inclusion?seq=0&tree_size=999999999".into(), StatusCode::NOT_FOUND),
        ("inclusion?tree_size=3".into(), StatusCode::BAD_REQUEST),
        ("inclusion?seq=x".into(), StatusCode::BAD_REQUEST),
        ("consistency?from=0&to=3".into(), StatusCode::BAD_REQUEST),
        ("consistency?from=5&to=3".into(), StatusCode::BAD_REQUEST),
        ("consistency?from=1&to=999999999".into(), StatusCode::NOT_FOUND),
        ("consistency?from=1".into(), StatusCode::BAD_REQUEST),
    ] {
        // A tree the log has not reached yet is not found; a malformed pair is a bad request.
        assert_problem(app.get(&compliance, None, &format!("/v1/audit/proofs/{q}")).await, status).await;
    }
    assert_problem(app.get(&service, None, "/v1/audit/proofs/inclusion?seq=0").await, StatusCode::FORBIDDEN).await;
    app.stop().await;
}

/// Rewrites the whole log as an attacker with write access to the store
/// would: consistent chain, head and Merkle nodes, nothing for the hash
/// chain alone to notice.
fn rewrite_log(db: &std::path::Path, entries: Vec<AuditEntry>) {
    let store = RocksStore::open(db).unwrap();
    let mut ops: Vec<Op> = store.scan(Cf::Audit, b"", b"").map(|r| Op::Delete(Cf::Audit, r.unwrap().0)).collect();
    ops.extend(store.scan(Cf::Merkle, b"", b"").map(|r| Op::Delete(Cf::Merkle, r.unwrap().0)));
    let (mut prev, mut tree) = (GENESIS_PREV, Frontier::default());
    for (seq, mut e) in entries.into_iter().enumerate() {
        e.seq = seq as u64;
        e.prev_hash = prev;
        let raw = e.encode();
        prev = hash_entry(&raw);
        for (level, index, h) in tree.append(leaf_hash(&raw)) {
            ops.push(Op::Put(Cf::Merkle, node_key(level, index).to_vec(), h.to_vec()));
        }
        ops.push(Op::Put(Cf::Audit, entry_key(seq as u64).to_vec(), raw));
    }
    ops.push(Op::Put(Cf::System, HEAD_KEY.to_vec(), ChainHead { next_seq: tree.size(), last_hash: prev }.encode()));
    store.write(&ops, true).unwrap();
}

fn entries(db: &std::path::Path) -> Vec<AuditEntry> {
    let store = RocksStore::open(db).unwrap();
    store.scan(Cf::Audit, b"", b"").map(|r| AuditEntry::decode(&r.unwrap().1).unwrap()).collect()
}

fn verify(data: &std::path::Path, extra: &[&str]) -> (Option<i32>, String, String) {
    custos(&[&["audit", "verify"], extra].concat(), data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditors_checkpoint_catches_a_rewritten_or_truncated_log() {
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    for i in 0..6 {
        app.create(&service, "service_delivery", &fixture(i, &sid)).await;
    }
    // The auditor keeps a checkpoint and the verifier key outside the system.
    let vkey = text(&app, &service, "/v1/audit/verifier-key").await.1.trim().to_owned();
    let note = text(&app, &compliance, "/v1/audit/checkpoint").await.1;
    let saved = app.dir.path().join("auditor-checkpoint.note");
    std::fs::write(&saved, &note).unwrap();
    for i in 6..9 {
        app.create(&service, "service_delivery", &fixture(i, &sid)).await;
    }
    let dir = app.stop().await;
    let data = dir.path().join("data");
    let db = data.join("db");
    let saved = saved.to_str().unwrap();

    // Intact: the chain, the stored tree, the server's own latest checkpoint
    // and the auditor's checkpoint all agree.
    let (code, out, err) = verify(&data, &["--checkpoint", saved, "--verifier-key", &vkey]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("consistent with checkpoint") && out.contains("auditor-checkpoint.note"), "{out}");
    assert!(out.contains("latest.note"), "the server's own checkpoint is checked too: {out}");
    let exported = std::process::Command::new(custos_bin())
        .args(["audit", "checkpoint", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let exported = String::from_utf8(exported.stdout).unwrap();
    let verifier = NoteVerifier::parse(&vkey).unwrap();
    assert!(verifier.open_checkpoint(&exported).unwrap().size >= verifier.open_checkpoint(&note).unwrap().size);

    // A rewrite of an early entry, re-chained end to end: the chain alone
    // cannot tell (and the attacker removes the server's checkpoints)...
    let original = entries(&db);
    let mut forged = original.clone();
    forged[3].body.reason = "nothing to see here".into();
    rewrite_log(&db, forged);
    std::fs::remove_dir_all(data.join("checkpoints")).unwrap();
    let (code, out, err) = verify(&data, &[]);
    assert_eq!(code, Some(0), "a consistent rewrite passes the chain check: {out}{err}");
    // ...but the auditor's checkpoint can.
    let (code, _, err) = verify(&data, &["--checkpoint", saved, "--verifier-key", &vkey]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("TAMPERED") && err.contains("not the ones checkpoint"), "{err}");

    // Reordered, re-chained: caught the same way.
    let mut reordered = original.clone();
    reordered.swap(2, 4);
    rewrite_log(&db, reordered);
    let (code, _, err) = verify(&data, &["--checkpoint", saved, "--verifier-key", &vkey]);
    assert_eq!(code, Some(1), "{err}");

    // Truncated below the checkpoint: named as truncation.
    let size = verifier.open_checkpoint(&note).unwrap().size as usize;
    rewrite_log(&db, original[..size - 2].to_vec());
    let (code, _, err) = verify(&data, &["--checkpoint", saved, "--verifier-key", &vkey]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("truncated"), "{err}");

    // Restored: consistent again. A forged checkpoint or a wrong key is refused.
    rewrite_log(&db, original);
    assert_eq!(verify(&data, &["--checkpoint", saved, "--verifier-key", &vkey]).0, Some(0));
    let forged_note = dir.path().join("forged.note");
    std::fs::write(&forged_note, note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1)).unwrap();
    let (code, _, err) = verify(&data, &["--checkpoint", forged_note.to_str().unwrap(), "--verifier-key", &vkey]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("does not verify"), "{err}");

    // A corrupted stored Merkle node (proofs through it would fail to verify
    // for clients): one on the path to the head is always caught, any other
    // with --deep.
    let corrupt = |level: u8, index: u64| {
        let store = RocksStore::open(&db).unwrap();
        store.write(&[Op::Put(Cf::Merkle, node_key(level, index).to_vec(), vec![0u8; 32])], true).unwrap();
    };
    corrupt(0, 1);
    assert_eq!(verify(&data, &[]).0, Some(0), "leaf node 1 is under a stored level-1 node, off the head's path");
    let (code, _, err) = verify(&data, &["--deep"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("Merkle") && err.contains("0/1"), "{err}");
    rewrite_log(&db, entries(&db));
    let size = entries(&db).len() as u64;
    corrupt(size.trailing_zeros() as u8, (size >> size.trailing_zeros()) - 1);
    let (code, _, err) = verify(&data, &[]);
    assert_eq!(code, Some(1), "the smallest subtree of the head is on its path: {err}");
    assert!(err.contains("Merkle"), "{err}");
}

fn custos(args: &[&str], data: &std::path::Path) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(custos_bin()).args(args).arg("--data-dir").arg(data).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nightly_check_verifies_from_a_saved_checkpoint_and_the_indexes_are_checked_and_rebuilt() {
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let mut ids = vec![];
    for i in 0..4 {
        ids.push(app.create_ok(&service, "service_delivery", &fixture(i, &sid)).await.0);
    }
    let vkey = text(&app, &service, "/v1/audit/verifier-key").await.1.trim().to_owned();
    let saved = app.dir.path().join("last-night.note");
    std::fs::write(&saved, text(&app, &compliance, "/v1/audit/checkpoint").await.1).unwrap();
    for i in 4..7 {
        ids.push(app.create_ok(&service, "service_delivery", &fixture(i, &sid)).await.0);
    }
    let dir = app.stop().await;
    let data = dir.path().join("data");
    let db = data.join("db");
    let saved = saved.to_str().unwrap();

    // Tonight's run reads only what came after last night's checkpoint.
    let (code, out, err) = custos(&["audit", "verify", "--from-checkpoint", saved, "--verifier-key", &vkey], &data);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("intact since checkpoint") && out.contains("only grew"), "{out}");
    let total = entries(&db).len();
    let before: usize = saved_size(saved, &vkey);
    assert!(out.contains(&format!("{} new entries verified", total - before)), "{out}");
    // The whole log, deeply: the indexes match it.
    let (code, out, err) = custos(&["audit", "verify", "--deep"], &data);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("audit indexes match the log"), "{out}");

    // A forged index row (hiding nothing, claiming an entry for another
    // actor) and a removed one are both named by --deep; a rebuild mends them.
    let last = total as u64 - 1;
    {
        let store = RocksStore::open(&db).unwrap();
        let e = AuditEntry::decode(&store.get(Cf::Audit, &entry_key(last)).unwrap().unwrap()).unwrap();
        let row = custos::store::keys::audit_index(&index::term(index::Field::Actor, "prn_someone_else"), last);
        store.write(&[Op::Put(Cf::AuditIndex, row.to_vec(), vec![])], true).unwrap();
        let own = custos::store::keys::audit_index(&index::term(index::Field::Actor, &e.body.actor), last);
        store.write(&[Op::Delete(Cf::AuditIndex, own.to_vec())], true).unwrap();
    }
    let (code, _, err) = custos(&["audit", "verify", "--deep"], &data);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("audit indexes do not match") && err.contains(&format!("entry {last}")), "{err}");
    let (code, _, err) = custos(&["audit", "verify", "--from-checkpoint", saved, "--verifier-key", &vkey], &data);
    assert_eq!(code, Some(1), "the last entry is after the checkpoint, its row is missing: {err}");
    let (code, out, err) = custos(&["audit", "reindex"], &data);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("{total} entries indexed")), "{out}");
    assert_eq!(custos(&["audit", "verify", "--deep"], &data).0, Some(0));

    // An early entry rewritten and the log re-chained: the saved checkpoint
    // catches it without reading the whole log again.
    let original = entries(&db);
    let mut forged = original.clone();
    forged[1].body.reason = "nothing to see here".into();
    rewrite_log(&db, forged);
    let (code, _, err) = custos(&["audit", "verify", "--from-checkpoint", saved, "--verifier-key", &vkey], &data);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("TAMPERED") && err.contains("rewritten"), "{err}");
    rewrite_log(&db, original);

    // A data directory from before the indexes: the server builds them at
    // start-up, and queries by actor and dossier find what they should.
    {
        let store = RocksStore::open(&db).unwrap();
        let mut ops: Vec<Op> =
            store.scan(Cf::AuditIndex, b"", b"").map(|r| Op::Delete(Cf::AuditIndex, r.unwrap().0)).collect();
        ops.push(Op::Delete(Cf::System, custos::store::keys::AUDIT_INDEX_MARKER.to_vec()));
        store.write(&ops, true).unwrap();
    }
    let app = spawn_app_in(dir, |_| {}).await;
    let by_dossier = app.audit(&compliance, &format!("resource={}&action=dossier.create", ids[5])).await;
    assert_eq!(by_dossier.len(), 1, "{by_dossier:?}");
    let reads = app.audit(&compliance, &format!("actor={sid}&action=dossier.create&outcome=allow")).await;
    assert_eq!(reads.len(), 7, "the seven creates: {reads:?}");
    let dir = app.stop().await;
    assert_eq!(custos(&["audit", "verify", "--deep"], &dir.path().join("data")).0, Some(0));
}

fn saved_size(note: &str, vkey: &str) -> usize {
    let text = std::fs::read_to_string(note).unwrap();
    NoteVerifier::parse(vkey).unwrap().open_checkpoint(&text).unwrap().size as usize
}

async fn wait_for_alerts(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let v: Value = app.get(token, None, "/v1/audit/alerts").await.json().await.unwrap();
        let list = v["alerts"].as_array().unwrap().clone();
        if list.len() >= n {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} alerts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_many_dossiers_or_being_refused_repeatedly_raises_alerts() {
    let t0 = time::OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |_| {}, clock.clone()).await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let mut ids = vec![];
    for i in 0..110 {
        let mut body = fixture(i % 24, &sid);
        body["customer"]["region"] = "华东".into();
        let r = app.create(&service, "service_delivery", &body).await;
        ids.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    assert_problem(app.get(&service, None, "/v1/audit/alerts").await, StatusCode::FORBIDDEN).await;
    // 50 distinct dossiers, read twice each: at the threshold, no alert.
    for id in ids[..50].iter().chain(&ids[..50]) {
        assert_eq!(
            app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{id}")).await.status(),
            StatusCode::OK
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(wait_for_alerts(&app, &compliance, 0).await.is_empty());
    // The 51st distinct dossier within ten minutes raises one.
    app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{}", ids[50])).await;
    let alerts = wait_for_alerts(&app, &compliance, 1).await;
    let a = &alerts[0];
    assert_eq!(
        (a["rule"].as_str(), a["actor"].as_str(), a["count"].as_u64()),
        (Some("bulk_dossier_reads"), Some(sid.as_str()), Some(51))
    );
    assert_eq!(a["window_seconds"], 600);
    let logged = app.audit(&compliance, "action=audit.alert").await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["request_id"], a["id"]);
    assert_eq!(logged[0]["resource"], sid);

    // Eleven minutes later the window has passed: 51 other dossiers raise a new one.
    clock.advance(time::Duration::minutes(11));
    for id in &ids[51..102] {
        app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{id}")).await;
    }
    let alerts = wait_for_alerts(&app, &compliance, 2).await;
    assert_eq!(alerts[0]["rule"], "bulk_dossier_reads");
    let second_window =
        (t0 + time::Duration::minutes(11)).format(&time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(alerts[0]["window_start"], second_window.as_str(), "the old reads fell out of the window");

    // Repeated refusals: admin asking for dossier content eleven times.
    for id in &ids[..11] {
        assert_eq!(
            app.get(ADMIN_TOKEN, Some("service_delivery"), &format!("/v1/dossiers/{id}")).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    let alerts = wait_for_alerts(&app, &compliance, 3).await;
    assert_eq!(alerts[0]["rule"], "repeated_denials");
    let dir = app.stop().await;

    // After a restart the alerts are still there and not raised twice.
    let app = spawn_app_with(dir, |_| {}, clock.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(wait_for_alerts(&app, &compliance, 3).await.len(), 3);
    app.stop().await;
}

/// Go's own golang.org/x/mod/sumdb/note and tlog (docs/go-verify/main.go)
/// verify our checkpoint signatures, inclusion proofs and consistency proofs
/// against the live server. `./dev.sh test` installs Go and x/mod from Debian.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gos_note_and_tlog_packages_verify_checkpoints_and_proofs() {
    let gopath = std::path::Path::new("/usr/share/gocode");
    let have_go = std::process::Command::new("go").arg("version").output().is_ok_and(|o| o.status.success());
    let have = have_go && gopath.join("src/golang.org/x/mod/sumdb/tlog").is_dir();
    if !tool_available("Go and golang.org/x/mod (apt-get install golang-go golang-golang-x-mod-dev)", have) {
        return;
    }
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    for i in 0..7 {
        app.create(&service, "service_delivery", &fixture(i, &sid)).await;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/go-verify");
    let cache = tempfile::tempdir().unwrap();
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("go")
            .args(["run", "main.go", &base, &compliance])
            .current_dir(dir)
            .env("GO111MODULE", "off")
            .env("GOPATH", gopath)
            .env("GOCACHE", cache.path())
            .env("GOFLAGS", "")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("go-verify: OK"), "{stdout}");
    app.stop().await;
}
