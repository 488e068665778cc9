//! The recipients register (PIPL Art. 21, 23; GDPR Art. 28, 30(1)(d)): the
//! third parties personal data goes to (carriers, warehouses, IT
//! processors, independent recipients), each with its role, agreed purposes
//! and field classes, country, term and contract reference; and, once the
//! term has ended, the attestation that the party deleted what it received
//! (PIPL Art. 21(2)). An entry is written once and never changed: a new
//! agreement is a new entry.
//!
//! A principal of role `processor` is bound to one entry: its tokens expire
//! with the term, it may state only the agreed purposes, and it sees only
//! the agreed classes (`provision`).

use crate::archive::gate::Access;
use crate::archive::governance::Governance;
use crate::archive::records::{RecipientRecord, RECIPIENTS};
use crate::archive::vault::Slot;
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::crypto::{KeyRef, Sealed};
use crate::domain::dossier::FieldError;
pub use crate::domain::RecipientRole;
use crate::domain::{Classification, Jurisdiction, PrincipalId, ProcessingKind, Purpose, RecipientId};
use crate::store::{keys, Cf, Table};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct NewRecipient {
    pub name: String,
    pub role: RecipientRole,
    pub purposes: Vec<String>,
    pub classes: Vec<Classification>,
    pub country: Jurisdiction,
    pub term_from: OffsetDateTime,
    pub term_until: OffsetDateTime,
    pub contract: String,
    /// The impact assessment covering its entrustment or provision.
    pub assessment: Option<String>,
}

/// A recipient's deletion attestation, once: `t/<rcp>/a` in `registers`.
const ATTESTATIONS: Table<RecipientId, AttestationRecord> =
    Table::new(Cf::Registers, keys::RECIPIENT_PREFIX, keys::recipient_attestation)
        .rows_where(|k| k.ends_with(keys::ATTESTATION_SUFFIX));

