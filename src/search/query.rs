//! What a search query is held to before tantivy's query parser sees it,
//! whatever the edge it came from (API, console), and when a query names a
//! personal value exactly (the blind index's normal forms).

/// The longest query, in characters, on every edge (API and console).
pub const MAX_QUERY_CHARS: usize = 500;
/// How deeply a query may nest (groups in parentheses and `NOT`s):
/// tantivy's query parser and the query it builds recurse once a level,
/// so an unbounded nesting overflows the stack and takes the process down.
pub const MAX_QUERY_DEPTH: usize = 16;

/// Why a query is refused before it reaches the parser, if it is: too
/// long, or nested too deeply. Bounds the parser's recursion and memory
/// whatever the edge that passes the query on.
pub fn query_problem(q: &str) -> Option<String> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Some(format!("q is longer than {MAX_QUERY_CHARS} characters"));
    }
    if query_depth(q) > MAX_QUERY_DEPTH {
        return Some(format!("q nests more than {MAX_QUERY_DEPTH} levels of parentheses or NOT"));
    }
    None
}

/// An upper bound of the nesting the parser would recurse through: the
/// deepest parenthesis (quoted ones too) plus every `NOT` word, each of
/// which the parser may take as a level of its own.
fn query_depth(q: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in q.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest + q.split(|c: char| !c.is_alphanumeric()).filter(|w| *w == "NOT").count()
}

/// The forms of a personal value that count as "the same value": as given,
/// lowercased (emails), and digits only (phones written with spaces, dashes
/// or a country code prefix are still the same number when complete).
pub(super) fn normal_forms(value: &str) -> Vec<String> {
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

/// Whether a query names `value` exactly, as the blind index matches it
/// (one of their normal forms is the same): which person of a dossier a
/// match on a personal value came from.
pub fn same_value(query: &str, value: &str) -> bool {
    let asked = normal_forms(query);
    normal_forms(value).iter().any(|f| asked.contains(f))
}
