//! Console sessions: server-side, keyed by the SHA-256 of a random cookie
//! value, with idle and absolute timeouts on the archive's clock. The
//! session holds the person's token (zeroized when dropped) so that every
//! page is authenticated exactly as an API request with that token is: a
//! revoked or expired token ends the session at the next page.

use crate::domain::Lang;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// A session unused this long ends.
pub const IDLE: Duration = Duration::minutes(15);
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE: Duration = Duration::hours(8);
/// At most this many sessions live at once; the oldest goes first.
const MAX_SESSIONS: usize = 10_000;
/// Live sessions of one token (a person's browsers and devices).
pub const MAX_SESSIONS_PER_TOKEN: usize = 8;

pub struct Session {
    pub token: Zeroizing<String>,
    /// Every form of the session carries it; a post without it is refused.
    pub csrf: String,
    /// The purpose the person chose (sent as `X-Purpose` would be).
    pub purpose: Option<String>,
    pub lang: Lang,
    /// The person's previous sign-in to the console (the start page's
    /// "since your last visit").
    pub since: Option<OffsetDateTime>,
    created: OffsetDateTime,
    last_seen: OffsetDateTime,
}

/// What a page needs of its session (the token stays in the store).
#[derive(Clone)]
pub struct SessionView {
    pub id_hash: [u8; 32],
    pub csrf: String,
    pub purpose: Option<String>,
    pub lang: Lang,
    pub token: Zeroizing<String>,
    pub since: Option<OffsetDateTime>,
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

/// A fresh random value, base64url: session ids and CSRF tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// A new session for `token`; returns the cookie value.
    pub fn create(
        &self,
        token: &str,
        lang: Lang,
        purpose: Option<String>,
        since: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> String {
        let id = random_token();
        let session = Session {
            token: Zeroizing::new(token.to_owned()),
            csrf: random_token(),
            purpose,
            lang,
            since,
            created: now,
            last_seen: now,
        };
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, s| !s.expired(now));
            // One token's sign-ins replace that token's own oldest sessions,
            // never anyone else's: signing in again and again cannot push
            // colleagues out.
            let mut own: Vec<([u8; 32], OffsetDateTime)> =
                map.iter().filter(|(_, s)| same(&s.token, token)).map(|(k, s)| (*k, s.last_seen)).collect();
            if own.len() >= MAX_SESSIONS_PER_TOKEN {
                own.sort_by_key(|(_, seen)| *seen);
                for (k, _) in own.iter().take(own.len() + 1 - MAX_SESSIONS_PER_TOKEN) {
                    map.remove(k);
                }
            }
            if map.len() >= MAX_SESSIONS {
                if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
            map.insert(hash(&id), session);
        }
        id
    }

    /// The live session of a cookie value, touched; an expired one is removed.
    pub fn touch(&self, id: &str, now: OffsetDateTime) -> Option<SessionView> {
        let key = hash(id);
        let mut map = self.map.lock().ok()?;
        let session = map.get_mut(&key)?;
        if session.expired(now) {
            map.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(SessionView {
            id_hash: key,
            csrf: session.csrf.clone(),
            purpose: session.purpose.clone(),
            lang: session.lang,
            token: session.token.clone(),
            since: session.since,
        })
    }

    pub fn set_purpose(&self, key: &[u8; 32], purpose: Option<String>) {
        if let Some(s) = self.map.lock().ok().as_mut().and_then(|m| m.get_mut(key)) {
            s.purpose = purpose;
        }
    }

    pub fn set_lang(&self, key: &[u8; 32], lang: Lang) {
        if let Some(s) = self.map.lock().ok().as_mut().and_then(|m| m.get_mut(key)) {
            s.lang = lang;
        }
    }

    pub fn remove(&self, key: &[u8; 32]) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(key);
        }
    }
}

impl Session {
    fn expired(&self, now: OffsetDateTime) -> bool {
        now - self.last_seen > IDLE || now - self.created > ABSOLUTE
    }
}

/// Constant-time equality for CSRF tokens.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_when_idle_and_after_its_absolute_lifetime() {
        let sessions = Sessions::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let id = sessions.create("tok", Lang::Zh, None, None, t0);
        assert!(sessions.touch(&id, t0 + Duration::minutes(14)).is_some());
        assert!(sessions.touch(&id, t0 + Duration::minutes(30)).is_none(), "idle for 16 minutes");

        let id = sessions.create("tok", Lang::Zh, None, None, t0);
        let mut t = t0;
        while t < t0 + Duration::hours(7) {
            t += Duration::minutes(10);
            assert!(sessions.touch(&id, t).is_some());
        }
        assert!(sessions.touch(&id, t0 + Duration::hours(8) + Duration::minutes(5)).is_none(), "8 hours after sign-in");
        assert!(sessions.touch("not-a-session", t0).is_none());
    }

    #[test]
    fn signing_in_again_and_again_pushes_out_only_ones_own_sessions() {
        let sessions = Sessions::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let colleague = sessions.create("colleague", Lang::Zh, None, None, t0);
        let mut t = t0;
        let mut mine = Vec::new();
        for _ in 0..10_050 {
            t += Duration::milliseconds(1);
            mine.push(sessions.create("attacker", Lang::Zh, None, None, t));
        }
        assert!(sessions.touch(&colleague, t).is_some(), "the colleague is still signed in");
        let live = mine.iter().filter(|id| sessions.touch(id, t).is_some()).count();
        assert_eq!(live, MAX_SESSIONS_PER_TOKEN, "the newest of one token's sessions live");
        assert!(sessions.touch(mine.last().unwrap(), t).is_some());
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert_ne!(random_token(), random_token());
    }
}
