//! What a person was told and how: before their restriction is lifted
//! (GDPR Art. 18(3)) and of a changed privacy notice (PIPL Art. 17(2)).

use crate::crypto::Sealed;
use crate::domain::PrincipalId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How a person was told that their restriction is about to be lifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeChannel {
    Letter,
    Email,
    Phone,
    InPerson,
    Portal,
}

impl NoticeChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeChannel::Letter => "letter",
            NoticeChannel::Email => "email",
            NoticeChannel::Phone => "phone",
            NoticeChannel::InPerson => "in_person",
            NoticeChannel::Portal => "portal",
        }
    }
}

/// The record that a person was told before their restriction is lifted
/// (GDPR Art. 18(3)): how and when, by whom; the reference (of the letter,
/// the message) sealed under the person's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiftNotice {
    pub channel: NoticeChannel,
    /// When the person was told.
    #[serde(with = "time::serde::rfc3339")]
    pub notified_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub recorded_by: PrincipalId,
    #[serde(default)]
    pub reference: Option<Sealed>,
}

/// How a person was told of a changed notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyChannel {
    Email,
    Sms,
    Letter,
    Phone,
    InPerson,
    App,
}

/// That a person was told of a notice version: when, how, who recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeTold {
    pub version: String,
    pub channel: NotifyChannel,
    #[serde(with = "time::serde::rfc3339")]
    pub told_at: OffsetDateTime,
    pub recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}
