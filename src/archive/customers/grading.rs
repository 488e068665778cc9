//! Grading as policy (`policies/grading.toml`): the inputs computed from a
//! dossier's figures, age and credit rating; a grade change is a new
//! version of the dossier written by custos, its audit entry recording the
//! inputs, the rule and the rule set's SHA-256 (PIPL Art. 24). A manual
//! override needs a reason, is audited, and wins until the figures change.
//! Grading is an automated decision: no grade changes by the rules until an
//! impact assessment covering `automated_decision` is on record (PIPL Art.
//! 55(2), while `policies/assessments.toml` requires it).

use super::figures::{month_of, months_before};
use crate::archive::customers::Customers;
use crate::archive::dossiers::{Author, NextVersion};
use crate::archive::records::{DossierMeta, GradeStand};
use crate::archive::vault::Slot;
use crate::archive::{ArchiveError, Created, Denial, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::crypto::{KeyRef, Sealed};
use crate::domain::dossier::Grade;
use crate::domain::{Classification, DossierId, PrincipalId, ProcessingKind};
use crate::policy::access::{Change, FieldOutcome};
use crate::policy::grading::{GradeInputs, Grading};
use crate::store::{keys, Cf, Table};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Manual grades: `o/<dos>/<n u32 BE>` in `documents`, append-only.
const OVERRIDES: Table<(DossierId, u32), OverrideRecord> =
    Table::new(Cf::Documents, b"o/", |(did, n): &(DossierId, u32)| keys::grade_override(did, *n));

/// A manual grade, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OverrideRecord {
    n: u32,
    grade: Grade,
    /// Why (free text: sealed under the dossier's key).
    reason: Sealed,
    by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    /// How many figure revisions there were: more later end the override.
    figure_revisions: u32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OverrideView {
    #[schema(value_type = String)]
    pub grade: Grade,
    /// `None` when the caller may not see the dossier's confidential fields in clear.
    pub reason: Option<String>,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Whether it still wins (no figures recorded since).
    pub active: bool,
}

/// `GET /v1/dossiers/{id}/grade`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GradeExplanation {
    #[schema(value_type = String)]
    pub grade: Grade,
    /// `rules`, or `override` while a manual grade wins.
    pub decided_by: String,
    /// Whether the rules grade at all: false while automated grading waits
    /// for an impact assessment covering it (PIPL Art. 55(2)); `computed`
    /// then says what they would give.
    pub automated_grading: bool,
    pub inputs: GradeInputs,
    /// What the rules give now, rule by rule.
    pub computed: Grading,
    pub window: String,
    #[serde(rename = "override")]
    pub manual: Option<OverrideView>,
    /// `legal_person`, `sole_trader` or `natural_person`: for the two
    /// last, the grade is an automated decision about a person.
    pub customer_kind: String,
    /// The proprietor's contest or objection, if any: while either holds,
    /// no rule changes the grade.
    pub stand: GradeStand,
    /// The monthly figures the inputs come from: each month's latest
    /// revision, the last [`MONTHS_SHOWN`] months on record, oldest first.
    pub months: Vec<super::FigureRecord>,
}

/// Months of figures an explanation lists at most (three years).
pub const MONTHS_SHOWN: usize = 36;

/// A grade a run changed (or, dry, would change).
#[derive(Debug, Clone, Serialize)]
pub struct GradeChange {
    pub dossier: DossierId,
    pub from: Grade,
    pub to: Grade,
    pub rule: String,
    pub version: Option<u32>,
}

pub(super) fn grade_name(g: Grade) -> &'static str {
    match g {
        Grade::A => "A",
        Grade::B => "B",
        Grade::C => "C",
    }
}

impl Customers {
    /// The inputs of `meta`'s grade now.
    pub(crate) fn grade_inputs(&self, meta: &DossierMeta) -> Result<(GradeInputs, String), ArchiveError> {
        let now = self.clock.now();
        let rules = &self.policy.grading;
        let this = month_of(now);
        let (first, last) = (months_before(this, rules.window_months), months_before(this, 1));
        let figures = self.current_figures(&meta.id)?;
        let (mut orders, mut returns, mut amount, mut active) = (0u64, 0u64, 0f64, 0u32);
        for (_, f) in figures.range(first..=last) {
            orders += f.orders;
            returns += f.returns;
            amount += f.amount;
            if f.orders > 0 {
                active += 1;
            }
        }
        let years = ((now - meta.created_at).whole_days().max(0) / 365) as u32;
        let split = self.vault.open_version_split(&meta.id, meta.current_version)?;
        // A natural-person customer's rating is its proprietor's (absent once erased).
        let credit =
            split.confidential.and_then(|c| c.credit_rating).or(split.proprietor.and_then(|p| p.credit_rating));
        let return_rate = if orders == 0 { 0.0 } else { returns as f64 / orders as f64 };
        let window = format!("{:04}-{:02} to {:04}-{:02}", first.0, first.1, last.0, last.1);
        Ok((GradeInputs { orders, active_months: active, amount, years, credit, return_rate }, window))
    }

