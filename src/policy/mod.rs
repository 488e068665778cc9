//! Pure policy decisions: no IO beyond loading the files, no clock reads.
//!
//! - `access`: Cedar policies deciding actions and, per field class, whether
//!   a field is shown clear, masked or withheld;
//! - `purposes`: the purposes, their legal bases and who may state them;
//! - `masking`: how a masked field is shown;
//! - `classes`: each template field's class, read from the template;
//! - `retention`: the retention rules and what they make due (`due`);
//! - `alerts`: the unusual-access rules and the engine that applies them;
//! - `screening`: what free text may not hold (personal numbers, emails,
//!   special-category terms), by kind;
//! - `assessments`: which kinds of processing wait for an impact assessment;
//! - `data_grades`: the data sets, their category and grade (general,
//!   important, core), every field and kind of data in one;
//! - `audits`: when each kind of compliance engagement is due.
//!
//! The shipped policy files are compiled into the binary ([`PolicySet::embedded`]),
//! so a single binary runs anywhere; an operator's directory replaces them.

pub mod access;
pub mod alerts;
pub mod assessments;
pub mod audits;
pub mod authentication;
pub mod classes;
pub mod data_grades;
pub mod governance;
pub mod grading;
pub mod masking;
pub mod notice_elements;
mod purposes;
pub mod registers;
pub mod retention;
#[cfg(test)]
mod scenarios;
pub mod screening;

pub use purposes::{Basis, PurposeDef, PurposeRegistry};

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy directory {0}: {1}")]
    Dir(PathBuf, std::io::Error),
    #[error("{file}:{line}: {message}")]
    Invalid { file: PathBuf, line: usize, message: String },
    #[error("{0}: missing from the policy set")]
    Missing(PathBuf),
}

/// The policy files shipped in `policies/`, compiled in.
pub const EMBEDDED: [(&str, &str); 19] = [
    ("access.cedar", include_str!("../../policies/access.cedar")),
    ("alerts.toml", include_str!("../../policies/alerts.toml")),
    ("assessments.toml", include_str!("../../policies/assessments.toml")),
    ("authentication.toml", include_str!("../../policies/authentication.toml")),
    ("collection.toml", include_str!("../../policies/collection.toml")),
    ("compliance_audits.toml", include_str!("../../policies/compliance_audits.toml")),
    ("data_grades.toml", include_str!("../../policies/data_grades.toml")),
    ("exports.toml", include_str!("../../policies/exports.toml")),
    ("grading.toml", include_str!("../../policies/grading.toml")),
    ("incidents.toml", include_str!("../../policies/incidents.toml")),
    ("masking.toml", include_str!("../../policies/masking.toml")),
    ("notices.toml", include_str!("../../policies/notices.toml")),
    ("officer.toml", include_str!("../../policies/officer.toml")),
    ("purposes.toml", include_str!("../../policies/purposes.toml")),
    ("requests.toml", include_str!("../../policies/requests.toml")),
    ("retention.toml", include_str!("../../policies/retention.toml")),
    ("schema.cedarschema", include_str!("../../policies/schema.cedarschema")),
    ("screening.toml", include_str!("../../policies/screening.toml")),
    ("transfers.toml", include_str!("../../policies/transfers.toml")),
];

/// The 1-based line of a byte offset in `text`.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes().iter().take(offset).filter(|b| **b == b'\n').count() + 1
}

/// The line of a value read with `toml::Spanned`.
pub(crate) fn line_of<T>(text: &str, spanned: &toml::Spanned<T>) -> usize {
    line_at(text, spanned.span().start)
}

/// Parses a policy file's TOML; an error carries the 1-based line it is on.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, (usize, String)> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_at(text, s.start));
        (line, e.message().to_owned())
    })
}

/// Where the active policies came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// The files compiled into this binary (the shipped `policies/`).
    Embedded,
    Dir(PathBuf),
}

