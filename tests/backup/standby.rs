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

fn at(v: &Value) -> Option<OffsetDateTime> {
    v.as_str().and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
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
        format!("backup_dir = {:?}\nbackup_stream_secs = 1\ncheckpoint_interval_secs = 2\n", target.to_str().unwrap()),
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
        // A segment shipped over a second after the mark has been applied:
        // it read the primary's log after every write acknowledged before.
        until(&client, &sbase, "a segment shipped after the mark", |l| {
            at(&l["shipped_at"]).is_some_and(|t| t > mark + time::Duration::seconds(1))
        })
        .await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        primary.kill9();
        load.abort();
        let acked = acked.lock().unwrap().clone();
        let before: Vec<String> = acked.iter().filter(|(_, t)| *t < mark).map(|(id, _)| id.clone()).collect();
        assert!(before.len() >= 3, "writes under load before the mark: {}", before.len());
        // Whatever was shipped before the kill, applied.
        tokio::time::sleep(Duration::from_secs(3)).await;
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
        for id in &acked_before {
            let r = client
                .get(format!("{pbase}/v1/dossiers/{id}"))
                .bearer_auth(&compliance)
                .header("X-Purpose", "legal_compliance")
                .send()
                .await
                .unwrap();
            let status = r.status();
            assert_eq!(status, StatusCode::OK, "{id}, acknowledged before the mark: {}", r.text().await.unwrap());
        }
        let mut kept = 0;
        for (id, _) in &acked_all {
            let r = client
                .get(format!("{pbase}/v1/dossiers/{id}"))
                .bearer_auth(&compliance)
                .header("X-Purpose", "legal_compliance")
                .send()
                .await
                .unwrap();
            kept += usize::from(r.status() == StatusCode::OK);
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
