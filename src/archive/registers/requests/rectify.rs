//! Carrying out a rectification request (PIPL Art. 46; GDPR Art. 16): a
//! dossier change that names the request corrects the person's fields,
//! and the request records the version that did it.

use super::{LinkedChange, RequestKind, RequestState};
use crate::archive::dossiers::{Created, Rectifying};
use crate::archive::registers::{field_error, Registers};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, CommitError, Outcome};
use serde_json::Value;

/// How often the link is tried again when the request changed meanwhile.
const LINK_ATTEMPTS: usize = 3;

impl Registers {
    /// `PUT /v1/dossiers/{id}?request=req_...`: the update of a dossier
    /// carrying out `request`, a verified, open rectification request. The
    /// update must correct that person's personal fields (422 otherwise);
    /// the request then lists the dossier and version (`changes`), and a
    /// rectification is completed only once one is listed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rectify(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expected: u32,
        body: &Value,
        request: &str,
    ) -> Result<Created, ArchiveError> {
        // The caller's purpose first (400/403, audited), as for any update:
        // a request is not looked up for a call that may not be made.
        self.gate.purpose(ctx, Action::DossierUpdate, id).await?;
        let open = self.request_record(request)?.map(|h| h.value).filter(|r| {
            r.kind == RequestKind::Rectification && matches!(r.state, RequestState::Verified | RequestState::InProgress)
        });
        let Some(r) = open else {
            let why = format!("request {request} is no verified, open rectification request");
            let e = ctx.entry(Action::DossierUpdate, id, Outcome::Error, why);
            let err = field_error("/request", "names no verified, open rectification request");
            return self.gate.refuse(e, ArchiveError::Invalid(vec![err])).await;
        };
        let rectifying = Rectifying { request: r.id.clone(), subject: r.subject.clone() };
        let created = self.dossiers.update_dossier_for(ctx, id, expected, body, Some(&rectifying)).await?;
        let change = LinkedChange {
            dossier_id: created.id.to_string(),
            version: created.version,
            at: self.clock.now(),
            by: ctx.principal.id.to_string(),
        };
        let entry = |outcome, why: String| {
            let mut e = ctx.entry(Action::RequestLink, r.id.as_str(), outcome, why);
            e.subjects = vec![r.subject.to_string()];
            e
        };
        let what = format!("carried out by {} version {}", created.id, created.version);
        for _ in 0..LINK_ATTEMPTS {
            let Some(held) = self.request_record(request)? else { break };
            let mut linked = held.value.clone();
            linked.changes.push(change.clone());
            let mut commit = Commit::guarded(held.replace(&linked)?, vec![], entry(Outcome::Allow, what.clone()));
            commit.on_conflict = vec![entry(Outcome::Error, "concurrent change of the request".into())];
            match self.audit.commit(commit).await {
                Ok(_) => return Ok(created),
                Err(CommitError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ArchiveError::Conflict(format!(
            "version {} of {} was written, but request {} kept changing and does not list it yet (the dossier.update entry names the request)",
            created.version, created.id, r.id
        )))
    }
}
