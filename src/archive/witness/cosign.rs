//! The witness role: `add-checkpoint` (C2SP tlog-witness).
//!
//! No bearer token: the log's signature on the checkpoint is the
//! authentication. What fails before that signature verifies (a malformed
//! body, an unknown origin, a bad signature) is counted per address and
//! minute like a failed sign-in (`auth.fail`, and the alert on a burst),
//! never written one entry per request; what a log that signed the
//! checkpoint submits is audited, cosigned or refused (`witness.cosign`).

use super::records::{Seen, SEEN};
use super::Witness;
use crate::archive::{ArchiveError, Resource};
use crate::audit::checkpoint::CheckpointError;
use crate::audit::merkle::{self, Hash};
use crate::audit::tlog_witness::AddCheckpoint;
use crate::audit::{Action, Commit, CommitError, EntryBody, Outcome};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// Why a submission is not cosigned, with the status the spec gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the body or the checkpoint is malformed, or the old size is
    /// larger than the checkpoint's.
    Malformed(&'static str),
    /// 403: no signature by the log's key verifies.
    BadSignature,
    /// 404: not a log this witness witnesses.
    UnknownOrigin,
    /// 409: the old size is not the size last cosigned (the answer's body),
    /// or the same size with another root hash.
    Conflict { known: u64 },
    /// 422: the consistency proof does not verify.
    BadProof,
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) => 400,
            Refusal::BadSignature => 403,
            Refusal::UnknownOrigin => 404,
            Refusal::Conflict { .. } => 409,
            Refusal::BadProof => 422,
        }
    }
}

/// How many times a submission is checked again when another one for the
/// same log committed in between.
const RETRIES: usize = 8;

impl Witness {
    /// `POST <prefix>/add-checkpoint`: the cosignature line(s) on the
    /// submitted checkpoint, or why not. `source` is the client's address
    /// (counted when the submission is not authenticated by a signature).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn add_checkpoint(
        &self,
        body: &[u8],
        source: Option<std::net::IpAddr>,
        request_id: &str,
    ) -> Result<Result<String, Refusal>, ArchiveError> {
        let unauthenticated = |r: Refusal| {
            self.identity.note_auth_failure(source);
            Ok(Err(r))
        };
        let req = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(why) => return unauthenticated(Refusal::Malformed(why)),
        };
        let origin = req.note.split('\n').next().unwrap_or_default();
        let Some(verifier) = self.logs.get(origin) else { return unauthenticated(Refusal::UnknownOrigin) };
        let text = match verifier.open(&req.note) {
            Ok(t) => t,
            Err(CheckpointError::Malformed(why)) => return unauthenticated(Refusal::Malformed(why)),
            Err(_) => return unauthenticated(Refusal::BadSignature),
        };
        let cp = match crate::audit::checkpoint::Checkpoint::parse_body(text) {
            Ok(cp) => cp,
            Err(_) => return unauthenticated(Refusal::Malformed("checkpoint body")),
        };
        // From here the log signed what it sent: every answer is audited.
        let resource = format!("{}/{}", Resource::Witness.as_str(), cp.origin);
        let entry = |outcome: Outcome, reason: String| EntryBody {
            outcome,
            request_id: request_id.to_owned(),
            ..EntryBody::system(Action::WitnessCosign, &resource, reason)
        };
        if req.old_size > cp.size {
            let why = format!("old size {} is larger than the checkpoint's {}", req.old_size, cp.size);
            self.audit.commit(Commit::entry(entry(Outcome::Deny, why))).await?;
            return Ok(Err(Refusal::Malformed("old size larger than the checkpoint")));
        }
        for _ in 0..RETRIES {
            let held = SEEN.hold(self.store.as_ref(), &cp.origin)?;
            let known = held.as_ref().map(|h| h.value.clone());
            if let Err((refusal, why)) = check(&req, cp.size, &cp.root, known.as_ref()) {
                self.audit.commit(Commit::entry(entry(Outcome::Deny, why.clone()))).await?;
                if matches!(refusal, Refusal::BadProof)
                    || matches!(refusal, Refusal::Conflict { known } if known == req.old_size)
                {
                    // Signed by the log and inconsistent with what it showed
                    // before: evidence of a fork (or a restored log).
                    self.alert("witness_log_fork", format!("log {}: {why}", cp.origin)).await;
                }
                return Ok(Err(refusal));
            }
            let now = u64::try_from(self.clock.now().unix_timestamp()).unwrap_or(0);
            let line = self.cosigner.cosign(text, now).map_err(|e| ArchiveError::Internal(e.into()))?;
            let seen = Seen { size: cp.size, root: B64.encode(cp.root), cosigned_at: now };
            let change = match &held {
                Some(h) => h.replace(&seen)?,
                None => SEEN.insert(&cp.origin, &seen)?,
            };
            let why = format!("cosigned tree size {} (from {})", cp.size, req.old_size);
            match self.audit.commit(Commit::guarded(change, vec![], entry(Outcome::Allow, why))).await {
                Ok(_) => return Ok(Ok(line)),
                Err(CommitError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ArchiveError::Conflict("the log's witness state kept changing; retry".into()))
    }
}

