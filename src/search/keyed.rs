//! Keyed index terms: a token filter, last in the analyzer, that replaces
//! each term by a keyed hash of it. Tokenising (jieba, lowercasing,
//! stemming) happens first, on the plain text, so word and phrase queries
//! and BM25 ranking work as before: the query is analysed the same way, and
//! positions and frequencies are those of the words. What the index files
//! hold is the hashes: without the key (in the keyring, wrapped to the
//! master key) the stock tantivy tools list no word of any dossier.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};

/// Bytes of the HMAC kept per term (128 bits: collisions between distinct
/// words are out of reach, and the term dictionary stays small).
const TERM_BYTES: usize = 16;

/// The filter: HMAC-SHA256 under the index's term key.
#[derive(Clone)]
pub struct KeyedTerms {
    mac: Hmac<Sha256>,
}

impl KeyedTerms {
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    pub fn new(key: &[u8; 32]) -> Self {
        KeyedTerms { mac: <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length") }
    }

    /// The indexed form of one analysed term.
    pub fn term(&self, word: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(b"custos-term-v1\0");
        mac.update(word.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..TERM_BYTES])
    }
}

impl TokenFilter for KeyedTerms {
    type Tokenizer<T: Tokenizer> = KeyedFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> KeyedFilter<T> {
        KeyedFilter { tokenizer, keyed: self }
    }
}

#[derive(Clone)]
pub struct KeyedFilter<T> {
    tokenizer: T,
    keyed: KeyedTerms,
}

impl<T: Tokenizer> Tokenizer for KeyedFilter<T> {
    type TokenStream<'a> = KeyedStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        KeyedStream { tail: self.tokenizer.token_stream(text), keyed: &self.keyed }
    }
}

pub struct KeyedStream<'a, S> {
    tail: S,
    keyed: &'a KeyedTerms,
}

impl<S: TokenStream> TokenStream for KeyedStream<'_, S> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        token.text = self.keyed.term(&token.text);
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}
