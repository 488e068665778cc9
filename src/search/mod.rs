//! The full-text index (tantivy): the searchable business fields with
//! Chinese word segmentation (jieba) and Latin tokenisation with English
//! stemming, and a blind index of personal values (contact name, phone,
//! email). The index holds no plaintext: every term of the text is a keyed
//! hash of the analysed word (`keyed`), the blind index and the grade and
//! region filters hold keyed hashes of the values, and no text is stored
//! (a hit is an id and a score; the archive shows its fields from the
//! store). The key is in the keyring, wrapped to the master key.
//!
//! Writes are batched: `upsert` stages, and the next search (or the
//! committer) commits, so a search always sees every write before it. A crash
//! loses at most uncommitted staging, which start-up repairs from the store
//! (each document records the dossier version it indexes). Removal commits,
//! merges every segment into one and collects the old files at once, so the
//! removed terms are physically gone before the caller goes on (destruction
//! shreds keys only after that).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value as _, FAST, INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{Language, LowerCaser, Stemmer, TextAnalyzer};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use zeroize::Zeroizing;

mod keyed;

/// The analyzer's name is recorded in the index's schema: an index made
/// with another analyzer (an older custos's, which kept plain terms) does
/// not match, and is rebuilt from the store (`SearchIndex::open`).
const ANALYZER: &str = "custos_zh_en_keyed_v1";
/// Memory the writer may use before it flushes a segment.
const WRITER_HEAP: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index: {0}")]
    Open(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index: {0}")]
    Other(String),
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    version: Field,
    text: Field,
    blind: Field,
    grade: Field,
    region: Field,
}

/// What the index holds of one dossier version. `personal` values are
/// hashed before they reach tantivy.
pub struct IndexDoc {
    pub id: String,
    pub version: u32,
    pub grade: String,
    pub region: String,
    /// The searchable business text.
    pub text: String,
    /// Contact names, phones and emails (plaintext here, hashed on indexing).
    pub personal: Vec<String>,
}

/// A match: which dossier, how well. Its fields come from the store.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: String,
    pub score: f32,
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    blind_key: Zeroizing<[u8; 32]>,
    dirty: AtomicBool,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        version: b.add_u64_field("version", INDEXED | STORED | FAST),
        text: b.add_text_field("text", text_opts),
        blind: b.add_text_field("blind", STRING),
        grade: b.add_text_field("grade", STRING),
        region: b.add_text_field("region", STRING),
    };
    (b.build(), fields)
}

fn analyzer(keyed: keyed::KeyedTerms) -> TextAnalyzer {
    TextAnalyzer::builder(tantivy_jieba::JiebaTokenizer::new())
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .filter(keyed)
        .build()
}

/// The forms of a personal value that count as "the same value": as given,
/// lowercased (emails), and digits only (phones written with spaces, dashes
/// or a country code prefix are still the same number when complete).
fn normal_forms(value: &str) -> Vec<String> {
    let v = value.trim();
    let mut forms = vec![v.to_owned(), v.to_lowercase()];
    let digits: String = v.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 7 && v.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
        forms.push(format!("tel:{digits}"));
    }
    forms.sort();
    forms.dedup();
    forms.retain(|f| !f.is_empty());
    forms
}

