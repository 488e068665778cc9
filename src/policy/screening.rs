//! `policies/screening.toml`: free text (a dossier's remarks, an
//! interaction's summary) screened when written for personal and
//! special-category values (GDPR Art. 9; PIPL Art. 28). Pure: what a text
//! holds, by kind, never the value; the use cases refuse what the policy
//! says to refuse.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// A kind of value free text may not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A PRC mobile number (11 digits, 13x–19x; with or without +86).
    Mobile,
    /// A PRC landline with its area code (0 + 2–3 digits, then 7–8).
    Landline,
    /// A resident ID number (18 characters): a region's first digit, a
    /// birth date, and a check digit that holds.
    IdNumber,
    /// A payment card number: 16–19 digits, a card network's prefix, and
    /// a Luhn check that holds.
    BankCard,
    Email,
    /// A special-category term of the policy's `[special]` lists.
    Special,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Mobile => "a mobile number",
            Kind::Landline => "a landline number",
            Kind::IdNumber => "an ID number",
            Kind::BankCard => "a bank card number",
            Kind::Email => "an email address",
            Kind::Special => "a special-category term",
        }
    }
}

/// The texts the policy screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// A dossier's `/remarks`.
    Remarks,
    /// An interaction's `/summary`.
    InteractionSummary,
}

