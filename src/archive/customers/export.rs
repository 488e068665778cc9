//! The caller's list as CSV (`GET /v1/dossiers/export?format=csv`), in the
//! import's columns, so a sheet exported, edited and imported again updates
//! the same dossiers.

use super::mapping::targets;
use crate::archive::customers::Customers;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, CommitError, Guard, Outcome};
use crate::domain::catalog::Field;
use crate::store::{keys, Cf, Op};
use serde_json::Value;

/// The sheet's columns after `id`, each with its header: the import's
/// dossier targets (the catalog's importable fields, in schema order),
/// except that the owner's column stays after status and grade, where
/// every sheet exported before the catalog has it (the schema, and the
/// console's form, list the owner first). No figures: they are not read
/// with a dossier; no notice version: it is not stored in the dossier.
fn columns() -> Vec<(&'static str, &'static Field)> {
    // The notice a person was shown is recorded on the person, not in the
    // dossier: no column (an import states it, `import::row_doc`).
    let mut cols: Vec<&'static Field> =
        targets().iter().filter_map(|t| t.field).filter(|f| f.path != "/contacts/*/notice").collect();
    if let Some(owner) = cols.iter().position(|f| f.path == "/owner") {
        let owner = cols.remove(owner);
        let after = cols.iter().position(|f| f.path == "/grade").map_or(cols.len(), |g| g + 1);
        cols.insert(after, owner);
    }
    cols.into_iter().filter_map(|f| Some((f.export_header()?, f))).collect()
}

/// `GET /v1/dossiers/export?format=csv`: the filters of the caller's list.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub grade: Option<String>,
    pub region: Option<String>,
    pub status: Option<String>,
    pub owner: Option<String>,
}

impl ExportFilter {
    /// The filter's one check, for the API and the console alike: grade A,
    /// B or C; status prospect, active or closed; owner a principal id;
    /// region at most 100 characters.
    pub fn check(&self) -> Result<(), &'static str> {
        let bad = self.grade.as_deref().is_some_and(|g| !matches!(g, "A" | "B" | "C"))
            || self.status.as_deref().is_some_and(|g| !matches!(g, "prospect" | "active" | "closed"))
            || self.owner.as_deref().is_some_and(|o| crate::domain::PrincipalId::parse(o).is_err())
            || self.region.as_deref().is_some_and(|r| r.chars().count() > 100);
        match bad {
            true => Err("grade: A, B or C; status: prospect, active or closed; owner: a principal id; region: at most 100 characters"),
            false => Ok(()),
        }
    }
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

