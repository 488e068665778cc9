//! Documents attached to a dossier (a contract PDF, a scan): streamed in,
//! sealed under the dossier's key in 64 KiB chunks, streamed out. Never
//! held in memory whole. Access and audit as for the dossier: uploading
//! needs the right to update it, downloading the right to read it.
//! Documents are immutable: a name is written once.

use super::{ArchiveError, RequestCtx};
use crate::archive::dossiers::Dossiers;
use crate::archive::gate::Gate;
use crate::archive::vault::{open_with, seal_with, Opened, Slot, Vault};
use crate::audit::{Action, AuditWriter, Commit, Outcome};
use crate::clock::Clock;
use crate::crypto::{DataKey, KeyRef};
use crate::domain::{DossierId, PrincipalId};
use crate::policy::access::Change;
use crate::store::{keys, Cf, KvStore, Op, Table};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use time::OffsetDateTime;

/// Contract documents: sealed uploads, streamed downloads, lists.
pub struct Documents {
    store: Arc<dyn KvStore>,
    vault: Arc<Vault>,
    audit: Arc<AuditWriter>,
    gate: Arc<Gate>,
    clock: Arc<dyn Clock>,
    /// Whose documents: the dossier's read plan and change decision.
    dossiers: Arc<Dossiers>,
}

impl Documents {
    pub(in crate::archive) fn new(p: &crate::archive::Ports, dossiers: Arc<Dossiers>) -> Self {
        Documents {
            store: p.store.clone(),
            vault: p.vault.clone(),
            audit: p.audit.clone(),
            gate: p.gate.clone(),
            clock: p.clock.clone(),
            dossiers,
        }
    }
}

pub const CHUNK: usize = 64 * 1024;

/// Document metadata: `m/<dos>/<name>` in `documents`. The content is
/// sealed chunks beside it (`keys::chunk`), written as bytes as they stream
/// in: they are the document, not a record.
const DOCUMENTS: Table<(DossierId, String), DocumentMeta> =
    Table::new(Cf::Documents, b"m/", |(did, name): &(DossierId, String)| keys::document(did, name));

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    pub chunks: u32,
    upload: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub actor: PrincipalId,
}

/// Names are plain file names: they appear in keys, audit entries and
/// exports, so they may not carry a person's name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// An upload in progress: chunks are sealed and written as they arrive.
pub struct Upload {
    did: DossierId,
    name: String,
    content_type: String,
    upload: String,
    key: Arc<DataKey>,
    buffer: Vec<u8>,
    hasher: Sha256,
    size: u64,
    chunks: u32,
    limit: u64,
    subjects: Vec<crate::domain::SubjectId>,
}

impl Upload {
    /// The deletes of the chunks written so far (an upload given up).
    fn chunk_deletes(&self) -> Vec<Op> {
        (0..self.chunks).map(|n| Op::Delete(Cf::Documents, keys::chunk(&self.did, &self.upload, n))).collect()
    }
}

