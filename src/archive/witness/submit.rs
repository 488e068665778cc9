//! The log side: each new checkpoint to the witnesses configured, with a
//! consistency proof from the size each last cosigned; their cosignatures
//! verified against the configured keys and kept; the cosigned checkpoint
//! served and written beside the signed ones.

use super::records::{CosignedNote, Given, COSIGNED, GIVEN};
use super::{client, Peer, Witness};
use crate::archive::{ArchiveError, RequestCtx, Resource};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::cosignature::split_note;
use crate::audit::tlog_witness::{parse_size_body, AddCheckpoint, SIZE_MEDIA_TYPE};
use crate::audit::{merkle, Action, Commit, CommitError, EntryBody, Outcome, StoredTree};

/// What one witness made of this log's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// It had cosigned this very checkpoint before.
    Kept,
    /// It cosigned it now.
    Cosigned,
    /// It could not be reached, or answered what the protocol does not.
    Unavailable(String),
    /// It refused the checkpoint (its status).
    Refused(u16),
    /// It has seen a tree of this log that this one is not consistent
    /// with (a larger or different one): a fork, or a restored log.
    Fork(String),
}

/// One attempt's outcome.
enum Attempt {
    Line(String, u64),
    /// A 409 naming the size the witness last cosigned.
    Known(u64),
    Failed(Submission),
}

impl Witness {
    /// Submits the log's current checkpoint to every witness configured
    /// and keeps what they cosign; writes `latest.cosigned.note` in `dir`
    /// when at least one did. Each witness's outcome, by name.
    pub async fn submit_checkpoint(&self, dir: &std::path::Path) -> anyhow::Result<Vec<(String, Submission)>> {
        if self.peers.is_empty() {
            return Ok(Vec::new());
        }
        // Signing brings the subject map up to date: off the async workers.
        let trail = self.trail.clone();
        let (size, note) = tokio::task::spawn_blocking(move || trail.checkpoint_note()).await??;
        let (report, cosigned) = self.cosign_note(size, &note).await?;
        if let Some(c) = cosigned.filter(|_| report.iter().any(|(_, s)| *s == Submission::Cosigned)) {
            write_file(dir, &c.note)?;
        }
        Ok(report)
    }

    /// Submits `note`, this log's signed checkpoint of `size`, to every
    /// witness configured: each one's outcome, and the note with the
    /// cosignatures of those that have cosigned it (`None` when none has),
    /// kept as the latest cosigned checkpoint when one is new.
    pub async fn cosign_note(
        &self,
        size: u64,
        note: &str,
    ) -> anyhow::Result<(Vec<(String, Submission)>, Option<CosignedNote>)> {
        let (body, _) = split_note(note)?;
        let cp = Checkpoint::parse_body(body)?;
        let rounds = self.peers.iter().map(|peer| self.submit_to(peer, &cp, body, note));
        let outcomes = futures::future::join_all(rounds).await;
        let mut lines = String::new();
        let mut witnesses = Vec::new();
        let mut report = Vec::new();
        for (peer, outcome) in self.peers.iter().zip(outcomes) {
            let name = peer.verifier.name().to_owned();
            if matches!(outcome, Submission::Kept | Submission::Cosigned) {
                if let Some(given) = GIVEN.get(self.store.as_ref(), &name)?.filter(|g| g.body == body) {
                    lines.push_str(&given.line);
                    witnesses.push(name.clone());
                }
            }
            self.note_outcome(&name, size, &outcome).await;
            report.push((name, outcome));
        }
        if witnesses.is_empty() {
            return Ok((report, None));
        }
        let cosigned = CosignedNote { size, note: format!("{note}{lines}"), witnesses };
        if report.iter().any(|(_, s)| *s == Submission::Cosigned) {
            self.keep_cosigned(&cosigned).await?;
        }
        Ok((report, Some(cosigned)))
    }

    async fn submit_to(&self, peer: &Peer, cp: &Checkpoint, body: &str, note: &str) -> Submission {
        let name = peer.verifier.name();
        let given = match GIVEN.get(self.store.as_ref(), name) {
            Ok(g) => g,
            Err(e) => return Submission::Unavailable(format!("reading what it cosigned: {e}")),
        };
        if given.as_ref().is_some_and(|g| g.body == body) {
            return Submission::Kept;
        }
        let mut old = given.as_ref().map_or(0, |g| g.size);
        for second in [false, true] {
            match self.attempt(peer, cp, body, note, old).await {
                Attempt::Line(line, timestamp) => {
                    let given = Given { size: cp.size, body: body.to_owned(), line, timestamp };
                    return match self.keep_given(name, &given).await {
                        Ok(()) => Submission::Cosigned,
                        Err(e) => Submission::Unavailable(format!("keeping its cosignature: {e}")),
                    };
                }
                Attempt::Known(known) if !second && known != old => old = known,
                Attempt::Known(known) => {
                    return Submission::Fork(format!(
                        "it last cosigned tree size {known}, which this log's tree of size {} does not extend",
                        cp.size
                    ))
                }
                Attempt::Failed(s) => return s,
            }
        }
        Submission::Unavailable("no answer".into())
    }

