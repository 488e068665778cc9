//! `custos audit verify`: the hash chain, the Merkle tree and checkpoints,
//! offline (read-only next to a running server).

use crate::archive::trail::transparency::VERIFIER_KEY;
use crate::audit::checkpoint::{Checkpoint, NoteVerifier};
use crate::audit::{check_stored_tree, merkle, verify_store_with, ChainHead, StoredTree, VerifyError, HEAD_KEY};
use crate::store::{Cf, KvStore, RocksStore};
use std::path::PathBuf;
use std::process::ExitCode;

/// A checkpoint to hold the log against: where it came from, and what it says.
struct Held {
    source: String,
    checkpoint: Checkpoint,
}

fn load_checkpoints(
    data_dir: &std::path::Path,
    extra: &[PathBuf],
    verifier: &NoteVerifier,
) -> Result<Vec<Held>, (u8, String)> {
    let latest = crate::config::checkpoints_dir(data_dir).join("latest.note");
    let mut files: Vec<PathBuf> = extra.to_vec();
    if latest.exists() {
        files.push(latest);
    }
    let mut held = Vec::new();
    for f in files {
        let note = std::fs::read_to_string(&f).map_err(|e| (2, format!("cannot read {}: {e}", f.display())))?;
        let checkpoint = verifier
            .open_checkpoint(&note)
            .map_err(|e| (1, format!("checkpoint {} does not verify: {e}", f.display())))?;
        held.push(Held { source: f.display().to_string(), checkpoint });
    }
    Ok(held)
}

pub(super) fn audit_verify(
    data_dir: &std::path::Path,
    extra: &[PathBuf],
    verifier_key: Option<&str>,
    deep: bool,
) -> ExitCode {
    let store = match open_read_only(data_dir) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let head = match store.get(Cf::System, HEAD_KEY) {
        Ok(Some(b)) => match ChainHead::decode(&b) {
            Some(h) => Some(h),
            None => return fail(1, "audit log TAMPERED: the recorded chain head is malformed".into()),
        },
        Ok(None) => None,
        Err(e) => return fail(2, format!("cannot read the chain head: {e}")),
    };
    let vkey = match verifier_key
        .map(str::to_owned)
        .or_else(|| store.get(Cf::System, VERIFIER_KEY).ok().flatten().and_then(|b| String::from_utf8(b).ok()))
    {
        Some(k) => k,
        None if extra.is_empty() => String::new(),
        None => return fail(2, "no verifier key: pass --verifier-key".into()),
    };
    let held = if vkey.is_empty() {
        Vec::new()
    } else {
        let verifier = match NoteVerifier::parse(&vkey) {
            Ok(v) => v,
            Err(e) => return fail(2, format!("verifier key: {e}")),
        };
        match load_checkpoints(data_dir, extra, &verifier) {
            Ok(h) => h,
            Err((code, msg)) => return fail(code, format!("audit log TAMPERED or checkpoint foreign: {msg}")),
        }
    };
    let sizes: Vec<u64> = held.iter().map(|h| h.checkpoint.size).collect();
    let total = head.map_or(0, |h| h.next_seq);
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} entries ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let result = verify_store_with(&store, head, &sizes, |n| bar.set_position(n));
    bar.finish_and_clear();
    let r = match result {
        Ok(r) => r,
        Err(e @ VerifyError::Broken { .. }) => return fail(1, format!("audit log TAMPERED: {e}")),
        Err(e) => return fail(2, e.to_string()),
    };
    let chain_secs = started.elapsed().as_secs_f64();
    // The stored tree (what proofs are built from) must give the same head
    // as the entries; with --deep, every stored node must match them.
    match merkle::root(&StoredTree(&store), r.entries) {
        Ok(stored) if stored == r.root => {}
        Ok(_) => return fail(1, "audit log TAMPERED: the stored Merkle tree does not match the entries".into()),
        Err(e) => return fail(1, format!("audit log TAMPERED: the stored Merkle tree is incomplete: {e}")),
    }
    let mut index_rows = None;
    if deep {
        if let Err(e) = check_stored_tree(&store, r.entries) {
            return fail(1, format!("audit log TAMPERED: the stored Merkle tree: {e}"));
        }
        match crate::audit::index::check(&store, r.entries) {
            Ok(rows) => index_rows = Some(rows),
            Err(e) => return fail(1, format!("audit indexes do not match the log: {e}")),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let b64 = |h: &[u8; 32]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, h);
    for h in &held {
        let cp = &h.checkpoint;
        if cp.size > r.entries {
            return fail(
                1,
                format!(
                    "audit log TAMPERED: first bad sequence number {}: log truncated: checkpoint {} commits to {} entries, the log has {}",
                    r.entries, h.source, cp.size, r.entries
                ),
            );
        }
        let at = r.roots.iter().find(|(n, _)| *n == cp.size).map(|(_, root)| *root);
        if at != Some(cp.root) {
            return fail(
                1,
                format!(
                    "audit log TAMPERED: the first {} entries are not the ones checkpoint {} committed to (entries were rewritten, removed or reordered)",
                    cp.size, h.source
                ),
            );
        }
    }
    // With --deep, as the other derived data: the subject map each
    // checkpoint signs, rebuilt from the entries (about 165,000 entries/s).
    // Only once the tree heads agree: a map root can then differ only
    // because the checkpoint's signer put a dishonest one there.
    let maps = match deep.then(|| check_subject_maps(&store, &held, r.entries)).transpose() {
        Ok(n) => n.unwrap_or(0),
        Err(e) => return fail(1, format!("audit log TAMPERED or checkpoint dishonest: {e}")),
    };
    let map_secs = started.elapsed().as_secs_f64() - secs;
    let secs = secs + map_secs;
    out!(
        "audit log intact: {} entries, head hash {}, tree root {}, verified in {:.3}s ({:.0} entries/s; entries, chain and tree head {:.3}s, stored nodes {:.3}s)",
        r.entries,
        hex::encode(r.head_hash),
        b64(&r.root),
        secs,
        r.entries as f64 / secs.max(1e-9),
        chain_secs,
        secs - chain_secs
    );
    if let Some(rows) = index_rows {
        out!("audit indexes match the log: {rows} rows, every entry indexed");
    }
    for h in &held {
        out!("consistent with checkpoint {} (size {}): the log only grew since", h.source, h.checkpoint.size);
    }
    if maps > 0 {
        out!("subject map: the root {maps} checkpoint(s) sign is the one the entries give (rebuilt in {map_secs:.3}s)");
    }
    ExitCode::SUCCESS
}

