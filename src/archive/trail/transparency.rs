//! The provable audit log: signed checkpoints and Merkle proofs for
//! compliance officers and outside auditors.

use super::AuditTrail;
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::checkpoint::{Checkpoint, NoteSigner};
use crate::audit::merkle::{self, Hash};
use crate::audit::subject_map::SubjectMap;
use crate::audit::{Action, Commit, Outcome, StoredTree};
use crate::crypto::MasterKey;
use crate::store::{Cf, KvStore, Op};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

pub use crate::store::keys::CHECKPOINT_VERIFIER_KEY as VERIFIER_KEY;
use crate::store::keys::{CHECKPOINT_ORIGIN as ORIGIN_KEY, CHECKPOINT_SIGNING_KEY as SIGNING_KEY};

/// The checkpoint extension line naming the subject map's root.
pub const MAP_EXTENSION: &str = "map";

/// Loads the checkpoint signer, creating it (and the log's origin) on first
/// use. The seed is stored only wrapped by the master key.
pub(in crate::archive) fn load_signer(store: &dyn KvStore, master: &MasterKey) -> anyhow::Result<NoteSigner> {
    if let (Some(origin), Some(wrapped)) = (store.get(Cf::System, ORIGIN_KEY)?, store.get(Cf::Keys, SIGNING_KEY)?) {
        let origin = String::from_utf8(origin)?;
        let seed = master.unwrap_secret(&wrapped)?;
        let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| anyhow::anyhow!("checkpoint key malformed"))?;
        return Ok(NoteSigner::from_seed(&origin, &seed)?);
    }
    let origin = format!("custos/{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
    let signer = NoteSigner::from_seed(&origin, &seed)?;
    store.write(
        &[
            Op::Put(Cf::Keys, SIGNING_KEY.to_vec(), master.wrap_secret(seed.as_ref())?),
            Op::Put(Cf::System, ORIGIN_KEY.to_vec(), origin.into_bytes()),
            Op::Put(Cf::System, VERIFIER_KEY.to_vec(), signer.verifier_key().into_bytes()),
        ],
        true,
    )?;
    Ok(signer)
}

/// What checking an entry's inclusion proof against the signed checkpoint
/// found (`entry_proof_verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofVerdict {
    /// The proof verifies against the checkpoint of this size, with this many hashes.
    Verified { tree_size: u64, hashes: usize },
    /// A proof was made for this tree size and does not verify.
    Fails { tree_size: u64 },
    /// The checkpoint itself does not open with the published verifier key.
    BadCheckpoint,
}

#[derive(Debug, Clone)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub hashes: Vec<Hash>,
}

impl AuditTrail {
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// A signed checkpoint of the log as it is now, with the subject map's
    /// root (`map <base64>`) at the same size.
    pub fn checkpoint_note(&self) -> Result<(u64, String), ArchiveError> {
        self.with_subject_map(|map| {
            let (cp, note) = self.sign_checkpoint(map)?;
            Ok((cp.size, note))
        })
    }

    /// Runs `f` on the subject map, loaded on first use, while no other
    /// checkpoint is made.
    pub(super) fn with_subject_map<T>(
        &self,
        f: impl FnOnce(&mut SubjectMap) -> Result<T, ArchiveError>,
    ) -> Result<T, ArchiveError> {
        let mut guard = self.subject_map.lock().map_err(|_| anyhow::anyhow!("the subject map's lock is poisoned"))?;
        if guard.is_none() {
            *guard = Some(SubjectMap::load(self.store.as_ref(), self.signer.name())?);
        }
        match guard.as_mut() {
            Some(map) => f(map),
            None => Err(anyhow::anyhow!("the subject map did not load").into()),
        }
    }

    /// Brings `map` up to the log's head and signs the checkpoint there.
    pub(super) fn sign_checkpoint(&self, map: &mut SubjectMap) -> Result<(Checkpoint, String), ArchiveError> {
        let size = self.audit.head().next_seq;
        let root = merkle::root(&StoredTree(self.store.as_ref()), size).map_err(anyhow::Error::msg)?;
        map.advance(self.store.as_ref(), size)?;
        let mut cp = Checkpoint::new(self.signer.name(), size, root);
        cp.extensions.push(format!("{MAP_EXTENSION} {}", B64.encode(map.root())));
        let note = self.signer.sign(&cp.body());
        Ok((cp, note))
    }

    async fn audit_read(&self, ctx: &RequestCtx, resource: &str) -> Result<u64, ArchiveError> {
        self.audited_proof(ctx, resource, |_| Ok(())).await
    }

