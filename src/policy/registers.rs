//! `policies/requests.toml` (when a data-subject request is due, by the law
//! of the person's residency; the reasons a refusal may give) and
//! `policies/incidents.toml` (the notification deadlines an incident
//! triggers).

use super::retention::Period;
use crate::domain::Jurisdiction;
use serde::Deserialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use toml::Spanned;

/// The due-date rule of one jurisdiction.
#[derive(Debug, Clone)]
pub struct RequestPeriod {
    /// The key it is written under (`EU`, `CN`, ...).
    pub jurisdiction: String,
    pub period: Period,
    pub extension: Option<Period>,
    pub citation: String,
}

#[derive(Debug, Clone)]
pub struct RefusalReason {
    pub description: String,
    pub citation: String,
}

#[derive(Debug, Clone)]
pub struct RequestRules {
    default: String,
    jurisdictions: BTreeMap<String, RequestPeriod>,
    pub refusal_reasons: BTreeMap<String, RefusalReason>,
    /// How long a portability package prepared for another handler may be
    /// collected (`handover_valid_hours`, 72 unless set).
    pub handover_valid_hours: u32,
    /// Whether a person's access report names the staff who acted
    /// (`access_report_staff_names`; by default only their role and
    /// department).
    pub access_report_staff_names: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeriod {
    period: Spanned<String>,
    #[serde(default)]
    extension: Option<Spanned<String>>,
    #[serde(default)]
    citation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReason {
    #[serde(default)]
    description: String,
    #[serde(default)]
    citation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequests {
    default: Spanned<String>,
    jurisdictions: BTreeMap<Spanned<String>, RawPeriod>,
    refusal_reasons: BTreeMap<Spanned<String>, RawReason>,
    #[serde(default)]
    handover_valid_hours: Option<Spanned<u32>>,
    #[serde(default)]
    access_report_staff_names: bool,
}

/// The collection window of a hand-over unless the file sets one.
const HANDOVER_VALID_HOURS: u32 = 72;

fn period(text: &str, s: &Spanned<String>) -> Result<Period, (usize, String)> {
    let p = Period::parse(s.get_ref()).map_err(|e| (super::line_of(text, s), e))?;
    if matches!(p, Period::Years(_)) {
        return Err((super::line_of(text, s), "a request period is in months (m) or days (d)".into()));
    }
    Ok(p)
}

impl RequestRules {
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let raw: RawRequests = super::parse_toml(text)?;
        let mut jurisdictions = BTreeMap::new();
        for (key, r) in raw.jurisdictions {
            let line = super::line_of(text, &key);
            let key = key.into_inner();
            Jurisdiction::parse(&key).map_err(|e| (line, format!("jurisdiction {key:?}: {e}")))?;
            if r.citation.trim().is_empty() {
                return Err((line, format!("jurisdiction {key} has no legal citation")));
            }
            let rule = RequestPeriod {
                jurisdiction: key.clone(),
                period: period(text, &r.period)?,
                extension: r.extension.as_ref().map(|e| period(text, e)).transpose()?,
                citation: r.citation,
            };
            jurisdictions.insert(key, rule);
        }
        if !jurisdictions.contains_key(raw.default.get_ref()) {
            let line = super::line_of(text, &raw.default);
            return Err((line, format!("default {:?} names no [jurisdictions] table", raw.default.get_ref())));
        }
        let mut refusal_reasons = BTreeMap::new();
        for (code, r) in raw.refusal_reasons {
            let line = super::line_of(text, &code);
            let code = code.into_inner();
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err((line, format!("reason code {code:?} must be lowercase letters and _")));
            }
            if r.citation.trim().is_empty() {
                return Err((line, format!("refusal reason {code} has no legal citation")));
            }
            refusal_reasons.insert(code, RefusalReason { description: r.description, citation: r.citation });
        }
        if refusal_reasons.is_empty() {
            return Err((1, "no [refusal_reasons]: a refusal must be able to give one".into()));
        }
        let handover_valid_hours = match raw.handover_valid_hours {
            None => HANDOVER_VALID_HOURS,
            Some(h) if (1..=720).contains(h.get_ref()) => h.into_inner(),
            Some(h) => {
                let line = super::line_of(text, &h);
                return Err((line, "handover_valid_hours is 1 to 720 (30 days)".into()));
            }
        };
        Ok(RequestRules {
            default: raw.default.into_inner(),
            jurisdictions,
            refusal_reasons,
            handover_valid_hours,
            access_report_staff_names: raw.access_report_staff_names,
        })
    }

    /// The rule for a person residing in `residency`: its own, else the
    /// EU's for a member state, else the default.
    pub fn for_residency(&self, residency: &Jurisdiction) -> &RequestPeriod {
        self.jurisdictions
            .get(residency.as_str())
            .or_else(|| residency.is_eu().then(|| self.jurisdictions.get("EU")).flatten())
            .or_else(|| self.jurisdictions.get(&self.default))
            .unwrap_or_else(|| unreachable_default())
    }
}

/// `parse` refuses a default without a table, so this is never reached; a
/// rule must still be returned without panicking.
fn unreachable_default() -> &'static RequestPeriod {
    static FALLBACK: std::sync::OnceLock<RequestPeriod> = std::sync::OnceLock::new();
    FALLBACK.get_or_init(|| RequestPeriod {
        jurisdiction: "CN".into(),
        period: Period::Days(15),
        extension: None,
        citation: "PIPL Art. 50".into(),
    })
}

