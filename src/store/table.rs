//! Typed tables: one record type under one key layout, one serialization,
//! and changes that are compare-and-set by default.
//!
//! A [`Table<K, V>`] names a column family, the key prefix its rows share
//! and the function of `store/keys.rs` that makes a row's key from a typed
//! `K`. Use cases read and write records through it and never see a key's
//! bytes or a record's encoding.
//!
//! A read-modify-write starts with [`Table::hold`], which returns the record
//! together with the [`Guard`] that it must still be what was read; the
//! [`Held::replace`] change carries that guard into the commit, so a
//! concurrent change makes the commit fail rather than be lost. A new row is
//! [`Table::insert`]ed under a guard that the key is still free. Writing
//! without a guard is possible, and says so: [`Table::put_unguarded`] (for
//! rows keyed by a fresh id, or append-only rows whose key says which one).

use super::{Cf, KvStore, Op, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;

/// The value a key must still have for a commit to apply: the
/// compare-and-set of a read-modify-write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub cf: Cf,
    pub key: Vec<u8>,
    /// `None`: the key must be absent.
    pub expected: Option<Vec<u8>>,
}

/// A change to one row and the guard under which it may be committed.
#[derive(Debug, Clone)]
#[must_use = "a change is made by committing it"]
pub struct Change {
    pub op: Op,
    pub guard: Guard,
}

/// Rows of `V` keyed by `K` in one column family, under one prefix.
pub struct Table<K: ?Sized, V> {
    cf: Cf,
    prefix: &'static [u8],
    key: fn(&K) -> Vec<u8>,
    /// Which keys under the prefix are this table's rows (another table may
    /// share the prefix: a subject's links and consent events sit under its id).
    row: fn(&[u8]) -> bool,
    _rows: PhantomData<fn() -> V>,
}

fn every_row(_: &[u8]) -> bool {
    true
}

impl<K: ?Sized, V> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K: ?Sized, V> Copy for Table<K, V> {}

/// A record read for a change: its value, and the guard that it is still
/// what was read.
#[derive(Debug, Clone)]
pub struct Held<V> {
    pub value: V,
    guard: Guard,
}

use super::codec::encode;

/// A `cf` row's record (the one codec, `store::codec`).
fn decode<V: DeserializeOwned>(cf: Cf, raw: &[u8]) -> Result<V, StoreError> {
    super::codec::decode(cf.name(), raw)
}