    async fn attempt(&self, peer: &Peer, cp: &Checkpoint, body: &str, note: &str, old: u64) -> Attempt {
        if old > cp.size {
            return Attempt::Failed(Submission::Fork(format!(
                "it last cosigned tree size {old}, larger than this log's {}",
                cp.size
            )));
        }
        let proof = if old == 0 || old == cp.size {
            Ok(Vec::new())
        } else {
            merkle::consistency_proof(&StoredTree(self.store.as_ref()), old, cp.size)
        };
        let proof = match proof {
            Ok(p) => p,
            Err(e) => return Attempt::Failed(Submission::Unavailable(format!("no consistency proof: {e}"))),
        };
        let request = AddCheckpoint { old_size: old, proof, note: note.to_owned() }.encode();
        let answer = match client::add_checkpoint(&peer.target, request, self.timeout).await {
            Ok(a) => a,
            Err(e) => return Attempt::Failed(Submission::Unavailable(e)),
        };
        match answer.status {
            200 => {
                for line in answer.body.split_terminator('\n') {
                    if let Ok(Some(timestamp)) = peer.verifier.check_line(body, line) {
                        return Attempt::Line(format!("{line}\n"), timestamp);
                    }
                }
                Attempt::Failed(Submission::Unavailable("its answer carries no valid cosignature by its key".into()))
            }
            409 if answer.content_type.starts_with(SIZE_MEDIA_TYPE) => match parse_size_body(&answer.body) {
                Some(known) => Attempt::Known(known),
                None => Attempt::Failed(Submission::Unavailable("a 409 without a size".into())),
            },
            422 => Attempt::Failed(Submission::Fork(format!(
                "its last cosigned tree is not a prefix of this log's (consistency proof from {old} refused)"
            ))),
            status => Attempt::Failed(Submission::Refused(status)),
        }
    }

    /// Keeps a witness's cosignature (a guarded change of its row).
    async fn keep_given(&self, name: &str, given: &Given) -> Result<(), ArchiveError> {
        for _ in 0..4 {
            let change = match GIVEN.hold(self.store.as_ref(), name)? {
                Some(h) if h.value.size > given.size => return Ok(()),
                Some(h) => h.replace(given)?,
                None => GIVEN.insert(name, given)?,
            };
            let commit = Commit { ops: vec![change.op], guard: Some(change.guard), ..Default::default() };
            match self.audit.commit(commit).await {
                Err(CommitError::Conflict) => continue,
                done => return done.map(|_| ()).map_err(Into::into),
            }
        }
        Err(ArchiveError::Conflict("a witness's cosignature kept changing".into()))
    }

    async fn keep_cosigned(&self, cosigned: &CosignedNote) -> Result<(), ArchiveError> {
        for _ in 0..4 {
            let change = match COSIGNED.hold(self.store.as_ref(), &())? {
                Some(h) if h.value.size > cosigned.size => return Ok(()),
                Some(h) => h.replace(cosigned)?,
                None => COSIGNED.insert(&(), cosigned)?,
            };
            let commit = Commit { ops: vec![change.op], guard: Some(change.guard), ..Default::default() };
            match self.audit.commit(commit).await {
                Err(CommitError::Conflict) => continue,
                done => return done.map(|_| ()).map_err(Into::into),
            }
        }
        Err(ArchiveError::Conflict("the cosigned checkpoint kept changing".into()))
    }

    /// Logs, audits and alerts a witness's failure; an outage raises its
    /// alert when it starts (and again when its kind changes), a fork
    /// every time.
    async fn note_outcome(&self, name: &str, size: u64, outcome: &Submission) {
        let (rule, why) = match outcome {
            Submission::Kept | Submission::Cosigned => {
                if let Ok(mut f) = self.failing.lock() {
                    f.remove(name);
                }
                return;
            }
            Submission::Fork(why) => ("witness_fork", format!("witness {name}: {why}")),
            Submission::Refused(status) => {
                ("witness_refused", format!("witness {name} refused checkpoint {size} with status {status}"))
            }
            Submission::Unavailable(why) => ("witness_unavailable", format!("witness {name}: {why}")),
        };
        tracing::warn!(witness = name, rule, size, "witness submission failed: {why}");
        let outcome_kind = if matches!(outcome, Submission::Unavailable(_)) { Outcome::Error } else { Outcome::Deny };
        let resource = format!("{}/{name}", Resource::Witness.as_str());
        let entry =
            EntryBody { outcome: outcome_kind, ..EntryBody::system(Action::WitnessSubmit, &resource, why.clone()) };
        if let Err(e) = self.audit.commit(Commit::entry(entry)).await {
            tracing::error!(error = %e, "auditing a witness failure failed");
        }
        let first = match self.failing.lock() {
            Ok(mut f) => f.insert(name.to_owned(), rule.to_owned()).as_deref() != Some(rule),
            Err(_) => true,
        };
        if rule == "witness_fork" || first {
            self.alert(rule, why).await;
        }
    }

    /// `GET /v1/audit/checkpoint/cosigned` (compliance; audited): the
    /// latest checkpoint with its witnesses' cosignatures.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn cosigned_checkpoint(&self, ctx: &RequestCtx) -> Result<String, ArchiveError> {
        let resource = Resource::AuditCosigned.as_str();
        self.gate.require_audit_read(ctx, Action::AuditQuery, resource).await?;
        let found = COSIGNED.get(self.store.as_ref(), &())?;
        let (outcome, why) = match &found {
            Some(c) => (Outcome::Allow, format!("cosigned checkpoint, size {}", c.size)),
            None => (Outcome::Error, "no cosigned checkpoint yet".to_owned()),
        };
        self.audit.commit(Commit::entry(ctx.entry(Action::AuditQuery, resource, outcome, why))).await?;
        found.map(|c| c.note).ok_or_else(|| ArchiveError::NotFound("a cosigned checkpoint (none yet)".into()))
    }
}

/// Writes `latest.cosigned.note` atomically (a temporary file renamed).
fn write_file(dir: &std::path::Path, note: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(".latest.cosigned.note.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(note.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(COSIGNED_FILE))
}

/// The cosigned checkpoint's file in the checkpoints directory.
pub const COSIGNED_FILE: &str = "latest.cosigned.note";
