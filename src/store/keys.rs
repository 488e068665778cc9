//! Every RocksDB key layout, in one place. A key names a column family's
//! record; none holds a personal value (ids are opaque, chosen by custos).
//!
//! | column family | key | value |
//! |---|---|---|
//! | `system` | `initialized`, `audit_head`, `checkpoint_origin`, `checkpoint_verifier_key` | markers, the chain head, the log's origin and verifier key |
//! | `principals` | `p/<prn>`, `t/<tok>`, `h/<sha256 hex>`, `e/<sha256 hex>` | principal, token, token hash → token, enrollment code hash → token |
//! | `dossiers` | `<dos>` | dossier metadata |
//! | `versions` | `<dos>/<version u32 BE>` | sealed version record |
//! | `subjects` | `<sub>`, `<sub>/d/<dos>`, `<sub>/c/<event u32 BE>` | subject metadata, link to a dossier, consent event |
//! | `keys` | `d/<dos>`, `s/<sub>`, `x/blind-index`, `c/checkpoint-ed25519` | wrapped data keys, the log's wrapped signing seed |
//! | `audit` | `<seq u64 BE>` | canonical entry |
//! | `merkle` | `<level u8><index u64 BE>` | complete subtree hash |
//! | `audit_index` | `<field u8><SHA-256(value)[..16]><seq u64 BE>` | empty (the row is the fact) |
//! | `alerts` | `<alr>` | alert record |
//! | `disposition` | `h/<dos>/<hold>`, `b/<bat>`, `c/<cert>`, `p/<sub>` | legal hold, batch, certificate, pending erasure |
//! | `registers` | `r/<req>`, `i/<inc>`, `a/<inc>/<n u32 BE>`, `x/<exp>`, `s/<pia>`, `d/<pia>` | subject request, incident, sealed affected-person list, bulk export, impact assessment, its sealed report |
//! | `documents` | `m/<dos>/<name>`, `c/<dos>/<upload>/<n u32 BE>` | document metadata, sealed chunk |

use crate::domain::{DossierId, PrincipalId, SubjectId, TokenId};

/// `system`: set once the data directory is initialised.
pub const INITIALIZED: &[u8] = b"initialized";
/// `system`: the audit chain head (next seq, last hash).
pub const AUDIT_HEAD: &[u8] = b"audit_head";
/// `system`: set once the audit indexes hold a row for every entry.
pub const AUDIT_INDEX_MARKER: &[u8] = b"audit_index";
/// `system`: how far the subject map has taken in the log (`size` u64 BE):
/// its leaves (column family `subject_map`) hold every entry before it.
pub const SUBJECT_MAP_HEAD: &[u8] = b"subject_map_head";
/// `system`: the checkpoint origin line.
pub const CHECKPOINT_ORIGIN: &[u8] = b"checkpoint_origin";
/// `system`: the note verifier key of the log.
pub const CHECKPOINT_VERIFIER_KEY: &[u8] = b"checkpoint_verifier_key";
/// `system`: the lineage of this database's files (RocksDB never reuses a
/// file number within it): backups reuse an SST's object by lineage, name
/// and size. A restore starts a new lineage.
pub const DB_LINEAGE: &[u8] = b"db_lineage";
/// `keys`: the log's Ed25519 signing seed, wrapped to the master key.
pub const CHECKPOINT_SIGNING_KEY: &[u8] = b"c/checkpoint-ed25519";
/// `keys`: the witness's Ed25519 cosigning seed, wrapped to the master key.
pub const WITNESS_SIGNING_KEY: &[u8] = b"c/witness-ed25519";
/// `system`: the witness's cosignature verifier key (C2SP tlog-cosignature).
pub const WITNESS_VERIFIER_KEY: &[u8] = b"witness_verifier_key";
/// `system`: what this custos, as a witness, last cosigned of a log, by origin.
pub const WITNESSED_PREFIX: &[u8] = b"witness/seen/";
pub fn witnessed(origin: &str) -> Vec<u8> {
    [WITNESSED_PREFIX, origin.as_bytes()].concat()
}
/// `system`: the last cosignature a witness gave this log, by witness name.
pub const COSIGNATURE_PREFIX: &[u8] = b"witness/cosig/";
pub fn cosignature(witness: &str) -> Vec<u8> {
    [COSIGNATURE_PREFIX, witness.as_bytes()].concat()
}
/// `system`: the log's latest checkpoint with its witnesses' cosignatures.
pub const COSIGNED_PREFIX: &[u8] = b"witness/cosigned";
pub fn cosigned(_: &()) -> Vec<u8> {
    COSIGNED_PREFIX.to_vec()
}