/// What one text holds that it may not: the kind and, for a special term,
/// its category (never the value or the term).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    /// For `Special`: the category (`health`, ...).
    pub category: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.category {
            Some(c) => write!(f, "holds {} ({c})", self.kind.as_str()),
            None => write!(f, "holds {}", self.kind.as_str()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawText {
    #[serde(default)]
    refuse: Vec<Kind>,
    /// Kinds a text is kept for, sealed as the named person's own data.
    #[serde(default)]
    seal: Vec<Kind>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScreening {
    text: BTreeMap<String, toml::Spanned<RawText>>,
    #[serde(default)]
    special: BTreeMap<String, Vec<String>>,
}

/// The screening rules.
#[derive(Debug, Clone)]
pub struct ScreeningRules {
    remarks: Vec<Kind>,
    summary: Vec<Kind>,
    /// What an interaction summary naming a contact is kept for, sealed
    /// as that person's own data (not indexed, withheld as their fields,
    /// erased with them); remarks name no person, so only refuse.
    summary_seal: Vec<Kind>,
    /// (category, lower-cased terms).
    special: Vec<(String, Vec<String>)>,
}

/// The longest text screened in full; the template bounds remarks at
/// 10,000 characters and summaries at 4,000, so this is never reached by a
/// valid write.
const MAX_SCREENED: usize = 64 * 1024;

impl ScreeningRules {
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let raw: RawScreening = super::parse_toml(text)?;
        let mut rules = ScreeningRules { remarks: vec![], summary: vec![], summary_seal: vec![], special: vec![] };
        for (name, t) in &raw.text {
            let line = super::line_of(text, t);
            let (kinds, seal) = match name.as_str() {
                "remarks" if !t.get_ref().seal.is_empty() => {
                    return Err((line, "[text.remarks]: remarks name no person to seal them under: refuse only".into()))
                }
                "remarks" => (&mut rules.remarks, None),
                "interaction_summary" => (&mut rules.summary, Some(&mut rules.summary_seal)),
                other => return Err((line, format!("[text.{other}]: the texts are remarks and interaction_summary"))),
            };
            *kinds = t.get_ref().refuse.clone();
            kinds.sort();
            kinds.dedup();
            if let Some(both) = t.get_ref().seal.iter().find(|k| kinds.contains(k)) {
                return Err((line, format!("[text.{name}]: {} is both refused and sealed", both.as_str())));
            }
            if let Some(seal) = seal {
                *seal = t.get_ref().seal.clone();
                seal.sort();
                seal.dedup();
            }
        }
        for (category, terms) in raw.special {
            let terms: Vec<String> = terms.iter().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect();
            if !terms.is_empty() {
                rules.special.push((category, terms));
            }
        }
        let wants_special =
            rules.remarks.iter().chain(&rules.summary).chain(&rules.summary_seal).any(|k| *k == Kind::Special);
        if wants_special && rules.special.is_empty() {
            return Err((1, "a text refuses or seals special terms but [special] lists none".into()));
        }
        Ok(rules)
    }

    /// What `value`, written as `text`, holds that the policy refuses (at
    /// most one finding per kind, in kind order).
    pub fn screen(&self, text: Text, value: &str) -> Vec<Finding> {
        let kinds = match text {
            Text::Remarks => &self.remarks,
            Text::InteractionSummary => &self.summary,
        };
        self.findings(kinds, value)
    }

    /// What `value`, written as `text`, holds that the policy keeps only
    /// sealed as the named person's own data (at most one finding per
    /// kind, in kind order). Remarks seal nothing.
    pub fn to_seal(&self, text: Text, value: &str) -> Vec<Finding> {
        match text {
            Text::Remarks => vec![],
            Text::InteractionSummary => self.findings(&self.summary_seal, value),
        }
    }

    /// What of `kinds` `value` holds.
    fn findings(&self, kinds: &[Kind], value: &str) -> Vec<Finding> {
        if kinds.is_empty() {
            return vec![];
        }
        let value = match value.char_indices().nth(MAX_SCREENED) {
            Some((end, _)) => &value[..end],
            None => value,
        };
        let mut found = numbers(value);
        if email(&value.chars().map(ascii).collect::<String>()) {
            found.push(Kind::Email);
        }
        let lower: String = value.chars().map(ascii).collect::<String>().to_lowercase();
        let category =
            self.special.iter().find(|(_, terms)| terms.iter().any(|t| holds_term(&lower, t))).map(|(c, _)| c.clone());
        let mut out: Vec<Finding> =
            kinds.iter().filter(|k| found.contains(k)).map(|k| Finding { kind: *k, category: None }).collect();
        if kinds.contains(&Kind::Special) {
            if let Some(c) = category {
                out.push(Finding { kind: Kind::Special, category: Some(c) });
            }
        }
        out.sort_by_key(|f| f.kind);
        out
    }
}

/// Whether `text` holds `term`: a Chinese term anywhere, a term in Latin
/// letters as a word of its own (`HIV`, not "archive").
fn holds_term(text: &str, term: &str) -> bool {
    if !term.is_ascii() {
        return text.contains(term);
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.match_indices(term)
        .any(|(at, _)| !word(text[..at].chars().next_back()) && !word(text[at + term.len()..].chars().next()))
}

/// A character as an ASCII one where an input method writes it full-width
/// (digits, `+`, `-`, `@`, `.`, the ideographic space) or as a dash.
fn ascii(c: char) -> char {
    match c {
        '\u{FF10}'..='\u{FF19}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF20}' | '\u{FF0E}' | '\u{FF08}' | '\u{FF09}' => {
            char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
        }
        '\u{3000}' => ' ',
        '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        c => c,
    }
}

/// How many consecutive groups of a written number one value may span
/// (`+86 139 1234 5688`, `0755 2345 6789-8012`).
const MAX_GROUPS: usize = 5;

/// The kinds of number in `text`. A run of digits may be written in
/// groups (spaces, hyphens, dots or brackets between them, as people write
/// numbers; an ID number's final `X` included); every window of up to
/// `MAX_GROUPS` consecutive groups is classified, so two numbers written
/// side by side are each found.
fn numbers(text: &str) -> Vec<Kind> {
    let mut kinds = Vec::new();
    let chars: Vec<char> = text.chars().map(ascii).collect();
    let mut i = 0;
    while i < chars.len() {
        let plus = chars[i] == '+';
        if !(chars[i].is_ascii_digit() || plus || chars[i] == '(') {
            i += 1;
            continue;
        }
        let start = i;
        if !chars[i].is_ascii_digit() {
            i += 1;
        }
        let mut groups: Vec<String> = vec![String::new()];
        while i < chars.len() {
            let c = chars[i];
            let last = groups.last_mut().map_or(0, |g| g.len());
            if c.is_ascii_digit() {
                if let Some(g) = groups.last_mut() {
                    g.push(c);
                }
                i += 1;
            } else if (c == 'X' || c == 'x') && last > 0 {
                if let Some(g) = groups.last_mut() {
                    g.push('X');
                }
                i += 1;
                break;
            } else if matches!(c, ' ' | '-' | '.' | '(' | ')')
                && last > 0
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit() || (c == ')' && *n == ' '))
            {
                groups.push(String::new());
                i += 1;
                while i < chars.len() && chars[i] == ' ' {
                    i += 1;
                }
            } else {
                break;
            }
        }
        groups.retain(|g| !g.is_empty());
        // A run glued to ASCII letters (an order number such as
        // SO2026120600123) is an identifier, not a person's number.
        let glued = start > 0 && chars[start - 1].is_ascii_alphabetic()
            || chars.get(i).is_some_and(|c| c.is_ascii_alphabetic());
        if !glued {
            for from in 0..groups.len() {
                let mut digits = String::new();
                for (n, g) in groups[from..].iter().take(MAX_GROUPS).enumerate() {
                    if digits.contains('X') {
                        break;
                    }
                    digits.push_str(g);
                    let first_group = (n > 0).then_some(groups[from].len());
                    if let Some(k) = classify(&digits, plus && from == 0, first_group) {
                        if !kinds.contains(&k) {
                            kinds.push(k);
                        }
                    }
                }
            }
        }
        if i == start {
            i += 1;
        }
    }
    kinds
}

/// What one candidate (its digits, whether `+` came first, the length of
/// its first group when written in groups) is, if a person's number.
fn classify(digits: &str, plus: bool, first_group: Option<usize>) -> Option<Kind> {
    let national = match digits.strip_prefix("0086").or_else(|| digits.strip_prefix("86")) {
        Some(rest) if (plus || digits.starts_with("00")) && (9..=11).contains(&rest.len()) => rest,
        _ => digits,
    };
    let b = national.as_bytes();
    if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
        return Some(Kind::Mobile);
    }
    if b.len() == 18 && id_number(national) {
        return Some(Kind::IdNumber);
    }
    if (16..=19).contains(&b.len()) && b.iter().all(u8::is_ascii_digit) && card_network(national) && luhn(national) {
        return Some(Kind::BankCard);
    }
    // A landline has its area code set apart (010-62345678, 0755 2345 6789,
    // (010)62345678), or follows +86 without its 0 (+86 10 6234 5678): an
    // area code of 2 or 3 digits after the 0, then 7 or 8 digits.
    let area_code = match (national.len() < digits.len(), first_group) {
        (true, _) => true,
        (false, Some(3 | 4)) => b[0] == b'0',
        (false, _) => false,
    };
    let subscriber = if b.first() == Some(&b'0') { b.len() - 1 } else { b.len() };
    if area_code && (9..=11).contains(&subscriber) && b.iter().all(u8::is_ascii_digit) {
        return Some(Kind::Landline);
    }
    None
}

/// Whether an 18-character value is a resident ID number: a region code
/// (first digit 1 to 8), a birth date that is one, and a check character
/// that holds.
fn id_number(id: &str) -> bool {
    let b = id.as_bytes();
    let date = |from: usize, len: usize| id.get(from..from + len).and_then(|d| d.parse::<u32>().ok());
    let born = matches!((date(6, 4), date(10, 2), date(12, 2)), (Some(1900..=2100), Some(1..=12), Some(1..=31)));
    (b'1'..=b'8').contains(&b[0]) && born && id_check(id)
}

/// A card number's leading digits name a card network (UnionPay 62, Visa
/// 4, Mastercard 51-55 and 22-27, American Express 34/37, JCB 35, Diners
/// 30/36/38): a waybill or order number whose Luhn check happens to hold
/// is not taken for a card.
fn card_network(n: &str) -> bool {
    let two: u32 = n.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    matches!(two, 62 | 40..=49 | 51..=55 | 22..=27 | 34 | 37 | 35 | 30 | 36 | 38)
}

/// The check character of a resident ID number (GB 11643-1999, ISO 7064
/// MOD 11-2) holds.
fn id_check(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK[(sum % 11) as usize] == b[17].to_ascii_uppercase()
}

/// The Luhn check of a card number holds.
fn luhn(number: &str) -> bool {
    let mut sum = 0;
    for (i, d) in number.bytes().rev().enumerate() {
        let mut d = u32::from(d - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// Whether `text` holds something shaped like an email address.
fn email(text: &str) -> bool {
    text.match_indices('@').any(|(at, _)| {
        let local = text[..at].chars().rev().take_while(|c| c.is_ascii_alphanumeric() || "._%+-".contains(*c)).count();
        let domain: String =
            text[at + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').collect();
        let domain = domain.trim_end_matches('.');
        local > 0
            && domain.contains('.')
            && domain
                .rsplit('.')
                .next()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ScreeningRules {
        ScreeningRules::parse(include_str!("../../policies/screening.toml")).unwrap()
    }

    fn kinds(text: Text, value: &str) -> Vec<Kind> {
        rules().screen(text, value).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn personal_numbers_are_found_as_people_write_them() {
        use Kind::*;
        for (value, want) in [
            ("请联系 13912345688 确认", vec![Mobile]),
            ("call 139-1234-5688 or +86 139 1234 5688", vec![Mobile]),
            ("法人电话 010-62345678", vec![Landline]),
            ("总机 0755 2345 6789", vec![Landline]),
            ("身份证 11010519491231002X 已核", vec![IdNumber]),
            ("card 4111 1111 1111 1111 on file", vec![BankCard]),
            ("卡号6222020200112233446", vec![BankCard]),
            ("mail zhang.wei@example.com.cn please", vec![Email]),
            ("客户有糖尿病,运输时间不宜过长", vec![Special]),
            ("Driver mentioned DIABETES", vec![Special]),
            ("2026-12-06 13912345688 来电", vec![Mobile]),
            ("010-62345678 13912345688", vec![Mobile, Landline]),
            ("手机：１３９－１２３４－５６８８", vec![Mobile]),
            ("139　1234　5688 或 139.1234.5688", vec![Mobile]),
            ("总机 (010)62345678 转 8012", vec![Landline]),
            ("+86 10 6234 5678", vec![Landline]),
            ("mail zhang＠example．com", vec![Email]),
            ("HIV test pending", vec![Special]),
        ] {
            assert_eq!(kinds(Text::Remarks, value), want, "{value}");
        }
    }

    #[test]
    fn business_text_passes() {
        for value in [
            "重点客户,优先安排车辆;旺季提前两周确认运力",
            "Requires cold chain transport for frozen ingredients; 需要冷链",
            "月均 2000 吨,合同 2026-12-06 到期,单价 350 元/吨",
            "订单 SO2026120600123 已签收",
            "身份证 110105194912310021 (check digit wrong)",
            "card 4111 1111 1111 1112 (Luhn fails)",
            "tel ext 8012, room 1203, 2026-2027 contract",
            "user@localhost is not an address here",
            "records archive moved; chives in stock",
            "运单 9812345678901234 已签收",
            "当前科目已结清",
            "",
        ] {
            assert_eq!(kinds(Text::Remarks, value), [], "{value}");
        }
    }

    #[test]
    fn a_finding_names_the_kind_and_category_never_the_value() {
        let f = rules().screen(Text::Remarks, "13912345688 有高血压");
        let said: Vec<String> = f.iter().map(ToString::to_string).collect();
        assert_eq!(said, ["holds a mobile number", "holds a special-category term (health)"]);
        assert!(said.iter().all(|s| !s.contains("139") && !s.contains("高血压")));
    }

    #[test]
    fn each_text_refuses_only_its_kinds() {
        assert_eq!(kinds(Text::InteractionSummary, "张伟 13912345688 asked about rates"), []);
        assert_eq!(kinds(Text::InteractionSummary, "身份证 11010519491231002X"), [Kind::IdNumber]);
        let none = ScreeningRules::parse("[text.remarks]\nrefuse = []\n").unwrap();
        assert!(none.screen(Text::Remarks, "13912345688").is_empty());
    }

    #[test]
    fn a_summary_seals_what_it_does_not_refuse_and_remarks_seal_nothing() {
        let r = rules();
        let sealed: Vec<Kind> =
            r.to_seal(Text::InteractionSummary, "张伟 13912345688 zw@example.cn").into_iter().map(|f| f.kind).collect();
        assert_eq!(sealed, [Kind::Mobile, Kind::Email]);
        assert!(r.to_seal(Text::InteractionSummary, "asked about cold-chain rates").is_empty());
        assert!(r.to_seal(Text::Remarks, "13912345688").is_empty());
        let both =
            "[text.remarks]\nrefuse = []\n\n[text.interaction_summary]\nrefuse = [\"mobile\"]\nseal = [\"mobile\"]\n";
        let (line, msg) = ScreeningRules::parse(both).unwrap_err();
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("both refused and sealed"), "{msg}");
        let (line, msg) = ScreeningRules::parse("\n[text.remarks]\nseal = [\"mobile\"]\n").unwrap_err();
        assert_eq!(line, 2, "{msg}");
        assert!(msg.contains("refuse only"), "{msg}");
    }

    #[test]
    fn a_bad_policy_names_its_line() {
        let (line, msg) = ScreeningRules::parse("[text.notes]\nrefuse = [\"mobile\"]\n").unwrap_err();
        assert_eq!(line, 1, "{msg}");
        assert!(ScreeningRules::parse("[text.remarks]\nrefuse = [\"phone\"]\n").is_err());
        let (_, msg) = ScreeningRules::parse("[text.remarks]\nrefuse = [\"special\"]\n").unwrap_err();
        assert!(msg.contains("[special]"), "{msg}");
    }

    #[test]
    fn any_text_is_screened_without_panicking() {
        let r = rules();
        let samples = [
            "+",
            "+86",
            "0",
            "00",
            "1-",
            "-1",
            "X",
            "12345678901234567X",
            "@",
            "a@",
            "@b.cn",
            "x@y.",
            "0".repeat(100).as_str(),
        ]
        .map(str::to_owned);
        for s in samples.iter().chain([&"9".repeat(70_000), &"长".repeat(70_000)]) {
            let _ = r.screen(Text::Remarks, s);
        }
    }
}
