//! The decision gate: every operation's "may this caller do this?" is
//! answered here, by the access policy (`policies/access.cedar`) and the
//! purpose registry, and every refusal is committed as an audited entry
//! naming the policy's reason before the caller hears of it.
//!
//! The gate is the lowest service: the others hold an `Arc<Gate>` and call
//! it; it calls none of them. It owns the one cache that feeds decisions
//! (the purposes an impact assessment covers) and reads one register, the
//! recipients' agreements, because a processor's agreement is a fact of
//! every decision about its requests.

mod purpose;
pub use purpose::Assessed;

use super::{ArchiveError, Denial, RequestCtx};
use crate::audit::{Action, AuditWriter, Commit, EntryBody, Outcome};
use crate::clock::Clock;
use crate::domain::Principal;
pub use crate::policy::access::Operation;
use crate::policy::PolicySet;
use crate::store::KvStore;
use std::sync::{Arc, RwLock};

/// Who may do what, decided in one place.
pub struct Gate {
    policy: Arc<PolicySet>,
    audit: Arc<AuditWriter>,
    /// Read only: the recipients register (a processor's agreement).
    store: Arc<dyn KvStore>,
    clock: Arc<dyn Clock>,
    /// The purposes and kinds of processing the impact assessments on record cover.
    assessed: RwLock<Assessed>,
}

/// Which register access a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read entries (compliance, auditor).
    Read,
    /// Change them (compliance).
    Keep,
}

/// Which customers a caller sees in lists, reports and review lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerScope {
    All,
    Region,
    Own,
}

impl CustomerScope {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerScope::All => "all",
            CustomerScope::Region => "region",
            CustomerScope::Own => "own",
        }
    }

    /// Whether dossier `meta` is among the customers `p` sees in this
    /// scope: every one, their region's, or their own.
    pub fn covers(self, p: &crate::domain::Principal, meta: &crate::archive::records::DossierMeta) -> bool {
        self.covers_owned(p, &meta.owner, &meta.region)
    }

    /// [`CustomerScope::covers`], for a dossier of `owner` in `region`.
    pub fn covers_owned(self, p: &crate::domain::Principal, owner: &crate::domain::PrincipalId, region: &str) -> bool {
        match self {
            CustomerScope::All => true,
            CustomerScope::Region => region == p.region,
            CustomerScope::Own => *owner == p.id,
        }
    }
}

impl Gate {
    pub(super) fn new(
        policy: Arc<PolicySet>,
        audit: Arc<AuditWriter>,
        store: Arc<dyn KvStore>,
        clock: Arc<dyn Clock>,
        assessed: Assessed,
    ) -> Self {
        Gate { policy, audit, store, clock, assessed: RwLock::new(assessed) }
    }

    /// Commits a denial or failure entry, then returns `err`. If even the
    /// entry cannot be written the caller learns that instead.
    pub(crate) async fn refuse<T>(&self, entry: EntryBody, err: ArchiveError) -> Result<T, ArchiveError> {
        self.audit.commit(Commit::entry(entry)).await?;
        Err(err)
    }

    /// Commits a denial entry whose reason is `denial`'s words, then returns
    /// the 403 carrying it. `told`, if given, is what the caller reads
    /// instead of the denial's own words.
    pub(crate) async fn deny<T>(
        &self,
        mut entry: EntryBody,
        denial: Denial,
        told: Option<&str>,
    ) -> Result<T, ArchiveError> {
        debug_assert!(denial.is_forbidden(), "{} is not answered with 403", denial.code());
        entry.outcome = Outcome::Deny;
        entry.reason = denial.to_string();
        let detail = told.map_or_else(|| denial.told(), str::to_owned);
        self.refuse(entry, ArchiveError::Forbidden { denial, detail }).await
    }

    /// The widest customer scope the policy permits `p`, if any.
    pub fn customer_scope(&self, p: &Principal) -> Option<CustomerScope> {
        [
            (Operation::CustomersAll, CustomerScope::All),
            (Operation::CustomersRegion, CustomerScope::Region),
            (Operation::CustomersOwn, CustomerScope::Own),
        ]
        .into_iter()
        .find_map(|(op, scope)| self.may(p, op).then_some(scope))
    }

