//! Spreadsheet import (`POST /v1/imports`, `custos import`): each row of a
//! sheet becomes a dossier through the same use cases as the API (template
//! validation, access policy, sealing, audit), with a column mapping that
//! knows the seeds' Chinese headers (客户名称, 行业, 地区, 合作阶段, 联系人,
//! 电话, 年订单量 ...). Idempotent by external reference (the credit code,
//! or the column the mapping names): a row whose reference is on record
//! updates that dossier instead of creating another. Every row is audited
//! (its create or update entry, or an `import.row` entry when it fails or
//! changes nothing); errors name the row and column, never a value.

pub use super::mapping::Mapping;
mod rights;

use super::mapping::{column_for, grade_of, split_list, status_of, target_name};
use crate::archive::customers::Customers;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::catalog::{set_at, Catalog, Input};
use crate::domain::dossier::{Contact, Dossier, PersonalFields};
use crate::domain::DossierId;
use crate::policy::screening::Text;
use crate::sheet::Table;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Rows processed at once (group commit makes them share fsyncs).
const IN_FLIGHT: usize = 32;
/// The most rows one import takes.
pub const MAX_ROWS: usize = 100_000;

/// One problem with one row: the 1-based row of the sheet (the header is
/// row 1), the column, what is wrong. Never the value.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub row: usize,
    pub column: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowResult {
    pub row: usize,
    /// `created`, `updated`, `unchanged`, `failed` (dry run: `would_create`, `would_update`).
    pub action: String,
    pub dossier: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: usize,
    /// Headers no field takes (ignored).
    pub ignored_columns: Vec<String>,
    pub results: Vec<RowResult>,
    pub errors: Vec<RowError>,
}

/// What a use case's refusal says about a row (field paths, no values).
fn problem(e: ArchiveError) -> String {
    match e {
        ArchiveError::Invalid(fes) => {
            fes.iter().map(|f| format!("{}: {}", f.path, f.message)).collect::<Vec<_>>().join("; ")
        }
        ArchiveError::Internal(_) => "internal error (audited)".into(),
        other => other.to_string(),
    }
}

/// What became of a row: the action and the dossier, or why it failed.
type RowOutcome = Result<(String, Option<String>), String>;

/// What a row says, mapped to the template (and a month's figures, if any).
struct RowDoc {
    body: Value,
    key: Option<String>,
    figures: Option<super::MonthFigures>,
    /// Which of owner, status and grade the row states: an update keeps
    /// the dossier's own where the sheet has no such column.
    given: Given,
}

#[derive(Debug, Clone, Copy, Default)]
struct Given {
    owner: bool,
    status: bool,
    grade: bool,
    contact: bool,
}

impl Customers {
    fn dossier_by_ref(&self, field: &str, value: &str) -> Result<Option<DossierId>, ArchiveError> {
        let hash = self.dossiers.external_ref_hash(field, value)?;
        let id = crate::archive::dossiers::DOSSIER_BY_REF.get(self.store.as_ref(), &hash)?;
        Ok(id.filter(|d| matches!(self.dossiers.meta(d), Ok(Some((m, _))) if m.destroyed.is_none())))
    }

