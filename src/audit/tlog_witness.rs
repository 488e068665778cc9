//! The C2SP tlog-witness `add-checkpoint` request body: an old size line,
//! at most 63 consistency proof lines, a blank line, then the signed
//! checkpoint.
//!
//! ```text
//! old <size>\n
//! <base64 hash>\n          (0 to 63 lines)
//! \n
//! <checkpoint note>
//! ```

use super::merkle::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// The most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;
/// The largest request body a witness reads: the old size, 63 proof lines,
/// and a checkpoint with its signatures.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// The media type of a 409 answer's body (the witness's known size).
pub const SIZE_MEDIA_TYPE: &str = "text/x.tlog.size";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint as submitted.
    pub note: String,
}

/// A decimal with no leading zeroes (`0` itself allowed).
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// The body of a 409 answer: the size and a newline.
pub fn parse_size_body(body: &str) -> Option<u64> {
    parse_decimal(body.strip_suffix('\n')?)
}

impl AddCheckpoint {
    pub fn encode(&self) -> String {
        let mut out = format!("old {}\n", self.old_size);
        for h in &self.proof {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.note);
        out
    }

    /// Reads a request body; the error names what is malformed, never
    /// quoting it.
    pub fn parse(body: &[u8]) -> Result<Self, &'static str> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err("request body too large");
        }
        let text = std::str::from_utf8(body).map_err(|_| "not UTF-8")?;
        let (first, mut rest) = text.split_once('\n').ok_or("no old size line")?;
        let old_size = first.strip_prefix("old ").and_then(parse_decimal).ok_or("malformed old size line")?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest.split_once('\n').ok_or("no blank line before the checkpoint")?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err("more than 63 consistency proof lines");
            }
            let hash = B64.decode(line).ok().and_then(|h| Hash::try_from(h).ok()).ok_or("malformed proof line")?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err("no checkpoint");
        }
        if rest.chars().any(|c| c.is_control() && c != '\n') {
            return Err("control characters in the checkpoint");
        }
        Ok(AddCheckpoint { old_size, proof, note: rest.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_example_request_parses_and_encodes_back() {
        // The example request body of C2SP tlog-witness, "add-checkpoint".
        let body = "old 20852014\n\
            PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
            jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
            5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
            /6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
            \n\
            example.com/behind-the-sofa\n\
            20852163\n\
            CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
            \n\
            \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
            \u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";
        let req = AddCheckpoint::parse(body.as_bytes()).unwrap();
        assert_eq!(req.old_size, 20852014);
        assert_eq!(req.proof.len(), 4);
        assert!(req.note.starts_with("example.com/behind-the-sofa\n20852163\n"));
        assert_eq!(req.encode(), body);
    }

    #[test]
    fn malformed_requests_are_refused() {
        let cp = "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} o AAAA\n";
        assert!(AddCheckpoint::parse(format!("old 0\n\n{cp}").as_bytes()).is_ok());
        let hash = format!("{}\n", B64.encode([1u8; 32]));
        for bad in [
            format!("old 01\n\n{cp}"),
            format!("old -1\n\n{cp}"),
            format!("old  1\n\n{cp}"),
            format!("new 1\n\n{cp}"),
            format!("old 1\n{cp}"),
            format!("old 1\nAAAA\n\n{cp}"),
            format!("old 1\n{}\n{cp}", hash.repeat(64)),
            "old 1\n\n".to_owned(),
            format!("old 1\n\n{}", cp.replace('o', "o\u{7}")),
        ] {
            assert!(AddCheckpoint::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(AddCheckpoint::parse(format!("old 1\n{}\n{cp}", hash.repeat(63)).as_bytes()).is_ok());
        assert!(AddCheckpoint::parse(&vec![b'a'; MAX_REQUEST_BYTES + 1]).is_err());
        assert!(AddCheckpoint::parse(&[0xff, b'\n']).is_err());
        assert_eq!(parse_size_body("42\n"), Some(42));
        assert_eq!(parse_size_body("0\n"), Some(0));
        for bad in ["42", "042\n", "\n", "4 2\n", "-1\n"] {
            assert_eq!(parse_size_body(bad), None, "{bad:?}");
        }
    }
}
