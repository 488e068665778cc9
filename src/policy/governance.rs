//! `policies/notices.toml` (privacy notices, versioned), `collection.toml`
//! (what collecting a person's sensitive data needs) and `transfers.toml`
//! (the mechanisms a cross-border transfer may rest on).

use super::notice_elements::{self, NoticeRecipient, SensitiveNotice, ELEMENTS_REQUIRED_FROM};
use crate::domain::{Classification, Purpose};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime};
use toml::Spanned;

/// One version of the privacy notice: every element PIPL Art. 17, 30 (and
/// GDPR Art. 13(1)-(2); NDSMR Art. 21) requires. The elements added later
/// (`methods`, `sensitive`, `retention_end`, named `recipients`) are
/// optional only in versions effective before
/// [`ELEMENTS_REQUIRED_FROM`]; absent, they are left out of the digest, so
/// an older version's recorded digest still holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Notice {
    pub version: String,
    #[serde(serialize_with = "iso_date")]
    pub effective: Date,
    pub controller: String,
    pub contact: String,
    pub purposes: Vec<String>,
    pub categories: Vec<String>,
    pub retention: String,
    pub rights: String,
    pub recipients: Vec<NoticeRecipient>,
    pub transfers: String,
    /// How the data is processed: collection channels, automated
    /// processing, storage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<String>,
    /// Each sensitive category announced: its necessity and impact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<Vec<SensitiveNotice>>,
    /// What happens when retention ends (key shredding, anonymisation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_end: Option<String>,
    /// SHA-256 of the version's elements (canonical JSON), hex: recorded once
    /// the version is in force, so its text cannot change afterwards.
    pub digest: String,
    /// The elements an older version lacks (empty from
    /// [`ELEMENTS_REQUIRED_FROM`] on); not part of the digest.
    #[serde(skip)]
    pub incomplete: Vec<&'static str>,
    #[serde(skip)]
    pub line: usize,
}