impl Customers {
    /// The caller's list as CSV in the import's columns (one row per
    /// contact person), each dossier read as `GET /v1/dossiers/{id}` reads
    /// it: masked values masked, withheld ones empty, every read audited.
    /// More dossiers than a bulk export may hold without approval
    /// (exports.toml) is a 409 pointing to `POST /v1/exports`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn export_list(&self, ctx: &RequestCtx, filter: &ExportFilter) -> Result<String, ArchiveError> {
        const ACTION: Action = Action::DossierExportList;
        self.dossiers.refuse_outside_party(ctx, ACTION, "").await?;
        let purpose = self.gate.purpose(ctx, ACTION, "").await?;
        let mut visible = Vec::new();
        for meta in self.dossiers.all_dossiers()? {
            let matches = meta.destroyed.is_none()
                && filter.grade.as_deref().is_none_or(|g| crate::archive::wire_name(&meta.grade) == g)
                && filter.region.as_deref().is_none_or(|r| meta.region == r)
                && filter.status.as_deref().is_none_or(|s| crate::archive::wire_name(&meta.status) == s)
                && filter.owner.as_deref().is_none_or(|o| meta.owner.as_str() == o);
            if matches && self.dossiers.read_plan(ctx, purpose, &meta, &meta.subjects)?.anything_visible() {
                visible.push(meta.id);
            }
        }
        let limit = self.policy.exports.max_items;
        // Cumulative per principal over the window: what this principal
        // listed lately counts too (read here, written with the entry under
        // a guard, so two exports at once cannot both pass on the same sum).
        let window_hours = self.policy.exports.window_hours;
        let now = self.clock.now();
        let key = keys::export_window(&ctx.principal.id);
        let raw = self.store.get(Cf::Registers, &key)?;
        let mut recent: Vec<(i64, usize)> = match &raw {
            Some(b) => crate::store::codec::decode(Cf::Registers.name(), b)?,
            None => Vec::new(),
        };
        let since = (now - time::Duration::hours(i64::from(window_hours))).unix_timestamp();
        // An hour's sum counts while any of that hour is in the window.
        recent.retain(|(at, _)| *at + 3_600 > since);
        let earlier: usize = recent.iter().map(|(_, n)| n).sum();
        if earlier + visible.len() > limit {
            let why = format!(
                "{} dossiers match and {earlier} were listed in the last {window_hours} h: more than {limit} is a bulk export, which a second compliance officer approves (POST /v1/exports)",
                visible.len()
            );
            let e = ctx.entry(ACTION, "", Outcome::Error, "over the bulk-export limit");
            return self.gate.refuse(e, ArchiveError::Conflict(why)).await;
        }
        let mut w = crate::sheet::CsvOut::default();
        let csv_err = |e: csv::Error| ArchiveError::Internal(e.into());
        let columns = columns();
        let mut header = vec!["id"];
        header.extend(columns.iter().map(|(h, _)| *h));
        w.write_record(&header).map_err(csv_err)?;
        for did in &visible {
            let doc = self.dossiers.read_dossier(ctx, did.as_str(), None).await?.document;
            let contacts = doc["contacts"].as_array().cloned().unwrap_or_default();
            let people: Vec<Option<&Value>> =
                if contacts.is_empty() { vec![None] } else { contacts.iter().map(Some).collect() };
            for person in people {
                let mut rec = vec![did.to_string()];
                for (_, field) in &columns {
                    let value = match field.contact_key() {
                        Some(key) => person.map(|p| cell(p, &format!("/{key}"))).unwrap_or_default(),
                        None => cell(&doc, &field.path),
                    };
                    rec.push(value);
                }
                w.write_record(&rec).map_err(csv_err)?;
            }
        }
        let e = ctx.entry(ACTION, "", Outcome::Allow, format!("{} dossier(s) listed", visible.len()));
        // Added up per hour, so the record holds at most `window_hours`
        // entries however often one exports; an export of nothing is not one.
        let hour = now.unix_timestamp().div_euclid(3_600) * 3_600;
        match recent.last_mut() {
            Some((at, n)) if *at == hour => *n += visible.len(),
            _ if visible.is_empty() => {}
            _ => recent.push((hour, visible.len())),
        }
        let put = Op::Put(Cf::Registers, key.clone(), crate::store::codec::encode(&recent)?);
        let guard = Guard { cf: Cf::Registers, key, expected: raw };
        self.audit.commit(Commit { guard: Some(guard), ..Commit::change(vec![put], e) }).await.map_err(
            |e| match e {
                CommitError::Conflict => {
                    ArchiveError::Conflict("another export of yours ran meanwhile; ask again".into())
                }
                e => e.into(),
            },
        )?;
        let bytes = w.into_inner().map_err(|e| ArchiveError::Internal(anyhow::anyhow!(e)))?;
        String::from_utf8(bytes).map_err(|e| ArchiveError::Internal(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_row_is_that_of_before_the_catalog() {
        let headers: Vec<&str> = columns().iter().map(|(h, _)| *h).collect();
        assert_eq!(
            headers,
            [
                "客户名称",
                "统一社会信用代码",
                "行业",
                "地区",
                "地址",
                "合作阶段",
                "客户价值",
                "客户经理",
                "联系人",
                "电话",
                "邮箱",
                "职务",
                "货物类型",
                "运输频率",
                "年订单量",
                "运输路线",
                "配送偏好",
                "信用评级",
                "付款方式",
                "备注",
                "标签",
            ]
        );
        let paths: Vec<&str> = columns().iter().map(|(_, f)| f.path.as_str()).collect();
        assert_eq!(&paths[5..9], ["/status", "/grade", "/owner", "/contacts/*/name"]);
    }
}
