//! The data sets as `policies/data_grades.toml` grades them, and the
//! register of grading decisions (DSL Art. 21; NDSMR Art. 5): who decided
//! a set's level, when, and why. The policy is what custos enforces; a
//! decision records it, so a decision must name the level the policy
//! gives. A set whose level has no decision on record is undecided; one
//! whose policy level changed since its last decision is superseded until
//! the new level is decided. Append-only: a decision is never changed.

use super::{iso, Oversight};
use crate::archive::gate::Access;
use crate::archive::{ArchiveError, RequestCtx, Resource};
use crate::audit::{Action, Commit, CommitError, Outcome};
use crate::crypto::Sealed;
use crate::domain::dossier::FieldError;
use crate::domain::{GradeDecisionId, PrincipalId};
use crate::policy::data_grades::{DataSet, Level};
use crate::store::{keys, Cf, Table};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// A grading decision, as compliance records it.
#[derive(Debug, Clone)]
pub struct NewGradeDecision {
    /// The data set's id in data_grades.toml.
    pub set: String,
    pub level: Level,
    pub decided_on: Date,
    /// The body or role that decided (a committee, the data-security
    /// officer's role): sealed.
    pub decided_by: String,
    /// Why (sealed).
    pub reasoning: String,
}

/// `dg/<grd>` in `registers`.
const DECISIONS: Table<GradeDecisionId, DecisionRecord> =
    Table::new(Cf::Registers, keys::GRADE_DECISION_PREFIX, keys::grade_decision);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DecisionRecord {
    id: GradeDecisionId,
    set: String,
    level: Level,
    decided_on: Date,
    decided_by: Sealed,
    reasoning: Sealed,
    recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    recorded_at: OffsetDateTime,
}

/// A grading decision as recorded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GradeDecisionView {
    pub id: String,
    pub set: String,
    pub level: Level,
    /// ISO 8601 date.
    pub decided_on: String,
    pub decided_by: String,
    pub reasoning: String,
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// Whether a set's level in the policy is backed by a decision on record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionState {
    /// The last decision names the policy's level.
    Decided,
    /// No decision on record.
    Undecided,
    /// The last decision names another level: the policy changed since.
    Superseded,
}

/// One data set: the policy's grade and the decisions on record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DataSetView {
    /// As data_grades.toml grades it.
    #[serde(flatten)]
    pub set: DataSet,
    pub decision_state: DecisionState,
    /// Every decision on this set, oldest first.
    pub decisions: Vec<GradeDecisionView>,
}

/// `GET /v1/data-grades`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DataGradesView {
    pub citation: String,
    /// Any set important or core: the yearly risk assessment applies.
    pub holds_important: bool,
    /// The transfer mechanism important data needs to leave the PRC.
    pub important_outbound_mechanism: String,
    /// The person responsible for network-data security and the managing
    /// body, as last appointed (NDSMR Art. 30; required while
    /// `holds_important`).
    pub responsible: Option<super::AppointmentView>,
    pub sets: Vec<DataSetView>,
    /// The SHA-256 of the policy files these grades are read from.
    pub policy_hash: String,
}

impl Oversight {
    fn decision_view(&self, r: &DecisionRecord) -> Result<GradeDecisionView, ArchiveError> {
        let owner = r.id.as_str();
        Ok(GradeDecisionView {
            id: r.id.to_string(),
            set: r.set.clone(),
            level: r.level,
            decided_on: iso(r.decided_on),
            decided_by: self.open(owner, "decided_by", &r.decided_by)?,
            reasoning: self.open(owner, "reasoning", &r.reasoning)?,
            recorded_by: r.recorded_by.to_string(),
            recorded_at: r.recorded_at,
        })
    }

