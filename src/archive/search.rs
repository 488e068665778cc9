//! Search: keeping the index in step with the store, repairing it after a
//! crash, rebuilding it, and policy-filtered, audited queries.

use super::records::DossierMeta;
use super::vault::{Opened, Part, SegmentName};
use super::{Archive, ArchiveError, RequestCtx};
use crate::audit::{Commit, Outcome};
use crate::crypto::{CryptoError, KeyRef};
use crate::domain::dossier::SplitDossier;
use crate::domain::{Classification, DossierId, SubjectId};
use crate::policy::access::FieldOutcome;
use crate::search::{IndexDoc, SearchIndex};
use crate::store::{keys, Cf};
use serde::Serialize;

const MAX_LIMIT: usize = 100;
const DEFAULT_LIMIT: usize = 20;
/// How deep a result list can be paged (the cursor's offset): deeper pages
/// cost a search of every hit before them; narrow the query instead.
const MAX_OFFSET: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub id: String,
    pub score: f32,
    pub customer_name: String,
    pub grade: String,
    pub region: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub next_cursor: Option<String>,
}

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
    let mut text: Vec<&str> = vec![&b.customer.name, &b.customer.region];
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

impl Archive {
    /// Opens the search index in `dir`, creating the blind-index key on
    /// first use.
    pub fn enable_search(&mut self, dir: &std::path::Path) -> anyhow::Result<()> {
        let key = match self.keyring.get(&KeyRef::BlindIndex) {
            Ok(k) => k,
            Err(CryptoError::KeyDestroyed(_)) => {
                let (k, op) = self.keyring.create(&KeyRef::BlindIndex)?;
                self.store.write(&[op], true)?;
                self.keyring.remember(KeyRef::BlindIndex, k.clone());
                k
            }
            Err(e) => return Err(e.into()),
        };
        self.search = Some(SearchIndex::open(dir, zeroize::Zeroizing::new(*key.expose()))?);
        Ok(())
    }

