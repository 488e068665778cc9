//! Provision to recipients and cross-border transfers (PIPL Art. 21, 23,
//! 38-40; GDPR Art. 28, 44-46). A principal bound to a recipients-register
//! entry reads within its agreement: only the agreed purposes (403 for
//! another), only the agreed classes (the rest withheld), and, for an
//! independent recipient, a person's fields only with their separate
//! consent naming it. When the recipient sits outside a person's
//! jurisdiction (an EU member state counts as the EU), their data leaves
//! it: that needs a transfer record for the recipient and that
//! jurisdiction (mechanism per `transfers.toml`), and where the mechanism
//! says so the person's separate consent naming the recipient; without
//! them the read is refused (403) naming what is missing. Each person
//! transferred is counted once per calendar year; the deadline job raises
//! `transfer_volume` when the count reaches the threshold. A recipient
//! abroad whose agreed classes reach a data set graded important
//! (`data_grades.toml`) needs a record for the PRC's data under the
//! security assessment, and one reaching core data none at all.

use super::RecipientRecord;
use crate::archive::gate::Access;
use crate::archive::governance::Governance;
use crate::archive::records::{TransferRecord, ALERTS, TRANSFERRED, TRANSFERS};
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, EntryBody, Outcome};
use crate::domain::dossier::FieldError;
use crate::domain::{Jurisdiction, ProcessingKind, RecipientId, TransferId};
use crate::store::{keys, Cf, Op};
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct NewTransfer {
    pub recipient: String,
    pub jurisdiction: Jurisdiction,
    pub mechanism: String,
    pub reference: String,
    pub assessment: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransferView {
    pub id: String,
    pub recipient: String,
    /// The recipient's country.
    pub destination: String,
    pub jurisdiction: String,
    pub mechanism: String,
    pub citation: String,
    /// Whether each person's separate consent naming the recipient is needed too.
    pub separate_consent: bool,
    pub reference: String,
    pub assessment: Option<String>,
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// The distinct persons whose data went abroad in a calendar year.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransferVolume {
    pub year: i32,
    pub persons: u64,
    /// `alert_threshold` of transfers.toml.
    pub threshold: u64,
    pub alerted: bool,
}

use crate::archive::dossiers::bloc;

impl Governance {
    pub(crate) fn transfers(&self) -> Result<Vec<TransferRecord>, ArchiveError> {
        Ok(TRANSFERS.values(self.store.as_ref()).collect::<Result<_, _>>()?)
    }

    fn transfer_view(&self, t: &TransferRecord, recipients: &[RecipientRecord]) -> TransferView {
        TransferView {
            id: t.id.to_string(),
            recipient: t.recipient.to_string(),
            destination: recipients
                .iter()
                .find(|r| r.id == t.recipient)
                .map(|r| r.country.to_string())
                .unwrap_or_default(),
            jurisdiction: t.jurisdiction.to_string(),
            mechanism: t.mechanism.clone(),
            citation: t.citation.clone(),
            separate_consent: t.separate_consent,
            reference: t.reference.clone(),
            assessment: t.assessment.as_ref().map(ToString::to_string),
            recorded_by: t.recorded_by.to_string(),
            recorded_at: t.recorded_at,
        }
    }

    /// `POST /v1/transfers` (compliance): a transfer record for one
    /// recipient and the persons of one jurisdiction.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_transfer(&self, ctx: &RequestCtx, n: NewTransfer) -> Result<TransferView, ArchiveError> {
        const ACTION: Action = Action::TransferCreate;
        self.gate.require_register(ctx, ACTION, Resource::Transfers.as_str(), Access::Keep).await?;
        let mut errors = Vec::new();
        let recipient = RecipientId::parse(&n.recipient).ok().map(|r| self.recipient_record(&r)).transpose()?.flatten();
        match &recipient {
            None => errors.push(FieldError { path: "/recipient".into(), message: "no such recipient".into() }),
            Some(r) if bloc(&r.country) == bloc(&n.jurisdiction) => errors.push(FieldError {
                path: "/jurisdiction".into(),
                message: format!("the recipient is in {}: that is not a cross-border transfer", r.country),
            }),
            Some(_) => {}
        }
        let mechanism = self.policy.transfers.mechanisms.get(&n.mechanism);
        // Data of the PRC graded important or core (data_grades.toml) goes
        // abroad only under the security assessment, core data not at all.
        if let (Some(r), true) = (&recipient, bloc(&n.jurisdiction) == "CN") {
            if let Err(message) = self.policy.data_grades.outbound_need(&r.classes, &n.mechanism) {
                errors.push(FieldError { path: "/mechanism".into(), message });
            }
        }
        if mechanism.is_none() {
            let known: Vec<&str> = self.policy.transfers.mechanisms.keys().map(String::as_str).collect();
            errors.push(FieldError {
                path: "/mechanism".into(),
                message: format!("not a mechanism of transfers.toml ({})", known.join(", ")),
            });
        }
        let purposes = recipient.as_ref().map(|r| r.purposes.clone()).unwrap_or_default();
        const KIND: ProcessingKind = ProcessingKind::CrossBorder;
        let resource = (ACTION, Resource::Transfers.as_str());
        let named = n.assessment.as_deref();
        let assessment = self.named_assessment(ctx, resource, (KIND, &purposes), named, &mut errors).await?;
        let (Some(r), Some(m), true) = (recipient, mechanism, errors.is_empty()) else {
            let e = ctx.entry(ACTION, Resource::Transfers.as_str(), Outcome::Error, "invalid transfer record");
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        };
        let t = TransferRecord {
            id: TransferId::generate(),
            recipient: r.id.clone(),
            jurisdiction: Jurisdiction::parse(&bloc(&n.jurisdiction)).map_err(|e| anyhow::anyhow!(e))?,
            mechanism: n.mechanism,
            citation: m.citation.clone(),
            separate_consent: m.separate_consent,
            reference: n.reference,
            assessment,
            recorded_by: ctx.principal.id.clone(),
            recorded_at: self.clock.now(),
        };
        let ops = vec![TRANSFERS.put_unguarded(&t.id, &t)?];
        let reason =
            format!("{} residents to {} ({}) under {} ({})", t.jurisdiction, r.id, r.country, t.mechanism, t.citation);
        self.audit.commit(Commit::change(ops, ctx.entry(ACTION, t.id.as_str(), Outcome::Allow, reason))).await?;
        Ok(self.transfer_view(&t, &[r]))
    }

    /// Each transfer record as a line of the records of processing, with
    /// the purposes its recipient's agreement covers.
    pub(super) fn transfer_lines(
        &self,
        recipients: &[RecipientRecord],
    ) -> Result<Vec<(Vec<String>, String)>, ArchiveError> {
        let mut out = Vec::new();
        for t in self.transfers()? {
            let Some(r) = recipients.iter().find(|r| r.id == t.recipient) else { continue };
            let line = format!(
                "{} {} residents to {} {} in {} under {} ({}); reference {}{}",
                t.id,
                t.jurisdiction,
                r.id,
                r.name,
                r.country,
                t.mechanism,
                t.citation,
                t.reference,
                t.assessment.as_ref().map_or(String::new(), |a| format!("; assessment {a}"))
            );
            out.push((r.purposes.clone(), line));
        }
        Ok(out)
    }

    /// The transfer records covering persons residing in `residency`, as
    /// a person's explanation shows them.
    pub(crate) fn transfers_for(&self, residency: &Jurisdiction) -> Result<Vec<serde_json::Value>, ArchiveError> {
        let recipients = self.recipient_records()?;
        let from = bloc(residency);
        Ok(self
            .transfers()?
            .into_iter()
            .filter(|t| t.jurisdiction.as_str() == from)
            .filter_map(|t| {
                let r = recipients.iter().find(|r| r.id == t.recipient)?;
                Some(serde_json::json!({"recipient": r.id, "name": r.name, "country": r.country,
                    "mechanism": t.mechanism, "citation": t.citation, "separate_consent": t.separate_consent}))
            })
            .collect())
    }

    /// `GET /v1/transfers` (compliance, auditor).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_transfers(&self, ctx: &RequestCtx) -> Result<Vec<TransferView>, ArchiveError> {
        const ACTION: Action = Action::TransferList;
        self.gate.require_register(ctx, ACTION, Resource::Transfers.as_str(), Access::Read).await?;
        let all = self.transfers()?;
        let recipients = self.recipient_records()?;
        let e = ctx.entry(ACTION, Resource::Transfers.as_str(), Outcome::Allow, format!("{} listed", all.len()));
        self.audit.commit(Commit::entry(e)).await?;
        Ok(all.iter().map(|t| self.transfer_view(t, &recipients)).collect())
    }

    fn volume(&self, year: i32) -> Result<TransferVolume, ArchiveError> {
        let persons = TRANSFERRED.count(self.store.as_ref(), &year)?;
        Ok(TransferVolume {
            year,
            persons,
            threshold: self.policy.transfers.alert_threshold,
            alerted: self.store.get(Cf::Registers, &keys::transfer_alerted(year))?.is_some(),
        })
    }

    /// `GET /v1/transfers/volume?year=` (compliance, auditor).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn transfer_volume(&self, ctx: &RequestCtx, year: Option<i32>) -> Result<TransferVolume, ArchiveError> {
        const ACTION: Action = Action::TransferVolume;
        self.gate.require_register(ctx, ACTION, Resource::Transfers.as_str(), Access::Read).await?;
        let v = self.volume(year.unwrap_or_else(|| self.clock.now().year()))?;
        let e = ctx.entry(
            ACTION,
            Resource::Transfers.as_str(),
            Outcome::Allow,
            format!("{}: {} persons", v.year, v.persons),
        );
        self.audit.commit(Commit::entry(e)).await?;
        Ok(v)
    }

    /// The deadline job: `transfer_volume` once the year's count of
    /// distinct persons transferred reaches the threshold.
    pub(crate) async fn check_transfer_volume(&self) -> Result<Option<crate::policy::alerts::Alert>, ArchiveError> {
        let now = self.clock.now();
        let v = self.volume(now.year())?;
        if v.alerted || v.persons < v.threshold {
            return Ok(None);
        }
        let start = time::Date::from_ordinal_date(v.year, 1).map_err(|e| anyhow::anyhow!(e))?.midnight().assume_utc();
        let alert = crate::policy::alerts::Alert {
            id: crate::domain::AlertId::generate().to_string(),
            rule: "transfer_volume".into(),
            description: format!(
                "{} distinct persons' data went abroad in {} (threshold {}): check the mechanism the volume requires (CAC 2024 Provisions Art. 8; PIPL Art. 38-40)",
                v.persons, v.year, v.threshold
            ),
            actor: String::new(),
            window_start: start,
            window_end: now,
            window_seconds: (now - start).whole_seconds().max(0) as u64,
            count: v.persons,
            threshold: v.threshold,
        };
        let ops = vec![
            ALERTS.put_unguarded(&alert.id, &alert)?,
            Op::Put(Cf::Registers, keys::transfer_alerted(v.year), vec![]),
        ];
        let entry = EntryBody {
            request_id: alert.id.clone(),
            ..EntryBody::system(
                Action::AuditAlert,
                Resource::Transfers.as_str(),
                format!("transfer_volume: {}", alert.description),
            )
        };
        let guard = crate::audit::Guard { cf: Cf::Registers, key: keys::transfer_alerted(v.year), expected: None };
        match self.audit.commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![] }).await {
            Err(crate::audit::CommitError::Conflict) => return Ok(None),
            other => other?,
        };
        tracing::warn!(rule = "transfer_volume", persons = v.persons, "transfer volume alert");
        Ok(Some(alert))
    }
}
