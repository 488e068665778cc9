//! What authentication remembers (the cache of tokens seen valid, and how
//! a revocation keeps a lookup under way from caching what it read), and
//! the view of a principal that admins decide on.

use crate::domain::{Principal, TokenId};
use time::OffsetDateTime;

/// Tokens cached at most; past it the cache starts again.
const AUTH_CACHE_ENTRIES: usize = 10_000;

/// A principal as admins see it when they decide about it (never a token).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PrincipalView {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub department: String,
    pub region: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
    /// For an admin no second admin has approved yet: who made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_pending: Option<String>,
    /// For a disabled principal: the admin who disabled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_by: Option<String>,
}

impl PrincipalView {
    pub fn of(p: &Principal) -> Self {
        PrincipalView {
            id: p.id.to_string(),
            name: p.name.clone(),
            roles: p.role_names(),
            department: p.department.clone(),
            region: p.region.clone(),
            created_at: p.created_at,
            admin_pending: p.admin_pending.as_ref().map(ToString::to_string),
            disabled_by: p.disabled_by.as_ref().map(ToString::to_string),
        }
    }
}

/// Token hash → what authentication found, for tokens seen valid.
///
/// A lookup reads the store and then caches what it read; a revocation
/// that commits between the two must not be undone by that insert (a
/// revoked token would then work until the cache was cleared). So every
/// forget bumps an epoch under the cache's lock, and an insert is made only
/// when the epoch is still the one the lookup started with: after
/// `forget` returns, no lookup that began before it can cache the token.
#[derive(Default)]
pub(crate) struct AuthCache {
    inner: std::sync::Mutex<AuthCacheInner>,
}

/// What authentication found for a token.
#[derive(Clone)]
pub(crate) struct Authenticated {
    pub(crate) principal: Principal,
    pub(crate) token_id: TokenId,
    pub(crate) expires_at: OffsetDateTime,
    /// Bound to the principal's proven second factor.
    pub(crate) bound: bool,
    /// Until when the principal is locked out after failed second-factor attempts.
    pub(crate) locked_until: Option<OffsetDateTime>,
}

#[derive(Default)]
struct AuthCacheInner {
    epoch: u64,
    map: std::collections::HashMap<String, Authenticated>,
}

impl AuthCache {
    pub(crate) fn epoch(&self) -> u64 {
        self.inner.lock().map(|c| c.epoch).unwrap_or(u64::MAX)
    }

    pub(crate) fn get(&self, hash: &str) -> Option<Authenticated> {
        self.inner.lock().ok().and_then(|c| c.map.get(hash).cloned())
    }

    /// Caches `found` unless a token was forgotten since `epoch`.
    pub(crate) fn insert(&self, epoch: u64, hash: String, found: Authenticated) {
        if let Ok(mut c) = self.inner.lock() {
            if c.epoch != epoch {
                return;
            }
            if c.map.len() >= AUTH_CACHE_ENTRIES {
                c.map.clear();
            }
            c.map.insert(hash, found);
        }
    }

    /// Forgets every cached lookup (a principal's roles changed).
    pub(crate) fn forget_all(&self) {
        match self.inner.lock() {
            Ok(mut c) => {
                c.epoch = c.epoch.wrapping_add(1);
                c.map.clear();
            }
            Err(poisoned) => {
                let mut c = poisoned.into_inner();
                c.epoch = c.epoch.wrapping_add(1);
                c.map.clear();
            }
        }
    }

    pub(crate) fn forget(&self, hash: &str) {
        match self.inner.lock() {
            Ok(mut c) => {
                c.epoch = c.epoch.wrapping_add(1);
                c.map.remove(hash);
            }
            // A poisoned lock: nothing cached can be trusted; the next
            // lookups go to the store (epoch reads u64::MAX, never equal).
            Err(poisoned) => {
                let mut c = poisoned.into_inner();
                c.epoch = c.epoch.wrapping_add(1);
                c.map.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PrincipalId, Role};

    fn found(id: &str) -> Authenticated {
        let p = Principal {
            id: PrincipalId::generate(),
            name: id.into(),
            roles: vec![Role::Sales],
            department: String::new(),
            region: String::new(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            recipient: None,
            admin_pending: None,
            disabled_by: None,
        };
        Authenticated {
            principal: p,
            token_id: TokenId::generate(),
            expires_at: OffsetDateTime::UNIX_EPOCH,
            bound: true,
            locked_until: None,
        }
    }

    /// The race that kept a revoked token working: a lookup reads the
    /// store before the revocation commits and caches after it is
    /// forgotten. Its insert is refused; one started afterwards caches.
    #[test]
    fn a_lookup_begun_before_a_revocation_does_not_cache_what_it_read() {
        let cache = AuthCache::default();
        let before = cache.epoch();
        cache.forget("h1");
        cache.insert(before, "h1".into(), found("stale"));
        assert!(cache.get("h1").is_none(), "the stale lookup is not cached");
        let now = cache.epoch();
        cache.insert(now, "h1".into(), found("fresh"));
        assert!(cache.get("h1").is_some());
        cache.forget_all();
        assert!(cache.get("h1").is_none());
    }
}
