//! The staff directory: a colleague by name, roles and department, where a
//! page names who acted (a dossier's owner, a version's author, an audit
//! entry's actor). Decided by `staff.directory` in `policies/access.cedar`
//! (staff of the company; an outside processor sees ids), in one place for
//! every page. A card carries nothing else of the staff record (no region,
//! no tokens, no second factor).
//!
//! Not audited: these are the workplace names the archive already shows
//! beside every action a colleague takes; reading a dossier or a person
//! stays audited as before.

use super::Identity;
use super::{PrincipalView, TokenView};
use crate::archive::gate::Operation;
use crate::archive::records::{TokenState, TOKENS};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::{Principal, PrincipalId, Role};
use crate::store::{keys, Cf, Op};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;

/// A colleague as the directory shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffCard {
    pub id: PrincipalId,
    pub name: String,
    pub roles: Vec<Role>,
    pub department: String,
}

impl StaffCard {
    fn of(p: &Principal) -> Self {
        StaffCard { id: p.id.clone(), name: p.name.clone(), roles: p.roles.clone(), department: p.department.clone() }
    }
}

/// Distinct principals looked up at most per call: a page names a few
/// dozen people; anything past this is shown by id.
const MAX_CARDS: usize = 500;

/// The staff directory and the administrators' view of staff: a view
/// over [`Identity`] (`Identity::directory`).
pub struct Directory<'a> {
    identity: &'a Identity,
}

impl Identity {
    /// The staff directory: colleagues by name, console visits, and the
    /// administrators' overview of principals and tokens.
    pub fn directory(&self) -> Directory<'_> {
        Directory { identity: self }
    }
}

/// A token waiting for a second admin, with whom it is for.
#[derive(Debug, Clone)]
pub struct AwaitingToken {
    pub token: TokenView,
    pub principal: PrincipalView,
}

/// What an administrator's start page shows.
#[derive(Debug, Clone, Default)]
pub struct AdminOverview {
    /// Every principal, by name.
    pub principals: Vec<PrincipalView>,
    /// Tokens asked for and not yet approved, oldest first.
    pub awaiting: Vec<AwaitingToken>,
}

impl Directory<'_> {
    /// The cards of `ids` the `viewer` may see: none when the policy does
    /// not permit the directory; an id that names no principal (`system`,
    /// a removed record) has no card. Each distinct id is read once.
    pub fn staff_cards<'a>(
        &self,
        viewer: &Principal,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, StaffCard>, ArchiveError> {
        let mut out = HashMap::new();
        if !self.identity.gate.may(viewer, Operation::StaffDirectory) {
            return Ok(out);
        }
        let mut seen = std::collections::HashSet::new();
        for raw in ids {
            if seen.len() >= MAX_CARDS || !seen.insert(raw) {
                continue;
            }
            let Ok(id) = PrincipalId::parse(raw) else { continue };
            if id == viewer.id {
                out.insert(raw.to_owned(), StaffCard::of(viewer));
            } else if let Some(p) = self.identity.principal(&id)? {
                out.insert(raw.to_owned(), StaffCard::of(&p));
            }
        }
        Ok(out)
    }
}

impl Directory<'_> {
    /// Records a console sign-in of `id` now; returns the one before it
    /// (`v/<prn>` in `principals`, a time and nothing else). Not a
    /// read-modify-write of a record: the new time does not depend on the
    /// old one, so two sign-ins at once each write their own time and the
    /// later one stands, as it should.
    pub fn note_console_visit(&self, id: &PrincipalId) -> Result<Option<time::OffsetDateTime>, ArchiveError> {
        let key = crate::store::keys::console_visit(id);
        let previous = self
            .identity
            .store
            .get(Cf::Principals, &key)?
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|t| time::OffsetDateTime::parse(&t, &Rfc3339).ok());
        let now = self.identity.clock.now().format(&Rfc3339).map_err(|e| ArchiveError::Internal(e.into()))?;
        self.identity.store.write(&[Op::Put(Cf::Principals, key, now.into_bytes())], false)?;
        Ok(previous)
    }

    /// An administrator's overview: every principal, and the tokens that
    /// wait for a second admin's approval with whom each is for. Admins
    /// only (`staff.administer`); audited as `principal.list`.
    pub async fn admin_overview(&self, ctx: &RequestCtx) -> Result<AdminOverview, ArchiveError> {
        const ACTION: Action = Action::PrincipalList;
        let id = self.identity;
        id.gate.require_admin(ctx, ACTION, "").await?;
        let store = id.store.as_ref();
        let mut principals = Vec::new();
        for row in store.scan(Cf::Principals, keys::PRINCIPAL_PREFIX, keys::PRINCIPAL_PREFIX) {
            let (_, raw) = row?;
            principals.push(id.open_principal(&raw)?);
        }
        principals.sort_by(|a, b| a.name.cmp(&b.name));
        let now = id.clock.now();
        let mut awaiting = Vec::new();
        for rec in TOKENS.values(store) {
            let rec = rec?;
            if rec.state(now) != TokenState::AwaitingApproval {
                continue;
            }
            if let Some(p) = principals.iter().find(|p| p.id == rec.principal) {
                awaiting.push(AwaitingToken { token: TokenView::of(&rec, now), principal: PrincipalView::of(p) });
            }
        }
        awaiting.sort_by_key(|a| a.token.created_at);
        let reason = format!("{} principal(s), {} token(s) awaiting approval", principals.len(), awaiting.len());
        id.audit.commit(Commit::entry(ctx.entry(ACTION, "", Outcome::Allow, reason))).await?;
        Ok(AdminOverview { principals: principals.iter().map(PrincipalView::of).collect(), awaiting })
    }
}
