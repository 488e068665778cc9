//! A dossier laid out as the seeds' template: what staff act on first (the
//! grade and why, the stage, the owner, the next review, the last contact,
//! open follow-ups), then the template's sections (基本信息, 联系人,
//! 运输需求, 服务偏好, 财务与信用, 备注与标签), every value by its name and
//! in the reader's language, masked and withheld fields marked in words.

use super::compliance::enc;
use super::page::Page;
use super::people::Names;
use crate::archive::customers::Glance;
use crate::archive::RedactionReason;
use crate::domain::catalog::{Catalog, Input};
use maud::{html, Markup};
use std::collections::BTreeMap;

/// The template's sections: a title and the pointers it holds (a pointer
/// ending in `/` holds everything under it).
const SECTIONS: [(&str, &str, &[&str]); 6] = [
    ("basic", "Basic information", &["/customer/", "/owner", "/status", "/grade"]),
    ("contacts", "Contacts", &["/contacts/"]),
    ("transport", "Transport needs", &["/transport/"]),
    ("preferences", "Service preferences", &["/preferences/"]),
    ("finance", "Finance and credit", &["/finance/"]),
    ("remarks", "Remarks and tags", &["/remarks", "/tags"]),
];

fn section_of(path: &str) -> usize {
    SECTIONS
        .iter()
        .position(|(_, _, held)| {
            held.iter().any(|h| {
                if h.ends_with('/') {
                    path.starts_with(h)
                } else {
                    path == *h || path.starts_with(&format!("{h}/"))
                }
            })
        })
        .unwrap_or(SECTIONS.len() - 1)
}

/// A field's value as the reader reads it: a choice by its label, yes or
/// no, the owner by name.
fn shown_value(page: &Page, people: &Names, path: &str, value: &str) -> Markup {
    let field = Catalog::template().field(path);
    match field {
        _ if path == "/owner" && !value.is_empty() => people.show(value),
        Some(f) if f.input == Input::Bool => page.value("boolean", value),
        Some(f) => match &f.labels {
            Some(set) => page.value(set, value),
            None => html! { (value) },
        },
        None => html! { (value) },
    }
}

/// A field's name as a reader says it: `Contact 2 · Phone` for
/// `/contacts/1/phone`; the pointer itself for a field the template lacks.
pub fn field_title(page: &Page, path: &str) -> String {
    let name = super::dossier::field_name(page, path).unwrap_or(path);
    match path.strip_prefix("/contacts/").and_then(|r| r.split('/').next()).and_then(|n| n.parse::<usize>().ok()) {
        Some(k) => format!("{} {} · {name}", page.t("Contact"), k + 1),
        None => name.to_owned(),
    }
}

/// A changed value in a version's difference: as [`shown_value`], or a
/// dash where the version has none (or the reader may not see it).
pub fn diff_value(page: &Page, people: &Names, path: &str, value: Option<&String>) -> Markup {
    match value {
        Some(v) => shown_value(page, people, path, v),
        None => html! { "—" },
    }
}

fn badge(page: &Page, r: RedactionReason) -> Markup {
    html! { span class={ "badge " (r.as_str()) } { (crate::domain::labels::label_or_wire("redaction", r.as_str(), page.session.lang)) } }
}

/// One field's row: its name (the pointer on hover and in `data-path`),
/// its value or the mark of why it is not shown.
fn row(page: &Page, people: &Names, path: &str, value: Option<&str>, mark: Option<RedactionReason>) -> Markup {
    let name = super::dossier::field_name(page, path);
    html! {
        tr data-path=(path) class=(if value.is_none() { "hidden-field" } else { "" }) {
            th scope="row" title=(path) { (name.unwrap_or(path)) }
            td {
                @if let Some(v) = value { @if mark != Some(RedactionReason::Withheld) { (shown_value(page, people, path, v)) } }
                @if let Some(r) = mark { " " (badge(page, r)) }
            }
        }
    }
}

