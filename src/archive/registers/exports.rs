//! Bulk exports (separation of duties; GB/T 35273-2020 §7.1(d)): an export
//! of more dossiers and persons than `policies/exports.toml` allows needs a
//! second compliance officer's approval before the one who asked can
//! download it, once, within the validity window. The content is read when
//! downloaded, with the asker's own permissions and stated purpose, each
//! dossier read audited as usual; a person named is listed as refused
//! (audited): a person's export answers their own verified request only.

use super::{rfc3339, Access};
use crate::archive::denial::{Denial, FourEyes};
use crate::archive::registers::Registers;
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx, StatedPurpose};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::{DossierId, ExportId, SubjectId};
use crate::store::{keys, Cf, Held, Table};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    /// A second compliance officer must approve it.
    AwaitingApproval,
    /// The asker may download it (once).
    Ready,
    /// Downloaded.
    Delivered,
    /// Not downloaded within the validity window.
    Expired,
}

/// `POST /v1/exports`: what to export, each dossier and person named once
/// and at least one of either (`web::commands` builds it from the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExport {
    pub dossiers: Vec<DossierId>,
    pub subjects: Vec<SubjectId>,
}

/// An export as stored and shown: ids only.
/// The bulk-export register: `x/<exp>` in `registers`.
const EXPORTS: Table<ExportId, ExportView> = Table::new(Cf::Registers, b"x/", keys::export);

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportView {
    pub id: String,
    pub requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// The purpose the asker stated; the download must state it too.
    pub purpose: String,
    pub dossiers: Vec<String>,
    pub subjects: Vec<String>,
    pub state: ExportState,
    pub needs_approval: bool,
    pub approved_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub approved_at: Option<OffsetDateTime>,
    /// Until when it can be downloaded.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub valid_until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub delivered_at: Option<OffsetDateTime>,
    pub citation: String,
}

impl ExportView {
    fn state_at(&self, now: OffsetDateTime) -> ExportState {
        match self.state {
            ExportState::Ready if self.valid_until.is_some_and(|t| now > t) => ExportState::Expired,
            s => s,
        }
    }
}

impl Registers {
    fn export_record(&self, id: &str) -> Result<Option<Held<ExportView>>, ArchiveError> {
        let Ok(eid) = ExportId::parse(id) else { return Ok(None) };
        let Some(mut held) = EXPORTS.hold(self.store.as_ref(), &eid)? else { return Ok(None) };
        held.value.state = held.value.state_at(self.clock.now());
        Ok(Some(held))
    }

