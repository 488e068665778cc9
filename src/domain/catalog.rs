//! The field catalog: every leaf field of the dossier template
//! (`schemas/dossier.schema.json`), read once from the schema's annotations:
//! its class (`x-classification`), its names in Chinese and English
//! (`x-label`), how a form edits it (from its `type` and `enum`), the set
//! of `schemas/labels.json` that names its values (`x-labels`) and the
//! spreadsheet headers that fill it by default (`x-import`, the first one
//! the export's). Fields are named by JSON Pointer with `*` for an array
//! index (`/contacts/*/phone`); an array of scalars is one field (`/tags`).
//!
//! The one reading of the schema's fields: the policies' classes
//! (`policy::classes`), masking's check, the console's labels and edit
//! form, the import mapping and the export's columns all take it from here.

use super::dossier::SCHEMA_JSON;
use super::{Classification, Lang};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Where a contact's fields sit: `/contacts/*/phone`.
pub const CONTACT_PREFIX: &str = "/contacts/*/";

/// How a field is written in a form, derived from its schema type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A string.
    Text,
    /// An array of strings.
    List,
    /// A boolean.
    Bool,
    /// A string of the schema's `enum`, in the schema's order.
    Choice(Vec<String>),
}

/// One leaf field of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The generic pointer: `/customer/name`, `/contacts/*/phone`.
    pub path: String,
    pub class: Classification,
    pub label_zh: String,
    pub label_en: String,
    pub input: Input,
    /// The set of the label catalogue (`schemas/labels.json`) that names
    /// the field's values (`x-labels`): a choice is shown by its label.
    pub labels: Option<String>,
    /// The spreadsheet headers that name the field by default; the first is
    /// the export's. Empty when no column fills the field.
    pub import_headers: Vec<String>,
}

impl Field {
    /// The field's name in `lang`.
    pub fn label(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.label_zh,
            Lang::En => &self.label_en,
        }
    }

    /// For a field of a contact, its name within the contact (`phone` for
    /// `/contacts/*/phone`).
    pub fn contact_key(&self) -> Option<&str> {
        self.path.strip_prefix(CONTACT_PREFIX)
    }

    /// The header an exported sheet gives the field, if a column fills it.
    pub fn export_header(&self) -> Option<&str> {
        self.import_headers.first().map(String::as_str)
    }
}

/// The template's leaf fields, in schema order.
#[derive(Debug, Clone)]
pub struct Catalog {
    fields: Vec<Field>,
    by_path: HashMap<String, usize>,
}

/// `/contacts/3/phone` → `/contacts/*/phone`: every all-digit segment is an
/// array index.
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

impl Catalog {
    /// The shipped template's catalog (it is compiled into the binary).
    #[expect(clippy::expect_used, reason = "the embedded template annotates every field (unit tests check it)")]
    pub fn template() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| Catalog::from_schema(SCHEMA_JSON).expect("the embedded template builds a catalog"))
    }

    /// The catalog of a template: every leaf needs a class (its own or its
    /// parent's), both labels and a type a form can edit; import headers
    /// are unique across fields.
    pub fn from_schema(text: &str) -> Result<Self, String> {
        let schema: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut fields = Vec::new();
        collect(&schema, "", None, &mut fields)?;
        let mut by_path = HashMap::new();
        let mut headers: HashMap<&str, &str> = HashMap::new();
        for (i, f) in fields.iter().enumerate() {
            for h in &f.import_headers {
                if let Some(other) = headers.insert(h, &f.path) {
                    return Err(format!("import header {h:?} names both {other} and {}", f.path));
                }
            }
            by_path.insert(f.path.clone(), i);
        }
        Ok(Catalog { fields, by_path })
    }

    /// Every field, in schema order.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter()
    }

    /// The field at a pointer, concrete (`/contacts/3/phone`) or generic.
    pub fn field(&self, pointer: &str) -> Option<&Field> {
        self.by_path.get(&generic(pointer)).map(|&i| &self.fields[i])
    }

    /// A contact's fields, in schema order.
    pub fn contact_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.contact_key().is_some())
    }

    /// The fields a spreadsheet column fills, in schema order.
    pub fn importable(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| !f.import_headers.is_empty())
    }
}

fn collect(node: &Value, path: &str, inherited: Option<Classification>, out: &mut Vec<Field>) -> Result<(), String> {
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
        _ => out.push(leaf(node, path, class.ok_or(format!("{path} has no x-classification"))?)?),
    }
    Ok(())
}

