//! `policies/compliance_audits.toml`: how often each kind of compliance
//! engagement is due (PIPL Art. 54, the 2025 compliance-audit Measures,
//! NDSMR Art. 27; the yearly risk assessment of important data, NDSMR Art.
//! 30-33), and how early the deadline job reminds of it. Pure: the dates
//! come in, the due day goes out.

use super::retention::Period;
use serde::{Deserialize, Serialize};
use time::Date;
use toml::Spanned;

/// The kinds of engagement the register keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EngagementKind {
    /// A personal-information protection compliance audit (PIPL Art. 54).
    PiCompliance,
    /// The yearly risk assessment of important data (NDSMR Art. 30, 33).
    ImportantDataRisk,
}

impl EngagementKind {
    pub const ALL: [EngagementKind; 2] = [EngagementKind::PiCompliance, EngagementKind::ImportantDataRisk];

    pub fn as_str(self) -> &'static str {
        match self {
            EngagementKind::PiCompliance => "pi_compliance",
            EngagementKind::ImportantDataRisk => "important_data_risk",
        }
    }
}

/// The schedule of one kind.
#[derive(Debug, Clone)]
pub struct Cadence {
    pub every: Period,
    /// With none completed: due this long after the schedule was first
    /// checked; `None`: at once.
    pub first_within: Option<Period>,
    pub remind_before_days: u32,
    pub citation: String,
}

impl Cadence {
    /// The day the next engagement is due: `every` after the last one
    /// completed, else `first_within` after `since`.
    pub fn due(&self, last_completed: Option<Date>, since: Date) -> Date {
        let after = |p: Period, d: Date| p.after(d.midnight().assume_utc()).date();
        match (last_completed, self.first_within) {
            (Some(last), _) => after(self.every, last),
            (None, Some(first)) => after(first, since),
            (None, None) => since,
        }
    }

    /// The first day of the reminder before `due`.
    pub fn remind_from(&self, due: Date) -> Date {
        due - time::Duration::days(i64::from(self.remind_before_days))
    }
}

/// `policies/compliance_audits.toml`.
#[derive(Debug, Clone)]
pub struct AuditSchedule {
    pub pi_compliance: Cadence,
    pub important_data_risk: Cadence,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    pi_compliance: Spanned<RawCadence>,
    important_data_risk: Spanned<RawCadence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCadence {
    every: Spanned<String>,
    #[serde(default)]
    first_within: Option<Spanned<String>>,
    remind_before_days: Spanned<i64>,
    citation: String,
}

fn cadence(text: &str, name: &str, raw: Spanned<RawCadence>) -> Result<Cadence, (usize, String)> {
    let line = super::line_of(text, &raw);
    let raw = raw.into_inner();
    let period = |s: &Spanned<String>| Period::parse(s.get_ref()).map_err(|e| (super::line_of(text, s), e));
    let every = period(&raw.every)?;
    let first_within = raw.first_within.as_ref().map(period).transpose()?;
    let remind_before_days = u32::try_from(*raw.remind_before_days.get_ref())
        .ok()
        .filter(|d| (1..=366).contains(d))
        .ok_or_else(|| (super::line_of(text, &raw.remind_before_days), "remind_before_days from 1 to 366".into()))?;
    if raw.citation.trim().is_empty() {
        return Err((line, format!("[{name}] needs its citation")));
    }
    Ok(Cadence { every, first_within, remind_before_days, citation: raw.citation })
}

impl AuditSchedule {
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let raw: RawFile = super::parse_toml(text)?;
        let pi_compliance = cadence(text, "pi_compliance", raw.pi_compliance)?;
        let important_data_risk = cadence(text, "important_data_risk", raw.important_data_risk)?;
        if pi_compliance.every.approx_days() > 2 * 365 {
            // Over 10 million persons the Measures allow two years at most;
            // custos does not know the count ahead, so it never allows more.
            return Err((1, "[pi_compliance] every is at most 2y (compliance-audit Measures, CAC 2025)".into()));
        }
        if important_data_risk.every.approx_days() > 365 {
            return Err((1, "[important_data_risk] every is at most 1y (NDSMR Art. 33: yearly)".into()));
        }
        Ok(AuditSchedule { pi_compliance, important_data_risk })
    }

    pub fn cadence(&self, kind: EngagementKind) -> &Cadence {
        match kind {
            EngagementKind::PiCompliance => &self.pi_compliance,
            EngagementKind::ImportantDataRisk => &self.important_data_risk,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const SHIPPED: &str = include_str!("../../policies/compliance_audits.toml");

    #[test]
    fn the_next_engagement_is_due_after_the_last_completed_or_the_first_window() {
        let s = AuditSchedule::parse(SHIPPED).unwrap();
        let pi = s.cadence(EngagementKind::PiCompliance);
        assert_eq!(pi.due(Some(date!(2025 - 03 - 31)), date!(2026 - 12 - 01)), date!(2027 - 03 - 31));
        assert_eq!(pi.due(None, date!(2026 - 12 - 01)), date!(2028 - 12 - 01));
        assert_eq!(pi.remind_from(date!(2027 - 03 - 31)), date!(2027 - 01 - 30));
        let risk = s.cadence(EngagementKind::ImportantDataRisk);
        assert_eq!(risk.due(None, date!(2026 - 12 - 01)), date!(2026 - 12 - 01), "the first is due at once");
        assert_eq!(risk.due(Some(date!(2026 - 02 - 28)), date!(2026 - 12 - 01)), date!(2027 - 02 - 28));
    }

    #[test]
    fn a_schedule_beyond_the_law_or_without_citation_is_refused_with_its_line() {
        let long = SHIPPED.replace("every = \"2y\"", "every = \"3y\"");
        assert!(AuditSchedule::parse(&long).unwrap_err().1.contains("at most 2y"));
        let late = SHIPPED.replace("every = \"1y\"", "every = \"13m\"");
        assert!(AuditSchedule::parse(&late).unwrap_err().1.contains("yearly"));
        let zero = SHIPPED.replace("remind_before_days = 60", "remind_before_days = 0");
        let (line, msg) = AuditSchedule::parse(&zero).unwrap_err();
        assert_eq!(line, SHIPPED.lines().position(|l| l == "remind_before_days = 60").unwrap() + 1, "{msg}");
        let bad = SHIPPED.replace("every = \"2y\"", "every = \"2w\"");
        assert!(AuditSchedule::parse(&bad).unwrap_err().1.contains("unit"));
        let unknown = SHIPPED.replace("[important_data_risk]\n", "[important_data_risk]\nowner = \"x\"\n");
        assert!(AuditSchedule::parse(&unknown).unwrap_err().1.contains("owner"));
    }
}
