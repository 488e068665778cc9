//! JSON Pointer helpers over a dossier document (no personal value leaves
//! them; they only move fields around).

use serde_json::Value;

/// JSON Pointers of the leaves of a document (arrays of scalars count as one
/// leaf), for the released/withheld field lists of audit entries.
pub(crate) fn leaf_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    let mut path = String::with_capacity(64);
    path.push_str(prefix);
    walk_leaves(v, &mut path, out);
}

/// `leaf_paths` over one growing buffer: a string allocated per leaf, not
/// per level.
fn walk_leaves(v: &Value, path: &mut String, out: &mut Vec<String>) {
    let len = path.len();
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                path.push('/');
                path.push_str(k);
                walk_leaves(v, path, out);
                path.truncate(len);
            }
        }
        Value::Array(a) if a.iter().any(|x| x.is_object()) => {
            for (i, v) in a.iter().enumerate() {
                use std::fmt::Write as _;
                let _ = write!(path, "/{i}");
                walk_leaves(v, path, out);
                path.truncate(len);
            }
        }
        _ => out.push(path.clone()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaf_paths_name_every_leaf_once() {
        let doc = json!({
            "customer": {"name": "x", "region": "CN"},
            "tags": ["a", "b"],
            "contacts": [{"name": "n", "phone": "p"}, {"email": "e"}],
            "empty": {},
            "n": 1
        });
        let mut out = Vec::new();
        leaf_paths(&doc, "", &mut out);
        out.sort();
        let want = [
            "/contacts/0/name",
            "/contacts/0/phone",
            "/contacts/1/email",
            "/customer/name",
            "/customer/region",
            "/n",
            "/tags",
        ];
        assert_eq!(out, want);
        let mut under = Vec::new();
        leaf_paths(&json!({"a": 1}), "/x", &mut under);
        assert_eq!(under, ["/x/a"]);
    }
}