    fn overrides(&self, did: &DossierId) -> Result<Vec<OverrideRecord>, ArchiveError> {
        let rows = OVERRIDES.scan_under(self.store.as_ref(), keys::grade_overrides_prefix(did));
        Ok(rows.map(|r| r.map(|(_, v)| v)).collect::<Result<_, _>>()?)
    }

    /// The latest override and whether it still wins.
    fn live_override(&self, did: &DossierId) -> Result<Option<(OverrideRecord, bool)>, ArchiveError> {
        let Some(last) = self.overrides(did)?.pop() else { return Ok(None) };
        let revisions = self.figure_rows(did)?.len() as u32;
        let active = revisions == last.figure_revisions;
        Ok(Some((last, active)))
    }

    /// Whether the rules may grade: an impact assessment covers automated
    /// decisions, or the policy does not ask for one.
    pub fn automated_grading_assessed(&self) -> bool {
        self.gate.may_process(ProcessingKind::AutomatedDecision)
    }

    /// Regrades one dossier by the rules (unless a manual grade wins, or
    /// automated grading waits for its impact assessment): a new version
    /// when the grade changes, written by custos.
    pub(crate) async fn regrade(&self, did: &DossierId, dry_run: bool) -> Result<Option<GradeChange>, ArchiveError> {
        const ACTION: Action = Action::DossierGrade;
        if !self.automated_grading_assessed() {
            return Ok(None);
        }
        let Some((meta, meta_raw)) = self.dossiers.meta(did)? else { return Ok(None) };
        // No figures recorded: nothing to grade on; the grade stays as set.
        // A contest waits for a human; an objection stops it (PIPL Art. 24(3)).
        if meta.destroyed.is_some()
            || !meta.grade_stand.is_empty()
            || self.figure_rows(did)?.is_empty()
            || self.live_override(did)?.is_some_and(|(_, active)| active)
        {
            return Ok(None);
        }
        let (inputs, window) = self.grade_inputs(&meta)?;
        let g = self.policy.grading.grade(&inputs);
        if g.grade == meta.grade {
            return Ok(None);
        }
        let mut change =
            GradeChange { dossier: did.clone(), from: meta.grade, to: g.grade, rule: g.rule.clone(), version: None };
        if dry_run {
            return Ok(Some(change));
        }
        let credit = match &inputs.credit {
            // The rating itself is confidential: the version holds it; the entry says how it counted.
            Some(_) => "credit recorded (confidential, in the version)",
            None => "no credit rating recorded",
        };
        let reason = format!(
            "graded {}→{} by {}; inputs {window}: orders={} active_months={} amount={:.2} years={} return_rate={:.4}, {credit}; grading.toml sha256 {}",
            grade_name(meta.grade),
            grade_name(g.grade),
            g.rule,
            inputs.orders,
            inputs.active_months,
            inputs.amount,
            inputs.years,
            inputs.return_rate,
            g.rules_sha256
        );
        let mut split = self.vault.open_version_split(did, meta.current_version)?;
        split.business.grade = g.grade;
        let next = NextVersion { action: ACTION, meta, meta_raw, split, ended_at: None, reason, extra: vec![] };
        let created = self.dossiers.append_version(Author::System, did, next).await?;
        change.version = Some(created.version);
        Ok(Some(change))
    }

