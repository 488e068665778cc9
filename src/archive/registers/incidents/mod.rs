//! The incident register (PIPL Art. 57; GDPR Art. 33-34; NDSMR Art. 11):
//! when an incident was detected and when custos's operator became aware,
//! its level, the data categories and cause, the notification deadlines it
//! triggers (`policies/incidents.toml`), the persons whose data was shown
//! in it, derived from the audit log alone, the notifications made, the
//! Art. 34(3)(a) exemption, and a draft notice with every element the laws
//! require.

mod affected;
mod notices;

use super::field_error;
use super::{rfc3339, Access};
use crate::archive::registers::Registers;
use crate::archive::vault::Slot;
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::crypto::{KeyRef, Sealed};
use crate::domain::{Classification, IncidentId, Jurisdiction, PrincipalId};
use crate::policy::registers::{Deadline, Notify};
use crate::store::{keys, Cf, Held, Op, Table};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

/// An incident to record.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub detected_at: OffsetDateTime,
    pub aware_at: OffsetDateTime,
    pub level: String,
    pub jurisdictions: Vec<Jurisdiction>,
    pub data_categories: Vec<Classification>,
    pub description: String,
    pub cause: String,
    pub consequences: Option<String>,
    pub measures: Option<String>,
    pub advice: Option<String>,
    pub contact: Option<String>,
    pub keys_compromised: Option<bool>,
}

/// The free texts of an incident, sealed together under the registers key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct IncidentTexts {
    description: String,
    cause: String,
    consequences: Option<String>,
    measures: Option<String>,
    /// What persons can do to reduce the harm (PIPL Art. 57(2)).
    advice: Option<String>,
    contact: Option<String>,
}

/// What to look for in the audit log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AffectedCriteria {
    /// A principal id (`prn_...`): only what they were shown.
    pub actor: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub from: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub to: Option<OffsetDateTime>,
    /// Only what was shown of these dossiers.
    #[serde(default)]
    pub dossiers: Vec<String>,
}

/// One derivation of the persons affected.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AffectedSet {
    pub n: u32,
    pub criteria: AffectedCriteria,
    /// Distinct persons whose data (clear or masked) was shown.
    pub count: u64,
    /// Audit entries that showed personal data.
    pub records: u64,
    /// Entries matching the criteria (found through the audit indexes), up
    /// to this seq (exclusive).
    pub examined: u64,
    pub up_to_seq: u64,
    /// SHA-256 of the sealed list's plaintext (a JSON array of subject ids).
    pub list_sha256: String,
    pub derived_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub derived_at: OffsetDateTime,
}

/// A notification to record.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub to: Notify,
    pub recipient: String,
    pub at: OffsetDateTime,
    pub reference: Option<String>,
    pub persons: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredNotification {
    to: Notify,
    recipient: Sealed,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    reference: Option<Sealed>,
    persons: Option<u64>,
    recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    recorded_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Exemption {
    reasoning: Sealed,
    recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

/// The incidents register: `i/<inc>` in `registers`.
const INCIDENTS: Table<IncidentId, IncidentRecord> = Table::new(Cf::Registers, keys::INCIDENT_PREFIX, keys::incident);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IncidentRecord {
    id: IncidentId,
    recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    recorded_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    detected_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    aware_at: OffsetDateTime,
    level: String,
    jurisdictions: Vec<Jurisdiction>,
    data_categories: Vec<Classification>,
    texts: Sealed,
    keys_compromised: Option<bool>,
    affected: Vec<AffectedSet>,
    notifications: Vec<StoredNotification>,
    exemption: Option<Exemption>,
    /// Deadline alerts raised (`<deadline>:near`, `<deadline>:passed`).
    #[serde(default)]
    alerted: BTreeSet<String>,
}

/// A notification as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Notification {
    pub to: Notify,
    pub recipient: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub reference: Option<String>,
    pub persons: Option<u64>,
    pub recorded_by: String,
}

/// A deadline the incident triggers, and where it stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadlineView {
    pub id: String,
    pub notify: Notify,
    pub citation: String,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// When a notification of that kind was made, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub met_at: Option<OffsetDateTime>,
    /// `open`, `met`, `met_late` or `overdue`.
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentView {
    pub id: String,
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub aware_at: OffsetDateTime,
    pub level: String,
    pub jurisdictions: Vec<String>,
    pub data_categories: Vec<Classification>,
    pub keys_compromised: Option<bool>,
    /// The texts; `None` to an auditor.
    pub description: Option<String>,
    pub cause: Option<String>,
    pub consequences: Option<String>,
    pub measures: Option<String>,
    pub advice: Option<String>,
    pub contact: Option<String>,
    pub deadlines: Vec<DeadlineView>,
    pub affected: Vec<AffectedSet>,
    pub notifications: Vec<Notification>,
    /// The Art. 34(3)(a) exemption's reasoning (`None` to an auditor), if recorded.
    pub exemption: Option<String>,
    pub exempted: bool,
}

/// A draft notice with every element GDPR Art. 33(3)/34(2) and PIPL Art. 57
/// require; `missing` names what is not recorded yet.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NoticeDraft {
    pub incident: String,
    pub complete: bool,
    pub missing: Vec<String>,
    pub elements: BTreeMap<String, serde_json::Value>,
}