/// `dossiers`: a dossier's metadata.
pub fn dossier(id: &DossierId) -> Vec<u8> {
    id.as_str().as_bytes().to_vec()
}

/// `dossiers`, `subjects`: the prefix all top-level dossier / subject records share.
pub const DOSSIER_PREFIX: &[u8] = b"dos_";
pub const SUBJECT_PREFIX: &[u8] = b"sub_";

/// `versions`: one version of a dossier.
pub fn version(id: &DossierId, version: u32) -> Vec<u8> {
    let mut k = versions_prefix(id);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// `versions`: every version of a dossier.
pub fn versions_prefix(id: &DossierId) -> Vec<u8> {
    format!("{id}/").into_bytes()
}

/// `subjects`: a subject's metadata.
pub fn subject(id: &SubjectId) -> Vec<u8> {
    id.as_str().as_bytes().to_vec()
}

/// `subjects`: the link from a subject to a dossier naming them.
pub fn subject_link(sid: &SubjectId, dossier: &DossierId) -> Vec<u8> {
    let mut k = subject_links_prefix(sid);
    k.extend_from_slice(dossier.as_str().as_bytes());
    k
}

/// `subjects`: every link of a subject.
pub fn subject_links_prefix(sid: &SubjectId) -> Vec<u8> {
    format!("{sid}/d/").into_bytes()
}

/// `dossiers`: the customers a principal works on (`w/<prn>/<dos>`).
pub fn worked_on_prefix(p: &PrincipalId) -> Vec<u8> {
    format!("w/{p}/").into_bytes()
}

/// `system`: set once the marks of who works on which customer cover the
/// dossiers written before they were kept.
pub const WORKED_ON_MARKER: &[u8] = b"worked_on_marks";

/// `subjects`: one consent event of a subject.
pub fn consent_event(sid: &SubjectId, event: u32) -> Vec<u8> {
    let mut k = consent_events_prefix(sid);
    k.extend_from_slice(&event.to_be_bytes());
    k
}

/// `subjects`: every consent event of a subject.
pub fn consent_events_prefix(sid: &SubjectId) -> Vec<u8> {
    format!("{sid}/c/").into_bytes()
}

/// `principals`: where every principal's row starts.
pub const PRINCIPAL_PREFIX: &[u8] = b"p/";

/// `principals`: a principal.
pub fn principal(id: &PrincipalId) -> Vec<u8> {
    format!("p/{id}").into_bytes()
}

/// `principals`: a token record.
pub fn token(id: &TokenId) -> Vec<u8> {
    format!("t/{id}").into_bytes()
}

/// `principals`: token hash → principal id.
pub fn token_hash(hash_hex: &str) -> Vec<u8> {
    format!("h/{hash_hex}").into_bytes()
}

/// `principals`: a principal's second factor.
pub fn second_factor(id: &PrincipalId) -> Vec<u8> {
    format!("m/{id}").into_bytes()
}

/// `principals`: when a principal last signed in to the console.
pub fn console_visit(id: &PrincipalId) -> Vec<u8> {
    format!("v/{id}").into_bytes()
}

/// An enrollment code's SHA-256 (hex) → the token id it enrolls.
pub fn enrollment(code_hash_hex: &str) -> Vec<u8> {
    format!("e/{code_hash_hex}").into_bytes()
}

/// `alerts`: one alert.
pub fn alert(id: &str) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// `disposition`: a legal hold on a dossier.
pub fn hold(dossier: &DossierId, hold: &str) -> Vec<u8> {
    let mut k = holds_prefix(dossier);
    k.extend_from_slice(hold.as_bytes());
    k
}

/// `disposition`: every hold on a dossier.
pub fn holds_prefix(dossier: &DossierId) -> Vec<u8> {
    format!("h/{dossier}/").into_bytes()
}

/// `registers`: a data-subject request.
pub fn request(id: &crate::domain::RequestId) -> Vec<u8> {
    format!("r/{id}").into_bytes()
}

/// `registers`: every data-subject request.
pub const REQUEST_PREFIX: &[u8] = b"r/";

/// `registers`: the verifiable access report kept when an access request
/// was completed, sealed under the person's key.
pub fn access_report(id: &crate::domain::RequestId) -> Vec<u8> {
    format!("ar/{id}").into_bytes()
}

/// `registers`: an incident.
pub fn incident(id: &crate::domain::IncidentId) -> Vec<u8> {
    format!("i/{id}").into_bytes()
}

/// `registers`: every incident.
pub const INCIDENT_PREFIX: &[u8] = b"i/";

/// `registers`: one sealed list of the persons an incident affected.
pub fn affected_list(id: &crate::domain::IncidentId, n: u32) -> Vec<u8> {
    let mut k = format!("a/{id}/").into_bytes();
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// `registers`: an impact assessment.
pub fn assessment(id: &crate::domain::AssessmentId) -> Vec<u8> {
    format!("s/{id}").into_bytes()
}

/// `registers`: every impact assessment.
pub const ASSESSMENT_PREFIX: &[u8] = b"s/";

/// `registers`: an impact assessment's sealed report.
pub fn assessment_report(id: &crate::domain::AssessmentId) -> Vec<u8> {
    format!("d/{id}").into_bytes()
}

/// `registers`: a bulk export.
pub fn export(id: &crate::domain::ExportId) -> Vec<u8> {
    format!("x/{id}").into_bytes()
}

/// `registers`: what one principal listed through `GET /v1/dossiers/export`
/// lately (times and counts), for the cumulative bulk-export limit.
pub fn export_window(principal: &crate::domain::PrincipalId) -> Vec<u8> {
    format!("w/{principal}").into_bytes()
}

/// `registers`: a recipients-register entry.
pub fn recipient(id: &crate::domain::RecipientId) -> Vec<u8> {
    format!("t/{id}").into_bytes()
}

/// `registers`: every recipients-register entry (and their attestations).
pub const RECIPIENT_PREFIX: &[u8] = b"t/";

/// The end of an attestation's key (`t/<id>/a`).
pub const ATTESTATION_SUFFIX: &[u8] = b"/a";

/// `registers`: a recipient's deletion attestation.
pub fn recipient_attestation(id: &crate::domain::RecipientId) -> Vec<u8> {
    format!("t/{id}/a").into_bytes()
}

/// `registers`: a cross-border transfer record.
pub fn transfer(id: &crate::domain::TransferId) -> Vec<u8> {
    format!("f/{id}").into_bytes()
}

/// `registers`: every transfer record.
pub const TRANSFER_PREFIX: &[u8] = b"f/";

/// `registers`: the persons whose data went abroad in `year` (the yearly
/// count of distinct persons, PIPL Art. 38-40), each a mark
/// `y/<yyyy>/<sub>` under it (`store::Marks`).
pub fn transferred_prefix(year: &i32) -> Vec<u8> {
    format!("y/{year:04}/").into_bytes()
}

/// `registers`: set once the year's transfer-volume alert was raised.
pub fn transfer_alerted(year: i32) -> Vec<u8> {
    format!("z/{year:04}").into_bytes()
}

/// `registers`: the `n`th record of the personal-information protection
/// officer (append-only: the last is the current one).
pub fn officer(n: &u32) -> Vec<u8> {
    let mut k = OFFICER_PREFIX.to_vec();
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// `registers`: every record of the officer.
pub const OFFICER_PREFIX: &[u8] = b"k/";

/// `registers`: the count of distinct persons the daily check last made,
/// and when the officer threshold was crossed (one row).
pub fn officer_state(_: &()) -> Vec<u8> {
    b"q/officer".to_vec()
}

/// `registers`: the kinds of processing an `assessment_missing` alert was
/// raised for (one row).
pub fn assessment_alerts(_: &()) -> Vec<u8> {
    b"q/assessments".to_vec()
}

/// `registers`: the principals whose roles clash that the last
/// `role_separation` alerts named (one row).
pub fn role_separation_alerts(_: &()) -> Vec<u8> {
    b"q/role-separation".to_vec()
}

/// `registers`: a data-grading decision (DSL Art. 21), append-only.
pub fn grade_decision(id: &crate::domain::GradeDecisionId) -> Vec<u8> {
    format!("dg/{id}").into_bytes()
}

/// `registers`: every data-grading decision.
pub const GRADE_DECISION_PREFIX: &[u8] = b"dg/";

/// `registers`: an appointment of the person responsible for network-data
/// security (NDSMR Art. 30), append-only.
pub fn appointment(id: &crate::domain::AppointmentId) -> Vec<u8> {
    format!("da/{id}").into_bytes()
}

/// `registers`: every such appointment.
pub const APPOINTMENT_PREFIX: &[u8] = b"da/";

/// `registers`: whether the alert that important data has nobody
/// responsible is raised (one row).
pub fn data_security_alert(_: &()) -> Vec<u8> {
    b"q/data-security".to_vec()
}

/// `registers`: a compliance-audit engagement with its findings.
pub fn engagement(id: &crate::domain::EngagementId) -> Vec<u8> {
    format!("ce/{id}").into_bytes()
}

/// `registers`: every compliance-audit engagement.
pub const ENGAGEMENT_PREFIX: &[u8] = b"ce/";

/// `registers`: an engagement's sealed report.
pub fn engagement_report(id: &crate::domain::EngagementId) -> Vec<u8> {
    format!("cr/{id}").into_bytes()
}

/// `registers`: the schedule's state of one kind of engagement (since
/// when it applies, which due day was reminded of).
pub fn audit_schedule(kind: &str) -> Vec<u8> {
    format!("cq/{kind}").into_bytes()
}

/// `registers`: how many engagements of one kind were planned: every plan
/// changes it, so a plan checked against the others commits only if none
/// was planned meanwhile.
pub fn engagements_planned(kind: &str) -> Vec<u8> {
    format!("cv/{kind}").into_bytes()
}

/// `registers`: the digest of a privacy-notice version, recorded once it
/// is in force.
pub fn notice(version: &str) -> Vec<u8> {
    format!("n/{version}").into_bytes()
}

/// `registers`: that the `notice_notifications_overdue` alert was raised
/// for a notice version (once per version).
pub fn notice_owed_alert(version: &String) -> Vec<u8> {
    format!("no/{version}").into_bytes()
}

/// `subjects`: what was recorded when a person's data was collected into a
/// dossier (notice version, basis of sensitive fields), one per version.
pub fn collection(sid: &SubjectId, dossier: &DossierId, version: u32) -> Vec<u8> {
    let mut k = collections_prefix(sid);
    k.extend_from_slice(dossier.as_str().as_bytes());
    k.push(b'/');
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// `subjects`: every collection record of a person.
pub fn collections_prefix(sid: &SubjectId) -> Vec<u8> {
    format!("{sid}/n/").into_bytes()
}

/// `disposition`: an erasure a legal hold blocks, waiting for its release.
pub fn pending_erasure(sid: &SubjectId) -> Vec<u8> {
    format!("p/{sid}").into_bytes()
}

/// `disposition`: every pending erasure.
pub const PENDING_ERASURE_PREFIX: &[u8] = b"p/";

/// `disposition`: a destruction batch.
pub fn batch(batch: &str) -> Vec<u8> {
    format!("{}{batch}", BATCH_PREFIX_STR).into_bytes()
}

const BATCH_PREFIX_STR: &str = "b/";
/// `disposition`: every batch.
pub const BATCH_PREFIX: &[u8] = BATCH_PREFIX_STR.as_bytes();

/// `disposition`: a destruction certificate.
pub fn certificate(cert: &str) -> Vec<u8> {
    format!("c/{cert}").into_bytes()
}

/// `documents`: a document's metadata.
pub fn document(dossier: &DossierId, name: &str) -> Vec<u8> {
    let mut k = documents_prefix(dossier);
    k.extend_from_slice(name.as_bytes());
    k
}

/// `documents`: every document of a dossier.
pub fn documents_prefix(dossier: &DossierId) -> Vec<u8> {
    format!("m/{dossier}/").into_bytes()
}

/// `documents`: an interaction with a dossier's customer (ids sort by time).
pub fn interaction(dossier: &DossierId, id: &crate::domain::InteractionId) -> Vec<u8> {
    let mut k = interactions_prefix(dossier);
    k.extend_from_slice(id.as_str().as_bytes());
    k
}

/// `documents`: every interaction of a dossier.
pub fn interactions_prefix(dossier: &DossierId) -> Vec<u8> {
    format!("i/{dossier}/").into_bytes()
}

/// `documents`: one revision of a dossier's figures for a month (`yyyy-mm`).
pub fn figures(dossier: &DossierId, month: &str, revision: u32) -> Vec<u8> {
    let mut k = figures_prefix(dossier);
    k.extend_from_slice(month.as_bytes());
    k.push(b'/');
    k.extend_from_slice(&revision.to_be_bytes());
    k
}

/// `documents`: every figure of a dossier.
pub fn figures_prefix(dossier: &DossierId) -> Vec<u8> {
    format!("g/{dossier}/").into_bytes()
}

/// `documents`: a manual grade override of a dossier (`n`: its number).
pub fn grade_override(dossier: &DossierId, n: u32) -> Vec<u8> {
    let mut k = grade_overrides_prefix(dossier);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// `documents`: every grade override of a dossier.
pub fn grade_overrides_prefix(dossier: &DossierId) -> Vec<u8> {
    format!("o/{dossier}/").into_bytes()
}

/// `documents`: a review of a dossier.
pub fn review(dossier: &DossierId, id: &str) -> Vec<u8> {
    let mut k = reviews_prefix(dossier);
    k.extend_from_slice(id.as_bytes());
    k
}

/// `documents`: every review of a dossier.
pub fn reviews_prefix(dossier: &DossierId) -> Vec<u8> {
    format!("v/{dossier}/").into_bytes()
}

/// `documents`: a dossier by the keyed hash (hex) of an external reference
/// (a credit code, an import's key column).
pub fn external_ref(hash_hex: &str) -> Vec<u8> {
    format!("x/{hash_hex}").into_bytes()
}

/// `documents`: the chunks of every upload of a dossier.
pub fn all_chunks_prefix(dossier: &DossierId) -> Vec<u8> {
    format!("c/{dossier}/").into_bytes()
}

/// `documents`: the chunks of one upload.
pub fn chunks_prefix(dossier: &DossierId, upload: &str) -> Vec<u8> {
    let mut k = all_chunks_prefix(dossier);
    k.extend_from_slice(upload.as_bytes());
    k.push(b'/');
    k
}

/// `documents`: chunk `n` of an upload.
pub fn chunk(dossier: &DossierId, upload: &str, n: u32) -> Vec<u8> {
    let mut k = chunks_prefix(dossier, upload);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// `audit`: entry `seq`.
pub fn audit_entry(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// `audit_index`: the row of entry `seq` under `term` (field and value hash).
pub fn audit_index(term: &[u8; 17], seq: u64) -> [u8; 25] {
    let mut k = [0u8; 25];
    k[..17].copy_from_slice(term);
    k[17..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// `merkle`: the complete subtree `index` at `level`.
pub fn merkle_node(level: u8, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_stable() {
        // Stored data depends on these bytes: a change here is a migration.
        let d = DossierId::parse("dos_01kb0000000000000000000000").unwrap();
        let s = SubjectId::parse("sub_01kb0000000000000000000000").unwrap();
        assert_eq!(version(&d, 2), [b"dos_01kb0000000000000000000000/".as_slice(), &[0, 0, 0, 2]].concat());
        assert_eq!(subject_link(&s, &d), b"sub_01kb0000000000000000000000/d/dos_01kb0000000000000000000000");
        assert_eq!(transferred_prefix(&2026), b"y/2026/");
        assert_eq!(consent_event(&s, 1), [b"sub_01kb0000000000000000000000/c/".as_slice(), &[0, 0, 0, 1]].concat());
        assert_eq!(hold(&d, "hold_x"), b"h/dos_01kb0000000000000000000000/hold_x");
        assert_eq!(batch("bat_x"), b"b/bat_x");
        assert!(batch("bat_x").starts_with(BATCH_PREFIX));
        assert_eq!(certificate("cert_x"), b"c/cert_x");
        assert_eq!(document(&d, "a.pdf"), b"m/dos_01kb0000000000000000000000/a.pdf");
        assert_eq!(chunk(&d, "u", 3), [b"c/dos_01kb0000000000000000000000/u/".as_slice(), &[0, 0, 0, 3]].concat());
        assert_eq!(merkle_node(1, 2), [1, 0, 0, 0, 0, 0, 0, 0, 2]);
    }
}