    /// Audits a request for the log's proofs: refused with an error entry
    /// when `in_range` refuses its sizes against the log as it will be with
    /// this request's entry (which the proofs may cover), allowed otherwise.
    /// The log's size once the allowing entry is written: never smaller
    /// than the size `in_range` was given.
    async fn audited_proof(
        &self,
        ctx: &RequestCtx,
        resource: &str,
        in_range: impl FnOnce(u64) -> Result<(), ArchiveError>,
    ) -> Result<u64, ArchiveError> {
        self.gate.require_audit_read(ctx, super::audit_log::ACTION, resource).await?;
        if let Err(e) = in_range(self.audit.head().next_seq + 1) {
            let entry = ctx.entry(Action::AuditQuery, resource, Outcome::Error, "proof sizes out of range");
            return self.gate.refuse(entry, e).await;
        }
        let seqs =
            self.audit.commit(Commit::entry(ctx.entry(Action::AuditQuery, resource, Outcome::Allow, "proof"))).await?;
        Ok(seqs.last().map_or(0, |s| s + 1))
    }

    /// The current signed checkpoint (compliance; audited, and the entry
    /// recording this request is inside the checkpoint).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn checkpoint(&self, ctx: &RequestCtx) -> Result<String, ArchiveError> {
        self.audit_read(ctx, Resource::AuditCheckpoint.as_str()).await?;
        Ok(self.checkpoint_note()?.1)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn inclusion_proof(
        &self,
        ctx: &RequestCtx,
        seq: u64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof, ArchiveError> {
        let in_range = |size: u64| {
            let tree_size = tree_size.unwrap_or(size);
            if tree_size > size {
                return Err(ArchiveError::NotFound(format!("a tree of size {tree_size} (the log has {size} entries)")));
            }
            if seq >= tree_size {
                return Err(ArchiveError::BadRequest(format!(
                    "need seq < tree_size <= {size} (the current tree size)"
                )));
            }
            Ok(())
        };
        let size_now = self.audited_proof(ctx, Resource::AuditProofs.as_str(), in_range).await?;
        let tree_size = tree_size.unwrap_or(size_now);
        let hashes =
            merkle::inclusion_proof(&StoredTree(self.store.as_ref()), seq, tree_size).map_err(anyhow::Error::msg)?;
        Ok(InclusionProof { leaf_index: seq, tree_size, hashes })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn consistency_proof(&self, ctx: &RequestCtx, from: u64, to: u64) -> Result<Vec<Hash>, ArchiveError> {
        let in_range = |size: u64| {
            if to > size {
                return Err(ArchiveError::NotFound(format!("a tree of size {to} (the log has {size} entries)")));
            }
            if from == 0 || from > to {
                return Err(ArchiveError::BadRequest(format!(
                    "need 1 <= from <= to <= {size} (the current tree size)"
                )));
            }
            Ok(())
        };
        self.audited_proof(ctx, Resource::AuditProofs.as_str(), in_range).await?;
        Ok(merkle::consistency_proof(&StoredTree(self.store.as_ref()), from, to).map_err(anyhow::Error::msg)?)
    }
}

/// How many numbered checkpoint files are kept (the newest; `latest.note`
/// is always there). Auditors copy them out; the log itself keeps proving
/// consistency with any older one they kept.
const KEEP_CHECKPOINTS: usize = 1000;

impl AuditTrail {
    /// Writes the current signed checkpoint to `dir` as `<size>.note` and
    /// `latest.note` when the tree grew since `last`; returns the size.
    pub fn write_checkpoint_file(&self, dir: &std::path::Path, last: Option<u64>) -> anyhow::Result<u64> {
        let (size, note) = self.checkpoint_note()?;
        if last == Some(size) {
            return Ok(size);
        }
        std::fs::create_dir_all(dir)?;
        for name in [format!("{size:020}.note"), "latest.note".to_owned()] {
            let tmp = dir.join(format!(".{name}.tmp"));
            {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(note.as_bytes())?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, dir.join(&name))?;
        }
        let mut numbered: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().is_some_and(|n| n.to_string_lossy().chars().next().is_some_and(|c| c.is_ascii_digit()))
            })
            .collect();
        if numbered.len() > KEEP_CHECKPOINTS {
            numbered.sort();
            for old in &numbered[..numbered.len() - KEEP_CHECKPOINTS] {
                let _ = std::fs::remove_file(old);
            }
        }
        Ok(size)
    }

    /// Checks the entry `raw` (entry `seq`) against a signed checkpoint of
    /// the log as it is now, with the published verifier key: what the
    /// console shows beside an entry. Each step is audited as the API's.
    pub async fn entry_proof_verdict(
        &self,
        ctx: &RequestCtx,
        seq: u64,
        raw: &[u8],
    ) -> Result<ProofVerdict, ArchiveError> {
        use crate::audit::checkpoint::NoteVerifier;
        let note = self.checkpoint(ctx).await?;
        let Ok(cp) = NoteVerifier::parse(&self.verifier_key()).and_then(|v| v.open_checkpoint(&note)) else {
            return Ok(ProofVerdict::BadCheckpoint);
        };
        let proof = self.inclusion_proof(ctx, seq, Some(cp.size)).await?;
        Ok(if merkle::verify_inclusion(seq, cp.size, &merkle::leaf_hash(raw), &proof.hashes, &cp.root) {
            ProofVerdict::Verified { tree_size: cp.size, hashes: proof.hashes.len() }
        } else {
            ProofVerdict::Fails { tree_size: cp.size }
        })
    }
}
