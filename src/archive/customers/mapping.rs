//! Which spreadsheet column fills which dossier field: the default headers
//! (the seeds' Chinese column names, English ones, the field names), a
//! mapping file on top, and how a cell becomes a field's value. The
//! dossier's targets and their headers come from the field catalog
//! (`x-import` in `schemas/dossier.schema.json`).

use crate::domain::catalog::{Catalog, Field};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// The targets that are not dossier fields, and the headers that name them
/// by default: a month's order figures (`PUT .../figures/{month}`), when
/// the sheet has them. Not in the catalog, as the template has no such
/// field; they come after the dossier's targets.
const FIGURE_TARGETS: [(&str, &[&str]); 5] = [
    ("figures.month", &["月份", "统计月份", "month"]),
    ("figures.orders", &["月订单量", "订单数", "orders"]),
    ("figures.amount", &["订单金额", "金额", "amount"]),
    ("figures.returns", &["退货数", "退货量", "returns"]),
    ("figures.on_time_rate", &["准时率", "on_time_rate"]),
];

/// A column's target: a field of the dossier, or one of the figures.
#[derive(Debug)]
pub(super) struct Target {
    /// What a mapping file names (`customer.name`, `contact.phone`,
    /// `figures.month`).
    pub name: String,
    /// The headers that name it by default.
    pub headers: Vec<&'static str>,
    /// The catalog's field, for a dossier target.
    pub field: Option<&'static Field>,
}

/// A catalog field's target name: its pointer dotted (`customer.name`,
/// `owner`), `contact.<key>` for a contact's field.
pub(super) fn target_name(field: &Field) -> String {
    match field.contact_key() {
        Some(key) => format!("contact.{key}"),
        None => field.path.trim_start_matches('/').replace('/', "."),
    }
}

/// Every target: the catalog's importable fields in schema order, then the
/// figures.
pub(super) fn targets() -> &'static [Target] {
    static TARGETS: OnceLock<Vec<Target>> = OnceLock::new();
    TARGETS.get_or_init(|| {
        let fields = Catalog::template().importable().map(|f| Target {
            name: target_name(f),
            headers: f.import_headers.iter().map(String::as_str).collect(),
            field: Some(f),
        });
        let figures = FIGURE_TARGETS.iter().map(|(name, headers)| Target {
            name: (*name).to_owned(),
            headers: headers.to_vec(),
            field: None,
        });
        fields.chain(figures).collect()
    })
}

/// Which column fills which field, and which field is the external reference.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Header → target field.
    columns: HashMap<String, String>,
    /// The target whose value identifies a customer across imports.
    pub(super) key: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    columns: BTreeMap<String, String>,
}

impl Default for Mapping {
    fn default() -> Self {
        let mut columns = HashMap::new();
        for target in targets() {
            columns.insert(target.name.clone(), target.name.clone());
            for h in &target.headers {
                columns.insert((*h).to_owned(), target.name.clone());
            }
        }
        Mapping { columns, key: "customer.credit_code".into() }
    }
}

impl Mapping {
    /// A mapping file (TOML): `key = "<target>"` and `[columns]` of
    /// `"<header>" = "<target>"`, on top of the default headers.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: MappingFile = toml::from_str(text).map_err(|e| format!("mapping: {}", e.message()))?;
        let mut m = Mapping::default();
        let known = |t: &str| targets().iter().any(|k| k.name == t);
        for (header, target) in file.columns {
            if !known(&target) {
                return Err(format!(
                    "mapping: column {header:?} maps to {target:?}, not a field (see docs/customer-management.md)"
                ));
            }
            m.columns.insert(header.trim().to_owned(), target);
        }
        if let Some(k) = file.key {
            if !known(&k) {
                return Err(format!("mapping: key {k:?} is not a field"));
            }
            m.key = k;
        }
        Ok(m)
    }

    pub(super) fn target_of(&self, header: &str) -> Option<&str> {
        self.columns.get(header.trim()).map(String::as_str)
    }
}

pub(super) fn split_list(s: &str) -> Vec<Value> {
    s.split(['、', ',', '，', ';', '；', '/']).map(str::trim).filter(|x| !x.is_empty()).map(|x| json!(x)).collect()
}

pub(super) fn status_of(s: &str) -> Option<&'static str> {
    Some(match s.trim().to_lowercase().as_str() {
        "潜在客户" | "潜在" | "意向" | "意向客户" | "prospect" => "prospect",
        "合作中" | "活跃" | "正式客户" | "在合作" | "active" => "active",
        "已终止" | "终止" | "流失" | "已流失" | "closed" => "closed",
        _ => return None,
    })
}

