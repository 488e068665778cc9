//! Mark rows: a key that is the whole fact, with an empty value ("this
//! person is linked to that dossier", "this person's data went abroad in
//! that year"). A set of marks shares a prefix made from its group (a
//! person, a year) by a function of `store/keys.rs`; each mark adds its
//! member's id text. A key whose member is not such an id is a damaged row
//! and reads as an error, never as some other member.

use super::lookup::Named;
use super::{Cf, KvStore, Op, StoreError};
use std::marker::PhantomData;

/// The marks of `cf` under the prefixes `prefix` makes, each naming an `M`.
pub struct Marks<G: ?Sized, M> {
    cf: Cf,
    prefix: fn(&G) -> Vec<u8>,
    _member: PhantomData<fn() -> M>,
}

impl<G: ?Sized, M: Named> Marks<G, M> {
    pub const fn new(cf: Cf, prefix: fn(&G) -> Vec<u8>) -> Self {
        Marks { cf, prefix, _member: PhantomData }
    }

    fn key(&self, group: &G, member: &M) -> Vec<u8> {
        let mut k = (self.prefix)(group);
        k.extend_from_slice(member.text().as_bytes());
        k
    }

    /// The write that marks `member` in `group` (idempotent).
    pub fn mark(&self, group: &G, member: &M) -> Op {
        Op::Put(self.cf, self.key(group, member), Vec::new())
    }

    /// The delete of `member`'s mark in `group`.
    pub fn unmark(&self, group: &G, member: &M) -> Op {
        Op::Delete(self.cf, self.key(group, member))
    }

    /// Whether `member` is marked in `group`.
    pub fn contains(&self, store: &dyn KvStore, group: &G, member: &M) -> Result<bool, StoreError> {
        Ok(store.get(self.cf, &self.key(group, member))?.is_some())
    }

    /// The members marked in `group`, in key order; a damaged key is an error.
    pub fn members(&self, store: &dyn KvStore, group: &G) -> Result<Vec<M>, StoreError> {
        let prefix = (self.prefix)(group);
        let mut out = Vec::new();
        for row in store.scan(self.cf, &prefix, &prefix) {
            let (key, _) = row?;
            let member = key
                .strip_prefix(prefix.as_slice())
                .and_then(|rest| std::str::from_utf8(rest).ok())
                .and_then(M::from_text)
                .ok_or_else(|| StoreError::Corrupt(format!("{}: a mark names no id", self.cf.name())))?;
            out.push(member);
        }
        Ok(out)
    }

    /// How many members are marked in `group` (their keys not parsed).
    pub fn count(&self, store: &dyn KvStore, group: &G) -> Result<u64, StoreError> {
        let prefix = (self.prefix)(group);
        let mut n = 0;
        for row in store.scan(self.cf, &prefix, &prefix) {
            row?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DossierId, SubjectId};
    use crate::store::{keys, MemStore};

    const LINKS: Marks<SubjectId, DossierId> = Marks::new(Cf::Subjects, keys::subject_links_prefix);

    #[test]
    fn marks_are_the_keys_custos_always_wrote_and_a_damaged_one_is_an_error() {
        let store = MemStore::default();
        let (sid, other) = (SubjectId::generate(), SubjectId::generate());
        let (a, b) = (DossierId::generate(), DossierId::generate());
        store.write(&[LINKS.mark(&sid, &a), LINKS.mark(&sid, &b), LINKS.mark(&other, &a)], true).unwrap();
        assert!(store.get(Cf::Subjects, &keys::subject_link(&sid, &a)).unwrap().is_some(), "the same key as before");
        let mut want = vec![a.clone(), b.clone()];
        want.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        assert_eq!(LINKS.members(&store, &sid).unwrap(), want);
        assert_eq!(LINKS.count(&store, &sid).unwrap(), 2);
        assert!(LINKS.contains(&store, &other, &a).unwrap() && !LINKS.contains(&store, &other, &b).unwrap());
        store.write(&[LINKS.unmark(&sid, &a)], true).unwrap();
        assert_eq!(LINKS.members(&store, &sid).unwrap(), vec![b]);
        let mut damaged = keys::subject_links_prefix(&sid);
        damaged.extend_from_slice(b"\xffnot-an-id");
        store.write(&[Op::Put(Cf::Subjects, damaged, vec![])], true).unwrap();
        assert!(LINKS.members(&store, &sid).is_err(), "a damaged mark is not skipped silently");
    }
}
