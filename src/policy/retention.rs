//! `policies/retention.toml`: retention rules (record class, trigger,
//! period, action, approval, citation) and the audit-log floor, and the pure
//! decision of what they make due ([`due`]) and what keeps a record
//! ([`keeping`]). The store is read, and the sweep run, by
//! `archive::retention`.

use crate::domain::dossier::Status;
use crate::domain::{DossierId, Jurisdiction, SubjectId};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use time::OffsetDateTime;
use toml::Spanned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Covers {
    Dossier,
    Contact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Created,
    RelationshipEnd,
    ConsentWithdrawn,
    LastActivity,
    /// A periodic review found the contact person lost (contacts only).
    ContactLost,
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
    id: Spanned<String>,
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
    /// The law a keep rule rests on (CN, EU or a member state).
    #[serde(default)]
    law: Option<String>,
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
    /// Whose law a keep rule rests on: it blocks the erasure only of a
    /// person that law governs (GDPR Art. 17(3)(b): for an EU resident,
    /// Union or member-state law only).
    pub law: Option<Jurisdiction>,
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
    minimum: Spanned<String>,
    citation: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    audit: Spanned<RawAudit>,
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
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let file: File = super::parse_toml(text)?;
        let audit = file.audit.get_ref();
        let minimum_line = super::line_of(text, &audit.minimum);
        let audit_minimum = Period::parse(audit.minimum.get_ref()).map_err(|e| (minimum_line, e))?;
        if audit_minimum.approx_days() < AUDIT_FLOOR_DAYS {
            return Err((
                minimum_line,
                format!("audit minimum {audit_minimum} is below the legal floor of 3 years (PIPL Art. 56)"),
            ));
        }
        if audit.citation.get_ref().trim().is_empty() {
            return Err((super::line_of(text, &audit.citation), "the audit minimum needs a citation".into()));
        }
        let audit_citation = audit.citation.get_ref().clone();
        let mut rules: Vec<Rule> = Vec::new();
        for r in file.rule {
            let line = super::line_of(text, &r.id);
            let id = r.id.get_ref().clone();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err((line, format!("rule id {:?}: lowercase letters, digits and -", id)));
            }
            if rules.iter().any(|x| x.id == id) {
                return Err((line, format!("rule id {} is used twice", id)));
            }
            if r.citation.trim().is_empty() {
                return Err((line, format!("rule {} has no legal citation", id)));
            }
            let period = Period::parse(&r.period).map_err(|e| (line, format!("rule {}: {e}", id)))?;
            match (r.covers, r.action) {
                (Covers::Dossier, RetentionAction::Erase) => {
                    return Err((line, format!("rule {}: a dossier is destroyed (or kept), not erased", id)))
                }
                (Covers::Contact, RetentionAction::Destroy) => {
                    return Err((line, format!("rule {}: a contact is erased (or kept), not destroyed", id)))
                }
                _ => {}
            }
            if matches!(r.trigger, Trigger::ConsentWithdrawn | Trigger::ContactLost) && r.covers != Covers::Contact {
                return Err((line, format!("rule {}: consent_withdrawn and contact_lost apply to contacts", id)));
            }
            let law = match r.law.as_deref().map(Jurisdiction::parse) {
                None if r.action == RetentionAction::Keep && r.covers == Covers::Contact => {
                    return Err((
                        line,
                        format!(
                            "rule {id}: a keep rule covering contacts names the law it rests on (law = \"CN\", \"EU\" or a member state): it blocks only the erasure of persons that law governs (GDPR Art. 17(3)(b))"
                        ),
                    ))
                }
                None => None,
                Some(Ok(j)) if j.may_hold() && r.action == RetentionAction::Keep => Some(j),
                Some(Ok(_)) if r.action != RetentionAction::Keep => {
                    return Err((line, format!("rule {id}: law applies to keep rules only")))
                }
                Some(_) => {
                    return Err((line, format!("rule {id}: law is CN, EU or an EU member state's code")));
                }
            };
            rules.push(Rule {
                law,
                id,
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
        Ok(RetentionRules { rules, audit_minimum, audit_citation })
    }
}

/// What a retention item acts on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    Dossier(DossierId),
    Subject(SubjectId),
}