pub(super) fn grade_of(s: &str) -> Option<&'static str> {
    Some(match s.trim() {
        "A" | "a" | "高" | "重要" | "重点" => "A",
        "B" | "b" | "中" | "一般" => "B",
        "C" | "c" | "低" | "普通" => "C",
        _ => return None,
    })
}

/// The column a template path came from.
pub(super) fn column_for(path: &str, cols: &[(String, String)]) -> String {
    let target = match path {
        p if p.starts_with("/contacts/") => format!("contact.{}", p.rsplit('/').next().unwrap_or_default()),
        p => p.trim_start_matches('/').replace('/', "."),
    };
    let target = target.trim_end_matches(|c: char| c.is_ascii_digit()).trim_end_matches('.').to_owned();
    cols.iter()
        .find(|(_, t)| *t == target || target.starts_with(&format!("{t}.")))
        .map(|(h, _)| h.clone())
        .unwrap_or(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default headers as the hand-kept table had them before the
    /// catalog: a sheet that imported then imports the same now.
    const BEFORE_THE_CATALOG: [(&str, &[&str]); 27] = [
        ("customer.name", &["客户名称", "公司名称", "客户", "customer", "name"]),
        ("customer.credit_code", &["统一社会信用代码", "信用代码", "credit_code"]),
        ("customer.industry", &["行业", "所属行业", "industry"]),
        ("customer.region", &["地区", "区域", "所在地区", "region"]),
        ("customer.address", &["地址", "公司地址", "address"]),
        ("status", &["合作阶段", "阶段", "客户状态", "stage", "status"]),
        ("grade", &["客户价值", "客户等级", "等级", "价值", "grade", "value"]),
        ("owner", &["客户经理", "负责人", "owner"]),
        ("contact.name", &["联系人", "联系人姓名", "contact"]),
        ("contact.phone", &["电话", "联系电话", "手机", "phone"]),
        ("contact.email", &["邮箱", "电子邮箱", "email"]),
        ("contact.role", &["职务", "职位", "role"]),
        // Added with the notice requirement (PIPL Art. 17): a column no
        // sheet of before had, so none imports differently.
        ("contact.notice", &["告知版本", "notice"]),
        ("transport.cargo_types", &["货物类型", "货物", "cargo_types"]),
        ("transport.frequency", &["运输频率", "频率", "frequency"]),
        ("transport.volume", &["年订单量", "运输量", "volume"]),
        ("transport.routes", &["运输路线", "路线", "routes"]),
        ("preferences.delivery", &["配送偏好", "服务偏好", "delivery"]),
        ("finance.credit_rating", &["信用评级", "信用状况", "credit_rating"]),
        ("finance.payment_terms", &["付款方式", "账期", "payment_terms"]),
        ("remarks", &["备注", "remarks"]),
        ("tags", &["标签", "客户分类", "tags"]),
        ("figures.month", &["月份", "统计月份", "month"]),
        ("figures.orders", &["月订单量", "订单数", "orders"]),
        ("figures.amount", &["订单金额", "金额", "amount"]),
        ("figures.returns", &["退货数", "退货量", "returns"]),
        ("figures.on_time_rate", &["准时率", "on_time_rate"]),
    ];

    #[test]
    fn the_default_headers_are_those_of_before_the_catalog() {
        let mut now: Vec<(&str, &[&str])> = targets().iter().map(|t| (t.name.as_str(), &t.headers[..])).collect();
        let mut before = BEFORE_THE_CATALOG.to_vec();
        now.sort();
        before.sort();
        assert_eq!(now, before);
        let m = Mapping::default();
        for (name, headers) in BEFORE_THE_CATALOG {
            assert_eq!(m.target_of(name), Some(name), "a target's own name is a header");
            for h in headers {
                assert_eq!(m.target_of(h), Some(name), "{h}");
            }
        }
    }

    #[test]
    fn every_default_header_names_one_target() {
        let mut seen = HashMap::new();
        for t in targets() {
            for h in t.headers.iter().copied().chain([t.name.as_str()]) {
                if let Some(other) = seen.insert(h, &t.name) {
                    assert_eq!(other, &t.name, "{h} names {other} and {}", t.name);
                }
            }
        }
        assert!(targets().iter().filter(|t| t.field.is_none()).all(|t| t.name.starts_with("figures.")));
        assert_eq!(
            targets().iter().find(|t| t.name == "contact.phone").and_then(|t| t.field).unwrap().path,
            "/contacts/*/phone"
        );
    }
}
