//! The console's words in Simplified Chinese (the default) and English. A
//! text is looked up by its English form; the table is the one place both
//! languages live.

pub use crate::domain::Lang;

/// English → Simplified Chinese, one `English<TAB>中文` line each
/// (`zh.tsv`; `#` starts a comment line).
const ZH_TABLE: &str = include_str!("zh.tsv");

/// The table's pairs, in the file's order.
fn pairs() -> impl Iterator<Item = (&'static str, &'static str)> {
    ZH_TABLE.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).filter_map(|l| l.split_once('\t'))
}

/// The table, looked up by its English form.
static ZH: std::sync::LazyLock<std::collections::HashMap<&'static str, &'static str>> =
    std::sync::LazyLock::new(|| pairs().collect());

/// `en` in `lang`.
pub fn t(lang: Lang, en: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Zh => ZH.get(en).copied().unwrap_or(en),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_has_one_chinese_form() {
        let mut seen = std::collections::HashSet::new();
        let lines = ZH_TABLE.lines().filter(|l| !l.is_empty() && !l.starts_with('#'));
        for line in lines {
            let (en, zh) = line.split_once('\t').unwrap_or_else(|| panic!("zh.tsv: no tab in {line:?}"));
            assert!(!zh.trim().is_empty() && !en.trim().is_empty(), "zh.tsv: {line:?}");
            assert!(!zh.contains('\t'), "zh.tsv: two tabs in {line:?}");
            assert!(seen.insert(en), "zh.tsv: {en} twice");
        }
        assert_eq!(t(Lang::Zh, "Sign in"), "登录");
        assert_eq!(t(Lang::En, "Sign in"), "Sign in");
        assert_eq!(Lang::parse("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::parse("fr"), None);
    }

    /// Every English text a console page passes to `t` (`t("…")`,
    /// `page.t("…")`, `t(lang, "…")`) has its Chinese form: a page never
    /// shows English on a Chinese screen because a text was forgotten.
    #[test]
    fn every_text_the_pages_use_has_a_chinese_form() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console");
        let mut missing = Vec::new();
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("i18n.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices("t(") {
                if text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = text[i + 2..].trim_start_matches("lang, ").trim_start_matches("self.session.lang, ");
                let Some(lit) = rest.strip_prefix('"') else { continue };
                let Some(end) = lit.find('"') else { continue };
                let en = &lit[..end];
                seen += 1;
                if !ZH.contains_key(en) {
                    missing.push(format!("{}: {en}", path.display()));
                }
            }
        }
        assert!(seen > 200, "the scan found the pages' texts ({seen})");
        assert!(missing.is_empty(), "texts without a Chinese form: {missing:#?}");
    }
}
