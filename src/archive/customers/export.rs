//! The caller's list as CSV (`GET /v1/dossiers/export?format=csv`), in the
//! import's columns, so a sheet exported, edited and imported again updates
//! the same dossiers.

use super::mapping::{Mapping, TARGETS};
use crate::archive::{Archive, ArchiveError, RequestCtx};
use crate::audit::{Commit, Outcome};
use serde_json::Value;

/// The dossier's own columns (the figures' come after them).
const DOSSIER_COLUMNS: usize = 21;

/// `GET /v1/dossiers/export?format=csv`: the filters of the caller's list.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub grade: Option<String>,
    pub region: Option<String>,
    pub status: Option<String>,
    pub owner: Option<String>,
}

/// A value of a shown document at a template path, as a cell.
fn cell(doc: &Value, pointer: &str) -> String {
    match doc.pointer(pointer) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => {
            a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect::<Vec<_>>().join("、")
        }
        Some(other) => other.to_string(),
    }
}

impl Archive {
    /// The caller's list as CSV in the import's columns (one row per
    /// contact person), each dossier read as `GET /v1/dossiers/{id}` reads
    /// it: masked values masked, withheld ones empty, every read audited.
    /// More dossiers than a bulk export may hold without approval
    /// (exports.toml) is a 409 pointing to `POST /v1/exports`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn export_list(&self, ctx: &RequestCtx, filter: &ExportFilter) -> Result<String, ArchiveError> {
        const ACTION: &str = "dossier.export_list";
        self.refuse_outside_party(ctx, ACTION, "").await?;
        let purpose = self.purpose(ctx, ACTION, "").await?;
        let mut visible = Vec::new();
        for meta in self.all_dossiers()? {
            let matches = meta.destroyed.is_none()
                && filter.grade.as_deref().is_none_or(|g| crate::archive::wire_name(&meta.grade) == g)
                && filter.region.as_deref().is_none_or(|r| meta.region == r)
                && filter.status.as_deref().is_none_or(|s| crate::archive::wire_name(&meta.status) == s)
                && filter.owner.as_deref().is_none_or(|o| meta.owner.as_str() == o);
            if matches && self.read_plan(ctx, purpose, &meta, &meta.subjects)?.anything_visible() {
                visible.push(meta.id);
            }
        }
        let limit = self.policy.exports.max_items;
        if visible.len() > limit {
            let why = format!(
                "{} dossiers match: more than {limit} is a bulk export, which a second compliance officer approves (POST /v1/exports)",
                visible.len()
            );
            let e = ctx.entry(ACTION, "", Outcome::Error, "over the bulk-export limit");
            return self.refuse(e, ArchiveError::Conflict(why)).await;
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        let csv_err = |e: csv::Error| ArchiveError::Internal(e.into());
        let mut header = vec!["id"];
        header.extend(Mapping::headers().into_iter().take(DOSSIER_COLUMNS));
        w.write_record(&header).map_err(csv_err)?;
        for did in &visible {
            let doc = self.read_dossier(ctx, did.as_str(), None).await?.document;
            let contacts = doc["contacts"].as_array().cloned().unwrap_or_default();
            let people: Vec<Option<&Value>> =
                if contacts.is_empty() { vec![None] } else { contacts.iter().map(Some).collect() };
            for person in people {
                let mut rec = vec![did.to_string()];
                for (target, _) in TARGETS.iter().take(DOSSIER_COLUMNS) {
                    let value = match target.strip_prefix("contact.") {
                        Some(f) => person.map(|p| cell(p, &format!("/{f}"))).unwrap_or_default(),
                        None => cell(&doc, &format!("/{}", target.replace('.', "/"))),
                    };
                    rec.push(value);
                }
                w.write_record(&rec).map_err(csv_err)?;
            }
        }
        let e = ctx.entry(ACTION, "", Outcome::Allow, format!("{} dossier(s) listed", visible.len()));
        self.audit.commit(Commit::entry(e)).await?;
        let bytes = w.into_inner().map_err(|e| ArchiveError::Internal(anyhow::anyhow!("{e}")))?;
        String::from_utf8(bytes).map_err(|e| ArchiveError::Internal(e.into()))
    }
}
