//! The person responsible for network-data security and the body that
//! manages it (NDSMR Art. 30: a handler of important data names both).
//! Each appointment is recorded, append-only, with the name and contact
//! sealed; the latest in force is the one the data-grades view shows. While
//! a set is graded important or core and nobody is appointed, the deadline
//! job raises one `data_security_responsible_missing` alert.

use super::{iso, Oversight};
use crate::archive::gate::Access;
use crate::archive::records::ALERTS;
use crate::archive::{ArchiveError, RequestCtx, Resource};
use crate::audit::{Action, Commit, CommitError, EntryBody, Outcome};
use crate::crypto::Sealed;
use crate::domain::dossier::FieldError;
use crate::domain::{AppointmentId, PrincipalId};
use crate::policy::alerts::Alert;
use crate::store::{keys, Cf, Table};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// An appointment, as compliance records it.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    /// The person responsible (sealed).
    pub name: String,
    /// How to reach them: a function mailbox or a phone (sealed).
    pub contact: String,
    /// The body that manages network-data security (sealed).
    pub unit: String,
    pub appointed_on: Date,
}

/// `da/<apt>` in `registers`.
const APPOINTMENTS: Table<AppointmentId, AppointmentRecord> =
    Table::new(Cf::Registers, keys::APPOINTMENT_PREFIX, keys::appointment);

/// `q/data-security`: the alert was raised (one row).
const ALERTED: Table<(), bool> = Table::new(Cf::Registers, b"q/data-security", keys::data_security_alert);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AppointmentRecord {
    id: AppointmentId,
    name: Sealed,
    contact: Sealed,
    unit: Sealed,
    appointed_on: Date,
    recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    recorded_at: OffsetDateTime,
}

/// An appointment as recorded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppointmentView {
    pub id: String,
    pub name: String,
    pub contact: String,
    pub unit: String,
    /// ISO 8601 date.
    pub appointed_on: String,
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

impl Oversight {
    fn appointment_view(&self, r: &AppointmentRecord) -> Result<AppointmentView, ArchiveError> {
        let owner = r.id.as_str();
        Ok(AppointmentView {
            id: r.id.to_string(),
            name: self.open(owner, "name", &r.name)?,
            contact: self.open(owner, "contact", &r.contact)?,
            unit: self.open(owner, "unit", &r.unit)?,
            appointed_on: iso(r.appointed_on),
            recorded_by: r.recorded_by.to_string(),
            recorded_at: r.recorded_at,
        })
    }

    /// The appointment in force: the latest by its day, then by when it
    /// was recorded.
    fn latest_appointment(&self) -> Result<Option<AppointmentRecord>, ArchiveError> {
        let mut all: Vec<AppointmentRecord> = APPOINTMENTS.values(self.store.as_ref()).collect::<Result<_, _>>()?;
        all.sort_by_key(|r| (r.appointed_on, r.recorded_at, r.id.to_string()));
        Ok(all.pop())
    }

    /// The appointment in force, opened for the data-grades view.
    pub(super) fn responsible(&self) -> Result<Option<AppointmentView>, ArchiveError> {
        self.latest_appointment()?.map(|r| self.appointment_view(&r)).transpose()
    }

    /// `POST /v1/data-grades/responsible` (compliance): records who is
    /// responsible for network-data security and the managing body.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn appoint_responsible(
        &self,
        ctx: &RequestCtx,
        n: NewAppointment,
    ) -> Result<AppointmentView, ArchiveError> {
        const ACTION: Action = Action::DataSecurityAppoint;
        self.gate.require_register(ctx, ACTION, Resource::DataGrades.as_str(), Access::Keep).await?;
        if n.appointed_on > self.clock.now().date() {
            let e = ctx.entry(ACTION, Resource::DataGrades.as_str(), Outcome::Error, "invalid appointment");
            let err = FieldError { path: "/appointed_on".into(), message: "lies in the future".into() };
            return self.gate.refuse(e, ArchiveError::Invalid(vec![err])).await;
        }
        let id = AppointmentId::generate();
        let record = AppointmentRecord {
            id: id.clone(),
            name: self.seal(id.as_str(), "name", n.name.as_bytes())?,
            contact: self.seal(id.as_str(), "contact", n.contact.as_bytes())?,
            unit: self.seal(id.as_str(), "unit", n.unit.as_bytes())?,
            appointed_on: n.appointed_on,
            recorded_by: ctx.principal.id.clone(),
            recorded_at: self.clock.now(),
        };
        let reason = format!("network-data security responsible appointed on {}", n.appointed_on);
        let e = ctx.entry(ACTION, id.as_str(), Outcome::Allow, reason);
        let change = APPOINTMENTS.insert(&id, &record)?;
        match self.audit.commit(Commit::guarded(change, vec![], e)).await {
            Err(CommitError::Conflict) => {
                return Err(ArchiveError::Conflict("the appointment id is taken: retry".into()))
            }
            other => other?,
        };
        self.appointment_view(&record)
    }

    /// The deadline job: one alert while important data has nobody
    /// responsible for it; raised again only after someone was appointed
    /// (an appointment clears the mark the next time it runs).
    pub(super) async fn check_responsible(&self) -> Result<Option<Alert>, ArchiveError> {
        let missing = self.policy.data_grades.holds_important() && self.latest_appointment()?.is_none();
        let held = ALERTED.hold(self.store.as_ref(), &())?;
        let raised = held.as_ref().is_some_and(|h| h.value);
        if missing == raised {
            return Ok(None);
        }
        let change = match &held {
            Some(h) => h.replace(&missing)?,
            None => ALERTED.insert(&(), &missing)?,
        };
        let resource = Resource::DataGrades.as_str();
        let alert = missing.then(|| {
            Alert::once(
                "data_security_responsible_missing",
                "",
                format!(
                    "data is graded important or core and nobody is appointed responsible for network-data \
                     security: record the person and the managing body with POST /v1/data-grades/responsible ({})",
                    "NDSMR Art. 30"
                ),
                self.clock.now(),
            )
        });
        let (ops, entry) = match &alert {
            Some(a) => (vec![ALERTS.put_unguarded(&a.id, a)?], super::schedule::alert_entry(a, resource)),
            None => (
                vec![],
                EntryBody::system(Action::DataSecurityAppoint, resource, "an appointment is on record: alert cleared"),
            ),
        };
        match self.audit.commit(Commit::guarded(change, ops, entry)).await {
            // Checked by another run meanwhile.
            Err(CommitError::Conflict) => return Ok(None),
            other => other?,
        };
        if alert.is_some() {
            tracing::warn!(rule = "data_security_responsible_missing", "important data without a responsible person");
        }
        Ok(alert)
    }
}