/// What retention may know of a live dossier: no personal value.
#[derive(Debug, Clone)]
pub struct DossierFacts {
    pub id: DossierId,
    pub status: Status,
    pub created_at: OffsetDateTime,
    /// The last change (the `last_activity` trigger).
    pub updated_at: OffsetDateTime,
    /// When the customer relationship ended (`relationship_end`).
    pub ended_at: Option<OffsetDateTime>,
    /// Active legal holds on it.
    pub holds: Vec<String>,
}

impl DossierFacts {
    fn time_of(&self, t: Trigger) -> Option<OffsetDateTime> {
        match t {
            Trigger::Created => Some(self.created_at),
            Trigger::RelationshipEnd => self.ended_at,
            Trigger::LastActivity => Some(self.updated_at),
            Trigger::ConsentWithdrawn | Trigger::ContactLost => None,
        }
    }
}

/// What retention may know of a contact person (a data subject not erased)
/// and of the live dossiers that name them (borrowed where the caller keeps
/// them, so that deciding over every person copies none).
#[derive(Debug, Clone)]
pub struct ContactFacts<'a> {
    pub id: Cow<'a, SubjectId>,
    pub created_at: OffsetDateTime,
    /// The last consent withdrawal.
    pub last_withdrawal_at: Option<OffsetDateTime>,
    /// Whether any consent is still live (then `consent_withdrawn` has not
    /// yet happened for the person as a whole).
    pub has_live_consent: bool,
    /// When a review found the person lost as a contact.
    pub lost_at: Option<OffsetDateTime>,
    pub dossiers: Vec<Cow<'a, DossierFacts>>,
}

impl ContactFacts<'_> {
    fn statuses(&self) -> Vec<Status> {
        self.dossiers.iter().map(|d| d.status).collect()
    }

    /// The trigger times that start a contact's periods. `consent_withdrawn`
    /// counts for making erasure due only once no consent is live; for a
    /// keep rule blocking an erasure, the last withdrawal counts whatever.
    fn time_of(&self, t: Trigger, for_due: bool) -> Option<OffsetDateTime> {
        match t {
            Trigger::Created => Some(self.created_at),
            Trigger::ConsentWithdrawn if for_due && self.has_live_consent => None,
            Trigger::ConsentWithdrawn => self.last_withdrawal_at,
            Trigger::ContactLost => self.lost_at,
            Trigger::LastActivity => self.dossiers.iter().map(|d| d.updated_at).max(),
            Trigger::RelationshipEnd => {
                self.dossiers.iter().map(|d| d.ended_at).collect::<Option<Vec<_>>>().and_then(|v| v.into_iter().max())
            }
        }
    }

    fn holds(&self) -> impl Iterator<Item = &String> {
        self.dossiers.iter().flat_map(|d| d.holds.iter())
    }
}

/// One thing the rules make due, and what blocks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub target: Target,
    pub rule: String,
    pub citation: String,
    pub action: RetentionAction,
    pub approval: bool,
    pub trigger: Trigger,
    pub trigger_at: OffsetDateTime,
    pub due_at: OffsetDateTime,
    /// Hold ids (`hold_...`) and keep rules (`rule:<id>`) that block it.
    pub blocked_by: Vec<String>,
}

impl RetentionRules {
    /// Keep rules covering `covers` that still protect a record whose
    /// dossiers have `statuses` and whose trigger times `time_of` gives.
    pub fn keeping(
        &self,
        covers: Covers,
        statuses: &[Status],
        time_of: &dyn Fn(Trigger) -> Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Vec<String> {
        self.keeping_rules(covers, statuses, time_of, now).map(|r| format!("rule:{}", r.id)).collect()
    }

    fn keeping_rules<'a>(
        &'a self,
        covers: Covers,
        statuses: &'a [Status],
        time_of: &'a dyn Fn(Trigger) -> Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules
            .iter()
            .filter(move |r| r.action == RetentionAction::Keep && r.covers == covers)
            .filter(|r| statuses.iter().all(|s| r.applies_to(*s)))
            .filter(move |r| time_of(r.trigger).is_some_and(|t| r.period.after(t) > now))
    }

    /// The keep rules that block erasing a contact residing in
    /// `residency` now: those resting on a law that governs them.
    pub fn keeping_contact(&self, c: &ContactFacts<'_>, residency: &Jurisdiction, now: OffsetDateTime) -> Vec<String> {
        let statuses = c.statuses();
        self.keeping_rules(Covers::Contact, &statuses, &|t| c.time_of(t, false), now)
            .filter(|r| r.law.as_ref().is_none_or(|law| law.hold_blocks_erasure_of(residency)))
            .map(|r| format!("rule:{}", r.id))
            .collect()
    }

