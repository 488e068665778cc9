//! Dossier versions in the vault: how a version is sealed into segments
//! and opened again. It owns segment names, the record stored per version,
//! and applies the vault's rule for a destroyed key: a segment sealed under
//! it reads as [`Opened::Erased`], never as an error and never as data.
//! Read, update, close, retention, search and the subject export all go
//! through it.

use super::{open_with, seal_with, Opened, Slot, Vault};
use crate::archive::ArchiveError;
use crate::crypto::{DataKey, KeyRef, Sealed};
use crate::domain::dossier::{
    BusinessPart, ConfidentialPart, PersonalFields, ProprietorPart, SensitivePart, SplitDossier, SubjectSensitivePart,
};
use crate::domain::{Classification, DossierId, SubjectId};
use crate::store::{keys, Cf, Op};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Which part of a version a segment holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SegmentName {
    /// The dossier's internal fields.
    Business,
    /// `finance.credit_rating`, `finance.payment_terms`.
    Confidential,
    /// `finance.bank_account`.
    Sensitive,
    /// One contact's personal fields, under the person's key.
    Personal(SubjectId),
    /// One contact's sensitive fields (`id_number`), under the person's key.
    SubjectSensitive(SubjectId),
    /// A natural-person customer's finance fields, under its proprietor's key.
    Proprietor(SubjectId),
}

impl SegmentName {
    pub fn class(&self) -> Classification {
        match self {
            SegmentName::Business => Classification::Internal,
            SegmentName::Confidential => Classification::Confidential,
            SegmentName::Sensitive | SegmentName::SubjectSensitive(_) | SegmentName::Proprietor(_) => {
                Classification::Sensitive
            }
            SegmentName::Personal(_) => Classification::Personal,
        }
    }

    /// The person whose key seals it, if any.
    pub fn subject(&self) -> Option<&SubjectId> {
        match self {
            SegmentName::Personal(s) | SegmentName::SubjectSensitive(s) | SegmentName::Proprietor(s) => Some(s),
            _ => None,
        }
    }

    /// The data key that seals it.
    pub fn key(&self, dossier: &DossierId) -> KeyRef {
        match self.subject() {
            Some(s) => KeyRef::Subject(s.clone()),
            None => KeyRef::Dossier(dossier.clone()),
        }
    }
}

impl std::fmt::Display for SegmentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SegmentName::Business => f.write_str("business"),
            SegmentName::Confidential => f.write_str("confidential"),
            SegmentName::Sensitive => f.write_str("sensitive"),
            SegmentName::Personal(s) => write!(f, "personal/{s}"),
            SegmentName::SubjectSensitive(s) => write!(f, "sensitive/{s}"),
            SegmentName::Proprietor(s) => write!(f, "proprietor/{s}"),
        }
    }
}

impl std::str::FromStr for SegmentName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let sid = |v: &str| SubjectId::parse(v).map_err(|e| e.to_string());
        match s.split_once('/') {
            None if s == "business" => Ok(SegmentName::Business),
            None if s == "confidential" => Ok(SegmentName::Confidential),
            None if s == "sensitive" => Ok(SegmentName::Sensitive),
            Some(("personal", v)) => Ok(SegmentName::Personal(sid(v)?)),
            Some(("sensitive", v)) => Ok(SegmentName::SubjectSensitive(sid(v)?)),
            Some(("proprietor", v)) => Ok(SegmentName::Proprietor(sid(v)?)),
            _ => Err("unknown segment name".into()),
        }
    }
}

impl TryFrom<String> for SegmentName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<SegmentName> for String {
    fn from(n: SegmentName) -> String {
        n.to_string()
    }
}

/// One sealed segment of a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentRecord {
    pub name: SegmentName,
    /// The data key that sealed it (stored as its key id, `d/<dos>` or `s/<sub>`).
    pub key: KeyRef,
    pub sealed: Sealed,
}

/// A dossier version as stored; never rewritten. Its hash is SHA-256 of
/// these bytes (postcard encoding) and the next version names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionRecord {
    pub dossier: String,
    pub version: u32,
    pub prev_hash: [u8; 32],
    pub created_at_us: i64,
    pub actor: String,
    pub segments: Vec<SegmentRecord>,
}

