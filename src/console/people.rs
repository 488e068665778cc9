//! People and values as the reader knows them: a colleague by name, roles
//! and department (the staff directory, `identity::directory`), with the id
//! on hover; an enumerated value by its label in the page's language (the
//! catalogue `schemas/labels.json`, which the API publishes), with the
//! wire value on hover.

use super::i18n::Lang;
use super::page::Page;
use crate::archive::identity::StaffCard;
use crate::domain::labels;
use maud::{html, Markup};
use std::collections::HashMap;

/// The colleagues a page names, looked up once per page.
pub struct Names {
    cards: HashMap<String, StaffCard>,
    lang: Lang,
}

impl Names {
    /// A person: their name with roles and department, the id on hover;
    /// an id the viewer may not resolve (or no principal's) as it is.
    pub fn show(&self, id: &str) -> Markup {
        match self.cards.get(id) {
            Some(c) => html! {
                span.person title=(id) {
                    (c.name)
                    " " small.muted { (roles(self.lang, c.roles.iter().map(|r| r.as_str()))) @if !c.department.is_empty() { " · " (c.department) } }
                }
            },
            None => html! { span.mono title=(id) { (id) } },
        }
    }
}

impl Page {
    /// The names of `ids` as the viewer may see them (`staff.directory`).
    /// A failing read names nobody rather than failing the page: the ids
    /// are still shown.
    pub fn names<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Names {
        let cards = match self.archive().identity().directory().staff_cards(&self.ctx.principal, ids) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "staff directory lookup failed");
                HashMap::new()
            }
        };
        Names { cards, lang: self.session.lang }
    }

    /// An enumerated value by its label (`set` of `schemas/labels.json`),
    /// the wire value on hover; a value without a label as it is.
    pub fn value(&self, set: &str, wire: &str) -> Markup {
        value(self.session.lang, set, wire)
    }

    /// An enumerated value's label as text (for an `option`).
    pub fn label(&self, set: &str, wire: &'static str) -> &'static str {
        labels::label(set, wire, self.session.lang).unwrap_or(wire)
    }
}

/// See [`Page::value`].
pub fn value(lang: Lang, set: &str, wire: &str) -> Markup {
    match labels::label(set, wire, lang) {
        Some(l) => html! { span title=(wire) { (l) } },
        None => html! { (wire) },
    }
}

/// Role names in the page's language, comma-separated.
pub fn roles<'a>(lang: Lang, wires: impl Iterator<Item = &'a str>) -> String {
    let sep = if lang == Lang::Zh { "、" } else { ", " };
    wires.map(|w| labels::label("role", w, lang).unwrap_or(w)).collect::<Vec<_>>().join(sep)
}