impl Documents {
    /// Checks and opens an upload (the right to update the dossier; the
    /// name not yet taken).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn begin_upload(
        &self,
        ctx: &RequestCtx,
        id: &str,
        name: &str,
        content_type: &str,
        limit: u64,
    ) -> Result<Upload, ArchiveError> {
        const ACTION: Action = Action::DocumentPut;
        let (did, meta, _, _) = self.dossiers.authorize_change(ctx, ACTION, id, Change::Update).await?;
        if !valid_name(name) {
            let e =
                self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "invalid document name");
            let msg = "a document name is 1 to 128 of A-Z a-z 0-9 . _ - (not starting with .)";
            return self.gate.refuse(e, ArchiveError::BadRequest(msg.into())).await;
        }
        if DOCUMENTS.contains(self.store.as_ref(), &(did.clone(), name.to_owned()))? {
            let e = self.dossiers.dossier_entry(
                ctx,
                ACTION,
                id,
                &meta.subjects,
                Outcome::Error,
                format!("document {name} exists"),
            );
            return self
                .gate
                .refuse(e, ArchiveError::Conflict(format!("document {name} exists; documents are never overwritten")))
                .await;
        }
        let key = match self.dossier_key(&did) {
            Ok(key) => key,
            Err(err) => {
                let e = self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "no key");
                return self.gate.refuse(e, err).await;
            }
        };
        Ok(Upload {
            did,
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            upload: ulid::Ulid::new().to_string().to_lowercase(),
            key,
            buffer: Vec::with_capacity(CHUNK),
            hasher: Sha256::new(),
            size: 0,
            chunks: 0,
            limit,
            subjects: meta.subjects,
        })
    }

    fn write_chunk(&self, up: &mut Upload) -> Result<(), ArchiveError> {
        let n = up.chunks;
        let sealed = seal_with(up.key.as_ref(), Slot::DocumentChunk(&up.did, &up.upload, n), &up.buffer)?;
        let bytes = postcard::to_allocvec(&sealed).map_err(|e| ArchiveError::Internal(e.into()))?;
        // Not synced: the final commit's synced WAL write covers it.
        self.store.write(&[Op::Put(Cf::Documents, keys::chunk(&up.did, &up.upload, n), bytes)], false)?;
        up.chunks += 1;
        up.buffer.clear();
        Ok(())
    }

    /// Feeds bytes; `Err(TooLarge)` once the limit is passed.
    pub fn upload_bytes(&self, up: &mut Upload, mut data: &[u8]) -> Result<(), ArchiveError> {
        up.size += data.len() as u64;
        if up.size > up.limit {
            return Err(ArchiveError::TooLarge(up.limit));
        }
        up.hasher.update(data);
        while !data.is_empty() {
            let take = (CHUNK - up.buffer.len()).min(data.len());
            up.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
            if up.buffer.len() == CHUNK {
                self.write_chunk(up)?;
            }
        }
        Ok(())
    }

    /// Deletes what an abandoned upload wrote, and audits why.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn abort_upload(&self, ctx: &RequestCtx, up: Upload, why: &str) -> Result<(), ArchiveError> {
        let ops = up.chunk_deletes();
        let e = self.dossiers.dossier_entry(
            ctx,
            Action::DocumentPut,
            up.did.as_str(),
            &up.subjects,
            Outcome::Error,
            format!("document {} not stored: {why}", up.name),
        );
        self.audit.commit(Commit { ops, entries: vec![e], guard: None, on_conflict: vec![] }).await?;
        Ok(())
    }

    /// Seals the last chunk and commits the metadata with the audit entry.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn finish_upload(&self, ctx: &RequestCtx, mut up: Upload) -> Result<DocumentMeta, ArchiveError> {
        if !up.buffer.is_empty() || up.chunks == 0 {
            self.write_chunk(&mut up)?;
        }
        let meta = DocumentMeta {
            name: up.name.clone(),
            content_type: up.content_type.clone(),
            size: up.size,
            sha256: hex::encode(up.hasher.clone().finalize()),
            chunks: up.chunks,
            upload: up.upload.clone(),
            created_at: self.clock.now(),
            actor: ctx.principal.id.clone(),
        };
        let change = DOCUMENTS.insert(&(up.did.clone(), up.name.clone()), &meta)?;
        let reason = format!("document {} ({} bytes, sha256 {})", meta.name, meta.size, meta.sha256);
        let entry = self.dossiers.dossier_entry(
            ctx,
            Action::DocumentPut,
            up.did.as_str(),
            &up.subjects,
            Outcome::Allow,
            reason,
        );
        let conflict = self.dossiers.dossier_entry(
            ctx,
            Action::DocumentPut,
            up.did.as_str(),
            &up.subjects,
            Outcome::Error,
            "document written concurrently",
        );
        let commit = Commit { on_conflict: vec![conflict], ..Commit::guarded(change, vec![], entry) };
        if let Err(e) = self.audit.commit(commit).await {
            self.store.write(&up.chunk_deletes(), false)?;
            return Err(e.into());
        }
        Ok(meta)
    }

    /// Checks the right to read, audits durably, and returns what is needed
    /// to stream the document out.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn open_document(
        &self,
        ctx: &RequestCtx,
        id: &str,
        name: &str,
    ) -> Result<(DocumentMeta, DocumentReader), ArchiveError> {
        const ACTION: Action = Action::DocumentGet;
        self.dossiers.refuse_outside_party(ctx, ACTION, id).await?;
        let (did, meta, _) = self.dossiers.plan_read(ctx, ACTION, id, None).await?;
        let doc =
            if valid_name(name) { DOCUMENTS.get(self.store.as_ref(), &(did.clone(), name.to_owned()))? } else { None };
        let Some(doc) = doc else {
            let e = self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "no such document");
            return self.gate.refuse(e, ArchiveError::NotFound("document".into())).await;
        };
        // The key first: a document that cannot be opened is not audited
        // as handed out.
        let key = match self.dossier_key(&did) {
            Ok(key) => key,
            Err(err) => {
                let e = self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "no key");
                return self.gate.refuse(e, err).await;
            }
        };
        let e = self.dossiers.dossier_entry(
            ctx,
            ACTION,
            id,
            &meta.subjects,
            Outcome::Allow,
            format!("document {} ({} bytes, sha256 {})", doc.name, doc.size, doc.sha256),
        );
        self.audit.commit(Commit::entry(e)).await?;
        Ok((doc.clone(), DocumentReader { did, upload: doc.upload, chunks: doc.chunks, next: 0, key }))
    }

    /// The documents of a dossier (name, type, size, SHA-256, when and by
    /// whom), for whoever may read its documents; audited as
    /// `document.list`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_documents(&self, ctx: &RequestCtx, id: &str) -> Result<Vec<DocumentMeta>, ArchiveError> {
        const ACTION: Action = Action::DocumentList;
        self.dossiers.refuse_outside_party(ctx, ACTION, id).await?;
        let (did, meta, _) = self.dossiers.plan_read(ctx, ACTION, id, None).await?;
        let docs = self.documents_of(&did)?;
        let e = self.dossiers.dossier_entry(
            ctx,
            ACTION,
            id,
            &meta.subjects,
            Outcome::Allow,
            format!("{} documents", docs.len()),
        );
        self.audit.commit(Commit::entry(e)).await?;
        Ok(docs)
    }

    /// The key a dossier's documents are sealed under, held for one upload
    /// or download.
    fn dossier_key(&self, did: &DossierId) -> Result<Arc<DataKey>, ArchiveError> {
        match self.vault.key(&KeyRef::Dossier(did.clone()))? {
            Opened::Plain(k) => Ok(k),
            Opened::Erased => Err(ArchiveError::Conflict("the dossier's key was destroyed".into())),
        }
    }

    /// The next chunk of plaintext, or `None` at the end.
    pub fn read_chunk(&self, r: &mut DocumentReader) -> Result<Option<Vec<u8>>, ArchiveError> {
        if r.next >= r.chunks {
            return Ok(None);
        }
        let raw = self
            .store
            .get(Cf::Documents, &keys::chunk(&r.did, &r.upload, r.next))?
            .ok_or_else(|| anyhow::anyhow!("document chunk missing"))?;
        let sealed = postcard::from_bytes(&raw).map_err(|e| ArchiveError::Internal(e.into()))?;
        let plain = open_with(r.key.as_ref(), Slot::DocumentChunk(&r.did, &r.upload, r.next), &sealed)?;
        r.next += 1;
        Ok(Some(plain.to_vec()))
    }

    /// The documents of a dossier (name and hash), for exports and certificates.
    pub(super) fn documents_of(&self, did: &DossierId) -> Result<Vec<DocumentMeta>, ArchiveError> {
        let rows = DOCUMENTS.scan_under(self.store.as_ref(), keys::documents_prefix(did));
        Ok(rows.map(|r| r.map(|(_, meta)| meta)).collect::<Result<_, _>>()?)
    }

    /// The ops deleting every document of a dossier (metadata and chunks).
    pub(super) fn delete_documents_ops(&self, did: &DossierId) -> Result<Vec<Op>, ArchiveError> {
        let mut ops = Vec::new();
        let prefixes = [
            keys::documents_prefix(did),
            keys::all_chunks_prefix(did),
            keys::interactions_prefix(did),
            keys::figures_prefix(did),
            keys::grade_overrides_prefix(did),
            keys::reviews_prefix(did),
        ];
        for prefix in prefixes {
            for row in self.store.scan(Cf::Documents, &prefix, &prefix) {
                ops.push(Op::Delete(Cf::Documents, row?.0));
            }
        }
        Ok(ops)
    }
}

/// Where a download is.
pub struct DocumentReader {
    did: DossierId,
    upload: String,
    chunks: u32,
    next: u32,
    key: Arc<DataKey>,
}

#[cfg(test)]
mod tests;
