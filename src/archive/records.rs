//! Stored record shapes (metadata as JSON, versions as postcard). None of
//! these hold a personal value in plaintext.

use crate::crypto::Sealed;
use crate::domain::dossier::{Grade, Status};
use crate::domain::{DossierId, PrincipalId, SubjectId, TokenId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Serialize, Deserialize)]
pub struct InitRecord {
    pub master_fingerprint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub initialized_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: TokenId,
    pub principal: PrincipalId,
    /// SHA-256 of the token, hex. The token itself is never stored.
    pub hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Plaintext metadata needed to decide without decrypting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DossierMeta {
    pub id: DossierId,
    pub current_version: u32,
    /// Hash of the current version record, hex.
    pub head_hash: String,
    pub owner: PrincipalId,
    pub region: String,
    pub grade: Grade,
    pub status: Status,
    pub created_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Every subject any version names.
    pub subjects: Vec<SubjectId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubjectMeta {
    pub id: SubjectId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One sealed segment of a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentRecord {
    /// `business`, `confidential`, `sensitive`, `personal/<sub>`, `sensitive/<sub>`.
    pub name: String,
    /// Storage key of the data key that sealed it (`d/<dos>` or `s/<sub>`).
    pub key: String,
    pub sealed: Sealed,
}

/// A dossier version as stored; never rewritten. Its hash is SHA-256 of
/// these bytes (postcard encoding) and the next version names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionRecord {
    pub dossier: String,
    pub version: u32,
    pub prev_hash: [u8; 32],
    pub created_at_us: i64,
    pub actor: String,
    pub segments: Vec<SegmentRecord>,
}

pub fn version_key(id: &DossierId, version: u32) -> Vec<u8> {
    let mut k = format!("{id}/").into_bytes();
    k.extend_from_slice(&version.to_be_bytes());
    k
}

pub fn subject_link_key(sid: &SubjectId, dossier: &DossierId) -> Vec<u8> {
    format!("{sid}/d/{dossier}").into_bytes()
}
