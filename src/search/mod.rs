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
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, ConstScoreQuery, EnableScoring, Occur, PhraseQuery, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value as _, FAST, INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{Language, LowerCaser, Stemmer, TextAnalyzer};
use tantivy::{doc, DocAddress, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use zeroize::Zeroizing;

#[cfg(test)]
mod inspect;
mod keyed;
mod query;

use query::normal_forms;
pub use query::{query_problem, same_value, MAX_QUERY_CHARS, MAX_QUERY_DEPTH};

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
    /// Whether the business text matches the query. A hit that matched only
    /// through the blind index (a full phone number, an email, a name) is
    /// shown only to a caller who may see that dossier's people in clear:
    /// else the search would confirm a value the caller sees masked.
    pub by_text: bool,
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
        if let Some(why) = query_problem(q) {
            return Err(SearchError::Other(why));
        }
        self.commit()?;
        let f = self.fields;
        let searcher = self.reader.searcher();
        let asked = !q.trim().is_empty();
        let text = asked.then(|| self.text_query(q));
        let blind: Vec<Box<dyn Query>> = if !asked {
            Vec::new()
        } else {
            normal_forms(q)
                .iter()
                .map(|form| {
                    let term = Term::from_field_text(f.blind, &self.blind(form));
                    Box::new(TermQuery::new(term, IndexRecordOption::Basic)) as Box<dyn Query>
                })
                .collect()
        };
        // A personal value's blind terms match a handful of dossiers at
        // most. When they match none, the text terms alone decide the
        // matches and their order: a query of terms lets tantivy skip the
        // blocks of postings that cannot reach the top (block-max WAND)
        // instead of scoring every match, and the filters are checked per
        // candidate (`top_filtered`).
        let blind_matches = match blind.is_empty() {
            true => 0,
            false => searcher.search(&BooleanQuery::union(blind.iter().map(|q| q.box_clone()).collect()), &Count)?,
        };
        let filters: Vec<Term> =
            [(f.grade, grade.map(|g| format!("grade:{g}"))), (f.region, region.map(|r| format!("region:{r}")))]
                .into_iter()
                .filter_map(|(field, v)| Some(Term::from_field_text(field, &self.blind(&v?))))
                .collect();
        if let (Some(text), 0) = (&text, blind_matches) {
            return self.top_filtered(&searcher, text.as_ref(), &filters, limit);
        }
        // Which hits the text alone matches (the rest matched a personal
        // value): one scorer per hit, seeking to it.
        let text_weight = match &text {
            Some(t) => Some(t.weight(EnableScoring::disabled_from_searcher(&searcher))?),
            None => None,
        };
        // Only the text scores: the blind terms and the filters add
        // nothing, so a hit's score (and so the order) is the same whether
        // or not some person anywhere has the value asked for (else the
        // score would confirm a value the caller sees masked), and the same
        // as `top_filtered` gives.
        let unscored = |q: Box<dyn Query>| -> Box<dyn Query> { Box::new(ConstScoreQuery::new(q, 0.0)) };
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(text) = text {
            should.push((Occur::Should, text));
            should.extend(blind.into_iter().map(|q| (Occur::Should, unscored(q))));
        }
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !should.is_empty() {
            must.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        }
        for term in filters {
            must.push((Occur::Must, unscored(Box::new(TermQuery::new(term, IndexRecordOption::Basic)))));
        }
        if must.is_empty() {
            must.push((Occur::Must, Box::new(tantivy::query::AllQuery)));
        }
        let mut hits = self.top(&searcher, &BooleanQuery::new(must), limit)?;
        if let Some(w) = text_weight {
            for (hit, addr) in hits.iter_mut() {
                let mut scorer = w.scorer(searcher.segment_reader(addr.segment_ord), 1.0)?;
                let doc = addr.doc_id;
                hit.by_text = scorer.doc() == doc || (scorer.doc() < doc && scorer.seek(doc) == doc);
            }
        }
        Ok(hits.into_iter().map(|(h, _)| h).collect())
    }

    /// The text part of a query. Plain words (letters, digits, spaces: what
    /// people type) are analysed here, one word at a time as tantivy's
    /// parser does, with one difference: jieba's search mode gives a
    /// compound both as its parts and as itself (`电子产品`: `电子`, `产品`,
    /// `电子产品`), and the parser asks for the phrase of all three. A
    /// document has that phrase exactly when it has the compound (its parts
    /// are fixed by the compound), so the compound's own term finds the same
    /// documents, ranks them the same for a one-word query, and costs one
    /// posting list instead of three with their positions. Anything else
    /// (quotes, operators, punctuation) goes to the parser, leniently: user
    /// input is never a syntax error.
    fn text_query(&self, q: &str) -> Box<dyn Query> {
        let f = self.fields;
        let plain = q.chars().all(|c| c.is_alphanumeric() || c.is_whitespace())
            && !q.split_whitespace().any(|w| matches!(w, "AND" | "OR" | "NOT" | "IN"));
        let analyzer = self.index.tokenizer_for_field(f.text).ok();
        let Some(mut analyzer) = analyzer.filter(|_| plain) else {
            return QueryParser::for_index(&self.index, vec![f.text]).parse_query_lenient(q).0;
        };
        let mut words: Vec<Box<dyn Query>> = Vec::new();
        for word in q.split_whitespace() {
            let mut tokens = Vec::new();
            analyzer.token_stream(word).process(&mut |t| tokens.push(t.clone()));
            let span = |t: &tantivy::tokenizer::Token| t.offset_to - t.offset_from;
            let whole = tokens.iter().find(|t| t.offset_from == 0 && t.offset_to == word.len());
            let term = |t: &tantivy::tokenizer::Token| Term::from_field_text(f.text, &t.text);
            match (tokens.len(), whole) {
                (0, _) => {}
                (1, _) => words.push(Box::new(TermQuery::new(term(&tokens[0]), IndexRecordOption::WithFreqs))),
                // The word is one compound and the rest are its parts.
                (_, Some(w)) if tokens.iter().all(|t| std::ptr::eq(t, w) || span(t) < span(w)) => {
                    words.push(Box::new(TermQuery::new(term(w), IndexRecordOption::WithFreqs)))
                }
                _ => words.push(Box::new(PhraseQuery::new_with_offset(
                    tokens.iter().map(|t| (t.position, term(t))).collect(),
                ))),
            }
        }
        match words.len() {
            1 => words.remove(0),
            _ => Box::new(BooleanQuery::union(words)),
        }
    }

    /// The best `limit` documents of the text query that have every filter
    /// term (grade, region), scored by the text alone: the text query's own
    /// pruning (block-max WAND for terms) runs with the threshold of the
    /// best filtered matches so far, and the filters are checked per
    /// candidate, so a filter does not make tantivy score every match of
    /// the text. Ties go to the earlier document, as with `TopDocs`.
    fn top_filtered(
        &self,
        searcher: &tantivy::Searcher,
        text: &dyn Query,
        filters: &[Term],
        limit: usize,
    ) -> Result<Vec<Hit>, SearchError> {
        use std::cmp::{Ordering as Cmp, Reverse};
        #[derive(PartialEq)]
        struct Ranked(f32, DocAddress);
        impl Eq for Ranked {}
        impl Ord for Ranked {
            fn cmp(&self, o: &Self) -> Cmp {
                self.0.total_cmp(&o.0).then_with(|| o.1.cmp(&self.1))
            }
        }
        impl PartialOrd for Ranked {
            fn partial_cmp(&self, o: &Self) -> Option<Cmp> {
                Some(self.cmp(o))
            }
        }
        let limit = limit.max(1);
        let weight = text.weight(EnableScoring::enabled_from_searcher(searcher))?;
        let filters = filters
            .iter()
            .map(|t| {
                TermQuery::new(t.clone(), IndexRecordOption::Basic)
                    .weight(EnableScoring::disabled_from_searcher(searcher))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The best so far, worst on top.
        let mut best: std::collections::BinaryHeap<Reverse<Ranked>> = Default::default();
        let threshold = |best: &std::collections::BinaryHeap<Reverse<Ranked>>| match best.peek() {
            Some(Reverse(worst)) if best.len() >= limit => worst.0,
            _ => f32::MIN,
        };
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            let mut checks = filters.iter().map(|w| w.scorer(reader, 1.0)).collect::<Result<Vec<_>, _>>()?;
            let alive = reader.alive_bitset();
            let start = threshold(&best);
            weight.for_each_pruning(start, reader, &mut |doc, score| {
                let wanted = alive.is_none_or(|a| a.is_alive(doc))
                    && checks.iter_mut().all(|c| {
                        if c.doc() < doc {
                            c.seek(doc);
                        }
                        c.doc() == doc
                    });
                if wanted {
                    best.push(Reverse(Ranked(score, DocAddress::new(ord as u32, doc))));
                    if best.len() > limit {
                        best.pop();
                    }
                }
                threshold(&best)
            })?;
        }
        let mut top: Vec<Ranked> = best.into_iter().map(|Reverse(r)| r).collect();
        top.sort_by(|a, b| b.cmp(a));
        let hits = self.hits(searcher, top.into_iter().map(|r| (r.0, r.1)).collect())?;
        Ok(hits.into_iter().map(|(h, _)| h).collect())
    }

    /// The best `limit` documents of `query`, as ids and scores (each hit
    /// `by_text` until the caller says otherwise).
    fn top(
        &self,
        searcher: &tantivy::Searcher,
        query: &dyn Query,
        limit: usize,
    ) -> Result<Vec<(Hit, DocAddress)>, SearchError> {
        let top = searcher.search(query, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        self.hits(searcher, top)
    }

    fn hits(
        &self,
        searcher: &tantivy::Searcher,
        top: Vec<(f32, DocAddress)>,
    ) -> Result<Vec<(Hit, DocAddress)>, SearchError> {
        let f = self.fields;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let id = doc.get_first(f.id).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            hits.push((Hit { id, score, by_text: true }, addr));
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

    /// The plain-word query of `text_query` against tantivy's parser on the
    /// fixtures: the same dossiers for every query, in the same order for
    /// one word, and block-max WAND (the fast path) gives the same top 5
    /// as scoring every match.
    #[test]
    fn plain_words_find_what_the_parser_finds() {
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path());
        let fixtures: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../fixtures/dossiers.json")).unwrap();
        for copy in 0..20 {
            for (i, f) in fixtures.iter().enumerate() {
                let mut text = Vec::new();
                for k in ["customer", "transport", "preferences", "remarks", "tags"] {
                    let v = &f[k];
                    text.push(if let Some(s) = v.as_str() { s.to_owned() } else { v.to_string() });
                }
                text.push(format!("批次{copy} lot{i}"));
                let grade = f["grade"].as_str().unwrap().to_owned();
                let region = f["customer"]["region"].as_str().unwrap().to_owned();
                let id = format!("d{copy:02}-{i:02}");
                ix.upsert(&IndexDoc { grade, region, ..doc(&id, &text.join(" "), &[]) }).unwrap();
            }
            if copy % 7 == 0 {
                ix.commit().unwrap(); // several segments
            }
        }
        ix.commit().unwrap();
        let searcher = ix.reader.searcher();
        let parsed = |q: &str| {
            let query = QueryParser::for_index(&ix.index, vec![ix.fields.text]).parse_query_lenient(q).0;
            ix.top(&searcher, query.as_ref(), 10_000).unwrap().into_iter().map(|(h, _)| h.id).collect::<Vec<_>>()
        };
        let ours = |q: &str, n| ix.search(q, None, None, n).unwrap().into_iter().map(|h| h.id).collect::<Vec<_>>();
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let mut compounds = 0;
        for q in [
            "电子产品",
            "东南亚",
            "冷链",
            "冷链配送",
            "cold chain",
            "delivery",
            "批次3",
            "电子产品 冷链",
            "东南亚 cold",
        ] {
            let want = parsed(q);
            assert!(!want.is_empty(), "{q} matches something in the fixtures");
            let got = ours(q, 10_000);
            assert_eq!(sorted(got.clone()), sorted(want.clone()), "{q}: the same dossiers");
            if !q.contains(' ') {
                assert_eq!(got, want, "{q}: the same order");
                assert_eq!(ours(q, 5), want[..5.min(want.len())], "{q}: the pruned top 5");
            }
            compounds += usize::from(ix.text_query(q).is::<TermQuery>() && q.chars().count() > 2);
        }
        assert!(compounds >= 2, "电子产品 and 东南亚 are asked as one term each");
        // With a filter: the text's best among the filtered, as the
        // intersection scored in full finds them (its scores add the
        // filter term's constant, so only the order is compared).
        let region = fixtures[0]["customer"]["region"].as_str().unwrap();
        for (q, grade, region) in
            [("冷链", Some("A"), None), ("电子产品", None, Some(region)), ("cold chain", Some("C"), Some("华东"))]
        {
            let mut must: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, ix.text_query(q))];
            for (field, v) in [
                (ix.fields.grade, grade.map(|g| format!("grade:{g}"))),
                (ix.fields.region, region.map(|r| format!("region:{r}"))),
            ] {
                if let Some(v) = v {
                    let term = Term::from_field_text(field, &ix.blind(&v));
                    must.push((Occur::Must, Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
                }
            }
            let full = ix.top(&searcher, &BooleanQuery::new(must), 10_000).unwrap();
            let want: Vec<String> = full.into_iter().map(|(h, _)| h.id).collect();
            assert!(!want.is_empty(), "{q} {grade:?} {region:?} matches something");
            let got = ix.search(q, grade, region, 10_000).unwrap().into_iter().map(|h| h.id).collect::<Vec<_>>();
            assert_eq!(sorted(got), sorted(want.clone()), "{q} {grade:?} {region:?}: the same dossiers");
            let top5 = ix.search(q, grade, region, 5).unwrap().into_iter().map(|h| h.id).collect::<Vec<_>>();
            if !q.contains(' ') {
                assert_eq!(top5, want[..5.min(want.len())], "{q} {grade:?} {region:?}: the pruned top 5");
            }
        }
        assert!(ix.text_query("\"cold chain\"").is::<PhraseQuery>(), "quotes go to the parser");
    }

    #[test]
    fn deep_or_long_queries_are_refused_before_the_parser() {
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path());
        ix.upsert(&doc("dos_1", "cold chain", &[])).unwrap();
        // Each of these overflowed the parser's stack when unbounded.
        for q in ["(".repeat(2_000), "(".repeat(17), "NOT ".repeat(17) + "x", "[".repeat(40), "x".repeat(501)] {
            assert!(query_problem(&q).is_some(), "{} chars refused", q.len());
            assert!(matches!(ix.search(&q, None, None, 10), Err(SearchError::Other(_))));
        }
        // What people write passes.
        for q in ["(cold OR warm) AND chain", "\"cold chain\"", "NOT warm", &"(".repeat(16), "冷链 配送"] {
            assert_eq!(query_problem(q), None, "{q}");
            ix.search(q, None, None, 10).unwrap();
        }
    }

    /// A text hit's score does not tell whether a personal value asked for
    /// exists anywhere (it would confirm a number the caller sees masked).
    #[test]
    fn a_hits_score_is_the_texts_alone() {
        // Two archives alike but for one person's phone: the asked number
        // exists in one only.
        let score = |phone: &str| {
            let dir = tempfile::tempdir().unwrap();
            let ix = index(dir.path());
            ix.upsert(&doc("dos_1", "139 1234 5688 cold chain", &[])).unwrap();
            ix.upsert(&IndexDoc { grade: "B".into(), ..doc("dos_2", "other", &[phone]) }).unwrap();
            let hits = ix.search("139 1234 5688", Some("A"), None, 10).unwrap();
            assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["dos_1"]);
            hits[0].score
        };
        assert_eq!(score("13912345688"), score("13900000000"), "the score does not tell");
    }

    #[test]
    fn a_hit_by_a_personal_value_alone_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path());
        ix.upsert(&doc("dos_1", "cold chain 13912345688", &["13912345688"])).unwrap();
        ix.upsert(&doc("dos_2", "electronics", &["13900000000"])).unwrap();
        let hits = ix.search("13900000000", None, None, 10).unwrap();
        assert_eq!(hits.iter().map(|h| (h.id.as_str(), h.by_text)).collect::<Vec<_>>(), [("dos_2", false)]);
        let hits = ix.search("electronics", None, None, 10).unwrap();
        assert_eq!(hits.iter().map(|h| (h.id.as_str(), h.by_text)).collect::<Vec<_>>(), [("dos_2", true)]);
    }

    /// Any query of the parser's syntax, up to past the length bound, is
    /// either refused with a reason or answered: never a panic, never a
    /// stack overflow. Failures found are kept in
    /// proptest-regressions/search.txt and run first.
    #[test]
    fn any_query_is_answered_or_refused() {
        use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path());
        ix.upsert(&doc("dos_1", "cold chain 冷链", &["13912345688"])).unwrap();
        let config = Config {
            cases: 512,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/search.txt"))),
            ..Config::default()
        };
        // Short ones mostly reach the parser; long ones test the bound.
        let chars = "[()\\[\\]{}\"+\\-:^*~ NOTANDOR冷链a-c0-9]";
        let queries = format!("{chars}{{0,80}}|{chars}{{490,520}}");
        TestRunner::new(config)
            .run(&queries.as_str(), |q| {
                match ix.search(&q, None, Some("华东"), 10) {
                    Ok(_) => proptest::prop_assert!(query_problem(&q).is_none()),
                    Err(SearchError::Other(_)) => proptest::prop_assert!(query_problem(&q).is_some()),
                    Err(e) => proptest::prop_assert!(false, "{e}"),
                }
                Ok(())
            })
            .unwrap();
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
