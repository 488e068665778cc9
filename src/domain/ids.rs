//! Opaque, server-chosen identifiers: a type prefix and a lowercase ULID.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed {kind} id")]
pub struct IdError {
    pub kind: &'static str,
}

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $kind:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, ulid::Ulid::new().to_string().to_lowercase()))
            }

            pub fn parse(s: &str) -> Result<Self, IdError> {
                let body = s.strip_prefix($prefix).ok_or(IdError { kind: $kind })?;
                let ok = body.len() == 26 && body.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
                if ok {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError { kind: $kind })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

prefixed_id!(DossierId, "dos_", "dossier");
prefixed_id!(SubjectId, "sub_", "subject");
prefixed_id!(PrincipalId, "prn_", "principal");
prefixed_id!(TokenId, "tok_", "token");
prefixed_id!(BatchId, "bat_", "batch");
prefixed_id!(CertificateId, "cert_", "certificate");
prefixed_id!(HoldId, "hold_", "legal hold");
prefixed_id!(AlertId, "alr_", "alert");
prefixed_id!(BackupId, "bak_", "backup");
prefixed_id!(RequestId, "req_", "subject request");
prefixed_id!(IncidentId, "inc_", "incident");
prefixed_id!(ExportId, "exp_", "bulk export");
prefixed_id!(AssessmentId, "pia_", "impact assessment");
prefixed_id!(RecipientId, "rcp_", "recipient");
prefixed_id!(TransferId, "xfr_", "transfer record");
prefixed_id!(InteractionId, "itr_", "interaction");
prefixed_id!(GradeDecisionId, "grd_", "grading decision");
prefixed_id!(EngagementId, "eng_", "compliance-audit engagement");
prefixed_id!(AppointmentId, "apt_", "appointment");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let id = DossierId::generate();
        assert_eq!(DossierId::parse(id.as_str()).unwrap(), id);
        assert!(id.as_str().starts_with("dos_"));
    }

    #[test]
    fn wrong_prefix_or_body_is_rejected() {
        let sub = SubjectId::generate();
        assert!(DossierId::parse(sub.as_str()).is_err());
        assert!(DossierId::parse("dos_").is_err());
        assert!(DossierId::parse("dos_../../etc/passwd0000000000").is_err());
        assert!(DossierId::parse("dos_01ARZ3NDEKTSV4RRFFQ69G5FAV").is_err(), "uppercase");
    }
}
