//! The group-commit writer.
//!
//! One thread owns the chain head. Callers send a [`Commit`] (the ops of a
//! change plus the audit entries that describe it); the thread takes every
//! commit waiting, assigns sequence numbers, times and chain hashes, and
//! writes all of them in ONE synced RocksDB batch. A reply therefore means
//! durable, and many concurrent requests share one fsync.
//!
//! Optimistic concurrency: a commit may carry a [`Guard`] (the value a key
//! must still have). A commit whose guard fails writes its `on_conflict`
//! entries instead of its ops and entries, and answers `Conflict`.

use super::chain::ChainHead;
use super::entry::{hash_entry, AuditEntry, EntryBody};
use super::merkle::{leaf_hash, Frontier};
use super::{entry_key, node_key, StoredTree, HEAD_KEY};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::{Cf, Guard, KvStore, Op};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 1024;
const QUEUE: usize = 8192;

#[derive(Debug, Default)]
pub struct Commit {
    pub ops: Vec<Op>,
    pub entries: Vec<EntryBody>,
    pub guard: Option<Guard>,
    pub on_conflict: Vec<EntryBody>,
}

impl Commit {
    /// An audit entry alone (a read, a refusal).
    pub fn entry(entry: EntryBody) -> Self {
        Commit { entries: vec![entry], ..Default::default() }
    }

    /// A change and the entry that records it.
    pub fn change(ops: Vec<Op>, entry: EntryBody) -> Self {
        Commit { ops, entries: vec![entry], ..Default::default() }
    }