impl<K: ?Sized, V: Serialize + DeserializeOwned + 'static> Table<K, V> {
    /// The table of `cf` whose rows all start with `prefix` and whose keys
    /// `key` makes (a function of `store/keys.rs`).
    pub const fn new(cf: Cf, prefix: &'static [u8], key: fn(&K) -> Vec<u8>) -> Self {
        Table { cf, prefix, key, row: every_row, _rows: PhantomData }
    }

    /// The same table, whose rows are only the keys under its prefix for
    /// which `row` holds.
    pub const fn rows_where(self, row: fn(&[u8]) -> bool) -> Self {
        Table { row, ..self }
    }

    pub fn cf(&self) -> Cf {
        self.cf
    }

    /// The row key of `k`.
    pub fn key(&self, k: &K) -> Vec<u8> {
        (self.key)(k)
    }

    pub fn get(&self, store: &dyn KvStore, k: &K) -> Result<Option<V>, StoreError> {
        store.get(self.cf, &self.key(k))?.map(|raw| decode(self.cf, &raw)).transpose()
    }

    pub fn contains(&self, store: &dyn KvStore, k: &K) -> Result<bool, StoreError> {
        Ok(store.get(self.cf, &self.key(k))?.is_some())
    }

    /// The record of `k` read for a change (see [`Held::replace`]).
    pub fn hold(&self, store: &dyn KvStore, k: &K) -> Result<Option<Held<V>>, StoreError> {
        let key = self.key(k);
        let Some(raw) = store.get(self.cf, &key)? else { return Ok(None) };
        let value = decode(self.cf, &raw)?;
        Ok(Some(Held { value, guard: Guard { cf: self.cf, key, expected: Some(raw) } }))
    }

    /// A new row: committed only while `k` is still free.
    pub fn insert(&self, k: &K, v: &V) -> Result<Change, StoreError> {
        let key = self.key(k);
        Ok(Change { op: Op::Put(self.cf, key.clone(), encode(v)?), guard: Guard { cf: self.cf, key, expected: None } })
    }

    /// A put without a guard: for a row keyed by an id made for it, or an
    /// append-only row whose key says which one; never for a change to a
    /// record read before (that is [`Table::hold`] and [`Held::replace`]).
    pub fn put_unguarded(&self, k: &K, v: &V) -> Result<Op, StoreError> {
        Ok(Op::Put(self.cf, self.key(k), encode(v)?))
    }

    pub fn delete(&self, k: &K) -> Op {
        Op::Delete(self.cf, self.key(k))
    }

    /// Every row, in key order, with its key.
    pub fn scan<'a>(&self, store: &'a dyn KvStore) -> impl Iterator<Item = Result<(Vec<u8>, V), StoreError>> + 'a {
        self.scan_under(store, self.prefix.to_vec())
    }

    /// The rows whose keys start with `prefix` (which starts with the
    /// table's own), in key order.
    pub fn scan_under<'a>(
        &self,
        store: &'a dyn KvStore,
        prefix: Vec<u8>,
    ) -> impl Iterator<Item = Result<(Vec<u8>, V), StoreError>> + 'a {
        let (cf, is_row) = (self.cf, self.row);
        let wrong = !prefix.starts_with(self.prefix);
        let rows = if wrong { None } else { Some(store.scan(cf, &prefix, &prefix)) };
        let refused = wrong.then(|| Err(StoreError::Corrupt("a scan outside its table".into())));
        let rows = rows.into_iter().flatten().filter(move |row| row.as_ref().map_or(true, |(k, _)| is_row(k)));
        refused.into_iter().chain(rows.map(move |row| {
            let (k, raw) = row?;
            Ok((k, decode(cf, &raw)?))
        }))
    }

    /// Every record, each read for a change (see [`Held`]).
    pub fn held_rows<'a>(&self, store: &'a dyn KvStore) -> impl Iterator<Item = Result<Held<V>, StoreError>> + 'a {
        let (cf, is_row) = (self.cf, self.row);
        let rows = store.scan(cf, self.prefix, self.prefix);
        rows.filter(move |row| row.as_ref().map_or(true, |(k, _)| is_row(k))).map(move |row| {
            let (key, raw) = row?;
            Ok(Held { value: decode(cf, &raw)?, guard: Guard { cf, key, expected: Some(raw) } })
        })
    }

    /// Every record, in key order.
    pub fn values<'a>(&self, store: &'a dyn KvStore) -> impl Iterator<Item = Result<V, StoreError>> + 'a {
        self.scan(store).map(|r| r.map(|(_, v)| v))
    }
}

impl<V: Serialize> Held<V> {
    /// The guard that the record is still what was read.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The record replaced by `v`, under the guard that it was not changed
    /// since it was read.
    pub fn replace(&self, v: &V) -> Result<Change, StoreError> {
        Ok(Change { op: Op::Put(self.guard.cf, self.guard.key.clone(), encode(v)?), guard: self.guard.clone() })
    }

    /// The record as changed by `f`, under the same guard.
    pub fn update(mut self, f: impl FnOnce(&mut V)) -> Result<(V, Change), StoreError> {
        f(&mut self.value);
        let change = self.replace(&self.value)?;
        Ok((self.value, change))
    }

