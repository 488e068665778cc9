//! Principals and bearer tokens. Tokens are 256-bit random secrets; only
//! their SHA-256 is stored (a high-entropy secret needs no slow hash), so a
//! copy of the data directory yields no usable token. Revocation is read on
//! every request and so takes effect at once. How a token reaches the person
//! who holds it (enrollment codes, a second admin's approval) is
//! `enrollment`'s.

use super::Identity;
use crate::archive::records::{InitRecord, TokenRecord, TOKENS, TOKEN_BY_CODE, TOKEN_BY_HASH};
use crate::archive::vault::Slot;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, EntryBody, Outcome};
use crate::crypto::secret::{ct_eq, new_secret, token_hash};
use crate::crypto::{KeyRef, Sealed};
use crate::domain::{Principal, PrincipalId, Role, TokenId};
use crate::store::codec;
use crate::store::{keys, Cf, Op};
use time::OffsetDateTime;

/// Minimum length of an operator-chosen bootstrap token.
pub const MIN_BOOTSTRAP_TOKEN: usize = 24;

/// An operator-chosen bootstrap token must be long and free of spaces.
pub fn check_bootstrap_token(t: &str) -> Result<(), String> {
    if t.len() >= MIN_BOOTSTRAP_TOKEN && !t.chars().any(char::is_whitespace) {
        Ok(())
    } else {
        Err(format!("CUSTOS_BOOTSTRAP_TOKEN must be at least {MIN_BOOTSTRAP_TOKEN} characters without spaces"))
    }
}

#[derive(Debug, Clone)]
pub struct NewPrincipal {
    pub name: String,
    pub roles: Vec<Role>,
    pub department: String,
    pub region: String,
    /// For a processor: the recipient it acts for.
    pub recipient: Option<crate::domain::RecipientId>,
}

/// What initialising a data directory generated, to be printed once.
#[derive(Debug, Default)]
pub struct Bootstrapped {
    pub admin_token: Option<IssuedToken>,
    /// The second admin's enrollment code (`POST /v1/enroll`).
    pub second_admin_code: Option<String>,
}

pub struct IssuedToken {
    pub token_id: TokenId,
    /// Shown once, never stored.
    pub token: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuedToken({})", self.token_id)
    }
}

/// A principal as stored: the id in the clear (it is the record's key and
/// what the audit log names), everything else (name, roles, department,
/// region: an employee's personal data) sealed under the staff key.
#[derive(serde::Serialize, serde::Deserialize)]
struct SealedPrincipal {
    id: PrincipalId,
    sealed: Sealed,
}

/// An admin made by the operator (initialisation, break-glass), acting at once.
pub(super) fn operations_admin(name: &str, now: OffsetDateTime) -> Principal {
    Principal {
        id: PrincipalId::generate(),
        name: name.into(),
        roles: vec![Role::Admin],
        department: "operations".into(),
        region: String::new(),
        created_at: now,
        recipient: None,
        admin_pending: None,
        disabled_by: None,
    }
}

fn system_entry(action: Action, resource: &str, reason: &str) -> EntryBody {
    EntryBody { request_id: "bootstrap".into(), ..EntryBody::system(action, resource, reason) }
}

impl Identity {
    pub fn is_initialized(&self) -> Result<bool, ArchiveError> {
        Ok(self.store.get(Cf::System, keys::INITIALIZED)?.is_some())
    }

