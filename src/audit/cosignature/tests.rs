use super::*;

/// The checkpoint body and time of C2SP tlog-cosignature's example.
const SPEC_BODY: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SPEC_TIME: u64 = 1679315147;
/// RFC 8032's first Ed25519 test key (section 7.1, TEST 1): secret and public.
const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// Derived by hand from the spec text with that key and the name
/// `witness.example.com/w1` (an RFC 8032 signer written from the RFC, in
/// Python, not this code): key id = SHA-256(name || "\n" || 0x04 || public
/// key)[:4], the signature over the spec's example message.
const VECTOR_VKEY: &str = "witness.example.com/w1+7e6f4aaa+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";
const VECTOR_LINE: &str = "\u{2014} witness.example.com/w1 fm9KqgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57DLErur7K0yDXc2ArN+TIuotuB/HbuL3AJsp3bv/aNCQ==\n";

fn vector_signer() -> Cosigner {
    let seed: [u8; 32] = hex::decode(RFC8032_SEED).unwrap().try_into().unwrap();
    Cosigner::from_seed("witness.example.com/w1", &seed).unwrap()
}

#[test]
fn the_signed_message_is_the_specs_example_byte_for_byte() {
    assert_eq!(
        message(SPEC_BODY, SPEC_TIME),
        "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
}

#[test]
fn the_specs_example_cosignature_carries_its_key_id_and_timestamp() {
    // The example's witness line: 4 bytes of key id, then the timestamp of
    // the example message (1679315147) big-endian, then 64 signature bytes.
    let blob = B64
        .decode(
            "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==",
        )
        .unwrap();
    assert_eq!(blob.len(), BLOB_LEN);
    assert_eq!(u64::from_be_bytes(blob[4..12].try_into().unwrap()), SPEC_TIME);
}

#[test]
fn a_hand_derived_vector_is_reproduced_byte_for_byte() {
    let s = vector_signer();
    assert_eq!(s.verifier_key(), VECTOR_VKEY);
    assert_eq!(s.cosign(SPEC_BODY, SPEC_TIME).unwrap(), VECTOR_LINE);
    let v = CosignatureVerifier::parse(VECTOR_VKEY).unwrap();
    assert_eq!(v.check_line(SPEC_BODY, VECTOR_LINE), Ok(Some(SPEC_TIME)));
    let note = format!("{SPEC_BODY}\n\u{2014} example.com/behind-the-sofa AAAAAAAA\n{VECTOR_LINE}");
    assert_eq!(v.verify_note(&note), Ok(SPEC_TIME));
}

#[test]
fn an_independent_ed25519_agrees() {
    let s = vector_signer();
    let line = s.cosign(SPEC_BODY, 42).unwrap();
    let blob = B64.decode(line.trim_end().rsplit(' ').next().unwrap()).unwrap();
    let seed: [u8; 32] = hex::decode(RFC8032_SEED).unwrap().try_into().unwrap();
    let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
    let sig = ed25519_compact::Signature::from_slice(&blob[12..]).unwrap();
    assert!(kp.pk.verify(message(SPEC_BODY, 42).as_bytes(), &sig).is_ok());
    // The log's own signature type (0x01) over the same key gives another key id.
    let log = super::super::checkpoint::NoteSigner::from_seed("witness.example.com/w1", &seed).unwrap();
    assert_ne!(log.verifier_key().split('+').nth(1), s.verifier_key().split('+').nth(1));
}

#[test]
fn forged_foreign_and_malformed_cosignatures_are_told_apart() {
    let s = vector_signer();
    let v = CosignatureVerifier::parse(&s.verifier_key()).unwrap();
    let line = s.cosign(SPEC_BODY, SPEC_TIME).unwrap();
    // Another body, another time: this witness's line that does not verify.
    let other = SPEC_BODY.replace("20852163", "20852164");
    assert!(matches!(v.check_line(&other, &line), Err(CosignatureError::BadSignature(_))));
    let mut blob = B64.decode(line.trim_end().rsplit(' ').next().unwrap()).unwrap();
    blob[11] ^= 1;
    let retimed = format!("\u{2014} witness.example.com/w1 {}\n", B64.encode(&blob));
    assert!(matches!(v.check_line(SPEC_BODY, &retimed), Err(CosignatureError::BadSignature(_))));
    // A key of another witness (or the same name with another key) is ignored.
    let stranger = Cosigner::from_seed("witness.example.com/w1", &[7u8; 32]).unwrap();
    assert_eq!(v.check_line(SPEC_BODY, &stranger.cosign(SPEC_BODY, 1).unwrap()), Ok(None));
    let note = format!("{SPEC_BODY}\n{}", stranger.cosign(SPEC_BODY, 1).unwrap());
    assert!(matches!(v.verify_note(&note), Err(CosignatureError::Missing(_))));
    assert!(matches!(v.verify_note(&format!("{other}\n{line}")), Err(CosignatureError::BadSignature(_))));
    assert!(s.cosign(SPEC_BODY, MAX_TIMESTAMP + 1).is_err());
    for bad in [
        VECTOR_VKEY.replace("+7e6f4aaa+", "+7e6f4aab+"),
        VECTOR_VKEY.replace("+BNda", "+AdDa"),
        "witness.example.com/w1+7e6f4aaa".to_owned(),
        String::new(),
    ] {
        assert!(CosignatureVerifier::parse(&bad).is_err(), "{bad}");
    }
    assert!(split_note("no signatures\n").is_err());
    assert!(split_note(&format!("{SPEC_BODY}\nnot a signature\n")).is_err());
    assert!(split_note(&format!("{SPEC_BODY}\n{}", line.repeat(MAX_SIGNATURES + 1))).is_err());
}
