//! A natural-person customer's stand against automated grading, kept in
//! the dossier's metadata.

use crate::domain::PrincipalId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A person's stand against the automated grade of their (natural-person
/// customer's) dossier: PIPL Art. 24(3), GDPR Art. 22(3). Ids and times
/// only; each rests on a verified data-subject request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GradeStand {
    /// Contested: waits for a human's review (finance or compliance, not
    /// the account manager); no automated change meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contested: Option<StandEvent>,
    /// Objected to decisions by automated means alone: no automated
    /// grading until the person withdraws the objection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objected: Option<StandEvent>,
}

impl GradeStand {
    pub fn is_empty(&self) -> bool {
        self.contested.is_none() && self.objected.is_none()
    }
}

/// When and on which request a stand was taken, and who recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StandEvent {
    #[schema(value_type = String)]
    pub request: crate::domain::RequestId,
    #[schema(value_type = String)]
    pub by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
