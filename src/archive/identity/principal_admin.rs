//! Admins deciding about a principal: approving an admin principal (a
//! second admin, not its maker), and disabling and enabling one (a second
//! admin enables). Each is a guarded write, audited, and forgets what
//! authentication cached, so it takes effect on the very next request.

use super::auth_cache::PrincipalView;
use super::Identity;
use crate::archive::denial::FourEyes;
use crate::archive::{ArchiveError, Denial, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::PrincipalId;
use crate::store::{keys, Cf};

impl Identity {
    /// `POST /v1/principals/{id}/approve` (a second admin, not the one who
    /// made it): an admin principal made through the API becomes an admin.
    /// Guarded: of two approvals at once, one writes.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn approve_principal(&self, ctx: &RequestCtx, id: &str) -> Result<PrincipalView, ArchiveError> {
        const ACTION: Action = Action::PrincipalApprove;
        let (pid, raw, mut p) = self.principal_to_decide(ctx, ACTION, id).await?;
        let refusal = match &p.admin_pending {
            None => Some((Outcome::Error, ArchiveError::Conflict("the principal awaits no approval".into()))),
            Some(creator) if creator == &ctx.principal.id => {
                Some((Outcome::Deny, ArchiveError::forbidden(Denial::FourEyes(FourEyes::AdminMaker))))
            }
            Some(_) if p.id == ctx.principal.id => {
                Some((Outcome::Deny, ArchiveError::forbidden(Denial::FourEyes(FourEyes::OwnAdmin))))
            }
            Some(_) => None,
        };
        if let Some((outcome, err)) = refusal {
            let e = ctx.entry(ACTION, id, outcome, err.audit_reason());
            return self.gate.refuse(e, err).await;
        }
        let creator = p.admin_pending.take().map(|c| c.to_string()).unwrap_or_default();
        let ops = vec![self.principal_op(&p)?];
        let reason = format!("admin made by {creator}, approved by {}", ctx.principal.id);
        let guard = crate::audit::Guard { cf: Cf::Principals, key: keys::principal(&pid), expected: Some(raw) };
        let entry = ctx.entry(ACTION, pid.as_str(), Outcome::Allow, reason);
        self.audit.commit(Commit { guard: Some(guard), ..Commit::change(ops, entry) }).await?;
        // Cached lookups of its tokens carry the roles as they were.
        self.auth_cache.forget_all();
        Ok(PrincipalView::of(&p))
    }

    /// `POST /v1/principals/{id}/disable` (an admin, not for themself) and
    /// `.../enable` (an admin other than the one who disabled it): a
    /// disabled principal's tokens stop working at once, on every path
    /// (the authentication cache is forgotten as the change commits).
    /// Guarded: of two changes at once, one writes.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_disabled(&self, ctx: &RequestCtx, id: &str, disable: bool) -> Result<PrincipalView, ArchiveError> {
        let action = if disable { Action::PrincipalDisable } else { Action::PrincipalEnable };
        let (pid, raw, mut p) = self.principal_to_decide(ctx, action, id).await?;
        let me = &ctx.principal.id;
        let refusal = match (disable, &p.disabled_by) {
            (true, Some(_)) => {
                Some((Outcome::Error, ArchiveError::Conflict("the principal is disabled already".into())))
            }
            (true, None) if &p.id == me => {
                Some((Outcome::Deny, ArchiveError::forbidden(Denial::FourEyes(FourEyes::DisableSelf))))
            }
            // One admin disabling the other would leave no second admin to
            // enable it again or approve anything: four eyes gone.
            (true, None) if p.has_role(crate::domain::Role::Admin) && self.active_admins_besides(&p.id)? < 2 => {
                let why =
                    "disabling this admin would leave fewer than two admins: make and approve another admin first";
                Some((Outcome::Error, ArchiveError::Conflict(why.into())))
            }
            (false, None) => Some((Outcome::Error, ArchiveError::Conflict("the principal is not disabled".into()))),
            (false, Some(by)) if by == me || &p.id == me => {
                Some((Outcome::Deny, ArchiveError::forbidden(Denial::FourEyes(FourEyes::EnableByDisabler))))
            }
            _ => None,
        };
        if let Some((outcome, err)) = refusal {
            let e = ctx.entry(action, id, outcome, err.audit_reason());
            return self.gate.refuse(e, err).await;
        }
        let reason = match p.disabled_by.take() {
            Some(by) => format!("disabled by {by}, enabled by {me}"),
            None => {
                p.disabled_by = Some(me.clone());
                format!("disabled by {me}: every token of it stops working")
            }
        };
        let ops = vec![self.principal_op(&p)?];
        let guard = crate::audit::Guard { cf: Cf::Principals, key: keys::principal(&pid), expected: Some(raw) };
        let entry = ctx.entry(action, pid.as_str(), Outcome::Allow, reason);
        let committed = self.audit.commit(Commit { guard: Some(guard), ..Commit::change(ops, entry) }).await;
        self.auth_cache.forget_all();
        committed?;
        Ok(PrincipalView::of(&p))
    }

    /// A principal as an admin deciding about it sees it: name, roles,
    /// department, region, when made, and whether it awaits approval.
    pub fn principal_view(&self, id: &PrincipalId) -> Result<Option<PrincipalView>, ArchiveError> {
        Ok(self.principal(id)?.map(|p| PrincipalView::of(&p)))
    }

    /// Admins that act as admins (approved, not disabled), other than `id`.
    fn active_admins_besides(&self, id: &PrincipalId) -> Result<usize, ArchiveError> {
        let mut n = 0;
        for row in self.store.scan(Cf::Principals, keys::PRINCIPAL_PREFIX, keys::PRINCIPAL_PREFIX) {
            let (_, raw) = row?;
            let p = self.open_principal(&raw)?;
            let active = p.admin_pending.is_none() && p.disabled_by.is_none();
            n += usize::from(&p.id != id && active && p.has_role(crate::domain::Role::Admin));
        }
        Ok(n)
    }

    /// For an admin's decision about principal `id`: the admin role checked,
    /// then the principal, its stored record (the guard's expected value)
    /// and the record opened; an unknown id is a 404, audited.
    pub(super) async fn principal_to_decide(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
    ) -> Result<(PrincipalId, Vec<u8>, crate::domain::Principal), ArchiveError> {
        self.gate.require_admin(ctx, action, id).await?;
        let found = match PrincipalId::parse(id) {
            Ok(pid) => self.store.get(Cf::Principals, &keys::principal(&pid))?.map(|raw| (pid, raw)),
            Err(_) => None,
        };
        let Some((pid, raw)) = found else {
            let e = ctx.entry(action, id, Outcome::Error, "unknown principal");
            return self.gate.refuse(e, ArchiveError::NotFound("principal".into())).await;
        };
        let p = self.open_principal(&raw)?;
        Ok((pid, raw, p))
    }
}
