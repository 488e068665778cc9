//! Legal holds: placed and released by compliance, reason and case
//! reference sealed under the dossier's key; a hold blocks destruction and
//! erasure of everything it covers.

use super::{from_json, to_json, HoldRecord, HoldText, HoldView};
use crate::archive::codec::parse_segment;
use crate::archive::records::DossierMeta;
use crate::archive::{Archive, ArchiveError, RequestCtx};
use crate::audit::{Commit, Guard, Outcome};
use crate::crypto::{open, seal, segment_aad, KeyRef};
use crate::domain::{DossierId, HoldId};
use crate::store::{keys, Cf, Op};

impl Archive {
    async fn hold_target(
        &self,
        ctx: &RequestCtx,
        action: &str,
        id: &str,
    ) -> Result<(DossierId, DossierMeta), ArchiveError> {
        let purpose = self.purpose(ctx, action, id).await?;
        let (did, meta, _) = self.find_meta(ctx, action, id).await?;
        let d = self.policy.access.decide_hold(&ctx.principal, purpose.as_str(), id, meta.facts());
        if !d.allowed {
            let e = self.dossier_entry(ctx, action, id, &meta.subjects, Outcome::Deny, d.reason.clone());
            return self.refuse(e, ArchiveError::Forbidden(d.reason)).await;
        }
        Ok((did, meta))
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
        const ACTION: &str = "hold.place";
        let (did, meta) = self.hold_target(ctx, ACTION, id).await?;
        let hold = HoldId::generate();
        let key = self.keyring.get(&KeyRef::Dossier(did.clone()))?;
        let text = to_json(&HoldText { reason: reason.to_owned(), case_ref: case_ref.to_owned() })?;
        let sealed = seal(key.as_ref(), &segment_aad(did.as_str(), 0, &format!("hold/{hold}")), &text)?;
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
        let ops = vec![Op::Put(Cf::Disposition, keys::hold(&did, hold.as_str()), to_json(&rec)?)];
        let reason = format!("legal hold {hold} under {jurisdiction} law");
        let entry = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Allow, reason);
        self.audit.commit(Commit { ops, entries: vec![entry], guard: None, on_conflict: vec![] }).await?;
        Ok(hold)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn release_hold(&self, ctx: &RequestCtx, id: &str, hold: &str) -> Result<(), ArchiveError> {
        const ACTION: &str = "hold.release";
        let (did, meta) = self.hold_target(ctx, ACTION, id).await?;
        let key = keys::hold(&did, hold);
        let found = self.store.get(Cf::Disposition, &key)?;
        let rec = match found.as_deref().map(from_json::<HoldRecord>).transpose()? {
            Some(r) if r.released_at.is_none() => r,
            _ => {
                let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "no such active hold");
                return self.refuse(e, ArchiveError::NotFound("active legal hold".into())).await;
            }
        };
        let released = HoldRecord {
            released_by: Some(ctx.principal.id.clone()),
            released_at: Some(self.clock.now()),
            ..rec.clone()
        };
        let ops = vec![Op::Put(Cf::Disposition, key.clone(), to_json(&released)?)];
        let reason = format!("legal hold {} released", rec.id);
        let entry = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Allow, reason);
        let guard = Guard { cf: Cf::Disposition, key, expected: found };
        self.audit.commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![] }).await?;
        Ok(())
    }

    /// Active holds on a dossier.
    pub(super) fn holds(&self, did: &DossierId) -> Result<Vec<HoldRecord>, ArchiveError> {
        let prefix = keys::holds_prefix(did);
        let mut out = Vec::new();
        for row in self.store.scan(Cf::Disposition, &prefix, &prefix) {
            let (_, raw) = row?;
            let h: HoldRecord = from_json(&raw)?;
            if h.released_at.is_none() {
                out.push(h);
            }
        }
        Ok(out)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_holds(&self, ctx: &RequestCtx, id: &str) -> Result<Vec<HoldView>, ArchiveError> {
        const ACTION: &str = "hold.list";
        let (did, meta) = self.hold_target(ctx, ACTION, id).await?;
        let key = self.keyring.get(&KeyRef::Dossier(did.clone()))?;
        let mut out = Vec::new();
        for h in self.holds(&did)? {
            let plain = open(key.as_ref(), &segment_aad(did.as_str(), 0, &format!("hold/{}", h.id)), &h.sealed)?;
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
        let entry = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Allow, "legal holds");
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(out)
    }
}
