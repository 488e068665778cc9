//! `GET /v1/search`: policy-filtered, audited queries over the index (kept
//! by [`crate::archive::index::Indexer`]).

use crate::archive::dossiers::Dossiers;
use crate::archive::records::DossierMeta;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::SubjectId;
use crate::domain::{Classification, DossierId};
use crate::policy::access::FieldOutcome;
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

impl Dossiers {
    /// Whether a person of the dossier whose name, phone or email is the
    /// query (as the blind index matched it) is shown to this caller in
    /// clear. Their values are opened here only to attribute the match;
    /// nothing of them is answered.
    fn matched_person_clear(&self, meta: &DossierMeta, plan: &super::ReadPlan, q: &str) -> Result<bool, ArchiveError> {
        let split = self.vault.open_version_split(&meta.id, meta.current_version)?;
        let clear = |sid: &SubjectId| plan.outcome(Classification::Personal, Some(sid)) == FieldOutcome::Clear;
        if let Some(sid) = split.proprietor_id() {
            let values = std::iter::once(split.customer_name()).chain(split.credit_code());
            if values.into_iter().any(|v| crate::search::same_value(q, v)) && clear(sid) {
                return Ok(true);
            }
        }
        Ok(split.contacts.iter().any(|(sid, p, _)| {
            let values = std::iter::once(&p.name).chain(p.phone.iter()).chain(p.email.iter());
            let matched = values.into_iter().any(|v| crate::search::same_value(q, v));
            matched && clear(sid)
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
        const ACTION: Action = Action::Search;
        self.refuse_outside_party(ctx, ACTION, "").await?;
        let purpose = self.gate.purpose(ctx, ACTION, "").await?;
        let Some(ix) = self.index.index() else {
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
        // A caller no read permit can ever apply to (an auditor) is shown
        // nothing of any dossier: no candidate is looked at.
        let may_read = self.policy.access.may_read_some(&ctx.principal);
        let mut want = (offset + limit + 1) * 2;
        let visible = loop {
            if !may_read {
                break Vec::new();
            }
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
                // A natural-person customer's name is their personal data.
                let name = match &meta.proprietor {
                    Some(sid) => plan.field_outcome(sid, "name").0,
                    None => plan.outcome(Classification::Internal, None),
                };
                visible.push((h.score, meta, plan.outcome(Classification::Internal, None), name));
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
        for (score, meta, outcome, name_outcome) in visible.into_iter().skip(offset).take(limit) {
            let show = |path: &str, v: String, outcome: FieldOutcome| match outcome {
                FieldOutcome::Clear => v,
                FieldOutcome::Masked => self
                    .policy
                    .masking
                    .mask(path, &v.into())
                    .as_str()
                    .map_or_else(crate::policy::masking::masked_text, str::to_owned),
                FieldOutcome::Withheld => String::new(),
            };
            // Withheld or erased: an empty name, never a stale one.
            let name = match name_outcome {
                FieldOutcome::Withheld => None,
                _ => self.index.customer_name(&meta)?,
            };
            page.push(SearchHit {
                id: meta.id.to_string(),
                score,
                customer_name: name.map(|n| show("/customer/name", n, name_outcome)).unwrap_or_default(),
                grade: show("/grade", format!("{:?}", meta.grade), outcome),
                region: show("/customer/region", meta.region.clone(), outcome),
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
