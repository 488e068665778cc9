//! JSON Pointer helpers over a dossier document (no personal value leaves
//! them; they only move fields around).

use serde_json::Value;

/// JSON Pointers of the leaves of a document (arrays of scalars count as one
/// leaf), for the released/withheld field lists of audit entries.
pub(crate) fn leaf_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                leaf_paths(v, &format!("{prefix}/{k}"), out);
            }
        }
        Value::Array(a) if a.iter().any(|x| x.is_object()) => {
            for (i, v) in a.iter().enumerate() {
                leaf_paths(v, &format!("{prefix}/{i}"), out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// Drops null members and empty arrays (absent optional fields), as the
/// template's own serialisation does.
pub(super) fn prune(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null() && !matches!(v, Value::Array(a) if a.is_empty()))
                .map(|(k, v)| (k, prune(v)))
                .collect(),
        ),
        other => other,
    }
}

/// `/contacts/3/phone` → 3.
pub(super) fn contact_of(pointer: &str) -> Option<usize> {
    pointer.strip_prefix("/contacts/")?.split('/').next()?.parse().ok()
}

pub(super) fn remove_pointer(doc: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else { return };
    match doc.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}