    fn finding(&self, rule: &Rule, target: Target, trigger_at: OffsetDateTime, blocked_by: Vec<String>) -> Finding {
        Finding {
            target,
            rule: rule.id.clone(),
            citation: rule.citation.clone(),
            action: rule.action,
            approval: rule.approval,
            trigger: rule.trigger,
            trigger_at,
            due_at: rule.period.after(trigger_at),
            blocked_by,
        }
    }

    /// Whether the first destroy rule that applies makes `d` due at `now`.
    pub fn dossier_due(&self, d: &DossierFacts, now: OffsetDateTime) -> Option<Finding> {
        let rule = self.rules.iter().find(|r| {
            r.covers == Covers::Dossier
                && r.action == RetentionAction::Destroy
                && r.applies_to(d.status)
                && d.time_of(r.trigger).is_some_and(|t| r.period.after(t) <= now)
        })?;
        let trigger_at = d.time_of(rule.trigger)?;
        let mut blocked = d.holds.clone();
        blocked.extend(self.keeping(Covers::Dossier, &[d.status], &|t| d.time_of(t), now));
        Some(self.finding(rule, Target::Dossier(d.id.clone()), trigger_at, blocked))
    }

    /// Whether some erase rule could make a person with `c`'s own facts
    /// due, whatever their dossiers (`c.dossiers` is not read): a rule
    /// whose trigger is the person's own needs its time; one whose trigger
    /// is their dossiers' (last activity, relationship end) always could.
    /// When false, [`RetentionRules::contact_due`] is `None` for any
    /// dossiers, so a caller need not gather them.
    pub fn contact_could_be_due(&self, c: &ContactFacts<'_>) -> bool {
        self.rules.iter().filter(|r| r.covers == Covers::Contact && r.action == RetentionAction::Erase).any(|r| match r
            .trigger
        {
            Trigger::LastActivity | Trigger::RelationshipEnd => true,
            t => c.time_of(t, true).is_some(),
        })
    }

    /// Whether the first erase rule that applies to every dossier naming
    /// `c` makes the person due at `now`.
    pub fn contact_due(&self, c: &ContactFacts<'_>, now: OffsetDateTime) -> Option<Finding> {
        let rule = self.rules.iter().find(|r| {
            r.covers == Covers::Contact
                && r.action == RetentionAction::Erase
                && c.dossiers.iter().all(|d| r.applies_to(d.status))
                && c.time_of(r.trigger, true).is_some_and(|t| r.period.after(t) <= now)
        })?;
        let statuses = c.statuses();
        let trigger_at = c.time_of(rule.trigger, true)?;
        let mut blocked: Vec<String> = c.holds().cloned().collect();
        blocked.extend(self.keeping(Covers::Contact, &statuses, &|t| c.time_of(t, true), now));
        Some(self.finding(rule, Target::Subject(c.id.clone().into_owned()), trigger_at, blocked))
    }
}

