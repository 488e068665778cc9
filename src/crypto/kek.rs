//! Key-encryption keys (KEKs): symmetric keys that wrap the data keys, each
//! itself wrapped by the master identity (age, X25519).
//!
//! A new dossier needs a data key per dossier and per person; wrapping
//! each with age costs an X25519 key agreement (tens of microseconds), the
//! largest single cost of a create. Wrapping under a KEK is one
//! XChaCha20-Poly1305 seal instead. The master key still guards
//! everything: a KEK is stored only age-wrapped (`k/<id>` in the keys
//! column family) and unwrapped into memory at start-up.
//!
//! Shredding is unchanged: destroying a data key deletes its only wrapped
//! copy, and the KEK alone opens nothing. A wrapped data key is bound to its
//! slot (`d/<dos>`, `s/<sub>`, ...) as associated data, so it cannot be
//! moved to another dossier or person.
//!
//! Rotation: the newest KEK wraps new data keys; once it is older than
//! `kek_rotation_days` a new one is made (durably, before first use). Old
//! KEKs are kept, wrapped, for the data keys they wrapped. Data keys wrapped
//! directly with age (before KEKs existed) still open.
//!
//! Wrapped data key: `"ck1\0" || id length u8 || id || nonce (24) ||
//! ciphertext (32 + 16)`.

use super::{open, seal, CryptoError, DataKey, MasterKey, Sealed};
use crate::store::{Cf, KvStore, Op};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 4] = b"ck1\0";
const AGE_MAGIC: &[u8] = b"age-encryption.org/";
/// Where KEKs live in [`Cf::Keys`].
pub const PREFIX: &str = "k/";

struct Current {
    id: String,
    key: Arc<DataKey>,
    created: u64,
}

pub struct Keks {
    current: RwLock<Current>,
    known: RwLock<HashMap<String, Arc<DataKey>>>,
    rotate_after: Duration,
    rotating: Mutex<()>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A KEK id: its creation time (seconds, hex, so ids sort by age) and a
/// random suffix.
fn new_id(created: u64) -> String {
    let suffix: [u8; 4] = rand::random();
    format!("{created:016x}{}", hex::encode(suffix))
}

fn created_of(id: &str) -> u64 {
    id.get(..16).and_then(|h| u64::from_str_radix(h, 16).ok()).unwrap_or(0)
}

fn aad(slot: &str) -> Vec<u8> {
    [b"custos-kek-v1\0".as_slice(), slot.as_bytes()].concat()
}

impl Keks {
    /// Loads every KEK (unwrapping each with the master key) and makes a new
    /// one when there is none or the newest is due for rotation.
    pub fn open(master: &MasterKey, store: &dyn KvStore, rotate_after: Duration) -> Result<Self, CryptoError> {
        let mut known = HashMap::new();
        let mut newest: Option<(String, Arc<DataKey>)> = None;
        for row in store.scan(Cf::Keys, PREFIX.as_bytes(), PREFIX.as_bytes()) {
            let (k, wrapped) = row?;
            let id = String::from_utf8_lossy(&k[PREFIX.len()..]).into_owned();
            let key = Arc::new(master.unwrap(&wrapped)?);
            known.insert(id.clone(), key.clone());
            newest = Some((id, key));
        }
        let current = match newest {
            Some((id, key)) => Current { created: created_of(&id), id, key },
            None => Self::make(master, store, &mut known)?,
        };
        let keks =
            Keks { current: RwLock::new(current), known: RwLock::new(known), rotate_after, rotating: Mutex::new(()) };
        keks.rotate_if_due(master, store)?;
        Ok(keks)
    }

    /// A new KEK, stored wrapped (durably) before it wraps anything.
    fn make(
        master: &MasterKey,
        store: &dyn KvStore,
        known: &mut HashMap<String, Arc<DataKey>>,
    ) -> Result<Current, CryptoError> {
        let created = now_secs();
        let id = new_id(created);
        let key = Arc::new(DataKey::generate());
        let wrapped = master.wrap(&key)?;
        store.write(&[Op::Put(Cf::Keys, format!("{PREFIX}{id}").into_bytes(), wrapped)], true)?;
        known.insert(id.clone(), key.clone());
        tracing::info!(kek = %id, "new key-encryption key");
        Ok(Current { id, key, created })
    }

    fn rotate_if_due(&self, master: &MasterKey, store: &dyn KvStore) -> Result<(), CryptoError> {
        let due = |c: &Current| now_secs().saturating_sub(c.created) >= self.rotate_after.as_secs();
        if !self.current.read().is_ok_and(|c| due(&c)) {
            return Ok(());
        }
        let _one = self.rotating.lock().map_err(|_| CryptoError::Internal("KEK rotation lock poisoned".into()))?;
        if !self.current.read().is_ok_and(|c| due(&c)) {
            return Ok(()); // another caller rotated meanwhile
        }
        let mut known = self.known.write().map_err(|_| CryptoError::Internal("KEK table poisoned".into()))?;
        let next = Self::make(master, store, &mut known)?;
        *self.current.write().map_err(|_| CryptoError::Internal("KEK poisoned".into()))? = next;
        Ok(())
    }

