//! Failed authentication, audited without growing the log without bound:
//! each failure (an unknown, expired or revoked token) is counted per client
//! address and minute in memory, and one `auth.fail` entry per address and
//! minute is written with the count once the minute is over (and at
//! shutdown). More than `BURST` failures from one address in a minute raise
//! an alert, `auth_failure_burst`.
//!
//! Requests the rate limiter refuses are counted the same way, per
//! principal and minute, into one `request.rate_limited` entry each: a
//! client hammering the API adds one entry a minute, not one per refusal
//! (which, synced, filled about 150 GB a day from one token). Past
//! `RATE_HARD_CAP` refusals in a minute the connection is closed as well.

use super::Identity;
use crate::archive::ArchiveError;
use crate::audit::{Action, Commit, EntryBody, Outcome};
use crate::domain::AlertId;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// Failures from one address in one minute above which an alert fires.
pub const BURST: u64 = 20;
/// Addresses counted at most per minute; the rest are counted together.
const MAX_SOURCES: usize = 10_000;
const OTHER: &str = "(other addresses)";

/// Failed authentications by (address, minute since the epoch).
pub type AuthFailures = HashMap<(String, i64), u64>;

/// Rate-limited requests of one principal in one minute past which each
/// further one also closes its connection.
pub const RATE_HARD_CAP: u64 = 1_000;
/// Principals whose refusals are counted apart per minute; the rest together.
const MAX_LIMITED: usize = 10_000;

impl Identity {
    /// Counts a failed authentication from `source` (the client's address).
    pub fn note_auth_failure(&self, source: Option<std::net::IpAddr>) {
        let minute = self.clock.now().unix_timestamp().div_euclid(60);
        let Ok(mut counts) = self.auth_failures.lock() else { return };
        let mut key = (source.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()), minute);
        if !counts.contains_key(&key) && counts.len() >= MAX_SOURCES {
            key.0 = OTHER.to_owned();
        }
        *counts.entry(key).or_default() += 1;
    }

    /// Counts a request the rate limiter refused; returns how many this
    /// principal has had refused in this minute (past `RATE_HARD_CAP` the
    /// edge closes the connection too).
    pub fn note_rate_refusal(&self, principal: &crate::domain::PrincipalId) -> u64 {
        let minute = self.clock.now().unix_timestamp().div_euclid(60);
        let Ok(mut counts) = self.rate_refusals.lock() else { return u64::MAX };
        let mut key = (principal.to_string(), minute);
        if !counts.contains_key(&key) && counts.len() >= MAX_LIMITED {
            key.0 = "(other principals)".to_owned();
        }
        let n = counts.entry(key).or_default();
        *n += 1;
        *n
    }

    /// Writes the entries of every minute that is over (every minute, at
    /// shutdown): one `auth.fail` entry per address and minute, and an alert
    /// for each burst. Returns the number of entries written.
    pub async fn flush_auth_failures(&self, all: bool) -> Result<usize, ArchiveError> {
        let now_minute = self.clock.now().unix_timestamp().div_euclid(60);
        let over = |map: &std::sync::Mutex<AuthFailures>| -> Vec<((String, i64), u64)> {
            let Ok(mut counts) = map.lock() else { return Vec::new() };
            let keys: Vec<(String, i64)> = counts.keys().filter(|(_, m)| all || *m < now_minute).cloned().collect();
            keys.into_iter().filter_map(|k| counts.remove(&k).map(|n| (k, n))).collect()
        };
        let done = over(&self.auth_failures);
        let limited = over(&self.rate_refusals);
        if done.is_empty() && limited.is_empty() {
            return Ok(0);
        }
        let (mut ops, mut entries) = (Vec::new(), Vec::new());
        for ((principal, minute), count) in &limited {
            let from = OffsetDateTime::from_unix_timestamp(minute * 60).map_err(anyhow::Error::from)?;
            let reason = format!("{count} request(s) refused by the rate limit in the minute from {from}");
            entries.push(EntryBody {
                actor: principal.clone(),
                outcome: Outcome::Deny,
                ..EntryBody::system(Action::RequestRateLimited, "", reason)
            });
        }
        for ((source, minute), count) in &done {
            let from = OffsetDateTime::from_unix_timestamp(minute * 60).map_err(anyhow::Error::from)?;
            let reason = format!(
                "{count} failed authentication(s) (unknown, expired or revoked token) from {source} in the minute from {from}"
            );
            entries.push(EntryBody {
                actor: format!("source:{source}"),
                outcome: Outcome::Deny,
                ..EntryBody::system(Action::AuthFail, "", reason)
            });
            if *count > BURST {
                let alert = crate::policy::alerts::Alert {
                    id: AlertId::generate().to_string(),
                    rule: "auth_failure_burst".into(),
                    description: format!("more than {BURST} failed authentications from {source} within a minute"),
                    actor: format!("source:{source}"),
                    window_start: from,
                    window_end: from + Duration::minutes(1),
                    window_seconds: 60,
                    count: *count,
                    threshold: BURST,
                };
                tracing::warn!(rule = %alert.rule, source = %source, count, "unusual access alert");
                ops.push(crate::archive::records::ALERTS.put_unguarded(&alert.id, &alert)?);
                let reason = format!("{}: {}", alert.rule, alert.description);
                entries.push(EntryBody {
                    request_id: alert.id.clone(),
                    ..EntryBody::system(Action::AuditAlert, &format!("source:{source}"), reason)
                });
            }
        }
        let n = done.len() + limited.len();
        self.audit.commit(Commit { ops, entries, ..Default::default() }).await?;
        Ok(n)
    }
}