impl VersionRecord {
    pub fn decode(bytes: &[u8]) -> Result<Self, ArchiveError> {
        postcard::from_bytes(bytes).map_err(|e| ArchiveError::Internal(anyhow::anyhow!("version record: {e}")))
    }

    pub fn encode(&self) -> Result<Vec<u8>, ArchiveError> {
        postcard::to_allocvec(self).map_err(|e| ArchiveError::Internal(e.into()))
    }

    /// The hash the next version names.
    pub fn hash(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    pub fn created_at(&self) -> Result<OffsetDateTime, ArchiveError> {
        OffsetDateTime::from_unix_timestamp_nanos(self.created_at_us as i128 * 1000)
            .map_err(|e| ArchiveError::Internal(e.into()))
    }
}

/// A segment's plaintext, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Business(Box<BusinessPart>),
    Confidential(ConfidentialPart),
    Sensitive(SensitivePart),
    Personal(SubjectId, PersonalFields),
    SubjectSensitive(SubjectId, SubjectSensitivePart),
    Proprietor(SubjectId, ProprietorPart),
}

/// Parses a decrypted segment (the codec's error names the position, never
/// the input: this input is personal data).
pub(crate) fn parse_segment<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ArchiveError> {
    Ok(crate::store::codec::decode("decrypted segment", b)?)
}

/// A segment's plaintext, wiped when dropped.
fn to_json<T: Serialize>(v: &T) -> Result<Zeroizing<Vec<u8>>, ArchiveError> {
    Ok(Zeroizing::new(crate::store::codec::encode(v)?))
}

/// Data keys a new version needs, and the ones created for it (stored
/// wrapped in the same batch, cached once it is durable).
#[derive(Default)]
pub(crate) struct VersionKeys {
    pub dossier: Option<Arc<DataKey>>,
    pub subjects: Vec<(SubjectId, Arc<DataKey>)>,
    /// A natural-person customer's proprietor and their key.
    pub proprietor: Option<(SubjectId, Arc<DataKey>)>,
    pub created: Vec<(KeyRef, Arc<DataKey>)>,
    pub ops: Vec<Op>,
}

