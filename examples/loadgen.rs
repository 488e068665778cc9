//! The load generator of docs/performance.md: against a running server, over
//! HTTP, it measures what a client sees: dossier ingest, audited reads and
//! searches, with throughput and latency percentiles. An example, not part of the
//! `custos` binary, so its HTTP client is not in the server's dependency tree.
//!
//!   cargo run --release --example loadgen -- --url http://127.0.0.1:8080 --admin-token T
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool, not the server: a panic fails the run

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shipped fixtures, used as the bench's dossier bodies.
const FIXTURES: &str = include_str!("../fixtures/dossiers.json");

#[derive(Debug, clap::Parser)]
#[command(name = "loadgen", about = "custos load generator (docs/performance.md)")]
struct BenchArgs {
    /// Base URL of a running custos.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin token (to create the bench's own principal).
    #[arg(long, env = "CUSTOS_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// A second admin's token: tokens for the bench's principals need a
    /// second admin's approval. Not needed against a server from before
    /// enrollment codes (an empty value is none).
    #[arg(long)]
    second_admin_token: Option<String>,
    /// Or the second admin's enrollment code, redeemed here for that token.
    #[arg(long, conflicts_with = "second_admin_token")]
    second_admin_code: Option<String>,
    /// Dossiers to create.
    #[arg(long, default_value_t = 5000)]
    dossiers: usize,
    /// Audited reads to make.
    #[arg(long, default_value_t = 20000)]
    reads: usize,
    /// Searches to make after the reads (`GET /v1/search`, the queries of
    /// docs/performance.md in turn; policy filter and audit included).
    #[arg(long, default_value_t = 0)]
    searches: usize,
    /// Concurrent clients for the searches (default: --concurrency); fewer
    /// show a search's own latency rather than its queueing.
    #[arg(long)]
    search_concurrency: Option<usize>,
    /// Requests to `GET /healthz` before anything else, at --concurrency:
    /// the floor of this machine, this HTTP stack and this client, with no
    /// work behind the request (no token, store or audit).
    #[arg(long, default_value_t = 0)]
    floor: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The server's process id, when it runs on this machine: each phase
    /// then reports the server's CPU time per request (from
    /// `/proc/PID/stat`), the figure that varies least between runs.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u32,
}

/// The server's CPU time (user and system), when its pid is known.
struct CpuMeter {
    pid: Option<u32>,
    tck: f64,
}

impl CpuMeter {
    /// Seconds of CPU the server has used so far.
    fn seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid?)).ok()?;
        // Fields after the command name (which may hold spaces): state is
        // field 3, utime 14 and stime 15.
        let (_, rest) = stat.rsplit_once(')')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / self.tck)
    }

    /// Prints a phase's server CPU per request and its rate as a share of
    /// the floor's (`floor`: requests per second of `GET /healthz`).
    fn report(&self, since: Option<f64>, stats: &Stats, floor: Option<f64>) {
        let rate = stats.count as f64 / stats.elapsed.as_secs_f64();
        let cpu = match (since, self.seconds()) {
            (Some(a), Some(b)) if stats.count > 0 => {
                format!("server cpu {:.0} µs per request", (b - a) * 1e6 / stats.count as f64)
            }
            _ => "server cpu not measured (no --server-pid)".to_owned(),
        };
        let share = floor.map(|f| format!("; {:.1}% of the floor's rate", rate * 100.0 / f)).unwrap_or_default();
        println!("  {cpu}{share}");
    }
}

/// The search queries of docs/performance.md, as query strings.
const SEARCHES: [&str; 4] = ["q=电子产品", "q=东南亚", "q=冷链&grade=A", "q=cold%20chain"];

struct Stats {
    label: &'static str,
    count: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn mean_ms(&self) -> f64 {
        self.latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / self.latencies.len().max(1) as f64
    }

    fn print(&mut self) {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len().max(1)) - 1;
            self.latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        println!(
            "{:<14} {:>8} requests in {:>7.2}s  {:>9.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms",
            self.label,
            self.count,
            self.elapsed.as_secs_f64(),
            self.count as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            pct(1.0),
        );
    }
}

/// Runs `total` requests over `concurrency` workers; `make(i)` sends one.
async fn drive<F, Fut>(label: &'static str, total: usize, concurrency: usize, make: F) -> anyhow::Result<Stats>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let next = next.clone();
        let make = make.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                make(i).await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for w in workers {
        latencies.extend(w.await??);
    }
    Ok(Stats { label, count: total, elapsed: started.elapsed(), latencies })
}

