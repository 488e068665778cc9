//! The incident register's bodies, each with its one conversion into the
//! archive's command, as [`super`]'s: an incident to record, a notification
//! made, the GDPR Art. 34(3)(a) exemption. The API reads them as JSON, the
//! console as forms; both go through these conversions.

use crate::archive::registers::{NewIncident, NewNotification};
use crate::domain::dossier::FieldError;
use crate::domain::{Classification, Jurisdiction};
use crate::policy::registers::Notify;
use crate::web::body::{Errors, Text};
use serde::Deserialize;
use utoipa::ToSchema;

/// `POST /v1/incidents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncidentDto {
    /// When the incident was detected (RFC 3339).
    #[schema(format = DateTime)]
    pub detected_at: String,
    /// When the operator became aware that personal data was affected (RFC 3339; GDPR Art. 33(1) runs from it).
    #[schema(format = DateTime)]
    pub aware_at: String,
    /// A level of policies/incidents.toml.
    #[schema(min_length = 1, max_length = 64)]
    pub level: String,
    /// Whose persons it concerns: `CN`, `EU`, member states (default `CN`).
    #[schema(max_items = 30)]
    pub jurisdictions: Option<Vec<String>>,
    /// The classes of data concerned.
    #[schema(inline, min_items = 1, max_items = 5)]
    pub data_categories: Vec<Classification>,
    #[schema(inline)]
    pub description: Text,
    #[schema(inline)]
    pub cause: Text,
    #[schema(inline)]
    pub consequences: Option<Text>,
    #[schema(inline)]
    pub measures: Option<Text>,
    /// What the persons can do to reduce the harm (PIPL Art. 57(2)).
    #[schema(inline)]
    pub advice: Option<Text>,
    /// The contact point for the authority and the persons.
    #[schema(inline)]
    pub contact: Option<Text>,
    /// Whether any data key or the master key was compromised.
    pub keys_compromised: Option<bool>,
}

/// The one check of an incident's shape: well-formed times, awareness not
/// before detection, known jurisdictions. The level and the times against
/// the clock are the use case's to check.
impl TryFrom<NewIncidentDto> for NewIncident {
    type Error = Vec<FieldError>;
    fn try_from(d: NewIncidentDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let detected_at = errors.time("/detected_at", &d.detected_at);
        let aware_at = errors.time("/aware_at", &d.aware_at);
        if detected_at.zip(aware_at).is_some_and(|(detected, aware)| aware < detected) {
            errors.add("/aware_at", "before the detection: awareness follows it");
        }
        let mut jurisdictions = Vec::new();
        for (i, j) in d.jurisdictions.unwrap_or_default().iter().enumerate() {
            match Jurisdiction::parse(j) {
                Ok(j) => jurisdictions.push(j),
                Err(e) => errors.add(&format!("/jurisdictions/{i}"), &e),
            }
        }
        errors.finish(detected_at.zip(aware_at).map(|(detected_at, aware_at)| NewIncident {
            detected_at,
            aware_at,
            level: d.level,
            jurisdictions,
            data_categories: d.data_categories,
            description: d.description.0,
            cause: d.cause.0,
            consequences: d.consequences.map(|t| t.0),
            measures: d.measures.map(|t| t.0),
            advice: d.advice.map(|t| t.0),
            contact: d.contact.map(|t| t.0),
            keys_compromised: d.keys_compromised,
        }))
    }
}

/// `POST /v1/incidents/{id}/notifications`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationDto {
    #[schema(inline)]
    pub to: Notify,
    /// The authority notified, or how the persons were (sealed).
    #[schema(inline)]
    pub recipient: Text,
    /// When it was made (RFC 3339).
    #[schema(format = DateTime)]
    pub at: String,
    /// The authority's case number or the message's reference (sealed).
    #[schema(inline)]
    pub reference: Option<Text>,
    /// How many persons were told.
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    #[serde(default, deserialize_with = "whole_number")]
    pub persons: Option<u64>,
}

