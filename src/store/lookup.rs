//! Lookup rows: a key (a token's hash, an enrollment code's hash, the keyed
//! hash of an external reference) that names one of custos's ids. The row
//! holds the id's text, as every custos has written it; a row whose bytes
//! are not such an id reads as no row, so a damaged row can only fail
//! closed (an unknown token, no match).

use super::{Cf, KvStore, Op, StoreError};
use crate::domain::{DossierId, SubjectId, TokenId};
use std::marker::PhantomData;

/// An id kept as its text in a lookup row.
pub trait Named: Sized {
    fn text(&self) -> &str;
    fn from_text(text: &str) -> Option<Self>;
}

impl Named for TokenId {
    fn text(&self) -> &str {
        self.as_str()
    }
    fn from_text(text: &str) -> Option<Self> {
        TokenId::parse(text).ok()
    }
}

impl Named for SubjectId {
    fn text(&self) -> &str {
        self.as_str()
    }
    fn from_text(text: &str) -> Option<Self> {
        SubjectId::parse(text).ok()
    }
}

impl Named for DossierId {
    fn text(&self) -> &str {
        self.as_str()
    }
    fn from_text(text: &str) -> Option<Self> {
        DossierId::parse(text).ok()
    }
}

/// The lookup rows of `cf` whose keys `key` makes (a function of
/// `store/keys.rs`), each naming an `I`.
pub struct Lookup<K: ?Sized, I> {
    cf: Cf,
    key: fn(&K) -> Vec<u8>,
    _id: PhantomData<fn() -> I>,
}

impl<K: ?Sized, I: Named> Lookup<K, I> {
    pub const fn new(cf: Cf, key: fn(&K) -> Vec<u8>) -> Self {
        Lookup { cf, key, _id: PhantomData }
    }

    /// The id `k` names, if a row holds one.
    pub fn get(&self, store: &dyn KvStore, k: &K) -> Result<Option<I>, StoreError> {
        let raw = store.get(self.cf, &(self.key)(k))?;
        Ok(raw.and_then(|raw| std::str::from_utf8(&raw).ok().and_then(I::from_text)))
    }

    /// The write of a row: `k` names `id`.
    pub fn put(&self, k: &K, id: &I) -> Op {
        Op::Put(self.cf, (self.key)(k), id.text().as_bytes().to_vec())
    }

    /// The delete of `k`'s row.
    pub fn delete(&self, k: &K) -> Op {
        Op::Delete(self.cf, (self.key)(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{keys, MemStore};

    const BY_HASH: Lookup<str, TokenId> = Lookup::new(Cf::Principals, keys::token_hash);

    #[test]
    fn a_row_names_its_id_and_a_damaged_one_names_none() {
        let store = MemStore::default();
        let id = TokenId::generate();
        store.write(&[BY_HASH.put("ab12", &id)], true).unwrap();
        assert_eq!(BY_HASH.get(&store, "ab12").unwrap(), Some(id.clone()));
        assert_eq!(store.get(Cf::Principals, &keys::token_hash("ab12")).unwrap().unwrap(), id.as_str().as_bytes());
        store.write(&[Op::Put(Cf::Principals, keys::token_hash("cd34"), b"\xff tok_".to_vec())], true).unwrap();
        assert_eq!(BY_HASH.get(&store, "cd34").unwrap(), None);
        store.write(&[BY_HASH.delete("ab12")], true).unwrap();
        assert_eq!(BY_HASH.get(&store, "ab12").unwrap(), None);
    }
}
