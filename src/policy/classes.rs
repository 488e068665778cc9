//! Each template field's class, as the field catalog
//! (`domain::catalog`) reads it from the `x-classification` of
//! `schemas/dossier.schema.json`. Fields are named by JSON Pointer with `*`
//! for an array index (`/contacts/*/phone`); an array of scalars is one
//! field (`/tags`).

use crate::domain::catalog::{generic, Catalog};
use crate::domain::Classification;
use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Debug, Clone)]
pub struct FieldClasses {
    by_path: BTreeMap<String, Classification>,
}

impl FieldClasses {
    /// The shipped template's classes (it is compiled into the binary).
    pub fn template() -> &'static FieldClasses {
        static CLASSES: OnceLock<FieldClasses> = OnceLock::new();
        CLASSES.get_or_init(|| FieldClasses::from_catalog(Catalog::template()))
    }

    /// The classes of a catalog's fields.
    pub fn from_catalog(catalog: &Catalog) -> Self {
        FieldClasses { by_path: catalog.fields().map(|f| (f.path.clone(), f.class)).collect() }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_classes_are_the_catalogs() {
        let catalog = Catalog::template();
        let from_catalog: Vec<(&str, Classification)> = catalog.fields().map(|f| (f.path.as_str(), f.class)).collect();
        let mut sorted = from_catalog.clone();
        sorted.sort();
        let classes: Vec<(&str, Classification)> = FieldClasses::template().fields().collect();
        assert_eq!(classes, sorted, "the same paths and classes");
        assert_eq!(classes.len(), from_catalog.len(), "no path twice");
    }
}
