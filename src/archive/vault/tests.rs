//! The vault's one rule, tested where it lives (memory store, no HTTP).
use super::*;
use crate::clock::ManualClock;
use crate::crypto::MasterKey;
use crate::store::MemStore;

fn vault() -> Vault {
    let store: Arc<dyn KvStore> = Arc::new(MemStore::default());
    let keyring = Arc::new(
        Keyring::open(MasterKey::generate(), store.clone(), 16, std::time::Duration::from_secs(3600)).unwrap(),
    );
    let clock = Arc::new(ManualClock::new(time::macros::datetime!(2026-12-01 09:00 UTC)));
    Vault::new(store, keyring, clock)
}

fn person_key(v: &Vault) -> (SubjectId, KeyRef) {
    let sid = SubjectId::generate();
    let r = KeyRef::Subject(sid.clone());
    let (k, op) = v.keyring.create(&r).unwrap();
    v.store.write(&[op], true).unwrap();
    v.keyring.remember(r.clone(), k);
    (sid, r)
}

#[test]
fn every_slot_opens_only_where_it_was_sealed() {
    let v = vault();
    let (did, iid, aid) = (DossierId::generate(), InteractionId::generate(), AssessmentId::generate());
    let (pid, rid, inc) = (PrincipalId::generate(), RecipientId::generate(), IncidentId::generate());
    let (sid, _) = person_key(&v);
    let hold = HoldId::generate();
    let slots = [
        Slot::Segment { dossier: &did, version: 1, segment: &SegmentName::Business },
        Slot::Principal(&pid),
        Slot::Assessment(&aid, AssessmentPart::Conclusion),
        Slot::Assessment(&aid, AssessmentPart::Report),
        Slot::Attestation(&rid),
        Slot::GradeOverride(&did, 1),
        Slot::Interaction(&did, &iid),
        Slot::Review(&did, "rev_1"),
        Slot::ConsentEvidence(&sid, 1),
        Slot::DocumentChunk(&did, "up_1", 0),
        Slot::Hold(&did, &hold),
        Slot::IncidentTexts(&inc),
        Slot::RegisterText { owner: "req_1", field: "request/req_1/details" },
    ];
    let aads: std::collections::BTreeSet<Vec<u8>> = slots.iter().map(Slot::aad).collect();
    assert_eq!(aads.len(), slots.len(), "every slot has its own associated data");
    for (i, slot) in slots.iter().enumerate() {
        let sealed = v.seal_live(&KeyRef::Registers, *slot, "张经理 13912345688".as_bytes()).unwrap();
        let opened = v.open_text(&KeyRef::Registers, *slot, &sealed).unwrap().plain().unwrap();
        assert_eq!(opened, "张经理 13912345688");
        let elsewhere = slots[(i + 1) % slots.len()];
        let moved = v.open(&KeyRef::Registers, elsewhere, &sealed);
        assert!(matches!(moved, Err(ArchiveError::Internal(_))), "{slot:?} opened as {elsewhere:?}");
    }
}

#[test]
fn a_destroyed_key_reads_as_erased_and_a_tampered_value_is_an_error() {
    let v = vault();
    let (sid, key) = person_key(&v);
    let slot = Slot::ConsentEvidence(&sid, 1);
    let mut sealed = v.seal_live(&key, slot, b"signed form").unwrap();

    sealed.ciphertext[0] ^= 1;
    let err = v.open(&key, slot, &sealed).unwrap_err();
    assert!(err.to_string().contains("consent evidence does not open"), "{err}");
    assert!(!err.to_string().contains("signed form"), "no plaintext in the error");
    sealed.ciphertext[0] ^= 1;
    assert!(matches!(v.open(&key, slot, &sealed).unwrap(), Opened::Plain(_)));

    v.keyring.shred(std::slice::from_ref(&key), vec![]).unwrap();
    assert!(matches!(v.open(&key, slot, &sealed).unwrap(), Opened::Erased));
    assert!(matches!(v.seal(&key, slot, b"more").unwrap(), Opened::Erased), "nothing is sealed for an erased person");
    assert!(matches!(v.seal_live(&key, slot, b"more"), Err(ArchiveError::Conflict(_))));
}

