//! Per-dossier and per-subject data keys: creation, cached unwrapping,
//! shredding.

use super::kek::Keks;
use super::{CryptoError, DataKey, MasterKey};
use crate::domain::{DossierId, SubjectId};
use crate::store::{Cf, KvStore, Op};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// Which data key. Written as its key id (`d/<dos>`, `s/<sub>`,
/// `x/blind-index`): the key of the wrapped key in [`Cf::Keys`], and the id
/// named in audit entries and certificates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum KeyRef {
    Dossier(DossierId),
    Subject(SubjectId),
    /// The HMAC key of the search index's blind index.
    BlindIndex,
    /// The key staff records (principals: names, roles, regions) are
    /// sealed under.
    Staff,
    /// The key the compliance registers' free texts (incident
    /// descriptions, affected-person lists) are sealed under.
    Registers,
}

const BLIND_INDEX: &str = "x/blind-index";
const STAFF: &str = "x/staff";
const REGISTERS: &str = "x/registers";

impl KeyRef {
    /// The key under which the wrapped key is stored in [`Cf::Keys`]; also
    /// the key id named in audit entries and certificates.
    pub fn storage_key(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRef::Dossier(id) => write!(f, "d/{id}"),
            KeyRef::Subject(id) => write!(f, "s/{id}"),
            KeyRef::BlindIndex => f.write_str(BLIND_INDEX),
            KeyRef::Staff => f.write_str(STAFF),
            KeyRef::Registers => f.write_str(REGISTERS),
        }
    }
}

impl std::str::FromStr for KeyRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('/') {
            Some(("d", id)) => DossierId::parse(id).map(KeyRef::Dossier).map_err(|e| e.to_string()),
            Some(("s", id)) => SubjectId::parse(id).map(KeyRef::Subject).map_err(|e| e.to_string()),
            _ if s == BLIND_INDEX => Ok(KeyRef::BlindIndex),
            _ if s == STAFF => Ok(KeyRef::Staff),
            _ if s == REGISTERS => Ok(KeyRef::Registers),
            _ => Err("unknown key id".into()),
        }
    }
}

impl TryFrom<String> for KeyRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<KeyRef> for String {
    fn from(k: KeyRef) -> String {
        k.to_string()
    }
}

pub struct Keyring {
    master: MasterKey,
    store: Arc<dyn KvStore>,
    /// Wrap the data keys (see `crypto::kek`).
    keks: Keks,
    cache: Mutex<LruCache<KeyRef, Arc<DataKey>>>,
}

