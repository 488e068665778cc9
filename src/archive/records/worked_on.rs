//! Who works on which customer: the marks the start page lists a
//! person's customers from.

use super::DOSSIERS;
use crate::domain::{DossierId, PrincipalId};
use crate::store::{keys, Cf, KvStore, Marks};

/// Who works on which customer: `w/<prn>/<dos>` in `dossiers`, an empty
/// value. Marked for a dossier's owner and for whoever writes a version,
/// an interaction or a review of it; a mark stays when the dossier changes
/// hands (the start page keeps what the caller's scope still shows). The
/// start page lists a person's customers from it, never from a scan of
/// every dossier.
pub const WORKED_ON: Marks<PrincipalId, DossierId> = Marks::new(Cf::Dossiers, keys::worked_on_prefix);

/// Marks who works on which customer ([`WORKED_ON`]) for the
/// dossiers written before the marks were kept: their owner and their
/// creator. Once per data directory (run at start-up); the number of
/// dossiers marked.
pub fn mark_worked_on(store: &dyn KvStore) -> Result<usize, crate::store::StoreError> {
    if store.get(Cf::System, keys::WORKED_ON_MARKER)?.is_some() {
        return Ok(0);
    }
    let mut ops = Vec::new();
    let mut n = 0;
    for meta in DOSSIERS.values(store) {
        let meta = meta?;
        ops.push(WORKED_ON.mark(&meta.owner, &meta.id));
        ops.push(WORKED_ON.mark(&meta.created_by, &meta.id));
        n += 1;
        if ops.len() >= 10_000 {
            store.write(&std::mem::take(&mut ops), false)?;
        }
    }
    ops.push(crate::store::Op::Put(Cf::System, keys::WORKED_ON_MARKER.to_vec(), b"1".to_vec()));
    store.write(&ops, true)?;
    Ok(n)
}