    /// Initialises an empty data directory: the first admin principal and
    /// its token, and a second admin with a one-time enrollment code (the
    /// two admins every token for someone else needs: one asks, the other
    /// approves). Returns what was generated here, to be printed once.
    pub fn bootstrap(
        &self,
        configured_token: Option<&str>,
        configured_second_code: Option<&str>,
    ) -> Result<Bootstrapped, ArchiveError> {
        if self.is_initialized()? {
            return Ok(Bootstrapped::default());
        }
        let (token, generated) = match configured_token {
            Some(t) => {
                check_bootstrap_token(t).map_err(ArchiveError::BadRequest)?;
                (t.to_owned(), false)
            }
            None => (new_secret("cst_"), true),
        };
        let (second_code, second_generated) = match configured_second_code {
            Some(c) => {
                check_bootstrap_token(c).map_err(|_| {
                    ArchiveError::BadRequest(format!(
                        "CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE must be at least {MIN_BOOTSTRAP_TOKEN} characters without spaces"
                    ))
                })?;
                (c.to_owned(), false)
            }
            None => (new_secret("enr_"), true),
        };
        if ct_eq(&second_code, &token) {
            return Err(ArchiveError::BadRequest(
                "CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE must differ from CUSTOS_BOOTSTRAP_TOKEN: they are for two people"
                    .into(),
            ));
        }
        let now = self.clock.now();
        let admin = operations_admin("admin", now);
        let token_id = TokenId::generate();
        let mut record = TokenRecord::pending(token_id.clone(), admin.id.clone(), None, now);
        let mut ops = self.token_ops(&mut record, &token, true)?;
        ops.push(self.principal_op(&admin)?);
        let second = operations_admin("second admin", now);
        ops.push(self.principal_op(&second)?);
        let second_token = TokenId::generate();
        let mut pending = TokenRecord::pending(second_token.clone(), second.id.clone(), None, now);
        ops.extend(self.code_ops(&mut pending, &second_code, super::enrollment::BOOTSTRAP_CODE_TTL)?);
        let init = InitRecord { master_fingerprint: self.keyring.master_fingerprint(), initialized_at: now };
        ops.push(Op::Put(Cf::System, keys::INITIALIZED.to_vec(), codec::encode(&init)?));
        self.audit.commit_blocking(Commit {
            ops,
            entries: vec![
                system_entry(Action::PrincipalCreate, admin.id.as_str(), "bootstrap admin"),
                system_entry(Action::TokenCreate, token_id.as_str(), "bootstrap admin token"),
                system_entry(Action::PrincipalCreate, second.id.as_str(), "bootstrap second admin"),
                system_entry(
                    Action::TokenCreate,
                    second_token.as_str(),
                    &format!("bootstrap second admin's enrollment code, for {}", second.id),
                ),
            ],
            ..Default::default()
        })?;
        Ok(Bootstrapped {
            admin_token: generated.then_some(IssuedToken { token_id, token }),
            second_admin_code: second_generated.then_some(second_code),
        })
    }

    /// Makes `record` an enrolled token for `token`: the record and the
    /// hash → token index.
    /// `admin`: the token is an admin's (a shorter lifetime).
    pub(super) fn token_ops(
        &self,
        record: &mut TokenRecord,
        token: &str,
        admin: bool,
    ) -> Result<Vec<Op>, ArchiveError> {
        let hash = token_hash(token);
        let now = self.clock.now();
        record.hash = hash.clone();
        record.enrolled_at = Some(now);
        record.expires_at = Some(now + self.token_lifetimes.lifetime(admin));
        Ok(vec![TOKENS.put_unguarded(&record.id, record)?, TOKEN_BY_HASH.put(&hash, &record.id)])
    }

    /// Authenticates a bearer token: its principal, the token's id, and
    /// whether it may be used (bound to the principal's proven second
    /// factor, and the principal not locked out).
    pub fn authenticate(&self, token: &str) -> Result<(Principal, TokenId, super::Standing), ArchiveError> {
        let hash = token_hash(token);
        let found = match self.auth_cache.get(&hash) {
            Some(found) => found,
            None => {
                // The epoch before the store is read: a revocation that lands
                // meanwhile bumps it, and what was read is not cached.
                let epoch = self.auth_cache.epoch();
                let found = self.authenticate_uncached(&hash)?;
                self.auth_cache.insert(epoch, hash, found.clone());
                found
            }
        };
        let now = self.clock.now();
        if found.expires_at <= now {
            return Err(ArchiveError::Unauthenticated);
        }
        let standing = if found.locked_until.is_some_and(|t| t > now) {
            super::Standing::Locked
        } else if found.bound {
            super::Standing::Bound
        } else {
            super::Standing::Unbound
        };
        Ok((found.principal, found.token_id, standing))
    }