/// The template's sections, with the fields the policy shows and those it
/// does not (listed with their mark and no value).
pub fn sections(
    page: &Page,
    people: &Names,
    rows: &[(String, String)],
    hidden: &[(String, RedactionReason)],
    redactions: &BTreeMap<&str, RedactionReason>,
) -> Markup {
    let mut by_section: Vec<Vec<Markup>> = vec![Vec::new(); SECTIONS.len()];
    let mut contact = None;
    for (path, value) in rows {
        let s = section_of(path);
        // Each contact person under their own heading.
        if let Some(n) = path.strip_prefix("/contacts/").and_then(|r| r.split('/').next()) {
            if contact != Some(n.to_owned()) {
                contact = Some(n.to_owned());
                let k: usize = n.parse().unwrap_or(0);
                by_section[s]
                    .push(html! { tr.group { th colspan="2" scope="rowgroup" { (page.t("Contact")) " " (k + 1) } } });
            }
        }
        by_section[s].push(row(page, people, path, Some(value), redactions.get(path.as_str()).copied()));
    }
    for (path, reason) in hidden {
        by_section[section_of(path)].push(row(page, people, path, None, Some(*reason)));
    }
    html! {
        div #fields {
            @for (i, (id, title, _)) in SECTIONS.iter().enumerate() {
                @if !by_section[i].is_empty() {
                    section.fields-section id={ "section-" (id) } {
                        h2 { (page.t(title)) }
                        table.fields { tbody { @for r in &by_section[i] { (r) } } }
                    }
                }
            }
        }
    }
}

/// What the dossier's holders act on first.
pub struct Summary<'a> {
    pub did: &'a str,
    /// Grade, stage and owner as the page's read shows them (none when
    /// withheld).
    pub grade: Option<&'a str>,
    pub stage: Option<&'a str>,
    pub owner: Option<&'a str>,
    /// The next review, the last contact and the open follow-ups, for staff
    /// whose customer scope includes the dossier.
    pub glance: Option<&'a Glance>,
}

pub fn summary(page: &Page, people: &Names, s: &Summary<'_>) -> Markup {
    let when = super::compliance::when;
    let kind = |k| page.value("interaction_kind", &crate::archive::wire_name(&k));
    html! {
        section #summary aria-label=(page.t("At a glance")) {
            dl {
                @if let Some(g) = s.grade {
                    dt { (page.t("Grade")) }
                    dd #summary-grade { strong { (page.value("grade", g)) } " · "
                        a href={ "/console/dossiers/" (enc(s.did)) "/figures" } { (page.t("Why this grade, and the figures by month")) } }
                }
                @if let Some(st) = s.stage { dt { (page.t("Stage")) } dd { (page.value("status", st)) } }
                @if let Some(o) = s.owner { dt { (page.t("Owner")) } dd { (people.show(o)) } }
                @if let Some(g) = s.glance {
                    @if let Some((due, overdue)) = g.review {
                        dt { (page.t("Next review")) }
                        dd #summary-review { (when(due)) @if overdue { " " span.badge.overdue { (page.t("overdue")) } } }
                    }
                    dt { (page.t("Last contact")) }
                    dd #summary-last-contact { @if let Some(c) = &g.last_contact { (when(c.at)) " · " (kind(c.kind)) " · " (people.show(&c.by)) } @else { (page.t("none yet")) } }
                    @if !g.follow_ups.is_empty() {
                        dt { (page.t("Open follow-ups")) }
                        dd #summary-follow-ups { @for f in &g.follow_ups { (f.follow_up.map(|d| d.to_string()).unwrap_or_default()) " · " (people.show(&f.by)) br; } }
                    }
                }
            }
        }
    }
}

/// The page's own tabs: plain links to its sections (no script).
pub fn tabs(page: &Page, did: &str, staff: bool, holds: bool) -> Markup {
    html! {
        nav.tabs aria-label=(page.t("Dossier sections")) { ul {
            li { a href="#fields" { (page.t("Fields")) } }
            @if staff { li { a href="#tab-interactions" { (page.t("Interactions")) } } li { a href="#tab-reviews" { (page.t("Review")) } } }
            @if staff { li { a href={ "/console/dossiers/" (enc(did)) "/figures" } { (page.t("Figures by month")) } } }
            li { a href="#tab-documents" { (page.t("Documents")) } }
            li { a href="#tab-versions" { (page.t("Versions")) } }
            @if holds { li { a href="#tab-holds" { (page.t("Legal holds")) } } }
        } }
    }
}
