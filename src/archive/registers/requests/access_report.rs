//! A person's verifiable access report (PIPL Art. 45; GDPR Art. 15(1)(c)):
//! every audit entry about them up to a signed checkpoint, as the person
//! reads it (when, which role and department, purpose, action, outcome,
//! which fields were shown clear, masked or withheld) and as a verifier
//! checks it (each entry's bytes and inclusion proof, the checkpoint, the
//! subject map's proof that no entry about them is missing, the verifier
//! key). Given only for the person's own verified, open access request.
//! `docs/verify_access_report.py` checks one offline.

use super::{RequestKind, RequestRecord};
use crate::archive::identity::Identity;
use crate::archive::registers::{rfc3339, Access, Registers};
use crate::archive::trail::access_report::AccessEvidence;
use crate::archive::trail::AuditTrail;
use crate::archive::witness::Witness;
use crate::archive::{ArchiveError, Denial, RequestCtx};
use crate::audit::subject_map::Terminal;
use crate::audit::{Action, Commit, Outcome};
use crate::clock::Clock;
use crate::crypto::{KeyRef, Sealed};
use crate::domain::{PrincipalId, RequestId, SubjectId};
use crate::policy::PolicySet;
use crate::store::{codec, keys, Cf, Op};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The report's format name; a verifier refuses any other.
pub const FORMAT: &str = "custos.access-report.v1";

impl Registers {
    /// `GET /v1/subjects/{sid}/access-report?request=`: the report for the
    /// person's verified, open access request (403 `no-verified-request`
    /// otherwise, audited). Its own audit entry is durable first and is in
    /// the report.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn access_report(
        &self,
        ctx: &RequestCtx,
        sid: &str,
        request: Option<&str>,
    ) -> Result<Value, ArchiveError> {
        const ACTION: Action = Action::SubjectAccessReport;
        let call = self.subjects.authorize_export(ctx, ACTION, sid).await?;
        let sid = call.subject().clone();
        let entry = |outcome, reason: String| {
            let mut e = ctx.entry(ACTION, sid.as_str(), outcome, reason);
            e.subjects = vec![sid.to_string()];
            e
        };
        let r = match self.answering(&sid, request, &[RequestKind::Access])? {
            Ok(held) => held.value,
            Err((request, gap)) => {
                return self
                    .gate
                    .deny(entry(Outcome::Deny, String::new()), Denial::NoVerifiedRequest { request, gap }, None)
                    .await;
            }
        };
        self.audit
            .commit(Commit::entry(entry(Outcome::Allow, format!("access report for access request {}", r.id))))
            .await?;
        self.reports.build(&sid, &r.id).await
    }

    /// The write keeping the report of `r`, an access request being
    /// completed, sealed under the person's key, and the checkpoint's size;
    /// `None` once the person is erased (nothing about them is kept).
    pub(super) async fn access_report_op(&self, r: &RequestRecord) -> Result<Option<(Op, u64)>, ArchiveError> {
        let report = self.reports.build(&r.subject, &r.id).await?;
        let size = report["tree_size"].as_u64().unwrap_or_default();
        let text = serde_json::to_string(&report).map_err(|e| anyhow::anyhow!("the access report: {e}"))?;
        let Some(sealed) = self.texts.seal_person(&r.subject, &kept_field(&r.id), &text)? else { return Ok(None) };
        Ok(Some((Op::Put(Cf::Registers, keys::access_report(&r.id), codec::encode(&sealed)?), size)))
    }

    /// `GET /v1/requests/{id}/access-report` (compliance): the report kept
    /// when the access request `id` was completed, audited as a
    /// `subject.access_report` naming the person; 404 when none is kept (not
    /// a completed access request, or the person erased since).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn kept_access_report(&self, ctx: &RequestCtx, id: &str) -> Result<Value, ArchiveError> {
        const ACTION: Action = Action::SubjectAccessReport;
        self.gate.require_register(ctx, ACTION, id, Access::Read).await?;
        let Some(r) = self.request_record(id)?.map(|h| h.value) else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such request");
            return self.gate.refuse(e, ArchiveError::NotFound("request".into())).await;
        };
        let mut e = ctx.entry(ACTION, id, Outcome::Allow, format!("access report kept with request {}", r.id));
        e.subjects = vec![r.subject.to_string()];
        let text = match self.store.get(Cf::Registers, &keys::access_report(&r.id))? {
            Some(raw) => {
                let sealed: Sealed = codec::decode("access report", &raw)?;
                let key = KeyRef::Subject(r.subject.clone());
                self.texts.open(&key, r.subject.as_str(), &kept_field(&r.id), &sealed)?
            }
            None => None,
        };
        let Some(text) = text else {
            e.outcome = Outcome::Error;
            e.reason = "no access report is kept for this request".into();
            let why = "an access report is kept when an access request is completed, and shredded with the person";
            return self.gate.refuse(e, ArchiveError::NotFound(why.into())).await;
        };
        self.audit.commit(Commit::entry(e)).await?;
        Ok(serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("the kept access report: {e}"))?)
    }
}