/// Sums and counts of the server's own histograms (`GET /metrics`): the
/// per-stage view of where a request's time goes.
async fn server_stats(client: &reqwest::Client, base: &str, token: &str) -> std::collections::HashMap<String, f64> {
    let mut out = std::collections::HashMap::new();
    let Ok(r) = client.get(format!("{base}/metrics")).bearer_auth(token).send().await else { return out };
    let text = r.text().await.unwrap_or_default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some((name, value)) = line.rsplit_once(' ') {
            if name.contains("_sum") || name.contains("_count") {
                out.insert(name.to_owned(), value.parse().unwrap_or(0.0));
            }
        }
    }
    out
}

/// Prints, for one phase, the server's handler time for `route` and the
/// audit batches written, from the change in its histograms.
fn print_stages(
    before: &std::collections::HashMap<String, f64>,
    after: &std::collections::HashMap<String, f64>,
    route: &str,
    client_mean_ms: f64,
) {
    let delta = |k: &str| after.get(k).unwrap_or(&0.0) - before.get(k).unwrap_or(&0.0);
    let label = format!("{{route=\"{route}\"}}");
    let (hs, hc) = (
        delta(&format!("custos_http_request_duration_seconds_sum{label}")),
        delta(&format!("custos_http_request_duration_seconds_count{label}")),
    );
    let (ws, wc) = (delta("custos_audit_batch_write_seconds_sum"), delta("custos_audit_batch_write_seconds_count"));
    let commits = delta("custos_audit_batch_commits_sum");
    if hc == 0.0 || wc == 0.0 {
        return; // an older server without these histograms
    }
    let handler = hs / hc * 1e3;
    // The store write alone (WAL, fsync, memtables), from servers that report it.
    let (ss, sc) = (delta("custos_audit_batch_sync_seconds_sum"), delta("custos_audit_batch_sync_seconds_count"));
    let sync = if sc > 0.0 { format!(", of which the store write {:.2} ms", ss / sc * 1e3) } else { String::new() };
    println!(
        "  stages: client mean {client_mean_ms:.2} ms = server handler {handler:.2} ms (of which waiting for the audit batch: a batch of {:.1} commits took {:.2} ms to build and sync{sync}, {wc:.0} batches) + queueing, transport and client {:.2} ms",
        commits / wc,
        ws / wc * 1e3,
        client_mean_ms - handler
    );
}

