//! The one serialization of stored records: every [`super::Table`] uses it,
//! and so does a use case that keeps a record as bytes of its own (a sealed
//! record's plaintext, the principals' rows, the export window). JSON:
//! records stay readable by an operator's tools and by every earlier custos.
//! An error names what did not decode and where, never the bytes: a record
//! may hold a personal value.

use super::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `v`'s stored bytes.
pub fn encode<V: Serialize>(v: &V) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(format!("a record could not be encoded: {e}")))
}

/// `v`'s stored form as text, for a record sealed as text.
pub fn encode_text<V: Serialize>(v: &V) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("a record could not be encoded: {e}")))
}

/// The record `raw` holds; `what` names it in the error (a column family,
/// a sealed record's kind).
pub fn decode<V: DeserializeOwned>(what: &str, raw: &[u8]) -> Result<V, StoreError> {
    serde_json::from_slice(raw).map_err(|e| {
        StoreError::Corrupt(format!("a {what} record does not decode (line {}, column {})", e.line(), e.column()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_a_broken_one_is_named_without_its_bytes() {
        let v = vec!["张伟".to_owned(), "13800138000".to_owned()];
        assert_eq!(decode::<Vec<String>>("test", &encode(&v).unwrap()).unwrap(), v);
        let e = decode::<Vec<String>>("principals", b"[\"13800138000\"").unwrap_err().to_string();
        assert!(e.contains("principals") && !e.contains("13800138000"), "{e}");
    }
}