    /// One row as a dossier body, or what is wrong with it.
    fn row_doc(
        &self,
        cols: &[(String, String)],
        row: &[String],
        n: usize,
        key: &str,
        (owner, notice): (&str, Option<&str>),
    ) -> Result<RowDoc, Vec<RowError>> {
        let mut v: BTreeMap<&str, &str> = BTreeMap::new();
        for (i, (_, target)) in cols.iter().enumerate() {
            if let Some(cell) = row.get(i).map(String::as_str).filter(|c| !c.is_empty()) {
                v.insert(target.as_str(), cell);
            }
        }
        let mut errors = Vec::new();
        let err =
            |column: &str, message: &str| RowError { row: n, column: column.to_owned(), message: message.to_owned() };
        let col = |t: &str| column_for(&format!("/{}", t.replace('.', "/")), cols);
        for required in ["customer.name", "customer.region"] {
            if !v.contains_key(required) {
                errors.push(err(&col(required), "required"));
            }
        }
        let status = match v.get("status") {
            None => "active",
            Some(s) => status_of(s).unwrap_or_else(|| {
                errors.push(err(&col("status"), "a stage: 潜在客户, 合作中 or 已终止 (prospect, active, closed)"));
                "active"
            }),
        };
        let grade = match v.get("grade") {
            None => "C",
            Some(s) => grade_of(s).unwrap_or_else(|| {
                errors.push(err(&col("grade"), "a grade: A, B or C (高, 中, 低)"));
                "C"
            }),
        };
        let mut body = json!({
            "customer": {},
            "owner": v.get("owner").copied().unwrap_or(owner),
            "status": status,
            "grade": grade,
        });
        // The row's one contact, and every other field a column fills, at
        // its place in the template (the catalog's importable fields).
        let mut contact = Map::new();
        for f in Catalog::template().importable() {
            let Some(x) = v.get(target_name(f).as_str()) else { continue };
            let value = if f.input == Input::List { json!(split_list(x)) } else { json!(x) };
            match f.contact_key() {
                Some(key) => {
                    contact.insert(key.to_owned(), value);
                }
                // Read above: a stage or grade in words, the caller's owner by default.
                None if matches!(f.path.as_str(), "/owner" | "/status" | "/grade") => {}
                None => set_at(&mut body, &f.path, value),
            }
        }
        if contact.contains_key("name") {
            // PIPL Art. 17: the row says which notice the person was shown
            // (its column, or the import's `notice`); never assumed.
            match notice {
                _ if contact.contains_key("notice") => {}
                Some(v) => {
                    contact.insert("notice".into(), json!(v));
                }
                None => errors.push(err(
                    &Some(col("contact.notice")).filter(|c| c != "contact.notice").unwrap_or_else(|| "告知版本".into()),
                    &format!(
                        "the privacy-notice version the contact was shown is required: a 告知版本 (notice) column, or the import's notice parameter (the version in force is {})",
                        self.policy.notices.in_force(self.clock.now()).map_or("none", |n| n.version.as_str())
                    ),
                )),
            }
            body["contacts"] = json!([contact]);
        } else if !contact.is_empty() {
            errors.push(err(&col("contact.name"), "a contact's phone, email or role needs the contact's name"));
        }
        if let Err(ArchiveError::Invalid(fes)) = self.template.parse(&body).map_err(ArchiveError::Invalid) {
            // A missing required field is reported above, by its column.
            for fe in fes.into_iter().filter(|f| f.path != "/customer" && !f.path.is_empty()) {
                errors.push(RowError { row: n, column: column_for(&fe.path, cols), message: fe.message });
            }
        }
        // Free text screened with the row, so a dry run shows it too (the
        // use case screens it again as it writes).
        if let Some(remarks) = body.get("remarks").and_then(Value::as_str) {
            for fe in self.dossiers.screened("/remarks", Text::Remarks, remarks) {
                errors.push(RowError { row: n, column: column_for(&fe.path, cols), message: fe.message });
            }
        }
        let figures = self.row_figures(&v, &col, n, &mut errors);
        if errors.is_empty() {
            let given = Given {
                owner: v.contains_key("owner"),
                status: v.contains_key("status"),
                grade: v.contains_key("grade"),
                contact: v.keys().any(|k| k.starts_with("contact.")),
            };
            Ok(RowDoc { body, key: v.get(key).map(|s| (*s).to_owned()), figures, given })
        } else {
            Err(errors)
        }
    }

