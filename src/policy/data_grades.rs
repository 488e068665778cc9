//! `policies/data_grades.toml`: custos's data sets, each with its category
//! (数据分类), its grade (一般/重要/核心: general, important, core; DSL Art.
//! 21, NDSMR Art. 5, GB/T 43697-2024), the reasoning, for important and
//! core data the catalogue entry that makes it so, and what it covers: the
//! dossier template's fields (by pointer) and the other kinds of data
//! custos keeps. Every field of the field catalog and every kind must be in
//! a set, so that no data is ungraded: a policy that leaves one out is
//! refused at start-up, naming it. The grade drives controls: important
//! data leaves the PRC only under the mechanism named here (a CAC security
//! assessment), core data not at all, and important data calls for the
//! yearly risk assessment (NDSMR Art. 30-33).

use crate::domain::catalog::{Catalog, Field};
use crate::domain::Classification;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;

/// A data set's grade (DSL Art. 21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 一般数据.
    General,
    /// 重要数据.
    Important,
    /// 核心数据.
    Core,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::General => "general",
            Level::Important => "important",
            Level::Core => "core",
        }
    }
}

/// The kinds of data custos keeps besides the dossier template's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    /// Interactions with a customer (summaries sealed).
    Interactions,
    /// Contract documents uploaded to a dossier.
    Documents,
    /// Monthly order figures (orders, volume, revenue).
    Figures,
    /// Grade overrides and reviews of a customer.
    Reviews,
    /// The audit log.
    AuditLog,
    /// Backup sets and the shipped audit log.
    Backups,
    /// The compliance registers (requests, incidents, assessments, ...).
    Registers,
    /// Staff records (principals and tokens).
    Staff,
}

impl DataKind {
    pub const ALL: [DataKind; 8] = [
        DataKind::Interactions,
        DataKind::Documents,
        DataKind::Figures,
        DataKind::Reviews,
        DataKind::AuditLog,
        DataKind::Backups,
        DataKind::Registers,
        DataKind::Staff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::Interactions => "interactions",
            DataKind::Documents => "documents",
            DataKind::Figures => "figures",
            DataKind::Reviews => "reviews",
            DataKind::AuditLog => "audit_log",
            DataKind::Backups => "backups",
            DataKind::Registers => "registers",
            DataKind::Staff => "staff",
        }
    }
}

/// One data set as graded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DataSet {
    pub id: String,
    pub name: String,
    /// 数据分类: what the data is about.
    pub category: String,
    pub level: Level,
    /// Why this level (the law, the catalogue, GB/T 43697-2024's reasoning).
    pub basis: String,
    /// For important and core data: the catalogue entry.
    pub catalogue: Option<String>,
    /// The template fields it covers (generic pointers), in catalog order.
    pub fields: Vec<String>,
    /// Their classes.
    pub classes: Vec<Classification>,
    pub kinds: Vec<DataKind>,
}

/// `policies/data_grades.toml`, checked against the field catalog.
#[derive(Debug, Clone)]
pub struct DataGrades {
    pub citation: String,
    /// The `transfers.toml` mechanism under which important data may leave
    /// the PRC (a CAC security assessment: DSL Art. 31, NDSMR Art. 37).
    pub important_outbound_mechanism: String,
    /// By id.
    pub sets: BTreeMap<String, DataSet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    citation: String,
    important_outbound_mechanism: Spanned<String>,
    sets: BTreeMap<Spanned<String>, RawSet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    name: String,
    category: String,
    level: Level,
    basis: String,
    #[serde(default)]
    catalogue: Option<String>,
    #[serde(default)]
    fields: Vec<Spanned<String>>,
    #[serde(default)]
    kinds: Vec<DataKind>,
}

/// Whether `pattern` names `field`: its pointer, or a prefix ending in `/`.
fn names(pattern: &str, field: &Field) -> bool {
    if pattern.ends_with('/') {
        field.path.starts_with(pattern)
    } else {
        field.path == pattern
    }
}

