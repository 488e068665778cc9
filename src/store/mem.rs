//! In-memory store for unit tests.

use super::{Cf, KvIter, KvPair, KvStore, Op, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

/// One column family: key → value, in key order.
type Table = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Default)]
pub struct MemStore {
    cfs: RwLock<HashMap<Cf, Table>>,
    hooks: super::hooks::Hooks,
}

impl MemStore {
    fn poisoned() -> StoreError {
        StoreError::Backend("memory store lock poisoned".into())
    }
}

impl KvStore for MemStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cfs = self.cfs.read().map_err(|_| Self::poisoned())?;
        Ok(cfs.get(&cf).and_then(|m| m.get(key).cloned()))
    }

    fn write(&self, ops: &[Op], _durable: bool) -> Result<(), StoreError> {
        let mut cfs = self.cfs.write().map_err(|_| Self::poisoned())?;
        for op in ops {
            match op {
                Op::Put(cf, k, v) => {
                    cfs.entry(*cf).or_default().insert(k.clone(), v.clone());
                }
                Op::Delete(cf, k) => {
                    cfs.entry(*cf).or_default().remove(k);
                }
            }
        }
        drop(cfs);
        self.hooks.call(ops);
        Ok(())
    }

    fn on_write(&self, hook: super::hooks::WriteHook) -> bool {
        self.hooks.add(hook);
        true
    }

    fn scan<'a>(&'a self, cf: Cf, prefix: &[u8], from: &[u8]) -> KvIter<'a> {
        let rows: Vec<Result<KvPair, StoreError>> = match self.cfs.read() {
            Ok(cfs) => cfs
                .get(&cf)
                .map(|m| {
                    m.range(from.to_vec()..)
                        .take_while(|(k, _)| k.starts_with(prefix))
                        .map(|(k, v)| Ok((k.clone(), v.clone())))
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => vec![Err(Self::poisoned())],
        };
        Box::new(rows.into_iter())
    }

    fn first(&self, cf: Cf, prefix: &[u8], from: &[u8]) -> Result<Option<KvPair>, StoreError> {
        let cfs = self.cfs.read().map_err(|_| Self::poisoned())?;
        Ok(cfs
            .get(&cf)
            .and_then(|m| m.range(from.to_vec()..).next())
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone())))
    }

    fn last(&self, cf: Cf) -> Result<Option<KvPair>, StoreError> {
        let cfs = self.cfs.read().map_err(|_| Self::poisoned())?;
        Ok(cfs.get(&cf).and_then(|m| m.iter().next_back().map(|(k, v)| (k.clone(), v.clone()))))
    }

    fn purge(&self, _cf: Cf) -> Result<(), StoreError> {
        Ok(())
    }
}