/// The spec's checks of a signed submission against the tree last
/// cosigned (`None`: never): the refusal and, for the audit entry, why.
fn check(req: &AddCheckpoint, size: u64, root: &Hash, known: Option<&Seen>) -> Result<(), (Refusal, String)> {
    let known_size = known.map_or(0, |k| k.size);
    if req.old_size != known_size {
        let why = format!("old size {} is not the size last cosigned, {known_size}", req.old_size);
        return Err((Refusal::Conflict { known: known_size }, why));
    }
    let Some(known) = known else {
        // Never cosigned: the first checkpoint is taken as it is, with no proof.
        if !req.proof.is_empty() {
            return Err((Refusal::BadProof, "a proof from size 0 must be empty".into()));
        }
        return Ok(());
    };
    let known_root: Hash = B64
        .decode(&known.root)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or_else(|| (Refusal::BadProof, "the stored root is unreadable".to_owned()))?;
    if size == known.size {
        if *root != known_root {
            let why = format!("tree size {size} with another root hash than the one cosigned");
            return Err((Refusal::Conflict { known: known.size }, why));
        }
        return Ok(());
    }
    if !merkle::verify_consistency(known.size, size, &req.proof, &known_root, root) {
        let why = format!("the consistency proof from {} to {size} does not verify", known.size);
        return Err((Refusal::BadProof, why));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(old: u64, proof: Vec<Hash>) -> AddCheckpoint {
        AddCheckpoint { old_size: old, proof, note: String::new() }
    }

    #[test]
    fn the_specs_checks_in_order() {
        let leaves: Vec<Hash> = (0u8..8).map(|i| merkle::leaf_hash(&[i])).collect();
        let mut tree = merkle::Frontier::default();
        let mut roots = vec![merkle::empty_root()];
        for l in &leaves {
            tree.append(*l);
            roots.push(tree.root());
        }
        let seen = |n: usize| Seen { size: n as u64, root: B64.encode(roots[n]), cosigned_at: 0 };
        // First sight: old 0 with no proof; a proof is refused.
        assert_eq!(check(&req(0, vec![]), 5, &roots[5], None), Ok(()));
        assert_eq!(check(&req(0, vec![[0u8; 32]]), 5, &roots[5], None).unwrap_err().0, Refusal::BadProof);
        // A stale or invented old size: 409 with the size known.
        assert_eq!(check(&req(3, vec![]), 5, &roots[5], None).unwrap_err().0, Refusal::Conflict { known: 0 });
        assert_eq!(check(&req(0, vec![]), 7, &roots[7], Some(&seen(5))).unwrap_err().0, Refusal::Conflict { known: 5 });
        // The same size: the same root, or a fork.
        assert_eq!(check(&req(5, vec![]), 5, &roots[5], Some(&seen(5))), Ok(()));
        assert_eq!(check(&req(5, vec![]), 5, &roots[4], Some(&seen(5))).unwrap_err().0, Refusal::Conflict { known: 5 });
        // Growth: a proof that verifies, and one that does not.
        let proof = merkle::consistency_proof(&merkle::Leaves(leaves.clone()), 5, 8).unwrap();
        assert_eq!(check(&req(5, proof.clone()), 8, &roots[8], Some(&seen(5))), Ok(()));
        assert_eq!(check(&req(5, proof), 8, &roots[7], Some(&seen(5))).unwrap_err().0, Refusal::BadProof);
        assert_eq!(check(&req(5, vec![]), 8, &roots[8], Some(&seen(5))).unwrap_err().0, Refusal::BadProof);
    }
}
