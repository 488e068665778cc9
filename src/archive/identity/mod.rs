//! Identity: who is calling. Staff principals (sealed under the staff key),
//! their tokens and the two-person enrollment and approval around them,
//! break-glass, and the in-memory state authentication keeps: the token
//! cache, each admin's recent addresses, and the counts of failed and
//! rate-limited requests that are audited once a minute.
//!
//! Identity sits just above the decision gate and below every other
//! service: the others look principals up here; it calls none of them.

mod auth_cache;
pub mod auth_failures;
mod break_glass;
mod directory;
mod enrollment;
mod factor;
mod principal_admin;
mod principals;
mod redeem;

pub use auth_cache::PrincipalView;
pub use break_glass::BrokenGlass;
pub use directory::{AdminOverview, AwaitingToken, Directory, StaffCard};
pub use enrollment::{TokenIssue, TokenLifetimes, TokenView};
pub use factor::{FactorChange, FactorRecord, FactorSetup, Proven, SecondFactors, Standing, MAX_CODE, RECOVERY_CODES};
pub use principals::{check_bootstrap_token, Bootstrapped, IssuedToken, NewPrincipal};
pub use redeem::{Enrolled, Enrollment};

use super::gate::Gate;
use super::vault::Vault;
use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::crypto::Keyring;
use crate::store::KvStore;
use std::sync::{Arc, Mutex};

/// Principals, tokens, enrollment and authentication.
pub struct Identity {
    store: Arc<dyn KvStore>,
    /// The master key's fingerprint, recorded at initialisation.
    keyring: Arc<Keyring>,
    /// Staff records are sealed.
    vault: Arc<Vault>,
    audit: Arc<AuditWriter>,
    gate: Arc<Gate>,
    clock: Arc<dyn Clock>,
    token_lifetimes: TokenLifetimes,
    /// Token hash → principal, for tokens seen valid. Revocation removes the
    /// entry before it answers, so a revoked token fails on its next use.
    auth_cache: Arc<auth_cache::AuthCache>,
    /// Second factors, the lockout, and where each token stands.
    factors: factor::SecondFactors,
    /// Where each admin's requests came from lately (`enrollment`).
    admin_addresses: Mutex<enrollment::AdminAddresses>,
    auth_failures: Mutex<auth_failures::AuthFailures>,
    /// Rate-limited requests per (principal, minute), audited in aggregate.
    rate_refusals: Mutex<auth_failures::AuthFailures>,
}

impl Identity {
    pub(super) fn new(
        store: Arc<dyn KvStore>,
        keyring: Arc<Keyring>,
        vault: Arc<Vault>,
        audit: Arc<AuditWriter>,
        gate: Arc<Gate>,
        clock: Arc<dyn Clock>,
        token_lifetimes: TokenLifetimes,
    ) -> Self {
        let auth_cache = Arc::new(auth_cache::AuthCache::default());
        let factors = factor::SecondFactors::new(
            store.clone(),
            vault.clone(),
            audit.clone(),
            gate.clone(),
            clock.clone(),
            auth_cache.clone(),
        );
        Identity {
            store,
            keyring,
            vault,
            audit,
            gate,
            clock,
            token_lifetimes,
            auth_cache,
            factors,
            admin_addresses: Default::default(),
            auth_failures: Default::default(),
            rate_refusals: Default::default(),
        }
    }
}

impl Identity {
    /// Second factors: setting one up, proving it, the lockout.
    pub fn factors(&self) -> &factor::SecondFactors {
        &self.factors
    }
}

#[cfg(test)]
mod tests;
