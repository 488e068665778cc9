//! `policies/retention.toml`: retention rules (record class, trigger,
//! period, action, approval, citation) and the audit-log floor. Pure: the
//! sweep that applies them is `archive::retention`.

use super::PolicyError;
use crate::domain::dossier::Status;
use serde::Deserialize;
use std::path::Path;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Covers {
    Dossier,
    Contact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Created,
    RelationshipEnd,
    ConsentWithdrawn,
    LastActivity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAction {
    Destroy,
    Erase,
    Keep,
}

/// A calendar period: years, months or days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Years(u32),
    Months(u32),
    Days(u32),
}

impl Period {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: u32 = n.parse().map_err(|_| format!("period {s:?}: a number and a unit (y, m, d), e.g. \"3y\""))?;
        if n == 0 {
            return Err(format!("period {s:?} must be positive"));
        }
        match unit {
            "y" => Ok(Period::Years(n)),
            "m" => Ok(Period::Months(n)),
            "d" => Ok(Period::Days(n)),
            _ => Err(format!("period {s:?}: unit must be y, m or d")),
        }
    }

    /// `t` plus this period; the day is clamped to the end of a shorter month
    /// (31 January + 1 month = 28/29 February).
    pub fn after(self, t: OffsetDateTime) -> OffsetDateTime {
        let months = match self {
            Period::Days(d) => return t + time::Duration::days(d as i64),
            Period::Years(y) => y as i64 * 12,
            Period::Months(m) => m as i64,
        };
        let total = t.year() as i64 * 12 + (t.month() as i64 - 1) + months;
        let (year, month0) = (total.div_euclid(12) as i32, total.rem_euclid(12) as u8);
        let Ok(month) = time::Month::try_from(month0 + 1) else { return t };
        let day = t.day().min(month.length(year));
        time::Date::from_calendar_date(year, month, day).map_or(t, |d| t.replace_date(d))
    }

    /// Roughly, in days (for comparing floors).
    pub fn approx_days(self) -> u32 {
        match self {
            Period::Years(y) => y * 365,
            Period::Months(m) => m * 30,
            Period::Days(d) => d,
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Period::Years(n) => write!(f, "{n}y"),
            Period::Months(n) => write!(f, "{n}m"),
            Period::Days(n) => write!(f, "{n}d"),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    #[serde(default)]
    pub status: Vec<Status>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    #[serde(default)]
    description: String,
    covers: Covers,
    #[serde(default)]
    when: When,
    trigger: Trigger,
    period: String,
    action: RetentionAction,
    #[serde(default)]
    approval: bool,
    #[serde(default)]
    citation: String,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub description: String,
    pub covers: Covers,
    pub when: When,
    pub trigger: Trigger,
    pub period: Period,
    pub action: RetentionAction,
    pub approval: bool,
    pub citation: String,
}

impl Rule {
    /// Whether the rule applies to a dossier in `status`.
    pub fn applies_to(&self, status: Status) -> bool {
        self.when.status.is_empty() || self.when.status.contains(&status)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    minimum: String,
    citation: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    audit: RawAudit,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Debug, Clone)]
pub struct RetentionRules {
    pub rules: Vec<Rule>,
    /// How long audit entries are kept at least (custos itself never deletes them).
    pub audit_minimum: Period,
    pub audit_citation: String,
}

/// PIPL Art. 56: records of processing at least three years; the
/// Cybersecurity Law's six months for network logs is below it.
const AUDIT_FLOOR_DAYS: u32 = 3 * 365;

impl RetentionRules {
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        super::load_file(path, Self::parse)
    }

    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let file: File = super::parse_toml(text)?;
        let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).map_or(1, |i| i + 1);
        let audit_minimum = Period::parse(&file.audit.minimum).map_err(|e| (line_of("minimum"), e))?;
        if audit_minimum.approx_days() < AUDIT_FLOOR_DAYS {
            return Err((
                line_of("minimum"),
                format!("audit minimum {audit_minimum} is below the legal floor of 3 years (PIPL Art. 56)"),
            ));
        }
        if file.audit.citation.trim().is_empty() {
            return Err((line_of("[audit]"), "the audit minimum needs a citation".into()));
        }
        let mut rules: Vec<Rule> = Vec::new();
        for r in file.rule {
            let line = line_of(&format!("\"{}\"", r.id));
            if r.id.is_empty() || !r.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err((line, format!("rule id {:?}: lowercase letters, digits and -", r.id)));
            }
            if rules.iter().any(|x| x.id == r.id) {
                return Err((line, format!("rule id {} is used twice", r.id)));
            }
            if r.citation.trim().is_empty() {
                return Err((line, format!("rule {} has no legal citation", r.id)));
            }
            let period = Period::parse(&r.period).map_err(|e| (line, format!("rule {}: {e}", r.id)))?;
            match (r.covers, r.action) {
                (Covers::Dossier, RetentionAction::Erase) => {
                    return Err((line, format!("rule {}: a dossier is destroyed (or kept), not erased", r.id)))
                }
                (Covers::Contact, RetentionAction::Destroy) => {
                    return Err((line, format!("rule {}: a contact is erased (or kept), not destroyed", r.id)))
                }
                _ => {}
            }
            if r.trigger == Trigger::ConsentWithdrawn && r.covers != Covers::Contact {
                return Err((line, format!("rule {}: consent_withdrawn applies to contacts", r.id)));
            }
            rules.push(Rule {
                id: r.id,
                description: r.description,
                covers: r.covers,
                when: r.when,
                trigger: r.trigger,
                period,
                action: r.action,
                approval: r.approval,
                citation: r.citation,
            });
        }
        Ok(RetentionRules { rules, audit_minimum, audit_citation: file.audit.citation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const AUDIT: &str = "[audit]\nminimum = \"3y\"\ncitation = \"PIPL Art. 56\"\n";

    #[test]
    fn shipped_rules_load() {
        let r = RetentionRules::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/retention.toml")).unwrap();
        assert!(r.rules.iter().any(|r| r.id == "closed-customer" && r.period == Period::Years(3) && r.approval));
        assert!(r.rules.iter().any(|r| r.id == "inactive-prospect" && r.period == Period::Years(1)));
    }

    #[test]
    fn refuses_a_rule_without_citation_and_a_short_audit_floor() {
        let rule = "[[rule]]\nid = \"x\"\ncovers = \"dossier\"\ntrigger = \"created\"\nperiod = \"1y\"\naction = \"destroy\"\n";
        let (line, msg) = RetentionRules::parse(&format!("{AUDIT}{rule}")).unwrap_err();
        assert!(msg.contains("citation"), "{msg}");
        assert_eq!(line, 5);
        let short = "[audit]\nminimum = \"6m\"\ncitation = \"CSL\"\n";
        let (line, msg) = RetentionRules::parse(short).unwrap_err();
        assert_eq!(line, 2);
        assert!(msg.contains("3 years"), "{msg}");
        let bad = format!("{AUDIT}[[rule]]\nid = \"x\"\ncovers = \"dossier\"\ntrigger = \"created\"\nperiod = \"3w\"\naction = \"destroy\"\ncitation = \"c\"\n");
        assert!(RetentionRules::parse(&bad).unwrap_err().1.contains("unit"));
        let erase_dossier = format!("{AUDIT}[[rule]]\nid = \"x\"\ncovers = \"dossier\"\ntrigger = \"created\"\nperiod = \"3y\"\naction = \"erase\"\ncitation = \"c\"\n");
        assert!(RetentionRules::parse(&erase_dossier).is_err());
    }

    #[test]
    fn calendar_periods() {
        assert_eq!(Period::Months(1).after(datetime!(2026-01-31 10:00 UTC)), datetime!(2026-02-28 10:00 UTC));
        assert_eq!(Period::Years(1).after(datetime!(2028-02-29 00:00 UTC)), datetime!(2029-02-28 00:00 UTC));
        assert_eq!(Period::Years(3).after(datetime!(2026-11-23 12:00 UTC)), datetime!(2029-11-23 12:00 UTC));
        assert_eq!(Period::Days(30).after(datetime!(2026-11-23 12:00 UTC)), datetime!(2026-12-23 12:00 UTC));
        assert_eq!(Period::Months(14).after(datetime!(2026-11-30 00:00 UTC)), datetime!(2028-01-30 00:00 UTC));
    }
}