impl Keyring {
    /// Loads the key-encryption keys (making or rotating one as due).
    pub fn open(
        master: MasterKey,
        store: Arc<dyn KvStore>,
        cache_size: usize,
        kek_rotation: std::time::Duration,
    ) -> Result<Self, CryptoError> {
        let cap = NonZeroUsize::new(cache_size.max(1)).unwrap_or(NonZeroUsize::MIN);
        let keks = Keks::open(&master, store.as_ref(), kek_rotation)?;
        Ok(Keyring { master, store, keks, cache: Mutex::new(LruCache::new(cap)) })
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    pub fn master_fingerprint(&self) -> String {
        self.master.fingerprint()
    }

    /// A fresh data key and the op that stores it wrapped. The key is cached
    /// only by [`Keyring::remember`], once the batch holding the op is durable.
    pub fn create(&self, r: &KeyRef) -> Result<(Arc<DataKey>, Op), CryptoError> {
        let key = DataKey::generate();
        let slot = r.storage_key();
        let wrapped = self.keks.wrap(&self.master, self.store.as_ref(), &slot, &key)?;
        Ok((Arc::new(key), Op::Put(Cf::Keys, slot.into_bytes(), wrapped)))
    }

    pub fn remember(&self, r: KeyRef, key: Arc<DataKey>) {
        if let Ok(mut c) = self.cache.lock() {
            c.put(r, key);
        }
    }

    pub fn get(&self, r: &KeyRef) -> Result<Arc<DataKey>, CryptoError> {
        if let Some(k) = self.cache.lock().ok().and_then(|mut c| c.get(r).cloned()) {
            return Ok(k);
        }
        let slot = r.storage_key();
        let wrapped =
            self.store.get(Cf::Keys, slot.as_bytes())?.ok_or_else(|| CryptoError::KeyDestroyed(slot.clone()))?;
        let key = Arc::new(self.keks.unwrap(&self.master, self.store.as_ref(), &slot, &wrapped)?);
        self.remember(r.clone(), key.clone());
        Ok(key)
    }

    /// One of custos's own keys (staff records, registers, ...), made (and
    /// stored, synced) on first use. Two first uses at once would make two
    /// keys, the one written last winning and what the other sealed never
    /// opening again, so first use is serialised.
    pub fn house(&self, r: KeyRef) -> Result<Arc<DataKey>, CryptoError> {
        static FIRST_USE: Mutex<()> = Mutex::new(());
        match self.get(&r) {
            Err(CryptoError::KeyDestroyed(_)) => {
                let _one = FIRST_USE.lock().map_err(|_| CryptoError::Internal("key creation lock poisoned".into()))?;
                if let Ok(k) = self.get(&r) {
                    return Ok(k);
                }
                let (k, op) = self.create(&r)?;
                self.store.write(&[op], true)?;
                self.remember(r, k.clone());
                Ok(k)
            }
            found => found,
        }
    }

    /// Whether the wrapped key still exists (no unwrap).
    pub fn exists(&self, r: &KeyRef) -> Result<bool, CryptoError> {
        if self.cache.lock().is_ok_and(|mut c| c.get(r).is_some()) {
            return Ok(true);
        }
        Ok(self.store.get(Cf::Keys, r.storage_key().as_bytes())?.is_some())
    }

    /// Drops keys from the cache (after their wrapped form was deleted by a
    /// batch written elsewhere).
    pub fn forget(&self, refs: &[KeyRef]) {
        if let Ok(mut c) = self.cache.lock() {
            for r in refs {
                c.pop(r);
            }
        }
    }

    /// Shreds keys: deletes the wrapped keys durably (together with `extra`
    /// ops, e.g. the audit entry recording it), drops them from the cache, and
    /// compacts so the wrapped bytes are physically gone from the data
    /// directory. Everything sealed under these keys is unreadable afterwards.
    pub fn shred(&self, refs: &[KeyRef], extra: Vec<Op>) -> Result<(), CryptoError> {
        let mut ops: Vec<Op> = refs.iter().map(|r| Op::Delete(Cf::Keys, r.storage_key().into_bytes())).collect();
        ops.extend(extra);
        self.store.write(&ops, true)?;
        if let Ok(mut c) = self.cache.lock() {
            for r in refs {
                c.pop(r);
            }
        }
        self.store.purge(Cf::Keys)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{open, seal, segment_aad};
    use crate::store::RocksStore;

    const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

    #[test]
    fn shredded_key_cannot_open_its_segments_and_is_physically_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn KvStore> = Arc::new(RocksStore::open(dir.path()).unwrap());
        let ring = Keyring::open(MasterKey::generate(), store.clone(), 16, DAY).unwrap();
        let r = KeyRef::Subject(SubjectId::generate());
        let (key, op) = ring.create(&r).unwrap();
        let wrapped = match &op {
            Op::Put(_, _, v) => v.clone(),
            _ => unreachable!(),
        };
        store.write(&[op], true).unwrap();
        ring.remember(r.clone(), key.clone());
        let aad = segment_aad("dos_x", 1, "personal");
        let sealed = seal(&key, &aad, "张经理 13912345688".as_bytes()).unwrap();
        drop(key);
        assert!(open(&ring.get(&r).unwrap(), &aad, &sealed).is_ok());
        // Push the wrapped key into an SST file first, as a long-lived key would be.
        store.purge(Cf::Keys).unwrap();
        assert!(dir_contains(dir.path(), &wrapped), "precondition: the key is on disk");

        ring.shred(std::slice::from_ref(&r), vec![]).unwrap();

        assert!(matches!(ring.get(&r), Err(CryptoError::KeyDestroyed(_))));
        assert!(!ring.exists(&r).unwrap());
        assert!(!dir_contains(dir.path(), &wrapped), "wrapped key bytes remain on disk");
    }

    #[test]
    fn cache_is_bounded_and_reloads_from_store() {
        let store: Arc<dyn KvStore> = Arc::new(crate::store::MemStore::default());
        let ring = Keyring::open(MasterKey::generate(), store.clone(), 2, DAY).unwrap();
        let refs: Vec<KeyRef> = (0..5).map(|_| KeyRef::Dossier(DossierId::generate())).collect();
        let mut raw = vec![];
        for r in &refs {
            let (k, op) = ring.create(r).unwrap();
            store.write(&[op], true).unwrap();
            raw.push(*k.expose());
            ring.remember(r.clone(), k);
        }
        assert_eq!(ring.cache.lock().unwrap().len(), 2);
        for (r, bytes) in refs.iter().zip(raw) {
            assert_eq!(ring.get(r).unwrap().expose(), &bytes);
        }
    }

    #[test]
    fn key_ids_round_trip() {
        for k in [KeyRef::Dossier(DossierId::generate()), KeyRef::Subject(SubjectId::generate()), KeyRef::BlindIndex] {
            assert_eq!(k.to_string().parse::<KeyRef>().unwrap(), k);
        }
        assert!("s/dos_01kb0000000000000000000000".parse::<KeyRef>().is_err());
        assert!("q/x".parse::<KeyRef>().is_err());
    }

    pub(crate) fn dir_contains(dir: &std::path::Path, needle: &[u8]) -> bool {
        walk(dir)
            .into_iter()
            .any(|p| std::fs::read(&p).map(|b| b.windows(needle.len()).any(|w| w == needle)).unwrap_or(false))
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = vec![];
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