/// The people whose key a write creates (`VersionKeys::created`): new, so
/// none can have restricted processing yet.
pub(crate) fn created_subjects(created: &[(KeyRef, Arc<DataKey>)]) -> Vec<SubjectId> {
    created
        .iter()
        .filter_map(|(r, _)| match r {
            KeyRef::Subject(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// Seals the segments of `split` as version `version` of `id`.
pub(crate) fn seal_segments(
    id: &DossierId,
    version: u32,
    split: &SplitDossier,
    keys: &VersionKeys,
) -> Result<Vec<SegmentRecord>, ArchiveError> {
    let dkey = keys.dossier.as_ref().ok_or_else(|| anyhow::anyhow!("dossier key missing"))?;
    let mut segments = Vec::new();
    let mut add = |name: SegmentName, key: &DataKey, plain: Zeroizing<Vec<u8>>| -> Result<(), ArchiveError> {
        let sealed = seal_with(key, Slot::Segment { dossier: id, version, segment: &name }, &plain)?;
        segments.push(SegmentRecord { key: name.key(id), name, sealed });
        Ok(())
    };
    add(SegmentName::Business, dkey, to_json(&split.business)?)?;
    if let Some(c) = &split.confidential {
        add(SegmentName::Confidential, dkey, to_json(c)?)?;
    }
    if let Some(s) = &split.sensitive {
        add(SegmentName::Sensitive, dkey, to_json(s)?)?;
    }
    for ((sid, personal, sens), (key_sid, skey)) in split.contacts.iter().zip(&keys.subjects) {
        if sid != key_sid {
            return Err(anyhow::anyhow!("subject keys out of order").into());
        }
        add(SegmentName::Personal(sid.clone()), skey, to_json(personal)?)?;
        if let Some(s) = sens {
            add(SegmentName::SubjectSensitive(sid.clone()), skey, to_json(s)?)?;
        }
    }
    if let Some(p) = &split.proprietor {
        let (sid, pkey) = keys.proprietor.as_ref().ok_or_else(|| anyhow::anyhow!("proprietor key missing"))?;
        if split.proprietor_id() != Some(sid) {
            return Err(anyhow::anyhow!("proprietor key of another subject").into());
        }
        add(SegmentName::Proprietor(sid.clone()), pkey, to_json(p)?)?;
    }
    Ok(segments)
}

/// Opens one segment with `key` and parses it.
fn open_part(key: &DataKey, id: &DossierId, version: u32, seg: &SegmentRecord) -> Result<Part, ArchiveError> {
    let plain = open_with(key, Slot::Segment { dossier: id, version, segment: &seg.name }, &seg.sealed)?;
    Ok(match &seg.name {
        SegmentName::Business => Part::Business(Box::new(parse_segment(&plain)?)),
        SegmentName::Confidential => Part::Confidential(parse_segment(&plain)?),
        SegmentName::Sensitive => Part::Sensitive(parse_segment(&plain)?),
        SegmentName::Personal(s) => Part::Personal(s.clone(), parse_segment(&plain)?),
        SegmentName::SubjectSensitive(s) => Part::SubjectSensitive(s.clone(), parse_segment(&plain)?),
        SegmentName::Proprietor(s) => Part::Proprietor(s.clone(), parse_segment(&plain)?),
    })
}

/// Builds a split dossier from opened parts, in segment order.
pub(crate) fn assemble(parts: Vec<Part>) -> Result<SplitDossier, ArchiveError> {
    let (mut business, mut confidential, mut sensitive, mut proprietor) = (None, None, None, None);
    let mut contacts: Vec<(SubjectId, PersonalFields, Option<SubjectSensitivePart>)> = Vec::new();
    for part in parts {
        match part {
            Part::Business(b) => business = Some(*b),
            Part::Confidential(c) => confidential = Some(c),
            Part::Sensitive(s) => sensitive = Some(s),
            Part::Personal(sid, p) => contacts.push((sid, p, None)),
            Part::SubjectSensitive(sid, s) => {
                if let Some(c) = contacts.iter_mut().find(|c| c.0 == sid) {
                    c.2 = Some(s);
                }
            }
            Part::Proprietor(_, p) => proprietor = Some(p),
        }
    }
    let business = business.ok_or_else(|| anyhow::anyhow!("version has no business segment"))?;
    Ok(SplitDossier { business, confidential, sensitive, contacts, proprietor })
}

impl Vault {
    /// A version's record and its stored bytes.
    pub(crate) fn load_version(
        &self,
        id: &DossierId,
        version: u32,
    ) -> Result<Option<(VersionRecord, Vec<u8>)>, ArchiveError> {
        match self.store.get(Cf::Versions, &keys::version(id, version))? {
            None => Ok(None),
            Some(bytes) => Ok(Some((VersionRecord::decode(&bytes)?, bytes))),
        }
    }

    /// Whether a segment's key was destroyed (no unwrap needed to tell).
    pub(crate) fn is_erased(&self, seg: &SegmentRecord) -> Result<bool, ArchiveError> {
        Ok(!self.keyring.exists(&seg.key)?)
    }

    /// Opens one segment of `rec`; a destroyed key reads as erased.
    pub(crate) fn open_segment(
        &self,
        id: &DossierId,
        rec: &VersionRecord,
        seg: &SegmentRecord,
    ) -> Result<Opened<Part>, ArchiveError> {
        Ok(match self.key(&seg.key)? {
            Opened::Plain(key) => Opened::Plain(open_part(&key, id, rec.version, seg)?),
            Opened::Erased => Opened::Erased,
        })
    }

    /// Every segment of a version that can still be opened, as a split
    /// dossier: an erased person is left out (internal use: nothing of it
    /// leaves the process unfiltered), an erased proprietor's name, credit
    /// code and address too where a version of the older format kept them
    /// in its business segment; so a new version made from it (a regrade,
    /// the relationship's end) holds nothing of them.
    pub(crate) fn open_split(&self, id: &DossierId, rec: &VersionRecord) -> Result<SplitDossier, ArchiveError> {
        let mut parts = Vec::with_capacity(rec.segments.len());
        for seg in &rec.segments {
            if let Opened::Plain(p) = self.open_segment(id, rec, seg)? {
                parts.push(p);
            }
        }
        let mut split = assemble(parts)?;
        if let Some(sid) = split.proprietor_id().cloned() {
            if !self.keyring.exists(&KeyRef::Subject(sid))? {
                let c = &mut split.business.customer;
                (c.name, c.credit_code, c.address) = (String::new(), None, None);
                split.proprietor = None;
            }
        }
        Ok(split)
    }

    /// [`Vault::open_split`] of the version `version`.
    pub(crate) fn open_version_split(&self, id: &DossierId, version: u32) -> Result<SplitDossier, ArchiveError> {
        let (rec, _) = self.load_version(id, version)?.ok_or_else(|| anyhow::anyhow!("version record missing"))?;
        self.open_split(id, &rec)
    }

    /// Seals `split` as version `version` (naming `prev_hash`): the record's
    /// bytes and their hash.
    pub(crate) fn seal_version(
        &self,
        id: &DossierId,
        version: u32,
        prev_hash: [u8; 32],
        actor: &str,
        split: &SplitDossier,
        keys: &VersionKeys,
    ) -> Result<(Vec<u8>, [u8; 32]), ArchiveError> {
        let rec = VersionRecord {
            dossier: id.to_string(),
            version,
            prev_hash,
            created_at_us: (self.clock.now().unix_timestamp_nanos() / 1000) as i64,
            actor: actor.to_owned(),
            segments: seal_segments(id, version, split, keys)?,
        };
        let bytes = rec.encode()?;
        let hash = VersionRecord::hash(&bytes);
        Ok((bytes, hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::dossier::{Customer, Grade, Status};
    use crate::domain::PrincipalId;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![".{0,12}", "[张王李赵]{1,3}经理", "[0-9]{11}"]
    }

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    /// A company in 华东.
    fn customer(name: String, industry: Option<String>) -> Customer {
        Customer {
            kind: Default::default(),
            subject_id: None,
            name,
            credit_code: None,
            industry,
            region: "华东".into(),
            address: None,
            notice: None,
            sensitive_basis: None,
        }
    }

    fn split() -> impl Strategy<Value = SplitDossier> {
        let business = (text(), opt_text(), opt_text(), proptest::collection::vec(text(), 0..3)).prop_map(
            |(name, industry, remarks, tags)| BusinessPart {
                customer: customer(name, industry),
                owner: PrincipalId::generate(),
                status: Status::Active,
                grade: Grade::B,
                transport: None,
                preferences: None,
                remarks,
                tags,
            },
        );
        let contact =
            (text(), opt_text(), opt_text(), opt_text(), opt_text()).prop_map(|(name, phone, email, role, idn)| {
                (
                    SubjectId::generate(),
                    PersonalFields { name, phone, email, role },
                    idn.map(|n| SubjectSensitivePart { id_number: Some(n) }),
                )
            });
        (business, proptest::option::of((opt_text(), opt_text())), opt_text(), proptest::collection::vec(contact, 0..4))
            .prop_map(|(business, conf, bank, contacts)| SplitDossier {
                business,
                confidential: conf
                    .map(|(credit_rating, payment_terms)| ConfidentialPart { credit_rating, payment_terms }),
                sensitive: bank.map(|b| SensitivePart { bank_account: Some(b) }),
                contacts,
                proprietor: None,
            })
    }

    proptest! {
        /// Seal, store as a record, decode, open with the same keys: the
        /// same dossier; and every segment is bound to its slot.
        #[test]
        fn seal_then_open_returns_the_same_dossier(split in split(), version in 1u32..1000) {
            let id = DossierId::generate();
            let keys = VersionKeys {
                dossier: Some(Arc::new(DataKey::generate())),
                subjects: split.contacts.iter().map(|c| (c.0.clone(), Arc::new(DataKey::generate()))).collect(),
                ..Default::default()
            };
            let key_of = |k: &KeyRef| -> Arc<DataKey> {
                match k {
                    KeyRef::Subject(s) => keys.subjects.iter().find(|(x, _)| x == s).map(|(_, k)| k.clone()).unwrap(),
                    _ => keys.dossier.clone().unwrap(),
                }
            };
            let rec = VersionRecord {
                dossier: id.to_string(), version, prev_hash: [7; 32], created_at_us: 0, actor: "prn".into(),
                segments: seal_segments(&id, version, &split, &keys).unwrap(),
            };
            let rec = VersionRecord::decode(&rec.encode().unwrap()).unwrap();
            let parts: Vec<Part> =
                rec.segments.iter().map(|s| open_part(&key_of(&s.key), &id, version, s).unwrap()).collect();
            prop_assert_eq!(assemble(parts).unwrap(), split.clone());
            for s in &rec.segments {
                prop_assert!(open_part(&key_of(&s.key), &id, version + 1, s).is_err(), "bound to the version");
                prop_assert!(open_part(&key_of(&s.key), &DossierId::generate(), version, s).is_err(), "bound to the dossier");
                prop_assert_eq!(s.name.to_string().parse::<SegmentName>().unwrap(), s.name.clone());
            }
        }
    }

    #[test]
    fn a_proprietors_finance_is_sealed_under_their_key_alone() {
        let sid = SubjectId::generate();
        let mut split = SplitDossier {
            business: BusinessPart {
                customer: Customer {
                    kind: crate::domain::dossier::CustomerKind::SoleTrader,
                    subject_id: Some(sid.clone()),
                    ..customer("王记五金店".into(), None)
                },
                owner: PrincipalId::generate(),
                status: Status::Active,
                grade: Grade::C,
                transport: None,
                preferences: None,
                remarks: None,
                tags: vec![],
            },
            confidential: None,
            sensitive: None,
            contacts: vec![],
            proprietor: Some(ProprietorPart { bank_account: Some("6222021001987654321".into()), ..Default::default() }),
        };
        let id = DossierId::generate();
        let (dkey, pkey) = (Arc::new(DataKey::generate()), Arc::new(DataKey::generate()));
        let mut keys = VersionKeys { dossier: Some(dkey.clone()), ..Default::default() };
        assert!(seal_segments(&id, 1, &split, &keys).is_err(), "no proprietor key: nothing sealed");
        keys.proprietor = Some((sid.clone(), pkey.clone()));
        let segments = seal_segments(&id, 1, &split, &keys).unwrap();
        let seg = segments.iter().find(|s| s.name == SegmentName::Proprietor(sid.clone())).unwrap();
        assert_eq!(seg.key, KeyRef::Subject(sid.clone()));
        assert_eq!(seg.name.class(), Classification::Sensitive);
        assert!(open_part(&dkey, &id, 1, seg).is_err(), "the dossier's key does not open it");
        let parts: Vec<Part> = segments
            .iter()
            .map(|s| open_part(if s.key == KeyRef::Subject(sid.clone()) { &pkey } else { &dkey }, &id, 1, s).unwrap())
            .collect();
        assert_eq!(assemble(parts).unwrap(), split);
        // Another person's key is refused.
        keys.proprietor = Some((SubjectId::generate(), pkey));
        assert!(seal_segments(&id, 1, &split, &keys).is_err());
        split.proprietor = None;
        assert!(seal_segments(&id, 1, &split, &keys).unwrap().iter().all(|s| s.name.subject().is_none()));
    }

    #[test]
    fn segment_names_round_trip_and_refuse_the_unknown() {
        let sid = SubjectId::generate();
        for n in [
            SegmentName::Business,
            SegmentName::Confidential,
            SegmentName::Sensitive,
            SegmentName::Personal(sid.clone()),
            SegmentName::SubjectSensitive(sid.clone()),
            SegmentName::Proprietor(sid.clone()),
        ] {
            assert_eq!(n.to_string().parse::<SegmentName>().unwrap(), n);
        }
        assert_eq!(SegmentName::SubjectSensitive(sid.clone()).class(), Classification::Sensitive);
        assert!("personal/nobody".parse::<SegmentName>().is_err());
        assert!("finance".parse::<SegmentName>().is_err());
    }
}
