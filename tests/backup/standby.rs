//! The warm standby (issue 37, second part): a primary streaming its
//! writes to a directory target every second, a standby following it
//! through the target, the primary killed with -9 under load, the standby
//! promoted. Every write acknowledged before the last point the standby
//! had applied is there, the audit log verifies against the primary's own
//! checkpoint, the erased person stays erased, and the old primary refuses
//! to start once it sees the promotion.

use super::{cli, files_containing};
use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

fn serve(data: &Path, config: &Path) -> Command {
    let mut cmd = Command::new(custos_bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--config")
        .arg(config)
        .arg("--policies")
        .arg(policies_dir())
        .env("CUSTOS_LOG", "debug");
    cmd
}

async fn lag(client: &reqwest::Client, base: &str) -> Value {
    client.get(format!("{base}/v1/standby")).send().await.unwrap().json().await.unwrap()
}

/// Polls the standby until `ready` holds of its lag (60 s at most).
async fn until(client: &reqwest::Client, base: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let l = lag(client, base).await;
        if ready(&l) {
            return l;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the standby never got to {what}: {l}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn a_standby_follows_the_primary_under_load_and_takes_over_after_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (data, standby_data, target) =
        (dir.path().join("data"), dir.path().join("standby"), dir.path().join("offsite"));
    let config = dir.path().join("custos.toml");
    std::fs::write(
        &config,
        format!(
            "backup_dir = {:?}\nbackup_stream_secs = 1\ncheckpoint_interval_secs = 2\nrate_limit_per_second = 0\n",
            target.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut primary = BinaryServer::spawn(serve(&data, &config), &dir.path().join("primary.log"));
    let client = reqwest::Client::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = primary.base.clone();
    let (sid, service, compliance, people, vkey) = rt.block_on(async {
        let (sid, service) = principal(&client, &base, &["service"], "华东").await;
        let (_, compliance) = principal(&client, &base, &["compliance"], "").await;
        let mut people = Vec::new();
        for i in 0..3 {
            let r = create_dossier(&client, &base, &service, &fixture(i, &sid)).await;
            assert_eq!(r.status(), StatusCode::CREATED);
            let c: Value = r.json().await.unwrap();
            people.push((c["id"].as_str().unwrap().to_owned(), c["subjects"][0].as_str().unwrap().to_owned()));
        }
        let vkey = client.get(format!("{base}/v1/audit/verifier-key")).bearer_auth(&compliance).send().await.unwrap();
        (sid, service, compliance, people, vkey.text().await.unwrap().trim().to_owned())
    });
    let master = data.with_extension("master-key");
    let mut cmd = Command::new(custos_bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&standby_data)
        .arg("--master-key-file")
        .arg(&master)
        .arg("--standby-of")
        .arg(&target)
        .args(["--verifier-key", &vkey])
        .env("CUSTOS_LOG", "debug");
    let mut standby = BinaryServer::spawn(cmd, &dir.path().join("standby.log"));
    let sbase = standby.base.clone();

    let (acked_before, acked_all, erased) = rt.block_on(async {
        until(&client, &sbase, "following", |l| l["state"] == "following" && l["audit_size"].as_u64() > Some(0)).await;
        // A standby serves nothing but its health and lag.
        let r = client.get(format!("{sbase}/v1/dossiers/{}", people[1].0)).bearer_auth(&service).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let refused: Value = r.json().await.unwrap();
        assert!(refused["type"].as_str().unwrap().ends_with("/standby"), "{refused}");
        assert_eq!(client.get(format!("{sbase}/healthz")).send().await.unwrap().status(), StatusCode::OK);

        // An erasure on the primary: journaled, then streamed.
        let erased = &people[0];
        let r = client
            .post(format!("{base}/v1/subjects/{}/erasure", erased.1))
            .bearer_auth(&compliance)
            .header("X-Purpose", "dsr")
            .json(&serde_json::json!({"reason": "consent_withdrawn"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);

        // Load: dossiers created one after another, each acknowledged write
        // recorded with the moment its 201 came.
        let acked: Arc<Mutex<Vec<(String, OffsetDateTime)>>> = Arc::default();
        let load = {
            let (client, base, service, sid, acked) =
                (client.clone(), base.clone(), service.clone(), sid.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let Ok(r) = client
                        .post(format!("{base}/v1/dossiers"))
                        .bearer_auth(&service)
                        .header("X-Purpose", "service_delivery")
                        .json(&fixture(3 + i % 3, &sid))
                        .send()
                        .await
                    else {
                        return;
                    };
                    if r.status() != StatusCode::CREATED {
                        return;
                    }
                    let c: Value = r.json().await.unwrap();
                    acked.lock().unwrap().push((c["id"].as_str().unwrap().to_owned(), OffsetDateTime::now_utc()));
                }
            })
        };
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mark = OffsetDateTime::now_utc();
        // A segment the primary shipped over a second after the mark read
        // its log after every write acknowledged before the mark.
        let shipped_after = |target: &Path| {
            newest_segment(target).and_then(|s| std::fs::metadata(s.with_extension("note")).ok()?.modified().ok())
        };
        let started = Instant::now();
        while shipped_after(&target).is_none_or(|t| OffsetDateTime::from(t) < mark + time::Duration::seconds(1)) {
            assert!(started.elapsed() < Duration::from_secs(60), "the primary ships no segment");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        primary.kill9();
        load.abort();
        let acked = acked.lock().unwrap().clone();
        let before: Vec<String> = acked.iter().filter(|(_, t)| *t < mark).map(|(id, _)| id.clone()).collect();
        assert!(before.len() >= 3, "writes under load before the mark: {}", before.len());
        // The standby follows (what it has not applied yet, promote takes in).
        tokio::time::sleep(Duration::from_secs(1)).await;
        let l = lag(&client, &sbase).await;
        assert!(l["error"].is_null(), "the standby follows without error: {l}");
        (before, acked, erased.clone())
    });
    assert!(standby.terminate().success(), "the standby stops cleanly");

    // Promotion: refused while behind a shipped checkpoint unless the loss
    // is accepted, and then the lost versions are named.
    let sdir = standby_data.to_str().unwrap();
    let (mut code, mut out, err) = cli(&["promote", "--data-dir", sdir, "--master-key-file", master.to_str().unwrap()]);
    if code == Some(1) {
        assert!(err.contains("--accept-loss"), "{err}");
        (code, out, _) =
            cli(&["promote", "--data-dir", sdir, "--master-key-file", master.to_str().unwrap(), "--accept-loss"]);
        assert!(out.contains("lost (accepted)"), "{out}");
    }
    assert_eq!(code, Some(0), "{out}{err}");
    eprintln!("standby drill: {}", out.lines().find(|l| l.contains("promote time")).unwrap_or_default().trim());
    let audit_size: u64 = out
        .split("audit log ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the promoted audit size");
    let (code, _, _) = cli(&["promote", "--data-dir", sdir, "--master-key-file", master.to_str().unwrap()]);
    assert_eq!(code, Some(2), "a primary is not promoted again");

    // The old primary sees the promotion and refuses to start.
    let old = serve(&data, &config).env("CUSTOS_BOOTSTRAP_TOKEN", ADMIN_TOKEN).output().unwrap();
    assert!(!old.status.success(), "the old primary must not serve again");
    assert!(String::from_utf8_lossy(&old.stderr).contains("promoted"), "{}", String::from_utf8_lossy(&old.stderr));

    // The promoted standby serves: every write acknowledged before the mark
    // is there, the erased person stays erased.
    std::fs::copy(&master, standby_data.with_extension("master-key")).unwrap();
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, "rate_limit_per_second = 10000\nrate_limit_burst = 10000\n").unwrap();
    let mut promoted = BinaryServer::spawn(serve(&standby_data, &plain), &dir.path().join("promoted.log"));
    let pbase = promoted.base.clone();
    rt.block_on(async {
        let before: std::collections::HashSet<&String> = acked_before.iter().collect();
        let mut kept = 0;
        for (id, _) in &acked_all {
            let r = client
                .get(format!("{pbase}/v1/dossiers/{id}"))
                .bearer_auth(&compliance)
                .header("X-Purpose", "legal_compliance")
                .send()
                .await
                .unwrap();
            let status = r.status();
            if before.contains(id) {
                assert_eq!(status, StatusCode::OK, "{id}, acknowledged before the mark: {}", r.text().await.unwrap());
            }
            kept += usize::from(status == StatusCode::OK);
        }
        eprintln!("standby drill: {kept} of {} acknowledged writes kept after kill -9", acked_all.len());
        let subject: Value = client
            .get(format!("{pbase}/v1/subjects/{}", erased.1))
            .bearer_auth(&compliance)
            .header("X-Purpose", "dsr")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(subject["status"], "erased", "{subject}");
        let promotions: Value = client
            .get(format!("{pbase}/v1/audit/entries?action=backup.promote"))
            .bearer_auth(&compliance)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(promotions.to_string().contains("supersedes"), "{promotions}");
    });
    assert!(promoted.terminate().success());
    let contact = &fixture(0, &sid)["contacts"][0];
    for f in ["name", "phone", "email"] {
        if let Some(v) = contact[f].as_str() {
            assert!(
                files_containing(&standby_data, v).is_empty(),
                "{f} of the erased person is nowhere on the standby"
            );
        }
    }
    // The primary's own newest checkpoint that the promoted log reaches.
    let newest = std::fs::read_dir(data.join("checkpoints"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let size: u64 = p.file_stem()?.to_str()?.parse().ok()?;
            (size <= audit_size).then_some((size, p))
        })
        .max()
        .expect("a checkpoint of the primary");
    let (code, out, err) = cli(&["audit", "verify", "--data-dir", sdir, "--checkpoint", newest.1.to_str().unwrap()]);
    assert_eq!(
        code,
        Some(0),
        "the promoted log verifies against the primary's checkpoint of size {}: {out}{err}",
        newest.0
    );
}

/// The newest stream segment of the target (its `.seg` file).
fn newest_segment(target: &Path) -> Option<std::path::PathBuf> {
    if !target.join("stream").is_dir() {
        return None;
    }
    let mut segs: Vec<_> = files_under(&target.join("stream"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .filter(|p| p.with_extension("note").is_file())
        .collect();
    segs.sort();
    segs.pop()
}

async fn a_new_segment(target: &Path, after: Option<&std::path::PathBuf>) -> std::path::PathBuf {
    let started = Instant::now();
    loop {
        if let Some(s) = newest_segment(target).filter(|s| Some(s) != after) {
            return s;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no new stream segment in {}", target.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A standby applies nothing it cannot verify (a segment that is not what
/// its signed note names, a verifier key not the primary's), and a primary
/// still running when its standby is promoted stops serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_refuses_what_it_cannot_verify_and_a_superseded_primary_stops_serving() {
    use custos::archive::standby::{promote, Lag, Standby};
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("offsite");
    let t = target.clone();
    let app = spawn_app_in(dir, move |c| {
        c.backup_target = Some(custos::backup::Location::Dir(t));
        c.backup_stream = Some(Duration::from_secs(1));
    })
    .await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let (id, _) = app.create_ok(&service, "service_delivery", &fixture(0, &sid)).await;
    let vkey = app.get(&compliance, None, "/v1/audit/verifier-key").await.text().await.unwrap().trim().to_owned();
    let first = a_new_segment(&target, None).await;
    let master = app.data_dir().with_extension("master-key");
    let standby_dir = tempfile::tempdir().unwrap();
    let sdata = standby_dir.path().join("standby");
    let at = custos::backup::Location::Dir(target.clone());
    let lag: Arc<Mutex<Lag>> = Arc::default();

    // Another log's verifier key: nothing is seeded.
    let origin = vkey.split('+').next().unwrap().to_owned();
    let other = custos::audit::checkpoint::NoteSigner::from_seed(&origin, &[7; 32]).unwrap().verifier_key();
    assert_ne!(other, vkey);
    let (a, d, m, l) = (at.clone(), sdata.clone(), master.clone(), lag.clone());
    let refused = tokio::task::spawn_blocking(move || Standby::open(&a, &d, &m, &other, l).err()).await.unwrap();
    let why = refused.expect("a standby of another log's key is refused").to_string();
    assert!(why.contains("signature"), "{why}");
    let _ = std::fs::remove_dir_all(&sdata);

    let (a, d, m, l, k) = (at.clone(), sdata.clone(), master.clone(), lag.clone(), vkey.clone());
    let mut standby = tokio::task::spawn_blocking(move || Standby::open(&a, &d, &m, &k, l).unwrap()).await.unwrap();
    // A segment whose bytes are not what its signed note names.
    app.create_ok(&service, "service_delivery", &fixture(1, &sid)).await;
    let seg = a_new_segment(&target, Some(&first)).await;
    let good = std::fs::read(&seg).unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&seg, &bad).unwrap();
    let (mut standby, refused) = tokio::task::spawn_blocking(move || {
        let r = standby.follow();
        (standby, r)
    })
    .await
    .unwrap();
    let why = refused.expect_err("a damaged segment is refused").to_string();
    assert!(why.contains("not what its signed note names"), "{why}");
    assert!(lag.lock().unwrap().error.as_deref().is_some_and(|e| e.contains("signed note")), "shown in the lag");
    std::fs::write(&seg, &good).unwrap();
    let (standby, applied) = tokio::task::spawn_blocking(move || {
        let r = standby.follow();
        (standby, r)
    })
    .await
    .unwrap();
    assert!(applied.unwrap() > 0, "the intact segment applies");
    assert!(lag.lock().unwrap().error.is_none());
    drop(standby);

    // Promoted while the primary runs: the primary stops serving.
    let (d, m) = (sdata.clone(), master.clone());
    tokio::task::spawn_blocking(move || promote(&d, &m, true).map_err(|e| format!("{e:?}")).unwrap()).await.unwrap();
    let started = Instant::now();
    loop {
        let r = app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{id}")).await;
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            let p: Value = r.json().await.unwrap();
            assert!(p["type"].as_str().unwrap().ends_with("/superseded"), "{p}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the superseded primary still serves");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let health = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "health still answers");
}
