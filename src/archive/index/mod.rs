//! The search index kept in step with the store: each version indexed as
//! it is committed, people who restricted processing or are being erased
//! left out, destroyed dossiers removed physically, and the whole index
//! repaired from the store at start-up. The index (tantivy, with a blind
//! index of personal values) is this service's alone; the search query
//! (`dossiers::search`) reads it through [`Indexer::index`].

use crate::archive::interaction_records::{interactions_of, InteractionRecord};
use crate::archive::records::{DossierMeta, DOSSIERS, SUBJECTS};
use crate::archive::vault::{Opened, Part, SegmentName, Slot, Vault};
use crate::archive::ArchiveError;
use crate::crypto::{CryptoError, KeyRef, Keyring};
use crate::domain::dossier::SplitDossier;
use crate::domain::{DossierId, SubjectId};
use crate::search::{IndexDoc, SearchIndex};
use crate::store::KvStore;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairReport {
    pub reindexed: usize,
    pub removed: usize,
    pub checked: usize,
}

/// The searchable business text of a dossier and its contacts' personal
/// values (for the blind index), leaving out the people `without` names (a
/// person being erased, or who restricted processing).
fn index_doc(id: &DossierId, version: u32, split: &SplitDossier, without: &[SubjectId], notes: &[String]) -> IndexDoc {
    let b = &split.business;
    // A natural-person customer's name is its proprietor's: blind-indexed
    // like a contact's, never in clear.
    let proprietor = split.proprietor_id();
    let mut text: Vec<&str> = vec![&b.customer.region];
    if proprietor.is_none() {
        text.insert(0, &b.customer.name);
    }
    text.extend(b.customer.industry.as_deref());
    if let Some(t) = &b.transport {
        text.extend(t.cargo_types.iter().map(String::as_str));
        text.extend(t.routes.iter().map(String::as_str));
    }
    if let Some(p) = &b.preferences {
        text.extend(p.delivery.as_deref());
        text.extend(p.packaging.as_deref());
        text.extend(p.extras.iter().map(String::as_str));
    }
    text.extend(b.remarks.as_deref());
    text.extend(b.tags.iter().map(String::as_str));
    // Interaction summaries, searchable like the remarks.
    text.extend(notes.iter().map(String::as_str));
    let mut personal = Vec::new();
    if proprietor.is_some_and(|sid| !without.contains(sid)) {
        personal.push(split.customer_name().to_owned());
        personal.extend(split.credit_code().map(str::to_owned));
    }
    for (sid, p, _) in &split.contacts {
        if without.contains(sid) {
            continue;
        }
        personal.push(p.name.clone());
        personal.extend(p.phone.clone());
        personal.extend(p.email.clone());
    }
    IndexDoc {
        id: id.to_string(),
        version,
        grade: format!("{:?}", b.grade),
        region: b.customer.region.clone(),
        text: text.join("\n"),
        personal,
    }
}

/// The search index and its upkeep.
pub struct Indexer {
    store: Arc<dyn KvStore>,
    vault: Arc<Vault>,
    /// None when search is not enabled (the offline CLI).
    index: Option<Arc<SearchIndex>>,
}

impl Indexer {
    /// Opens the search index in `dir` (none: search disabled), creating
    /// the blind-index key on first use.
    pub(in crate::archive) fn open(
        store: Arc<dyn KvStore>,
        keyring: &Keyring,
        vault: Arc<Vault>,
        dir: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let Some(dir) = dir else { return Ok(Indexer { store, vault, index: None }) };
        let key = match keyring.get(&KeyRef::BlindIndex) {
            Ok(k) => k,
            Err(CryptoError::KeyDestroyed(_)) => {
                let (k, op) = keyring.create(&KeyRef::BlindIndex)?;
                store.write(&[op], true)?;
                keyring.remember(KeyRef::BlindIndex, k.clone());
                k
            }
            Err(e) => return Err(e.into()),
        };
        let index = Some(Arc::new(SearchIndex::open(dir, zeroize::Zeroizing::new(*key.expose()))?));
        Ok(Indexer { store, vault, index })
    }

    /// The upkeep of an index opened elsewhere (a standby's, which opens
    /// its vault afresh as the stream shreds keys).
    pub(in crate::archive) fn over(store: Arc<dyn KvStore>, vault: Arc<Vault>, index: Arc<SearchIndex>) -> Self {
        Indexer { store, vault, index: Some(index) }
    }

