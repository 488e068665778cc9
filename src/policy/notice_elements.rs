//! The elements a privacy notice states beyond identity, purposes,
//! categories, retention, rights and transfers (PIPL Art. 17, 30; NDSMR
//! Art. 21): the processing methods, for each sensitive data category its
//! necessity and its impact on the person, what happens when retention
//! ends, and the recipients as named entries. Versions taking effect from
//! [`ELEMENTS_REQUIRED_FROM`] must state every one; older versions (already
//! shown to persons, their digests recorded) keep their shape and are
//! reported `incomplete`, naming what they lack. Also: which elements a
//! version changes against the one before (what persons must be told of).

use crate::domain::RecipientRole;
use serde::{Deserialize, Serialize};
use time::macros::date;
use time::Date;

/// Versions taking effect on or after this day must state every element;
/// the day the requirement was introduced into custos. A constant, not a
/// policy key: a policy file cannot move it.
pub const ELEMENTS_REQUIRED_FROM: Date = date!(2026 - 12 - 01);

/// One recipient a notice announces: a named entry, or (versions before
/// [`ELEMENTS_REQUIRED_FROM`] only) loose text. Untagged, so a text entry
/// serialises as the plain string it always was (the recorded digests of
/// older versions stay the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NoticeRecipient {
    Named(NamedRecipient),
    Text(String),
}

impl NoticeRecipient {
    /// The name persons are told (the text itself for a loose entry).
    pub fn name(&self) -> &str {
        match self {
            NoticeRecipient::Named(n) => &n.name,
            NoticeRecipient::Text(t) => t,
        }
    }
}

/// A recipient named in a notice (PIPL Art. 17, 21, 23).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedRecipient {
    /// The party's name or, for a group of like parties, its category.
    pub name: String,
    pub role: RecipientRole,
    /// How a person reaches it (a function mailbox or the company's).
    pub contact: String,
    /// The purposes it receives data for (ids of purposes.toml).
    pub purposes: Vec<String>,
}

/// One sensitive data category the notice announces, with why it is
/// needed and what processing it means for the person (PIPL Art. 30).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitiveNotice {
    /// The data (`id_number`, `bank_account`, `credit_data` ...).
    pub data: String,
    pub necessity: String,
    pub impact: String,
}

/// The newer elements of one version, as read.
pub(crate) struct Elements {
    pub methods: Option<String>,
    pub sensitive: Option<Vec<SensitiveNotice>>,
    pub retention_end: Option<String>,
}

/// What a version lacks of the elements (names as in notices.toml), or the
/// first element stated but empty or malformed.
pub(crate) fn missing(
    e: &Elements,
    recipients: &[NoticeRecipient],
    announces_sensitive: bool,
) -> Result<Vec<&'static str>, String> {
    let mut lacks = Vec::new();
    for (name, v) in [("methods", &e.methods), ("retention_end", &e.retention_end)] {
        match v {
            None => lacks.push(name),
            Some(t) if t.trim().is_empty() => return Err(format!("the notice's {name} is empty")),
            Some(_) => {}
        }
    }
    match &e.sensitive {
        None if announces_sensitive => lacks.push("sensitive"),
        None => {}
        Some(list) => {
            if announces_sensitive && list.is_empty() {
                return Err("the notice announces sensitive data but names none under sensitive".into());
            }
            for s in list {
                if [&s.data, &s.necessity, &s.impact].iter().any(|t| t.trim().is_empty()) {
                    return Err("each sensitive entry states its data, necessity and impact (PIPL Art. 30)".into());
                }
            }
        }
    }
    for r in recipients {
        match r {
            NoticeRecipient::Text(t) if t.trim().is_empty() => return Err("a recipient is empty".into()),
            NoticeRecipient::Text(_) => {
                if !lacks.contains(&"recipients") {
                    lacks.push("recipients");
                }
            }
            NoticeRecipient::Named(n) => {
                if n.name.trim().is_empty() || n.contact.trim().is_empty() || n.purposes.is_empty() {
                    return Err("each recipient names its name, role, contact and purposes".into());
                }
            }
        }
    }
    Ok(lacks)
}

/// The elements persons must be told of when they change (PIPL Art. 17(2)):
/// those in which `new` differs from `old`.
pub fn changes(old: &super::governance::Notice, new: &super::governance::Notice) -> Vec<&'static str> {
    let set = |v: &[String]| v.iter().cloned().collect::<std::collections::BTreeSet<_>>();
    let mut out = Vec::new();
    if set(&old.purposes) != set(&new.purposes) {
        out.push("purposes");
    }
    if set(&old.categories) != set(&new.categories) {
        out.push("categories");
    }
    if old.recipients != new.recipients {
        out.push("recipients");
    }
    if old.transfers != new.transfers {
        out.push("transfers");
    }
    if old.methods != new.methods {
        out.push("methods");
    }
    out
}

impl super::governance::Notices {
    /// Why a write may not name `version` as the notice a person was shown
    /// on `today`, if it may not: unknown, or not in force yet.
    pub fn unusable(&self, version: &str, today: time::Date) -> Option<&'static str> {
        match self.get(version) {
            Some(n) if n.effective <= today => None,
            Some(_) => Some("that notice version is not in force yet"),
            None => Some("no such notice version in notices.toml"),
        }
    }

    /// The notice version to record for a person a write names: the named
    /// one; a person `new` to the dossier without one is refused, never
    /// stamped with the version in force (the record says what the person
    /// was shown). Else the path (within the person) and what is wrong.
    pub fn to_record(
        &self,
        named: Option<&str>,
        new: bool,
        now: time::OffsetDateTime,
    ) -> Result<Option<String>, (&'static str, String)> {
        match named {
            Some(v) => match self.unusable(v, now.date()) {
                None => Ok(Some(v.to_owned())),
                Some(why) => Err(("/notice", why.into())),
            },
            None if new => Err((
                "/notice",
                match self.in_force(now) {
                    Some(n) => format!(
                        "the privacy-notice version this person was shown is required (the one in force is {}): custos records what the person was told, and does not assume it (PIPL Art. 17)",
                        n.version
                    ),
                    None => "no privacy notice is in force: a person's data is not collected before they are told (PIPL Art. 17)".to_owned(),
                },
            )),
            None => Ok(None),
        }
    }
}
