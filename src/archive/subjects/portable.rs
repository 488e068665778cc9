//! The portable part of a person's data (GDPR Art. 20; PIPL Art. 45(3);
//! NDSMR Art. 25), and any export as CSV.
//!
//! Portable is what the person provided, or what was collected under their
//! consent or a contract with them: their contact details as the latest
//! version of each dossier holds them, an identity number only where it was
//! collected under their separate consent (not under a legal obligation),
//! the interactions they had (kind, time, their satisfaction) and the
//! consents they gave or withdrew. Left out, and said so in the export:
//! what custos itself derived (audit entries, the explanation of
//! processing, the version history), and what staff wrote or what concerns
//! others (interaction summaries, contract documents, GDPR Art. 20(4);
//! NDSMR Art. 25(4)).

use super::{rfc3339, SubjectCall, SubjectStatus};
use crate::archive::subjects::Subjects;
use crate::archive::ArchiveError;
use crate::domain::RecipientId;
use serde_json::{json, Value};

/// What the portable part leaves out, and why (in the export and docs).
const LEFT_OUT: [&str; 2] = [
    "audit entries, the explanation of processing and earlier versions: made by custos, not provided by the person (GDPR Art. 20(1); NDSMR Art. 25(2)); they are in the access export",
    "interaction summaries and contract documents: written by staff or concerning others (GDPR Art. 20(4); NDSMR Art. 25(4))",
];

impl Subjects {
    /// The portable part of the person's data (the request's audit entry
    /// is committed by the caller).
    pub(super) fn portable_export(
        &self,
        call: &SubjectCall,
        status: SubjectStatus,
        request: Value,
        recipient: Option<&RecipientId>,
    ) -> Result<Value, ArchiveError> {
        let collections = self.dossiers.collection_records(&call.sid)?;
        let mut dossiers = Vec::new();
        for d in call.dossiers.iter().filter(|_| status != SubjectStatus::Erased) {
            let found = self.contact_versions(&call.sid, d)?;
            let Some(latest) = found.versions.into_iter().last() else { continue };
            let mut contact = latest.contact;
            // The identity number travels only if the person consented to
            // it separately (the last record of this dossier that says).
            let consented = collections
                .iter()
                .filter(|c| c.dossier == d.id)
                .filter_map(|c| c.sensitive.as_ref())
                .next_back()
                .is_some_and(|s| s.basis == "separate_consent");
            if !consented {
                contact.remove("id_number");
            }
            dossiers.push(json!({
                "dossier_id": d.id,
                "customer_name": found.customer,
                "version": latest.version,
                "provided_at": latest.created_at,
                "contact": contact,
                "interactions": self.interactions_naming(&call.sid, d, false)?,
            }));
        }
        let consents: Vec<Value> = self
            .consent_events(&call.sid)?
            .into_iter()
            .map(|c| {
                json!({"event": c.event, "kind": c.kind, "purpose": c.purpose, "basis": c.basis,
                       "effective_at": rfc3339(c.effective_at), "notice": c.notice})
            })
            .collect();
        Ok(json!({
            "format": "custos.subject-export.v1",
            "scope": "portability",
            "generated_at": rfc3339(self.clock.now()),
            "request": request,
            "recipient": recipient,
            "subject": {"id": call.sid, "status": status},
            "dossiers": dossiers,
            "consents": consents,
            "left_out": LEFT_OUT,
        }))
    }
}

/// An export as CSV (RFC 4180, UTF-8): a header, then one row per value,
/// named by its JSON pointer in the JSON export, the dossier it belongs to
/// (if any) and its field name; `null` is an empty cell. Every cell passes
/// the CSV-injection guard of `sheet::CsvOut`.
pub fn export_csv(export: &Value) -> Result<Vec<u8>, ArchiveError> {
    let mut rows = Vec::new();
    flatten(export, String::new(), None, &mut rows);
    let mut w = crate::sheet::CsvOut::default();
    let csv_err = |e: csv::Error| ArchiveError::Internal(e.into());
    w.write_record(["pointer", "dossier_id", "field", "value"]).map_err(csv_err)?;
    for (pointer, dossier, value) in rows {
        let field = pointer.rsplit('/').next().unwrap_or_default().to_owned();
        w.write_record([pointer.as_str(), dossier.unwrap_or_default(), field.as_str(), value.as_str()])
            .map_err(csv_err)?;
    }
    w.into_inner().map_err(|e| ArchiveError::Internal(anyhow::anyhow!(e)))
}

/// Every leaf of `v` under `pointer`, with the dossier it is part of.
fn flatten<'a>(
    v: &'a Value,
    pointer: String,
    dossier: Option<&'a str>,
    out: &mut Vec<(String, Option<&'a str>, String)>,
) {
    match v {
        Value::Object(m) => {
            let dossier = m.get("dossier_id").and_then(Value::as_str).or(dossier);
            for (k, child) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                flatten(child, format!("{pointer}/{key}"), dossier, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                flatten(child, format!("{pointer}/{i}"), dossier, out);
            }
        }
        Value::Null => out.push((pointer, dossier, String::new())),
        Value::String(s) => out.push((pointer, dossier, s.clone())),
        other => out.push((pointer, dossier, other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_one_row_named_by_its_pointer_and_formulas_stay_text() {
        let v = json!({
            "subject": {"id": "sub_x"},
            "dossiers": [{"dossier_id": "dos_a", "contact": {"name": "=HYPERLINK(\"x\")", "a/b": null}, "n": 3}],
        });
        let csv = String::from_utf8(export_csv(&v).unwrap()).unwrap();
        let rows: Vec<Vec<String>> = csv::Reader::from_reader(csv.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        let find = |p: &str| rows.iter().find(|r| r[0] == p).cloned().unwrap_or_else(|| panic!("{p} in {csv}"));
        assert_eq!(find("/subject/id"), ["/subject/id", "", "id", "sub_x"]);
        assert_eq!(find("/dossiers/0/dossier_id")[1], "dos_a");
        assert_eq!(find("/dossiers/0/contact/name")[3], "'=HYPERLINK(\"x\")", "a formula is prefixed");
        assert_eq!(find("/dossiers/0/contact/a~1b")[3], "", "null is empty, / escaped");
        assert_eq!(find("/dossiers/0/n")[3], "3");
        assert_eq!(rows.len(), 5);
    }
}