    /// A guarded change to one record (a compare-and-set, see
    /// `store::Table::hold`), other ops that go with it, and the entry that
    /// records it.
    pub fn guarded(change: crate::store::Change, more: Vec<Op>, entry: EntryBody) -> Self {
        let mut ops = vec![change.op];
        ops.extend(more);
        Commit { ops, entries: vec![entry], guard: Some(change.guard), on_conflict: vec![] }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CommitError {
    #[error("the guarded value changed")]
    Conflict,
    #[error("audit log unavailable: {0}")]
    Unavailable(String),
}

struct Job {
    commit: Commit,
    reply: oneshot::Sender<Result<Vec<u64>, CommitError>>,
}

pub struct AuditWriter {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    policy_hash: Arc<RwLock<String>>,
    head: Arc<RwLock<ChainHead>>,
    observer: Observer,
}

/// The Merkle right edge for `size` entries; rebuilt from the entries (and
/// the nodes written) when a data directory predates the tree.
fn load_or_rebuild_tree(store: &dyn KvStore, size: u64) -> anyhow::Result<Frontier> {
    if let Ok(f) = Frontier::load(&StoredTree(store), size) {
        return Ok(f);
    }
    tracing::info!(entries = size, "building the audit Merkle tree");
    let mut f = Frontier::default();
    let mut ops = Vec::new();
    let mut failed = None;
    store.for_each(Cf::Audit, b"", &mut |_, raw| {
        for (level, index, hash) in f.append(leaf_hash(raw)) {
            ops.push(Op::Put(Cf::Merkle, node_key(level, index).to_vec(), hash.to_vec()));
        }
        if ops.len() >= 100_000 {
            if let Err(e) = store.write(&std::mem::take(&mut ops), false) {
                failed = Some(e);
                return false;
            }
        }
        f.size() < size
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    store.write(&ops, true)?;
    anyhow::ensure!(f.size() == size, "audit log has {} entries but its head records {size}", f.size());
    Ok(f)
}

impl AuditWriter {
    pub fn start(
        store: Arc<dyn KvStore>,
        clock: Arc<dyn Clock>,
        policy_hash: String,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let head = match store.get(Cf::System, HEAD_KEY)? {
            Some(b) => ChainHead::decode(&b).ok_or_else(|| anyhow::anyhow!("audit chain head record is malformed"))?,
            None => ChainHead::GENESIS,
        };
        let frontier = load_or_rebuild_tree(store.as_ref(), head.next_seq)?;
        super::index::ensure(store.as_ref(), head.next_seq)?;
        let head = Arc::new(RwLock::new(head));
        let policy_hash = Arc::new(RwLock::new(policy_hash));
        let observer: Observer = Arc::default();
        let (tx, rx) = mpsc::channel(QUEUE);
        let state = WriterState {
            store,
            clock,
            metrics,
            policy_hash: policy_hash.clone(),
            head: head.clone(),
            last_time: OffsetDateTime::UNIX_EPOCH,
            frontier,
            observer: observer.clone(),
        };
        let thread = std::thread::Builder::new().name("audit-writer".into()).spawn(move || state.run(rx))?;
        Ok(AuditWriter { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), policy_hash, head, observer })
    }

    /// Commits durably; returns the sequence numbers of the entries written.
    pub async fn commit(&self, commit: Commit) -> Result<Vec<u64>, CommitError> {
        let tx = self
            .tx
            .lock()
            .ok()
            .and_then(|t| t.clone())
            .ok_or_else(|| CommitError::Unavailable("writer stopped".into()))?;
        let (reply, rx) = oneshot::channel();
        tx.send(Job { commit, reply }).await.map_err(|_| CommitError::Unavailable("writer stopped".into()))?;
        rx.await.map_err(|_| CommitError::Unavailable("writer stopped".into()))?
    }

    /// For callers outside the async runtime (CLI, start-up).
    pub fn commit_blocking(&self, commit: Commit) -> Result<Vec<u64>, CommitError> {
        futures::executor::block_on(self.commit(commit))
    }

    /// Sends every entry, once durable, to `tx` (the alert engine).
    pub fn set_observer(&self, tx: std::sync::mpsc::Sender<Vec<AuditEntry>>) {
        if let Ok(mut o) = self.observer.lock() {
            *o = Some(tx);
        }
    }

    /// Whether commits are still accepted (the writer thread is alive).
    pub fn is_running(&self) -> bool {
        let open = self.tx.lock().map(|t| t.as_ref().is_some_and(|t| !t.is_closed())).unwrap_or(false);
        let alive = self.thread.lock().map(|t| t.as_ref().is_some_and(|t| !t.is_finished())).unwrap_or(false);
        open && alive
    }

    pub fn head(&self) -> ChainHead {
        self.head.read().map(|h| *h).unwrap_or(ChainHead::GENESIS)
    }

    pub fn policy_hash(&self) -> String {
        self.policy_hash.read().map(|h| h.clone()).unwrap_or_default()
    }

    /// Stops accepting commits, drains the queue and joins the thread; the
    /// observer's channel closes, which stops the alert engine.
    pub fn shutdown(&self) {
        if let Ok(mut o) = self.observer.lock() {
            o.take();
        }
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct WriterState {
    store: Arc<dyn KvStore>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    policy_hash: Arc<RwLock<String>>,
    head: Arc<RwLock<ChainHead>>,
    last_time: OffsetDateTime,
    /// Right edge of the Merkle tree, always at `head.next_seq` leaves.
    frontier: Frontier,
    observer: Observer,
}

/// Receives every entry once it is durable (the alert engine).
type Observer = Arc<Mutex<Option<std::sync::mpsc::Sender<Vec<AuditEntry>>>>>;

type Overlay = HashMap<(Cf, Vec<u8>), Option<Vec<u8>>>;

impl WriterState {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            self.write_batch(jobs);
        }
    }

    fn write_batch(&mut self, mut jobs: Vec<Job>) {
        let started = std::time::Instant::now();
        let mut head = self.head.read().map(|h| *h).unwrap_or(ChainHead::GENESIS);
        // INVARIANT: entry times never go backwards along the chain.
        let now = self.clock.now().max(self.last_time);
        let now = now.replace_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now);
        let policy_hash = self.policy_hash.read().map(|h| h.clone()).unwrap_or_default();
        let mut ops = Vec::new();
        let frontier_before = self.frontier.clone();
        let observe = self.observer.lock().map(|o| o.is_some()).unwrap_or(false);
        let mut written = Vec::new();
        let mut overlay = Overlay::new();
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs.iter_mut() {
            let commit = &mut job.commit;
            let passed = match &commit.guard {
                None => Ok(true),
                Some(g) => self.check(g, &overlay),
            };
            let entries = match passed {
                Ok(true) => {
                    for op in std::mem::take(&mut commit.ops) {
                        let value = match &op {
                            Op::Put(_, _, v) => Some(v.clone()),
                            Op::Delete(..) => None,
                        };
                        let (cf, key) = op.target();
                        overlay.insert((cf, key.to_vec()), value);
                        ops.push(op);
                    }
                    std::mem::take(&mut commit.entries)
                }
                Ok(false) => std::mem::take(&mut commit.on_conflict),
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let mut seqs = Vec::with_capacity(entries.len());
            for p in entries {
                let e = AuditEntry {
                    seq: head.next_seq,
                    time: now,
                    prev_hash: head.last_hash,
                    policy_hash: policy_hash.clone(),
                    body: p,
                };
                let raw = e.encode();
                head = ChainHead { next_seq: head.next_seq + 1, last_hash: hash_entry(&raw) };
                for (level, index, hash) in self.frontier.append(leaf_hash(&raw)) {
                    ops.push(Op::Put(Cf::Merkle, node_key(level, index).to_vec(), hash.to_vec()));
                }
                ops.push(Op::Put(Cf::Audit, entry_key(e.seq).to_vec(), raw));
                ops.extend(super::index::ops(&e));
                seqs.push(e.seq);
                if observe {
                    written.push(e);
                }
            }
            results.push(if matches!(passed, Ok(true)) { Ok(seqs) } else { Err(CommitError::Conflict) });
        }
        ops.push(Op::Put(Cf::System, HEAD_KEY.to_vec(), head.encode()));
        let sync_started = std::time::Instant::now();
        match self.store.write(&ops, true) {
            Ok(()) => {
                if let Ok(mut h) = self.head.write() {
                    *h = head;
                }
                self.last_time = now;
                self.metrics.record_commit(jobs.len(), started.elapsed(), sync_started.elapsed());
                if !written.is_empty() {
                    if let Some(tx) = self.observer.lock().ok().and_then(|o| o.clone()) {
                        let _ = tx.send(written);
                    }
                }
            }
            Err(e) => {
                // Fail closed: nobody gets an acknowledgement, the head stays.
                tracing::error!(error = %e, "audit batch write failed");
                self.frontier = frontier_before;
                let err = CommitError::Unavailable("audit log write failed".into());
                results = jobs.iter().map(|_| Err(err.clone())).collect();
            }
        }
        for (job, result) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }

    fn check(&self, g: &Guard, overlay: &Overlay) -> Result<bool, CommitError> {
        let current = match overlay.get(&(g.cf, g.key.clone())) {
            Some(v) => v.clone(),
            None => self.store.get(g.cf, &g.key).map_err(|e| CommitError::Unavailable(e.to_string()))?,
        };
        Ok(current == g.expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{verify, Outcome};
    use crate::clock::SystemClock;
    use crate::store::MemStore;

    fn pending(action: &str) -> EntryBody {
        EntryBody {
            actor: "prn_x".into(),
            roles: vec![],
            action: action.into(),
            resource: "r".into(),
            subjects: vec![],
            purpose: String::new(),
            outcome: Outcome::Allow,
            reason: String::new(),
            released: vec![],
            masked: vec![],
            withheld: vec![],
            request_id: "req".into(),
            token_id: String::new(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_form_one_verifiable_chain() {
        let store: Arc<dyn KvStore> = Arc::new(MemStore::default());
        let w = Arc::new(
            AuditWriter::start(store.clone(), Arc::new(SystemClock), "p".into(), Arc::new(Metrics::default())).unwrap(),
        );
        let mut tasks = vec![];
        for i in 0..200 {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                w.commit(Commit { entries: vec![pending(&format!("a{i}"))], ..Default::default() }).await.unwrap()
            }));
        }
        let mut seqs: Vec<u64> = vec![];
        for t in tasks {
            seqs.extend(t.await.unwrap());
        }
        seqs.sort();
        assert_eq!(seqs, (0..200).collect::<Vec<_>>());
        let head = w.head();
        let report = verify(store.scan(Cf::Audit, b"", b""), Some(head), |_| {}).unwrap();
        assert_eq!(report.entries, 200);
    }

    #[tokio::test]
    async fn guard_conflict_writes_the_conflict_entry_only() {
        let store: Arc<dyn KvStore> = Arc::new(MemStore::default());
        let w =
            AuditWriter::start(store.clone(), Arc::new(SystemClock), "p".into(), Arc::new(Metrics::default())).unwrap();
        let guard = Guard { cf: Cf::Dossiers, key: b"d".to_vec(), expected: None };
        let ok = w
            .commit(Commit {
                ops: vec![Op::Put(Cf::Dossiers, b"d".to_vec(), b"1".to_vec())],
                entries: vec![pending("create")],
                guard: Some(guard.clone()),
                on_conflict: vec![pending("conflict")],
            })
            .await;
        assert_eq!(ok, Ok(vec![0]));
        let second = w
            .commit(Commit {
                ops: vec![Op::Put(Cf::Dossiers, b"d".to_vec(), b"2".to_vec())],
                entries: vec![pending("create")],
                guard: Some(guard),
                on_conflict: vec![pending("conflict")],
            })
            .await;
        assert_eq!(second, Err(CommitError::Conflict));
        assert_eq!(store.get(Cf::Dossiers, b"d").unwrap().unwrap(), b"1");
        let last = AuditEntry::decode(&store.get(Cf::Audit, &entry_key(1)).unwrap().unwrap()).unwrap();
        assert_eq!(last.body.action, "conflict");
    }
}