impl std::fmt::Display for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicySource::Embedded => f.write_str("the policies built into this binary"),
            PolicySource::Dir(d) => write!(f, "{}", d.display()),
        }
    }
}

/// A policy set's files, by name, sorted.
#[derive(Debug, Clone)]
pub struct PolicyFiles {
    pub source: PolicySource,
    pub files: Vec<(String, String)>,
}

impl PolicyFiles {
    pub fn embedded() -> Self {
        PolicyFiles {
            source: PolicySource::Embedded,
            files: EMBEDDED.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect(),
        }
    }

    /// Every file of `dir` (the hash covers them all, even ones custos does
    /// not read, so any change to the directory shows in the audit log).
    pub fn read_dir(dir: &Path) -> Result<Self, PolicyError> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| PolicyError::Dir(dir.to_owned(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let bytes = std::fs::read(&p).map_err(|e| PolicyError::Dir(p.clone(), e))?;
            files.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
        Ok(PolicyFiles { source: PolicySource::Dir(dir.to_owned()), files })
    }

    /// The path to name in an error about `name`.
    fn path(&self, name: &str) -> PathBuf {
        match &self.source {
            PolicySource::Embedded => PathBuf::from(format!("(built-in) policies/{name}")),
            PolicySource::Dir(d) => d.join(name),
        }
    }

    pub fn text(&self, name: &str) -> Result<&str, PolicyError> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
            .ok_or_else(|| PolicyError::Missing(self.path(name)))
    }

    /// Parses one file, naming file and line on error.
    fn parse<T>(&self, name: &str, parse: impl FnOnce(&str) -> Result<T, (usize, String)>) -> Result<T, PolicyError> {
        parse(self.text(name)?).map_err(|(line, message)| PolicyError::Invalid { file: self.path(name), line, message })
    }

