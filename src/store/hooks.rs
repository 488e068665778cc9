//! Hooks called after every committed write with its ops: how views
//! derived from the records and kept in memory (`archive::kept`) learn
//! which of their rows to read again, without reading the WAL back.

use super::Op;
use std::sync::{PoisonError, RwLock};

/// Called after a write is committed (visible to every later read), with
/// its ops. Must be cheap: it runs on the writer's thread.
pub type WriteHook = Box<dyn Fn(&[Op]) + Send + Sync>;

/// A store's hooks.
#[derive(Default)]
pub struct Hooks(RwLock<Vec<WriteHook>>);

impl Hooks {
    pub fn add(&self, hook: WriteHook) {
        self.0.write().unwrap_or_else(PoisonError::into_inner).push(hook);
    }

    /// Calls every hook on a committed write's ops.
    pub fn call(&self, ops: &[Op]) {
        for hook in self.0.read().unwrap_or_else(PoisonError::into_inner).iter() {
            hook(ops);
        }
    }
}