    /// Indexes a version just committed. A failure is logged, not returned:
    /// the store is the record, and start-up repairs the index from it.
    /// `fresh`: people this write created (not looked up: they cannot have
    /// restricted processing yet).
    pub(super) fn index_version(&self, id: &DossierId, version: u32, split: &SplitDossier, fresh: &[SubjectId]) {
        if let Some(ix) = &self.search {
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
    pub(super) fn unindex_subject(&self, subject: &SubjectId, dossiers: &[DossierId]) -> Result<(), ArchiveError> {
        let Some(ix) = &self.search else { return Ok(()) };
        self.stage_current(ix, dossiers, Some(subject))?;
        ix.remove(&[]).map_err(anyhow::Error::from)?;
        Ok(())
    }

    /// The people of `split` who restricted processing: a restricted person
    /// is not found by search, not even by a full phone number (PIPL 44,
    /// GDPR 18).
    fn restricted_among(&self, split: &SplitDossier, fresh: &[SubjectId]) -> Result<Vec<SubjectId>, ArchiveError> {
        let mut out = Vec::new();
        for (sid, _, _) in split.contacts.iter().filter(|(sid, _, _)| !fresh.contains(sid)) {
            let Some(meta) = super::records::SUBJECTS.get(self.store.as_ref(), sid)? else { continue };
            if meta.restricted_at.is_some() {
                out.push(sid.clone());
            }
        }
        Ok(out)
    }

    /// Indexes the current versions of `dossiers` again (a person named in
    /// them restricted processing or lifted it), and commits.
    pub(crate) fn reindex_dossiers(&self, dossiers: &[DossierId]) -> Result<(), ArchiveError> {
        let Some(ix) = &self.search else { return Ok(()) };
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
            let Some((meta, _)) = self.meta(did)? else { continue };
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
    pub(super) fn unindex_dossiers(&self, ids: &[DossierId]) -> Result<(), ArchiveError> {
        if let Some(ix) = &self.search {
            ix.remove(&ids.iter().map(|i| i.to_string()).collect::<Vec<_>>()).map_err(anyhow::Error::from)?;
        }
        Ok(())
    }

    /// The customer's name in a dossier's current version: its business
    /// segment alone is opened.
    fn customer_name(&self, meta: &DossierMeta) -> Result<String, ArchiveError> {
        let (rec, _) = self
            .vault
            .load_version(&meta.id, meta.current_version)?
            .ok_or_else(|| anyhow::anyhow!("version record missing"))?;
        for seg in rec.segments.iter().filter(|s| s.name == SegmentName::Business) {
            if let Opened::Plain(Part::Business(b)) = self.vault.open_segment(&meta.id, &rec, seg)? {
                return Ok(b.customer.name);
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
        let Some(ix) = &self.search else { return Ok(RepairReport::default()) };
        let mut report = RepairReport::default();
        // One commit, then every check against it; the re-indexing below is
        // staged and committed once at the end.
        let mut indexed = ix.indexed_versions().map_err(anyhow::Error::from)?;
        for row in self.store.scan(Cf::Dossiers, keys::DOSSIER_PREFIX, keys::DOSSIER_PREFIX) {
            let (k, raw) = row?;
            if k.contains(&b'/') {
                continue;
            }
            let meta: DossierMeta = serde_json::from_slice(&raw).map_err(|e| ArchiveError::Internal(e.into()))?;
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

    /// Whether a person of the dossier whose name, phone or email is the
    /// query (as the blind index matched it) is shown to this caller in
    /// clear. Their values are opened here only to attribute the match;
    /// nothing of them is answered.
    fn matched_person_clear(
        &self,
        meta: &DossierMeta,
        plan: &super::dossiers::ReadPlan,
        q: &str,
    ) -> Result<bool, ArchiveError> {
        let split = self.vault.open_version_split(&meta.id, meta.current_version)?;
        Ok(split.contacts.iter().any(|(sid, p, _)| {
            let values = std::iter::once(&p.name).chain(p.phone.iter()).chain(p.email.iter());
            let matched = values.into_iter().any(|v| crate::search::same_value(q, v));
            matched && plan.outcome(Classification::Personal, Some(sid)) == FieldOutcome::Clear
        }))
    }

    /// `GET /v1/search`: matches the caller may read, with the fields shown
    /// as a read would show them. The query is audited only as a keyed hash.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn search(
        &self,
        ctx: &RequestCtx,
        q: &str,
        grade: Option<&str>,
        region: Option<&str>,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<SearchPage, ArchiveError> {
        const ACTION: &str = "search";
        self.refuse_outside_party(ctx, ACTION, "").await?;
        let purpose = self.gate.purpose(ctx, ACTION, "").await?;
        let Some(ix) = &self.search else {
            return Err(ArchiveError::Internal(anyhow::anyhow!("search is not enabled")));
        };
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let offset: usize = match cursor {
            None => 0,
            Some(c) => match c.strip_prefix("o").and_then(|n| n.parse().ok()).filter(|n| *n <= MAX_OFFSET) {
                Some(n) => n,
                None => {
                    let e = ctx.entry(ACTION, "", Outcome::Error, "a cursor this server did not issue");
                    return self
                        .gate
                        .refuse(e, ArchiveError::BadRequest("cursor is not one this server issued".into()))
                        .await;
                }
            },
        };
        // The parser's bounds hold here, for every edge (API, console).
        if let Some(why) = crate::search::query_problem(q) {
            let e = ctx.entry(ACTION, "", Outcome::Error, why.clone());
            return self.gate.refuse(e, ArchiveError::BadRequest(why)).await;
        }
        let grade = grade.filter(|g| !g.is_empty());
        let region = region.filter(|r| !r.is_empty());
        if grade.is_some_and(|g| !matches!(g, "A" | "B" | "C")) {
            let e = ctx.entry(ACTION, "", Outcome::Error, "grade is not A, B or C");
            return self.gate.refuse(e, ArchiveError::BadRequest("grade must be A, B or C".into())).await;
        }
        // Candidates in score order; the policy filter runs over them until a
        // page (and one more, to know whether there is a next page) is found.
        let mut want = (offset + limit + 1) * 2;
        let visible = loop {
            let hits = ix.search(q, grade, region, want).map_err(anyhow::Error::from)?;
            let exhausted = hits.len() < want;
            let mut visible = Vec::new();
            for h in hits {
                let Ok(did) = DossierId::parse(&h.id) else { continue };
                let Some((meta, _)) = self.meta(&did)? else { continue };
                if meta.destroyed.is_some() {
                    continue;
                }
                let plan = self.read_plan(ctx, purpose, &meta, &meta.subjects)?;
                if !plan.anything_visible() {
                    continue;
                }
                // Found by a personal value alone: only for a caller who sees
                // the person it belongs to in clear, or the search would
                // confirm a value the caller sees masked or not at all.
                if !h.by_text && !self.matched_person_clear(&meta, &plan, q)? {
                    continue;
                }
                visible.push((h.score, meta, plan.outcome(Classification::Internal, None)));
                if visible.len() > offset + limit {
                    break;
                }
            }
            if visible.len() > offset + limit || exhausted {
                break visible;
            }
            want *= 4;
        };
        let more = visible.len() > offset + limit;
        // The fields of the page shown, from the store: the index holds none.
        let mut page = Vec::with_capacity(limit);
        for (score, meta, outcome) in visible.into_iter().skip(offset).take(limit) {
            let show = |path: &str, v: String| match outcome {
                FieldOutcome::Clear => v,
                FieldOutcome::Masked => self
                    .policy
                    .masking
                    .mask(path, &v.into())
                    .as_str()
                    .map_or_else(crate::policy::masking::masked_text, str::to_owned),
                FieldOutcome::Withheld => String::new(),
            };
            let name = match outcome {
                FieldOutcome::Withheld => String::new(),
                _ => self.customer_name(&meta)?,
            };
            page.push(SearchHit {
                id: meta.id.to_string(),
                score,
                customer_name: show("/customer/name", name),
                grade: show("/grade", format!("{:?}", meta.grade)),
                region: show("/customer/region", meta.region.clone()),
            });
        }
        let qhash = &ix.blind(&format!("query:{q}"))[..16];
        let region_note =
            region.map(|r| format!(", region hmac:{}", &ix.blind(&format!("region:{r}"))[..16])).unwrap_or_default();
        let ids: Vec<&str> = page.iter().map(|h| h.id.as_str()).collect();
        let reason = format!(
            "query hmac:{qhash}{}{region_note}, purpose {purpose}; {} hit(s): {}",
            grade.map(|g| format!(", grade {g}")).unwrap_or_default(),
            page.len(),
            ids.join(" ")
        );
        self.audit.commit(Commit::entry(ctx.entry(ACTION, "", Outcome::Allow, reason))).await?;
        Ok(SearchPage { next_cursor: more.then(|| format!("o{}", offset + limit)), hits: page })
    }
}