/// Sends a request and reads its whole body; anything but 200 fails the run.
async fn fetch_ok(req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<()> {
    let r = req.send().await?;
    if r.status() != reqwest::StatusCode::OK {
        bail!("{what} answered {}", r.status());
    }
    r.bytes().await?;
    Ok(())
}

/// The current TOTP code (RFC 6238) of a base32 secret, as the holder's
/// authenticator app shows it.
fn totp_now(secret: &str) -> anyhow::Result<String> {
    let bytes = totp_rs::Secret::try_from_base32(secret).map_err(|e| anyhow::anyhow!("TOTP secret: {e:?}"))?;
    let totp = totp_rs::Builder::new().with_secret(bytes.as_bytes().to_vec()).build()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    Ok(totp.generate(now).to_string())
}

/// Sets up and proves the second factor of `token`'s holder, so that the
/// token works (the bootstrap admin token). A token already bound, or a
/// server from before second factors, answers otherwise: nothing to do.
async fn prove_factor(client: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<()> {
    let resp = client.post(format!("{base}/v1/factor")).bearer_auth(token).send().await?;
    if !resp.status().is_success() {
        return Ok(());
    }
    let secret = resp.json::<Value>().await?["secret"].as_str().unwrap_or_default().to_owned();
    let code = totp_now(&secret)?;
    let resp = client
        .post(format!("{base}/v1/factor/confirm"))
        .bearer_auth(token)
        .json(&json!({ "code": code }))
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("proving the second factor answered {}", resp.status());
    }
    Ok(())
}

/// Redeems an enrollment code for its token: the code alone gives a second
/// factor to set up (202), the code with its current TOTP code the token
/// (201; a server from before second factors gives it at once).
async fn enroll(client: &reqwest::Client, base: &str, code: &str) -> anyhow::Result<String> {
    let resp = client.post(format!("{base}/v1/enroll")).json(&json!({ "code": code })).send().await?;
    let resp = if resp.status() == reqwest::StatusCode::ACCEPTED {
        let secret = resp.json::<Value>().await?["second_factor"]["secret"].as_str().unwrap_or_default().to_owned();
        let body = json!({ "code": code, "second_factor": totp_now(&secret)? });
        client.post(format!("{base}/v1/enroll")).json(&body).send().await?
    } else {
        resp
    };
    if resp.status() != reqwest::StatusCode::CREATED {
        bail!("enrolling answered {}", resp.status());
    }
    Ok(resp.json::<Value>().await?["token"].as_str().unwrap_or_default().to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run(<BenchArgs as clap::Parser>::parse()).await
}

async fn run(mut args: BenchArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let base = args.url.trim_end_matches('/').to_owned();
    prove_factor(&client, &base, &args.admin_token).await.context("the admin's second factor")?;
    if let Some(code) = args.second_admin_code.take() {
        args.second_admin_token = Some(enroll(&client, &base, &code).await.context("redeeming --second-admin-code")?);
    }
    let fixtures: Vec<Value> = serde_json::from_str(FIXTURES)?;

    // A principal per client: the server limits each principal's rate
    // (`rate_limit_per_second`), and staff do not share one account.
    let mut principals = Vec::with_capacity(args.concurrency);
    for n in 0..args.concurrency.max(1) {
        let resp = client
            .post(format!("{base}/v1/principals"))
            .bearer_auth(&args.admin_token)
            .json(&json!({"name": format!("bench {n}"), "roles": ["service"], "department": "bench", "region": "华东"}))
            .send()
            .await
            .context("cannot reach the server")?;
        if !resp.status().is_success() {
            bail!("creating the bench principal failed: {}", resp.status());
        }
        let pid = resp.json::<Value>().await?["id"].as_str().unwrap_or_default().to_owned();
        let resp =
            client.post(format!("{base}/v1/principals/{pid}/tokens")).bearer_auth(&args.admin_token).send().await?;
        let issued = resp.json::<Value>().await?;
        let token = match issued["token"].as_str() {
            // A server from before enrollment codes hands the token over.
            Some(t) => t.to_owned(),
            None => {
                let second = args
                    .second_admin_token
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .context("--second-admin-token is needed: tokens need a second admin's approval")?;
                let tid = issued["token_id"].as_str().unwrap_or_default();
                let approved = client
                    .post(format!("{base}/v1/tokens/{tid}/approve"))
                    .bearer_auth(second)
                    .send()
                    .await?
                    .json::<Value>()
                    .await?;
                // A whole code (a server from before halved codes), or the
                // asking admin's half and the approving admin's, joined.
                let code = match approved["enrollment_code"].as_str() {
                    Some(code) => code.to_owned(),
                    None => [&issued, &approved]
                        .iter()
                        .map(|v| v["enrollment_code_part"].as_str().unwrap_or_default())
                        .collect::<String>(),
                };
                enroll(&client, &base, &code).await?
            }
        };
        principals.push((pid, token));
    }
    let pid = principals[0].0.clone();
    let tokens: Arc<Vec<String>> = Arc::new(principals.into_iter().map(|(_, t)| t).collect());

    let bodies: Arc<Vec<Value>> = Arc::new(
        fixtures
            .iter()
            .map(|f| {
                let mut f = f.clone();
                f["owner"] = json!(pid);
                f["customer"]["region"] = json!("华东");
                f
            })
            .collect(),
    );
    // A server from before issue 13 does not know a contact's
    // `sensitive_basis` (its template refuses the member): probe once with
    // a fixture that carries one, and leave it out if so (the same dossiers
    // otherwise, so both servers seal the same data).
    let probe = bodies.iter().find(|b| b.to_string().contains("sensitive_basis")).cloned();
    let bodies = match probe {
        Some(body) => {
            let r = client
                .post(format!("{base}/v1/dossiers"))
                .bearer_auth(&tokens[0])
                .header("X-Purpose", "service_delivery")
                .json(&body)
                .send()
                .await?;
            if r.status() == reqwest::StatusCode::UNPROCESSABLE_ENTITY {
                println!("(an older server: contacts sent without sensitive_basis)");
                let stripped: Vec<Value> = bodies
                    .iter()
                    .map(|b| {
                        let mut b = b.clone();
                        for c in b["contacts"].as_array_mut().into_iter().flatten() {
                            if let Some(c) = c.as_object_mut() {
                                c.remove("sensitive_basis");
                            }
                        }
                        b
                    })
                    .collect();
                Arc::new(stripped)
            } else {
                bodies
            }
        }
        None => bodies,
    };
    let ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(args.dossiers)));
    println!("loadgen against {base}: {} dossiers, {} reads, {} clients", args.dossiers, args.reads, args.concurrency);
    let cpu = CpuMeter { pid: args.server_pid, tck: f64::from(args.clk_tck.max(1)) };
    let mut floor_rate = None;
    if args.floor > 0 {
        let (c, b) = (client.clone(), base.clone());
        let since = cpu.seconds();
        let mut floor = drive("http floor", args.floor, args.concurrency, move |_| {
            let (client, base) = (c.clone(), b.clone());
            async move { fetch_ok(client.get(format!("{base}/healthz")), "/healthz").await }
        })
        .await?;
        floor.print();
        cpu.report(since, &floor, None);
        floor_rate = Some(floor.count as f64 / floor.elapsed.as_secs_f64());
    }
    let stats0 = server_stats(&client, &base, &args.admin_token).await;
    let since = cpu.seconds();
    let mut ingest = {
        let (client, base, tokens, bodies, ids) =
            (client.clone(), base.clone(), tokens.clone(), bodies.clone(), ids.clone());
        drive("ingest", args.dossiers, args.concurrency, move |i| {
            let (client, base, tokens, bodies, ids) =
                (client.clone(), base.clone(), tokens.clone(), bodies.clone(), ids.clone());
            async move {
                let r = client
                    .post(format!("{base}/v1/dossiers"))
                    .bearer_auth(&tokens[i % tokens.len()])
                    .header("X-Purpose", "service_delivery")
                    .json(&bodies[i % bodies.len()])
                    .send()
                    .await?;
                if r.status() != reqwest::StatusCode::CREATED {
                    bail!("create answered {}", r.status());
                }
                let id = r.json::<Value>().await?["id"].as_str().unwrap_or_default().to_owned();
                ids.lock().map_err(|_| anyhow::anyhow!("lock"))?.push(id);
                Ok(())
            }
        })
        .await?
    };
    ingest.print();
    cpu.report(since, &ingest, floor_rate);
    let stats1 = server_stats(&client, &base, &args.admin_token).await;
    let since = cpu.seconds();
    print_stages(&stats0, &stats1, "/v1/dossiers", ingest.mean_ms());
    let ids: Arc<Vec<String>> = Arc::new(ids.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone());
    let mut reads = {
        let (client, base, tokens) = (client.clone(), base.clone(), tokens.clone());
        drive("audited reads", args.reads, args.concurrency, move |i| {
            let (client, base, tokens, ids) = (client.clone(), base.clone(), tokens.clone(), ids.clone());
            async move {
                let id = &ids[(i.wrapping_mul(7919)) % ids.len()];
                let req = client
                    .get(format!("{base}/v1/dossiers/{id}"))
                    .bearer_auth(&tokens[i % tokens.len()])
                    .header("X-Purpose", "service_delivery");
                fetch_ok(req, "read").await
            }
        })
        .await?
    };
    reads.print();
    cpu.report(since, &reads, floor_rate);
    let stats2 = server_stats(&client, &base, &args.admin_token).await;
    print_stages(&stats1, &stats2, "/v1/dossiers/{id}", reads.mean_ms());
    if args.searches > 0 {
        let (c, b, t) = (client.clone(), base.clone(), tokens.clone());
        let concurrency = args.search_concurrency.unwrap_or(args.concurrency);
        let since = cpu.seconds();
        let mut searches = drive("searches", args.searches, concurrency, move |i| {
            let (client, base, tokens) = (c.clone(), b.clone(), t.clone());
            async move {
                let req = client
                    .get(format!("{base}/v1/search?{}", SEARCHES[i % SEARCHES.len()]))
                    .bearer_auth(&tokens[i % tokens.len()])
                    .header("X-Purpose", "service_delivery");
                fetch_ok(req, "search").await
            }
        })
        .await?;
        searches.print();
        cpu.report(since, &searches, floor_rate);
        let stats3 = server_stats(&client, &base, &args.admin_token).await;
        print_stages(&stats2, &stats3, "/v1/search", searches.mean_ms());
    }
    Ok(())
}
