//! The vault: the one place a sealed record is sealed and opened. Every
//! kind (dossier versions, consent evidence, interactions, reviews, grade
//! overrides, legal holds, register texts, assessments, attestations,
//! document chunks, staff records) names its [`Slot`], which fixes the
//! associated data that binds the ciphertext to where it is stored: a
//! sealed value copied to another slot does not open.
//!
//! One rule for a destroyed key: a value sealed under a shredded dossier or
//! person key opens as [`Opened::Erased`]. Everything else that does not
//! open (a tampered or truncated ciphertext, a wrong slot, a missing house
//! key) is an error: it is never shown as "erased".
//!
//! The vault sits above the gate and below every service that keeps
//! personal data; it calls no other service.

mod versions;

pub(crate) use versions::{created_subjects, parse_segment, Part, SegmentName, VersionKeys, VersionRecord};

use super::ArchiveError;
use crate::clock::Clock;
use crate::crypto::{segment_aad, CryptoError, DataKey, KeyRef, Keyring, Sealed};
use crate::domain::{AssessmentId, DossierId, HoldId, IncidentId, InteractionId, PrincipalId, RecipientId, SubjectId};
use crate::store::KvStore;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Where a sealed value belongs. Its associated data is derived from this
/// and nothing else (the byte layouts are those custos has always written).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot<'a> {
    /// A segment of a dossier version.
    Segment { dossier: &'a DossierId, version: u32, segment: &'a SegmentName },
    /// A staff member's record.
    Principal(&'a PrincipalId),
    /// An impact assessment's conclusion or report.
    Assessment(&'a AssessmentId, AssessmentPart),
    /// A recipient's deletion attestation.
    Attestation(&'a RecipientId),
    /// The reason of the `n`th grade override of a dossier.
    GradeOverride(&'a DossierId, u32),
    /// An interaction's summary.
    Interaction(&'a DossierId, &'a InteractionId),
    /// A customer review's note.
    Review(&'a DossierId, &'a str),
    /// The evidence of a person's consent event.
    ConsentEvidence(&'a SubjectId, u32),
    /// Chunk `n` of a document upload.
    DocumentChunk(&'a DossierId, &'a str, u32),
    /// A legal hold's reason and case reference.
    Hold(&'a DossierId, &'a HoldId),
    /// An incident's sealed texts (description, measures, ...).
    IncidentTexts(&'a IncidentId),
    /// One free text of a register entry (`field` names entry and text).
    RegisterText { owner: &'a str, field: &'a str },
}

/// Which text of an impact assessment.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AssessmentPart {
    Conclusion,
    Report,
}

impl Slot<'_> {
    /// The associated data for this slot.
    pub(crate) fn aad(&self) -> Vec<u8> {
        match *self {
            Slot::Segment { dossier, version, segment } => segment_aad(dossier.as_str(), version, &segment.to_string()),
            Slot::Principal(id) => format!("custos-principal-v1\0{id}").into_bytes(),
            Slot::Assessment(id, part) => {
                let what = match part {
                    AssessmentPart::Conclusion => "conclusion",
                    AssessmentPart::Report => "report",
                };
                segment_aad(id.as_str(), 0, &format!("assessment/{what}"))
            }
            Slot::Attestation(id) => segment_aad(id.as_str(), 0, "recipient/attestation"),
            Slot::GradeOverride(did, n) => segment_aad(did.as_str(), n, "grade-override"),
            Slot::Interaction(did, id) => segment_aad(did.as_str(), 0, &format!("interaction/{id}")),
            Slot::Review(did, id) => segment_aad(did.as_str(), 0, &format!("review/{id}")),
            Slot::ConsentEvidence(sid, event) => segment_aad(sid.as_str(), event, "consent-evidence"),
            Slot::DocumentChunk(did, upload, n) => segment_aad(did.as_str(), n, &format!("document/{upload}")),
            Slot::Hold(did, hold) => segment_aad(did.as_str(), 0, &format!("hold/{hold}")),
            Slot::IncidentTexts(id) => segment_aad(id.as_str(), 0, &format!("incident/{id}/texts")),
            Slot::RegisterText { owner, field } => segment_aad(owner, 0, field),
        }
    }

    /// What the slot holds, for an error message (no personal value).
    fn kind(&self) -> &'static str {
        match self {
            Slot::Segment { .. } => "a dossier segment",
            Slot::Principal(_) => "a staff record",
            Slot::Assessment(..) => "an impact assessment text",
            Slot::Attestation(_) => "a deletion attestation",
            Slot::GradeOverride(..) => "a grade override reason",
            Slot::Interaction(..) => "an interaction summary",
            Slot::Review(..) => "a review note",
            Slot::ConsentEvidence(..) => "consent evidence",
            Slot::DocumentChunk(..) => "a document chunk",
            Slot::Hold(..) => "a legal hold",
            Slot::IncidentTexts(_) => "an incident's texts",
            Slot::RegisterText { .. } => "a register text",
        }
    }
}

/// A sealed value, opened.
#[derive(Debug)]
pub enum Opened<T> {
    Plain(T),
    /// Its key was destroyed: the person (or dossier) is erased.
    Erased,
}

impl<T> Opened<T> {
    /// The value, or `None` once erased.
    pub fn plain(self) -> Option<T> {
        match self {
            Opened::Plain(v) => Some(v),
            Opened::Erased => None,
        }
    }
}

/// Seals and opens every sealed record kind.
pub struct Vault {
    store: Arc<dyn KvStore>,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
}

impl Vault {
    pub(super) fn new(store: Arc<dyn KvStore>, keyring: Arc<Keyring>, clock: Arc<dyn Clock>) -> Self {
        Vault { store, keyring, clock }
    }

    /// The data key `r` to open with: `Erased` if a dossier's or person's
    /// key was destroyed. custos's own keys (staff, registers) are never
    /// destroyed: one missing is an error, and a read never makes one.
    pub(crate) fn key(&self, r: &KeyRef) -> Result<Opened<Arc<DataKey>>, ArchiveError> {
        match (self.keyring.get(r), r) {
            (Ok(k), _) => Ok(Opened::Plain(k)),
            (Err(CryptoError::KeyDestroyed(_)), KeyRef::Dossier(_) | KeyRef::Subject(_)) => Ok(Opened::Erased),
            (Err(CryptoError::KeyDestroyed(id)), _) => {
                Err(ArchiveError::Internal(anyhow::anyhow!("custos's own key {id} is missing")))
            }
            (Err(e), _) => Err(e.into()),
        }
    }

    /// The data key `r` to seal with: custos's own keys are made (stored,
    /// synced) on first use; `Erased` if a dossier's or person's key was
    /// destroyed.
    fn key_to_seal(&self, r: &KeyRef) -> Result<Opened<Arc<DataKey>>, ArchiveError> {
        match r {
            KeyRef::Staff | KeyRef::Registers | KeyRef::BlindIndex => Ok(Opened::Plain(self.keyring.house(r.clone())?)),
            KeyRef::Dossier(_) | KeyRef::Subject(_) => self.key(r),
        }
    }

    /// Seals `plain` in `slot` under `key`; `Erased` (nothing sealed) once
    /// the key is destroyed.
    pub(crate) fn seal(&self, key: &KeyRef, slot: Slot<'_>, plain: &[u8]) -> Result<Opened<Sealed>, ArchiveError> {
        Ok(match self.key_to_seal(key)? {
            Opened::Plain(k) => Opened::Plain(seal_with(&k, slot, plain)?),
            Opened::Erased => Opened::Erased,
        })
    }

    /// Seals under a key that must be there (a dossier's or person's being
    /// written to, or a house key): its destruction is a conflict.
    pub(crate) fn seal_live(&self, key: &KeyRef, slot: Slot<'_>, plain: &[u8]) -> Result<Sealed, ArchiveError> {
        match self.seal(key, slot, plain)? {
            Opened::Plain(s) => Ok(s),
            Opened::Erased => {
                Err(ArchiveError::Conflict(format!("{} cannot be kept: its key was destroyed", slot.kind())))
            }
        }
    }

    /// Opens `sealed` from `slot` under `key`: `Erased` once the key is
    /// destroyed; an error when it does not open with a live key.
    pub(crate) fn open(
        &self,
        key: &KeyRef,
        slot: Slot<'_>,
        sealed: &Sealed,
    ) -> Result<Opened<Zeroizing<Vec<u8>>>, ArchiveError> {
        Ok(match self.key(key)? {
            Opened::Plain(k) => Opened::Plain(open_with(&k, slot, sealed)?),
            Opened::Erased => Opened::Erased,
        })
    }

    /// Opens a value whose key is never destroyed (a house key's): a
    /// missing key is an error like any other failure to open.
    pub(crate) fn open_live(
        &self,
        key: &KeyRef,
        slot: Slot<'_>,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, ArchiveError> {
        match self.open(key, slot, sealed)? {
            Opened::Plain(p) => Ok(p),
            Opened::Erased => {
                Err(ArchiveError::Internal(anyhow::anyhow!("{} does not open: its key is gone", slot.kind())))
            }
        }
    }

    /// [`Vault::open`] of a UTF-8 text.
    pub(crate) fn open_text(
        &self,
        key: &KeyRef,
        slot: Slot<'_>,
        sealed: &Sealed,
    ) -> Result<Opened<String>, ArchiveError> {
        Ok(match self.open(key, slot, sealed)? {
            Opened::Plain(p) => Opened::Plain(text(slot, p)?),
            Opened::Erased => Opened::Erased,
        })
    }
}

/// Seals with a key already in hand (a streamed upload holds its key).
pub(crate) fn seal_with(key: &DataKey, slot: Slot<'_>, plain: &[u8]) -> Result<Sealed, ArchiveError> {
    Ok(crate::crypto::seal(key, &slot.aad(), plain)?)
}

/// Opens with a key already in hand; an error when it does not open.
pub(crate) fn open_with(key: &DataKey, slot: Slot<'_>, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, ArchiveError> {
    crate::crypto::open(key, &slot.aad(), sealed).map_err(|e| {
        ArchiveError::Internal(anyhow::anyhow!("{} does not open ({e}): tampered with or damaged", slot.kind()))
    })
}

fn text(slot: Slot<'_>, plain: Zeroizing<Vec<u8>>) -> Result<String, ArchiveError> {
    String::from_utf8(plain.to_vec())
        .map_err(|_| ArchiveError::Internal(anyhow::anyhow!("{} is not UTF-8 text: damaged", slot.kind())))
}

#[cfg(test)]
mod tests;
