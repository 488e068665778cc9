//! Bearer secrets: tokens and enrollment codes are made here, stored only
//! as their SHA-256, and compared in constant time.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The SHA-256 of a token or code, hex: the only form custos stores.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A 256-bit random secret with a prefix saying what it is.
pub fn new_secret(prefix: &str) -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// Constant-time comparison of two equal-length strings.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_differ_and_compare_equal_only_to_themselves() {
        let a = new_secret("cst_");
        let b = new_secret("cst_");
        assert!(a.starts_with("cst_") && a.len() == 4 + 43);
        assert_ne!(a, b);
        assert!(ct_eq(&a, &a.clone()) && !ct_eq(&a, &b) && !ct_eq(&a, "cst_"));
        assert_eq!(token_hash("x"), "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
    }
}