/// `policies/exports.toml`: how many items one export may hold without a
/// second officer's approval.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRules {
    pub max_items: usize,
    pub valid_hours: u16,
    /// The window over which one principal's list exports add up
    /// (`GET /v1/dossiers/export`): many small exports within it count as
    /// one, against `max_items`.
    #[serde(default = "default_window_hours")]
    pub window_hours: u16,
    pub citation: String,
}

fn default_window_hours() -> u16 {
    24
}

impl ExportRules {
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let r: ExportRules = super::parse_toml(text)?;
        if r.citation.trim().is_empty() {
            return Err((1, "exports.toml has no legal citation".into()));
        }
        if r.valid_hours == 0 || r.window_hours == 0 {
            return Err((1, "valid_hours and window_hours must be positive".into()));
        }
        Ok(r)
    }
}

/// Whom a deadline says to notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// The supervisory authority / the competent department.
    Authority,
    /// The persons concerned.
    Persons,
}

/// From when a deadline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum From {
    Aware,
    Detected,
}

#[derive(Debug, Clone)]
pub struct Deadline {
    pub id: String,
    pub notify: Notify,
    pub jurisdictions: Vec<Jurisdiction>,
    pub levels: Vec<String>,
    pub from: From,
    pub within: time::Duration,
    pub warn_before: time::Duration,
    pub citation: String,
}

impl Deadline {
    /// Whether it applies to an incident of `level` concerning persons of
    /// `jurisdictions`.
    pub fn applies(&self, level: &str, jurisdictions: &[Jurisdiction]) -> bool {
        let concerns = self.jurisdictions.iter().any(|d| {
            jurisdictions
                .iter()
                .any(|j| j == d || (d.as_str() == "EU" && j.is_eu()) || (j.as_str() == "EU" && d.is_eu()))
        });
        concerns && (self.levels.is_empty() || self.levels.iter().any(|l| l == level))
    }

    pub fn due(&self, detected: OffsetDateTime, aware: OffsetDateTime) -> OffsetDateTime {
        match self.from {
            From::Aware => aware + self.within,
            From::Detected => detected + self.within,
        }
    }
}

