use super::buckets;
use super::*;
use crate::audit::entry::hash_entry;
use crate::audit::{entry_for_tests, entry_key, merkle};
use crate::store::keys::SUBJECT_MAP_HEAD;
use crate::store::{Cf, KvStore, MemStore, Op};
use proptest::prelude::*;

fn value(n: u64) -> MapValue {
    MapValue { count: n, last: n * 3, acc: [n as u8; 32] }
}

fn sorted(keys: &[MapKey]) -> Vec<(MapKey, MapValue)> {
    let mut leaves: Vec<_> = keys.iter().enumerate().map(|(i, k)| (*k, value(i as u64 + 1))).collect();
    leaves.sort_by_key(|(k, _)| *k);
    leaves.dedup_by_key(|(k, _)| *k);
    leaves
}

proptest! {
    #[test]
    fn every_key_proves_its_value_and_every_other_key_its_absence(
        keys in proptest::collection::vec(any::<[u8; 32]>(), 0..40),
        others in proptest::collection::vec(any::<[u8; 32]>(), 1..10),
    ) {
        let leaves = sorted(&keys);
        let r = root(&leaves);
        for (k, v) in &leaves {
            prop_assert_eq!(verify(&r, k, &prove(&leaves, k)), Ok(Some(*v)));
        }
        for k in others.iter().filter(|k| !leaves.iter().any(|(l, _)| l == *k)) {
            prop_assert_eq!(verify(&r, k, &prove(&leaves, k)), Ok(None));
        }
    }

    #[test]
    fn a_changed_value_sibling_or_key_does_not_verify(keys in proptest::collection::vec(any::<[u8; 32]>(), 2..30)) {
        let leaves = sorted(&keys);
        let r = root(&leaves);
        let (k, v) = leaves[0];
        let proof = prove(&leaves, &k);
        let mut other = proof.clone();
        other.terminal = Terminal::Leaf { key: k, value: MapValue { count: v.count + 1, ..v } };
        prop_assert_eq!(verify(&r, &k, &other), Err(MapProofError::RootMismatch));
        let mut other = proof.clone();
        other.siblings[0][0] ^= 1;
        prop_assert_eq!(verify(&r, &k, &other), Err(MapProofError::RootMismatch));
        // Another person's proof does not prove this person's value.
        let (k2, _) = leaves[1];
        prop_assert!(verify(&r, &k2, &proof) != Ok(Some(v)));
    }
}

/// Keys crowded into few buckets and sharing long prefixes, or spread.
fn crowded_key() -> impl Strategy<Value = MapKey> {
    (0u8..3, 0u8..3, 0u8..4, any::<[u8; 32]>(), any::<bool>()).prop_map(|(a, b, c, mut k, crowd)| {
        if crowd {
            (k[0], k[1], k[2]) = (a, b, c << 6);
        }
        k
    })
}

proptest! {
    #[test]
    fn the_bucketed_map_gives_the_reference_root_and_proofs(
        keys in proptest::collection::vec(crowded_key(), 0..60),
        probes in proptest::collection::vec(crowded_key(), 1..8),
    ) {
        let mut leaves = buckets::Leaves::new();
        for (i, k) in keys.iter().enumerate().rev() {
            leaves.set(*k, value(i as u64 + 1));
        }
        let reference: Vec<_> = leaves.iter().copied().collect();
        prop_assert!(reference.windows(2).all(|w| w[0].0 < w[1].0));
        prop_assert_eq!(leaves.len(), reference.len() as u64);
        let r = leaves.root();
        prop_assert_eq!(r, root(&reference));
        for k in keys.iter().chain(&probes) {
            let proof = leaves.prove(k);
            prop_assert_eq!(&proof, &prove(&reference, k));
            prop_assert_eq!(verify(&r, k, &proof), Ok(leaves.get(k)));
        }
        // A changed value changes the root the same way.
        if let Some(k) = keys.first() {
            leaves.set(*k, value(99));
            let changed: Vec<_> = leaves.iter().copied().collect();
            prop_assert_eq!(leaves.root(), root(&changed));
        }
    }
}

#[test]
fn the_root_is_the_leaf_for_one_key_and_zero_for_none() {
    assert_eq!(root(&[]), EMPTY);
    let one = [([7u8; 32], value(1))];
    assert_eq!(root(&one), leaf_node(&[7u8; 32], &value(1)));
    assert_eq!(verify(&EMPTY, &[1u8; 32], &prove(&[], &[1u8; 32])), Ok(None));
}

#[test]
fn a_leaf_off_the_keys_path_is_refused() {
    let mut a = [0u8; 32];
    a[0] = 0b1000_0000;
    let b = [0u8; 32];
    let leaves = sorted(&[a, b]);
    let r = root(&leaves);
    // Present b's leaf as where a's path ends: b differs from a at bit 0.
    let forged =
        MapProof { siblings: vec![leaf_node(&b, &value(2))], terminal: Terminal::Leaf { key: b, value: value(2) } };
    assert_eq!(verify(&r, &a, &forged), Err(MapProofError::OffPath));
    assert_eq!(
        verify(&r, &a, &MapProof { siblings: vec![EMPTY; 257], terminal: Terminal::Empty }),
        Err(MapProofError::TooDeep)
    );
}

