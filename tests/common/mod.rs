//! Test helpers: the real server on port 0 in a fresh temp data directory,
//! in-process (`spawn_app`, or a `World` with its clock and staff) or as the
//! built binary (`BinaryServer`).
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

use custos::clock::SystemClock;
use custos::config::{Config, Secret};
use custos::server::{start, Running};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use tempfile::TempDir;

pub mod factor;
mod world;
#[allow(unused_imports)] // compiled into every test binary; not all of them start a `World`
pub use world::{Answer, World, WorldBuilder};

/// `t` as the API writes times (RFC 3339).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";
/// The second admin's enrollment code set at initialisation: every token
/// for someone else needs a second admin's approval.
pub const SECOND_ADMIN_CODE: &str = "test-second-admin-code-0123456789";

pub fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

pub fn fixtures() -> Vec<Value> {
    serde_json::from_str(include_str!("../../fixtures/dossiers.json")).expect("fixtures parse")
}

/// Fixture `i` owned by `owner`.
pub fn fixture(i: usize, owner: &str) -> Value {
    let mut f = fixtures()[i].clone();
    f["owner"] = json!(owner);
    f
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub dir: TempDir,
    running: Option<Running>,
}

pub fn test_config(dir: &Path) -> Config {
    let mut c = Config::for_data_dir(dir.join("data"));
    c.listen = "127.0.0.1:0".parse().unwrap();
    // No policies directory: the server runs on the policies built into it.
    c.bootstrap_token = Some(Secret::new(ADMIN_TOKEN.into()));
    c.bootstrap_second_admin_code = Some(Secret::new(SECOND_ADMIN_CODE.into()));
    // Tests move the clock by years; tokens outlive them unless a test says otherwise.
    c.token_lifetimes =
        custos::archive::TokenLifetimes { staff: time::Duration::days(36_500), admin: time::Duration::days(36_500) };
    c.key_cache_entries = 1000;
    c
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    spawn_app_in(dir, |_| {}).await
}

pub async fn spawn_app_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(dir, tweak, Arc::new(SystemClock)).await
}

pub async fn spawn_app_with(
    dir: TempDir,
    tweak: impl FnOnce(&mut Config),
    clock: Arc<dyn custos::clock::Clock>,
) -> TestApp {
    let app = spawn_unready(dir, tweak, clock).await;
    admin_ready(&app.client, &app.base).await;
    app
}

/// The server as an operator first starts it: the bootstrap admin has not
/// set up a second factor yet, so `ADMIN_TOKEN` serves only to do that.
pub async fn spawn_unready(
    dir: TempDir,
    tweak: impl FnOnce(&mut Config),
    clock: Arc<dyn custos::clock::Clock>,
) -> TestApp {
    let mut config = test_config(dir.path());
    tweak(&mut config);
    let running = start(config, clock.clone()).await.expect("server starts");
    let base = format!("http://{}", running.addr);
    factor::register_clock(&base, clock);
    TestApp { base, client: Client::new(), dir, running: Some(running) }
}

