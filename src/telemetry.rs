//! Structured logs (tracing). Never a personal value, key or token: fields
//! are ids, routes, statuses and counts.
//!
//! By default custos's own events at INFO and other crates' at WARN (tantivy
//! logs every segment merge at INFO); `CUSTOS_LOG` takes any `EnvFilter`
//! directive (e.g. `custos=debug` shows every request's span and status).

use tracing_subscriber::EnvFilter;

/// The filter when `CUSTOS_LOG` is not set.
pub const DEFAULT_FILTER: &str = "warn,custos=info";

pub fn init() {
    let filter = EnvFilter::try_from_env("CUSTOS_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = std::env::var("CUSTOS_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