    /// A row's figure columns: a month (yyyy-mm) and its orders, amount,
    /// returns, on-time rate (numbers); none when the row has none.
    fn row_figures(
        &self,
        v: &BTreeMap<&str, &str>,
        col: &dyn Fn(&str) -> String,
        n: usize,
        errors: &mut Vec<RowError>,
    ) -> Option<super::MonthFigures> {
        if !v.keys().any(|k| k.starts_with("figures.")) {
            return None;
        }
        let mut bad = |t: &str, m: &str| errors.push(RowError { row: n, column: col(t), message: m.to_owned() });
        let month = v.get("figures.month").and_then(|m| super::Month::parse(m.trim()));
        if month.is_none() {
            bad("figures.month", "a month, yyyy-mm");
        }
        let int = |t: &str| v.get(t).map(|x| x.trim().parse::<u64>());
        let float = |t: &str| v.get(t).map(|x| x.trim().trim_end_matches('%').parse::<f64>());
        let orders = match int("figures.orders") {
            Some(Ok(o)) => o,
            _ => {
                bad("figures.orders", "a whole number of orders");
                0
            }
        };
        let amount = match float("figures.amount") {
            None => 0.0,
            Some(Ok(a)) if a.is_finite() && a >= 0.0 => a,
            Some(_) => {
                bad("figures.amount", "an amount");
                0.0
            }
        };
        let returns = match int("figures.returns") {
            None => 0,
            Some(Ok(r)) => r,
            Some(Err(_)) => {
                bad("figures.returns", "a whole number of returns");
                0
            }
        };
        let on_time_rate = match float("figures.on_time_rate") {
            None => None,
            // "97%" or 0.97
            Some(Ok(r)) if v.get("figures.on_time_rate").is_some_and(|x| x.trim().ends_with('%')) => Some(r / 100.0),
            Some(Ok(r)) => Some(r),
            Some(Err(_)) => {
                bad("figures.on_time_rate", "a rate (0.97 or 97%)");
                None
            }
        };
        let figures = super::NewFigures { orders, amount, returns, on_time_rate };
        // The figures' own shape, checked here as the API's body checks it
        // (`web::commands`), so a row fails before anything is written, in a
        // dry run too: each failure against its column.
        for e in figures.shape_errors() {
            bad(&format!("figures.{}", e.path.trim_start_matches('/')), &e.message);
        }
        // Without a month the row has failed (above).
        month.map(|month| super::MonthFigures { month, figures })
    }

    /// The current dossier with the row's values over it: business fields
    /// replaced where the row has them, the row's contact matched to an
    /// existing one by phone, email or name (keeping their subject id), or
    /// added. `None` when nothing changes.
    fn merged(&self, did: &DossierId, row: &Value, given: Given) -> Result<Option<(u32, Value)>, ArchiveError> {
        let (meta, _) = self.dossiers.meta(did)?.ok_or_else(|| ArchiveError::NotFound("dossier".into()))?;
        let current: Dossier = self.vault.open_version_split(did, meta.current_version)?.join();
        let incoming: Dossier = self.template.parse(row).map_err(ArchiveError::Invalid)?;
        let mut next = current.clone();
        let c = incoming.customer;
        next.customer.name = c.name;
        next.customer.credit_code = c.credit_code.or(next.customer.credit_code);
        next.customer.industry = c.industry.or(next.customer.industry);
        next.customer.region = c.region;
        next.customer.address = c.address.or(next.customer.address);
        if given.owner {
            next.owner = incoming.owner;
        }
        if given.status {
            next.status = incoming.status;
        }
        if given.grade {
            next.grade = incoming.grade;
        }
        next.transport = incoming.transport.or(next.transport);
        next.preferences = incoming.preferences.or(next.preferences);
        if let Some(f) = incoming.finance {
            let mut mine = next.finance.unwrap_or(crate::domain::dossier::Finance {
                credit_rating: None,
                payment_terms: None,
                bank_account: None,
            });
            mine.credit_rating = f.credit_rating.or(mine.credit_rating);
            mine.payment_terms = f.payment_terms.or(mine.payment_terms);
            next.finance = Some(mine);
        }
        next.remarks = incoming.remarks.or(next.remarks);
        if !incoming.tags.is_empty() {
            next.tags = incoming.tags;
        }
        for new in incoming.contacts {
            let same = |p: &PersonalFields| {
                (new.personal.phone.is_some() && p.phone == new.personal.phone)
                    || (new.personal.email.is_some() && p.email == new.personal.email)
                    || p.name == new.personal.name
            };
            match next.contacts.iter_mut().find(|c| same(&c.personal)) {
                Some(c) => {
                    c.personal.name = new.personal.name;
                    c.personal.phone = new.personal.phone.or(c.personal.phone.take());
                    c.personal.email = new.personal.email.or(c.personal.email.take());
                    c.personal.role = new.personal.role.or(c.personal.role.take());
                }
                None => next.contacts.push(Contact { subject_id: None, ..new }),
            }
        }
        if next == current {
            return Ok(None);
        }
        let body = serde_json::to_value(&next).map_err(|e| ArchiveError::Internal(e.into()))?;
        Ok(Some((meta.current_version, body)))
    }