    /// The id of the KEK that wraps new data keys.
    #[cfg(test)]
    pub fn current_id(&self) -> String {
        self.current.read().map(|c| c.id.clone()).unwrap_or_default()
    }

    /// Wraps a data key for `slot` (its storage key) under the current KEK.
    pub fn wrap(
        &self,
        master: &MasterKey,
        store: &dyn KvStore,
        slot: &str,
        key: &DataKey,
    ) -> Result<Vec<u8>, CryptoError> {
        self.rotate_if_due(master, store)?;
        let (id, kek) = {
            let c = self.current.read().map_err(|_| CryptoError::Internal("KEK poisoned".into()))?;
            (c.id.clone(), c.key.clone())
        };
        let sealed = seal(&kek, &aad(slot), key.expose())?;
        let mut out = Vec::with_capacity(4 + 1 + id.len() + 24 + sealed.ciphertext.len());
        out.extend_from_slice(MAGIC);
        out.push(id.len() as u8);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&sealed.nonce);
        out.extend_from_slice(&sealed.ciphertext);
        Ok(out)
    }

    /// Unwraps a data key stored at `slot`: under its KEK, or with age for
    /// a key wrapped before KEKs existed.
    pub fn unwrap(
        &self,
        master: &MasterKey,
        store: &dyn KvStore,
        slot: &str,
        wrapped: &[u8],
    ) -> Result<DataKey, CryptoError> {
        if wrapped.starts_with(AGE_MAGIC) {
            return master.unwrap(wrapped);
        }
        let malformed = || CryptoError::Internal(format!("wrapped key {slot} is malformed"));
        let rest = wrapped.strip_prefix(MAGIC.as_slice()).ok_or_else(malformed)?;
        let (&n, rest) = rest.split_first().ok_or_else(malformed)?;
        let id = rest.get(..n as usize).and_then(|b| std::str::from_utf8(b).ok()).ok_or_else(malformed)?;
        let rest = &rest[n as usize..];
        let nonce: [u8; 24] = rest.get(..24).and_then(|b| b.try_into().ok()).ok_or_else(malformed)?;
        let sealed = Sealed { nonce, ciphertext: rest[24..].to_vec() };
        let kek = self.kek(master, store, id)?;
        let plain = open(&kek, &aad(slot), &sealed)?;
        DataKey::from_slice(&plain)
    }

    /// A KEK by id: from memory, or (made by another process since start,
    /// e.g. an offline job) from the store.
    fn kek(&self, master: &MasterKey, store: &dyn KvStore, id: &str) -> Result<Arc<DataKey>, CryptoError> {
        if let Some(k) = self.known.read().ok().and_then(|m| m.get(id).cloned()) {
            return Ok(k);
        }
        let wrapped = store
            .get(Cf::Keys, format!("{PREFIX}{id}").as_bytes())?
            .ok_or_else(|| CryptoError::Internal(format!("key-encryption key {id} is missing")))?;
        let key = Arc::new(master.unwrap(&wrapped)?);
        if let Ok(mut m) = self.known.write() {
            m.insert(id.to_owned(), key.clone());
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;

    #[test]
    fn a_wrapped_key_opens_only_in_its_slot_and_survives_rotation_and_restart() {
        let store = MemStore::default();
        let master = MasterKey::generate();
        let keks = Keks::open(&master, &store, Duration::from_secs(3600)).unwrap();
        let k = DataKey::generate();
        let w = keks.wrap(&master, &store, "d/dos_a", &k).unwrap();
        assert!(!w.windows(32).any(|x| x == k.expose()), "no plaintext key in the wrapped form");
        assert_eq!(keks.unwrap(&master, &store, "d/dos_a", &w).unwrap().expose(), k.expose());
        assert!(matches!(keks.unwrap(&master, &store, "d/dos_b", &w), Err(CryptoError::Unauthentic)));
        // Rotation at once: a new KEK wraps new keys, the old one still opens old ones.
        let first = keks.current_id();
        let rotating = Keks::open(&master, &store, Duration::ZERO).unwrap();
        assert_ne!(rotating.current_id(), first);
        let w2 = rotating.wrap(&master, &store, "s/sub_a", &k).unwrap();
        assert_eq!(rotating.unwrap(&master, &store, "d/dos_a", &w).unwrap().expose(), k.expose());
        // A restart (a fresh table) reads both; another master key reads none.
        let again = Keks::open(&master, &store, Duration::from_secs(3600)).unwrap();
        assert_eq!(again.unwrap(&master, &store, "s/sub_a", &w2).unwrap().expose(), k.expose());
        assert!(Keks::open(&MasterKey::generate(), &store, Duration::from_secs(3600)).is_err());
        // A key wrapped with age before KEKs existed still opens.
        let legacy = master.wrap(&k).unwrap();
        assert_eq!(again.unwrap(&master, &store, "d/dos_a", &legacy).unwrap().expose(), k.expose());
        assert!(again.unwrap(&master, &store, "d/dos_a", b"ck1\0\x05abc").is_err());
    }
}