    /// `POST /v1/exports`: up to `max_items` ready at once, more awaiting a
    /// second officer's approval.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_export(&self, ctx: &RequestCtx, x: NewExport) -> Result<ExportView, ArchiveError> {
        const ACTION: Action = Action::ExportCreate;
        let purpose = self.gate.purpose(ctx, ACTION, Resource::Exports.as_str()).await?;
        let dossiers: Vec<String> = x.dossiers.iter().map(ToString::to_string).collect();
        let subjects: Vec<String> = x.subjects.iter().map(ToString::to_string).collect();
        let rules = &self.policy.exports;
        let now = self.clock.now();
        let needs_approval = dossiers.len() + subjects.len() > rules.max_items;
        let view = ExportView {
            id: ExportId::generate().to_string(),
            requested_by: ctx.principal.id.to_string(),
            requested_at: now,
            purpose: purpose.as_str().to_owned(),
            dossiers,
            subjects,
            state: if needs_approval { ExportState::AwaitingApproval } else { ExportState::Ready },
            needs_approval,
            approved_by: None,
            approved_at: None,
            valid_until: (!needs_approval).then(|| now + time::Duration::hours(rules.valid_hours.into())),
            delivered_at: None,
            citation: rules.citation.clone(),
        };
        let eid = ExportId::parse(&view.id).map_err(|e| ArchiveError::Internal(anyhow::anyhow!("{e}")))?;
        let mut e = ctx.entry(
            ACTION,
            &view.id,
            Outcome::Allow,
            format!(
                "{} dossier(s), {} person(s); {}",
                view.dossiers.len(),
                view.subjects.len(),
                if needs_approval {
                    format!("more than {}: awaiting a second officer's approval", rules.max_items)
                } else {
                    "no approval needed".into()
                }
            ),
        );
        e.subjects = view.subjects.clone();
        let ops = vec![EXPORTS.put_unguarded(&eid, &view)?];
        self.audit.commit(Commit::change(ops, e)).await?;
        Ok(view)
    }

    /// `GET /v1/exports/{id}` (the asker, compliance, auditor).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_export(&self, ctx: &RequestCtx, id: &str) -> Result<ExportView, ArchiveError> {
        const ACTION: Action = Action::ExportRead;
        let found = self.export_record(id)?.map(|h| h.value);
        let own = found.as_ref().is_some_and(|v| v.requested_by == ctx.principal.id.as_str());
        if !own {
            self.gate.require_register(ctx, ACTION, id, Access::Read).await?;
        }
        let Some(v) = found else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such export");
            return self.gate.refuse(e, ArchiveError::NotFound("export".into())).await;
        };
        self.audit.commit(Commit::entry(ctx.entry(ACTION, id, Outcome::Allow, "export"))).await?;
        Ok(v)
    }

    /// `POST /v1/exports/{id}/approve`: a compliance officer other than the asker.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn approve_export(&self, ctx: &RequestCtx, id: &str) -> Result<ExportView, ArchiveError> {
        const ACTION: Action = Action::ExportApprove;
        self.gate.require_register(ctx, ACTION, id, Access::Keep).await?;
        let Some(held) = self.export_record(id)? else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such export");
            return self.gate.refuse(e, ArchiveError::NotFound("export".into())).await;
        };
        let mut v = held.value.clone();
        if v.requested_by == ctx.principal.id.as_str() {
            let e = ctx.entry(ACTION, id, Outcome::Deny, "");
            return self.gate.deny(e, Denial::FourEyes(FourEyes::ExportAsker), None).await;
        }
        if v.state != ExportState::AwaitingApproval {
            let e = ctx.entry(ACTION, id, Outcome::Error, "not awaiting approval");
            return self.gate.refuse(e, ArchiveError::Conflict("the export is not awaiting approval".into())).await;
        }
        let now = self.clock.now();
        v.state = ExportState::Ready;
        v.approved_by = Some(ctx.principal.id.to_string());
        v.approved_at = Some(now);
        v.valid_until = Some(now + time::Duration::hours(self.policy.exports.valid_hours.into()));
        let reason = format!("approved; valid until {}", v.valid_until.map(rfc3339).unwrap_or_default());
        let mut e = ctx.entry(ACTION, id, Outcome::Allow, reason);
        e.subjects = v.subjects.clone();
        self.audit.commit(Commit::guarded(held.replace(&v)?, vec![], e)).await?;
        Ok(v)
    }

    /// `GET /v1/exports/{id}/content`: the asker downloads a ready export,
    /// once, stating the purpose they asked under. Each item is read with
    /// their permissions; an item they may not read is listed with why.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn export_content(&self, ctx: &RequestCtx, id: &str) -> Result<Value, ArchiveError> {
        const ACTION: Action = Action::ExportDownload;
        let Some(held) = self.export_record(id)? else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such export");
            return self.gate.refuse(e, ArchiveError::NotFound("export".into())).await;
        };
        let mut v = held.value.clone();
        if v.requested_by != ctx.principal.id.as_str() {
            return self.gate.deny(ctx.entry(ACTION, id, Outcome::Deny, ""), Denial::NotTheAsker, None).await;
        }
        let stated = matches!(&ctx.purpose, StatedPurpose::Given(p) if p.as_str() == v.purpose);
        if !stated {
            let e = ctx.entry(ACTION, id, Outcome::Error, "purpose differs from the export's");
            let why = format!("state the purpose the export was asked under: X-Purpose: {}", v.purpose);
            return self.gate.refuse(e, ArchiveError::BadRequest(why)).await;
        }
        let why = match v.state {
            ExportState::Ready => None,
            ExportState::AwaitingApproval => Some("the export awaits a second officer's approval"),
            ExportState::Delivered => Some("the export was downloaded already"),
            ExportState::Expired => Some("the export expired: ask again"),
        };
        if let Some(why) = why {
            let e = ctx.entry(ACTION, id, Outcome::Error, why);
            return self.gate.refuse(e, ArchiveError::Conflict(why.into())).await;
        }
        // Delivered first (one download, even if two race).
        let now = self.clock.now();
        v.state = ExportState::Delivered;
        v.delivered_at = Some(now);
        let mut e = ctx.entry(ACTION, id, Outcome::Allow, "delivered");
        e.subjects = v.subjects.clone();
        self.audit.commit(Commit::guarded(held.replace(&v)?, vec![], e)).await?;
        let mut dossiers = Vec::new();
        for d in &v.dossiers {
            dossiers.push(match self.dossiers.read_dossier(ctx, d, None).await {
                Ok(view) => json!({"id": d, "dossier": view.into_json()}),
                Err(e @ (ArchiveError::Forbidden { .. } | ArchiveError::NotFound(_) | ArchiveError::Gone { .. })) => {
                    json!({"id": d, "refused": e.to_string()})
                }
                Err(e) => return Err(e),
            });
        }
        let mut subjects = Vec::new();
        for s in &v.subjects {
            // A person's data leaves only for their own verified request
            // (GET /v1/subjects/{sid}/export?request=): here it is refused,
            // audited, as that export is without one.
            subjects.push(match self.export_for_request(ctx, s, None).await {
                Ok(x) => json!({"id": s, "export": x}),
                Err(e @ (ArchiveError::Forbidden { .. } | ArchiveError::NotFound(_))) => {
                    json!({"id": s, "refused": e.to_string()})
                }
                Err(e) => return Err(e),
            });
        }
        Ok(json!({
            "export_id": v.id,
            "generated_at": rfc3339(now),
            "purpose": v.purpose,
            "approved_by": v.approved_by,
            "dossiers": dossiers,
            "subjects": subjects,
        }))
    }
}