    /// Imports `table` as `ctx`: each row created or updated through the
    /// dossier use cases, `IN_FLIGHT` at a time. `owner` is the owner of
    /// rows without an owner column (default: the caller).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn import_table(
        &self,
        ctx: &RequestCtx,
        table: &Table,
        mapping: &Mapping,
        (owner, notice): (Option<&str>, Option<&str>),
        dry_run: bool,
    ) -> Result<ImportReport, ArchiveError> {
        const ACTION: Action = Action::Import;
        self.dossiers.refuse_outside_party(ctx, ACTION, "").await?;
        // Every row states it again (create or update); a missing or
        // unusable purpose is refused once, up front.
        self.gate.purpose(ctx, ACTION, "").await?;
        if table.rows.len() > MAX_ROWS {
            let e = ctx.entry(ACTION, "", Outcome::Error, "too many rows");
            return self.gate.refuse(e, ArchiveError::BadRequest(format!("at most {MAX_ROWS} rows per import"))).await;
        }
        if let Some(message) = notice.and_then(|v| self.policy.notices.unusable(v, self.clock.now().date())) {
            let e = ctx.entry(ACTION, "", Outcome::Error, "the notice named is unusable");
            let fe = crate::domain::dossier::FieldError { path: "/notice".into(), message: message.into() };
            return self.gate.refuse(e, ArchiveError::Invalid(vec![fe])).await;
        }
        let mut cols = Vec::new();
        let mut report = ImportReport { dry_run, rows: table.rows.len(), ..ImportReport::default() };
        for h in &table.headers {
            match mapping.target_of(h) {
                Some(t) if !cols.iter().any(|(_, x): &(String, String)| x == t) => cols.push((h.clone(), t.to_owned())),
                _ => {
                    report.ignored_columns.push(h.clone());
                    cols.push((h.clone(), String::new()));
                }
            }
        }
        if !cols.iter().any(|(_, t)| t == "customer.name") {
            let e = ctx.entry(ACTION, "", Outcome::Error, "no customer name column");
            let msg = "no column holds the customer's name (客户名称): check the headers or the mapping";
            return self.gate.refuse(e, ArchiveError::BadRequest(msg.into())).await;
        }
        let owner = owner.unwrap_or(ctx.principal.id.as_str()).to_owned();
        // Rows repeating an external reference within the file are refused:
        // which one is right is for the sender to say.
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut jobs = Vec::new();
        for (i, row) in table.rows.iter().enumerate() {
            let n = i + 2;
            match self.row_doc(&cols, row, n, &mapping.key, (&owner, notice)) {
                Err(errs) => report.errors.extend(errs),
                Ok(doc) => {
                    if let Some(k) = &doc.key {
                        if let Some(first) = seen.insert(k.clone(), n) {
                            report.errors.push(RowError {
                                row: n,
                                column: column_for(&format!("/{}", mapping.key.replace('.', "/")), &cols),
                                message: format!("the same external reference as row {first}"),
                            });
                            continue;
                        }
                    }
                    jobs.push((n, doc));
                }
            }
        }
        let results: Vec<(usize, RowOutcome)> = futures::stream::iter(jobs)
            .map(|(n, doc)| async move { (n, self.import_row(ctx, n, doc, &mapping.key, dry_run).await) })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let mut failed_rows: Vec<usize> = report.errors.iter().map(|e| e.row).collect();
        for (n, r) in results {
            match r {
                Ok((action, dossier)) => {
                    match action.as_str() {
                        "created" | "would_create" => report.created += 1,
                        "updated" | "would_update" => report.updated += 1,
                        _ => report.unchanged += 1,
                    }
                    report.results.push(RowResult { row: n, action, dossier });
                }
                Err(message) => {
                    report.errors.push(RowError { row: n, column: String::new(), message });
                    failed_rows.push(n);
                }
            }
        }
        failed_rows.sort_unstable();
        failed_rows.dedup();
        report.failed = failed_rows.len();
        for &n in &failed_rows {
            report.results.push(RowResult { row: n, action: "failed".into(), dossier: None });
        }
        report.results.sort_by_key(|r| r.row);
        report.errors.sort_by_key(|e| e.row);
        // Rows that failed before reaching a use case get their own entry.
        let early: Vec<String> = report
            .errors
            .iter()
            .filter(|e| !e.column.is_empty())
            .map(|e| format!("row {} {}", e.row, e.column))
            .collect();
        let mut entries = Vec::new();
        if !early.is_empty() {
            entries.push(ctx.entry(Action::ImportRow, "", Outcome::Error, format!("invalid: {}", early.join(", "))));
        }
        let summary = format!(
            "{}{} row(s): {} created, {} updated, {} unchanged, {} failed",
            if dry_run { "dry run; " } else { "" },
            report.rows,
            report.created,
            report.updated,
            report.unchanged,
            report.failed
        );
        entries.push(ctx.entry(ACTION, "", Outcome::Allow, summary));
        self.audit.commit(Commit { ops: vec![], entries, guard: None, on_conflict: vec![] }).await?;
        Ok(report)
    }

    /// One valid row: created, or the dossier its reference names updated.
    async fn import_row(&self, ctx: &RequestCtx, n: usize, doc: RowDoc, key: &str, dry_run: bool) -> RowOutcome {
        let figures = doc.figures.clone();
        let (action, dossier) = self.import_dossier(ctx, n, doc, key, dry_run).await?;
        if let (Some(f), Some(did), false) = (figures, &dossier, dry_run) {
            // Their shape was checked with the row's (`row_figures`).
            let refused = |e| format!("the dossier was {action}, but its figures were refused: {}", problem(e));
            self.put_figures(ctx, did, f).await.map_err(refused)?;
        }
        Ok((action, dossier))
    }

    /// The dossier part of a row: created, or the one its reference names updated.
    async fn import_dossier(&self, ctx: &RequestCtx, n: usize, doc: RowDoc, key: &str, dry_run: bool) -> RowOutcome {
        let existing = match &doc.key {
            Some(k) => self.dossier_by_ref(key, k).map_err(problem)?,
            None => None,
        };
        match existing {
            None if dry_run => Ok(("would_create".into(), None)),
            None => {
                let reference = doc.key.as_deref().map(|v| (key, v));
                let created = self.dossiers.create_dossier_with(ctx, &doc.body, reference).await.map_err(problem)?;
                Ok(("created".into(), Some(created.id.to_string())))
            }
            Some(did) => match self.importable(ctx, n, &did, &doc).await? {
                Some(merged) => self.import_merged(ctx, n, did, merged, dry_run).await,
                None => Err("a dossier with this reference is on record, and the access policy does not let you change it, or see in clear what the row states".into()),
            },
        }
    }
}
