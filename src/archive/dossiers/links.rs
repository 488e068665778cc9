//! Dossiers and the people they name: which dossiers name a person (their
//! links), the facts access decisions know of a person, and the decision to
//! name a person already on record in a dossier (`subject.link`). Also the
//! dossier-wide lookups other use cases share.

use crate::archive::dossiers::Dossiers;
use crate::archive::records::{DossierMeta, SubjectMeta, DOSSIERS, SUBJECTS, SUBJECT_LINKS};
use crate::archive::Denial;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Outcome};
use crate::domain::{DossierId, SubjectId};
use crate::policy::access::{SubjectAction, SubjectFacts};
use crate::store::keys;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What access decisions may know of a subject: the owners and regions of
/// the dossiers that name them, and whether they restricted processing.
pub(crate) fn subject_facts(meta: &SubjectMeta, dossiers: &[DossierMeta]) -> SubjectFacts {
    SubjectFacts {
        owners: dossiers.iter().map(|d| d.owner.clone()).collect(),
        regions: dossiers.iter().map(|d| d.region.clone()).collect(),
        restricted: meta.restricted_at.is_some(),
    }
}

/// A dossier by the keyed hash of an external reference (its credit code,
/// an import's key column): `x/<hash>` in `documents`.
pub(crate) const DOSSIER_BY_REF: crate::store::Lookup<str, crate::domain::DossierId> =
    crate::store::Lookup::new(crate::store::Cf::Documents, keys::external_ref);

impl Dossiers {
    /// The dossiers that name a subject, through its links.
    pub(crate) fn subject_dossiers(&self, sid: &SubjectId) -> Result<Vec<DossierMeta>, ArchiveError> {
        let mut out = Vec::new();
        for id in SUBJECT_LINKS.members(self.store.as_ref(), sid)? {
            if let Some(meta) = DOSSIERS.get(self.store.as_ref(), &id)? {
                out.push(meta);
            }
        }
        Ok(out)
    }

    /// Naming a person already on record in a dossier links them to it, and
    /// through it shows their other dossiers and consents: it needs the right
    /// to that person (`subject.link`). The subjects in `linked` (the
    /// dossier's own) need none. An unknown id and one the caller may not
    /// name get the same 403, so that the answer does not tell whether an id
    /// exists; the audit entry says which it was.
    pub(crate) async fn authorize_links(
        &self,
        ctx: &RequestCtx,
        (action, resource): (Action, &str),
        purpose: &str,
        named: &[Option<SubjectId>],
        linked: &[SubjectId],
    ) -> Result<(), ArchiveError> {
        for (i, sid) in named.iter().enumerate() {
            let Some(sid) = sid.as_ref().filter(|s| !linked.contains(s)) else { continue };
            let basis = match SUBJECTS.hold(self.store.as_ref(), sid)? {
                None => None,
                Some(held) => {
                    let facts = subject_facts(&held.value, &self.subject_dossiers(sid)?);
                    let d =
                        self.policy.access.decide_subject(&ctx.principal, SubjectAction::Link, purpose, sid, &facts);
                    if d.allowed {
                        continue;
                    }
                    Some(d.basis)
                }
            };
            let path = format!("/contacts/{i}/subject_id");
            let mut e = ctx.entry(action, resource, Outcome::Deny, "");
            e.subjects = vec![sid.to_string()];
            return self.gate.deny(e, Denial::Link { path, basis }, None).await;
        }
        Ok(())
    }

    /// The keyed hash of an external reference (the key of its
    /// [`DOSSIER_BY_REF`] row): under the blind-index key, so the index
    /// holds no credit code in the clear.
    pub(crate) fn external_ref_hash(&self, field: &str, value: &str) -> Result<String, ArchiveError> {
        let key = self.keyring.house(crate::crypto::KeyRef::BlindIndex)?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose())
            .map_err(|e| ArchiveError::Internal(anyhow::anyhow!("{e}")))?;
        mac.update(b"custos-external-ref-v1\0");
        mac.update(field.as_bytes());
        mac.update(b"\0");
        mac.update(value.trim().as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    pub(crate) fn all_dossiers(&self) -> Result<Vec<DossierMeta>, ArchiveError> {
        Ok(DOSSIERS.values(self.store.as_ref()).collect::<Result<_, _>>()?)
    }

    /// Whether the caller may change dossier `id` under the purpose they
    /// stated: the `dossier.update` decision, without an entry (for the
    /// console's edit link; the update itself decides again, audited).
    pub fn may_update(&self, ctx: &RequestCtx, id: &DossierId) -> bool {
        let Some((purpose, meta)) = self.menu_facts(ctx, id) else { return false };
        let facts = meta.facts();
        let change = crate::policy::access::Change::Update;
        self.policy.access.decide_change(&ctx.principal, change, purpose, id.as_str(), facts, facts).allowed
    }

    /// The purpose the caller stated and the dossier's metadata, for a
    /// decision asked without an entry (what a page offers); `None` when
    /// either is missing, so that nothing is offered.
    pub(crate) fn menu_facts<'c>(&self, ctx: &'c RequestCtx, id: &DossierId) -> Option<(&'c str, DossierMeta)> {
        let crate::archive::StatedPurpose::Given(purpose) = &ctx.purpose else { return None };
        let (meta, _) = self.meta(id).ok().flatten()?;
        Some((purpose.as_str(), meta))
    }
}
