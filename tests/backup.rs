//! Backup sets (issue 11, first part): online and offline sets, encrypted
//! objects with no plaintext in the target, incremental sets, signed
//! manifests, and `custos backup verify` naming a damaged file; the
//! restore drill, which measures and prints the restore time; bucket
//! targets (`s3`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;
#[path = "backup/s3.rs"]
mod s3;
#[path = "backup/standby.rs"]
mod standby;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(custos_bin()).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `custos backup restore` of the newest set of `target` into `data`, with
/// the master key file and `extra` flags (the verifier key among them).
fn restore_set(target: &Path, data: &Path, master: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let (target, data, master) = (target.to_str().unwrap(), data.to_str().unwrap(), master.to_str().unwrap());
    let mut args = vec!["backup", "restore", "--from", target, "--data-dir", data, "--master-key-file", master];
    args.extend_from_slice(extra);
    cli(&args)
}

/// `n` dossiers of the fixtures created by `service` (principal `sid`):
/// their ids and each one's first contact's subject id.
async fn dossiers(app: &TestApp, service: &str, sid: &str, n: usize) -> (Vec<String>, Vec<String>) {
    let (mut ids, mut people) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c: Value = app.create(service, "service_delivery", &fixture(i, sid)).await.json().await.unwrap();
        ids.push(c["id"].as_str().unwrap().to_owned());
        people.push(c["subjects"][0].as_str().unwrap().to_owned());
    }
    (ids, people)
}

/// After a restore: the erased `person` reads as erased, and `dossier`'s
/// first contact (theirs) has no name, redacted as erased.
async fn stays_erased(app: &TestApp, compliance: &str, service: &str, person: &str, dossier: &str) {
    let subject: Value =
        app.get(compliance, Some("dsr"), &format!("/v1/subjects/{person}")).await.json().await.unwrap();
    assert_eq!(subject["status"], "erased", "{subject}");
    let first: Value =
        app.get(service, Some("service_delivery"), &format!("/v1/dossiers/{dossier}")).await.json().await.unwrap();
    assert!(redacted(&first, "erased").iter().any(|p| p == "/contacts/0/name"), "{first}");
    assert!(first["contacts"][0].get("name").is_none(), "{first}");
}

fn verify(target: &Path) -> (Option<i32>, String, String) {
    cli(&["backup", "verify", "--from", target.to_str().unwrap()])
}

/// A server whose `backup_dir` is `<its temp dir>/offsite`.
async fn app_with_target() -> (TestApp, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("offsite");
    let t = target.clone();
    (spawn_app_in(dir, move |c| c.backup_target = Some(custos::backup::Location::Dir(t))).await, target)
}

