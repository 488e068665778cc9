//! What a reader of the raw index files would find (tests only).

use super::{normal_forms, SearchError, SearchIndex};

impl SearchIndex {
    /// Whether any segment's term dictionary, deleted documents included,
    /// still holds a blind term of `value`: what a reader of the raw index
    /// files would find.
    pub(crate) fn segments_hold_blind(&self, value: &str) -> Result<bool, SearchError> {
        let io = |e: std::io::Error| SearchError::Other(e.to_string());
        for segment in self.index.searchable_segments()? {
            let reader = tantivy::SegmentReader::open(&segment)?;
            let terms = reader.inverted_index(self.fields.blind)?;
            for form in normal_forms(value) {
                if terms.terms().term_ord(self.blind(&form).as_bytes()).map_err(io)?.is_some() {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}