    /// `POST /v1/data-grades/decisions` (compliance): records the decision
    /// behind a set's level.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn decide_grade(&self, ctx: &RequestCtx, d: NewGradeDecision) -> Result<GradeDecisionView, ArchiveError> {
        const ACTION: Action = Action::DataGradeDecide;
        self.gate.require_register(ctx, ACTION, Resource::DataGrades.as_str(), Access::Keep).await?;
        let mut errors = Vec::new();
        match self.policy.data_grades.sets.get(&d.set) {
            None => {
                errors.push(FieldError { path: "/set".into(), message: "not a data set of data_grades.toml".into() })
            }
            Some(s) if s.level != d.level => errors.push(FieldError {
                path: "/level".into(),
                message: format!(
                    "data_grades.toml grades {} {}: change the policy first, then record the decision",
                    s.id,
                    s.level.as_str()
                ),
            }),
            Some(_) => {}
        }
        if d.decided_on > self.clock.now().date() {
            errors.push(FieldError { path: "/decided_on".into(), message: "lies in the future".into() });
        }
        if !errors.is_empty() {
            let e = ctx.entry(ACTION, Resource::DataGrades.as_str(), Outcome::Error, "invalid grading decision");
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let id = GradeDecisionId::generate();
        let record = DecisionRecord {
            id: id.clone(),
            set: d.set,
            level: d.level,
            decided_on: d.decided_on,
            decided_by: self.seal(id.as_str(), "decided_by", d.decided_by.as_bytes())?,
            reasoning: self.seal(id.as_str(), "reasoning", d.reasoning.as_bytes())?,
            recorded_by: ctx.principal.id.clone(),
            recorded_at: self.clock.now(),
        };
        let reason = format!("data set {} graded {}, decided on {}", record.set, record.level.as_str(), d.decided_on);
        let e = ctx.entry(ACTION, id.as_str(), Outcome::Allow, reason);
        let change = DECISIONS.insert(&id, &record)?;
        match self.audit.commit(Commit::guarded(change, vec![], e)).await {
            Err(CommitError::Conflict) => return Err(ArchiveError::Conflict("the decision id is taken: retry".into())),
            other => other?,
        };
        self.decision_view(&record)
    }

    /// `GET /v1/data-grades` (compliance, auditor): every set with its
    /// grade and the decisions on record.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn data_grades(&self, ctx: &RequestCtx) -> Result<DataGradesView, ArchiveError> {
        const ACTION: Action = Action::DataGradeRead;
        self.gate.require_register(ctx, ACTION, Resource::DataGrades.as_str(), Access::Read).await?;
        let mut records: Vec<DecisionRecord> = DECISIONS.values(self.store.as_ref()).collect::<Result<_, _>>()?;
        records.sort_by_key(|r| (r.recorded_at, r.id.to_string()));
        let grades = &self.policy.data_grades;
        let mut sets = Vec::new();
        let mut undecided = 0;
        for s in grades.sets.values() {
            let mine: Vec<&DecisionRecord> = records.iter().filter(|r| r.set == s.id).collect();
            let decision_state = match mine.last() {
                None => DecisionState::Undecided,
                Some(last) if last.level == s.level => DecisionState::Decided,
                Some(_) => DecisionState::Superseded,
            };
            undecided += usize::from(decision_state != DecisionState::Decided);
            sets.push(DataSetView {
                set: s.clone(),
                decision_state,
                decisions: mine.into_iter().map(|r| self.decision_view(r)).collect::<Result<_, _>>()?,
            });
        }
        let reason = format!("{} data sets, {undecided} without a decision on their level", sets.len());
        let e = ctx.entry(ACTION, Resource::DataGrades.as_str(), Outcome::Allow, reason);
        self.audit.commit(Commit::entry(e)).await?;
        Ok(DataGradesView {
            citation: grades.citation.clone(),
            holds_important: grades.holds_important(),
            important_outbound_mechanism: grades.important_outbound_mechanism.clone(),
            responsible: self.responsible()?,
            sets,
            policy_hash: self.policy.hash.clone(),
        })
    }
}
