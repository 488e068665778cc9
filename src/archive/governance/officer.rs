//! The personal-information protection officer (PIPL Art. 52): who it is
//! and how to reach them (sealed under the registers key), when they were
//! appointed and reported to the regulator, and the count of distinct
//! persons on record that makes an officer required (`policies/officer.toml`).
//! The record is append-only: each appointment or report is a new entry,
//! the last one current. The count is made once a day by the deadline job,
//! which raises one `officer_required` alert when the threshold is reached
//! while no report of an officer is on record.

use crate::archive::gate::Access;
use crate::archive::governance::Governance;
use crate::archive::records::{ALERTS, SUBJECTS};
use crate::archive::vault::Slot;
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, CommitError, EntryBody, Outcome};
use crate::crypto::{KeyRef, Sealed};
use crate::domain::dossier::FieldError;
use crate::domain::PrincipalId;
use crate::store::{keys, Cf, Table};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// An officer named: by compliance, through `PUT /v1/officer`.
#[derive(Debug, Clone)]
pub struct NewOfficer {
    pub name: String,
    /// How the public reaches the officer (published, PIPL Art. 52).
    pub contact: String,
    pub appointed_on: Date,
    /// When the name and contact were reported to the regulator.
    pub reported_on: Option<Date>,
}

/// `k/<n u32 BE>` in `registers`.
const OFFICERS: Table<u32, OfficerRecord> = Table::new(Cf::Registers, keys::OFFICER_PREFIX, keys::officer);
/// `q/officer` in `registers`.
const STATE: Table<(), OfficerState> = Table::new(Cf::Registers, b"q/officer", keys::officer_state);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OfficerRecord {
    n: u32,
    name: Sealed,
    contact: Sealed,
    appointed_on: Date,
    reported_on: Option<Date>,
    recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    recorded_at: OffsetDateTime,
}

/// What the daily count found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct OfficerState {
    persons: u64,
    counted_on: Option<Date>,
    /// The first day the count reached the threshold.
    crossed_on: Option<Date>,
    /// The `officer_required` alert was raised.
    alerted: bool,
}

/// An officer as recorded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OfficerView {
    /// Which record (1 is the first).
    pub n: u32,
    /// `None` to an auditor.
    pub name: Option<String>,
    pub contact: Option<String>,
    /// ISO 8601 dates.
    pub appointed_on: String,
    pub reported_on: Option<String>,
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// `GET /v1/officer`: the officer on record and whether one is required.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OfficerStatus {
    /// The current officer (the last record), if any.
    pub officer: Option<OfficerView>,
    /// Every record, oldest first.
    pub history: Vec<OfficerView>,
    /// Distinct persons on record (not erased) at the last daily count.
    pub persons: u64,
    /// The day of that count (ISO 8601); `None` before the first.
    pub counted_on: Option<String>,
    pub threshold: u64,
    /// The count has reached the threshold.
    pub required: bool,
    /// The first day it did.
    pub crossed_on: Option<String>,
    /// The last day to report the officer to the regulator.
    pub report_due: Option<String>,
    /// The current officer's report to the regulator is on record.
    pub reported: bool,
    pub citation: String,
}

fn text_slot(n: u32, field: &'static str) -> (String, &'static str) {
    (format!("officer/{n}"), field)
}

impl Governance {
    fn officer_records(&self) -> Result<Vec<OfficerRecord>, ArchiveError> {
        Ok(OFFICERS.values(self.store.as_ref()).collect::<Result<_, _>>()?)
    }