    /// The index, when search is enabled.
    pub(in crate::archive) fn index(&self) -> Option<&SearchIndex> {
        self.index.as_deref()
    }

    /// Indexes a version just committed. A failure is logged, not returned:
    /// the store is the record, and start-up repairs the index from it.
    /// `fresh`: people this write created (not looked up: they cannot have
    /// restricted processing yet).
    pub(in crate::archive) fn index_version(
        &self,
        id: &DossierId,
        version: u32,
        split: &SplitDossier,
        fresh: &[SubjectId],
    ) {
        if let Some(ix) = &self.index {
            let skip = match self.restricted_among(split, fresh) {
                Ok(skip) => skip,
                Err(e) => {
                    tracing::error!(dossier = %id, error = %e, "indexing failed; start-up repair will redo it");
                    return;
                }
            };
            let notes = self.interaction_notes(id, &skip);
            if let Err(e) = ix.upsert(&index_doc(id, version, split, &skip, &notes)) {
                tracing::error!(dossier = %id, error = %e, "indexing failed; start-up repair will redo it");
            }
        }
    }

    /// Re-indexes the current versions of `dossiers` without `subject`, and
    /// makes the old entries physically gone (before the subject's key goes).
    pub(in crate::archive) fn unindex_subject(
        &self,
        subject: &SubjectId,
        dossiers: &[DossierId],
    ) -> Result<(), ArchiveError> {
        let Some(ix) = &self.index else { return Ok(()) };
        self.stage_current(ix, dossiers, Some(subject))?;
        ix.remove(&[]).map_err(anyhow::Error::from)?;
        Ok(())
    }

    /// The people of `split` who restricted processing: a restricted person
    /// is not found by search, not even by a full phone number (PIPL 44,
    /// GDPR 18).
    fn restricted_among(&self, split: &SplitDossier, fresh: &[SubjectId]) -> Result<Vec<SubjectId>, ArchiveError> {
        let mut out = Vec::new();
        let people = split.contacts.iter().map(|(sid, _, _)| sid).chain(split.proprietor_id());
        for sid in people.filter(|sid| !fresh.contains(sid)) {
            let Some(meta) = SUBJECTS.get(self.store.as_ref(), sid)? else { continue };
            // An erased proprietor is never findable again (a version
            // written before their name moved under their key holds it in
            // its business segment).
            if meta.restricted_at.is_some() || meta.erased.is_some() {
                out.push(sid.clone());
            }
        }
        Ok(out)
    }

    /// Indexes the current versions of `dossiers` again (a person named in
    /// them restricted processing or lifted it), and commits.
    pub(in crate::archive) fn reindex_dossiers(&self, dossiers: &[DossierId]) -> Result<(), ArchiveError> {
        let Some(ix) = &self.index else { return Ok(()) };
        self.stage_current(ix, dossiers, None)?;
        ix.commit().map_err(anyhow::Error::from)?;
        Ok(())
    }

    /// Stages the current versions of `dossiers` (not the destroyed), without
    /// the restricted people and `without`.
    fn stage_current(
        &self,
        ix: &SearchIndex,
        dossiers: &[DossierId],
        without: Option<&SubjectId>,
    ) -> Result<(), ArchiveError> {
        for did in dossiers {
            let Some(meta) = DOSSIERS.get(self.store.as_ref(), did)? else { continue };
            if meta.destroyed.is_some() {
                continue;
            }
            let split = self.open_for_index(did, meta.current_version)?;
            let mut skip = self.restricted_among(&split, &[])?;
            skip.extend(without.cloned());
            let notes = self.interaction_notes(did, &skip);
            ix.upsert(&index_doc(did, meta.current_version, &split, &skip, &notes)).map_err(anyhow::Error::from)?;
        }
        Ok(())
    }

    /// Removes destroyed dossiers from the index, physically.
    pub(in crate::archive) fn unindex_dossiers(&self, ids: &[DossierId]) -> Result<(), ArchiveError> {
        if let Some(ix) = &self.index {
            ix.remove(&ids.iter().map(|i| i.to_string()).collect::<Vec<_>>()).map_err(anyhow::Error::from)?;
        }
        Ok(())
    }

