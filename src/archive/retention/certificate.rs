//! Finishing a batch: make the deletions physical, then issue the signed
//! destruction certificate (with the checkpoint that contains the
//! destruction entries) atomically with the batch's final state.

use super::{item_request_id, system_entry, Batch, BatchState, Certificate, CertificateItem, CERTIFICATES};
use super::{CertificateSignature, Item, SignedCertificate, Target};
use crate::archive::retention::Retention;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::CertificateId;
use crate::policy::retention::RetentionAction;
use crate::store::{keys, Cf, Held};
use std::collections::BTreeMap;

impl Retention {
    /// Makes the deletions physical, then issues the signed certificate.
    pub(super) async fn finish(&self, held: &Held<Batch>) -> Result<(), ArchiveError> {
        let batch = &held.value;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            for cf in [Cf::Keys, Cf::Versions, Cf::Documents, Cf::Subjects, Cf::Dossiers, Cf::Disposition] {
                store.purge(cf)?;
            }
            Ok::<_, crate::store::StoreError>(())
        })
        .await
        .map_err(|e| ArchiveError::Internal(e.into()))??;
        let cert_id = batch.certificate_id.clone().unwrap_or_else(CertificateId::generate);
        // A crash between an item and the write recording its entry's
        // sequence number leaves it unrecorded: find it by its request id.
        let mut batch = batch.clone();
        for (n, r) in batch.results.iter_mut().enumerate() {
            if r.audit_seq.is_none() && !r.outcome.is_skipped() {
                r.audit_seq = self.find_entry(&item_request_id(batch.batch_id.as_str(), n))?;
            }
        }
        // The destruction entries are durable: the checkpoint taken now
        // contains them, and goes into the certificate, which is written
        // with the batch's final state and the issuing entry, atomically.
        let (_, checkpoint) = self.trail.checkpoint_note()?;
        let items_by_target: BTreeMap<&Target, &Item> = batch.items.iter().map(|i| (&i.target, i)).collect();
        let certificate = Certificate {
            certificate_id: cert_id.clone(),
            batch_id: batch.batch_id.clone(),
            issued_at: self.clock.now(),
            proposer: batch.proposed_by.clone(),
            approver: batch.approved_by.clone(),
            items: batch
                .results
                .iter()
                .map(|r| {
                    let item = items_by_target.get(&r.target);
                    CertificateItem {
                        target: r.target.clone(),
                        action: item.map_or(RetentionAction::Destroy, |i| i.action),
                        rule: item.map(|i| i.rule.clone()).unwrap_or_default(),
                        citation: item.map(|i| i.citation.clone()).unwrap_or_default(),
                        outcome: r.outcome.clone(),
                        subjects: r.subjects.clone(),
                        keys_shredded: r.keys_shredded.clone(),
                        ciphertext_sha256: r.ciphertext_sha256.clone(),
                        documents: r.documents.clone(),
                        audit_seq: r.audit_seq,
                    }
                })
                .collect(),
            checkpoint,
        };
        // The erasure journal: with the backups, before the batch is done, so
        // a restore of an older set can destroy again what this destroyed.
        // If it cannot be written the batch stays executing and the sweep
        // retries (fail closed: never reported done unjournaled).
        self.backups.journal_certificate(&certificate).await?;
        let mut entry = system_entry(Action::CertificateIssue, cert_id.as_str(), format!("batch {}", batch.batch_id));
        entry.subjects = batch.results.iter().flat_map(|r| r.subjects.iter().map(|s| s.to_string())).collect();
        let done = Batch { state: BatchState::Done, ..batch.clone() };
        let ops = vec![CERTIFICATES.put_unguarded(&cert_id, &certificate)?];
        self.audit.commit(Commit::guarded(held.replace(&done)?, ops, entry)).await?;
        Ok(())
    }

    /// The sequence number of the entry with `request_id`, searched from the
    /// newest back over a bounded window.
    fn find_entry(&self, request_id: &str) -> Result<Option<u64>, ArchiveError> {
        let head = self.audit.head().next_seq;
        for seq in (head.saturating_sub(100_000)..head).rev() {
            let Some(raw) = self.store.get(Cf::Audit, &keys::audit_entry(seq))? else { continue };
            let e = crate::audit::AuditEntry::decode(&raw).map_err(|e| ArchiveError::Internal(e.into()))?;
            if e.body.request_id == request_id {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn certificate(&self, ctx: &RequestCtx, cert_id: &str) -> Result<SignedCertificate, ArchiveError> {
        const ACTION: Action = Action::CertificateRead;
        if self.gate.may(&ctx.principal, crate::archive::gate::Operation::AuditRead) {
            // Read-only oversight (separation of duties): whoever may read
            // the audit log (`audit.read`) may read a certificate, which
            // names ids only; the stated purpose is checked, no disposition
            // right is needed.
            self.gate.purpose(ctx, ACTION, cert_id).await?;
        } else {
            self.require_disposition(ctx, ACTION).await?;
        }
        let found =
            CertificateId::parse(cert_id).ok().map(|c| CERTIFICATES.get(self.store.as_ref(), &c)).transpose()?;
        let Some(certificate) = found.flatten() else {
            let e = ctx.entry(ACTION, cert_id, Outcome::Error, "no such certificate");
            return self.gate.refuse(e, ArchiveError::NotFound("certificate".into())).await;
        };
        self.audit.commit(Commit::entry(ctx.entry(ACTION, cert_id, Outcome::Allow, "certificate"))).await?;
        let signed_note = crate::archive::certificates::signed_note(self.trail.signer(), &certificate)?;
        Ok(SignedCertificate {
            certificate,
            signature: CertificateSignature {
                algorithm: "ed25519",
                verifier_key: self.trail.verifier_key(),
                signed_note,
            },
        })
    }
}