/// A JSON number that is a whole number (`12` or `12.0`, as JSON Schema's
/// `integer` allows), up to 2^53 - 1.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<f64>::deserialize(d)? else { return Ok(None) };
    if n.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&n) {
        Ok(Some(n as u64))
    } else {
        Err(serde::de::Error::custom("a whole number from 0 to 2^53 - 1"))
    }
}

/// The one check of a notification's shape: a well-formed time (whether it
/// lies in the future or before the incident is the use case's to check).
impl TryFrom<NotificationDto> for NewNotification {
    type Error = Vec<FieldError>;
    fn try_from(d: NotificationDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let at = errors.time("/at", &d.at);
        errors.finish(at.map(|at| NewNotification {
            to: d.to,
            recipient: d.recipient.0,
            at,
            reference: d.reference.map(|t| t.0),
            persons: d.persons,
        }))
    }
}

/// `POST /v1/incidents/{id}/exemption`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExemptionDto {
    /// Why the data is unintelligible to anyone not authorised (sealed).
    #[schema(inline)]
    pub reasoning: Text,
    /// Must be false: the exemption needs the keys uncompromised.
    pub keys_compromised: bool,
}

/// The reasoning of a GDPR Art. 34(3)(a) exemption, stated with the keys
/// uncompromised (`Registers::record_exemption` takes its text).
#[derive(Debug, Clone)]
pub struct ExemptionReasoning(pub String);

/// The one check of an exemption: it needs the keys uncompromised.
impl TryFrom<ExemptionDto> for ExemptionReasoning {
    type Error = Vec<FieldError>;
    fn try_from(d: ExemptionDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        if d.keys_compromised {
            errors.add(
                "/keys_compromised",
                "Art. 34(3)(a) needs the data unintelligible: it does not apply when keys are compromised",
            );
        }
        errors.finish(Some(ExemptionReasoning(d.reasoning.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Text {
        Text(s.to_owned())
    }

    #[test]
    fn an_incident_is_aware_after_detection_in_known_jurisdictions() {
        let dto = |aware: &str, j: Vec<&str>| NewIncidentDto {
            detected_at: "2026-12-01T09:00:00Z".into(),
            aware_at: aware.into(),
            level: "general".into(),
            jurisdictions: Some(j.into_iter().map(Into::into).collect()),
            data_categories: vec![Classification::Personal],
            description: text("d"),
            cause: text("c"),
            consequences: None,
            measures: None,
            advice: None,
            contact: None,
            keys_compromised: None,
        };
        assert!(NewIncident::try_from(dto("2026-12-01T10:00:00Z", vec!["CN", "DE"])).is_ok());
        let paths = |r: Result<NewIncident, Vec<FieldError>>| -> Vec<String> {
            r.err().unwrap_or_default().into_iter().map(|e| e.path).collect()
        };
        assert_eq!(paths(NewIncident::try_from(dto("2026-12-01T08:00:00Z", vec![]))), ["/aware_at"]);
        assert_eq!(paths(NewIncident::try_from(dto("tuesday", vec!["cn"]))), ["/aware_at", "/jurisdictions/0"]);
    }

    #[test]
    fn a_notification_has_a_time_and_an_exemption_uncompromised_keys() {
        let n = |at: &str| NotificationDto {
            to: Notify::Authority,
            recipient: text("CAC"),
            at: at.into(),
            reference: None,
            persons: None,
        };
        assert!(NewNotification::try_from(n("2026-12-01T09:00:00+08:00")).is_ok());
        assert!(NewNotification::try_from(n("2026-12-01 09:00")).is_err());
        let e = |k: bool| ExemptionReasoning::try_from(ExemptionDto { reasoning: text("r"), keys_compromised: k });
        assert_eq!(e(false).map(|r| r.0).ok().as_deref(), Some("r"));
        assert_eq!(e(true).err().unwrap_or_default()[0].path, "/keys_compromised");
    }
}
