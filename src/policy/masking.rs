//! `policies/masking.toml`: how each field is shown when masked. Pure
//! functions; a masked value keeps no more than the format says. The file
//! names fields of the field catalog (`domain::catalog`) only.

use crate::domain::catalog::{generic, Catalog};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaskFormat {
    /// `13912345688` → `139****5688`
    Phone,
    /// `张经理` → `张**`
    Name,
    /// `zhang@example.com` → `z***@example.com`
    Email,
    /// anything → `***`
    Fixed,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default: MaskFormat,
    #[serde(default)]
    fields: BTreeMap<toml::Spanned<String>, MaskFormat>,
}

/// Masking rules by field path (`/contacts/*/phone`: `*` is any array index).
#[derive(Debug, Clone)]
pub struct MaskingRules {
    default: MaskFormat,
    fields: BTreeMap<String, MaskFormat>,
}

const FIXED: &str = "***";

/// A masked value that is not a template field (a grading input, an
/// interaction's summary): shown in the fixed format, whatever it was.
pub fn masked_text() -> String {
    MaskFormat::Fixed.apply("")
}

impl MaskFormat {
    pub fn apply(self, value: &str) -> String {
        match self {
            MaskFormat::Fixed => FIXED.to_owned(),
            // The first character and always two stars: the mask keeps
            // neither the rest of the name nor its length.
            MaskFormat::Name => match value.chars().next() {
                Some(first) => format!("{first}**"),
                None => FIXED.to_owned(),
            },
            // At least four digits stay hidden: the first three and last
            // four of a mobile number (11 digits or more), only the last
            // four of a shorter number (an 8-digit landline would otherwise
            // show 7 of its 8), nothing of one under 8 digits.
            MaskFormat::Phone => {
                let digits: Vec<char> = value.chars().filter(char::is_ascii_digit).collect();
                let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
                match digits.len() {
                    0..=7 => FIXED.to_owned(),
                    8..=10 => format!("****{tail}"),
                    _ => format!("{}****{tail}", digits[..3].iter().collect::<String>()),
                }
            }
            MaskFormat::Email => match value.split_once('@') {
                Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                    let first = local.chars().next().map(String::from).unwrap_or_default();
                    format!("{first}***@{domain}")
                }
                _ => FIXED.to_owned(),
            },
        }
    }
}

impl MaskingRules {
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let f: File = super::parse_toml(text)?;
        let mut fields = BTreeMap::new();
        let catalog = Catalog::template();
        for (path, format) in f.fields {
            let p = path.get_ref();
            if !p.starts_with('/') {
                return Err((super::line_of(text, &path), format!("field path {p:?} must start with /")));
            }
            if catalog.field(p).is_none_or(|field| field.path != *p) {
                return Err((
                    super::line_of(text, &path),
                    format!(
                        "{p:?} is not a field of the template (schemas/dossier.schema.json; `*` for a contact's index)"
                    ),
                ));
            }
            fields.insert(path.into_inner(), format);
        }
        Ok(MaskingRules { default: f.default, fields })
    }

    /// The rule for a concrete JSON Pointer (`/contacts/0/phone`).
    pub fn format_for(&self, pointer: &str) -> MaskFormat {
        self.rule_for(pointer).unwrap_or(self.default)
    }

    /// The explicit rule for a pointer, if the file names one.
    pub fn rule_for(&self, pointer: &str) -> Option<MaskFormat> {
        self.fields.get(&generic(pointer)).copied()
    }

    /// Masks a value for the field at `pointer`. Arrays and other non-string
    /// values are masked whole.
    pub fn mask(&self, pointer: &str, value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::String(s) => self.format_for(pointer).apply(s).into(),
            _ => FIXED.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shipped() -> MaskingRules {
        crate::policy::PolicySet::embedded().unwrap().masking
    }

    #[test]
    fn formats_of_api_md() {
        assert_eq!(MaskFormat::Phone.apply("13912345688"), "139****5688");
        assert_eq!(MaskFormat::Phone.apply("+86 139-1234-5688"), "861****5688");
        assert_eq!(MaskFormat::Phone.apply("12345"), "***", "too short to keep anything");
        assert_eq!(MaskFormat::Phone.apply("6512 3456"), "****3456", "8 digits: 4 hidden");
        assert_eq!(MaskFormat::Phone.apply("0755123456"), "****3456");
        assert_eq!(MaskFormat::Name.apply("张三"), "张**", "the length is not kept");
        assert_eq!(MaskFormat::Name.apply("欧阳娜娜"), "欧**");
        assert_eq!(MaskFormat::Name.apply("张经理"), "张**");
        assert_eq!(MaskFormat::Email.apply("zhang@example.com"), "z***@example.com");
        assert_eq!(MaskFormat::Email.apply("not-an-email"), "***");
        assert_eq!(MaskFormat::Fixed.apply("6222020000000000000"), "***");
        let r = shipped();
        assert_eq!(r.mask("/contacts/3/phone", &json!("13912345688")), json!("139****5688"));
        assert_eq!(r.mask("/contacts/0/name", &json!("张经理")), json!("张**"));
        for n in 8..=15 {
            let masked = MaskFormat::Phone.apply(&"1".repeat(n));
            assert!(n - masked.chars().filter(char::is_ascii_digit).count() >= 4, "{n} digits: {masked}");
        }
        assert_eq!(r.mask("/transport/routes", &json!(["国内各地"])), json!("***"));
        assert_eq!(r.mask("/unknown/field", &json!("x")), json!("***"), "default");
    }

    /// Every field of the catalog (every leaf of the template, each with a
    /// class) has an explicit masking rule.
    #[test]
    fn every_template_field_has_a_masking_rule() {
        let rules = shipped();
        let catalog = Catalog::template();
        assert!(catalog.fields().count() >= 25);
        for f in catalog.fields() {
            assert!(rules.rule_for(&f.path.replace("/*", "/0")).is_some(), "{} has no masking rule", f.path);
        }
    }

    #[test]
    fn a_bad_field_path_names_its_own_line() {
        let text = "# /contacts/*/phone is masked as a phone\ndefault = \"fixed\"\n[fields]\n\"/contacts/*/phone\" = \"phone\"\n\"remarks\" = \"fixed\"\n";
        let (line, msg) = MaskingRules::parse(text).unwrap_err();
        assert_eq!(line, 5, "{msg}");
        for path in ["/contacts/*/phon", "/contacts/0/phone", "/contacts", "/customer"] {
            let text = format!("default = \"fixed\"\n[fields]\n\"/remarks\" = \"fixed\"\n\"{path}\" = \"fixed\"\n");
            let (line, msg) = MaskingRules::parse(&text).unwrap_err();
            assert_eq!(line, 4, "{path}: {msg}");
            assert!(msg.contains("not a field of the template"), "{msg}");
        }
    }
}