impl DataGrades {
    /// Parses the file against the shipped template's field catalog.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        Self::parse_for(text, Catalog::template())
    }

    /// Parses the file against `catalog`: every field and every kind in a
    /// set, important and core data with their catalogue entry.
    pub fn parse_for(text: &str, catalog: &Catalog) -> Result<Self, (usize, String)> {
        let raw: RawFile = super::parse_toml(text)?;
        if raw.citation.trim().is_empty() {
            return Err((1, "the grading needs its citation".into()));
        }
        let mechanism_line = super::line_of(text, &raw.important_outbound_mechanism);
        let important_outbound_mechanism = raw.important_outbound_mechanism.into_inner();
        if important_outbound_mechanism.trim().is_empty() {
            return Err((mechanism_line, "important_outbound_mechanism names a mechanism of transfers.toml".into()));
        }
        let mut sets = BTreeMap::new();
        for (id, s) in raw.sets {
            let line = super::line_of(text, &id);
            let id = id.into_inner();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err((line, format!("data set id {id:?} must be lowercase letters and _")));
            }
            for (key, value) in [("name", &s.name), ("category", &s.category), ("basis", &s.basis)] {
                if value.trim().is_empty() {
                    return Err((line, format!("data set {id} has no {key}")));
                }
            }
            let catalogue = s.catalogue.filter(|c| !c.trim().is_empty());
            if s.level >= Level::Important && catalogue.is_none() {
                return Err((
                    line,
                    format!(
                        "data set {id} is {} data: name the catalogue entry that makes it so (catalogue)",
                        s.level.as_str()
                    ),
                ));
            }
            if s.fields.is_empty() && s.kinds.is_empty() {
                return Err((line, format!("data set {id} covers no field and no kind of data")));
            }
            let mut fields = Vec::new();
            for pattern in &s.fields {
                let matched: Vec<&Field> = catalog.fields().filter(|f| names(pattern.get_ref(), f)).collect();
                if matched.is_empty() {
                    return Err((
                        super::line_of(text, pattern),
                        format!("data set {id}: {:?} names no field of the template", pattern.get_ref()),
                    ));
                }
                fields.extend(matched.iter().map(|f| f.path.clone()));
            }
            let mut classes: Vec<Classification> =
                catalog.fields().filter(|f| fields.contains(&f.path)).map(|f| f.class).collect();
            classes.sort();
            classes.dedup();
            let fields = catalog.fields().filter(|f| fields.contains(&f.path)).map(|f| f.path.clone()).collect();
            let (name, category, basis) = (s.name, s.category, s.basis);
            let set = DataSet {
                id: id.clone(),
                name,
                category,
                level: s.level,
                basis,
                catalogue,
                fields,
                classes,
                kinds: s.kinds,
            };
            sets.insert(id, set);
        }
        let grades = DataGrades { citation: raw.citation, important_outbound_mechanism, sets };
        grades.check_coverage(catalog).map_err(|m| (1, m))?;
        Ok(grades)
    }

    /// Every field and every kind in a set; backups at the highest grade
    /// of what they copy.
    fn check_coverage(&self, catalog: &Catalog) -> Result<(), String> {
        let ungraded: Vec<String> = catalog
            .fields()
            .filter(|f| !self.sets.values().any(|s| s.fields.contains(&f.path)))
            .map(|f| format!("{} ({})", f.path, f.class.as_str()))
            .collect();
        if !ungraded.is_empty() {
            return Err(format!(
                "the template's fields {} are in no data set: an ungraded field cannot be kept (DSL Art. 21)",
                ungraded.join(", ")
            ));
        }
        let kinds: Vec<&str> = DataKind::ALL
            .iter()
            .filter(|k| !self.sets.values().any(|s| s.kinds.contains(k)))
            .map(|k| k.as_str())
            .collect();
        if !kinds.is_empty() {
            return Err(format!(
                "the kinds of data {} are in no data set: ungraded data cannot be kept (DSL Art. 21)",
                kinds.join(", ")
            ));
        }
        let highest = self.sets.values().map(|s| s.level).max().unwrap_or(Level::General);
        if let Some(b) = self.sets.values().find(|s| s.kinds.contains(&DataKind::Backups) && s.level < highest) {
            return Err(format!(
                "data set {} holds the backups, which copy every set: grade it {} at least",
                b.id,
                highest.as_str()
            ));
        }
        Ok(())
    }

    /// The grade of a template field: the highest of the sets it is in.
    pub fn level_of_field(&self, path: &str) -> Level {
        let generic = crate::domain::catalog::generic(path);
        self.sets.values().filter(|s| s.fields.contains(&generic)).map(|s| s.level).max().unwrap_or(Level::Core)
    }

    /// The sets graded important or core that a reader of `classes` sees
    /// fields of, highest first.
    pub fn graded_above_general(&self, classes: &[Classification]) -> Vec<&DataSet> {
        let mut out: Vec<&DataSet> = self
            .sets
            .values()
            .filter(|s| s.level >= Level::Important && s.classes.iter().any(|c| classes.contains(c)))
            .collect();
        out.sort_by(|a, b| b.level.cmp(&a.level).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// Whether any set is important or core: the yearly risk assessment
    /// applies (NDSMR Art. 30, 33).
    pub fn holds_important(&self) -> bool {
        self.sets.values().any(|s| s.level >= Level::Important)
    }

    /// What custos's policy says may move a reader of `classes` across the
    /// border: `Err` naming the core set that may not, or the sets that
    /// need `important_outbound_mechanism`.
    pub fn outbound_need(&self, classes: &[Classification], mechanism: &str) -> Result<(), String> {
        let reached = self.graded_above_general(classes);
        if let Some(core) = reached.iter().find(|s| s.level == Level::Core) {
            return Err(format!("core data ({}) does not leave the PRC (DSL Art. 21, 31)", core.id));
        }
        if !reached.is_empty() && mechanism != self.important_outbound_mechanism {
            let ids: Vec<&str> = reached.iter().map(|s| s.id.as_str()).collect();
            return Err(format!(
                "important data ({}) leaves the PRC only under {} (DSL Art. 31; NDSMR Art. 37)",
                ids.join(", "),
                self.important_outbound_mechanism
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../policies/data_grades.toml");

    #[test]
    fn the_shipped_grading_covers_every_field_and_kind() {
        let g = DataGrades::parse(SHIPPED).unwrap();
        for f in Catalog::template().fields() {
            assert!(g.sets.values().any(|s| s.fields.contains(&f.path)), "{}", f.path);
        }
        assert_eq!(g.level_of_field("/contacts/3/id_number"), Level::General);
        assert_eq!(g.important_outbound_mechanism, "security_assessment");
        assert!(!g.holds_important(), "the shipped sets are graded general until the operator decides otherwise");
    }

    #[test]
    fn an_ungraded_field_or_kind_is_refused_naming_it() {
        let without_routes = SHIPPED.replace("\"/transport/routes\", ", "");
        assert_ne!(without_routes, SHIPPED, "the shipped file lists /transport/routes as written here");
        let (_, msg) = DataGrades::parse(&without_routes).unwrap_err();
        assert!(msg.contains("/transport/routes (internal)") && msg.contains("no data set"), "{msg}");
        let without_backups = SHIPPED.replace("kinds = [\"backups\"]", "kinds = [\"staff\"]");
        assert_ne!(without_backups, SHIPPED);
        let (_, msg) = DataGrades::parse(&without_backups).unwrap_err();
        assert!(msg.contains("backups") && msg.contains("ungraded"), "{msg}");
    }

    #[test]
    fn a_bad_level_an_unknown_field_or_a_missing_catalogue_is_refused_with_its_line() {
        let bad = SHIPPED.replacen("level = \"general\"", "level = \"secret\"", 1);
        let (line, msg) = DataGrades::parse(&bad).unwrap_err();
        let expected = SHIPPED.lines().position(|l| l.starts_with("level = \"general\"")).unwrap() + 1;
        assert_eq!(line, expected, "{msg}");
        assert!(msg.contains("secret") || msg.contains("variant"), "{msg}");

        let important = SHIPPED.replacen("level = \"general\"", "level = \"important\"", 1);
        let (_, msg) = DataGrades::parse(&important).unwrap_err();
        assert!(msg.contains("catalogue"), "{msg}");

        let unknown = SHIPPED.replacen("\"/transport/routes\"", "\"/transport/route\"", 1);
        let (line, msg) = DataGrades::parse(&unknown).unwrap_err();
        let expected = SHIPPED.lines().position(|l| l.contains("\"/transport/routes\"")).unwrap() + 1;
        assert_eq!(line, expected, "{msg}");
        assert!(msg.contains("names no field"), "{msg}");

        let extra = SHIPPED.replacen("category =", "owner = \"x\"\ncategory =", 1);
        assert!(DataGrades::parse(&extra).unwrap_err().1.contains("owner"));
    }

    /// `text` with the set `id` graded `level` under `catalogue`.
    fn regrade(text: &str, id: &str, level: &str, catalogue: &str) -> String {
        let header = format!("[sets.{id}]\n");
        let at = text.find(&header).unwrap() + header.len();
        let (head, tail) = text.split_at(at);
        let level_at = tail.find("level = ").unwrap();
        let line_end = level_at + tail[level_at..].find('\n').unwrap();
        format!("{head}{}level = \"{level}\"\ncatalogue = \"{catalogue}\"{}", &tail[..level_at], &tail[line_end..])
    }

    #[test]
    fn important_data_leaves_only_under_the_mechanism_and_core_data_not_at_all() {
        let important = regrade(SHIPPED, "transport_demand", "important", "transport sector catalogue, item 3");
        // The backups copy it: they are graded at least as high.
        let (_, msg) = DataGrades::parse(&important).unwrap_err();
        assert!(msg.contains("backups"), "{msg}");
        let important = regrade(&important, "backups", "important", "copies of transport_demand");
        let g = DataGrades::parse(&important).unwrap();
        assert!(g.holds_important());
        assert_eq!(g.level_of_field("/transport/routes"), Level::Important);
        assert!(g.outbound_need(&[Classification::Personal], "standard_contract").is_ok(), "no transport field");
        let e = g.outbound_need(&[Classification::Internal], "standard_contract").unwrap_err();
        assert!(e.contains("transport_demand") && e.contains("security_assessment"), "{e}");
        assert!(g.outbound_need(&[Classification::Internal], "security_assessment").is_ok());
        let core = regrade(&regrade(SHIPPED, "transport_demand", "core", "x"), "backups", "core", "y");
        let g = DataGrades::parse(&core).unwrap();
        let e = g.outbound_need(&[Classification::Internal], "security_assessment").unwrap_err();
        assert!(e.contains("core data"), "{e}");
    }
}