    /// Regrades every live dossier (the grading job; `custos grading run`).
    /// While automated grading waits for its impact assessment and there
    /// are figures to grade on: 403 `processing-not-assessed`.
    pub async fn regrade_all(&self, dry_run: bool) -> Result<Vec<GradeChange>, ArchiveError> {
        if !self.automated_grading_assessed() {
            if super::figures::FIGURES.values(self.store.as_ref()).next().is_none() {
                return Ok(Vec::new());
            }
            return Err(ArchiveError::forbidden(Denial::ProcessingNotAssessed(ProcessingKind::AutomatedDecision)));
        }
        let mut changes = Vec::new();
        for meta in self.dossiers.all_dossiers()? {
            if meta.destroyed.is_some() {
                continue;
            }
            match self.regrade(&meta.id, dry_run).await {
                Ok(Some(c)) => changes.push(c),
                Ok(None) => {}
                // Changed meanwhile: the next run sees it.
                Err(ArchiveError::VersionMismatch { .. }) => {}
                // One dossier's refusal (audited by the write) stops no other's.
                Err(ArchiveError::Conflict(_)) => {
                    tracing::warn!(dossier = %meta.id, "automated grading skipped a dossier it could not write");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(changes)
    }

    /// `GET /v1/dossiers/{id}/grade`: the grade, what decided it, the inputs
    /// and every rule's checks (the credit rating as the caller may see it).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn explain_grade(&self, ctx: &RequestCtx, id: &str) -> Result<GradeExplanation, ArchiveError> {
        const ACTION: Action = Action::GradeExplain;
        self.dossiers.refuse_outside_party(ctx, ACTION, id).await?;
        let (did, meta, plan) = self.dossiers.plan_read(ctx, ACTION, id, None).await?;
        let (mut inputs, window) = self.grade_inputs(&meta)?;
        let computed = self.policy.grading.grade(&inputs);
        // A person's credit rating is their sensitive data (PIPL Art. 28).
        let confidential = match &meta.proprietor {
            Some(sid) => plan.outcome(Classification::Sensitive, Some(sid)),
            None => plan.outcome(Classification::Confidential, None),
        };
        if confidential != FieldOutcome::Clear {
            inputs.credit = inputs.credit.map(|_| crate::policy::masking::masked_text());
        }
        let mut computed = computed;
        if confidential != FieldOutcome::Clear {
            for r in &mut computed.rules {
                for c in r.checks.iter_mut().filter(|c| c.condition == "credit") {
                    c.actual = crate::policy::masking::masked_text();
                }
            }
        }
        let manual = match self.live_override(&did)? {
            None => None,
            Some((o, active)) => {
                let reason = if confidential == FieldOutcome::Clear {
                    let slot = Slot::GradeOverride(&did, o.n);
                    self.vault.open_text(&KeyRef::Dossier(did.clone()), slot, &o.reason)?.plain()
                } else {
                    None
                };
                Some(OverrideView { grade: o.grade, reason, by: o.by.to_string(), at: o.at, active })
            }
        };
        let decided_by = if manual.as_ref().is_some_and(|m| m.active) { "override" } else { "rules" };
        let reason = format!(
            "grade {} ({decided_by}); rules sha256 {}; {}",
            grade_name(meta.grade),
            computed.rules_sha256,
            plan.reasons()
        );
        // About the proprietor: it can answer their explanation request.
        let about: Vec<_> = meta.proprietor.iter().cloned().collect();
        self.audit
            .commit(Commit::entry(self.dossiers.dossier_entry(ctx, ACTION, id, &about, Outcome::Allow, reason)))
            .await?;
        let all: Vec<super::FigureRecord> = self.current_figures(&did)?.into_values().collect();
        let months = all[all.len().saturating_sub(MONTHS_SHOWN)..].to_vec();
        let customer_kind = match meta.proprietor {
            Some(_) => self.vault.open_version_split(&did, meta.current_version)?.business.customer.kind,
            None => Default::default(),
        };
        Ok(GradeExplanation {
            grade: meta.grade,
            decided_by: decided_by.into(),
            automated_grading: self.automated_grading_assessed(),
            inputs,
            computed,
            window,
            manual,
            customer_kind: customer_kind.as_str().into(),
            stand: meta.grade_stand,
            months,
        })
    }

    /// The next manual grade of `did` (its number, and the op writing it,
    /// its reason sealed under the dossier's key).
    pub(super) fn override_op(
        &self,
        did: &DossierId,
        grade: Grade,
        why: &str,
        by: &PrincipalId,
    ) -> Result<(u32, crate::store::Op), ArchiveError> {
        let n = self.overrides(did)?.len() as u32;
        let reason =
            self.vault.seal_live(&KeyRef::Dossier(did.clone()), Slot::GradeOverride(did, n), why.as_bytes())?;
        let at = self.clock.now();
        let figure_revisions = self.figure_rows(did)?.len() as u32;
        let record = OverrideRecord { n, grade, reason, by: by.clone(), at, figure_revisions };
        Ok((n, OVERRIDES.put_unguarded(&(did.clone(), n), &record)?))
    }

    /// `POST /v1/dossiers/{id}/grade` `{grade, reason}`: a manual grade
    /// (whoever may update the dossier), audited; it wins until the
    /// dossier's figures change.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn override_grade(
        &self,
        ctx: &RequestCtx,
        id: &str,
        grade: Grade,
        why: &str,
    ) -> Result<Created, ArchiveError> {
        const ACTION: Action = Action::GradeOverride;
        let (did, meta, meta_raw, allowed) = self.dossiers.authorize_change(ctx, ACTION, id, Change::Update).await?;
        if meta.grade_stand.contested.is_some() {
            let why = "the grade is contested: a review decides it (POST /v1/dossiers/{id}/grade/review)";
            let e = self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, why);
            return self.gate.refuse(e, ArchiveError::Conflict(why.into())).await;
        }
        let (n, op) = self.override_op(&did, grade, why, &ctx.principal.id)?;
        let mut split = self.vault.open_version_split(&did, meta.current_version)?;
        split.business.grade = grade;
        let reason = format!(
            "{allowed}; manual grade {}→{} (override {n}, reason sealed); wins until the figures change",
            grade_name(meta.grade),
            grade_name(grade)
        );
        let next = NextVersion { action: ACTION, meta, meta_raw, split, ended_at: None, reason, extra: vec![op] };
        self.dossiers.append_version(Author::Request(ctx), &did, next).await
    }
}
