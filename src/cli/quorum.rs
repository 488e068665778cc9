//! `custos audit verify --witness KEY… --quorum K`: every checkpoint
//! checked carries valid cosignatures (C2SP tlog-cosignature) from at
//! least K distinct witnesses among the keys given.

use crate::audit::cosignature::{CosignatureError, CosignatureVerifier};
use std::path::{Path, PathBuf};

/// The cosigned checkpoint the server writes in its checkpoints directory.
pub(super) fn latest_cosigned(data_dir: &Path) -> PathBuf {
    crate::config::checkpoints_dir(data_dir).join(crate::archive::witness::COSIGNED_FILE)
}

/// Checks the quorum on each of `files`; the message and exit code of the
/// first that falls short (1), or of a usage error (2). Returns what held.
pub(super) fn check(keys: &[String], quorum: Option<usize>, files: &[PathBuf]) -> Result<Vec<String>, (u8, String)> {
    let mut witnesses: Vec<CosignatureVerifier> = Vec::new();
    for k in keys {
        let v = CosignatureVerifier::parse(k).map_err(|e| (2, format!("--witness {k}: {e}")))?;
        if !witnesses.iter().any(|w| w.label() == v.label()) {
            witnesses.push(v);
        }
    }
    let quorum = quorum.unwrap_or(1);
    if quorum == 0 || quorum > witnesses.len() {
        return Err((2, format!("--quorum {quorum} needs between 1 and {} distinct --witness keys", witnesses.len())));
    }
    if files.is_empty() {
        return Err((1, "no cosigned checkpoint to check: the server has written none (is a witness configured and reachable?) and no --checkpoint was given".into()));
    }
    let mut held = Vec::new();
    for f in files {
        let note = std::fs::read_to_string(f).map_err(|e| (2, format!("cannot read {}: {e}", f.display())))?;
        let mut valid = Vec::new();
        let mut missing = Vec::new();
        for w in &witnesses {
            match w.verify_note(&note) {
                Ok(_) => valid.push(w.label()),
                Err(CosignatureError::Missing(label)) => missing.push(label),
                Err(e) => {
                    return Err((1, format!("checkpoint {}: {e} (a forged or damaged cosignature)", f.display())))
                }
            }
        }
        if valid.len() < quorum {
            return Err((
                1,
                format!(
                    "checkpoint {} carries {} of the {quorum} witness cosignatures required; none from {}",
                    f.display(),
                    valid.len(),
                    missing.join(", ")
                ),
            ));
        }
        held.push(format!(
            "checkpoint {} cosigned by {} of {quorum} required: {}",
            f.display(),
            valid.len(),
            valid.join(", ")
        ));
    }
    Ok(held)
}
