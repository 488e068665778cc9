//! `custos serve --standby-of TARGET`: a warm standby. It follows the
//! primary through its backup target (`crate::archive::standby`) on a
//! thread of its own, once a second, and serves only `GET /healthz` and
//! its lag (`GET /v1/standby`) until it is stopped and promoted
//! (`custos promote`); every other request is answered 503.

use crate::archive::standby::{Lag, Standby};
use crate::backup::Location;
use crate::config::Config;
use crate::web::error::ApiError;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the standby looks for what the primary shipped.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// The standby's answers: health, lag, and 503 for everything else.
fn routes(lag: Arc<Mutex<Lag>>) -> Router {
    let status = lag.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/v1/standby",
            get(move || {
                let lag = status.lock().map(|l| l.now()).unwrap_or_default();
                async move { Json(lag) }
            }),
        )
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "standby",
                "this is a warm standby: it serves its health and lag only (GET /v1/standby) until promoted",
            )
            .into_response()
        })
}

/// `custos serve --standby-of TARGET --verifier-key VKEY`.
#[derive(clap::Args)]
pub(super) struct StandbyArgs {
    /// Follow the primary that ships to this backup target (a directory or
    /// s3://…) instead of serving: a warm standby.
    #[arg(long = "standby-of", value_name = "TARGET")]
    pub of: Option<Location>,
    /// The primary's audit log verifier key (GET /v1/audit/verifier-key),
    /// from the operator: never the one the target records.
    #[arg(long, env = "CUSTOS_VERIFIER_KEY", requires = "of")]
    pub verifier_key: Option<String>,
}

/// `custos promote`.
#[derive(clap::Args)]
pub(super) struct PromoteArgs {
    /// The stopped standby's data directory.
    #[arg(long, env = "CUSTOS_DATA_DIR")]
    data_dir: PathBuf,
    /// default: <data-dir>.master-key
    #[arg(long, env = "CUSTOS_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Promote even when the standby is behind a checkpoint the primary
    /// shipped (the versions lost are named).
    #[arg(long)]
    accept_loss: bool,
}

pub(super) fn promote(args: &PromoteArgs) -> ExitCode {
    use crate::archive::standby::PromoteError;
    let key = args.master_key_file.clone().unwrap_or_else(|| crate::config::default_master_key_file(&args.data_dir));
    match crate::archive::standby::promote(&args.data_dir, &key, args.accept_loss) {
        Ok(p) => {
            out!("promoted {}: lineage {} supersedes {}", args.data_dir.display(), p.lineage, p.supersedes);
            out!(
                "  applied: the primary's writes up to {}; audit log {} entries, verified (the primary shipped a checkpoint of {})",
                p.applied_seq,
                p.audit_size,
                p.acknowledged
            );
            out!("  erasure journal: {} certificate(s) applied again", p.certificates);
            if let Some(t) = p.newest_kept {
                let t = t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                out!("  newest write kept: {t} (the primary's newest log entry here; later writes are lost)");
            }
            if let Some(e) = &p.catch_up_error {
                out!("  WARNING: catching up stopped: {e}");
            }
            if p.lost.is_empty() {
                out!("  lost: nothing the primary acknowledged");
            } else {
                out!("  lost (accepted): versions of {} dossier(s): {}", p.lost.len(), p.lost.join(", "));
            }
            out!("  promote time: {:.3}s", p.took.as_secs_f64());
            out!(
                "  start it: custos serve --data-dir {} (the old primary refuses to serve from now on)",
                args.data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(PromoteError::Behind(why)) => {
            eprintln!("custos: not promoted: {why}");
            ExitCode::from(1)
        }
        Err(PromoteError::Other(e)) => {
            eprintln!("custos: not promoted: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the standby until SIGTERM or Ctrl-C.
pub(super) async fn serve(
    config: Config,
    from: Location,
    verifier_key: Option<String>,
    stop_signal: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let verifier_key = verifier_key.ok_or_else(|| {
        anyhow::anyhow!("--standby-of needs the primary's --verifier-key (GET /v1/audit/verifier-key)")
    })?;
    anyhow::ensure!(
        config.master_key_file.exists(),
        "the standby needs the primary's master key at {} (--master-key-file): it decrypts the stream with it",
        config.master_key_file.display()
    );
    crate::audit::checkpoint::NoteVerifier::parse(&verifier_key)
        .map_err(|e| anyhow::anyhow!("--verifier-key does not parse: {e}"))?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let lag =
        Arc::new(Mutex::new(Lag { role: "standby", state: "seeding", source: from.to_string(), ..Lag::default() }));
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let (lag, stop, data_dir, key) =
            (lag.clone(), stop.clone(), config.data_dir.clone(), config.master_key_file.clone());
        std::thread::Builder::new().name("custos-standby".into()).spawn(move || {
            // Until the target holds a set to seed from (the primary's
            // first), and whatever else stops the start: retried, shown.
            let mut logged = false;
            let mut standby = loop {
                match Standby::open(&from, &data_dir, &key, &verifier_key, lag.clone()) {
                    Ok(s) => break s,
                    Err(e) => {
                        if !logged {
                            tracing::error!(error = %e, "the standby cannot start yet; retrying every second");
                            logged = true;
                        }
                        if let Ok(mut l) = lag.lock() {
                            l.error = Some(e.to_string());
                        }
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(FOLLOW_EVERY);
            };
            tracing::info!(data_dir = %data_dir.display(), "standby following");
            let mut failing = false;
            while !stop.load(Ordering::Relaxed) {
                match standby.follow() {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("the standby follows again");
                    }
                    Err(e) if !failing => {
                        failing = true;
                        tracing::error!(error = %e, "the standby cannot follow; retrying every second");
                    }
                    _ => {}
                }
                std::thread::sleep(FOLLOW_EVERY);
            }
        })?
    };
    out!("custos standby of {}", lag.lock().map(|l| l.source.clone()).unwrap_or_default());
    out!("custos listening on http://{addr}");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, routes(lag))
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    stop_signal.await;
    stop.store(true, Ordering::Relaxed);
    let _ = tx.send(());
    server.await??;
    tokio::task::spawn_blocking(move || follower.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the standby thread panicked"))?;
    Ok(())
}