impl SearchIndex {
    /// Opens (or creates) the index in `dir`.
    /// An index of an older format (plain terms) is deleted and made anew;
    /// the caller's repair then fills it from the store.
    pub fn open(dir: &Path, blind_key: Zeroizing<[u8; 32]>) -> Result<Self, SearchError> {
        let io = |e: std::io::Error| SearchError::Other(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(io)?;
        let (schema, fields) = schema();
        let exists = Index::exists(&tantivy::directory::MmapDirectory::open(dir)?)
            .map_err(|e| SearchError::Other(e.to_string()))?;
        if exists {
            let old = Index::open_in_dir(dir)?;
            if old.schema() != schema {
                drop(old);
                tracing::warn!("the search index is of an older format; rebuilding it from the store");
                std::fs::remove_dir_all(dir).map_err(io)?;
                std::fs::create_dir_all(dir).map_err(io)?;
            }
        }
        let directory = tantivy::directory::MmapDirectory::open(dir)?;
        let index = Index::open_or_create(directory, schema)?;
        let term_key = Self::derive(&blind_key, b"custos-term-key-v1");
        index.tokenizers().register(ANALYZER, analyzer(keyed::KeyedTerms::new(&term_key)));
        let writer = index.writer(WRITER_HEAP)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(SearchIndex { index, reader, writer: Mutex::new(writer), fields, blind_key, dirty: AtomicBool::new(false) })
    }

    /// A key for one use, derived from the index key.
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    fn derive(key: &[u8; 32], label: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
        mac.update(label);
        Zeroizing::new(mac.finalize().into_bytes().into())
    }

    /// The keyed hash the blind index (and the grade and region filters)
    /// store for a value.
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    pub fn blind(&self, form: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.blind_key.as_ref()).expect("any key length");
        mac.update(b"custos-blind-v1\0");
        mac.update(form.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, IndexWriter>, SearchError> {
        self.writer.lock().map_err(|_| SearchError::Other("index writer poisoned".into()))
    }

    /// Stages a dossier version, replacing any earlier one.
    pub fn upsert(&self, d: &IndexDoc) -> Result<(), SearchError> {
        let f = self.fields;
        let mut doc = doc!(
            f.id => d.id.clone(),
            f.version => d.version as u64,
            f.text => d.text.clone(),
            f.grade => self.blind(&format!("grade:{}", d.grade)),
            f.region => self.blind(&format!("region:{}", d.region)),
        );
        for value in &d.personal {
            for form in normal_forms(value) {
                doc.add_text(f.blind, self.blind(&form));
            }
        }
        let w = self.writer()?;
        w.delete_term(Term::from_field_text(f.id, &d.id));
        w.add_document(doc)?;
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Commits staged writes, if any, and makes them searchable.
    pub fn commit(&self) -> Result<(), SearchError> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            self.writer()?.commit()?;
            self.reader.reload()?;
        }
        Ok(())
    }

    /// Removes dossiers and makes it physical: commit, merge every segment
    /// into one (dropping the deleted documents), collect the old files.
    pub fn remove(&self, ids: &[String]) -> Result<(), SearchError> {
        let mut w = self.writer()?;
        for id in ids {
            w.delete_term(Term::from_field_text(self.fields.id, id));
        }
        w.commit()?;
        let segments = self.index.searchable_segment_ids()?;
        if !segments.is_empty() {
            w.merge(&segments).wait()?;
        }
        w.garbage_collect_files().wait()?;
        self.dirty.store(false, Ordering::Release);
        drop(w);
        self.reader.reload()?;
        Ok(())
    }

    /// The dossier version the index holds, after committing staged writes.
    pub fn indexed_version(&self, id: &str) -> Result<Option<u32>, SearchError> {
        self.commit()?;
        self.committed_version(id)
    }

    /// The version the last commit holds (staged writes are not seen): for
    /// checking many dossiers without a commit per check.
    pub fn committed_version(&self, id: &str) -> Result<Option<u32>, SearchError> {
        let searcher = self.reader.searcher();
        let q = TermQuery::new(Term::from_field_text(self.fields.id, id), IndexRecordOption::Basic);
        let top = searcher.search(&q, &TopDocs::with_limit(1).order_by_score())?;
        let Some((_, addr)) = top.first() else { return Ok(None) };
        let doc: TantivyDocument = searcher.doc(*addr)?;
        Ok(doc.get_first(self.fields.version).and_then(|v| v.as_u64()).map(|v| v as u32))
    }

    /// Every indexed dossier id and its version, in one pass over the
    /// stored documents (for repair: far cheaper than a query per dossier).
    pub fn indexed_versions(&self) -> Result<std::collections::HashMap<String, u32>, SearchError> {
        self.commit()?;
        let searcher = self.reader.searcher();
        let mut out = std::collections::HashMap::new();
        for segment in searcher.segment_readers() {
            let store = segment.get_store_reader(16).map_err(|e| SearchError::Other(e.to_string()))?;
            let alive = segment.alive_bitset();
            for doc_id in 0..segment.max_doc() {
                if alive.is_some_and(|a| !a.is_alive(doc_id)) {
                    continue;
                }
                let doc: TantivyDocument = store.get(doc_id)?;
                if let Some(id) = doc.get_first(self.fields.id).and_then(|v| v.as_str()) {
                    let version = doc.get_first(self.fields.version).and_then(|v| v.as_u64()).unwrap_or(0);
                    out.insert(id.to_owned(), version as u32);
                }
            }
        }
        Ok(out)
    }

    /// Documents matching `q` (text, or an exact personal value through the
    /// blind index) and the filters, best first, at most `limit`.
    pub fn search(
        &self,
        q: &str,
        grade: Option<&str>,
        region: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Hit>, SearchError> {
        self.commit()?;
        let f = self.fields;
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !q.trim().is_empty() {
            let parser = QueryParser::for_index(&self.index, vec![f.text]);
            // Lenient: user input is never a syntax error.
            let (text_query, _) = parser.parse_query_lenient(q);
            should.push((Occur::Should, text_query));
            for form in normal_forms(q) {
                let term = Term::from_field_text(f.blind, &self.blind(&form));
                should.push((Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
            }
        }
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !should.is_empty() {
            must.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        }
        if let Some(g) = grade {
            let term = Term::from_field_text(f.grade, &self.blind(&format!("grade:{g}")));
            must.push((Occur::Must, Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
        }
        if let Some(r) = region {
            let term = Term::from_field_text(f.region, &self.blind(&format!("region:{r}")));
            must.push((Occur::Must, Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
        }
        if must.is_empty() {
            must.push((Occur::Must, Box::new(tantivy::query::AllQuery)));
        }
        let query = BooleanQuery::new(must);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let id = doc.get_first(f.id).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            hits.push(Hit { id, score });
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(dir: &Path) -> SearchIndex {
        SearchIndex::open(dir, Zeroizing::new([7u8; 32])).unwrap()
    }

    fn doc(id: &str, text: &str, personal: &[&str]) -> IndexDoc {
        IndexDoc {
            id: id.into(),
            version: 1,
            grade: "A".into(),
            region: "华东".into(),
            text: text.into(),
            personal: personal.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn chinese_latin_and_blind_values() {
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path());
        ix.upsert(&doc("a", "电子产品 东南亚 贸易", &["13912345688", "zhang@example.com", "张伟"])).unwrap();
        ix.upsert(&doc("b", "纺织品 食品 cold chain deliveries", &["13800138021"])).unwrap();
        let ids = |q: &str| ix.search(q, None, None, 10).unwrap().into_iter().map(|h| h.id).collect::<Vec<_>>();
        for (q, want) in [
            ("电子产品", "a"),
            ("东南亚", "a"),
            ("贸易", "a"),
            ("纺织品", "b"),
            ("食品", "b"),
            ("cold chain", "b"),
            ("delivery", "b"),
        ] {
            assert_eq!(ids(q).first().map(String::as_str), Some(want), "{q}");
        }
        assert_eq!(ids("13912345688"), ["a"]);
        assert_eq!(ids("139 1234 5688"), ["a"], "the same number, written with spaces");
        assert_eq!(ids("ZHANG@example.com"), ["a"]);
        assert_eq!(ids("张伟"), ["a"]);
        assert!(ids("1391234").is_empty(), "a fragment finds nothing");
        assert!(ids("zhang@").is_empty());
        // Replace, remove, and the values are gone from every file.
        ix.upsert(&IndexDoc { version: 2, ..doc("a", "冷链", &[]) }).unwrap();
        assert_eq!(ix.indexed_version("a").unwrap(), Some(2));
        assert!(ids("13912345688").is_empty());
        ix.remove(&["b".into()]).unwrap();
        assert!(ids("纺织品").is_empty());
        assert_eq!(ix.indexed_versions().unwrap().into_keys().collect::<Vec<_>>(), ["a"]);
        drop(ix);
        for needle in ["13912345688", "zhang@example.com", "纺织品", "13800138021"] {
            for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
                let bytes = std::fs::read(e.path()).unwrap();
                assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} in {:?}", e.path());
            }
        }
    }

    /// Every term of every field and every stored value, read with tantivy's
    /// own API and no custos key: what someone with the index files sees.
    fn everything_readable(dir: &Path) -> Vec<String> {
        let index = Index::open_in_dir(dir).unwrap();
        let searcher = index.reader().unwrap().searcher();
        let mut out = Vec::new();
        for segment in searcher.segment_readers() {
            for (field, _) in index.schema().fields() {
                let inverted = segment.inverted_index(field).unwrap();
                let mut terms = inverted.terms().stream().unwrap();
                while terms.advance() {
                    out.push(String::from_utf8_lossy(terms.key()).into_owned());
                }
            }
            let store = segment.get_store_reader(1).unwrap();
            for doc_id in 0..segment.max_doc() {
                let doc: TantivyDocument = store.get(doc_id).unwrap();
                out.push(format!("{:?}", doc));
            }
        }
        out
    }

    #[test]
    fn the_index_files_hold_no_word_and_phrases_and_filters_still_work() {
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path());
        ix.upsert(&doc("a", "电子产品 东南亚 贸易 cold chain deliveries", &["张伟", "13912345688"])).unwrap();
        ix.upsert(&IndexDoc { grade: "C".into(), region: "华南".into(), ..doc("b", "chain cold 纺织品", &[]) })
            .unwrap();
        let ids = |q: &str, g: Option<&str>, r: Option<&str>| {
            ix.search(q, g, r, 10).unwrap().into_iter().map(|h| h.id).collect::<Vec<_>>()
        };
        assert_eq!(ids("\"cold chain\"", None, None), ["a"], "a phrase matches in order only");
        assert_eq!(ids("chain", None, None).len(), 2);
        assert_eq!(ids("chain", Some("C"), None), ["b"]);
        assert_eq!(ids("", None, Some("华东")), ["a"]);
        assert_eq!(ids("cold", Some("A"), Some("华南")), Vec::<String>::new());
        ix.commit().unwrap();
        drop(ix);
        let seen = everything_readable(dir.path());
        assert!(seen.len() > 10, "terms were read: {seen:?}");
        for word in ["电子", "东南亚", "贸易", "cold", "chain", "deliver", "纺织", "华东", "华南", "张伟", "1391234"]
        {
            assert!(!seen.iter().any(|t| t.contains(word)), "{word} readable without the key");
        }
    }

    #[test]
    fn an_index_of_the_old_format_is_made_anew() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Schema::builder();
        let text = b.add_text_field("text", tantivy::schema::TEXT | STORED);
        let old = Index::create_in_dir(dir.path(), b.build()).unwrap();
        let mut w: IndexWriter = old.writer(15_000_000).unwrap();
        w.add_document(doc!(text => "plain words 明文")).unwrap();
        w.commit().unwrap();
        drop((w, old));
        let ix = index(dir.path());
        assert!(ix.indexed_versions().unwrap().is_empty());
        drop(ix);
        assert!(!everything_readable(dir.path()).iter().any(|t| t.contains("plain") || t.contains("明文")));
    }
}
