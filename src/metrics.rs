//! Prometheus metrics (OpenMetrics text at `/metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route template (`/v1/dossiers/{id}`), never the concrete path.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram>,
    pub audit_batches: Counter,
    pub audit_commits: Counter,
    pub audit_batch_size: Histogram,
    pub audit_commit_seconds: Histogram,
    /// The store write alone of each batch (WAL append, fsync, memtables).
    pub audit_sync_seconds: Histogram,
    pub backups: Family<BackupLabels, Counter>,
    /// Unix time of the last scheduled backup that succeeded / failed.
    pub backup_last_success: Gauge,
    pub backup_last_failure: Gauge,
    /// Dossiers past their review date (set by the grading job).
    pub reviews_overdue: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackupLabels {
    /// `ok` or `failed`.
    pub outcome: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("custos");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let audit_batches = Counter::default();
        let audit_commits = Counter::default();
        let audit_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        let audit_commit_seconds = Histogram::new(exponential_buckets(0.00005, 2.0, 16));
        let audit_sync_seconds = Histogram::new(exponential_buckets(0.00005, 2.0, 16));
        registry.register("http_requests", "HTTP requests by route and status", http_requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", http_duration.clone());
        registry.register("audit_batches", "Durable group-commit batches written", audit_batches.clone());
        registry.register(
            "audit_commits",
            "Commits (changes with their audit entries) made durable",
            audit_commits.clone(),
        );
        registry.register("audit_batch_commits", "Commits per group-commit batch", audit_batch_size.clone());
        registry.register(
            "audit_batch_write_seconds",
            "Time to build and sync one batch",
            audit_commit_seconds.clone(),
        );
        registry.register(
            "audit_batch_sync_seconds",
            "Time of the durable store write of one batch (WAL append, fsync and memtable inserts)",
            audit_sync_seconds.clone(),
        );
        let backups = Family::<BackupLabels, Counter>::default();
        let backup_last_success = Gauge::default();
        let backup_last_failure = Gauge::default();
        registry.register("backups", "Scheduled backups by outcome", backups.clone());
        registry.register(
            "backup_last_success_timestamp_seconds",
            "When the last scheduled backup succeeded (0: never)",
            backup_last_success.clone(),
        );
        registry.register(
            "backup_last_failure_timestamp_seconds",
            "When the last scheduled backup failed (0: never)",
            backup_last_failure.clone(),
        );
        let reviews_overdue = Gauge::default();
        registry.register(
            "reviews_overdue",
            "Dossiers past the review date of their grade's cycle",
            reviews_overdue.clone(),
        );
        Metrics {
            registry,
            reviews_overdue,
            backups,
            backup_last_success,
            backup_last_failure,
            http_requests,
            http_duration,
            audit_batches,
            audit_commits,
            audit_batch_size,
            audit_commit_seconds,
            audit_sync_seconds,
        }
    }
}

impl Metrics {
    pub fn set_reviews_overdue(&self, n: u64) {
        self.reviews_overdue.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A batch of `commits` made durable: `took` from the first job taken
    /// to the write's return, `sync` the store write alone.
    pub fn record_commit(&self, commits: usize, took: Duration, sync: Duration) {
        self.audit_batches.inc();
        self.audit_commits.inc_by(commits as u64);
        self.audit_batch_size.observe(commits as f64);
        self.audit_commit_seconds.observe(took.as_secs_f64());
        self.audit_sync_seconds.observe(sync.as_secs_f64());
    }

    /// A scheduled backup's outcome at `at`.
    pub fn record_backup(&self, ok: bool, at: time::OffsetDateTime) {
        let outcome = if ok { "ok" } else { "failed" };
        self.backups.get_or_create(&BackupLabels { outcome: outcome.into() }).inc();
        let gauge = if ok { &self.backup_last_success } else { &self.backup_last_failure };
        gauge.set(at.unix_timestamp());
    }

    /// Whether the last scheduled backup failed (for `/readyz`'s detail).
    pub fn backup_failing(&self) -> bool {
        self.backup_last_failure.get() > self.backup_last_success.get()
    }

    pub fn record_http(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels { method: method.to_owned(), route: route.to_owned(), status })
            .inc();
        self.http_duration.get_or_create(&RouteLabels { route: route.to_owned() }).observe(took.as_secs_f64());
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