    /// Forgets what authentication cached for a token (revoked or renewed),
    /// and any lookup of it still under way.
    pub(super) fn forget_token(&self, hash: &str) {
        self.auth_cache.forget(hash);
    }

    fn authenticate_uncached(&self, hash: &str) -> Result<super::auth_cache::Authenticated, ArchiveError> {
        let hash = hash.to_owned();
        let id = TOKEN_BY_HASH.get(self.store.as_ref(), &hash)?.ok_or(ArchiveError::Unauthenticated)?;
        let rec = TOKENS.get(self.store.as_ref(), &id)?.ok_or(ArchiveError::Unauthenticated)?;
        if rec.revoked_at.is_some() || rec.hash.is_empty() || !ct_eq(&rec.hash, &hash) {
            return Err(ArchiveError::Unauthenticated);
        }
        let mut principal = self.principal(&rec.principal)?.ok_or(ArchiveError::Unauthenticated)?;
        let expires_at = self.token_expiry(&rec, &principal);
        if principal.disabled_by.is_some() {
            return Err(ArchiveError::Unauthenticated);
        }
        // An admin no second admin has approved acts with no role at all
        // (not even the others it holds: the policies keep an admin from
        // dossier content by the admin role, which it does not have yet).
        if principal.admin_pending.is_some() {
            principal.roles.clear();
        }
        // A token bound to a factor that is no longer the principal's (reset) does not authenticate.
        let (bound, locked_until) = self.factors.token_standing(&principal.id, rec.factor.as_deref())?;
        let bound = bound.ok_or(ArchiveError::Unauthenticated)?;
        Ok(super::auth_cache::Authenticated { principal, token_id: rec.id, expires_at, bound, locked_until })
    }

    pub fn principal(&self, id: &PrincipalId) -> Result<Option<Principal>, ArchiveError> {
        let Some(raw) = self.store.get(Cf::Principals, &keys::principal(id))? else { return Ok(None) };
        self.open_principal(&raw).map(Some)
    }

    /// A stored principal record, sealed (or, written before sealing, plain).
    pub(super) fn open_principal(&self, raw: &[u8]) -> Result<Principal, ArchiveError> {
        if let Ok(stored) = codec::decode::<SealedPrincipal>(Cf::Principals.name(), raw) {
            let plain = self.vault.open_live(&KeyRef::Staff, Slot::Principal(&stored.id), &stored.sealed)?;
            return Ok(codec::decode("sealed principal", &plain)?);
        }
        Ok(codec::decode(Cf::Principals.name(), raw)?)
    }

    /// The write of a principal record, sealed.
    pub(super) fn principal_op(&self, p: &Principal) -> Result<Op, ArchiveError> {
        let plain = zeroize::Zeroizing::new(codec::encode(p)?);
        let sealed = self.vault.seal_live(&KeyRef::Staff, Slot::Principal(&p.id), &plain)?;
        let record = SealedPrincipal { id: p.id.clone(), sealed };
        Ok(Op::Put(Cf::Principals, keys::principal(&p.id), codec::encode(&record)?))
    }