    fn officer_view(&self, r: &OfficerRecord, with_text: bool) -> Result<OfficerView, ArchiveError> {
        let open = |field| -> Result<Option<String>, ArchiveError> {
            if !with_text {
                return Ok(None);
            }
            let (owner, field) = text_slot(r.n, field);
            let sealed = if field == "name" { &r.name } else { &r.contact };
            Ok(self.vault.open_text(&KeyRef::Registers, Slot::RegisterText { owner: &owner, field }, sealed)?.plain())
        };
        Ok(OfficerView {
            n: r.n,
            name: open("name")?,
            contact: open("contact")?,
            appointed_on: r.appointed_on.to_string(),
            reported_on: r.reported_on.map(|d| d.to_string()),
            recorded_by: r.recorded_by.to_string(),
            recorded_at: r.recorded_at,
        })
    }

    /// `PUT /v1/officer` (compliance): records the officer, or the report of
    /// the current one; appended, never overwritten.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_officer(&self, ctx: &RequestCtx, o: NewOfficer) -> Result<OfficerView, ArchiveError> {
        const ACTION: Action = Action::OfficerAppoint;
        self.gate.require_register(ctx, ACTION, Resource::Officer.as_str(), Access::Keep).await?;
        let today = self.clock.now().date();
        let mut errors = Vec::new();
        if o.appointed_on > today {
            errors.push(FieldError { path: "/appointed_on".into(), message: "lies in the future".into() });
        }
        if o.reported_on.is_some_and(|r| r > today) {
            errors.push(FieldError { path: "/reported_on".into(), message: "lies in the future".into() });
        }
        if !errors.is_empty() {
            let e = ctx.entry(ACTION, Resource::Officer.as_str(), Outcome::Error, "invalid officer record");
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let n = self.officer_records()?.last().map_or(1, |r| r.n + 1);
        let seal = |field: &'static str, text: &str| {
            let (owner, field) = text_slot(n, field);
            self.vault.seal_live(&KeyRef::Registers, Slot::RegisterText { owner: &owner, field }, text.as_bytes())
        };
        let record = OfficerRecord {
            n,
            name: seal("name", &o.name)?,
            contact: seal("contact", &o.contact)?,
            appointed_on: o.appointed_on,
            reported_on: o.reported_on,
            recorded_by: ctx.principal.id.clone(),
            recorded_at: self.clock.now(),
        };
        let reported = o.reported_on.map_or("not yet reported".to_owned(), |d| format!("reported on {d}"));
        let reason = format!("officer record {n}: appointed on {}, {reported}", o.appointed_on);
        let e = ctx.entry(ACTION, Resource::Officer.as_str(), Outcome::Allow, reason);
        // Two at once: the second finds its number taken and is told so.
        let change = OFFICERS.insert(&n, &record)?;
        match self.audit.commit(Commit::guarded(change, vec![], e)).await {
            Err(CommitError::Conflict) => {
                return Err(ArchiveError::Conflict("another officer record was made at the same time".into()))
            }
            other => other?,
        };
        self.officer_view(&record, true)
    }

    /// `GET /v1/officer` (compliance, auditor: an auditor sees no name or
    /// contact).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn officer_status(&self, ctx: &RequestCtx) -> Result<OfficerStatus, ArchiveError> {
        const ACTION: Action = Action::OfficerRead;
        self.gate.require_register(ctx, ACTION, Resource::Officer.as_str(), Access::Read).await?;
        let with_text = self.gate.may(&ctx.principal, crate::policy::access::Operation::RegisterKeep);
        let history =
            self.officer_records()?.iter().map(|r| self.officer_view(r, with_text)).collect::<Result<Vec<_>, _>>()?;
        let state = STATE.get(self.store.as_ref(), &())?.unwrap_or_default();
        let rules = &self.policy.officer;
        let officer = history.last().cloned();
        // Due from the later of the crossing and the current appointment: a
        // new officer is reported in their own term.
        let appointed = self.officer_records()?.last().map(|r| r.appointed_on);
        let due_from = state.crossed_on.map(|c| appointed.map_or(c, |a| a.max(c)));
        let status = OfficerStatus {
            reported: officer.as_ref().is_some_and(|o| o.reported_on.is_some()),
            officer,
            history,
            persons: state.persons,
            counted_on: state.counted_on.map(|d| d.to_string()),
            threshold: rules.threshold,
            required: state.persons >= rules.threshold,
            crossed_on: state.crossed_on.map(|d| d.to_string()),
            report_due: due_from.map(|d| rules.report_due(d).to_string()),
            citation: rules.citation.clone(),
        };
        let e = ctx.entry(ACTION, Resource::Officer.as_str(), Outcome::Allow, format!("{} persons", state.persons));
        self.audit.commit(Commit::entry(e)).await?;
        Ok(status)
    }

    /// The deadline job, once a day: counts the distinct persons on record
    /// (not erased), notes the day the threshold was first reached, and
    /// raises `officer_required` once while no officer's report is on record
    /// (again when a new officer is named and not reported).
    pub(crate) async fn check_officer(&self) -> Result<Option<crate::policy::alerts::Alert>, ArchiveError> {
        let now = self.clock.now();
        let today = now.date();
        let held = STATE.hold(self.store.as_ref(), &())?;
        let before = held.as_ref().map(|h| h.value.clone()).unwrap_or_default();
        if before.counted_on == Some(today) {
            return Ok(None);
        }
        // Every subject record once (seconds at a million): off the executor.
        let store = self.store.clone();
        let persons = tokio::task::spawn_blocking(move || -> Result<u64, ArchiveError> {
            let mut persons = 0u64;
            for meta in SUBJECTS.values(store.as_ref()) {
                persons += u64::from(meta?.erased.is_none());
            }
            Ok(persons)
        })
        .await
        .map_err(|e| ArchiveError::Internal(anyhow::anyhow!("counting the persons on record: {e}")))??;
        let rules = &self.policy.officer;
        let mut state = OfficerState { persons, counted_on: Some(today), ..before };
        if persons >= rules.threshold && state.crossed_on.is_none() {
            state.crossed_on = Some(today);
        }
        let reported = self.officer_records()?.last().is_some_and(|r| r.reported_on.is_some());
        // Once an officer's report is on record the alert is settled: an
        // officer named later and not reported raises it again.
        if reported {
            state.alerted = false;
        }
        let alert = (persons >= rules.threshold && !reported && !state.alerted).then(|| {
            let due = state.crossed_on.map(|d| rules.report_due(d)).unwrap_or(today);
            crate::policy::alerts::Alert {
                id: crate::domain::AlertId::generate().to_string(),
                rule: "officer_required".into(),
                description: format!(
                    "{persons} distinct persons on record (threshold {}): name a personal-information protection officer, publish their contact and report them to the regulator by {due} ({})",
                    rules.threshold, rules.citation
                ),
                actor: String::new(),
                window_start: now,
                window_end: now,
                window_seconds: 0,
                count: persons,
                threshold: rules.threshold,
            }
        });
        state.alerted |= alert.is_some();
        let change = match &held {
            Some(h) => h.replace(&state)?,
            None => STATE.insert(&(), &state)?,
        };
        let (ops, entry) = match &alert {
            Some(a) => (
                vec![ALERTS.put_unguarded(&a.id, a)?],
                EntryBody {
                    request_id: a.id.clone(),
                    ..EntryBody::system(
                        Action::AuditAlert,
                        Resource::Officer.as_str(),
                        format!("officer_required: {}", a.description),
                    )
                },
            ),
            None => (
                vec![],
                EntryBody::system(
                    Action::OfficerRead,
                    Resource::Officer.as_str(),
                    format!("counted {persons} distinct persons on record"),
                ),
            ),
        };
        match self.audit.commit(Commit::guarded(change, ops, entry)).await {
            // Counted by another run meanwhile.
            Err(CommitError::Conflict) => return Ok(None),
            other => other?,
        };
        if alert.is_some() {
            tracing::warn!(rule = "officer_required", persons, "officer alert");
        }
        Ok(alert)
    }
}
