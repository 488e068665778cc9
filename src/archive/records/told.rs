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
    /// Every channel, in the order a form offers them.
    pub const ALL: [NoticeChannel; 5] = [
        NoticeChannel::Letter,
        NoticeChannel::Email,
        NoticeChannel::Phone,
        NoticeChannel::InPerson,
        NoticeChannel::Portal,
    ];

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

#[cfg(test)]
mod tests {
    use super::NoticeChannel;

    /// A channel's place in `ALL`; a new channel fails to compile here until listed.
    fn place(c: NoticeChannel) -> usize {
        match c {
            NoticeChannel::Letter => 0,
            NoticeChannel::Email => 1,
            NoticeChannel::Phone => 2,
            NoticeChannel::InPerson => 3,
            NoticeChannel::Portal => 4,
        }
    }

    #[test]
    fn every_notice_channel_is_offered_under_its_wire_name() {
        for (i, c) in NoticeChannel::ALL.into_iter().enumerate() {
            assert_eq!(place(c), i);
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }
}