fn iso_date<S: serde::Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotice {
    version: Option<Spanned<String>>,
    effective: Option<Spanned<String>>,
    controller: Option<String>,
    contact: Option<String>,
    purposes: Option<Vec<String>>,
    categories: Option<Vec<String>>,
    retention: Option<String>,
    rights: Option<String>,
    recipients: Option<Vec<NoticeRecipient>>,
    transfers: Option<String>,
    methods: Option<String>,
    sensitive: Option<Vec<SensitiveNotice>>,
    retention_end: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotices {
    notice: Vec<Spanned<RawNotice>>,
    notify_within_days: Option<Spanned<u32>>,
}

/// The notice versions, oldest first.
#[derive(Debug, Clone)]
pub struct Notices {
    versions: Vec<Notice>,
    /// Days after a changed version takes effect by which every person
    /// under an earlier one is to be told (default 30); past them, the
    /// deadline job raises `notice_notifications_overdue`.
    pub notify_within_days: u32,
}

fn required<T>(v: Option<T>, name: &str, line: usize) -> Result<T, (usize, String)> {
    v.ok_or_else(|| (line, format!("the notice has no {name} (PIPL Art. 17 requires it)")))
}

fn text(v: Option<String>, name: &str, line: usize) -> Result<String, (usize, String)> {
    let v = required(v, name, line)?;
    if v.trim().is_empty() {
        return Err((line, format!("the notice's {name} is empty (PIPL Art. 17 requires it)")));
    }
    Ok(v)
}

pub(crate) fn parse_date(s: &str) -> Result<Date, String> {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, f).map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

impl Notices {
    pub fn parse(text_: &str) -> Result<Self, (usize, String)> {
        let raw: RawNotices = super::parse_toml(text_)?;
        let mut versions: Vec<Notice> = Vec::new();
        for n in raw.notice {
            let line = super::line_at(text_, n.span().start);
            let n = n.into_inner();
            let version = required(n.version, "version", line)?;
            let vline = super::line_of(text_, &version);
            let version = version.into_inner();
            if version.is_empty()
                || version.len() > 64
                || !version.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err((vline, format!("notice version {version:?}: letters, digits, - _ . only")));
            }
            let effective = required(n.effective, "effective date", line)?;
            let eline = super::line_of(text_, &effective);
            let effective = parse_date(effective.get_ref()).map_err(|e| (eline, e))?;
            let categories = required(n.categories, "data categories", line)?;
            for c in &categories {
                c.parse::<Classification>().map_err(|_| (line, format!("unknown data category {c:?}")))?;
            }
            let purposes = required(n.purposes, "purposes", line)?;
            if purposes.is_empty() || categories.is_empty() {
                return Err((line, "the notice announces no purpose or no data category".into()));
            }
            let recipients = required(n.recipients, "recipients", line)?;
            let elements = notice_elements::Elements {
                methods: n.methods,
                sensitive: n.sensitive,
                retention_end: n.retention_end,
            };
            let announces_sensitive = categories.iter().any(|c| c == "sensitive");
            let incomplete = notice_elements::missing(&elements, &recipients, announces_sensitive)
                .map_err(|e| (line, format!("{e} (PIPL Art. 17, 30)")))?;
            if let (Some(first), true) = (incomplete.first(), effective >= ELEMENTS_REQUIRED_FROM) {
                let what = if *first == "recipients" { "recipients as named entries" } else { first };
                return Err((
                    line,
                    format!(
                        "the notice has no {what} (PIPL Art. 17, 30; NDSMR Art. 21 require it of every version effective from {ELEMENTS_REQUIRED_FROM})"
                    ),
                ));
            }
            let mut notice = Notice {
                version,
                effective,
                controller: text(n.controller, "controller", line)?,
                contact: text(n.contact, "contact", line)?,
                purposes,
                categories,
                retention: text(n.retention, "retention", line)?,
                rights: text(n.rights, "rights procedure", line)?,
                recipients,
                transfers: text(n.transfers, "cross-border transfers", line)?,
                methods: elements.methods,
                sensitive: elements.sensitive,
                retention_end: elements.retention_end,
                digest: String::new(),
                incomplete,
                line,
            };
            if let Some(prev) = versions.last() {
                if prev.effective >= notice.effective {
                    return Err((
                        eline,
                        format!("notice {} takes effect before or with the one above it", notice.version),
                    ));
                }
            }
            if versions.iter().any(|v| v.version == notice.version) {
                return Err((vline, format!("notice version {} appears twice", notice.version)));
            }
            let canonical = serde_json::to_vec(&notice).map_err(|e| (line, e.to_string()))?;
            notice.digest = hex::encode(Sha256::digest(&canonical));
            versions.push(notice);
        }
        if versions.is_empty() {
            return Err((
                1,
                "no [[notice]]: persons must be told before their data is collected (PIPL Art. 17)".into(),
            ));
        }
        let notify_within_days = match raw.notify_within_days {
            None => 30,
            Some(d) if (1..=366).contains(d.get_ref()) => d.into_inner(),
            Some(d) => return Err((super::line_of(text_, &d), "notify_within_days: from 1 to 366".into())),
        };
        Ok(Notices { versions, notify_within_days })
    }

    /// Every purpose named must be one purposes.toml defines.
    pub(super) fn check_purposes(&self, known: &super::PurposeRegistry) -> Result<(), (usize, String)> {
        for n in &self.versions {
            for p in &n.purposes {
                if Purpose::parse(p).and_then(|p| known.get(&p)).is_none() {
                    return Err((n.line, format!("notice {} names the unknown purpose {p:?}", n.version)));
                }
            }
            for r in &n.recipients {
                let NoticeRecipient::Named(r) = r else { continue };
                if let Some(p) = r.purposes.iter().find(|p| !n.purposes.contains(p)) {
                    return Err((
                        n.line,
                        format!(
                            "notice {}: recipient {:?} receives for {p:?}, a purpose the notice does not announce",
                            n.version, r.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn versions(&self) -> &[Notice] {
        &self.versions
    }

    pub fn get(&self, version: &str) -> Option<&Notice> {
        self.versions.iter().find(|n| n.version == version)
    }

    /// The version in force at `at` (the latest that took effect by then).
    pub fn in_force(&self, at: OffsetDateTime) -> Option<&Notice> {
        let day = at.to_offset(time::UtcOffset::UTC).date();
        self.versions.iter().rev().find(|n| n.effective <= day)
    }

    /// The version a consent given at `at` under `named` (if recorded) was
    /// given under; before the first version, the first.
    pub fn under(&self, named: Option<&str>, at: OffsetDateTime) -> Option<&Notice> {
        match named {
            Some(v) => self.get(v),
            None => self.in_force(at).or(self.versions.first()),
        }
    }
}

/// What collecting one sensitive field needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitiveField {
    pub consent_purposes: Vec<String>,
}

/// A legal basis for collecting sensitive data that needs no consent.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionBasis {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub citation: String,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionRules {
    pub fields: BTreeMap<String, SensitiveField>,
    #[serde(default)]
    pub bases: BTreeMap<String, CollectionBasis>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollection {
    fields: BTreeMap<Spanned<String>, SensitiveField>,
    #[serde(default)]
    bases: BTreeMap<Spanned<String>, CollectionBasis>,
}

/// The contact fields of the template's `sensitive` class.
pub const CONTACT_SENSITIVE_FIELDS: [&str; 1] = ["id_number"];
/// The sensitive fields of a natural-person customer's proprietor (their
/// credit rating, payment terms and bank account, as one); optional in
/// collection.toml: without it, only a legal basis covering it writes them.
pub const PROPRIETOR_SENSITIVE_FIELDS: [&str; 1] = ["proprietor_finance"];

impl CollectionRules {
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let raw: RawCollection = super::parse_toml(text)?;
        let mut fields = BTreeMap::new();
        for (name, f) in raw.fields {
            let line = super::line_of(text, &name);
            let name = name.into_inner();
            if !CONTACT_SENSITIVE_FIELDS.contains(&name.as_str())
                && !PROPRIETOR_SENSITIVE_FIELDS.contains(&name.as_str())
            {
                return Err((line, format!("{name:?} is not a person's sensitive field")));
            }
            fields.insert(name, f);
        }
        for f in CONTACT_SENSITIVE_FIELDS {
            if !fields.contains_key(f) {
                return Err((1, format!("no [fields.{f}]: say what collecting it needs")));
            }
        }
        let mut bases = BTreeMap::new();
        for (id, b) in raw.bases {
            let line = super::line_of(text, &id);
            let id = id.into_inner();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err((line, format!("basis id {id:?} must be lowercase letters, digits and _")));
            }
            if b.citation.trim().is_empty() {
                return Err((line, format!("basis {id} has no legal citation")));
            }
            let sensitive = |f: &str| CONTACT_SENSITIVE_FIELDS.contains(&f) || PROPRIETOR_SENSITIVE_FIELDS.contains(&f);
            if let Some(f) = b.fields.iter().find(|f| !sensitive(f)) {
                return Err((line, format!("basis {id} covers {f:?}, not a person's sensitive field")));
            }
            bases.insert(id, b);
        }
        Ok(CollectionRules { fields, bases })
    }

    pub(super) fn check_purposes(&self, known: &super::PurposeRegistry) -> Result<(), (usize, String)> {
        for (name, f) in &self.fields {
            for p in &f.consent_purposes {
                let def = Purpose::parse(p).and_then(|p| known.get(&p));
                if !def.is_some_and(|d| d.basis == super::Basis::SeparateConsent) {
                    return Err((1, format!("[fields.{name}] names {p:?}: not a purpose resting on separate consent")));
                }
            }
        }
        Ok(())
    }
}

/// A mechanism a cross-border transfer may rest on.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mechanism {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub citation: String,
    pub separate_consent: bool,
}

#[derive(Debug, Clone)]
pub struct TransferRules {
    pub alert_threshold: u64,
    pub mechanisms: BTreeMap<String, Mechanism>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransfers {
    alert_threshold: Spanned<i64>,
    mechanisms: BTreeMap<Spanned<String>, Mechanism>,
}

impl TransferRules {
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let raw: RawTransfers = super::parse_toml(text)?;
        let alert_threshold = u64::try_from(*raw.alert_threshold.get_ref())
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| (super::line_of(text, &raw.alert_threshold), "alert_threshold must be positive".into()))?;
        let mut mechanisms = BTreeMap::new();
        for (id, m) in raw.mechanisms {
            let line = super::line_of(text, &id);
            let id = id.into_inner();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err((line, format!("mechanism id {id:?} must be lowercase letters and _")));
            }
            if m.citation.trim().is_empty() {
                return Err((line, format!("mechanism {id} has no legal citation")));
            }
            mechanisms.insert(id, m);
        }
        if mechanisms.is_empty() {
            return Err((1, "no [mechanisms]".into()));
        }
        Ok(TransferRules { alert_threshold, mechanisms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTICE: &str = r#"
[[notice]]
version = "v1"
effective = "2025-01-01"
controller = "c"
contact = "c"
purposes = ["service_delivery"]
categories = ["personal"]
retention = "r"
rights = "r"
recipients = []
transfers = "none"
"#;

    #[test]
    fn a_notice_missing_an_element_is_refused_with_its_line() {
        assert!(Notices::parse(NOTICE).is_ok());
        let without = NOTICE.replace("retention = \"r\"\n", "");
        let (line, msg) = Notices::parse(&without).unwrap_err();
        assert_eq!(line, 2, "{msg}");
        assert!(msg.contains("retention"), "{msg}");
        let empty = NOTICE.replace("rights = \"r\"", "rights = \" \"");
        assert!(Notices::parse(&empty).unwrap_err().1.contains("rights"));
        let bad = NOTICE.replace("[\"personal\"]", "[\"secret\"]");
        assert!(Notices::parse(&bad).unwrap_err().1.contains("secret"));
    }

    #[test]
    fn the_version_in_force_is_the_latest_that_took_effect() {
        let two = format!("{NOTICE}{}", NOTICE.replace("v1", "v2").replace("2025-01-01", "2026-06-01"));
        let n = Notices::parse(&two).unwrap();
        let at = |s: &str| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(n.in_force(at("2026-05-31T23:59:59Z")).unwrap().version, "v1");
        assert_eq!(n.in_force(at("2026-06-01T00:00:00Z")).unwrap().version, "v2");
        assert!(n.in_force(at("2024-12-31T00:00:00Z")).is_none());
        assert_eq!(n.under(None, at("2024-12-31T00:00:00Z")).unwrap().version, "v1");
        assert_ne!(n.get("v1").unwrap().digest, n.get("v2").unwrap().digest);
        let backwards = format!("{NOTICE}{}", NOTICE.replace("v1", "v2").replace("2025-01-01", "2024-06-01"));
        assert!(Notices::parse(&backwards).unwrap_err().1.contains("before"));
    }

    /// A version effective from the cut-over, with every element: the
    /// older one above, dated later, with what it lacked.
    fn complete() -> String {
        let v3 = NOTICE.replace("\"v1\"", "\"v3\"").replace("2025-01-01", "2026-12-15");
        let v3 = v3.replace("[\"personal\"]", "[\"personal\", \"sensitive\"]").replace("recipients = []\n", "");
        v3 + "methods = \"m\"\nretention_end = \"key shredding\"\n\n[[notice.recipients]]\nname = \"Carrier\"\n\
              role = \"processor\"\ncontact = \"x@example.com\"\npurposes = [\"service_delivery\"]\n\n\
              [[notice.sensitive]]\ndata = \"id_number\"\nnecessity = \"n\"\nimpact = \"i\"\n"
    }

    #[test]
    fn a_version_from_the_cut_over_lacking_a_new_element_is_refused_with_its_line() {
        let complete = complete();
        let n = Notices::parse(&complete).unwrap();
        assert!(n.versions()[0].incomplete.is_empty());
        for (cut, names) in [
            ("methods = \"m\"\n", "methods"),
            ("retention_end = \"key shredding\"\n", "retention_end"),
            ("[[notice.sensitive]]\ndata = \"id_number\"\nnecessity = \"n\"\nimpact = \"i\"\n", "sensitive"),
        ] {
            let without = complete.replace(cut, "");
            assert_ne!(without, complete, "{names}");
            let (line, msg) = Notices::parse(&without).unwrap_err();
            assert_eq!(line, 2, "{msg}");
            assert!(msg.contains(names) && msg.contains("2026-12-01"), "{msg}");
        }
        // Loose recipient text is not a named entry.
        let loose = complete.replace("transfers = \"none\"", "transfers = \"none\"\nrecipients = [\"carriers\"]");
        let loose = loose.split("[[notice.recipients]]").next().unwrap().to_owned()
            + "[[notice.sensitive]]\ndata = \"id_number\"\nnecessity = \"n\"\nimpact = \"i\"\n";
        let (line, msg) = Notices::parse(&loose).unwrap_err();
        assert_eq!((line, msg.contains("recipients as named entries")), (2, true), "{msg}");
        // Stated but empty, or a malformed entry: refused whatever the date.
        let empty = complete.replace("methods = \"m\"", "methods = \" \"");
        assert!(Notices::parse(&empty).unwrap_err().1.contains("methods is empty"));
        let no_impact = complete.replace("impact = \"i\"", "impact = \"\"");
        assert!(Notices::parse(&no_impact).unwrap_err().1.contains("necessity and impact"));
        let bad_role = complete.replace("role = \"processor\"", "role = \"friend\"");
        assert!(Notices::parse(&bad_role).is_err());
        let unknown = complete.replace("methods = \"m\"", "methods = \"m\"\nmood = \"x\"");
        assert!(Notices::parse(&unknown).unwrap_err().1.contains("mood"));
    }

    #[test]
    fn an_older_version_keeps_its_shape_and_digest_and_is_flagged_incomplete() {
        let n = Notices::parse(NOTICE).unwrap();
        assert_eq!(n.versions()[0].incomplete, ["methods", "retention_end"]);
        let shipped = Notices::parse(include_str!("../../policies/notices.toml")).unwrap();
        let old = shipped.get("2025-01").unwrap();
        assert_eq!(old.incomplete, ["methods", "retention_end", "sensitive", "recipients"]);
        // The digest recorded by installations since 2025 (computed by the
        // code before these elements existed): unchanged.
        assert_eq!(old.digest, "50af69f5cab7d29b6e40952fc554305b6afdfcb6ec82c525f50a82475892a957");
        let new = shipped.get("2027-03").unwrap();
        assert!(new.incomplete.is_empty());
        assert_eq!(crate::policy::notice_elements::changes(old, new), ["recipients", "methods"]);
        assert_eq!(shipped.notify_within_days, 30);
        // Adding an element to an older version changes its digest, so a
        // recorded one refuses to start (`check_notices`).
        let amended = NOTICE.replace("transfers = \"none\"", "transfers = \"none\"\nmethods = \"m\"");
        assert_ne!(Notices::parse(&amended).unwrap().versions()[0].digest, n.versions()[0].digest);
        let bad_days = format!("notify_within_days = 0\n{NOTICE}");
        assert_eq!(Notices::parse(&bad_days).unwrap_err().0, 1);
    }

    #[test]
    fn shipped_collection_and_transfer_rules_parse() {
        let c = CollectionRules::parse(include_str!("../../policies/collection.toml")).unwrap();
        assert!(c.bases.contains_key("parcel_real_name"));
        assert_eq!(c.bases["sole_trader_contract"].fields, ["proprietor_finance"]);
        assert_eq!(c.fields["proprietor_finance"].consent_purposes, ["credit_assessment"]);
        // The proprietor's field is optional; an unknown one is refused, naming its line.
        let only_contacts = "[fields.id_number]\nconsent_purposes = []\n";
        assert!(CollectionRules::parse(only_contacts).is_ok());
        let unknown = format!("{only_contacts}[fields.bank_account]\nconsent_purposes = []\n");
        let (line, why) = CollectionRules::parse(&unknown).unwrap_err();
        assert_eq!(line, 3, "{why}");
        assert!(why.contains("not a person's sensitive field"), "{why}");
        let t = TransferRules::parse(include_str!("../../policies/transfers.toml")).unwrap();
        assert_eq!(t.alert_threshold, 100_000);
        assert!(!t.mechanisms["contract_necessity"].separate_consent);
    }
}

/// `policies/officer.toml`: when the personal-information protection
/// officer is required (PIPL Art. 52) and how soon they are reported.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficerRules {
    /// Distinct persons processed at which an officer is required.
    pub threshold: u64,
    /// Working days (Monday to Friday) from crossing the threshold to the
    /// report to the regulator.
    pub report_within_working_days: u32,
    pub citation: String,
}

impl OfficerRules {
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let rules: OfficerRules = super::parse_toml(text)?;
        if rules.threshold == 0 || !(1..=366).contains(&rules.report_within_working_days) {
            return Err((1, "threshold is positive; report_within_working_days from 1 to 366".into()));
        }
        if rules.citation.trim().is_empty() {
            return Err((1, "the rule needs its citation".into()));
        }
        Ok(rules)
    }

    /// The day `working_days` working days (Monday to Friday; public
    /// holidays and make-up working days are not known to custos) after `from`.
    pub fn report_due(&self, from: time::Date) -> time::Date {
        let mut day = from;
        let mut left = self.report_within_working_days;
        while left > 0 {
            day = day.next_day().unwrap_or(day);
            if !matches!(day.weekday(), time::Weekday::Saturday | time::Weekday::Sunday) {
                left -= 1;
            }
        }
        day
    }
}