    /// SHA-256 over every file (sorted by name: name, length, contents), hex.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for (name, text) in &self.files {
            h.update(name.as_bytes());
            h.update([0]);
            h.update((text.len() as u64).to_be_bytes());
            h.update(text.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// The active policy files and their combined hash.
pub struct PolicySet {
    pub purposes: PurposeRegistry,
    pub alerts: Vec<alerts::AlertRule>,
    pub masking: masking::MaskingRules,
    pub access: access::AccessPolicy,
    pub retention: retention::RetentionRules,
    pub requests: registers::RequestRules,
    pub incidents: registers::IncidentRules,
    pub exports: registers::ExportRules,
    pub notices: governance::Notices,
    pub collection: governance::CollectionRules,
    pub transfers: governance::TransferRules,
    pub grading: grading::GradingRules,
    pub screening: screening::ScreeningRules,
    pub officer: governance::OfficerRules,
    pub assessments: assessments::AssessmentRules,
    pub data_grades: data_grades::DataGrades,
    pub audits: audits::AuditSchedule,
    pub authentication: authentication::AuthenticationRules,
    /// SHA-256 over every policy file (sorted by name: name, length,
    /// contents), hex; written into every audit entry.
    pub hash: String,
    pub source: PolicySource,
}

impl PolicySet {
    /// The policies of a directory.
    pub fn load(dir: &Path) -> Result<Self, PolicyError> {
        Self::from_files(&PolicyFiles::read_dir(dir)?)
    }

    /// The shipped policies, compiled into the binary.
    pub fn embedded() -> Result<Self, PolicyError> {
        Self::from_files(&PolicyFiles::embedded())
    }

    /// `dir`'s policies, or the built-in ones when none is given.
    pub fn load_or_embedded(dir: Option<&Path>) -> Result<Self, PolicyError> {
        match dir {
            Some(d) => Self::load(d),
            None => Self::embedded(),
        }
    }

    pub fn from_files(files: &PolicyFiles) -> Result<Self, PolicyError> {
        let purposes = files.parse("purposes.toml", PurposeRegistry::parse)?;
        let alerts = files.parse("alerts.toml", alerts::parse_rules)?;
        let masking = files.parse("masking.toml", masking::MaskingRules::parse)?;
        let schema = files.parse("schema.cedarschema", access::AccessPolicy::parse_schema)?;
        let access = files.parse("access.cedar", |text| access::AccessPolicy::parse(&schema, text))?;
        let retention = files.parse("retention.toml", retention::RetentionRules::parse)?;
        let requests = files.parse("requests.toml", registers::RequestRules::parse)?;
        let incidents = files.parse("incidents.toml", registers::IncidentRules::parse)?;
        let exports = files.parse("exports.toml", registers::ExportRules::parse)?;
        let notices = files.parse("notices.toml", |t| {
            let n = governance::Notices::parse(t)?;
            n.check_purposes(&purposes)?;
            Ok(n)
        })?;
        let collection = files.parse("collection.toml", |t| {
            let c = governance::CollectionRules::parse(t)?;
            c.check_purposes(&purposes)?;
            Ok(c)
        })?;
        let transfers = files.parse("transfers.toml", governance::TransferRules::parse)?;
        let grading = files.parse("grading.toml", grading::GradingRules::parse)?;
        let screening = files.parse("screening.toml", screening::ScreeningRules::parse)?;
        let officer = files.parse("officer.toml", governance::OfficerRules::parse)?;
        let assessments = files.parse("assessments.toml", |t| {
            let a = assessments::AssessmentRules::parse(t)?;
            a.check_purposes(&purposes)?;
            Ok(a)
        })?;
        let data_grades = files.parse("data_grades.toml", |t| {
            let g = data_grades::DataGrades::parse(t)?;
            if !transfers.mechanisms.contains_key(&g.important_outbound_mechanism) {
                let known: Vec<&str> = transfers.mechanisms.keys().map(String::as_str).collect();
                let message = format!(
                    "important_outbound_mechanism {:?} is not a mechanism of transfers.toml ({})",
                    g.important_outbound_mechanism,
                    known.join(", ")
                );
                return Err((
                    t.lines().position(|l| l.starts_with("important_outbound_mechanism")).unwrap_or(0) + 1,
                    message,
                ));
            }
            Ok(g)
        })?;
        let audits = files.parse("compliance_audits.toml", audits::AuditSchedule::parse)?;
        let authentication = files.parse("authentication.toml", authentication::AuthenticationRules::parse)?;
        Ok(PolicySet {
            purposes,
            alerts,
            masking,
            access,
            retention,
            requests,
            incidents,
            exports,
            notices,
            collection,
            transfers,
            grading,
            screening,
            officer,
            assessments,
            data_grades,
            audits,
            authentication,
            hash: files.hash(),
            source: files.source.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
    }

    #[test]
    fn shipped_policies_load_and_hash_changes_with_content() {
        let a = PolicySet::load(&shipped()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(shipped()).unwrap().flatten() {
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
        assert_eq!(PolicySet::load(dir.path()).unwrap().hash, a.hash);
        let p = dir.path().join("purposes.toml");
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("\n# changed\n");
        std::fs::write(&p, text).unwrap();
        assert_ne!(PolicySet::load(dir.path()).unwrap().hash, a.hash);
    }

    #[test]
    fn the_embedded_policies_are_the_shipped_files() {
        let dir = PolicySet::load(&shipped()).unwrap();
        let built_in = PolicySet::embedded().unwrap();
        assert_eq!(built_in.hash, dir.hash, "policies/ and the compiled-in copy differ: rebuild");
        assert_eq!(built_in.source, PolicySource::Embedded);
        let names: Vec<String> = std::fs::read_dir(shipped())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), EMBEDDED.len(), "a file in policies/ is not compiled in: {names:?}");
    }

    #[test]
    fn lines_count_from_one_and_a_key_at_line_start_is_on_its_own_line() {
        let text = "a\nb\nc";
        assert_eq!(line_at(text, 0), 1);
        assert_eq!(line_at(text, 2), 2, "the first byte of line 2");
        assert_eq!(line_at(text, 4), 3);
    }
}
