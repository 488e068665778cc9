//! Form posts decoded into the API's DTOs: the console's forms are typed
//! like the API's bodies.
//!
//! A form is a list of text pairs. [`decode`] places each value at a JSON
//! pointer of the DTO (`/verification/method`, `/answered_by/0/kind`),
//! turns it into the JSON type the DTO's schema declares there (a number,
//! a boolean, an array's items), leaves empty fields out, and hands the
//! object to [`super::body::parse`]: the same schema check and serde
//! decoding as a JSON body, so a form is held to the API's bounds and its
//! failures are the same 422 field list. The body itself is read with the
//! limit every route shares (`DefaultBodyLimit`, `max_body_bytes`).

use super::body::{parse, schema_of};
use super::error::ApiError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use utoipa::ToSchema;

/// How many values a form may set, and how deep a pointer may reach: far
/// past any console form, so that a hand-made post cannot build a large or
/// deep document.
const MAX_VALUES: usize = 200;
const MAX_DEPTH: usize = 4;
/// The highest array index a pointer may name.
const MAX_INDEX: usize = 50;

/// `D` from `(pointer, text)` pairs: each text at its pointer, typed as
/// `D`'s schema says, empty texts left out. A pointer the schema does not
/// know stays a string there (and the schema then refuses it).
pub fn decode<'a, D: ToSchema + DeserializeOwned>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<D, ApiError> {
    let schema = schema_of::<D>();
    let mut doc = Value::Object(Map::new());
    let mut count = 0;
    for (pointer, text) in pairs {
        if text.trim().is_empty() {
            continue;
        }
        count += 1;
        if count > MAX_VALUES {
            return Err(ApiError::bad_request("the form has too many fields"));
        }
        let segments: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
        if segments.len() > MAX_DEPTH || segments.iter().any(|s| s.is_empty()) {
            return Err(ApiError::bad_request("the form names a field custos does not know"));
        }
        let at = schema_at(&schema, &segments);
        place(&mut doc, &segments, typed(at, text))?;
    }
    parse::<D>(doc)
}

/// The sub-schema at `segments` (properties by name, items by index), if
/// the schema says.
fn schema_at<'s>(schema: &'s Value, segments: &[&str]) -> Option<&'s Value> {
    let mut at = schema;
    for seg in segments {
        at = match seg.parse::<usize>() {
            Ok(_) => at.get("items")?,
            Err(_) => at.get("properties")?.get(*seg)?,
        };
    }
    Some(at)
}

/// The JSON type names a schema allows (`"type": "x"` or `["x", "null"]`).
fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `text` as the JSON value the schema expects; a text that is not one
/// stays a string, for the schema to name the field.
fn typed(schema: Option<&Value>, text: &str) -> Value {
    let text = text.trim();
    let kinds = schema.map(types).unwrap_or_default();
    if kinds.contains(&"integer") {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
    }
    if kinds.contains(&"number") {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    if kinds.contains(&"boolean") {
        match text {
            "true" | "on" => return Value::Bool(true),
            "false" | "off" => return Value::Bool(false),
            _ => {}
        }
    }
    if kinds.contains(&"array") {
        // A list in one field: one item per line or comma.
        let item = schema.and_then(|s| s.get("items"));
        let items = text.split(['\n', ',']).map(str::trim).filter(|s| !s.is_empty());
        return Value::Array(items.map(|i| typed(item, i)).collect());
    }
    Value::String(text.to_owned())
}

/// Sets `value` at `segments`, making the objects and arrays on the way.
/// A pointer that crosses a value already set is refused.
fn place(doc: &mut Value, segments: &[&str], value: Value) -> Result<(), ApiError> {
    let clash = || ApiError::bad_request("the form sets one field twice");
    let Some((last, path)) = segments.split_last() else { return Err(clash()) };
    let mut at = doc;
    for (i, seg) in path.iter().enumerate() {
        let next_is_index = segments[i + 1].parse::<usize>().is_ok();
        let fresh = || if next_is_index { Value::Array(Vec::new()) } else { Value::Object(Map::new()) };
        at = slot(at, seg, fresh)?;
    }
    let target = slot(at, last, || Value::Null)?;
    if !target.is_null() {
        return Err(clash());
    }
    *target = value;
    Ok(())
}

/// The member or item `seg` of `at`, made with `fresh` when missing.
fn slot<'v>(at: &'v mut Value, seg: &str, fresh: impl Fn() -> Value) -> Result<&'v mut Value, ApiError> {
    let unknown = || ApiError::bad_request("the form names a field custos does not know");
    match at {
        Value::Object(m) => Ok(m.entry(seg.to_owned()).or_insert_with(fresh)),
        Value::Array(items) => {
            let i = seg.parse::<usize>().ok().filter(|i| *i <= MAX_INDEX).ok_or_else(unknown)?;
            while items.len() <= i {
                items.push(fresh());
            }
            Ok(&mut items[i])
        }
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::commands::{InteractionDto, RequestChangeDto};

    #[test]
    fn a_form_becomes_the_dto_typed_as_its_schema_says() {
        let d: InteractionDto = decode([
            ("kind", "visit"),
            ("at", "2026-12-01T09:00:00Z"),
            ("summary", "回访"),
            ("satisfaction", "4"),
            ("contact", ""),
        ])
        .unwrap();
        assert_eq!(d.satisfaction, Some(4));
        assert_eq!(d.contact, None);
        let d: RequestChangeDto =
            decode([("state", "completed"), ("answered_by/0/kind", "audit_entry"), ("answered_by/0/reference", "17")])
                .unwrap();
        assert_eq!(d.answered_by.unwrap()[0].reference, "17");
    }

    #[test]
    fn a_form_is_held_to_the_apis_bounds() {
        let long = "x".repeat(4001);
        let e = decode::<InteractionDto>([
            ("kind", "visit"),
            ("at", "2026-12-01T09:00:00Z"),
            ("summary", long.as_str()),
            ("satisfaction", "nine"),
        ])
        .err()
        .unwrap();
        let paths: Vec<String> = e.errors.unwrap().into_iter().map(|f| f.path).collect();
        assert_eq!(paths, ["/satisfaction", "/summary"]);
        // Unknown, deep, crossing or too many fields are refused, not built.
        assert!(decode::<InteractionDto>([("kind", "visit"), ("extra", "1")]).is_err());
        assert!(decode::<InteractionDto>([("a/b/c/d/e", "1")]).is_err());
        assert!(decode::<RequestChangeDto>([("answered_by/999/kind", "audit_entry")]).is_err());
        assert!(decode::<RequestChangeDto>([("reason", "a"), ("reason/x", "b")]).is_err());
        let many: Vec<(String, String)> = (0..201).map(|i| (format!("f{i}"), "v".into())).collect();
        assert!(decode::<InteractionDto>(many.iter().map(|(k, v)| (k.as_str(), v.as_str()))).is_err());
    }
}
