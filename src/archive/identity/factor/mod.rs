//! The second factor (MLPS level 3: two authentication techniques, one of
//! them cryptographic). Each principal has at most one: a TOTP secret
//! (RFC 6238 with HMAC-SHA-1, 30-second steps, 6 digits, one step either
//! side accepted, so that every authenticator app works) sealed under the
//! staff key, ten one-time recovery codes kept only as SHA-256 hashes, the
//! step last accepted (a code is accepted once, and no older one after it),
//! and the failed attempts and lockout of `policies/authentication.toml`.
//!
//! A token works only while it is bound to the principal's current factor
//! (`TokenRecord::factor`): one is bound when it is issued after its holder
//! proved the factor, or when its holder proves the factor with it (the
//! bootstrap token, tokens enrolled before second factors). Resetting the
//! factor unbinds every token of the principal at once.
//!
//! Every attempt is one guarded change of the factor record, audited: the
//! step or recovery code used, or the failure counted and perhaps the lock.

mod admin;
mod lockout;

pub use admin::FactorChange;

use super::auth_cache::AuthCache;
use crate::archive::gate::Gate;
use crate::archive::records::TOKENS;
use crate::archive::vault::Slot;
use crate::archive::vault::Vault;
use crate::archive::{ArchiveError, Denial, RequestCtx};
use crate::audit::AuditWriter;
use crate::audit::{Action, Commit, CommitError, EntryBody, Outcome};
use crate::clock::Clock;
use crate::crypto::secret::{ct_eq, token_hash};
use crate::crypto::{KeyRef, Sealed};
use crate::domain::{Principal, PrincipalId, TokenId};
use crate::store::KvStore;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Second factors: `m/<prn>` in `principals`.
pub(super) const FACTORS: crate::store::Table<PrincipalId, FactorRecord> =
    crate::store::Table::new(crate::store::Cf::Principals, b"m/", crate::store::keys::second_factor);

/// Recovery codes made when a factor is first proven.
pub const RECOVERY_CODES: usize = 10;
/// The longest second-factor code read (a recovery code with its dashes is 19).
pub const MAX_CODE: usize = 64;
/// What authenticator apps show the factor as.
const ISSUER: &str = "custos";
/// Tries of a guarded change that keeps meeting another one.
const TRIES: usize = 4;

/// A principal's second factor as stored: `m/<prn>` in `principals`.
#[derive(Clone, Serialize, Deserialize)]
pub struct FactorRecord {
    pub principal: PrincipalId,
    /// New for every factor set up; tokens bind to it.
    pub id: String,
    /// The TOTP secret (20 random bytes), sealed under the staff key.
    secret: Sealed,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// When its first code was accepted: before that it is pending.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub confirmed_at: Option<OffsetDateTime>,
    /// The TOTP step last accepted: no code of it or before works again.
    #[serde(default)]
    last_step: Option<u64>,
    /// SHA-256 (hex) of each recovery code not used yet.
    #[serde(default)]
    recovery: Vec<String>,
    /// Failed attempts within the lockout window (at most `failures`).
    #[serde(default)]
    failures: Vec<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub locked_until: Option<OffsetDateTime>,
}

impl FactorRecord {
    pub fn confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }

    pub fn locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
}

/// Whether a token may be used for everything its roles allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Bound to the principal's proven second factor.
    Bound,
    /// Not bound yet: it serves only to set up or prove the second factor.
    Unbound,
    /// The principal is locked out after failed second-factor attempts.
    Locked,
}

/// A factor set up and waiting for its first code: what the person adds to
/// their authenticator app. Shown once; never logged.
pub struct FactorSetup {
    pub factor_id: String,
    pub principal: PrincipalId,
    /// The secret, base32 (what an app asks for when typed in).
    pub secret: Zeroizing<String>,
    /// The same as an `otpauth://totp/` URI (what a QR code carries).
    pub uri: Zeroizing<String>,
}

impl std::fmt::Debug for FactorSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FactorSetup({})", self.factor_id)
    }
}

/// A second factor proven.
pub struct Proven {
    pub factor_id: String,
    /// The recovery codes, when this attempt confirmed the factor (shown once).
    pub recovery_codes: Option<Vec<String>>,
}

impl std::fmt::Debug for Proven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proven({})", self.factor_id)
    }
}

/// What a code turned out to be.
enum Check {
    Totp(u64),
    Recovery(usize),
    Wrong,
}