impl TestApp {
    /// The running archive, for driving jobs directly.
    pub fn archive(&self) -> Arc<custos::archive::Archive> {
        self.running.as_ref().expect("running").archive.clone()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub async fn stop(mut self) -> TempDir {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
        self.dir
    }

    pub async fn principal(&self, roles: &[&str], region: &str) -> (String, String) {
        principal(&self.client, &self.base, roles, region).await
    }

    pub async fn create(&self, token: &str, purpose: &str, body: &Value) -> Response {
        self.request(reqwest::Method::POST, token, purpose, "/v1/dossiers", Some(body.clone())).await
    }

    pub async fn get(&self, token: &str, purpose: Option<&str>, path: &str) -> Response {
        let mut r = self.client.get(format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(p) = purpose {
            r = r.header("X-Purpose", p);
        }
        r.send().await.unwrap()
    }

    pub async fn put(&self, token: &str, purpose: &str, path: &str, if_match: Option<&str>, body: &Value) -> Response {
        let mut r =
            self.client.put(format!("{}{path}", self.base)).bearer_auth(token).header("X-Purpose", purpose).json(body);
        if let Some(v) = if_match {
            r = r.header("If-Match", v);
        }
        r.send().await.unwrap()
    }

    /// Any call with a token, a purpose and an optional JSON body.
    pub async fn request(
        &self,
        method: reqwest::Method,
        token: &str,
        purpose: &str,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut r =
            self.client.request(method, format!("{}{path}", self.base)).bearer_auth(token).header("X-Purpose", purpose);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    /// Creates a dossier (201 expected); its id and the subjects it names.
    pub async fn create_ok(&self, token: &str, purpose: &str, body: &Value) -> (String, Vec<String>) {
        let r = self.create(token, purpose, body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        let subjects = v["subjects"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
        (v["id"].as_str().unwrap().to_owned(), subjects)
    }

    /// `GET path` asking for CSV: asserts 200 and a `text/csv` body, returns it.
    pub async fn get_csv(&self, token: &str, path: &str) -> String {
        self.get_csv_stating(token, None, path).await
    }

    /// The same, stating `purpose` if given.
    pub async fn get_csv_stating(&self, token: &str, purpose: Option<&str>, path: &str) -> String {
        let mut r = self.client.get(format!("{}{path}", self.base)).bearer_auth(token).header("Accept", "text/csv");
        if let Some(p) = purpose {
            r = r.header("X-Purpose", p);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        r.text().await.unwrap()
    }

    /// `POST /v1/imports{query}` of a sheet (`media`) for `service_delivery`:
    /// the status and the JSON answer.
    pub async fn import(&self, token: &str, body: Vec<u8>, media: &str, query: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .post(format!("{}/v1/imports{query}", self.base))
            .bearer_auth(token)
            .header("X-Purpose", "service_delivery")
            .header("Content-Type", media)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST path` with a token and an optional JSON body, no purpose.
    pub async fn post_as(&self, token: &str, path: &str, body: Option<Value>) -> Response {
        let mut r = self.client.post(format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    /// Records a data-subject request of `kind` (`access`, `portability`,
    /// ...) for `sid` as `compliance`, received at `received_at` and
    /// verified by the principal `verifier`: its id.
    pub async fn verified_request(
        &self,
        compliance: &str,
        verifier: &str,
        sid: &str,
        kind: &str,
        received_at: time::OffsetDateTime,
    ) -> String {
        let at = received_at.format(&time::format_description::well_known::Rfc3339).unwrap();
        let body = serde_json::json!({"subject_id": sid, "kind": kind, "received_at": at, "channel": "email",
            "verification": {"method": "id_document", "verified_by": verifier}});
        let r = self.request(reqwest::Method::POST, compliance, "dsr", "/v1/requests", Some(body)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["state"], "verified", "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    /// All audit entries matching `query` (compliance token).
    pub async fn audit(&self, compliance: &str, query: &str) -> Vec<Value> {
        let r = self.get(compliance, None, &format!("/v1/audit/entries?limit=1000&{query}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["entries"].as_array().unwrap().clone()
    }
}

static SECOND_ADMINS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
static ADMIN_READY: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The bootstrap admin at `base` has set up its second factor (once per
/// server; on a restarted data directory it has one already), so
/// `ADMIN_TOKEN` works for everything.
pub async fn admin_ready(client: &Client, base: &str) {
    if ADMIN_READY.lock().unwrap().iter().any(|b| b == base) {
        return;
    }
    factor::set_up(client, base, ADMIN_TOKEN).await;
    ADMIN_READY.lock().unwrap().push(base.to_owned());
}

/// The second admin's token for the server at `base`: enrolled with
/// `SECOND_ADMIN_CODE` on first use. `fresh`: the cached one was refused
/// (a server on a reused port); a server restarted on a data directory
/// whose code was redeemed before knows an earlier token, tried in turn.
pub async fn second_admin(client: &Client, base: &str, fresh: bool) -> String {
    if !fresh {
        if let Some((_, t)) = SECOND_ADMINS.lock().unwrap().iter().find(|(b, _)| b == base) {
            return t.clone();
        }
    }
    let r = factor::redeem(client, base, SECOND_ADMIN_CODE, None).await;
    let token = if r.status() == StatusCode::CREATED {
        let v = r.json::<Value>().await.unwrap();
        let token = v["token"].as_str().unwrap().to_owned();
        factor::remember(base, &token, v["principal_id"].as_str().unwrap(), None);
        token
    } else {
        // Redeemed by an earlier server on the same data directory.
        let refused = r.status();
        let known: Vec<String> = SECOND_ADMINS.lock().unwrap().iter().rev().map(|(_, t)| t.clone()).collect();
        let mut found = None;
        for t in known {
            let r = client.get(format!("{base}/v1/audit/checkpoint")).bearer_auth(&t).send().await.unwrap();
            if r.status() != StatusCode::UNAUTHORIZED {
                found = Some(t);
                break;
            }
        }
        found.unwrap_or_else(|| panic!("the second admin's code was refused ({refused}) and no known token works"))
    };
    let mut tokens = SECOND_ADMINS.lock().unwrap();
    tokens.retain(|(b, _)| b != base);
    tokens.push((base.to_owned(), token.clone()));
    token
}

/// `POST /v1/dossiers` with `body` for `service_delivery`, from any client
/// (spawned tasks and binary servers have no `TestApp`).
pub async fn create_dossier(client: &Client, base: &str, token: &str, body: &Value) -> Response {
    client
        .post(format!("{base}/v1/dossiers"))
        .bearer_auth(token)
        .header("X-Purpose", "service_delivery")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Redeems an enrollment code for its token, setting up the person's
/// second factor on the way.
pub async fn enroll(client: &Client, base: &str, code: &str) -> String {
    enroll_as(client, base, code, None).await
}

/// Redeems an enrollment code of `principal`, who has a second factor
/// already (`Some`) or sets one up (`None`).
pub async fn enroll_as(client: &Client, base: &str, code: &str, principal: Option<&str>) -> String {
    let r = factor::redeem(client, base, code, principal).await;
    assert_eq!(r.status(), StatusCode::CREATED, "enrolling");
    let v = r.json::<Value>().await.unwrap();
    let token = v["token"].as_str().unwrap().to_owned();
    factor::remember(base, &token, v["principal_id"].as_str().unwrap(), None);
    token
}

/// A principal and its token, as staff get one: the admin asks, a second
/// admin approves, the person redeems the enrollment code.
pub async fn principal(client: &Client, base: &str, roles: &[&str], region: &str) -> (String, String) {
    let body = json!({"name": format!("{roles:?}"), "roles": roles, "department": "d", "region": region});
    principal_from(client, base, &body).await
}

/// A principal made from `body` (`POST /v1/principals`), enrolled: its id
/// and token.
pub async fn principal_from(client: &Client, base: &str, body: &Value) -> (String, String) {
    admin_ready(client, base).await;
    let ask = || client.post(format!("{base}/v1/principals")).bearer_auth(ADMIN_TOKEN).json(body).send();
    let mut r = ask().await.unwrap();
    if r.status() == StatusCode::FORBIDDEN {
        // A server on a port an earlier, stopped one of this binary had:
        // its admin has not set up a second factor yet.
        ADMIN_READY.lock().unwrap().retain(|b| b != base);
        admin_ready(client, base).await;
        r = ask().await.unwrap();
    }
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let r = client.post(format!("{base}/v1/principals/{id}/tokens")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let asked: Value = r.json().await.unwrap();
    let token_id = asked["token_id"].as_str().unwrap().to_owned();
    let first_half = asked["enrollment_code_part"].as_str().unwrap().to_owned();
    let mut second = second_admin(client, base, false).await;
    let approve = format!("{base}/v1/tokens/{token_id}/approve");
    let mut r = client.post(&approve).bearer_auth(&second).send().await.unwrap();
    if r.status() == StatusCode::UNAUTHORIZED {
        second = second_admin(client, base, true).await;
        r = client.post(&approve).bearer_auth(&second).send().await.unwrap();
    }
    assert_eq!(r.status(), StatusCode::OK);
    let second_half = r.json::<Value>().await.unwrap()["enrollment_code_part"].as_str().unwrap().to_owned();
    // An admin acts as one once a second admin approves the principal.
    if body["roles"].as_array().is_some_and(|r| r.iter().any(|r| r == "admin")) {
        let r = client.post(format!("{base}/v1/principals/{id}/approve")).bearer_auth(&second).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    (id, enroll(client, base, &format!("{first_half}{second_half}")).await)
}

pub async fn assert_problem(r: Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    for k in ["type", "title", "status", "detail", "instance"] {
        assert!(body.get(k).is_some(), "problem lacks {k}: {body}");
    }
    assert_eq!(body["status"], status.as_u16());
    body
}

/// The built binary as a child process, for crash and log tests.
pub struct BinaryServer {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
}

pub fn custos_bin() -> &'static str {
    env!("CARGO_BIN_EXE_custos")
}

impl BinaryServer {
    pub fn start(data_dir: &Path, log: &Path) -> BinaryServer {
        let mut cmd = Command::new(custos_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--policies")
            .arg(policies_dir())
            .env("CUSTOS_LOG", "debug");
        Self::spawn(cmd, log)
    }

    /// Runs `cmd` (a `custos serve` on port 0) with the bootstrap token,
    /// stderr appended to `log`, and waits for its address.
    pub fn spawn(mut cmd: Command, log: &Path) -> BinaryServer {
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let mut child = cmd
            .env("CUSTOS_BOOTSTRAP_TOKEN", ADMIN_TOKEN)
            .env("CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE", SECOND_ADMIN_CODE)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("server printed its address").unwrap();
            if let Some(addr) = line.strip_prefix("custos listening on ") {
                break addr.trim().to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        BinaryServer { child, base, log: log.to_owned() }
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits: the exit status of a graceful shutdown.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().unwrap()
    }
}

pub fn audit_verify(data_dir: &Path) -> std::process::Output {
    Command::new(custos_bin()).args(["audit", "verify", "--data-dir"]).arg(data_dir).output().unwrap()
}

/// Every file below `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The files under `dir` holding `needle` (as UTF-8 bytes).
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| std::fs::read(p).map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())).unwrap_or(false))
        .collect()
}

/// The files under `dir` holding `needle`.
pub fn files_containing_bytes(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| std::fs::read(p).map(|b| b.windows(needle.len()).any(|w| w == needle)).unwrap_or(false))
        .collect()
}

/// Whether a test's outside tool is here. Missing in CI (`CI=true`) fails
/// the test, so CI never counts a check it did not run as passed; on a
/// developer's machine the test says it was not run and returns.
pub fn tool_available(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{what} is required in CI (./dev.sh test installs it) but is missing"
    );
    eprintln!("NOT RUN: {what} is not installed on this machine");
    false
}

/// The paths a read's `redactions` give for `reason` (masked, withheld, erased).
pub fn redacted(doc: &Value, reason: &str) -> Vec<String> {
    doc["redactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"] == reason)
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect()
}

/// Records an impact assessment (PIPL Art. 55) covering `purposes` and the
/// kinds of processing `processing`, as the compliance officer `compliance`;
/// its id. The shipped policies make credit assessment, automated grading,
/// recipients and transfers wait for one (policies/assessments.toml).
pub async fn assess(client: &Client, base: &str, compliance: &str, purposes: &[&str], processing: &[&str]) -> String {
    let body = json!({"scope": {"purposes": purposes, "data_categories": ["sensitive"], "processing": processing},
        "conducted_on": "2020-01-01", "conclusion": "risks acceptable with the measures recorded",
        "report_base64": "UElBIHJlcG9ydA==", "report_type": "text/plain"});
    let r = client
        .post(format!("{base}/v1/assessments"))
        .bearer_auth(compliance)
        .header("X-Purpose", "legal_compliance")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "recording an impact assessment");
    r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

impl TestApp {
    /// [`assess`] on this server, as a compliance officer made for it.
    pub async fn assess(&self, purposes: &[&str], processing: &[&str]) -> String {
        let (_, officer) = self.principal(&["compliance"], "总部").await;
        assess(&self.client, &self.base, &officer, purposes, processing).await
    }
}