/// Rebuilds the subject map from the entries at the size of each held
/// checkpoint that signs one (`map <base64 root>`) and compares the roots:
/// a map root no honest log could have signed fails. Returns how many
/// checkpoints were checked. `entries` is the log's verified length.
fn check_subject_maps(store: &dyn KvStore, held: &[Held], entries: u64) -> Result<usize, String> {
    use crate::archive::trail::transparency::MAP_EXTENSION;
    let mut signed = Vec::new();
    for h in held.iter().filter(|h| h.checkpoint.size <= entries) {
        let Some(line) = h.checkpoint.extension(MAP_EXTENSION) else { continue };
        let root = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, line)
            .ok()
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .ok_or_else(|| format!("checkpoint {}: the subject map root is malformed", h.source))?;
        signed.push((h, root));
    }
    let Some((first, _)) = signed.first() else { return Ok(0) };
    let sizes: Vec<u64> = signed.iter().map(|(h, _)| h.checkpoint.size).collect();
    let roots = crate::audit::subject_map::roots_at(store, &first.checkpoint.origin, &sizes)
        .map_err(|e| format!("cannot rebuild the subject map: {e}"))?;
    for ((h, root), rebuilt) in signed.iter().zip(roots) {
        if *root != rebuilt {
            return Err(format!(
                "checkpoint {} (size {}) signs a subject map root that the log's entries do not give",
                h.source, h.checkpoint.size
            ));
        }
    }
    Ok(signed.len())
}

/// `audit verify`, and with `--witness` the quorum of cosignatures on the
/// cosigned checkpoint in the data directory and on every `--checkpoint`,
/// which are then held against the log as any checkpoint is.
pub(super) fn verify_with_witnesses(
    data_dir: &std::path::Path,
    extra: &[PathBuf],
    verifier_key: Option<&str>,
    deep: bool,
    witnesses: &[String],
    quorum: Option<usize>,
) -> ExitCode {
    if witnesses.is_empty() {
        return audit_verify(data_dir, extra, verifier_key, deep);
    }
    let mut files = extra.to_vec();
    let latest = super::quorum::latest_cosigned(data_dir);
    if latest.exists() {
        files.push(latest);
    }
    let held = match super::quorum::check(witnesses, quorum, &files) {
        Ok(h) => h,
        Err((code, msg)) => return fail(code, format!("witness quorum NOT MET: {msg}")),
    };
    let verified = audit_verify(data_dir, &files, verifier_key, deep);
    if verified == ExitCode::SUCCESS {
        for line in held {
            out!("{line}");
        }
    }
    verified
}

/// `custos audit witness-key`: the witness verifier key recorded in the
/// data directory (read-only next to a running server).
pub(super) fn witness_key(data_dir: &std::path::Path) -> ExitCode {
    let store = match open_read_only(data_dir) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.get(Cf::System, crate::store::keys::WITNESS_VERIFIER_KEY) {
        Ok(Some(k)) => {
            out!("{}", String::from_utf8_lossy(&k));
            ExitCode::SUCCESS
        }
        Ok(None) => fail(2, "no witness key yet: it is made when the server first starts".into()),
        Err(e) => fail(2, format!("cannot read the witness key: {e}")),
    }
}

fn fail(code: u8, msg: String) -> ExitCode {
    eprintln!("custos: {msg}");
    ExitCode::from(code)
}

fn open_read_only(data_dir: &std::path::Path) -> Result<RocksStore, ExitCode> {
    let db = crate::config::db_dir(data_dir);
    if !db.join("CURRENT").exists() {
        return Err(fail(2, format!("{} is not a custos data directory", data_dir.display())));
    }
    RocksStore::open_read_only(&db).map_err(|e| fail(2, format!("cannot open {}: {e}", data_dir.display())))
}