/// The TOTP of `secret` as RFC 6238 and every authenticator app take it.
fn totp(secret: &[u8], account: &str) -> Result<totp_rs::Totp, ArchiveError> {
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .map_err(|e| ArchiveError::Internal(anyhow::anyhow!("totp: {e}")))
}

/// A recovery code: 16 hex digits in groups of four.
fn new_recovery_code() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex = hex::encode(bytes);
    [&hex[0..4], &hex[4..8], &hex[8..12], &hex[12..16]].join("-")
}

/// A recovery code as hashed: dashes and spaces dropped, lowercase.
fn recovery_hash(code: &str) -> String {
    let plain: String = code.chars().filter(|c| *c != '-' && !c.is_whitespace()).collect();
    token_hash(&plain.to_ascii_lowercase())
}

fn slot_field(factor_id: &str) -> String {
    format!("second-factor/{factor_id}")
}

/// The entry of an attempt by `principal` outside a request of theirs
/// (redeeming an enrollment code).
pub(super) fn entry_for(principal: &Principal, action: Action, request_id: &str, token: &TokenId) -> EntryBody {
    EntryBody {
        actor: principal.id.to_string(),
        roles: principal.role_names(),
        request_id: request_id.to_owned(),
        token_id: token.to_string(),
        ..EntryBody::system(action, principal.id.as_str(), "")
    }
}

/// Second factors: their records, every attempt on them, and where a token
/// stands. Identity holds it and asks it about every token it authenticates.
pub struct SecondFactors {
    store: Arc<dyn KvStore>,
    /// The TOTP secrets are sealed under the staff key.
    vault: Arc<Vault>,
    audit: Arc<AuditWriter>,
    gate: Arc<Gate>,
    clock: Arc<dyn Clock>,
    /// Identity's cache of tokens seen valid: a lockout, or a token bound,
    /// forgets it so that the next request is decided afresh.
    auth_cache: Arc<AuthCache>,
}

impl SecondFactors {
    pub(super) fn new(
        store: Arc<dyn KvStore>,
        vault: Arc<Vault>,
        audit: Arc<AuditWriter>,
        gate: Arc<Gate>,
        clock: Arc<dyn Clock>,
        auth_cache: Arc<AuthCache>,
    ) -> Self {
        SecondFactors { store, vault, audit, gate, clock, auth_cache }
    }

    pub(super) fn factor(&self, principal: &PrincipalId) -> Result<Option<FactorRecord>, ArchiveError> {
        Ok(FACTORS.get(self.store.as_ref(), principal)?)
    }

    /// Whether `principal` has a second factor: `None` none, `Some(false)`
    /// one waiting for its first code, `Some(true)` a proven one.
    pub fn second_factor_confirmed(&self, principal: &PrincipalId) -> Result<Option<bool>, ArchiveError> {
        Ok(self.factor(principal)?.map(|f| f.confirmed()))
    }