    /// The customer's name in a dossier's current version: a natural
    /// person's from their own segment (`None` once they are erased), a
    /// company's from the business segment; nothing else is opened.
    pub(in crate::archive) fn customer_name(&self, meta: &DossierMeta) -> Result<Option<String>, ArchiveError> {
        let (rec, _) = self
            .vault
            .load_version(&meta.id, meta.current_version)?
            .ok_or_else(|| anyhow::anyhow!("version record missing"))?;
        if let Some(sid) = &meta.proprietor {
            let own = SegmentName::Proprietor(sid.clone());
            if let Some(seg) = rec.segments.iter().find(|s| s.name == own) {
                match self.vault.open_segment(&meta.id, &rec, seg)? {
                    Opened::Erased => return Ok(None),
                    Opened::Plain(Part::Proprietor(_, p)) if p.has_identity() => return Ok(p.name),
                    // Written before the name moved under their key.
                    Opened::Plain(_) => {}
                }
            }
        }
        for seg in rec.segments.iter().filter(|s| s.name == SegmentName::Business) {
            if let Opened::Plain(Part::Business(b)) = self.vault.open_segment(&meta.id, &rec, seg)? {
                return Ok(Some(b.customer.name));
            }
        }
        Err(ArchiveError::Internal(anyhow::anyhow!("version has no business segment")))
    }

    /// A version's segments for indexing: an erased person's are left out.
    fn open_for_index(&self, id: &DossierId, version: u32) -> Result<SplitDossier, ArchiveError> {
        self.vault.open_version_split(id, version)
    }

    /// Brings the index in step with the store: re-indexes every dossier
    /// whose indexed version is not its current one (writes a crash lost),
    /// and removes what the store no longer holds. Idempotent.
    pub fn repair_index(&self) -> Result<RepairReport, ArchiveError> {
        let Some(ix) = &self.index else { return Ok(RepairReport::default()) };
        let mut report = RepairReport::default();
        // One commit, then every check against it; the re-indexing below is
        // staged and committed once at the end.
        let mut indexed = ix.indexed_versions().map_err(anyhow::Error::from)?;
        for meta in DOSSIERS.values(self.store.as_ref()) {
            let meta = meta?;
            if meta.destroyed.is_some() {
                continue;
            }
            report.checked += 1;
            if indexed.remove(meta.id.as_str()) != Some(meta.current_version) {
                let split = self.open_for_index(&meta.id, meta.current_version)?;
                let skip = self.restricted_among(&split, &[])?;
                let notes = self.interaction_notes(&meta.id, &skip);
                ix.upsert(&index_doc(&meta.id, meta.current_version, &split, &skip, &notes))
                    .map_err(anyhow::Error::from)?;
                report.reindexed += 1;
            }
        }
        // What is left was indexed but is no longer in the store.
        let stale: Vec<String> = indexed.into_keys().collect();
        report.removed = stale.len();
        if stale.is_empty() {
            ix.commit().map_err(anyhow::Error::from)?;
        } else {
            ix.remove(&stale).map_err(anyhow::Error::from)?;
        }
        Ok(report)
    }

    /// The summaries to index for a dossier (search finds them like the
    /// remarks), leaving out those naming `without` (a person erased or
    /// restricted) and those whose key is gone.
    fn interaction_notes(&self, did: &DossierId, without: &[SubjectId]) -> Vec<String> {
        let Ok(all) = interactions_of(self.store.as_ref(), did) else { return vec![] };
        all.iter()
            .filter(|r| r.contact.as_ref().is_none_or(|c| !without.contains(c)))
            // A summary sealed as the person's own data is not indexed.
            .filter(|r| !r.personal)
            .filter_map(|r| match self.interaction_summary(did, r) {
                Ok(Opened::Plain(text)) => Some(text),
                Ok(Opened::Erased) => None,
                Err(e) => {
                    // Left out of the index, never indexed as erased.
                    tracing::error!(dossier = %did, interaction = %r.id, error = %e, "an interaction summary does not open");
                    None
                }
            })
            .collect()
    }

    fn interaction_summary(&self, did: &DossierId, r: &InteractionRecord) -> Result<Opened<String>, ArchiveError> {
        self.vault.open_text(&r.summary_key(did), Slot::Interaction(did, &r.id), &r.summary)
    }
}

#[cfg(test)]
mod tests;