    /// The record deleted, under the same guard.
    pub fn remove(&self) -> Change {
        Change { op: Op::Delete(self.guard.cf, self.guard.key.clone()), guard: self.guard.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Row {
        n: u32,
    }

    fn key(k: &str) -> Vec<u8> {
        format!("r/{k}").into_bytes()
    }

    const ROWS: Table<str, Row> = Table::new(Cf::Registers, b"r/", key);

    #[test]
    fn rows_round_trip_and_scan_in_key_order() {
        let store = MemStore::default();
        store
            .write(
                &[ROWS.put_unguarded("b", &Row { n: 2 }).unwrap(), ROWS.put_unguarded("a", &Row { n: 1 }).unwrap()],
                false,
            )
            .unwrap();
        store.write(&[Op::Put(Cf::Registers, b"x/other".to_vec(), b"not a row".to_vec())], false).unwrap();
        assert_eq!(ROWS.get(&store, "a").unwrap(), Some(Row { n: 1 }));
        assert_eq!(ROWS.get(&store, "zz").unwrap(), None);
        assert!(ROWS.contains(&store, "b").unwrap());
        let all: Vec<Row> = ROWS.values(&store).collect::<Result<_, _>>().unwrap();
        assert_eq!(all, vec![Row { n: 1 }, Row { n: 2 }]);
        assert!(ROWS.scan_under(&store, b"x/".to_vec()).next().unwrap().is_err(), "a scan outside its table");
    }

    #[test]
    fn a_held_record_changes_under_the_guard_of_what_was_read() {
        let store = MemStore::default();
        store.write(&[ROWS.put_unguarded("a", &Row { n: 1 }).unwrap()], false).unwrap();
        let held = ROWS.hold(&store, "a").unwrap().unwrap();
        let (row, change) = held.update(|r| r.n += 1).unwrap();
        assert_eq!(row, Row { n: 2 });
        assert_eq!(change.guard.expected.as_deref(), Some(&br#"{"n":1}"#[..]));
        assert_eq!(change.guard.key, b"r/a");
        let fresh = ROWS.insert("c", &Row { n: 3 }).unwrap();
        assert_eq!(fresh.guard.expected, None, "an insert is guarded on absence");
    }

    #[test]
    fn a_record_that_does_not_decode_is_an_error_that_quotes_nothing() {
        let store = MemStore::default();
        store.write(&[Op::Put(Cf::Registers, b"r/a".to_vec(), b"{\"n\":\"13800138000\"}".to_vec())], false).unwrap();
        let e = ROWS.get(&store, "a").unwrap_err().to_string();
        assert!(e.contains("registers") && !e.contains("13800138000"), "{e}");
    }

    #[test]
    fn tables_that_share_a_prefix_read_only_their_own_rows() {
        fn meta_key(k: &str) -> Vec<u8> {
            format!("s_{k}").into_bytes()
        }
        fn event_key(k: &(String, u32)) -> Vec<u8> {
            format!("s_{}/c/{}", k.0, k.1).into_bytes()
        }
        const METAS: Table<str, Row> = Table::new(Cf::Subjects, b"s_", meta_key).rows_where(|k| !k.contains(&b'/'));
        const EVENTS: Table<(String, u32), Row> =
            Table::new(Cf::Subjects, b"s_", event_key).rows_where(|k| k.windows(3).any(|w| w == b"/c/"));
        let store = MemStore::default();
        let ops = [
            METAS.put_unguarded("a", &Row { n: 1 }).unwrap(),
            EVENTS.put_unguarded(&("a".into(), 0), &Row { n: 10 }).unwrap(),
            EVENTS.put_unguarded(&("a".into(), 1), &Row { n: 11 }).unwrap(),
            METAS.put_unguarded("b", &Row { n: 2 }).unwrap(),
        ];
        store.write(&ops, false).unwrap();
        let metas: Vec<Row> = METAS.values(&store).collect::<Result<_, _>>().unwrap();
        assert_eq!(metas, vec![Row { n: 1 }, Row { n: 2 }]);
        let events: Vec<u32> = EVENTS.values(&store).map(|r| r.unwrap().n).collect();
        assert_eq!(events, vec![10, 11]);
        let held: Vec<u32> = METAS.held_rows(&store).map(|h| h.unwrap().value.n).collect();
        assert_eq!(held, vec![1, 2]);
    }
}
