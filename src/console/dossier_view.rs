//! A dossier laid out as the seeds' template: what staff act on first (the
//! grade and why, the stage, the owner, the next review, the last contact,
//! open follow-ups), then the template's sections (基本信息, 联系人,
//! 运输需求, 服务偏好, 财务与信用, 备注与标签), every value by its name and
//! in the reader's language, masked and withheld fields marked in words.

use super::page::Page;
use super::people::Names;
use crate::archive::customers::{GradeExplanation, InteractionView};
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
    pub grade: Option<&'a GradeExplanation>,
    pub stage: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub review: Option<(time::OffsetDateTime, bool)>,
    pub interactions: &'a [InteractionView],
}

pub fn summary(page: &Page, people: &Names, s: &Summary<'_>) -> Markup {
    let last = s.interactions.iter().max_by_key(|i| i.at);
    let follow_ups: Vec<&InteractionView> = s
        .interactions
        .iter()
        .filter(|i| i.follow_up.is_some() && !s.interactions.iter().any(|later| later.at > i.at))
        .collect();
    let when = super::compliance::when;
    html! {
        section #summary aria-label=(page.t("At a glance")) {
            dl {
                @if let Some(g) = s.grade {
                    dt { (page.t("Grade")) }
                    dd #summary-grade {
                        strong { (page.value("grade", &crate::archive::wire_name(&g.grade))) }
                        " · " @if g.decided_by == "override" { (page.t("set by hand")) } @else { (page.t("by the grading rules")) ": " (g.computed.rule) }
                        br; small { (page.t("Orders")) " " (g.inputs.orders) " · " (page.t("Amount")) " " (format!("{:.0}", g.inputs.amount))
                            " · " (page.t("Return rate")) " " (format!("{:.1}%", g.inputs.return_rate * 100.0)) " · " (g.window) }
                    }
                }
                @if let Some(st) = s.stage { dt { (page.t("Stage")) } dd { (page.value("status", st)) } }
                @if let Some(o) = s.owner { dt { (page.t("Owner")) } dd { (people.show(o)) } }
                @if let Some((due, overdue)) = s.review {
                    dt { (page.t("Next review")) }
                    dd #summary-review { (when(due)) @if overdue { " " span.badge.overdue { (page.t("overdue")) } } }
                }
                dt { (page.t("Last contact")) }
                dd #summary-last-contact { @if let Some(i) = last { (when(i.at)) " · " (page.value("interaction_kind", &crate::archive::wire_name(&i.kind))) " · " (people.show(&i.recorded_by)) } @else { (page.t("none yet")) } }
                @if !follow_ups.is_empty() {
                    dt { (page.t("Open follow-ups")) }
                    dd #summary-follow-ups { @for f in &follow_ups { (f.follow_up.as_deref().unwrap_or("")) " · " (people.show(&f.recorded_by)) br; } }
                }
            }
        }
    }
}

/// The page's own tabs: plain links to its sections (no script).
pub fn tabs(page: &Page, staff: bool, figures: bool, holds: bool) -> Markup {
    html! {
        nav.tabs aria-label=(page.t("Dossier sections")) { ul {
            li { a href="#fields" { (page.t("Fields")) } }
            @if staff { li { a href="#tab-interactions" { (page.t("Interactions")) } } li { a href="#tab-reviews" { (page.t("Review")) } } }
            @if figures { li { a href="#tab-figures" { (page.t("Figures by month")) } } }
            li { a href="#tab-documents" { (page.t("Documents")) } }
            li { a href="#tab-versions" { (page.t("Versions")) } }
            @if holds { li { a href="#tab-holds" { (page.t("Legal holds")) } } }
        } }
    }
}