#[test]
fn a_house_key_is_made_on_first_use_and_kept() {
    let v = vault();
    let pid = PrincipalId::generate();
    let sealed = v.seal_live(&KeyRef::Staff, Slot::Principal(&pid), b"{}").unwrap();
    v.keyring.forget(&[KeyRef::Staff]);
    let opened = v.open(&KeyRef::Staff, Slot::Principal(&pid), &sealed).unwrap();
    assert_eq!(&opened.plain().unwrap()[..], b"{}");
}

#[test]
fn a_read_never_makes_a_house_key_and_a_missing_one_is_an_error() {
    let v = vault();
    let sealed = crate::crypto::seal(&DataKey::generate(), b"", b"x").unwrap();
    let missing = v.open(&KeyRef::Registers, Slot::Attestation(&RecipientId::generate()), &sealed);
    assert!(matches!(missing, Err(ArchiveError::Internal(_))), "{missing:?}");
    assert!(!v.keyring.exists(&KeyRef::Registers).unwrap(), "the read made no key");
}

#[test]
fn the_associated_data_is_the_bytes_custos_has_always_written() {
    // Stored records must keep opening: these are the layouts of the
    // per-kind functions the vault replaced.
    let did = DossierId::parse("dos_01jx0000000000000000000000").unwrap();
    let seg = |owner: &str, n: u32, field: &str| segment_aad(owner, n, field);
    assert_eq!(
        Slot::Segment { dossier: &did, version: 3, segment: &SegmentName::Business }.aad(),
        seg(did.as_str(), 3, "business")
    );
    let pid = PrincipalId::parse("prn_01jx0000000000000000000000").unwrap();
    assert_eq!(Slot::Principal(&pid).aad(), b"custos-principal-v1\0prn_01jx0000000000000000000000".to_vec());
    let aid = AssessmentId::parse("pia_01jx0000000000000000000000").unwrap();
    assert_eq!(Slot::Assessment(&aid, AssessmentPart::Report).aad(), seg(aid.as_str(), 0, "assessment/report"));
    let rid = RecipientId::parse("rcp_01jx0000000000000000000000").unwrap();
    assert_eq!(Slot::Attestation(&rid).aad(), seg(rid.as_str(), 0, "recipient/attestation"));
    assert_eq!(Slot::GradeOverride(&did, 2).aad(), seg(did.as_str(), 2, "grade-override"));
    let iid = InteractionId::parse("itr_01jx0000000000000000000000").unwrap();
    assert_eq!(Slot::Interaction(&did, &iid).aad(), seg(did.as_str(), 0, &format!("interaction/{iid}")));
    assert_eq!(Slot::Review(&did, "rev_1").aad(), seg(did.as_str(), 0, "review/rev_1"));
    let sid = SubjectId::parse("sub_01jx0000000000000000000000").unwrap();
    assert_eq!(Slot::ConsentEvidence(&sid, 4).aad(), seg(sid.as_str(), 4, "consent-evidence"));
    assert_eq!(Slot::DocumentChunk(&did, "up", 7).aad(), seg(did.as_str(), 7, "document/up"));
    let hold = HoldId::parse("hold_01jx0000000000000000000000").unwrap();
    assert_eq!(Slot::Hold(&did, &hold).aad(), seg(did.as_str(), 0, &format!("hold/{hold}")));
    let inc = IncidentId::parse("inc_01jx0000000000000000000000").unwrap();
    assert_eq!(Slot::IncidentTexts(&inc).aad(), seg(inc.as_str(), 0, &format!("incident/{inc}/texts")));
    let text = Slot::RegisterText { owner: sid.as_str(), field: "request/req_1/details" };
    assert_eq!(text.aad(), seg(sid.as_str(), 0, "request/req_1/details"));
}