#[test]
fn a_value_round_trips_and_folds_in_log_order() {
    let v = MapValue::then(None, 4, &[1; 32]);
    assert_eq!((v.count, v.last, v.acc), (1, 4, fold(&EMPTY, &[1; 32])));
    let w = MapValue::then(Some(v), 9, &[2; 32]);
    assert_eq!((w.count, w.last, w.acc), (2, 9, fold(&fold(&EMPTY, &[1; 32]), &[2; 32])));
    assert_eq!(MapValue::decode(&w.encode()), Some(w));
    assert_eq!(MapValue::decode(&w.encode()[..47]), None);
}

/// A log of `n` entries in `store`, entry `i` naming `people(i)`.
fn write_log(store: &MemStore, from: u64, n: u64, people: impl Fn(u64) -> Vec<String>) {
    for seq in from..from + n {
        let mut e = entry_for_tests(seq);
        e.body.subjects = people(seq);
        store.write(&[Op::Put(Cf::Audit, entry_key(seq).to_vec(), e.encode())], false).unwrap();
    }
}

fn people(seq: u64) -> Vec<String> {
    match seq % 4 {
        0 => vec![],
        1 => vec![format!("sub_{}", seq % 7)],
        // Named twice in one entry: counted once.
        2 => vec![format!("sub_{}", seq % 5), format!("sub_{}", seq % 5)],
        _ => vec![format!("sub_{}", seq % 7), format!("sub_{}", seq % 3)],
    }
}

#[test]
fn the_stored_map_holds_each_persons_entries_in_order_and_survives_a_restart() {
    let store = MemStore::default();
    write_log(&store, 0, 60, people);
    let mut map = SubjectMap::load(&store, "o").unwrap();
    map.advance(&store, 40).unwrap();
    map.advance(&store, 60).unwrap();
    let r = map.root();
    // sub_1's value, folded by hand from the entries naming them.
    let (mut count, mut last, mut acc) = (0, 0, EMPTY);
    for seq in 0..60 {
        let raw = store.get(Cf::Audit, &entry_key(seq)).unwrap().unwrap();
        if people(seq).contains(&"sub_1".to_owned()) {
            (count, last, acc) = (count + 1, seq, fold(&acc, &merkle::leaf_hash(&raw)));
        }
    }
    let (k, v, proof) = map.prove("sub_1");
    assert_eq!(k, key("o", "sub_1"));
    assert_eq!(v, Some(MapValue { count, last, acc }));
    assert_eq!(verify(&r, &k, &proof), Ok(v));
    let (k, v, proof) = map.prove("sub_nobody");
    assert_eq!((v, verify(&r, &k, &proof)), (None, Ok(None)));

    let mut again = SubjectMap::load(&store, "o").unwrap();
    assert_eq!((again.size(), again.root()), (60, r));
    assert_eq!(
        roots_at(&store, "o", &[60, 40]).unwrap(),
        vec![r, {
            let mut m = SubjectMap::load(&MemStore::default(), "o").unwrap();
            let copy = MemStore::default();
            write_log(&copy, 0, 40, people);
            m.advance(&copy, 40).unwrap();
            m.root()
        }]
    );
    // Another log's map files the same people under other keys.
    assert_ne!(roots_at(&store, "other", &[60]).unwrap()[0], r);
}

#[test]
fn a_map_from_another_history_is_rebuilt_from_the_log() {
    let store = MemStore::default();
    write_log(&store, 0, 30, people);
    let mut map = SubjectMap::load(&store, "o").unwrap();
    map.advance(&store, 30).unwrap();
    let good = map.root();
    // The log is restored to another history of the same length.
    write_log(&store, 0, 30, |seq| people(seq + 1));
    let mut reloaded = SubjectMap::load(&store, "o").unwrap();
    assert_eq!(reloaded.size(), 0);
    reloaded.advance(&store, 30).unwrap();
    assert_ne!(reloaded.root(), good);
    assert_eq!(reloaded.root(), roots_at(&store, "o", &[30]).unwrap()[0]);
    let head = store.get(Cf::System, SUBJECT_MAP_HEAD).unwrap().unwrap();
    assert_eq!(head[8..], hash_entry(&store.get(Cf::Audit, &entry_key(29)).unwrap().unwrap()));
    // A map ahead of the log (restored from an older backup) is rebuilt too.
    let short = MemStore::default();
    write_log(&short, 0, 10, people);
    short.write(&[Op::Put(Cf::System, SUBJECT_MAP_HEAD.to_vec(), head)], false).unwrap();
    assert_eq!(SubjectMap::load(&short, "o").unwrap().size(), 0);
    // Asking past the log's end is an error, and the map starts again.
    let mut m = SubjectMap::load(&short, "o").unwrap();
    assert!(m.advance(&short, 11).is_err());
    assert_eq!(m.size(), 0);
}
