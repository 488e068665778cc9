//! `custos import --file customers.xlsx|.csv [--mapping map.toml] [--dry-run]`:
//! reads the sheet here, applies the mapping (headers renamed to the fields
//! they fill), and sends it to the running server's `POST /v1/imports` in
//! chunks, as the member of staff whose token it carries, so the import
//! obeys the same policies and audit as the API. A progress bar on a
//! terminal (none in CI or when piped).

use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;
use std::path::PathBuf;

/// Rows per request.
const CHUNK: usize = 2000;

#[derive(Args)]
pub struct ImportArgs {
    /// The sheet: .csv (UTF-8), or .xlsx/.xls/.ods (first sheet).
    #[arg(long)]
    file: PathBuf,
    /// A mapping file (TOML: `key = "<field>"`, `[columns]` "header" = "field").
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// Validate and report; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Owner of rows without an owner column (default: the token's principal).
    #[arg(long)]
    owner: Option<String>,
    /// The privacy-notice version the persons of rows without a notice
    /// (告知版本) column were shown; such a row is refused without it.
    #[arg(long)]
    notice: Option<String>,
    /// The server (plain HTTP: on its host, or through a tunnel).
    #[arg(long, env = "CUSTOS_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The caller's token.
    #[arg(long, env = "CUSTOS_TOKEN", hide_env_values = true)]
    token: String,
    /// The purpose stated for the rows.
    #[arg(long, default_value = "service_delivery")]
    purpose: String,
}

/// Sends one request; the status and the body.
async fn post(url: &str, token: &str, purpose: &str, path: &str, body: Vec<u8>) -> anyhow::Result<(u16, Vec<u8>)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| anyhow::anyhow!("--url: http://host:port (plain HTTP)"))?;
    let authority = rest.trim_end_matches('/').to_owned();
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the server at {url}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(hyper::header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header("X-Purpose", purpose)
        .body(Full::new(Bytes::from(body)))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, bytes))
}

/// Runs the import; the exit code: 0 all rows fine, 1 some failed, 2 none
/// could be sent.
pub async fn run(args: ImportArgs) -> anyhow::Result<u8> {
    let bytes = std::fs::read(&args.file).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let mut table = crate::sheet::read(&bytes, crate::sheet::Format::of_path(&args.file))
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    if let Some(m) = &args.mapping {
        let text = std::fs::read_to_string(m).map_err(|e| anyhow::anyhow!("{}: {e}", m.display()))?;
        let mapping: toml::Table =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", m.display(), e.message()))?;
        // Validated by the archive's own parser, then applied as header renames.
        crate::archive::customers::Mapping::parse(&text).map_err(anyhow::Error::msg)?;
        if let Some(cols) = mapping.get("columns").and_then(|c| c.as_table()) {
            for h in table.headers.iter_mut() {
                if let Some(t) = cols.get(h.trim()).and_then(|t| t.as_str()) {
                    *h = t.to_owned();
                }
            }
        }
        if mapping.get("key").is_some() {
            anyhow::bail!("{}: `key` (another external reference) is applied by the server's mapping only; the CLI sends the credit code as the key", m.display());
        }
    }
    let total = table.rows.len();
    let bar = indicatif::ProgressBar::new(total as u64);
    let quiet = std::env::var_os("CI").is_some() || !std::io::IsTerminal::is_terminal(&std::io::stderr());
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    } else {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({per_sec}, {eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    }
    let started = std::time::Instant::now();
    let mut sums = [0u64; 4]; // created, updated, unchanged, failed
    let mut errors: Vec<String> = Vec::new();
    let mut query = format!("dry_run={}", args.dry_run);
    if let Some(o) = &args.owner {
        query.push_str(&format!("&owner={o}"));
    }
    if let Some(n) = &args.notice {
        if n.is_empty() || n.len() > 64 || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
            anyhow::bail!("--notice: a notice version (letters, digits, . _ -; at most 64)");
        }
        query.push_str(&format!("&notice={n}"));
    }
    for (i, rows) in table.rows.chunks(CHUNK).enumerate() {
        // Through the same writer as exports: a cell the reader took a
        // leading quote off gets it back, so the server reads it as it was.
        let mut w = crate::sheet::CsvOut::default();
        w.write_record(&table.headers)?;
        for r in rows {
            w.write_record(r)?;
        }
        let body = w.into_inner().map_err(anyhow::Error::msg)?;
        let (status, reply) =
            post(&args.url, &args.token, &args.purpose, &format!("/v1/imports?{query}"), body).await?;
        let reply: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
        if status != 200 {
            bar.abandon();
            let detail = reply["detail"].as_str().unwrap_or("no detail");
            anyhow::bail!("the server refused the import ({status}): {detail}");
        }
        for (k, key) in ["created", "updated", "unchanged", "failed"].iter().enumerate() {
            sums[k] += reply[key].as_u64().unwrap_or(0);
        }
        let offset = i * CHUNK;
        for e in reply["errors"].as_array().into_iter().flatten() {
            let row = e["row"].as_u64().unwrap_or(0) as usize + offset;
            let column = e["column"].as_str().unwrap_or_default();
            let at = if column.is_empty() { String::new() } else { format!(", column {column}") };
            errors.push(format!("row {row}{at}: {}", e["message"].as_str().unwrap_or_default()));
        }
        bar.inc(rows.len() as u64);
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    for e in &errors {
        eprintln!("  {e}");
    }
    let verb = if args.dry_run { " (dry run: nothing changed)" } else { "" };
    out!(
        "{total} row(s) in {secs:.1} s ({:.0} rows/s): {} created, {} updated, {} unchanged, {} failed{verb}",
        total as f64 / secs,
        sums[0],
        sums[1],
        sums[2],
        sums[3]
    );
    Ok(if sums[3] > 0 { 1 } else { 0 })
}