fn leaf(node: &Value, path: &str, class: Classification) -> Result<Field, String> {
    let label = |lang: &str| {
        node.pointer(&format!("/x-label/{lang}"))
            .and_then(Value::as_str)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .ok_or(format!("{path} has no x-label {lang}"))
    };
    let import_headers = match node.get("x-import") {
        None => Vec::new(),
        Some(list) => list
            .as_array()
            .filter(|l| !l.is_empty())
            .and_then(|l| l.iter().map(|h| h.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
            .ok_or(format!("{path}: x-import is not a list of headers"))?,
    };
    let labels = match node.get("x-labels") {
        None => None,
        Some(set) => Some(set.as_str().ok_or(format!("{path}: x-labels is not the name of a set"))?.to_owned()),
    };
    Ok(Field {
        path: path.to_owned(),
        class,
        label_zh: label("zh")?,
        label_en: label("en")?,
        input: input(node, path)?,
        labels,
        import_headers,
    })
}

/// How a form writes a leaf of this schema type.
fn input(node: &Value, path: &str) -> Result<Input, String> {
    let ty = node.get("type").and_then(Value::as_str);
    match (ty, node.get("enum")) {
        (Some("string"), Some(values)) => values
            .as_array()
            .and_then(|v| v.iter().map(|x| x.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
            .map(Input::Choice)
            .ok_or(format!("{path}: an enum of strings is expected")),
        (Some("string"), None) => Ok(Input::Text),
        (Some("boolean"), None) => Ok(Input::Bool),
        (Some("array"), None) if node.pointer("/items/type").and_then(Value::as_str) == Some("string") => {
            Ok(Input::List)
        }
        _ => Err(format!("{path}: no form input for its type")),
    }
}

/// Sets the field at `pointer` in a document, making the objects on the
/// way (every segment is an object key: a contact's index too, for the
/// caller to turn into a list). A pointer through a value that is not an
/// object sets nothing.
pub fn set_at(doc: &mut Value, pointer: &str, value: Value) {
    let mut at = doc;
    let segs: Vec<&str> = pointer.split('/').skip(1).collect();
    for (n, seg) in segs.iter().enumerate() {
        let Value::Object(map) = at else { return };
        if n + 1 == segs.len() {
            map.insert((*seg).to_owned(), value);
            return;
        }
        at = map.entry((*seg).to_owned()).or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template's leaves walked independently of the catalog (a
    /// property that is no object and no array of objects), with their own
    /// `x-classification`.
    fn schema_leaves(node: &Value, path: &str, out: &mut Vec<(String, Option<String>)>) {
        match node.get("type").and_then(Value::as_str) {
            Some("object") => {
                for (k, v) in node["properties"].as_object().unwrap() {
                    schema_leaves(v, &format!("{path}/{k}"), out);
                }
            }
            Some("array") if node["items"].get("type").and_then(Value::as_str) == Some("object") => {
                schema_leaves(&node["items"], &format!("{path}/*"), out)
            }
            _ => out.push((path.to_owned(), node["x-classification"].as_str().map(str::to_owned))),
        }
    }

    #[test]
    fn the_embedded_template_builds_with_every_leaf_described() {
        let c = Catalog::from_schema(SCHEMA_JSON).unwrap();
        let schema: Value = serde_json::from_str(SCHEMA_JSON).unwrap();
        let mut leaves = vec![];
        schema_leaves(&schema, "", &mut leaves);
        let paths: Vec<&str> = c.fields().map(|f| f.path.as_str()).collect();
        let leaf_paths: Vec<&str> = leaves.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, leaf_paths, "every leaf, in schema order");
        assert_eq!(paths.len(), 33);
        for (f, (_, own_class)) in c.fields().zip(&leaves) {
            assert_eq!(own_class.as_deref(), Some(f.class.as_str()), "{}: its own class", f.path);
            assert!(!f.label_en.is_empty(), "{}", f.path);
            assert!(!f.label_zh.is_ascii(), "{}: a Chinese label", f.path);
        }
        assert_eq!(Catalog::template().fields().count(), 33);
    }

    #[test]
    fn inputs_follow_the_schema_types() {
        let c = Catalog::template();
        let input = |p: &str| c.field(p).unwrap().input.clone();
        assert_eq!(input("/customer/name"), Input::Text);
        assert_eq!(input("/status"), Input::Choice(vec!["prospect".into(), "active".into(), "closed".into()]));
        assert_eq!(input("/grade"), Input::Choice(vec!["A".into(), "B".into(), "C".into()]));
        assert_eq!(input("/preferences/tracking"), Input::Bool);
        assert_eq!(input("/transport/routes"), Input::List);
        assert_eq!(input("/tags"), Input::List);
        assert_eq!(input("/contacts/*/id_number"), Input::Text);
    }

    #[test]
    fn a_concrete_pointer_resolves_to_its_generic_field() {
        let c = Catalog::template();
        let phone = c.field("/contacts/3/phone").unwrap();
        assert_eq!(phone.path, "/contacts/*/phone");
        assert_eq!(phone.class, Classification::Personal);
        assert_eq!(phone.contact_key(), Some("phone"));
        assert_eq!((phone.label(Lang::Zh), phone.label(Lang::En)), ("联系电话", "Phone"));
        assert_eq!(c.field("/contacts/*/phone"), Some(phone));
        assert_eq!(c.field("/customer/name").unwrap().contact_key(), None);
        assert!(c.field("/contacts/x/phone").is_none());
        assert!(c.field("/contacts/0").is_none(), "a contact is no leaf");
        assert!(c.field("/tags/0").is_none(), "an item of a list is no field of its own");
        assert!(c.field("/customer/secret").is_none());
    }

    #[test]
    fn contact_fields_and_import_headers() {
        let c = Catalog::template();
        let keys: Vec<&str> = c.contact_fields().filter_map(Field::contact_key).collect();
        assert_eq!(keys, ["subject_id", "name", "phone", "email", "role", "id_number", "notice", "sensitive_basis"]);
        assert_eq!(c.importable().count(), 22);
        let mut seen = std::collections::HashSet::new();
        for f in c.importable() {
            for h in &f.import_headers {
                assert!(seen.insert(h.as_str()), "{h} names two fields");
            }
        }
        assert_eq!(c.field("/customer/name").unwrap().export_header(), Some("客户名称"));
        assert_eq!(c.field("/contacts/*/id_number").unwrap().export_header(), None, "never imported");
    }

    #[test]
    fn a_template_missing_an_annotation_is_refused() {
        let leaf = |extra: &str| {
            format!(
                r#"{{"type": "object", "properties": {{"a": {{"type": "string", "x-classification": "internal"{extra}}}}}}}"#
            )
        };
        assert!(Catalog::from_schema(&leaf(r#", "x-label": {"zh": "甲", "en": "A"}"#)).is_ok());
        let no_label = Catalog::from_schema(&leaf("")).unwrap_err();
        assert!(no_label.contains("/a has no x-label"), "{no_label}");
        let no_en = Catalog::from_schema(&leaf(r#", "x-label": {"zh": "甲"}"#)).unwrap_err();
        assert!(no_en.contains("x-label en"), "{no_en}");
        let bad_labels = leaf(r#", "x-label": {"zh": "甲", "en": "A"}, "x-labels": ["status"]"#);
        assert!(Catalog::from_schema(&bad_labels).unwrap_err().contains("x-labels"));
        let bad_import = leaf(r#", "x-label": {"zh": "甲", "en": "A"}, "x-import": "a""#);
        assert!(Catalog::from_schema(&bad_import).unwrap_err().contains("x-import"));
        let twice = r#"{"type": "object", "properties": {
            "a": {"type": "string", "x-classification": "internal", "x-label": {"zh": "甲", "en": "A"}, "x-import": ["h"]},
            "b": {"type": "string", "x-classification": "internal", "x-label": {"zh": "乙", "en": "B"}, "x-import": ["h"]}}}"#;
        assert!(Catalog::from_schema(twice).unwrap_err().contains("names both /a and /b"));
        let number = r#"{"type": "object", "properties": {"n": {"type": "integer", "x-classification": "internal", "x-label": {"zh": "数", "en": "N"}}}}"#;
        assert!(Catalog::from_schema(number).unwrap_err().contains("no form input"));
    }

    #[test]
    fn a_leaf_with_no_class_of_its_own_or_its_parents_is_refused() {
        // PIPL Art. 4: every field says whether it is personal information;
        // a leaf nobody classified cannot enter the catalog.
        let bare = r#"{"type": "object", "properties": {"a": {"type": "string", "x-label": {"zh": "甲", "en": "A"}}}}"#;
        let err = Catalog::from_schema(bare).unwrap_err();
        assert!(err.contains("/a") && err.contains("x-classification"), "{err}");
        let inherited = r#"{"type": "object", "properties": {"p": {"type": "object", "x-classification": "personal",
            "properties": {"a": {"type": "string", "x-label": {"zh": "甲", "en": "A"}}}}}}"#;
        let c = Catalog::from_schema(inherited).unwrap();
        assert_eq!(c.field("/p/a").unwrap().class, Classification::Personal, "a parent's class covers its leaves");
    }

    #[test]
    fn generic_replaces_array_indexes_only() {
        assert_eq!(generic("/contacts/12/phone"), "/contacts/*/phone");
        assert_eq!(generic("/customer/name"), "/customer/name");
        assert_eq!(generic("/a1/2b/3"), "/a1/2b/*");
        assert_eq!(generic(""), "");
        assert_eq!(generic("/"), "/");
        assert_eq!(generic("//0"), "//*");
    }
}