#[derive(Debug, Clone)]
pub struct NewAttestation {
    pub deleted_at: OffsetDateTime,
    pub method: String,
    pub statement: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AttestationRecord {
    #[serde(with = "time::serde::rfc3339")]
    deleted_at: OffsetDateTime,
    method: String,
    /// The party's statement (may name its staff): sealed.
    statement: Sealed,
    recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    recorded_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttestationView {
    #[serde(with = "time::serde::rfc3339")]
    pub deleted_at: OffsetDateTime,
    pub method: String,
    /// `None` to an auditor.
    pub statement: Option<String>,
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecipientView {
    pub id: String,
    pub name: String,
    #[schema(inline)]
    pub role: RecipientRole,
    pub purposes: Vec<String>,
    pub classes: Vec<Classification>,
    pub country: String,
    #[serde(with = "time::serde::rfc3339")]
    pub term_from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub term_until: OffsetDateTime,
    pub contract: String,
    /// The impact assessment covering its entrustment or provision (PIPL
    /// Art. 55(3)); absent on entries made before custos asked for it.
    pub assessment: Option<String>,
    /// `not_started`, `in_term` or `ended`.
    pub status: String,
    /// The deletion attestation, once recorded.
    pub attestation: Option<AttestationView>,
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

impl Governance {
    pub(crate) fn recipient_record(&self, id: &RecipientId) -> Result<Option<RecipientRecord>, ArchiveError> {
        Ok(RECIPIENTS.get(self.store.as_ref(), id)?)
    }

    /// The recipient a consent names: it must be on the register.
    pub(crate) fn recipient_for_consent(&self, id: &str) -> Result<String, String> {
        let rid = RecipientId::parse(id).map_err(|_| "not a recipient id".to_owned())?;
        match self.recipient_record(&rid) {
            Ok(Some(_)) => Ok(rid.to_string()),
            Ok(None) => Err("no such recipient on the register".into()),
            Err(_) => Err("the recipients register cannot be read".into()),
        }
    }

    fn recipient_view(&self, r: &RecipientRecord, with_text: bool) -> Result<RecipientView, ArchiveError> {
        let now = self.clock.now();
        let attestation = match ATTESTATIONS.get(self.store.as_ref(), &r.id)? {
            None => None,
            Some(a) => {
                let statement = if with_text {
                    self.vault.open_text(&KeyRef::Registers, Slot::Attestation(&r.id), &a.statement)?.plain()
                } else {
                    None
                };
                Some(AttestationView {
                    deleted_at: a.deleted_at,
                    method: a.method,
                    statement,
                    recorded_by: a.recorded_by.to_string(),
                    recorded_at: a.recorded_at,
                })
            }
        };
        let status = if now < r.term_from {
            "not_started"
        } else if now < r.term_until {
            "in_term"
        } else {
            "ended"
        };
        Ok(RecipientView {
            id: r.id.to_string(),
            name: r.name.clone(),
            role: r.role,
            purposes: r.purposes.clone(),
            classes: r.classes.clone(),
            country: r.country.to_string(),
            term_from: r.term_from,
            term_until: r.term_until,
            contract: r.contract.clone(),
            assessment: r.assessment.as_ref().map(ToString::to_string),
            status: status.into(),
            attestation,
            recorded_by: r.recorded_by.to_string(),
            recorded_at: r.recorded_at,
        })
    }

    /// `POST /v1/recipients` (compliance).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_recipient(&self, ctx: &RequestCtx, n: NewRecipient) -> Result<RecipientView, ArchiveError> {
        const ACTION: Action = Action::RecipientCreate;
        self.gate.require_register(ctx, ACTION, Resource::Recipients.as_str(), Access::Keep).await?;
        let mut errors = Vec::new();
        for (i, p) in n.purposes.iter().enumerate() {
            if Purpose::parse(p).and_then(|id| self.policy.purposes.get(&id)).is_none() {
                errors.push(FieldError { path: format!("/purposes/{i}"), message: "unknown purpose".into() });
            }
        }
        let kind = match n.role {
            RecipientRole::Processor => ProcessingKind::Entrustment,
            RecipientRole::Independent => ProcessingKind::ProvisionToThirdParty,
        };
        let resource = (ACTION, Resource::Recipients.as_str());
        let named = n.assessment.as_deref();
        let assessment = self.named_assessment(ctx, resource, (kind, &n.purposes), named, &mut errors).await?;
        if !errors.is_empty() {
            let e = ctx.entry(ACTION, "", Outcome::Error, "invalid recipient");
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let mut purposes = n.purposes;
        purposes.sort();
        purposes.dedup();
        let mut classes = n.classes;
        classes.sort();
        classes.dedup();
        let r = RecipientRecord {
            id: RecipientId::generate(),
            name: n.name,
            role: n.role,
            purposes,
            classes,
            country: n.country,
            term_from: n.term_from,
            term_until: n.term_until,
            contract: n.contract,
            assessment,
            recorded_by: ctx.principal.id.clone(),
            recorded_at: self.clock.now(),
        };
        let ops = vec![RECIPIENTS.put_unguarded(&r.id, &r)?];
        let reason = format!(
            "{} in {}, purposes {}, classes {}, term until {}{}",
            crate::archive::wire_name(&r.role),
            r.country,
            r.purposes.join(","),
            r.classes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(","),
            super::rfc3339(r.term_until),
            r.assessment.as_ref().map_or(String::new(), |a| format!("; assessment {a}"))
        );
        self.audit.commit(Commit::change(ops, ctx.entry(ACTION, r.id.as_str(), Outcome::Allow, reason))).await?;
        self.recipient_view(&r, true)
    }

    /// `GET /v1/recipients` (compliance, auditor).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_recipients(&self, ctx: &RequestCtx) -> Result<Vec<RecipientView>, ArchiveError> {
        const ACTION: Action = Action::RecipientList;
        self.gate.require_register(ctx, ACTION, Resource::Recipients.as_str(), Access::Read).await?;
        let all = self.recipient_records()?;
        let e = ctx.entry(ACTION, Resource::Recipients.as_str(), Outcome::Allow, format!("{} listed", all.len()));
        self.audit.commit(Commit::entry(e)).await?;
        let texts = self.gate.may(&ctx.principal, crate::archive::gate::Operation::RegisterKeep);
        all.iter().map(|r| self.recipient_view(r, texts)).collect()
    }

    /// The recipients in term on the register that the notice in force
    /// does not name (PIPL Art. 17, 23: persons are told who receives
    /// their data): for callers who may read the registers, audited as a
    /// read of the register; `None` to others.
    pub async fn unannounced_recipients(
        &self,
        ctx: &RequestCtx,
    ) -> Result<Option<Vec<serde_json::Value>>, ArchiveError> {
        if !self.gate.may(&ctx.principal, crate::archive::gate::Operation::RegisterRead) {
            return Ok(None);
        }
        let now = self.clock.now();
        let norm = |s: &str| s.trim().to_lowercase();
        let named: Vec<String> = self
            .policy
            .notices
            .in_force(now)
            .map(|n| n.recipients.iter().map(|r| norm(r.name())).collect())
            .unwrap_or_default();
        let gaps = self
            .recipient_records()?
            .into_iter()
            .filter(|r| r.in_term(now) && !named.contains(&norm(&r.name)))
            .map(|r| serde_json::json!({"id": r.id.to_string(), "name": r.name}))
            .collect::<Vec<_>>();
        let why = format!("{} recipient(s) in term that the notice in force does not name", gaps.len());
        let e = ctx.entry(Action::RecipientList, Resource::Recipients.as_str(), Outcome::Allow, why);
        self.audit.commit(Commit::entry(e)).await?;
        Ok(Some(gaps))
    }

    pub(crate) fn recipient_records(&self) -> Result<Vec<RecipientRecord>, ArchiveError> {
        Ok(RECIPIENTS.values(self.store.as_ref()).collect::<Result<_, _>>()?)
    }

    async fn find_recipient(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
    ) -> Result<RecipientRecord, ArchiveError> {
        let found = match RecipientId::parse(id) {
            Ok(rid) => self.recipient_record(&rid)?,
            Err(_) => None,
        };
        match found {
            Some(r) => Ok(r),
            None => {
                let e = ctx.entry(action, id, Outcome::Error, "no such recipient");
                self.gate.refuse(e, ArchiveError::NotFound("recipient".into())).await
            }
        }
    }

    /// `GET /v1/recipients/{id}` (compliance, auditor).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_recipient(&self, ctx: &RequestCtx, id: &str) -> Result<RecipientView, ArchiveError> {
        const ACTION: Action = Action::RecipientRead;
        self.gate.require_register(ctx, ACTION, Resource::Recipients.as_str(), Access::Read).await?;
        let r = self.find_recipient(ctx, ACTION, id).await?;
        self.audit.commit(Commit::entry(ctx.entry(ACTION, id, Outcome::Allow, "recipient read"))).await?;
        self.recipient_view(&r, self.gate.may(&ctx.principal, crate::archive::gate::Operation::RegisterKeep))
    }

    /// `POST /v1/recipients/{id}/attestation` (compliance): the party's
    /// attestation that it deleted what it received, once its term ended
    /// (409 before, and for a second one).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn attest_deletion(
        &self,
        ctx: &RequestCtx,
        id: &str,
        a: NewAttestation,
    ) -> Result<RecipientView, ArchiveError> {
        const ACTION: Action = Action::RecipientAttestation;
        self.gate.require_register(ctx, ACTION, Resource::Recipients.as_str(), Access::Keep).await?;
        let r = self.find_recipient(ctx, ACTION, id).await?;
        let now = self.clock.now();
        let mut errors = Vec::new();
        if a.deleted_at > now + time::Duration::minutes(5) {
            errors.push(FieldError { path: "/deleted_at".into(), message: "lies in the future".into() });
        }
        if !errors.is_empty() {
            let e = ctx.entry(ACTION, id, Outcome::Error, "invalid attestation");
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        if now < r.term_until {
            let e = ctx.entry(ACTION, id, Outcome::Error, "term not ended");
            let why = format!(
                "the recipient's term runs until {}: deletion is attested after it ends (PIPL Art. 21(2))",
                super::rfc3339(r.term_until)
            );
            return self.gate.refuse(e, ArchiveError::Conflict(why)).await;
        }
        if ATTESTATIONS.contains(self.store.as_ref(), &r.id)? {
            let e = ctx.entry(ACTION, id, Outcome::Error, "already attested");
            return self
                .gate
                .refuse(e, ArchiveError::Conflict("a deletion attestation is already on record".into()))
                .await;
        }
        let record = AttestationRecord {
            deleted_at: a.deleted_at,
            method: a.method,
            statement: self.vault.seal_live(&KeyRef::Registers, Slot::Attestation(&r.id), a.statement.as_bytes())?,
            recorded_by: ctx.principal.id.clone(),
            recorded_at: now,
        };
        let reason = format!("deletion attested, deleted at {}", super::rfc3339(a.deleted_at));
        let entry = ctx.entry(ACTION, id, Outcome::Allow, reason);
        match self.audit.commit(Commit::guarded(ATTESTATIONS.insert(&r.id, &record)?, vec![], entry)).await {
            Ok(_) => {}
            Err(crate::audit::CommitError::Conflict) => {
                return Err(ArchiveError::Conflict("a deletion attestation is already on record".into()))
            }
            Err(e) => return Err(e.into()),
        }
        self.recipient_view(&r, true)
    }
}