#[derive(Debug, Clone)]
pub struct IncidentRules {
    pub levels: Vec<String>,
    pub deadlines: Vec<Deadline>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadline {
    id: Spanned<String>,
    notify: Notify,
    jurisdictions: Vec<String>,
    #[serde(default)]
    levels: Vec<String>,
    from: From,
    within: Spanned<String>,
    warn_before: Spanned<String>,
    #[serde(default)]
    citation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncidents {
    levels: Vec<String>,
    #[serde(default)]
    deadline: Vec<RawDeadline>,
}

fn hours(text: &str, s: &Spanned<String>) -> Result<time::Duration, (usize, String)> {
    let v = s.get_ref().trim();
    v.strip_suffix('h')
        .and_then(|n| n.parse::<u16>().ok())
        .map(|n| time::Duration::hours(n.into()))
        .ok_or_else(|| (super::line_of(text, s), format!("{v:?}: a number of hours, e.g. \"72h\"")))
}

impl IncidentRules {
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let raw: RawIncidents = super::parse_toml(text)?;
        if raw.levels.is_empty() {
            return Err((1, "levels: at least one incident level".into()));
        }
        let mut deadlines = Vec::new();
        for d in raw.deadline {
            let line = super::line_of(text, &d.id);
            let id = d.id.get_ref().clone();
            if d.citation.trim().is_empty() {
                return Err((line, format!("deadline {id} has no legal citation")));
            }
            if let Some(l) = d.levels.iter().find(|l| !raw.levels.contains(l)) {
                return Err((line, format!("deadline {id}: level {l:?} is not one of levels")));
            }
            let jurisdictions = d
                .jurisdictions
                .iter()
                .map(|j| Jurisdiction::parse(j).map_err(|e| (line, format!("deadline {id}: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            if jurisdictions.is_empty() {
                return Err((line, format!("deadline {id}: jurisdictions is empty")));
            }
            deadlines.push(Deadline {
                id,
                notify: d.notify,
                jurisdictions,
                levels: d.levels,
                from: d.from,
                within: hours(text, &d.within)?,
                warn_before: hours(text, &d.warn_before)?,
                citation: d.citation,
            });
        }
        Ok(IncidentRules { levels: raw.levels, deadlines })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED_REQUESTS: &str = include_str!("../../policies/requests.toml");
    const SHIPPED_INCIDENTS: &str = include_str!("../../policies/incidents.toml");

    #[test]
    fn a_member_state_follows_the_eu_rule_and_anyone_else_the_default() {
        let r = RequestRules::parse(SHIPPED_REQUESTS).unwrap();
        let j = |s: &str| Jurisdiction::parse(s).unwrap();
        assert_eq!(r.for_residency(&j("DE")).jurisdiction, "EU");
        assert_eq!(r.for_residency(&j("DE")).period, Period::Months(1));
        assert_eq!(r.for_residency(&j("DE")).extension, Some(Period::Months(2)));
        assert_eq!(r.for_residency(&j("CN")).period, Period::Days(15));
        assert_eq!(r.for_residency(&j("US")).jurisdiction, "CN");
        let jan31 = time::macros::datetime!(2027-01-31 10:00 UTC);
        assert_eq!(Period::Months(1).after(jan31).date(), time::macros::date!(2027 - 02 - 28));
        assert_eq!(Period::Months(1).after(time::macros::datetime!(2028-01-31 10:00 UTC)).day(), 29);
    }

    #[test]
    fn rules_without_citation_or_with_unknown_names_are_refused_with_their_line() {
        let no_citation = SHIPPED_REQUESTS.replace("citation = \"GDPR Art. 12(5)(b)\"\n", "");
        let (line, msg) = RequestRules::parse(&no_citation).unwrap_err();
        assert!(msg.contains("no legal citation"), "{msg}");
        assert!(line > 1);
        let bad_default = SHIPPED_REQUESTS.replace("default = \"CN\"", "default = \"US\"");
        assert!(RequestRules::parse(&bad_default).unwrap_err().1.contains("names no"));
        let years = SHIPPED_REQUESTS.replace("period = \"1m\"", "period = \"1y\"");
        assert!(RequestRules::parse(&years).is_err());
        assert_eq!(RequestRules::parse(SHIPPED_REQUESTS).unwrap().handover_valid_hours, 72);
        let no_window = SHIPPED_REQUESTS.replace("handover_valid_hours = 72\n", "");
        assert_ne!(no_window, SHIPPED_REQUESTS);
        assert_eq!(RequestRules::parse(&no_window).unwrap().handover_valid_hours, 72, "72 unless set");
        let forever = SHIPPED_REQUESTS.replace("handover_valid_hours = 72", "handover_valid_hours = 0");
        let (line, msg) = RequestRules::parse(&forever).unwrap_err();
        assert!(msg.contains("1 to 720"), "{msg}");
        assert_eq!(forever.lines().nth(line - 1), Some("handover_valid_hours = 0"), "the error names its line");
        let bad_level = SHIPPED_INCIDENTS.replace("levels = [\"relatively_major\"", "levels = [\"big\"");
        assert!(IncidentRules::parse(&bad_level).unwrap_err().1.contains("big"));
        let bad_hours = SHIPPED_INCIDENTS.replace("within = \"72h\"", "within = \"3 days\"");
        assert!(IncidentRules::parse(&bad_hours).is_err());
    }

    #[test]
    fn the_gdpr_deadline_concerns_eu_residents_and_the_prc_one_relatively_major_incidents() {
        let r = IncidentRules::parse(SHIPPED_INCIDENTS).unwrap();
        let j = |s: &str| Jurisdiction::parse(s).unwrap();
        let ids = |level: &str, js: &[Jurisdiction]| -> Vec<String> {
            r.deadlines.iter().filter(|d| d.applies(level, js)).map(|d| d.id.clone()).collect()
        };
        assert_eq!(ids("general", &[j("CN")]), Vec::<String>::new());
        assert_eq!(ids("major", &[j("CN")]), ["prc-cac-report"]);
        assert_eq!(ids("general", &[j("CN"), j("FR")]), ["gdpr-supervisory-authority"]);
        let gdpr = &r.deadlines[0];
        let aware = time::macros::datetime!(2027-03-01 08:00 UTC);
        assert_eq!(gdpr.due(aware - time::Duration::days(2), aware), aware + time::Duration::hours(72));
    }
}
