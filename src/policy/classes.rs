//! Each template field's class, read from the `x-classification` of
//! `schemas/dossier.schema.json`. Fields are named by JSON Pointer with `*`
//! for an array index (`/contacts/*/phone`); an array of scalars is one
//! field (`/tags`).

use crate::domain::dossier::SCHEMA_JSON;
use crate::domain::Classification;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Debug, Clone)]
pub struct FieldClasses {
    by_path: BTreeMap<String, Classification>,
}

/// `/contacts/3/phone` → `/contacts/*/phone`.
pub fn generic(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for (i, seg) in pointer.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) { "*" } else { seg });
    }
    out
}

impl FieldClasses {
    /// The shipped template's classes (it is compiled into the binary).
    #[expect(
        clippy::expect_used,
        reason = "the embedded template parses and classifies every field (unit tests check it)"
    )]
    pub fn template() -> &'static FieldClasses {
        static CLASSES: OnceLock<FieldClasses> = OnceLock::new();
        CLASSES.get_or_init(|| FieldClasses::from_schema(SCHEMA_JSON).expect("the embedded template is classified"))
    }

    pub fn from_schema(text: &str) -> Result<Self, String> {
        let schema: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut by_path = BTreeMap::new();
        collect(&schema, "", None, &mut by_path)?;
        Ok(FieldClasses { by_path })
    }

    /// The class of a concrete pointer. A field the template does not
    /// classify counts as sensitive (fail closed).
    pub fn class_of(&self, pointer: &str) -> Classification {
        self.by_path.get(&generic(pointer)).copied().unwrap_or(Classification::Sensitive)
    }

    /// The classes decided for the dossier as a whole: those of its own
    /// fields, and of a contact's fields that are not about the person (its
    /// subject id).
    pub fn dossier_level(&self) -> Vec<Classification> {
        let mut out: Vec<Classification> = self
            .fields()
            .filter(|(p, c)| {
                !p.starts_with("/contacts/") || !matches!(c, Classification::Personal | Classification::Sensitive)
            })
            .map(|(_, c)| c)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every field with its class.
    pub fn fields(&self) -> impl Iterator<Item = (&str, Classification)> {
        self.by_path.iter().map(|(p, c)| (p.as_str(), *c))
    }
}

fn collect(
    node: &Value,
    path: &str,
    inherited: Option<Classification>,
    out: &mut BTreeMap<String, Classification>,
) -> Result<(), String> {
    let class = match node.get("x-classification").and_then(Value::as_str) {
        Some(c) => Some(c.parse::<Classification>()?),
        None => inherited,
    };
    match node.get("type").and_then(Value::as_str) {
        Some("object") => {
            let props = node.get("properties").and_then(Value::as_object).ok_or(format!("{path}: no properties"))?;
            for (k, v) in props {
                collect(v, &format!("{path}/{k}"), class, out)?;
            }
        }
        Some("array") if node.pointer("/items/type").and_then(Value::as_str) == Some("object") => {
            collect(&node["items"], &format!("{path}/*"), class, out)?;
        }
        _ => {
            out.insert(path.to_owned(), class.ok_or(format!("{path} has no x-classification"))?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_replaces_array_indexes_only() {
        assert_eq!(generic("/contacts/12/phone"), "/contacts/*/phone");
        assert_eq!(generic("/customer/name"), "/customer/name");
        assert_eq!(generic("/a1/2b/3"), "/a1/2b/*");
        assert_eq!(generic(""), "");
        assert_eq!(generic("/"), "/");
        assert_eq!(generic("//0"), "//*");
    }

    #[test]
    fn template_classes_follow_api_md() {
        let c = FieldClasses::template();
        assert_eq!(c.class_of("/customer/name"), Classification::Internal);
        assert_eq!(c.class_of("/contacts/2/phone"), Classification::Personal);
        assert_eq!(c.class_of("/contacts/0/id_number"), Classification::Sensitive);
        assert_eq!(c.class_of("/contacts/0/subject_id"), Classification::Internal);
        assert_eq!(c.class_of("/finance/credit_rating"), Classification::Confidential);
        assert_eq!(c.class_of("/finance/bank_account"), Classification::Sensitive);
        assert_eq!(c.class_of("/tags"), Classification::Internal);
        assert_eq!(c.class_of("/no/such/field"), Classification::Sensitive, "unknown fails closed");
        assert!(c.fields().count() >= 25);
    }
}
