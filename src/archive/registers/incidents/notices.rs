//! Notifications, the Art. 34(3)(a) exemption, the draft notice, and the
//! deadline alerts of incidents.

use super::{field_error, Exemption, IncidentView, NewNotification, NoticeDraft, StoredNotification};
use crate::archive::registers::Registers;
use crate::archive::registers::{code, rfc3339, Access, AlertWrite};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::crypto::KeyRef;
use std::collections::BTreeMap;

impl Registers {
    /// `POST /v1/incidents/{id}/notifications` (compliance).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_notification(
        &self,
        ctx: &RequestCtx,
        id: &str,
        n: NewNotification,
    ) -> Result<IncidentView, ArchiveError> {
        const ACTION: Action = Action::IncidentNotify;
        self.gate.require_register(ctx, ACTION, id, Access::Keep).await?;
        let held = self.find_incident(ctx, ACTION, id).await?;
        let mut r = held.value.clone();
        let now = self.clock.now();
        let mut errors = Vec::new();
        if n.at > now + time::Duration::minutes(5) {
            errors.push(field_error("/at", "lies in the future"));
        }
        if n.at < r.detected_at {
            errors.push(field_error("/at", "before the incident was detected"));
        }
        if !errors.is_empty() {
            return self
                .gate
                .refuse(ctx.entry(ACTION, id, Outcome::Error, "invalid notification"), ArchiveError::Invalid(errors))
                .await;
        }
        let i = r.notifications.len();
        let owner = r.id.to_string();
        let recipient = self.texts.seal(
            &KeyRef::Registers,
            &owner,
            &format!("incident/{owner}/notification/{i}/recipient"),
            &n.recipient,
        )?;
        let reference = n
            .reference
            .as_deref()
            .map(|t| {
                self.texts.seal(&KeyRef::Registers, &owner, &format!("incident/{owner}/notification/{i}/reference"), t)
            })
            .transpose()?;
        r.notifications.push(StoredNotification {
            to: n.to,
            recipient,
            at: n.at,
            reference,
            persons: n.persons,
            recorded_by: ctx.principal.id.clone(),
            recorded_at: now,
        });
        let met: Vec<String> = self
            .deadlines_of(&r)
            .into_iter()
            .filter(|(d, due, met)| d.notify == n.to && *met == Some(n.at) && n.at <= *due)
            .map(|(d, _, _)| d.id)
            .collect();
        let reason = format!(
            "{} notified at {}{}",
            code(&n.to),
            rfc3339(n.at),
            if met.is_empty() { String::new() } else { format!("; meets {}", met.join(", ")) }
        );
        self.commit_incident(ctx, ACTION, &held, &r, vec![], reason).await?;
        self.incident_view(&r, true)
    }

    /// `POST /v1/incidents/{id}/exemption` (compliance): GDPR Art. 34(3)(a),
    /// persons need not be told when the data is unintelligible to anyone
    /// not authorised (encrypted, keys not compromised: the edge takes the
    /// caller's statement that they are not, the record keeps it).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_exemption(
        &self,
        ctx: &RequestCtx,
        id: &str,
        reasoning: &str,
    ) -> Result<IncidentView, ArchiveError> {
        const ACTION: Action = Action::IncidentExemption;
        self.gate.require_register(ctx, ACTION, id, Access::Keep).await?;
        let held = self.find_incident(ctx, ACTION, id).await?;
        let mut r = held.value.clone();
        if r.keys_compromised == Some(true) {
            let e = ctx.entry(ACTION, id, Outcome::Error, "the incident records compromised keys");
            let why = "the incident records compromised keys: Art. 34(3)(a) does not apply";
            return self.gate.refuse(e, ArchiveError::Conflict(why.into())).await;
        }
        if r.exemption.is_some() {
            let e = ctx.entry(ACTION, id, Outcome::Error, "exemption recorded already");
            return self.gate.refuse(e, ArchiveError::Conflict("the exemption is recorded already".into())).await;
        }
        let owner = r.id.to_string();
        let sealed = self.texts.seal(&KeyRef::Registers, &owner, &format!("incident/{owner}/exemption"), reasoning)?;
        r.keys_compromised = Some(false);
        r.exemption =
            Some(Exemption { reasoning: sealed, recorded_by: ctx.principal.id.clone(), at: self.clock.now() });
        let reason = "GDPR Art. 34(3)(a) exemption recorded: keys not compromised".to_owned();
        self.commit_incident(ctx, ACTION, &held, &r, vec![], reason).await?;
        self.incident_view(&r, true)
    }

    /// `GET /v1/incidents/{id}/notice` (compliance): the draft notice.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn incident_notice(&self, ctx: &RequestCtx, id: &str) -> Result<NoticeDraft, ArchiveError> {
        const ACTION: Action = Action::IncidentNotice;
        self.gate.require_register(ctx, ACTION, id, Access::Keep).await?;
        let r = self.find_incident(ctx, ACTION, id).await?.value;
        let v = self.incident_view(&r, true)?;
        use serde_json::{json, Value};
        let latest = r.affected.last();
        let mut elements: BTreeMap<String, Value> = BTreeMap::new();
        let mut missing = Vec::new();
        let mut put = |name: &str, value: Option<Value>, law: &str| match value {
            Some(v) => {
                elements.insert(name.to_owned(), json!({"value": v, "required_by": law}));
            }
            None => missing.push(format!("{name} ({law})")),
        };
        put(
            "nature_of_the_breach",
            v.description.clone().map(Value::from),
            "GDPR Art. 33(3)(a), 34(2); PIPL Art. 57(1)",
        );
        put("time_detected", Some(json!(rfc3339(r.detected_at))), "GDPR Art. 33(1); PIPL Art. 57");
        put("time_aware", Some(json!(rfc3339(r.aware_at))), "GDPR Art. 33(1)");
        put("level", Some(json!(r.level)), "国家网络安全事件报告管理办法 (2025)");
        put("categories_of_personal_data", Some(json!(r.data_categories)), "GDPR Art. 33(3)(a); PIPL Art. 57(1)");
        put(
            "approximate_number_of_persons",
            latest.map(|s| json!(s.count)),
            "GDPR Art. 33(3)(a) (derive them: POST /v1/incidents/{id}/affected)",
        );
        put("approximate_number_of_records", latest.map(|s| json!(s.records)), "GDPR Art. 33(3)(a)");
        put("cause", v.cause.clone().map(Value::from), "PIPL Art. 57(1)");
        put("likely_consequences", v.consequences.clone().map(Value::from), "GDPR Art. 33(3)(c); PIPL Art. 57(1)");
        put("measures_taken_or_proposed", v.measures.clone().map(Value::from), "GDPR Art. 33(3)(d); PIPL Art. 57(2)");
        put("what_persons_can_do", v.advice.clone().map(Value::from), "PIPL Art. 57(2)");
        put("contact_point", v.contact.clone().map(Value::from), "GDPR Art. 33(3)(b); PIPL Art. 57(3)");
        put("deadlines", Some(serde_json::to_value(&v.deadlines).unwrap_or_default()), "policies/incidents.toml");
        // A GDPR authority deadline (one for the EU) not met on time: told by
        // the deadline's own fields, not by its name.
        let gdpr_late = self.deadlines_of(&r).iter().any(|(d, due, met)| {
            d.notify == crate::policy::registers::Notify::Authority
                && d.jurisdictions.iter().any(crate::domain::Jurisdiction::is_eu)
                && !met.is_some_and(|t| t <= *due)
        });
        if r.aware_at + time::Duration::hours(72) < self.clock.now() && gdpr_late {
            put(
                "reasons_for_delay",
                None,
                "GDPR Art. 33(1): a notification after 72 hours gives the reasons for the delay",
            );
        }
        if let Some(ex) = &v.exemption {
            elements.insert(
                "exemption_from_telling_persons".into(),
                json!({"value": ex, "required_by": "GDPR Art. 34(3)(a)"}),
            );
        }
        let e = ctx.entry(ACTION, id, Outcome::Allow, format!("draft notice; {} element(s) missing", missing.len()));
        self.audit.commit(Commit::entry(e)).await?;
        Ok(NoticeDraft { incident: r.id.to_string(), complete: missing.is_empty(), missing, elements })
    }

    /// Incident deadlines that near or ran out without a notification, not
    /// alerted yet (the deadline job): one guarded write per incident.
    pub(in crate::archive::registers) fn incident_deadline_alerts(&self) -> Result<Vec<AlertWrite>, ArchiveError> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for held in super::INCIDENTS.held_rows(self.store.as_ref()) {
            let held = held?;
            let mut r = held.value.clone();
            let mut alerts = Vec::new();
            for (d, due, met) in self.deadlines_of(&r) {
                if met.is_some() {
                    continue;
                }
                let (stage, rule) = if now > due {
                    ("passed", "incident_deadline_passed")
                } else if now + d.warn_before >= due {
                    ("near", "incident_deadline_near")
                } else {
                    continue;
                };
                if !r.alerted.insert(format!("{}:{stage}", d.id)) {
                    continue;
                }
                alerts.push(crate::policy::alerts::Alert {
                    id: crate::domain::AlertId::generate().to_string(),
                    rule: rule.into(),
                    description: format!(
                        "incident {}: {} notification {} is due {} ({})",
                        r.id,
                        code(&d.notify),
                        d.id,
                        rfc3339(due),
                        d.citation
                    ),
                    actor: r.recorded_by.to_string(),
                    window_start: due - d.within,
                    window_end: due,
                    window_seconds: d.within.whole_seconds().max(0) as u64,
                    count: 0,
                    threshold: 0,
                });
            }
            if alerts.is_empty() {
                continue;
            }
            let change = held.replace(&r)?;
            out.push(AlertWrite { resource: r.id.to_string(), subjects: vec![], alerts, change });
        }
        Ok(out)
    }
}