    /// The caller's customer scope; 403, audited as `action` with the
    /// policy's reason, when the policy permits them none. `refusal` is what
    /// the caller is told.
    pub(crate) async fn require_customer_scope(
        &self,
        ctx: &RequestCtx,
        action: Action,
        refusal: &str,
    ) -> Result<CustomerScope, ArchiveError> {
        if let Some(scope) = self.customer_scope(&ctx.principal) {
            return Ok(scope);
        }
        self.deny(ctx.entry(action, "", Outcome::Deny, ""), Denial::NoCustomerScope, Some(refusal)).await
    }

    /// Whether `p` may start a dossier of their own (for the console's
    /// menu): the `dossier.create` decision for a new dossier they own, in
    /// their region, under any purpose they may state.
    pub fn may_create_dossier(&self, p: &Principal) -> bool {
        use crate::domain::dossier::{Grade, Status};
        use crate::policy::access::{Change, DossierFacts};
        let facts = DossierFacts { owner: &p.id, region: &p.region, grade: Grade::C, status: Status::Active };
        self.purposes_for(p)
            .iter()
            .any(|purpose| self.policy.access.decide_change(p, Change::Create, purpose, "new", facts, facts).allowed)
    }

    /// Whether `p` may manage retention and destruction (for the console's menu).
    pub fn may_manage_disposition(&self, p: &Principal) -> bool {
        self.purposes_for(p).iter().any(|purpose| self.policy.access.decide_disposition(p, purpose).allowed)
    }

    /// Whether `p` may perform `op` (no entry: for menus and for deciding
    /// what a view shows; an operation itself goes through [`Gate::decide`]).
    pub fn may(&self, p: &Principal, op: Operation) -> bool {
        self.decision(p, op).allowed
    }

    /// The policy's decision on `p` performing `op`, with its basis (no entry).
    pub fn decision(&self, p: &Principal, op: Operation) -> crate::policy::access::Decision {
        self.policy.access.decide_operation(p, op)
    }

    /// 403, audited as `action` on `resource` with the policy's reason,
    /// unless the policy permits the caller `op`. `refusal` is what the
    /// caller is told.
    pub(crate) async fn decide(
        &self,
        ctx: &RequestCtx,
        op: Operation,
        action: Action,
        resource: &str,
        refusal: &str,
    ) -> Result<(), ArchiveError> {
        let d = self.policy.access.decide_operation(&ctx.principal, op);
        if d.allowed {
            return Ok(());
        }
        self.deny(ctx.entry(action, resource, Outcome::Deny, ""), Denial::Policy(d.basis), Some(refusal)).await
    }

    /// 403 (audited) unless the caller's roles allow `access` to a register.
    pub(crate) async fn require_register(
        &self,
        ctx: &RequestCtx,
        action: Action,
        resource: &str,
        access: Access,
    ) -> Result<(), ArchiveError> {
        let (op, why) = match access {
            Access::Read => (Operation::RegisterRead, "this register is open to compliance or auditor only"),
            Access::Keep => (Operation::RegisterKeep, "this register is open to compliance only"),
        };
        self.decide(ctx, op, action, resource, why).await
    }

    /// The audit log, its proofs, checkpoints and alerts are open to
    /// compliance officers and auditors.
    pub(crate) async fn require_audit_read(
        &self,
        ctx: &RequestCtx,
        action: Action,
        resource: &str,
    ) -> Result<(), ArchiveError> {
        let why = "the audit log is open to compliance officers and auditors only";
        self.decide(ctx, Operation::AuditRead, action, resource, why).await
    }

    /// Staff administration is the admin's.
    pub(crate) async fn require_admin(
        &self,
        ctx: &RequestCtx,
        action: Action,
        resource: &str,
    ) -> Result<(), ArchiveError> {
        self.decide(ctx, Operation::Administer, action, resource, "this call needs the admin role").await
    }

    /// How repeated failed second-factor attempts lock a principal
    /// (`policies/authentication.toml`).
    pub(crate) fn lockout(&self) -> crate::policy::authentication::Lockout {
        self.policy.authentication.lockout
    }
}

#[cfg(test)]
mod tests;
