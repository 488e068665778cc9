//! Synthetic audit logs for benchmarks (`examples/fill_audit.rs`,
//! `benches/verify.rs`, `scripts/scale.sh`): realistic entries written with
//! the real encoder, chain, tree and index rows, in large unsynced batches.
//!
//! The spread is a company's: 1,000 staff, 1,000,000 dossiers of one or two
//! contacts each, reads most of the time, one refusal in a hundred, over a
//! year. A few values are rare on purpose, so a benchmark can ask for what
//! is hard to find: the actor [`RARE_ACTOR`] (one entry in a million) and
//! the action `dossier.destroy` (one in ten thousand).

use super::merkle::{leaf_hash, Frontier};
use super::{
    entry_key, hash_entry, index, node_key, AuditEntry, ChainHead, EntryBody, Outcome, GENESIS_PREV, HEAD_KEY,
};
use crate::store::{keys, Cf, KvStore, Op, StoreError};
use time::OffsetDateTime;

pub const ACTORS: u64 = 1_000;
pub const DOSSIERS: u64 = 1_000_000;
/// An actor with one entry in a million.
pub const RARE_ACTOR: &str = "prn_01m83zs40b0jzdv8zsvrarerar";

/// The synthetic id of actor `i`, dossier `i`, subject `i`.
pub fn actor(i: u64) -> String {
    format!("prn_01m83zs40b0jzdv8zsv6c{:05}", i % 100_000)
}
pub fn dossier(i: u64) -> String {
    format!("dos_01m83zs48ew18za46br{:07}", i % 10_000_000)
}
pub fn subject(i: u64) -> String {
    format!("sub_01m83zs48ej3c7xr65q{:07}", i % 10_000_000)
}

/// splitmix64: the same log for the same size, without a random source.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Entry `seq`'s body.
pub fn body(seq: u64) -> EntryBody {
    let r = mix(seq);
    let actor_id = if seq % 1_000_000 == 777 { RARE_ACTOR.to_owned() } else { actor(r % ACTORS) };
    let d = (r >> 10) % DOSSIERS;
    let roll = (r >> 40) % 10_000;
    let action = match roll {
        0 => "dossier.destroy",
        1..=299 => "dossier.create",
        300..=699 => "dossier.update",
        700..=1199 => "search",
        1200..=1399 => "document.get",
        1400..=1499 => "consent.grant",
        _ => "dossier.read",
    };
    let outcome = match mix(seq ^ 0x5bd1_e995) % 1000 {
        0 => Outcome::Error,
        1..=10 => Outcome::Deny,
        _ => Outcome::Allow,
    };
    let (resource, subjects) = if action == "search" {
        ("search".to_owned(), vec![])
    } else if d.is_multiple_of(2) {
        (dossier(d), vec![subject(2 * d)])
    } else {
        (dossier(d), vec![subject(2 * d), subject(2 * d + 1)])
    };
    EntryBody {
        actor: actor_id,
        roles: vec!["service".into()],
        action: action.into(),
        resource,
        subjects,
        purpose: "service_delivery".into(),
        outcome,
        reason: "service: own region; version 1".into(),
        released: vec![],
        masked: vec![],
        withheld: vec![],
        request_id: format!("req_01m83zsasrgzzpqzkmn{:07}", seq % 10_000_000),
        token_id: "tok_01m83zs40b0jzdv8zsv6c5gpb7".into(),
    }
}

/// The time of entry `seq` of `n`: spread evenly over the year before `end`.
pub fn time_of(seq: u64, n: u64, end: OffsetDateTime) -> OffsetDateTime {
    let year = 365 * 86_400_000_000i64;
    let step = year / n.max(1) as i64;
    end - time::Duration::microseconds(year) + time::Duration::microseconds(step * seq as i64)
}

/// Appends `n` entries to an empty log (times over the year up to now);
/// returns the average entry size.
pub fn fill(store: &dyn KvStore, n: u64) -> Result<usize, StoreError> {
    let end = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut prev = GENESIS_PREV;
    let mut ops = Vec::with_capacity(40_000);
    let mut bytes = 0usize;
    let mut tree = Frontier::default();
    for seq in 0..n {
        let e = AuditEntry {
            seq,
            time: time_of(seq, n, end),
            prev_hash: prev,
            policy_hash: "7af88ac60f85f1e67a7ad6b1284a1f482e1c8a90216d28e198c6cce59a163164".into(),
            body: body(seq),
        };
        let raw = e.encode();
        bytes += raw.len();
        prev = hash_entry(&raw);
        for (level, index, hash) in tree.append(leaf_hash(&raw)) {
            ops.push(Op::Put(Cf::Merkle, node_key(level, index).to_vec(), hash.to_vec()));
        }
        ops.extend(index::ops(&e));
        ops.push(Op::Put(Cf::Audit, entry_key(seq).to_vec(), raw));
        if ops.len() >= 40_000 {
            store.write(&ops, false)?;
            ops.clear();
        }
    }
    ops.push(Op::Put(Cf::System, HEAD_KEY.to_vec(), ChainHead { next_seq: n, last_hash: prev }.encode()));
    ops.push(Op::Put(Cf::System, keys::AUDIT_INDEX_MARKER.to_vec(), index::MARKER_V1.to_vec()));
    store.write(&ops, true)?;
    store.purge(Cf::Audit)?;
    Ok(bytes / n.max(1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_is_deterministic_and_has_its_rare_values() {
        assert_eq!(body(12_345), body(12_345));
        assert_eq!(body(777).actor, RARE_ACTOR);
        let n = 100_000;
        let destroys = (0..n).filter(|s| body(*s).action == "dossier.destroy").count();
        let denies = (0..n).filter(|s| body(*s).outcome == Outcome::Deny).count();
        assert!((3..=30).contains(&destroys), "{destroys}");
        assert!((500..=1_700).contains(&denies), "{denies}");
    }
}