    /// `POST /v1/factor`: a new second factor for the caller, pending until
    /// its first code is sent (`confirm_factor`). Refused when one is
    /// proven already (an admin resets a lost one) and while locked out.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn begin_factor(&self, ctx: &RequestCtx) -> Result<FactorSetup, ArchiveError> {
        let entry = ctx.entry(Action::FactorBegin, ctx.principal.id.as_str(), Outcome::Allow, "");
        self.begin(&ctx.principal.id, entry).await
    }

    /// A new pending factor for `pid` (replacing a pending one, keeping
    /// its failures and lock), audited as `entry`.
    pub(super) async fn begin(&self, pid: &PrincipalId, entry: EntryBody) -> Result<FactorSetup, ArchiveError> {
        let held = FACTORS.hold(self.store.as_ref(), pid)?;
        let now = self.clock.now();
        if let Some(old) = held.as_ref().map(|h| &h.value) {
            if old.locked(now) {
                return self.gate.deny(entry, Denial::SecondFactorLocked, None).await;
            }
            if old.confirmed() {
                let err = ArchiveError::Conflict(
                    "a second factor is set up already: prove it with a current code; an admin resets a lost one"
                        .into(),
                );
                let e = EntryBody { outcome: Outcome::Error, reason: err.to_string(), ..entry };
                return self.gate.refuse(e, err).await;
            }
        }
        let mut secret = Zeroizing::new([0u8; 20]);
        rand::rngs::OsRng.fill_bytes(secret.as_mut());
        let mut id_bytes = [0u8; 10];
        rand::rngs::OsRng.fill_bytes(&mut id_bytes);
        let id = format!("fac_{}", hex::encode(id_bytes));
        let field = slot_field(&id);
        let sealed = self.vault.seal_live(
            &KeyRef::Staff,
            Slot::RegisterText { owner: pid.as_str(), field: &field },
            &*secret,
        )?;
        let (failures, locked_until) =
            held.as_ref().map_or((Vec::new(), None), |h| (h.value.failures.clone(), h.value.locked_until));
        let record = FactorRecord {
            principal: pid.clone(),
            id: id.clone(),
            secret: sealed,
            created_at: now,
            confirmed_at: None,
            last_step: None,
            recovery: Vec::new(),
            failures,
            locked_until,
        };
        let change = match &held {
            Some(h) => h.replace(&record)?,
            None => FACTORS.insert(pid, &record)?,
        };
        let reason = format!("second factor {id} issued to {pid}; it works once its first code is sent");
        let entry = EntryBody { outcome: Outcome::Allow, reason, ..entry };
        self.audit.commit(Commit::guarded(change, vec![], entry)).await.map_err(|e| match e {
            CommitError::Conflict => ArchiveError::Conflict("the second factor changed meanwhile; try again".into()),
            e => e.into(),
        })?;
        let t = totp(&*secret, pid.as_str())?;
        let uri = t.to_url().map_err(|e| ArchiveError::Internal(anyhow::anyhow!("totp url: {e}")))?;
        Ok(FactorSetup {
            factor_id: id,
            principal: pid.clone(),
            secret: Zeroizing::new(t.secret().to_base32()),
            uri: Zeroizing::new(uri),
        })
    }

    /// `POST /v1/factor/confirm`: the caller proves their second factor
    /// with a current code (or a recovery code, once it is confirmed). A
    /// pending factor becomes theirs and its recovery codes are returned
    /// once; the caller's token is bound to it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn confirm_factor(&self, ctx: &RequestCtx, code: &str) -> Result<Proven, ArchiveError> {
        let entry = ctx.entry(Action::FactorConfirm, ctx.principal.id.as_str(), Outcome::Allow, "");
        let proven = self.attempt(&ctx.principal.id, code, entry).await?;
        self.bind_token(ctx, &proven.factor_id).await?;
        Ok(proven)
    }

    /// The console's sign-in: the caller's current code (or a recovery code).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn verify_factor(&self, ctx: &RequestCtx, code: &str) -> Result<Proven, ArchiveError> {
        let entry = ctx.entry(Action::FactorVerify, ctx.principal.id.as_str(), Outcome::Allow, "");
        self.attempt(&ctx.principal.id, code, entry).await
    }

    /// Binds the caller's token to `factor_id` (guarded: a revocation that
    /// lands meanwhile is not undone).
    async fn bind_token(&self, ctx: &RequestCtx, factor_id: &str) -> Result<(), ArchiveError> {
        for _ in 0..TRIES {
            let Some(held) = TOKENS.hold(self.store.as_ref(), &ctx.token_id)? else {
                return Err(ArchiveError::Unauthenticated);
            };
            if held.value.factor.as_deref() == Some(factor_id) {
                return Ok(());
            }
            if held.value.revoked_at.is_some() {
                return Err(ArchiveError::Unauthenticated);
            }
            let (record, change) = held.update(|r| r.factor = Some(factor_id.to_owned()))?;
            let reason = format!("token bound to second factor {factor_id} of {}", record.principal);
            let entry = ctx.entry(Action::FactorConfirm, record.id.as_str(), Outcome::Allow, reason);
            match self.audit.commit(Commit::guarded(change, vec![], entry)).await {
                Err(CommitError::Conflict) => continue,
                other => other?,
            };
            self.auth_cache.forget_all();
            return Ok(());
        }
        Err(ArchiveError::Conflict("the token kept changing; try again".into()))
    }

    /// What `code` is for `record` at `now`: a TOTP code of a step after the
    /// last accepted one, a recovery code not used yet, or neither.
    fn check(&self, record: &FactorRecord, code: &str, now: OffsetDateTime) -> Result<Check, ArchiveError> {
        let code = code.trim();
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            let field = slot_field(&record.id);
            let slot = Slot::RegisterText { owner: record.principal.as_str(), field: &field };
            let secret = self.vault.open_live(&KeyRef::Staff, slot, &record.secret)?;
            let Ok(at) = u64::try_from(now.unix_timestamp()) else { return Ok(Check::Wrong) };
            let step = totp(&secret, record.principal.as_str())?.check(code, at);
            return Ok(match step {
                Some(step) if record.last_step.is_none_or(|last| step > last) => Check::Totp(step),
                _ => Check::Wrong,
            });
        }
        if !record.confirmed() || code.len() > MAX_CODE {
            return Ok(Check::Wrong);
        }
        let hash = recovery_hash(code);
        Ok(record.recovery.iter().position(|h| ct_eq(h, &hash)).map_or(Check::Wrong, Check::Recovery))
    }

    /// One second-factor attempt by `pid`, audited as `entry` says: refused
    /// unchecked while locked out; otherwise the code is checked and the
    /// outcome committed under the record's guard: the step or recovery
    /// code used up (and a pending factor confirmed, with new recovery
    /// codes), or the failure counted, which may lock the principal out
    /// (audited `factor.lockout`, alert `second_factor_lockout`).
    pub(super) async fn attempt(
        &self,
        pid: &PrincipalId,
        code: &str,
        entry: EntryBody,
    ) -> Result<Proven, ArchiveError> {
        for _ in 0..TRIES {
            let Some(held) = FACTORS.hold(self.store.as_ref(), pid)? else {
                let err = ArchiveError::Conflict("no second factor is set up: ask for one first".into());
                let e = EntryBody { outcome: Outcome::Error, reason: err.to_string(), ..entry };
                return self.gate.refuse(e, err).await;
            };
            let mut record = held.value.clone();
            let now = self.clock.now();
            if record.locked(now) {
                return self.gate.deny(entry, Denial::SecondFactorLocked, None).await;
            }
            let (used, mut codes) = match self.check(&record, code, now)? {
                Check::Wrong => match self.fail(held, record, entry.clone(), now).await {
                    Err(ArchiveError::Conflict(_)) => continue,
                    other => return other,
                },
                Check::Totp(step) => {
                    record.last_step = Some(step);
                    (format!("code of step {step} accepted"), None)
                }
                Check::Recovery(i) => {
                    record.recovery.remove(i);
                    (format!("recovery code used, {} left", record.recovery.len()), None)
                }
            };
            record.failures.clear();
            record.locked_until = None;
            if !record.confirmed() {
                record.confirmed_at = Some(now);
                let fresh: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
                record.recovery = fresh.iter().map(|c| recovery_hash(c)).collect();
                codes = Some(fresh);
            }
            let confirmed = if codes.is_some() { "; the factor is confirmed, recovery codes issued" } else { "" };
            let reason = format!("second factor {} of {pid}: {used}{confirmed}", record.id);
            let change = held.replace(&record)?;
            let entry = EntryBody { outcome: Outcome::Allow, reason, ..entry.clone() };
            match self.audit.commit(Commit::guarded(change, vec![], entry)).await {
                Err(CommitError::Conflict) => continue,
                other => other?,
            };
            return Ok(Proven { factor_id: record.id, recovery_codes: codes });
        }
        Err(ArchiveError::Conflict("the second factor kept changing; try again".into()))
    }

    /// Where a token of `pid` stands: bound to the principal's proven
    /// factor (`Some(true)`), not bound yet (`Some(false)`), or bound to a
    /// factor that is no longer theirs (`None`: it does not authenticate);
    /// and until when the principal is locked out.
    pub(super) fn token_standing(
        &self,
        pid: &PrincipalId,
        token_factor: Option<&str>,
    ) -> Result<(Option<bool>, Option<OffsetDateTime>), ArchiveError> {
        let factor = self.factor(pid)?;
        let locked_until = factor.as_ref().and_then(|f| f.locked_until);
        let bound = match (token_factor, &factor) {
            (None, _) => Some(false),
            (Some(t), Some(f)) if f.confirmed() && ct_eq(t, &f.id) => Some(true),
            (Some(_), _) => None,
        };
        Ok((bound, locked_until))
    }

    /// A request with a token that is not bound, or of a principal locked
    /// out, refused (403, audited `factor.required`).
    pub async fn refuse_standing(&self, ctx: &RequestCtx, standing: Standing) -> ArchiveError {
        let denial = match standing {
            Standing::Locked => Denial::SecondFactorLocked,
            _ => Denial::SecondFactorRequired,
        };
        let entry = ctx.entry(Action::FactorRequired, "", Outcome::Deny, "");
        match self.gate.deny::<()>(entry, denial, None).await {
            Err(e) => e,
            Ok(()) => ArchiveError::forbidden(Denial::SecondFactorRequired),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