/// Makes a person's access report: the evidence at a checkpoint made for
/// it, in the report's format, with the staff register's departments.
pub(in crate::archive::registers) struct AccessReports {
    trail: Arc<AuditTrail>,
    /// The report's checkpoint goes to the log's witnesses to be cosigned.
    witness: Arc<Witness>,
    identity: Arc<Identity>,
    policy: Arc<PolicySet>,
    clock: Arc<dyn Clock>,
}

impl AccessReports {
    pub(in crate::archive::registers) fn new(
        trail: Arc<AuditTrail>,
        witness: Arc<Witness>,
        identity: Arc<Identity>,
        policy: Arc<PolicySet>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        AccessReports { trail, witness, identity, policy, clock }
    }

    /// The report on `sid` at a checkpoint made now, for `request`.
    pub(super) async fn build(&self, sid: &SubjectId, request: &RequestId) -> Result<Value, ArchiveError> {
        let (trail, who) = (self.trail.clone(), sid.clone());
        let evidence = tokio::task::spawn_blocking(move || trail.access_evidence(&who))
            .await
            .map_err(|e| anyhow::anyhow!("the access report's task failed: {e}"))??;
        let staff = self.staff_of(&evidence)?;
        let mut report = report_json(&evidence, sid, request, &staff, rfc3339(self.clock.now()));
        // With witnesses configured, the checkpoint carries the cosignatures
        // of those that cosign it now (a person's verifier can require them).
        let (outcomes, cosigned) = self.witness.cosign_note(evidence.checkpoint.size, &evidence.note).await?;
        if let Some(c) = cosigned {
            report["checkpoint"] = json!(c.note);
            report["witnesses"] = json!(c.witnesses);
        } else if !outcomes.is_empty() {
            report["witnesses"] = json!([]);
        }
        Ok(report)
    }

    /// Each staff member's department (and, where the policy says so, name)
    /// for the entries of the report, by principal id.
    fn staff_of(&self, evidence: &AccessEvidence) -> Result<BTreeMap<String, Staff>, ArchiveError> {
        let names = self.policy.requests.access_report_staff_names;
        let mut staff = BTreeMap::new();
        for e in &evidence.entries {
            let actor = &e.entry.body.actor;
            if staff.contains_key(actor) {
                continue;
            }
            let Ok(id) = PrincipalId::parse(actor) else { continue };
            if let Some(p) = self.identity.principal(&id)? {
                let name = names.then(|| p.name.clone());
                staff.insert(actor.clone(), Staff { department: p.department.clone(), name });
            }
        }
        Ok(staff)
    }
}

/// The sealed text's name (its slot) for the report kept with `request`.
fn kept_field(request: &RequestId) -> String {
    format!("request/{request}/access-report")
}

/// What the report says about who acted, beyond the entry's roles.
struct Staff {
    department: String,
    name: Option<String>,
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn report_json(
    ev: &AccessEvidence,
    sid: &SubjectId,
    request: &RequestId,
    staff: &BTreeMap<String, Staff>,
    generated_at: String,
) -> Value {
    let terminal = match &ev.map_proof.terminal {
        Terminal::Empty => json!({"kind": "empty"}),
        Terminal::Leaf { key, value } => json!({
            "kind": "leaf", "key": b64(key), "count": value.count, "last": value.last, "acc": b64(&value.acc),
        }),
    };
    let entries: Vec<Value> = ev
        .entries
        .iter()
        .map(|e| {
            let b = &e.entry.body;
            let who = staff.get(&b.actor);
            json!({
                "seq": e.entry.seq,
                "raw": b64(&e.raw),
                "inclusion": e.inclusion.iter().map(|h| b64(h)).collect::<Vec<_>>(),
                "shown": {
                    "time": rfc3339(e.entry.time),
                    "by": if b.actor == "system" { "custos" } else { "staff" },
                    "roles": b.roles,
                    "department": who.map(|s| s.department.as_str()),
                    "staff_name": who.and_then(|s| s.name.as_deref()),
                    "purpose": b.purpose,
                    "action": b.action,
                    "outcome": b.outcome,
                    "clear": b.released,
                    "masked": b.masked,
                    "withheld": b.withheld,
                },
            })
        })
        .collect();
    json!({
        "format": FORMAT,
        "generated_at": generated_at,
        "subject": sid,
        "request": request,
        "log": {"origin": ev.checkpoint.origin, "verifier_key": ev.verifier_key},
        "tree_size": ev.checkpoint.size,
        "checkpoint": ev.note,
        "map": {
            "key": b64(&ev.map_key),
            "proof": {"siblings": ev.map_proof.siblings.iter().map(|h| b64(h)).collect::<Vec<_>>(), "terminal": terminal},
        },
        "entries": entries,
    })
}
