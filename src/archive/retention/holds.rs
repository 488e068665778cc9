//! Legal holds: placed and released by compliance, reason and case
//! reference sealed under the dossier's key; a hold blocks destruction and
//! erasure of everything it covers.

use super::{HoldRecord, HoldText, HoldView, HOLDS};
use crate::archive::records::DossierMeta;
use crate::archive::retention::Retention;
use crate::archive::vault::parse_segment;
use crate::archive::vault::Slot;
use crate::archive::Denial;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::crypto::KeyRef;
use crate::domain::{DossierId, HoldId};
use crate::store::keys;

impl Retention {
    async fn hold_target(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
    ) -> Result<(DossierId, DossierMeta), ArchiveError> {
        let purpose = self.gate.purpose(ctx, action, id).await?;
        let (did, meta, _) = self.dossiers.find_meta(ctx, action, id).await?;
        let d = self.policy.access.decide_hold(&ctx.principal, purpose.as_str(), id, meta.facts());
        if !d.allowed {
            let e = self.dossiers.dossier_entry(ctx, action, id, &meta.subjects, Outcome::Deny, "");
            return self.gate.deny(e, Denial::Policy(d.basis), None).await;
        }
        Ok((did, meta))
    }

    /// Whether the caller may see and place legal holds on dossier `id`
    /// under the purpose they stated: the `dossier.hold` decision, without
    /// an entry (for the console's dossier page).
    pub fn may_hold(&self, ctx: &RequestCtx, id: &DossierId) -> bool {
        let Some((purpose, meta)) = self.dossiers.menu_facts(ctx, id) else { return false };
        self.policy.access.decide_hold(&ctx.principal, purpose, id.as_str(), meta.facts()).allowed
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn place_hold(
        &self,
        ctx: &RequestCtx,
        id: &str,
        reason: &str,
        case_ref: &str,
        jurisdiction: crate::domain::Jurisdiction,
    ) -> Result<HoldId, ArchiveError> {
        const ACTION: Action = Action::HoldPlace;
        let (did, meta) = self.hold_target(ctx, ACTION, id).await?;
        let hold = HoldId::generate();
        let text = crate::store::codec::encode(&HoldText { reason: reason.to_owned(), case_ref: case_ref.to_owned() })?;
        let sealed = self.vault.seal_live(&KeyRef::Dossier(did.clone()), Slot::Hold(&did, &hold), &text)?;
        let rec = HoldRecord {
            id: hold.clone(),
            dossier: did.clone(),
            sealed,
            placed_by: ctx.principal.id.clone(),
            placed_at: self.clock.now(),
            jurisdiction: jurisdiction.clone(),
            released_by: None,
            released_at: None,
        };
        let change = HOLDS.insert(&(did.clone(), hold.to_string()), &rec)?;
        let reason = format!("legal hold {hold} under {jurisdiction} law");
        let entry = self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Allow, reason);
        self.audit.commit(Commit::guarded(change, vec![], entry)).await?;
        Ok(hold)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn release_hold(&self, ctx: &RequestCtx, id: &str, hold: &str) -> Result<(), ArchiveError> {
        const ACTION: Action = Action::HoldRelease;
        let (did, meta) = self.hold_target(ctx, ACTION, id).await?;
        let found = HOLDS.hold(self.store.as_ref(), &(did.clone(), hold.to_owned()))?;
        let (held, rec) = match found {
            Some(h) if h.value.released_at.is_none() => (h.clone(), h.value),
            _ => {
                let e =
                    self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "no such active hold");
                return self.gate.refuse(e, ArchiveError::NotFound("active legal hold".into())).await;
            }
        };
        let released = HoldRecord {
            released_by: Some(ctx.principal.id.clone()),
            released_at: Some(self.clock.now()),
            ..rec.clone()
        };
        let reason = format!("legal hold {} released", rec.id);
        let entry = self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Allow, reason);
        self.audit.commit(Commit::guarded(held.replace(&released)?, vec![], entry)).await?;
        Ok(())
    }

    /// Active holds on a dossier.
    pub(super) fn holds(&self, did: &DossierId) -> Result<Vec<HoldRecord>, ArchiveError> {
        let mut out = Vec::new();
        for row in HOLDS.scan_under(self.store.as_ref(), keys::holds_prefix(did)) {
            let (_, h) = row?;
            if h.released_at.is_none() {
                out.push(h);
            }
        }
        Ok(out)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_holds(&self, ctx: &RequestCtx, id: &str) -> Result<Vec<HoldView>, ArchiveError> {
        const ACTION: Action = Action::HoldList;
        let (did, meta) = self.hold_target(ctx, ACTION, id).await?;
        let mut out = Vec::new();
        for h in self.holds(&did)? {
            let plain = self.vault.open_live(&KeyRef::Dossier(did.clone()), Slot::Hold(&did, &h.id), &h.sealed)?;
            let text: HoldText = parse_segment(&plain)?;
            out.push(HoldView {
                hold_id: h.id,
                case_ref: text.case_ref,
                reason: text.reason,
                jurisdiction: h.jurisdiction,
                placed_by: h.placed_by,
                placed_at: h.placed_at,
            });
        }
        let entry = self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Allow, "legal holds");
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(out)
    }
}
