//! The console at scale (issue 33): the real server, in-process on a fresh
//! data directory, loaded with N dossiers through the API (`POST
//! /v1/dossiers` at 32 clients, the fastest supported path that writes what
//! a real create writes: marks, search index, audit entries), spread over
//! 300 sales owners (a portfolio of about N/300 customers each) and the
//! fixtures' regions, with a month of figures and an interaction on every
//! fourth 华东 dossier. Then each role signs in to the console and every GET
//! page (and the posted search) is requested ROUNDS times, one request at a
//! time; the table gives each page's p50 and p95 as the client sees it on
//! loopback (the server's time plus the loopback round trip: an upper bound
//! of the server's own).
//!
//!     cargo bench --bench console [-- DOSSIERS [ROUNDS]]    (default 100,000 and 20)
//!
//! Not a test: nothing is asserted but that the load went in.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool, not the server: a panic fails the run

#[path = "../tests/common/mod.rs"]
mod common;

use common::{factor, ADMIN_TOKEN};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Instant;

/// A posted page's fields (the CSRF token added when sent).
type Form = Vec<(&'static str, String)>;

/// Sales people owning the dossiers.
const OWNERS: usize = 300;

/// A console visitor: follows no redirect, keeps its cookies.
struct Visitor {
    client: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

fn form_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

impl Visitor {
    fn new(base: &str) -> Visitor {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Visitor { client, base: base.to_owned(), cookies: Vec::new() }
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !v.is_empty() {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    fn cookie(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn request(&self, path: &str, form: Option<&[(&str, &str)]>) -> reqwest::Request {
        let url = format!("{}{path}", self.base);
        let r = match form {
            None => self.client.get(url),
            Some(f) => self.client.post(url).form(f),
        };
        r.header("cookie", self.cookie()).build().unwrap()
    }

    /// GET or POST (`form`), the body read to its end: status and body.
    async fn call(&mut self, path: &str, form: Option<&[(&str, &str)]>) -> (StatusCode, String) {
        let r = match self.client.execute(self.request(path, form)).await {
            Ok(r) => r,
            // A pooled connection the server closed while idle: once more.
            Err(_) => self.client.execute(self.request(path, form)).await.unwrap(),
        };
        self.keep(&r);
        let status = r.status();
        (status, r.text().await.unwrap())
    }

    /// Signs in with `token`, then states the first purpose the role may:
    /// the session's CSRF token.
    async fn sign_in(&mut self, token: &str) -> String {
        let (_, login) = self.call("/console/login", None).await;
        let nonce = form_value(&login, "csrf").unwrap();
        let code = factor::code_for(&self.base, token);
        let (s, _) = self.call("/console/login", Some(&[("token", token), ("code", &code), ("csrf", &nonce)])).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "signing in");
        let (_, home) = self.call("/console", None).await;
        let csrf = form_value(&home, "csrf").unwrap();
        for p in ["service_delivery", "credit_assessment", "legal_compliance", "dsr", "audit"] {
            let (s, _) = self.call("/console/purpose", Some(&[("purpose", p), ("csrf", &csrf)])).await;
            if s == StatusCode::SEE_OTHER {
                break;
            }
        }
        csrf
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `POST path` with a JSON body as `token` for `purpose`: the status and answer.
async fn send(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    // A pooled connection the server closed while idle fails once: again.
    let mut tries = 0;
    let r = loop {
        let sent = client
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(token)
            .header("X-Purpose", "service_delivery")
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(r) => break r,
            Err(e) if tries < 3 && e.is_request() => tries += 1,
            Err(e) => panic!("{path}: {e}"),
        }
    };
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1).filter_map(|a| a.parse::<usize>().ok());
    let n = args.next().unwrap_or(100_000);
    let rounds = args.next().unwrap_or(20).max(1);
    let dir = tempfile::tempdir().unwrap();
    let app = common::spawn_app_in(dir, |c| {
        c.limits.rate_per_second = 0;
        c.key_cache_entries = 100_000;
    })
    .await;
    let (base, client) = (app.base.clone(), app.client.clone());
    app.assess(&["credit_assessment"], &["sensitive_data", "automated_decision"]).await;

    // The staff who sign in, and the owners.
    let (sales_id, sales) = app.principal(&["sales"], "华东").await;
    let (_, service) = app.principal(&["service"], "华东").await;
    let (_, finance) = app.principal(&["finance"], "总部").await;
    let (_, compliance) = app.principal(&["compliance"], "总部").await;
    let (_, auditor) = app.principal(&["auditor"], "总部").await;
    let mut owners = vec![sales_id.clone()];
    for i in 1..OWNERS {
        let body = json!({"name": format!("销售 {i}"), "roles": ["sales"], "department": "销售部", "region": "华东"});
        let r = client.post(format!("{base}/v1/principals")).bearer_auth(ADMIN_TOKEN).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        owners.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }

    // The dossiers, at 32 clients.
    let fixtures = common::fixtures();
    let t = Instant::now();
    let created: Vec<(usize, String, Vec<String>)> = futures::stream::iter(0..n)
        .map(|i| {
            let mut body = fixtures[i % fixtures.len()].clone();
            body["owner"] = json!(owners[i % OWNERS]);
            let (client, base, service) = (client.clone(), base.clone(), service.clone());
            async move {
                let (s, v) = send(&client, &base, &service, reqwest::Method::POST, "/v1/dossiers", body).await;
                assert_eq!(s, StatusCode::CREATED, "{v}");
                let subjects =
                    v["subjects"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
                (i, v["id"].as_str().unwrap().to_owned(), subjects)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let secs = t.elapsed().as_secs_f64();
    println!("created {n} dossiers in {secs:.1} s ({:.0}/s), {OWNERS} owners", n as f64 / secs);

    // Figures and an interaction on every fourth 华东 dossier.
    let east: Vec<&(usize, String, Vec<String>)> =
        created.iter().filter(|(i, _, _)| fixtures[i % fixtures.len()]["customer"]["region"] == "华东").collect();
    let t = Instant::now();
    let month = {
        let d = time::OffsetDateTime::now_utc().date();
        let (y, m) = if u8::from(d.month()) == 1 { (d.year() - 1, 12) } else { (d.year(), u8::from(d.month()) - 1) };
        format!("{y:04}-{m:02}")
    };
    let extras = east.iter().step_by(4).count();
    futures::stream::iter(east.iter().step_by(4))
        .map(|(i, id, subjects)| {
            let (client, base, service, month) = (client.clone(), base.clone(), service.clone(), month.clone());
            let (id, contact, i) = (id.clone(), subjects.first().cloned(), *i);
            async move {
                let figures = json!({"orders": 10 + i % 40, "amount": 1000.0 + (i % 97) as f64, "returns": i % 3, "on_time_rate": 0.95});
                let path = format!("/v1/dossiers/{id}/figures/{month}");
                let (s, v) = send(&client, &base, &service, reqwest::Method::PUT, &path, figures).await;
                assert!(s.is_success(), "figures: {s} {v}");
                let at = common::rfc3339(time::OffsetDateTime::now_utc() - time::Duration::days(3));
                let mut call = json!({"kind": "call", "at": at, "summary": "询问冷链运价", "satisfaction": 1 + i % 5});
                if let Some(c) = contact {
                    call["contact"] = json!(c);
                }
                let path = format!("/v1/dossiers/{id}/interactions");
                let (s, v) = send(&client, &base, &service, reqwest::Method::POST, &path, call).await;
                assert!(s.is_success(), "interaction: {s} {v}");
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    println!("figures and an interaction on {extras} dossiers in {:.1} s", t.elapsed().as_secs_f64());

    // The dossier every page names: sales' own, in 华东.
    let (_, did, subjects) =
        east.iter().find(|(i, _, _)| i % OWNERS == 0).copied().expect("a 华东 dossier of the signed-in sales person");
    let sid = subjects.first().cloned().unwrap_or_default();
    let pages: Vec<(String, Option<Form>)> = [
        "/console",
        "/console/analysis",
        "/console/analysis?by=industry",
        "/console/analysis/report.csv?by=grade",
        "/console/search",
        "POST /console/search",
        &format!("/console/dossiers/{did}"),
        &format!("/console/dossiers/{did}/figures"),
        &format!("/console/dossiers/{did}/figures.csv"),
        &format!("/console/dossiers/{did}/diff?a=1&b=1"),
        "/console/audit",
        "/console/audit/1",
        "/console/alerts",
        "/console/disposition",
        "/console/subjects",
        &format!("/console/subjects/{sid}"),
        "/console/requests",
        "/console/incidents",
        "/console/export",
        "/console/recipients",
        "/console/assessments",
        "/console/records-of-processing",
        "/console/import",
        "/console/backups",
        "/console/principals",
        "/console/tokens",
    ]
    .iter()
    .map(|p| match p.strip_prefix("POST ") {
        Some(path) => (path.to_owned(), Some(vec![("q", "电子产品".to_owned())])),
        None => ((*p).to_owned(), None),
    })
    .collect();

    let roles = [
        ("sales", sales.as_str()),
        ("service", service.as_str()),
        ("finance", finance.as_str()),
        ("compliance", compliance.as_str()),
        ("auditor", auditor.as_str()),
        ("admin", ADMIN_TOKEN),
    ];
    println!(
        "\n{n} dossiers, {rounds} rounds per page and role, one request at a time, client-side on loopback (ms)\n"
    );
    println!("| page | {} |", roles.iter().map(|(r, _)| format!("{r} p50 / p95")).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---|".repeat(roles.len()));
    let mut visitors = Vec::new();
    for (_, token) in &roles {
        let mut v = Visitor::new(&base);
        let csrf = v.sign_in(token).await;
        visitors.push((v, csrf));
    }
    let mut over = Vec::new();
    for (path, form) in &pages {
        let mut cells = Vec::new();
        for ((role, _), (v, csrf)) in roles.iter().zip(visitors.iter_mut()) {
            let mut lat = Vec::with_capacity(rounds);
            let mut status = StatusCode::OK;
            for _ in 0..rounds {
                let form: Option<Vec<(&str, &str)>> = form.as_ref().map(|f| {
                    let mut f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    f.push(("csrf", csrf.as_str()));
                    f
                });
                let t = Instant::now();
                let (s, _) = v.call(path, form.as_deref()).await;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                status = s;
            }
            lat.sort_by(|a, b| a.total_cmp(b));
            let (p50, p95) = (percentile(&lat, 0.5), percentile(&lat, 0.95));
            if p95 > 100.0 {
                over.push(format!("{path} as {role}: p95 {p95:.1} ms"));
            }
            let mark = if status.is_success() { String::new() } else { format!(" ({})", status.as_u16()) };
            cells.push(format!("{p50:.1} / {p95:.1}{mark}"));
        }
        let mut shown = if form.is_some() { format!("POST {path}") } else { path.replace(did.as_str(), "{id}") };
        if !sid.is_empty() {
            shown = shown.replace(&sid, "{sid}");
        }
        println!("| `{shown}` | {} |", cells.join(" | "));
    }
    println!("\n(status in brackets when not 2xx: a page the role may not open, or one not built yet)");
    if over.is_empty() {
        println!("every page under 100 ms at p95");
    } else {
        println!("over 100 ms at p95:");
        for o in over {
            println!("  {o}");
        }
    }
    app.stop().await;
}
