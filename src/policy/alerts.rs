//! `policies/alerts.toml` and the unusual-access rule engine.
//!
//! The engine is pure: it sees each durable audit entry once, in order, and
//! keeps per (rule, actor) sliding windows keyed by the entries' own times
//! (which come from the injected clock), so tests set the time instead of
//! waiting. `jobs::alerts` feeds it from the audit writer and records every
//! alert as an audit entry (`audit.alert`) plus an alert record.

use crate::audit::{AuditEntry, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use time::{Duration, OffsetDateTime};
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub id: String,
    pub description: String,
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub distinct: Option<Distinct>,
    pub window_seconds: u64,
    pub threshold: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distinct {
    Resource,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rules: Vec<AlertRule>,
}

/// The rules' ids with their place in the file, for error lines.
#[derive(Deserialize)]
struct Places {
    #[serde(default)]
    rules: Vec<Place>,
}

#[derive(Deserialize)]
struct Place {
    id: Spanned<String>,
}

/// Parses `alerts.toml`; errors carry the 1-based line.
pub fn parse_rules(text: &str) -> Result<Vec<AlertRule>, (usize, String)> {
    let file: File = super::parse_toml(text)?;
    let places: Places = super::parse_toml(text)?;
    let mut seen = std::collections::HashSet::new();
    for (r, place) in file.rules.iter().zip(&places.rules) {
        let line = super::line_of(text, &place.id);
        if r.id.is_empty() || !r.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err((line, format!("rule id {:?} must be lowercase letters, digits and _", r.id)));
        }
        if !seen.insert(r.id.clone()) {
            return Err((line, format!("rule id {} appears twice", r.id)));
        }
        if r.window_seconds == 0 || r.threshold == 0 {
            return Err((line, format!("rule {} needs a positive window_seconds and threshold", r.id)));
        }
    }
    Ok(file.rules)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub rule: String,
    pub description: String,
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub window_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub window_end: OffsetDateTime,
    pub window_seconds: u64,
    pub count: u64,
    pub threshold: u64,
}

impl Alert {
    /// An alert a job or an operation raises on its own, not from a
    /// window of audit entries: counted once, at `now`, by `actor` (empty
    /// for the system).
    pub fn once(rule: &str, actor: &str, description: String, now: OffsetDateTime) -> Alert {
        Alert {
            id: crate::domain::AlertId::generate().to_string(),
            rule: rule.into(),
            description,
            actor: actor.into(),
            window_start: now,
            window_end: now,
            window_seconds: 0,
            count: 1,
            threshold: 1,
        }
    }
}

#[derive(Default)]
struct Window {
    events: VecDeque<(OffsetDateTime, String)>,
    distinct: HashMap<String, u32>,
}

pub struct AlertEngine {
    rules: Vec<AlertRule>,
    windows: HashMap<(usize, String), Window>,
    last_raised: HashMap<(usize, String), OffsetDateTime>,
}

impl AlertEngine {
    pub fn new(rules: Vec<AlertRule>) -> Self {
        AlertEngine { rules, windows: HashMap::new(), last_raised: HashMap::new() }
    }

    /// The longest window of any rule (how much history a restart replays).
    pub fn max_window(&self) -> Duration {
        Duration::seconds(self.rules.iter().map(|r| r.window_seconds).max().unwrap_or(0) as i64)
    }

    /// Remembers an alert raised earlier (before a restart), so it is not
    /// raised again for the same window.
    pub fn note_raised(&mut self, rule: &str, actor: &str, at: OffsetDateTime) {
        if let Some(i) = self.rules.iter().position(|r| r.id == rule) {
            self.last_raised.insert((i, actor.to_owned()), at);
        }
    }

    /// Feeds one durable entry; returns the alerts it raises.
    pub fn observe(&mut self, e: &AuditEntry) -> Vec<Alert> {
        // INVARIANT: the system's own entries (alerts included) never count.
        if e.body.actor == "system" {
            return Vec::new();
        }
        let mut raised = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let matches = (rule.actions.is_empty() || rule.actions.iter().any(|a| a == &e.body.action))
                && rule.outcome.is_none_or(|o| o == e.body.outcome);
            if !matches {
                continue;
            }
            let window = Duration::seconds(rule.window_seconds as i64);
            let key = (i, e.body.actor.clone());
            let w = self.windows.entry(key.clone()).or_default();
            w.events.push_back((e.time, e.body.resource.clone()));
            *w.distinct.entry(e.body.resource.clone()).or_default() += 1;
            while let Some((t, _)) = w.events.front() {
                if *t > e.time - window {
                    break;
                }
                if let Some((_, r)) = w.events.pop_front() {
                    if let Some(c) = w.distinct.get_mut(&r) {
                        *c -= 1;
                        if *c == 0 {
                            w.distinct.remove(&r);
                        }
                    }
                }
            }
            let count = match rule.distinct {
                Some(Distinct::Resource) => w.distinct.len() as u64,
                None => w.events.len() as u64,
            };
            let quiet = self.last_raised.get(&key).is_none_or(|t| *t <= e.time - window);
            if count > rule.threshold && quiet {
                let start = w.events.front().map_or(e.time, |(t, _)| *t);
                self.last_raised.insert(key, e.time);
                raised.push(Alert {
                    id: format!("alr_{}", ulid::Ulid::new().to_string().to_lowercase()),
                    rule: rule.id.clone(),
                    description: rule.description.clone(),
                    actor: e.body.actor.clone(),
                    window_start: start,
                    window_end: e.time,
                    window_seconds: rule.window_seconds,
                    count,
                    threshold: rule.threshold,
                });
            }
        }
        // Forget actors whose windows have emptied.
        self.windows.retain(|_, w| !w.events.is_empty());
        raised
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<AlertRule> {
        crate::policy::PolicySet::embedded().unwrap().alerts
    }