fn flip_a_byte(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_sets_are_encrypted_signed_incremental_and_checked() {
    let (app, target) = app_with_target().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let bodies: Vec<Value> = (0..12).map(|i| fixture(i, &sid)).collect();
    let mut ids = Vec::new();
    for b in &bodies {
        let r = app.create(&service, "service_delivery", b).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }

    // Only an admin takes a set; a refusal is audited.
    let r = app.request(Method::POST, &service, "service_delivery", "/v1/backups", None).await;
    assert_problem(r, StatusCode::FORBIDDEN).await;

    // Writes go on while the set is taken.
    let writer = {
        let (client, base, service, body) = (app.client.clone(), app.base.clone(), service.clone(), bodies[0].clone());
        tokio::spawn(async move {
            for _ in 0..20 {
                let r = create_dossier(&client, &base, &service, &body).await;
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        })
    };
    let r = app.request(Method::POST, ADMIN_TOKEN, "", "/v1/backups", None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let first: Value = r.json().await.unwrap();
    writer.await.unwrap();
    assert!(first["backup_id"].as_str().unwrap().starts_with("bak_"));
    assert!(first["tree_size"].as_u64().unwrap() >= 14, "{first}");
    assert_eq!(first["bytes"], first["new_bytes"], "the first set writes everything");

    // The store's own files hold ids and metadata in the clear (only
    // personal values are sealed); the target holds none of it: every
    // object is age ciphertext.
    assert!(!files_containing(&app.data_dir().join("db"), &ids[0]).is_empty(), "precondition");
    assert!(!files_containing(&app.data_dir().join("db"), &sid).is_empty(), "precondition");
    for needle in ids.iter().chain([&sid]) {
        assert!(files_containing(&target, needle).is_empty(), "{needle} in the target");
    }
    for object in files_under(&target.join("objects")) {
        let head = std::fs::read(&object).unwrap();
        assert!(head.starts_with(b"age-encryption.org/v1\n"), "{} is not an age file", object.display());
    }
    // The target holds no plaintext personal value (nor the fixtures' names).
    for b in &bodies {
        for c in b["contacts"].as_array().unwrap() {
            for f in ["name", "phone", "email"] {
                if let Some(v) = c[f].as_str() {
                    assert!(files_containing(&target, v).is_empty(), "{f} {v} in the target");
                }
            }
        }
        let name = b["customer"]["name"].as_str().unwrap();
        assert!(files_containing(&target, name).is_empty(), "customer name in the target");
    }

    // A second set after a small change writes only what changed.
    assert_eq!(app.create(&service, "service_delivery", &bodies[1]).await.status(), StatusCode::CREATED);
    let second: Value = app.request(Method::POST, ADMIN_TOKEN, "", "/v1/backups", None).await.json().await.unwrap();
    let (bytes, new_bytes) = (second["bytes"].as_u64().unwrap(), second["new_bytes"].as_u64().unwrap());
    assert!(new_bytes < bytes, "incremental: {new_bytes} of {bytes} bytes new");
    assert!(second["tree_size"].as_u64() > first["tree_size"].as_u64());

    // Both sets are audited, verify without any key, and list in order.
    let entries = app.audit(&compliance, "action=backup.create").await;
    let outcomes: Vec<&str> = entries.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["deny", "allow", "allow"], "{entries:#?}");
    let (code, out, err) = verify(&target);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 set(s)") && out.contains("intact"), "{out}");
    let (code, out, _) = cli(&["backup", "list", "--from", target.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    let listed: Vec<&str> = out.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(listed, [first["backup_id"].as_str().unwrap(), second["backup_id"].as_str().unwrap()]);

    // A flipped byte in any object or manifest: exit 1, naming the file.
    let objects: Vec<_> = files_under(&target.join("objects"));
    let victim = objects.iter().max_by_key(|p| std::fs::metadata(p).unwrap().len()).unwrap().clone();
    let original = std::fs::read(&victim).unwrap();
    flip_a_byte(&victim, 1000);
    let (code, _, err) = verify(&target);
    assert_eq!(code, Some(1));
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains(&name), "{err}");
    std::fs::write(&victim, original).unwrap();
    let manifest = target.join("sets").join(format!("{}.note", second["backup_id"].as_str().unwrap()));
    let original = std::fs::read(&manifest).unwrap();
    flip_a_byte(&manifest, 40);
    let (code, _, err) = verify(&target);
    assert_eq!(code, Some(1));
    assert!(err.contains("sets/"), "{err}");
    std::fs::write(&manifest, original).unwrap();
    assert_eq!(verify(&target).0, Some(0), "intact again");
    // Another log's verifier key: the signatures do not verify.
    let (code, _, _) =
        cli(&["backup", "verify", "--from", target.to_str().unwrap(), "--verifier-key", "other+01234567+AQ=="]);
    assert_eq!(code, Some(2), "a key that does not parse: unreadable");
    // No target at all: exit 2 with a message.
    let (code, _, err) = verify(&target.join("nothing-here"));
    assert_eq!(code, Some(2));
    assert!(err.contains("custos:"), "{err}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_backup_dir_a_set_is_refused_and_a_stopped_directory_backs_up_from_the_cli() {
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    assert_eq!(app.create(&service, "service_delivery", &fixture(0, &sid)).await.status(), StatusCode::CREATED);
    let r = app.request(Method::POST, ADMIN_TOKEN, "", "/v1/backups", None).await;
    let p = assert_problem(r, StatusCode::CONFLICT).await;
    assert!(p["detail"].as_str().unwrap().contains("backup_dir"), "{p}");
    let data = app.data_dir();
    let dir = app.stop().await;

    let target = dir.path().join("usb");
    let recovery = age::x25519::Identity::generate().to_public().to_string();
    let (code, out, err) = cli(&[
        "backup",
        "create",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        target.to_str().unwrap(),
        "--recipient",
        &recovery,
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("backup bak_"), "{out}");
    assert_eq!(verify(&target).0, Some(0));
    let manifest = std::fs::read_to_string(files_under(&target.join("sets"))[0].clone()).unwrap();
    assert!(manifest.contains(&recovery), "the recovery key is a recipient");
    // A bad recovery key is a readable error, and nothing is written.
    let (code, _, err) = cli(&[
        "backup",
        "create",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        dir.path().join("other").to_str().unwrap(),
        "--recipient",
        "not-a-key",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("age X25519 public key"), "{err}");
    assert!(!dir.path().join("other").exists());
}

/// Every destruction and erasure is journaled with the backups, signed,
/// before it is reported done: ids, keys and audit seqs, no personal value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_is_journaled_with_the_backups_before_it_is_done() {
    let (app, target) = app_with_target().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let body = fixture(0, &sid);
    let created: Value = app.create(&service, "service_delivery", &body).await.json().await.unwrap();
    let person = created["subjects"][0].as_str().unwrap().to_owned();
    let r = app
        .request(
            Method::POST,
            &compliance,
            "dsr",
            &format!("/v1/subjects/{person}/erasure"),
            Some(serde_json::json!({"reason": "consent_withdrawn"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cert = r.json::<Value>().await.unwrap()["certificate_id"].as_str().unwrap().to_owned();
    let entry = target.join("journal").join(format!("{cert}.note"));
    let text = std::fs::read_to_string(&entry).expect("journaled");
    assert!(text.contains(&person) && text.contains(&format!("s/{person}")), "names the person and the key: {text}");
    let contact = &body["contacts"][0];
    for f in ["name", "phone", "email"] {
        if let Some(v) = contact[f].as_str() {
            assert!(!text.contains(v), "the journal holds the contact's {f}");
        }
    }
    let (code, out, err) = verify(&target);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("1 journaled"), "{out}");
    // The nightly check: intact, but no set in the last day.
    let (code, _, err) = cli(&["backup", "verify", "--from", target.to_str().unwrap(), "--max-age-hours", "24"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no set in the last 24 hours: there is none"), "{err}");
    flip_a_byte(&entry, 30);
    let (code, _, err) = verify(&target);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("journal/{cert}.note")), "{err}");
    app.stop().await;
}

/// Sets older than `backup_keep_days` go (by the injected clock), the newest
/// never does, and objects only they held go with them; a failing nightly
/// backup shows in `/metrics`, `/readyz` and the alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_by_the_clock_and_a_failing_nightly_backup_is_visible() {
    use custos::clock::ManualClock;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("offsite");
    let clock = std::sync::Arc::new(ManualClock::new(time::macros::datetime!(2026-11-01 02:00 UTC)));
    let t = target.clone();
    let app = spawn_app_with(
        dir,
        move |c| {
            c.backup_target = Some(custos::backup::Location::Dir(t));
            c.backup_keep_days = 35;
        },
        clock.clone(),
    )
    .await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let mut sets = Vec::new();
    for i in 0..3 {
        assert_eq!(app.create(&service, "service_delivery", &fixture(i, &sid)).await.status(), StatusCode::CREATED);
        let r: Value = app.request(Method::POST, ADMIN_TOKEN, "", "/v1/backups", None).await.json().await.unwrap();
        sets.push(r["backup_id"].as_str().unwrap().to_owned());
        clock.advance(time::Duration::days(20));
    }
    // Now: 60, 40 and 20 days after the three sets.
    let archive = app.archive();
    let settings = archive.backups().backup_settings().unwrap().clone();
    // What a killed backup leaves: a temporary file, old and fresh.
    let stale = target.join("objects").join(".abc.age.01tmp.tmp");
    let fresh = target.join("objects").join(".def.age.02tmp.tmp");
    for f in [&stale, &fresh] {
        std::fs::write(f, b"partial").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options().write(true).open(&stale).unwrap().set_modified(two_hours_ago).unwrap();
    let objects_before = files_under(&target.join("objects")).len() - 2;
    let expired = archive.backups().expire_backups(&settings).unwrap();
    assert_eq!(expired, sets[..2].to_vec(), "older than 35 days");
    let (code, out, err) = cli(&["backup", "list", "--from", target.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with(&sets[2]) && out.lines().count() == 1, "{out}");
    assert!(files_under(&target.join("objects")).len() < objects_before, "objects only old sets held are gone");
    assert_eq!(verify(&target).0, Some(0), "what is left is whole");
    assert!(!stale.exists() && fresh.exists(), "an hour-old temporary file goes; a fresh one may be in use");
    std::fs::remove_file(&fresh).unwrap();
    clock.advance(time::Duration::days(365));
    assert!(archive.backups().expire_backups(&settings).unwrap().is_empty(), "the newest set is never expired");
    let expiries = app.audit(&compliance, "action=backup.expire").await;
    assert_eq!(expiries.len(), 1);
    assert!(expiries[0]["reason"].as_str().unwrap().contains(&sets[0]));

    // A nightly backup that cannot write its target.
    let blocked = target.join("custos-backup"); // a file, not a directory
    let broken = custos::archive::BackupSettings { target: custos::backup::Location::Dir(blocked), ..settings };
    let a = archive.clone();
    tokio::task::spawn_blocking(move || a.backups().nightly_backup(&broken)).await.unwrap();
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("custos_backups_total{outcome=\"failed\"} 1"), "{metrics}");
    let ready = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "traffic goes on");
    assert!(ready.text().await.unwrap().contains("backup: the last scheduled backup failed"));
    let alerts: Value = app.get(&compliance, Some("legal_compliance"), "/v1/audit/alerts").await.json().await.unwrap();
    assert!(alerts.to_string().contains("backup_failed"), "{alerts}");
    app.stop().await;
}

/// The restore drill: a set, then an erasure, a dossier destroyed through
/// four eyes and more writes, then the data directory is lost; the set
/// restored into a new directory keeps the erased person erased and the
/// destroyed dossier destroyed (410 with its certificate), reads back
/// everything else the set held, verifies against the auditor's checkpoint
/// taken before the loss, and names what was lost. A damaged set or a
/// missing journal restores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_keeps_erased_people_erased() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("offsite");
    let t = target.clone();
    let clock = std::sync::Arc::new(custos::clock::ManualClock::new(time::macros::datetime!(2026-11-30 10:00 UTC)));
    let app = spawn_app_with(
        dir,
        move |c| {
            c.backup_target = Some(custos::backup::Location::Dir(t));
            c.retention_interval = None;
        },
        clock.clone(),
    )
    .await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let (ids, people) = dossiers(&app, &service, &sid, 3).await;
    let set: Value = app.request(Method::POST, ADMIN_TOKEN, "", "/v1/backups", None).await.json().await.unwrap();
    // After the set: an erasure, and a dossier the set does not hold.
    let r = app
        .request(
            Method::POST,
            &compliance,
            "dsr",
            &format!("/v1/subjects/{}/erasure", people[0]),
            Some(serde_json::json!({"reason": "consent_withdrawn"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let later: Value = app.create(&service, "service_delivery", &fixture(5, &sid)).await.json().await.unwrap();
    // And a dossier destroyed through four eyes, three years after its close.
    let r = app
        .request(
            Method::POST,
            &service,
            "service_delivery",
            &format!("/v1/dossiers/{}/close", ids[2]),
            Some(serde_json::json!({"ended_at": "2026-11-30T09:00:00Z"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    clock.advance(time::Duration::days(3 * 365 + 2));
    let (_, second_officer) = app.principal(&["compliance"], "").await;
    let batch: Value = app
        .request(Method::POST, &compliance, "legal_compliance", "/v1/disposition/batches", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(batch["items"].as_array().unwrap().len(), 1, "{batch}");
    let approve = format!("/v1/disposition/batches/{}/approve", batch["batch_id"].as_str().unwrap());
    let done: Value =
        app.request(Method::POST, &second_officer, "legal_compliance", &approve, None).await.json().await.unwrap();
    let destroyed_cert = done["certificate_id"].as_str().unwrap().to_owned();
    let master = app.data_dir().with_extension("master-key");
    // The operator keeps the log's verifier key with their records.
    let r = app.get(&compliance, None, "/v1/audit/verifier-key").await;
    let vkey = r.text().await.unwrap().trim().to_owned();
    let old = app.stop().await;
    // Shutdown shipped the log's new entries; like everything in the
    // target they are age files, with no id in the clear.
    let segments = files_under(&target.join("audit"));
    assert!(!segments.is_empty(), "the audit log was shipped at shutdown");
    for f in &segments {
        assert!(std::fs::read(f).unwrap().starts_with(b"age-encryption.org/v1\n"), "{}", f.display());
    }
    // Only the journal names ids (the erased person's, by design: it must
    // be verifiable without a key); no object or segment does.
    for id in ids.iter().chain(&people) {
        let holding = files_containing(&target, id);
        assert!(holding.iter().all(|p| p.starts_with(target.join("journal"))), "{id} in {holding:?}");
    }

    // A damaged object: nothing restored.
    let fresh = tempfile::tempdir().unwrap();
    let new_data = fresh.path().join("data");
    let restore = |extra: &[&str]| {
        let mut args = extra.to_vec();
        if !extra.contains(&"--no-key") {
            args.extend_from_slice(&["--verifier-key", vkey.as_str()]);
        }
        args.retain(|a| *a != "--no-key");
        restore_set(&target, &new_data, &master, &args)
    };
    // The key comes from the operator, never from the target: without it,
    // nothing is restored; with the target's marker changed, the operator's
    // key still decides.
    let (code, _, err) = restore(&["--no-key"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--verifier-key"), "{err}");
    assert!(!new_data.exists());
    let object = files_under(&target.join("objects")).into_iter().next().unwrap();
    let original = std::fs::read(&object).unwrap();
    flip_a_byte(&object, 200);
    let (code, _, err) = restore(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("nothing was restored"), "{err}");
    assert!(!new_data.exists());
    std::fs::write(&object, original).unwrap();
    // No journal: refused unless told.
    std::fs::rename(target.join("journal"), old.path().join("journal-elsewhere")).unwrap();
    let (code, _, err) = restore(&[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--accept-missing-journal"), "{err}");
    assert!(!new_data.exists());
    std::fs::rename(old.path().join("journal-elsewhere"), target.join("journal")).unwrap();
    // One certificate's journal file deleted: refused, naming it (the shipped
    // log records its issue), instead of bringing the erased back.
    let note = target.join("journal").join(format!("{destroyed_cert}.note"));
    let kept = std::fs::read(&note).unwrap();
    std::fs::remove_file(&note).unwrap();
    let (code, _, err) = restore(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&destroyed_cert) && err.contains("journal lacks"), "{err}");
    assert!(!new_data.exists());
    std::fs::write(&note, kept).unwrap();
    // Every shipped segment is bound to the log's signed checkpoint after
    // it: one without (or with a checkpoint of other entries) restores
    // nothing, instead of appending entries that merely chain.
    let bound = files_under(&target.join("audit-checkpoints"));
    assert_eq!(bound.len(), segments.len(), "a checkpoint per segment");
    let kept = std::fs::read(&bound[0]).unwrap();
    std::fs::remove_file(&bound[0]).unwrap();
    let (code, _, err) = restore(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no signed checkpoint"), "{err}");
    assert!(!new_data.exists());
    std::fs::write(&bound[0], kept).unwrap();

    let (code, out, err) = restore(&[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(set["backup_id"].as_str().unwrap()), "{out}");
    assert!(out.contains("2 person(s) erased again") && out.contains("1 dossier(s) destroyed again"), "{out}");
    assert!(!out.contains(" 0 shipped after it"), "entries after the set come back: {out}");
    // What the set lacks, by version: the dossier written after it, and the
    // closing version of the one destroyed since.
    assert!(out.contains(&format!("{} v1", later["id"].as_str().unwrap())), "the report names the lost: {out}");
    assert!(out.contains(&format!("{} v2", ids[2])), "the close after the set: {out}");
    std::fs::copy(&master, fresh.path().join("data.master-key")).unwrap();

    // Served again: the erased person stays erased; the rest reads back.
    let app = spawn_app_in(fresh, |_| {}).await;
    stays_erased(&app, &compliance, &service, &people[0], &ids[0]).await;
    let r = app.get(&compliance, Some("legal_compliance"), &format!("/v1/dossiers/{}", ids[1])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let gone = app.get(&compliance, Some("legal_compliance"), &format!("/v1/dossiers/{}", ids[2])).await;
    let p = assert_problem(gone, StatusCode::GONE).await;
    assert_eq!(p["certificate_id"], destroyed_cert.as_str(), "destroyed after the set, destroyed again: {p}");
    let lost =
        app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{}", later["id"].as_str().unwrap())).await;
    assert_eq!(lost.status(), StatusCode::NOT_FOUND, "written after the set: lost, and the report says so");
    let restores = app.audit(&compliance, "action=backup.restore").await;
    assert_eq!(restores.len(), 1);
    // The log did not roll back: the erasure's entry, written after the set,
    // was shipped at shutdown and is back.
    let erasures = app.audit(&compliance, "action=subject.erase").await;
    assert!(erasures.iter().any(|e| e["outcome"] == "allow"), "{erasures:#?}");
    assert!(restores[0]["reason"].as_str().unwrap().contains("2 person(s) erased"), "{:?}", restores[0]);
    // No plaintext of the erased person anywhere in the restored directory.
    let contact = &fixture(0, &sid)["contacts"][0];
    let data = app.data_dir();
    let _kept = app.stop().await;
    for f in ["name", "phone", "email"] {
        if let Some(v) = contact[f].as_str() {
            assert!(files_containing(&data, v).is_empty(), "{f} of the erased person");
        }
    }
    let out = audit_verify(&data);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // An auditor's checkpoint taken before the loss (the old server's last)
    // still verifies against the restored log: it only grew.
    let auditors = old.path().join("data").join("checkpoints").join("latest.note");
    let (code, out, err) =
        cli(&["audit", "verify", "--data-dir", data.to_str().unwrap(), "--checkpoint", auditors.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
}

/// The restore drill CI runs with every test (GDPR Art. 32(1)(c), (d):
/// restore in a timely manner, tested regularly): a set, an erasure after
/// it, the data directory lost, the set restored into a new one. The
/// erased person stays unreadable, the restored log verifies, and the
/// restore reports how long each phase took, in its printed report and in
/// its `backup.restore` entry; printed here too, so that CI's log shows the
/// recovery time. No duration is asserted against a goal: a slow machine
/// does not fail a test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restore_drill_keeps_the_erased_unreadable_verifies_the_chain_and_measures_its_phases() {
    let (app, target) = app_with_target().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let (ids, people) = dossiers(&app, &service, &sid, 2).await;
    let r = app.request(Method::POST, ADMIN_TOKEN, "", "/v1/backups", None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let erase = format!("/v1/subjects/{}/erasure", people[0]);
    let r =
        app.request(Method::POST, &compliance, "dsr", &erase, Some(serde_json::json!({"reason": "consent_withdrawn"})));
    assert_eq!(r.await.status(), StatusCode::OK);
    let master = app.data_dir().with_extension("master-key");
    let vkey = app.get(&compliance, None, "/v1/audit/verifier-key").await.text().await.unwrap().trim().to_owned();
    let _old = app.stop().await;

    let fresh = tempfile::tempdir().unwrap();
    let new_data = fresh.path().join("data");
    let (code, out, err) = restore_set(&target, &new_data, &master, &["--verifier-key", &vkey]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("1 person(s) erased again"), "the erasure after the set: {out}");
    // The measured phases: each present, a duration in seconds; the total
    // spans them all.
    let line = out.lines().find_map(|l| l.trim().strip_prefix("restore time: ")).expect("a restore time line");
    eprintln!("restore drill: RTO of the restore itself: {line}");
    let took: std::collections::BTreeMap<&str, f64> = line
        .split_whitespace()
        .map(|part| {
            let (name, secs) = part.split_once('=').unwrap();
            (name, secs.strip_suffix('s').unwrap().parse::<f64>().unwrap())
        })
        .collect();
    let phases = ["check", "extract", "journal", "log"];
    for name in phases.iter().chain(&["total"]) {
        assert!(took.get(name).is_some_and(|s| s.is_finite() && *s >= 0.0), "{name} in {line}");
    }
    let largest = phases.iter().map(|p| took[p]).fold(0.0, f64::max);
    assert!(took["total"] >= largest, "the total spans every phase: {line}");
    std::fs::copy(&master, fresh.path().join("data.master-key")).unwrap();

    let app = spawn_app_in(fresh, |_| {}).await;
    stays_erased(&app, &compliance, &service, &people[0], &ids[0]).await;
    let kept = app.get(&compliance, Some("legal_compliance"), &format!("/v1/dossiers/{}", ids[1])).await;
    assert_eq!(kept.status(), StatusCode::OK, "the other dossier reads back");
    let restores = app.audit(&compliance, "action=backup.restore").await;
    let reason = restores[0]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("took {line}")), "the entry records the same times: {reason}");
    let data = app.data_dir();
    let _kept = app.stop().await;
    let contact = &fixture(0, &sid)["contacts"][0];
    for f in ["name", "phone", "email"] {
        if let Some(v) = contact[f].as_str() {
            assert!(files_containing(&data, v).is_empty(), "{f} of the erased person is nowhere on disk");
        }
    }
    let verified = audit_verify(&data);
    assert!(verified.status.success(), "the chain verifies: {}", String::from_utf8_lossy(&verified.stderr));
}

/// kill -9 while sets are being taken, at several moments: the target never
/// holds a set that looks complete but is not (every listed set verifies
/// whole), and the next start takes a good set beside whatever was left.
#[test]
fn kill_9_during_a_backup_leaves_no_set_that_looks_complete() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let target = dir.path().join("offsite");
    let config = dir.path().join("custos.toml");
    std::fs::write(&config, format!("backup_dir = {:?}\n", target.to_str().unwrap())).unwrap();
    let log = dir.path().join("server.log");
    let start = || {
        let mut cmd = Command::new(custos_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&data).arg("--config").arg(&config);
        BinaryServer::spawn(cmd, &log)
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut server = start();
    let client = reqwest::Client::new();
    rt.block_on(async {
        let (sid, service) = principal(&client, &server.base, &["service"], "华东").await;
        for i in 0..400 {
            let r = client
                .post(format!("{}/v1/dossiers", server.base))
                .bearer_auth(&service)
                .header("X-Purpose", "service_delivery")
                .json(&fixture(i % 6, &sid))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
        }
    });
    for delay_ms in [0u64, 10, 20, 30, 45, 60, 75, 90, 120] {
        let base = server.base.clone();
        let c = client.clone();
        let taking = rt.spawn(async move {
            let _ = c.post(format!("{base}/v1/backups")).bearer_auth(ADMIN_TOKEN).send().await;
        });
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        server.kill9();
        let _ = rt.block_on(taking);
        if target.exists() && !target.join("custos-backup").exists() {
            // Killed while the target was being made (its directories
            // before its marker): no set can have been written, and the
            // next backup finishes making it (asserted below).
            let sets = match target.join("sets").is_dir() {
                true => files_under(&target.join("sets")),
                false => vec![],
            };
            assert!(sets.is_empty(), "a set in a target without its marker: {sets:?}");
        } else if target.exists() {
            let (code, out, err) = verify(&target);
            assert_eq!(code, Some(0), "after a kill at {delay_ms} ms every listed set is whole: {out}{err}");
            let left: Vec<_> =
                files_under(&target).into_iter().filter(|p| p.to_string_lossy().ends_with(".tmp")).collect();
            eprintln!("kill at {delay_ms} ms: {} {} temporary file(s) left", out.trim(), left.len());
        }
        server = start();
    }
    let r = rt.block_on(client.post(format!("{}/v1/backups", server.base)).bearer_auth(ADMIN_TOKEN).send()).unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "a set beside whatever the kills left");
    server.terminate();
    let (code, out, err) = verify(&target);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("set(s)"), "{out}");
}