    /// Seals the principal records an older custos wrote in the clear; run
    /// at start-up. Returns how many were sealed.
    pub fn seal_plain_principals(&self) -> Result<usize, ArchiveError> {
        let prefix = keys::PRINCIPAL_PREFIX;
        let mut ops = Vec::new();
        for row in self.store.scan(Cf::Principals, prefix, prefix) {
            let (_, raw) = row?;
            if codec::decode::<SealedPrincipal>(Cf::Principals.name(), &raw).is_err() {
                ops.push(self.principal_op(&self.open_principal(&raw)?)?);
            }
        }
        if !ops.is_empty() {
            self.store.write(&ops, true)?;
        }
        Ok(ops.len())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_principal(&self, ctx: &RequestCtx, new: NewPrincipal) -> Result<PrincipalId, ArchiveError> {
        self.gate.require_admin(ctx, Action::PrincipalCreate, "").await?;
        if let Some(rid) = &new.recipient {
            if let Err(why) = self.gate.recipient_for_binding(rid) {
                let e = ctx.entry(Action::PrincipalCreate, "", Outcome::Error, "recipient cannot be bound");
                let err = crate::domain::dossier::FieldError { path: "/recipient".into(), message: why };
                return self.gate.refuse(e, ArchiveError::Invalid(vec![err])).await;
            }
        }
        let makes_admin = new.roles.contains(&Role::Admin);
        let p = Principal {
            id: PrincipalId::generate(),
            name: new.name,
            roles: new.roles,
            department: new.department,
            region: new.region,
            created_at: self.clock.now(),
            recipient: new.recipient,
            // An admin needs a second admin before it may act.
            admin_pending: makes_admin.then(|| ctx.principal.id.clone()),
            disabled_by: None,
        };
        let ops = vec![self.principal_op(&p)?];
        let roles = p.role_names().join(",");
        let bound = p.recipient.as_ref().map_or(String::new(), |r| format!(", for recipient {r}"));
        let pending = if p.admin_pending.is_some() { "; admin once a second admin approves" } else { "" };
        let entry =
            ctx.entry(Action::PrincipalCreate, p.id.as_str(), Outcome::Allow, format!("roles {roles}{bound}{pending}"));
        self.audit.commit(Commit::change(ops, entry)).await?;
        Ok(p.id)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn revoke_token(&self, ctx: &RequestCtx, token_id: &str) -> Result<(), ArchiveError> {
        self.gate.require_admin(ctx, Action::TokenRevoke, token_id).await?;
        // Guarded: a redemption or renewal that lands between the read and
        // the write is seen, and the revocation is made again over it (a
        // revocation is never lost to a race, and never undoes one).
        for _ in 0..8 {
            let found = match TokenId::parse(token_id) {
                Ok(id) => self.token_record_guarded(&id)?.map(|(rec, guard)| (id, rec, guard)),
                Err(_) => None,
            };
            let Some((id, mut rec, guard)) = found else {
                let e = ctx.entry(Action::TokenRevoke, token_id, Outcome::Error, "unknown token");
                return self.gate.refuse(e, ArchiveError::NotFound("token".into())).await;
            };
            if rec.revoked_at.is_none() {
                rec.revoked_at = Some(self.clock.now());
            }
            let code = rec.code_hash.take();
            let mut ops = vec![TOKENS.put_unguarded(&id, &rec)?];
            if !rec.hash.is_empty() {
                ops.push(TOKEN_BY_HASH.delete(&rec.hash));
            }
            if let Some(code) = code {
                // An enrollment code not yet redeemed stops working too.
                ops.push(TOKEN_BY_CODE.delete(&code));
            }
            let entry =
                ctx.entry(Action::TokenRevoke, id.as_str(), Outcome::Allow, format!("token of {}", rec.principal));
            let committed = self.audit.commit(Commit { guard: Some(guard), ..Commit::change(ops, entry) }).await;
            // Forgotten whatever the outcome: no lookup under way may cache
            // what it read before this.
            self.forget_token(&rec.hash);
            match committed {
                Err(crate::audit::CommitError::Conflict) => continue,
                other => {
                    other?;
                    return Ok(());
                }
            }
        }
        Err(ArchiveError::Conflict("the token kept changing; revoke it again".into()))
    }
}
