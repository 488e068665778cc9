//! Closing a customer relationship: a new version with status `closed`, and
//! `ended_at` (the `relationship_end` retention trigger) in the metadata.

use crate::archive::dossiers::NextVersion;
use crate::archive::retention::Retention;
use crate::archive::{ArchiveError, Created, RequestCtx};
use crate::audit::{Action, Outcome};
use crate::domain::dossier::{FieldError, Status};
use crate::policy::access::Change;
use time::OffsetDateTime;

impl Retention {
    /// Ends the customer relationship: a new version with status `closed`,
    /// and `ended_at` (the relationship_end trigger) in the metadata.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn close_dossier(
        &self,
        ctx: &RequestCtx,
        id: &str,
        ended_at: OffsetDateTime,
    ) -> Result<Created, ArchiveError> {
        const ACTION: Action = Action::DossierClose;
        let (did, meta, meta_raw, allowed) = self.dossiers.authorize_change(ctx, ACTION, id, Change::Close).await?;
        if ended_at > self.clock.now() + time::Duration::minutes(5) {
            let e =
                self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "ended_at in the future");
            let err = FieldError { path: "/ended_at".into(), message: "lies in the future".into() };
            return self.gate.refuse(e, ArchiveError::Invalid(vec![err])).await;
        }
        let mut split = self.vault.open_version_split(&did, meta.current_version)?;
        split.business.status = Status::Closed;
        let reason = format!("{allowed}; relationship ended");
        let next =
            NextVersion { action: ACTION, meta, meta_raw, split, ended_at: Some(ended_at), reason, extra: vec![] };
        self.dossiers.append_version(crate::archive::dossiers::Author::Request(ctx), &did, next).await
    }
}