impl Registers {
    fn incident_record(&self, id: &str) -> Result<Option<Held<IncidentRecord>>, ArchiveError> {
        let Ok(iid) = IncidentId::parse(id) else { return Ok(None) };
        Ok(INCIDENTS.hold(self.store.as_ref(), &iid)?)
    }

    fn incident_texts(&self, r: &IncidentRecord) -> Result<Option<IncidentTexts>, ArchiveError> {
        let opened = self.vault.open_text(&KeyRef::Registers, Slot::IncidentTexts(&r.id), &r.texts)?;
        let Some(plain) = opened.plain() else { return Ok(None) };
        let texts = crate::store::codec::decode("incident texts", plain.as_bytes())?;
        Ok(Some(texts))
    }

    fn deadlines_of(&self, r: &IncidentRecord) -> Vec<(Deadline, OffsetDateTime, Option<OffsetDateTime>)> {
        self.policy
            .incidents
            .deadlines
            .iter()
            .filter(|d| d.applies(&r.level, &r.jurisdictions))
            .map(|d| {
                let due = d.due(r.detected_at, r.aware_at);
                let met = r.notifications.iter().filter(|n| n.to == d.notify).map(|n| n.at).min();
                (d.clone(), due, met)
            })
            .collect()
    }

    fn incident_view(&self, r: &IncidentRecord, with_texts: bool) -> Result<IncidentView, ArchiveError> {
        let now = self.clock.now();
        let texts = if with_texts { self.incident_texts(r)? } else { None };
        let owner = r.id.as_str();
        let open = |field: &str, s: &Sealed| match with_texts {
            true => self.texts.open(&KeyRef::Registers, owner, &format!("incident/{}/{field}", r.id), s),
            false => Ok(None),
        };
        let deadlines = self
            .deadlines_of(r)
            .into_iter()
            .map(|(d, due, met)| DeadlineView {
                id: d.id,
                notify: d.notify,
                citation: d.citation,
                due_at: due,
                met_at: met,
                status: match met {
                    Some(t) if t <= due => "met",
                    Some(_) => "met_late",
                    None if now > due => "overdue",
                    None => "open",
                },
            })
            .collect();
        let notifications = r
            .notifications
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let reference = match &n.reference {
                    Some(s) => open(&format!("notification/{i}/reference"), s)?,
                    None => None,
                };
                Ok(Notification {
                    to: n.to,
                    recipient: open(&format!("notification/{i}/recipient"), &n.recipient)?,
                    at: n.at,
                    reference,
                    persons: n.persons,
                    recorded_by: n.recorded_by.to_string(),
                })
            })
            .collect::<Result<_, ArchiveError>>()?;
        let exemption = match &r.exemption {
            Some(e) => open("exemption", &e.reasoning)?,
            None => None,
        };
        Ok(IncidentView {
            id: r.id.to_string(),
            recorded_by: r.recorded_by.to_string(),
            recorded_at: r.recorded_at,
            detected_at: r.detected_at,
            aware_at: r.aware_at,
            level: r.level.clone(),
            jurisdictions: r.jurisdictions.iter().map(|j| j.to_string()).collect(),
            data_categories: r.data_categories.clone(),
            keys_compromised: r.keys_compromised,
            description: texts.as_ref().map(|t| t.description.clone()),
            cause: texts.as_ref().map(|t| t.cause.clone()),
            consequences: texts.as_ref().and_then(|t| t.consequences.clone()),
            measures: texts.as_ref().and_then(|t| t.measures.clone()),
            advice: texts.as_ref().and_then(|t| t.advice.clone()),
            contact: texts.as_ref().and_then(|t| t.contact.clone()),
            deadlines,
            affected: r.affected.clone(),
            notifications,
            exemption,
            exempted: r.exemption.is_some(),
        })
    }

    /// `POST /v1/incidents` (compliance).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_incident(&self, ctx: &RequestCtx, new: NewIncident) -> Result<IncidentView, ArchiveError> {
        const ACTION: Action = Action::IncidentCreate;
        self.gate.require_register(ctx, ACTION, Resource::Incidents.as_str(), Access::Keep).await?;
        let now = self.clock.now();
        let mut errors = Vec::new();
        if new.detected_at > now + time::Duration::minutes(5) {
            errors.push(field_error("/detected_at", "lies in the future"));
        }
        if new.aware_at > now + time::Duration::minutes(5) {
            errors.push(field_error("/aware_at", "lies in the future"));
        }
        if !self.policy.incidents.levels.contains(&new.level) {
            errors.push(field_error("/level", format!("one of {}", self.policy.incidents.levels.join(", "))));
        }
        if !errors.is_empty() {
            return self
                .gate
                .refuse(
                    ctx.entry(ACTION, Resource::Incidents.as_str(), Outcome::Error, "invalid incident"),
                    ArchiveError::Invalid(errors),
                )
                .await;
        }
        let id = IncidentId::generate();
        let texts = IncidentTexts {
            description: new.description,
            cause: new.cause,
            consequences: new.consequences,
            measures: new.measures,
            advice: new.advice,
            contact: new.contact,
        };
        let plain = zeroize::Zeroizing::new(crate::store::codec::encode(&texts)?);
        let sealed = self.vault.seal_live(&KeyRef::Registers, Slot::IncidentTexts(&id), &plain)?;
        let mut jurisdictions: Vec<Jurisdiction> = new.jurisdictions;
        if jurisdictions.is_empty() {
            jurisdictions.push(Jurisdiction::cn());
        }
        jurisdictions.sort();
        jurisdictions.dedup();
        let mut categories = new.data_categories;
        categories.sort();
        categories.dedup();
        let record = IncidentRecord {
            id: id.clone(),
            recorded_by: ctx.principal.id.clone(),
            recorded_at: now,
            detected_at: new.detected_at,
            aware_at: new.aware_at,
            level: new.level,
            jurisdictions,
            data_categories: categories,
            texts: sealed,
            keys_compromised: new.keys_compromised,
            affected: vec![],
            notifications: vec![],
            exemption: None,
            alerted: BTreeSet::new(),
        };
        let view = self.incident_view(&record, true)?;
        let due: Vec<String> = view.deadlines.iter().map(|d| format!("{} by {}", d.id, rfc3339(d.due_at))).collect();
        let reason = format!(
            "level {}, {}; aware {}; deadlines: {}",
            record.level,
            record.jurisdictions.iter().map(|j| j.as_str()).collect::<Vec<_>>().join("+"),
            rfc3339(record.aware_at),
            if due.is_empty() { "none".into() } else { due.join(", ") }
        );
        let change = INCIDENTS.insert(&id, &record)?;
        self.audit
            .commit(Commit::guarded(change, vec![], ctx.entry(ACTION, id.as_str(), Outcome::Allow, reason)))
            .await?;
        Ok(view)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_incidents(&self, ctx: &RequestCtx) -> Result<Vec<IncidentView>, ArchiveError> {
        const ACTION: Action = Action::IncidentList;
        self.gate.require_register(ctx, ACTION, Resource::Incidents.as_str(), Access::Read).await?;
        let mut all: Vec<IncidentRecord> = INCIDENTS.values(self.store.as_ref()).collect::<Result<_, _>>()?;
        all.sort_by_key(|r| std::cmp::Reverse(r.aware_at));
        let e = ctx.entry(ACTION, Resource::Incidents.as_str(), Outcome::Allow, format!("{} listed", all.len()));
        self.audit.commit(Commit::entry(e)).await?;
        let texts = self.gate.may(&ctx.principal, crate::archive::gate::Operation::RegisterKeep);
        all.iter().map(|r| self.incident_view(r, texts)).collect()
    }

    /// The incident, 404 (audited) if there is none.
    async fn find_incident(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
    ) -> Result<Held<IncidentRecord>, ArchiveError> {
        match self.incident_record(id)? {
            Some(found) => Ok(found),
            None => {
                let e = ctx.entry(action, id, Outcome::Error, "no such incident");
                self.gate.refuse(e, ArchiveError::NotFound("incident".into())).await
            }
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_incident(&self, ctx: &RequestCtx, id: &str) -> Result<IncidentView, ArchiveError> {
        const ACTION: Action = Action::IncidentRead;
        self.gate.require_register(ctx, ACTION, id, Access::Read).await?;
        let r = self.find_incident(ctx, ACTION, id).await?.value;
        self.audit.commit(Commit::entry(ctx.entry(ACTION, id, Outcome::Allow, "incident"))).await?;
        self.incident_view(&r, self.gate.may(&ctx.principal, crate::archive::gate::Operation::RegisterKeep))
    }

    /// Writes a changed incident with its entry, guarded.
    async fn commit_incident(
        &self,
        ctx: &RequestCtx,
        action: Action,
        held: &Held<IncidentRecord>,
        r: &IncidentRecord,
        ops: Vec<Op>,
        reason: String,
    ) -> Result<(), ArchiveError> {
        let e = ctx.entry(action, r.id.as_str(), Outcome::Allow, reason);
        let conflict = ctx.entry(action, r.id.as_str(), Outcome::Error, "concurrent change of the incident");
        let mut commit = Commit::guarded(held.replace(r)?, ops, e);
        commit.on_conflict = vec![conflict];
        self.audit.commit(commit).await?;
        Ok(())
    }
}