    fn entry(actor: &str, action: &str, resource: &str, outcome: Outcome, at: OffsetDateTime) -> AuditEntry {
        let mut e = crate::audit::entry_for_tests(0);
        e.body.actor = actor.into();
        e.body.action = action.into();
        e.body.resource = resource.into();
        e.body.outcome = outcome;
        e.time = at;
        e
    }

    #[test]
    fn more_than_fifty_distinct_dossiers_in_ten_minutes_alerts_once() {
        let mut eng = AlertEngine::new(rules());
        let t0 = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let mut alerts = vec![];
        // 50 distinct dossiers, each read twice, over 9 minutes: no alert.
        for i in 0..100 {
            let at = t0 + Duration::seconds(i * 5);
            alerts.extend(eng.observe(&entry("prn_a", "dossier.read", &format!("dos_{}", i % 50), Outcome::Allow, at)));
        }
        assert!(alerts.is_empty(), "{alerts:?}");
        // The 51st distinct one within the window fires, once.
        let at = t0 + Duration::seconds(500);
        alerts.extend(eng.observe(&entry("prn_a", "dossier.read", "dos_new", Outcome::Allow, at)));
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            (alerts[0].rule.as_str(), alerts[0].actor.as_str(), alerts[0].count),
            ("bulk_dossier_reads", "prn_a", 51)
        );
        assert_eq!(alerts[0].window_start, t0);
        alerts.extend(eng.observe(&entry(
            "prn_a",
            "dossier.read",
            "dos_more",
            Outcome::Allow,
            at + Duration::seconds(1),
        )));
        assert_eq!(alerts.len(), 1, "no storm within the same window");
        // Another actor is counted separately; the system never.
        let mut b = vec![];
        for i in 0..60 {
            b.extend(eng.observe(&entry("prn_b", "dossier.read", &format!("dos_{i}"), Outcome::Deny, at)));
            assert!(eng.observe(&entry("system", "dossier.read", &format!("dos_{i}"), Outcome::Allow, at)).is_empty());
        }
        // Refused reads are not bulk reads; they are repeated denials.
        assert_eq!(b.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(), vec!["repeated_denials"]);
    }

    #[test]
    fn reads_spread_beyond_the_window_do_not_alert() {
        let mut eng = AlertEngine::new(rules());
        let t0 = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        for i in 0..200 {
            let at = t0 + Duration::seconds(i * 13); // 46 reads per 10 minutes
            assert!(
                eng.observe(&entry("prn_a", "dossier.read", &format!("dos_{i}"), Outcome::Allow, at)).is_empty(),
                "{i}"
            );
        }
    }

    #[test]
    fn repeated_denials_alert_and_rearm_after_the_window() {
        let mut eng = AlertEngine::new(rules());
        let t0 = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let mut alerts = vec![];
        for i in 0..11 {
            alerts.extend(eng.observe(&entry(
                "prn_x",
                "dossier.update",
                "dos_1",
                Outcome::Deny,
                t0 + Duration::seconds(i),
            )));
        }
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule, "repeated_denials");
        let later = t0 + Duration::minutes(20);
        for i in 0..11 {
            alerts.extend(eng.observe(&entry(
                "prn_x",
                "dossier.read",
                "dos_1",
                Outcome::Deny,
                later + Duration::seconds(i),
            )));
        }
        assert_eq!(alerts.len(), 2, "a new window raises a new alert");
        // A restart that remembers the alert does not raise it again.
        let mut eng = AlertEngine::new(rules());
        eng.note_raised("repeated_denials", "prn_x", later);
        for i in 0..11 {
            assert!(eng
                .observe(&entry("prn_x", "dossier.read", "dos_1", Outcome::Deny, later + Duration::seconds(30 + i)))
                .is_empty());
        }
    }

    #[test]
    fn bad_rules_name_their_line() {
        let (line, msg) =
            parse_rules("[[rules]]\nid = \"x\"\ndescription = \"d\"\nwindow_seconds = 0\nthreshold = 1\n").unwrap_err();
        assert_eq!(line, 2, "{msg}");
        let (line, _) = parse_rules(
            "[[rules]]\nid = \"x\"\ndescription = \"d\"\nwindow_seconds = 5\nthreshold = 1\noutcome = \"maybe\"\n",
        )
        .unwrap_err();
        assert_eq!(line, 6);
    }
}