/// `custos audit verify --from-checkpoint NOTE`: what was added since a
/// trusted checkpoint (see `audit::incremental`).
pub(super) fn verify_incremental(
    data_dir: &std::path::Path,
    note: &std::path::Path,
    verifier_key: Option<&str>,
) -> ExitCode {
    let store = match open_read_only(data_dir) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let head = match store.get(Cf::System, HEAD_KEY) {
        Ok(b) => match b.map(|b| ChainHead::decode(&b)) {
            Some(None) => return fail(1, "audit log TAMPERED: the recorded chain head is malformed".into()),
            h => h.flatten(),
        },
        Err(e) => return fail(2, format!("cannot read the chain head: {e}")),
    };
    let vkey = verifier_key
        .map(str::to_owned)
        .or_else(|| store.get(Cf::System, VERIFIER_KEY).ok().flatten().and_then(|b| String::from_utf8(b).ok()));
    let Some(vkey) = vkey else { return fail(2, "no verifier key: pass --verifier-key".into()) };
    let verifier = match NoteVerifier::parse(&vkey) {
        Ok(v) => v,
        Err(e) => return fail(2, format!("verifier key: {e}")),
    };
    let text = match std::fs::read_to_string(note) {
        Ok(t) => t,
        Err(e) => return fail(2, format!("cannot read {}: {e}", note.display())),
    };
    let trusted = match verifier.open_checkpoint(&text) {
        Ok(c) => c,
        Err(e) => return fail(1, format!("checkpoint {} does not verify: {e}", note.display())),
    };
    let started = std::time::Instant::now();
    match crate::audit::incremental::verify_from(&store, &trusted, head, |_| {}) {
        Ok(r) => {
            let secs = started.elapsed().as_secs_f64();
            let added = r.entries - r.from;
            out!(
                "audit log intact since checkpoint {} (size {}): {added} new entries verified in {secs:.3}s ({:.0} entries/s), head hash {}, tree root {}",
                note.display(),
                r.from,
                added as f64 / secs.max(1e-9),
                hex::encode(r.head_hash),
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, r.root)
            );
            out!("consistent: the log only grew from {} to {} entries; keep `custos audit checkpoint` now for the next run", r.from, r.entries);
            ExitCode::SUCCESS
        }
        Err(e @ (VerifyError::Broken { .. } | VerifyError::Inconsistent(_))) => {
            fail(1, format!("audit log TAMPERED: {e}"))
        }
        Err(e) => fail(2, e.to_string()),
    }
}

/// `custos audit reindex`: the audit indexes rebuilt from the log.
pub(super) fn reindex(data_dir: &std::path::Path) -> ExitCode {
    let db = crate::config::db_dir(data_dir);
    if !db.join("CURRENT").exists() {
        return fail(2, format!("{} is not a custos data directory", data_dir.display()));
    }
    let store = match RocksStore::open(&db) {
        Ok(s) => s,
        Err(e) => return fail(2, format!("cannot open {} (is the server running?): {e}", data_dir.display())),
    };
    let head = match store.get(Cf::System, HEAD_KEY) {
        Ok(b) => b.and_then(|b| ChainHead::decode(&b)).map_or(0, |h| h.next_seq),
        Err(e) => return fail(2, format!("cannot read the chain head: {e}")),
    };
    let started = std::time::Instant::now();
    match crate::audit::index::rebuild(&store, head, |_| {}) {
        Ok(n) => {
            out!("audit indexes rebuilt: {n} entries indexed in {:.1}s", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => fail(2, format!("cannot rebuild the audit indexes: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::subject_map::roots_at;
    use crate::store::{MemStore, Op};

    #[test]
    fn a_checkpoint_signing_a_map_root_the_entries_do_not_give_fails() {
        let store = MemStore::default();
        for seq in 0..12u64 {
            let mut e = crate::audit::entry_for_tests(seq);
            e.body.subjects = vec![format!("sub_{}", seq % 3)];
            store.write(&[Op::Put(Cf::Audit, crate::audit::entry_key(seq).to_vec(), e.encode())], false).unwrap();
        }
        let held = |size: u64, root: [u8; 32]| {
            let mut checkpoint = Checkpoint::new("o", size, [0; 32]);
            let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, root);
            checkpoint.extensions.push(format!("map {b64}"));
            Held { source: format!("cp{size}"), checkpoint }
        };
        let good = roots_at(&store, "o", &[5, 12]).unwrap();
        let honest = [
            held(5, good[0]),
            held(12, good[1]),
            Held { source: "old".into(), checkpoint: Checkpoint::new("o", 3, [0; 32]) },
        ];
        assert_eq!(check_subject_maps(&store, &honest, 12), Ok(2));
        let stale = [held(12, good[0])];
        let err = check_subject_maps(&store, &stale, 12).unwrap_err();
        assert!(err.contains("cp12 (size 12) signs a subject map root"), "{err}");
    }
}