/// Everything the rules make due at `now`: dossiers first, then contacts,
/// each with what blocks it. Pure: the facts are all it sees.
pub fn due<'a>(
    rules: &RetentionRules,
    dossiers: impl IntoIterator<Item = &'a DossierFacts>,
    contacts: impl IntoIterator<Item = ContactFacts<'a>>,
    now: OffsetDateTime,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = dossiers.into_iter().filter_map(|d| rules.dossier_due(d, now)).collect();
    out.extend(contacts.into_iter().filter_map(|c| rules.contact_due(&c, now)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DossierId, SubjectId};
    use time::macros::datetime;

    const AUDIT: &str = "[audit]\nminimum = \"3y\"\ncitation = \"PIPL Art. 56\"\n";

    #[test]
    fn shipped_rules_load() {
        let r = crate::policy::PolicySet::embedded().unwrap().retention;
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

    fn rules() -> RetentionRules {
        RetentionRules::parse(&format!(
            "{AUDIT}\
[[rule]]\nid = \"closed\"\ncovers = \"dossier\"\nwhen = {{ status = [\"closed\"] }}\ntrigger = \"relationship_end\"\nperiod = \"3y\"\naction = \"destroy\"\napproval = true\ncitation = \"PIPL 47\"\n\
[[rule]]\nid = \"prospect\"\ncovers = \"dossier\"\nwhen = {{ status = [\"prospect\"] }}\ntrigger = \"last_activity\"\nperiod = \"1y\"\naction = \"destroy\"\napproval = true\ncitation = \"PIPL 19\"\n\
[[rule]]\nid = \"withdrawn\"\ncovers = \"contact\"\nwhen = {{ status = [\"prospect\"] }}\ntrigger = \"consent_withdrawn\"\nperiod = \"30d\"\naction = \"erase\"\ncitation = \"PIPL 47(1)(3)\"\n\
[[rule]]\nid = \"tax\"\ncovers = \"dossier\"\nwhen = {{ status = [\"closed\"] }}\ntrigger = \"created\"\nperiod = \"10y\"\naction = \"keep\"\ncitation = \"tax law\"\n"
        ))
        .unwrap()
    }

    fn dossier(
        status: Status,
        created: OffsetDateTime,
        updated: OffsetDateTime,
        ended: Option<OffsetDateTime>,
    ) -> DossierFacts {
        DossierFacts {
            id: DossierId::generate(),
            status,
            created_at: created,
            updated_at: updated,
            ended_at: ended,
            holds: vec![],
        }
    }

    /// Each row: a dossier's facts, the time asked, and the rule that makes
    /// it due (with what blocks it), or none.
    #[test]
    #[allow(clippy::type_complexity)] // a table of cases, one tuple a row
    fn due_is_decided_from_facts_alone() {
        let t0 = datetime!(2020-01-15 09:00 UTC);
        let ended = datetime!(2023-03-01 00:00 UTC);
        let rows: Vec<(&str, DossierFacts, OffsetDateTime, Option<(&str, Vec<&str>)>)> = vec![
            ("active customer: nothing", dossier(Status::Active, t0, t0, None), datetime!(2030-01-01 00:00 UTC), None),
            (
                "closed, 3 years not yet run",
                dossier(Status::Closed, t0, ended, Some(ended)),
                datetime!(2026-02-28 23:59 UTC),
                None,
            ),
            (
                "closed, 3 years run, keep rule (10y from creation) blocks",
                dossier(Status::Closed, t0, ended, Some(ended)),
                datetime!(2026-03-01 00:00 UTC),
                Some(("closed", vec!["rule:tax"])),
            ),
            (
                "closed, keep rule over",
                dossier(Status::Closed, t0, ended, Some(ended)),
                datetime!(2030-01-15 09:00 UTC),
                Some(("closed", vec![])),
            ),
            ("prospect idle 11 months", dossier(Status::Prospect, t0, t0, None), datetime!(2020-12-15 00:00 UTC), None),
            (
                "prospect idle a year",
                dossier(Status::Prospect, t0, t0, None),
                datetime!(2021-01-15 09:00 UTC),
                Some(("prospect", vec![])),
            ),
            (
                "prospect under hold",
                DossierFacts { holds: vec!["hold_1".into()], ..dossier(Status::Prospect, t0, t0, None) },
                datetime!(2022-01-01 00:00 UTC),
                Some(("prospect", vec!["hold_1"])),
            ),
        ];
        let r = rules();
        for (name, facts, now, want) in rows {
            let got = r.dossier_due(&facts, now);
            match (got, want) {
                (None, None) => {}
                (Some(f), Some((rule, blocked))) => {
                    assert_eq!(f.rule, rule, "{name}");
                    assert_eq!(f.blocked_by, blocked, "{name}");
                    assert_eq!(f.target, Target::Dossier(facts.id.clone()), "{name}");
                    assert!(f.due_at <= now, "{name}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_contact_is_due_30_days_after_their_last_consent_is_withdrawn() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let withdrawn = datetime!(2026-02-01 00:00 UTC);
        let contact = |live: bool, status: Status| ContactFacts {
            id: Cow::Owned(SubjectId::generate()),
            created_at: t0,
            last_withdrawal_at: Some(withdrawn),
            has_live_consent: live,
            lost_at: None,
            dossiers: vec![Cow::Owned(dossier(status, t0, t0, None))],
        };
        let r = rules();
        let at = |d: i64| withdrawn + time::Duration::days(d);
        assert!(r.contact_could_be_due(&contact(false, Status::Prospect)));
        let live = contact(true, Status::Prospect);
        assert!(!r.contact_could_be_due(&ContactFacts { dossiers: vec![], ..live.clone() }), "consent live, not lost");
        assert_eq!(r.contact_due(&live, at(400)), None, "and so never due");
        assert_eq!(r.contact_due(&contact(false, Status::Prospect), at(29)), None);
        let f = r.contact_due(&contact(false, Status::Prospect), at(30)).unwrap();
        assert_eq!((f.rule.as_str(), f.action, f.approval), ("withdrawn", RetentionAction::Erase, false));
        assert_eq!(r.contact_due(&contact(true, Status::Prospect), at(60)), None, "a consent is still live");
        assert_eq!(
            r.contact_due(&contact(false, Status::Active), at(60)),
            None,
            "a customer's contact: rule does not apply"
        );
        let all = due(&r, &[dossier(Status::Prospect, t0, t0, None)], [contact(false, Status::Prospect)], at(400));
        assert_eq!(all.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(), vec!["prospect", "withdrawn"]);
    }

    #[test]
    fn errors_point_at_the_key_not_at_a_comment_naming_it() {
        // The shipped file's comments mention "minimum" before the key.
        let shipped = crate::policy::EMBEDDED.iter().find(|(n, _)| *n == "retention.toml").unwrap().1;
        let short = shipped.replacen("minimum = \"3y\"", "minimum = \"6m\"", 1);
        assert_ne!(short, shipped, "the shipped file sets minimum = \"3y\"");
        let (line, msg) = RetentionRules::parse(&short).unwrap_err();
        let want = short.lines().position(|l| l.starts_with("minimum")).unwrap() + 1;
        assert_eq!(line, want, "{msg}");
        let no_cite = shipped.replacen("id = \"closed-customer\"", "id = \"closed-customer\"\ncitation_x = 1", 1);
        let (line, _) = RetentionRules::parse(&no_cite).unwrap_err();
        assert_eq!(line, no_cite.lines().position(|l| l.starts_with("citation_x")).unwrap() + 1);
    }

    #[test]
    fn a_keep_rule_over_contacts_blocks_the_erasure_only_of_persons_its_law_governs() {
        let keep = |law: &str| {
            format!(
                "{AUDIT}[[rule]]\nid = \"tax-contacts\"\ncovers = \"contact\"\ntrigger = \"created\"\nperiod = \"10y\"\naction = \"keep\"\n{law}citation = \"tax law\"\n"
            )
        };
        let (_, msg) = RetentionRules::parse(&keep("")).unwrap_err();
        assert!(msg.contains("names the law"), "{msg}");
        assert!(RetentionRules::parse(&keep("law = \"US\"\n")).unwrap_err().1.contains("CN, EU"));
        let destroy = format!(
            "{AUDIT}[[rule]]\nid = \"d\"\ncovers = \"dossier\"\ntrigger = \"created\"\nperiod = \"1y\"\naction = \"destroy\"\nlaw = \"CN\"\ncitation = \"x\"\n"
        );
        assert!(RetentionRules::parse(&destroy).unwrap_err().1.contains("keep rules only"));
        let now = datetime!(2027-01-01 00:00 UTC);
        let person = ContactFacts {
            id: Cow::Owned(SubjectId::generate()),
            created_at: datetime!(2026-01-01 00:00 UTC),
            last_withdrawal_at: None,
            has_live_consent: false,
            lost_at: None,
            dossiers: vec![Cow::Owned(dossier(Status::Active, datetime!(2026-01-01 00:00 UTC), now, None))],
        };
        let j = |c: &str| Jurisdiction::parse(c).unwrap();
        let prc = RetentionRules::parse(&keep("law = \"CN\"\n")).unwrap();
        assert_eq!(prc.keeping_contact(&person, &j("CN"), now), ["rule:tax-contacts"]);
        assert!(prc.keeping_contact(&person, &j("FR"), now).is_empty(), "not Union or member-state law");
        let french = RetentionRules::parse(&keep("law = \"FR\"\n")).unwrap();
        assert_eq!(french.keeping_contact(&person, &j("FR"), now), ["rule:tax-contacts"]);
        assert!(french.keeping_contact(&person, &j("CN"), now).is_empty());
    }
}
