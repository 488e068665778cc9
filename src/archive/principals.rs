//! Principals and bearer tokens. Tokens are 256-bit random secrets; only
//! their SHA-256 is stored (a high-entropy secret needs no slow hash), so a
//! copy of the data directory yields no usable token. Revocation is read on
//! every request and so takes effect at once.

use super::records::{InitRecord, TokenRecord};
use super::{Archive, ArchiveError, RequestCtx};
use crate::audit::{Commit, EntryBody, Outcome};
use crate::domain::{Principal, PrincipalId, Role, TokenId};
use crate::store::{keys, Cf, Op};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle_eq::ct_eq;

/// Bound on the authentication cache (it is cleared when full).
const AUTH_CACHE_ENTRIES: usize = 10_000;

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

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("cst_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

mod subtle_eq {
    /// Constant-time comparison of two equal-length strings.
    pub fn ct_eq(a: &str, b: &str) -> bool {
        a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn system_entry(action: &str, resource: &str, reason: &str) -> EntryBody {
    EntryBody { request_id: "bootstrap".into(), ..EntryBody::system(action, resource, reason) }
}

impl Archive {
    pub fn is_initialized(&self) -> Result<bool, ArchiveError> {
        Ok(self.store.get(Cf::System, keys::INITIALIZED)?.is_some())
    }

    /// Initialises an empty data directory: the admin principal and its
    /// token. Returns the token if it was generated here (to be printed once).
    pub fn bootstrap(&self, configured_token: Option<&str>) -> Result<Option<IssuedToken>, ArchiveError> {
        if self.is_initialized()? {
            return Ok(None);
        }
        let (token, generated) = match configured_token {
            Some(t) => {
                check_bootstrap_token(t).map_err(ArchiveError::BadRequest)?;
                (t.to_owned(), false)
            }
            None => (new_secret(), true),
        };
        let now = self.clock.now();
        let admin = Principal {
            id: PrincipalId::generate(),
            name: "admin".into(),
            roles: vec![Role::Admin],
            department: "operations".into(),
            region: String::new(),
            created_at: now,
        };
        let token_id = TokenId::generate();
        let mut ops = self.token_ops(&admin.id, &token_id, &token)?;
        ops.push(Op::Put(
            Cf::Principals,
            keys::principal(&admin.id),
            serde_json::to_vec(&admin).map_err(anyhow::Error::from)?,
        ));
        let init = InitRecord { master_fingerprint: self.keyring.master_fingerprint(), initialized_at: now };
        ops.push(Op::Put(
            Cf::System,
            keys::INITIALIZED.to_vec(),
            serde_json::to_vec(&init).map_err(anyhow::Error::from)?,
        ));
        self.audit.commit_blocking(Commit {
            ops,
            entries: vec![
                system_entry("principal.create", admin.id.as_str(), "bootstrap admin"),
                system_entry("token.create", token_id.as_str(), "bootstrap admin token"),
            ],
            ..Default::default()
        })?;
        Ok(generated.then_some(IssuedToken { token_id, token }))
    }

    fn token_ops(&self, principal: &PrincipalId, id: &TokenId, token: &str) -> Result<Vec<Op>, ArchiveError> {
        let hash = token_hash(token);
        let rec = TokenRecord {
            id: id.clone(),
            principal: principal.clone(),
            hash: hash.clone(),
            created_at: self.clock.now(),
            revoked_at: None,
        };
        Ok(vec![
            Op::Put(Cf::Principals, keys::token(id), serde_json::to_vec(&rec).map_err(anyhow::Error::from)?),
            Op::Put(Cf::Principals, keys::token_hash(&hash), id.as_str().as_bytes().to_vec()),
        ])
    }

    pub fn authenticate(&self, token: &str) -> Result<Principal, ArchiveError> {
        let hash = token_hash(token);
        if let Some(p) = self.auth_cache.lock().ok().and_then(|c| c.get(&hash).cloned()) {
            return Ok(p);
        }
        let principal = self.authenticate_uncached(&hash)?;
        if let Ok(mut c) = self.auth_cache.lock() {
            if c.len() >= AUTH_CACHE_ENTRIES {
                c.clear();
            }
            c.insert(hash, principal.clone());
        }
        Ok(principal)
    }

    fn authenticate_uncached(&self, hash: &str) -> Result<Principal, ArchiveError> {
        let hash = hash.to_owned();
        let id = self.store.get(Cf::Principals, &keys::token_hash(&hash))?.ok_or(ArchiveError::Unauthenticated)?;
        let rec: TokenRecord = self
            .store
            .get(Cf::Principals, &[b"t/".as_slice(), &id].concat())?
            .map(|b| serde_json::from_slice(&b))
            .transpose()
            .map_err(anyhow::Error::from)?
            .ok_or(ArchiveError::Unauthenticated)?;
        if rec.revoked_at.is_some() || !ct_eq(&rec.hash, &hash) {
            return Err(ArchiveError::Unauthenticated);
        }
        self.principal(&rec.principal)?.ok_or(ArchiveError::Unauthenticated)
    }

    pub fn principal(&self, id: &PrincipalId) -> Result<Option<Principal>, ArchiveError> {
        Ok(self
            .store
            .get(Cf::Principals, &keys::principal(id))?
            .map(|b| serde_json::from_slice(&b))
            .transpose()
            .map_err(anyhow::Error::from)?)
    }

    async fn require_admin(&self, ctx: &RequestCtx, action: &str, resource: &str) -> Result<(), ArchiveError> {
        if ctx.principal.has_role(Role::Admin) {
            return Ok(());
        }
        let e = ctx.entry(action, resource, Outcome::Deny, "admin role required");
        self.refuse(e, ArchiveError::Forbidden("this call needs the admin role".into())).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_principal(&self, ctx: &RequestCtx, new: NewPrincipal) -> Result<PrincipalId, ArchiveError> {
        self.require_admin(ctx, "principal.create", "").await?;
        let p = Principal {
            id: PrincipalId::generate(),
            name: new.name,
            roles: new.roles,
            department: new.department,
            region: new.region,
            created_at: self.clock.now(),
        };
        let ops =
            vec![Op::Put(Cf::Principals, keys::principal(&p.id), serde_json::to_vec(&p).map_err(anyhow::Error::from)?)];
        let roles = p.role_names().join(",");
        let entry = ctx.entry("principal.create", p.id.as_str(), Outcome::Allow, format!("roles {roles}"));
        self.audit.commit(Commit::change(ops, entry)).await?;
        Ok(p.id)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_token(&self, ctx: &RequestCtx, principal: &str) -> Result<IssuedToken, ArchiveError> {
        self.require_admin(ctx, "token.create", principal).await?;
        let pid = match PrincipalId::parse(principal).ok().filter(|id| matches!(self.principal(id), Ok(Some(_)))) {
            Some(id) => id,
            None => {
                let e = ctx.entry("token.create", principal, Outcome::Error, "unknown principal");
                return self.refuse(e, ArchiveError::NotFound("principal".into())).await;
            }
        };
        let token_id = TokenId::generate();
        let token = new_secret();
        let ops = self.token_ops(&pid, &token_id, &token)?;
        let entry = ctx.entry("token.create", token_id.as_str(), Outcome::Allow, format!("for {pid}"));
        self.audit.commit(Commit::change(ops, entry)).await?;
        Ok(IssuedToken { token_id, token })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn revoke_token(&self, ctx: &RequestCtx, token_id: &str) -> Result<(), ArchiveError> {
        self.require_admin(ctx, "token.revoke", token_id).await?;
        let found = match TokenId::parse(token_id) {
            Ok(id) => self.store.get(Cf::Principals, &keys::token(&id))?.map(|b| (id, b)),
            Err(_) => None,
        };
        let Some((id, raw)) = found else {
            let e = ctx.entry("token.revoke", token_id, Outcome::Error, "unknown token");
            return self.refuse(e, ArchiveError::NotFound("token".into())).await;
        };
        let mut rec: TokenRecord = serde_json::from_slice(&raw).map_err(anyhow::Error::from)?;
        if rec.revoked_at.is_none() {
            rec.revoked_at = Some(self.clock.now());
        }
        let ops = vec![
            Op::Put(Cf::Principals, keys::token(&id), serde_json::to_vec(&rec).map_err(anyhow::Error::from)?),
            Op::Delete(Cf::Principals, keys::token_hash(&rec.hash)),
        ];
        let entry = ctx.entry("token.revoke", id.as_str(), Outcome::Allow, format!("token of {}", rec.principal));
        self.audit.commit(Commit::change(ops, entry)).await?;
        if let Ok(mut c) = self.auth_cache.lock() {
            c.remove(&rec.hash);
        }
        Ok(())
    }
}
