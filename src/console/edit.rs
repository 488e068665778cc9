//! Creating and editing a dossier in a form, through the same use cases as
//! `POST` and `PUT /v1/dossiers`. The edit form is filled from what the
//! editor may see: a masked value goes back as the mask (read-only) and a
//! withheld one not at all, and the archive keeps what the editor may not
//! see from the current version (`keep_hidden`), exactly as for the API.

use super::compliance::enc;
use super::page::{see_other, Fields, Page, Posted};
use crate::archive::{ArchiveError, RedactionReason};
use crate::domain::catalog::{set_at, Catalog, Field, Input};
use crate::domain::dossier::FieldError;
use crate::web::error::ApiError;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How `path` (with a contact's index) is edited, if it is a form field:
/// a field of the catalog, named by a concrete pointer.
fn input_of(path: &str) -> Option<&'static Input> {
    if path.split('/').any(|seg| seg == "*") {
        return None;
    }
    Catalog::template().field(path).map(|f| &f.input)
}

/// The form's fields outside the contacts, in schema order.
fn dossier_fields() -> impl Iterator<Item = &'static Field> {
    Catalog::template().fields().filter(|f| f.contact_key().is_none())
}

/// A contact's form fields by their key in the contact, in schema order.
/// The subject id is no input: it goes back hidden, shown as a link to the
/// person.
fn contact_fields() -> impl Iterator<Item = (&'static str, &'static Field)> {
    Catalog::template().contact_fields().filter_map(|f| Some((f.contact_key()?, f))).filter(|(k, _)| *k != "subject_id")
}

/// The document a posted form describes: every field named by its JSON
/// pointer, empty ones left out, lists split, contacts without a name or a
/// subject id (the blank one for a new contact) dropped.
fn document_from(f: &Fields) -> Result<Value, String> {
    let mut doc = Value::Object(Map::new());
    for (name, raw) in &f.0 {
        if !name.starts_with('/') {
            continue;
        }
        let Some(input) = input_of(name) else { return Err(format!("{name} is not a field of the template")) };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let value = match input {
            Input::List => Value::Array(
                raw.split([',', '，', '\n', '、'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            ),
            Input::Bool => Value::Bool(raw == "true"),
            Input::Text | Input::Choice(_) => Value::String(raw.to_owned()),
        };
        // A contact's index is a key here, made a list below.
        set_at(&mut doc, name, value);
    }
    if let Some(Value::Object(contacts)) = doc.get_mut("contacts") {
        let mut list: Vec<(usize, Value)> =
            std::mem::take(contacts).into_iter().filter_map(|(i, c)| Some((i.parse().ok()?, c))).collect();
        list.sort_by_key(|(i, _)| *i);
        let kept: Vec<Value> = list
            .into_iter()
            .map(|(_, c)| c)
            .filter(|c| c.get("name").is_some() || c.get("subject_id").is_some())
            .collect();
        doc["contacts"] = Value::Array(kept);
    }
    Ok(doc)
}

/// The text an input shows for `v`.
fn shown(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
        Some(other) => other.to_string(),
    }
}

/// One labelled input for catalog field `f` at `path` (its pointer, with a
/// contact's index).
fn field(page: &Page, f: &Field, path: &str, doc: &Value, redactions: &BTreeMap<String, RedactionReason>) -> Markup {
    let label = f.label(page.session.lang);
    let value = shown(doc.pointer(path));
    html! {
        @match redactions.get(path) {
            // Not in the page at all; the archive keeps it.
            Some(RedactionReason::Withheld | RedactionReason::Erased | RedactionReason::Superseded) => {
                p.kept title=(path) { (label) " " span.badge.withheld { (page.t("withheld")) } " " (page.t("kept as it is")) }
            }
            // The mask goes back as it is; the archive keeps the value.
            Some(RedactionReason::Masked) => {
                label { (label) " " span.badge.masked { (page.t("masked")) }
                    input type="text" name=(path) value=(value) readonly; }
            }
            None => {
                label title=(path) { (label)
                    @match &f.input {
                        Input::Choice(options) => select name=(path) {
                            @for o in options { option value=(o) selected[value == *o] {
                                (f.labels.as_deref().and_then(|set| crate::domain::labels::label(set, o, page.session.lang)).unwrap_or(o)) } }
                        },
                        Input::Bool => select name=(path) {
                            option value="" { "—" }
                            option value="true" selected[value == "true"] { (page.t("yes")) }
                            option value="false" selected[value == "false"] { (page.t("no")) }
                        },
                        Input::List => input type="text" name=(path) value=(value) placeholder="a, b, c";,
                        // The on-screen keyboard a tablet shows: digits for a phone, @ for an email.
                        Input::Text if path.ends_with("/phone") => input type="tel" name=(path) value=(value) autocomplete="off";,
                        Input::Text if path.ends_with("/email") => input type="email" name=(path) value=(value) autocomplete="off";,
                        Input::Text => input type="text" name=(path) value=(value);,
                    }
                    // The owner is an id in the form; who it is, by name.
                    @if path == "/owner" && !value.is_empty() { small.muted { (page.names([value.as_str()]).show(&value)) } }
                }
            }
        }
    }
}

/// The form for `doc` (empty for a new dossier), posting to `action`.
fn form(
    page: &Page,
    action: &str,
    doc: &Value,
    redactions: &BTreeMap<String, RedactionReason>,
    version: Option<u32>,
) -> Markup {
    let contacts = doc.get("contacts").and_then(Value::as_array).map_or(0, Vec::len);
    html! {
        form #dossier-form.edit method="post" action=(action) {
            (page.csrf_field())
            @if let Some(v) = version { input type="hidden" name="version" value=(v); }
            fieldset { legend { (page.t("Customer")) }
                @for f in dossier_fields() { (field(page, f, &f.path, doc, redactions)) }
            }
            @for i in 0..=contacts {
                fieldset.contact { legend { @if i < contacts { (page.t("Contact")) " " (i + 1) } @else { (page.t("New contact")) } }
                    @if let Some(sid) = doc.pointer(&format!("/contacts/{i}/subject_id")).and_then(Value::as_str) {
                        input type="hidden" name={ "/contacts/" (i) "/subject_id" } value=(sid);
                        p { (page.t("Subject")) " " a.mono href={ "/console/subjects/" (sid) } { (sid) } }
                    }
                    @for (key, f) in contact_fields() { (field(page, f, &format!("/contacts/{i}/{key}"), doc, redactions)) }
                }
            }
            button #save type="submit" { (page.t("Save")) }
        }
    }
}

/// The form again with the posted values and what is wrong with them.
fn invalid(
    page: &Page,
    title: &str,
    action: &str,
    doc: &Value,
    version: Option<u32>,
    errors: &[FieldError],
) -> Response {
    let body = html! {
        div.error #invalid role="alert" {
            p { strong { (page.t("Not saved: the dossier does not conform to the template.")) } }
            ul { @for e in errors { li { span.mono.path { (e.path) } " " (e.message) } } }
        }
        (form(page, action, doc, &BTreeMap::new(), version))
    };
    page.render_status(StatusCode::UNPROCESSABLE_ENTITY, title, body)
}

pub async fn new_form(page: Page) -> Response {
    let doc = serde_json::json!({"owner": page.ctx.principal.id.as_str(), "status": "prospect"});
    page.render(page.t("New dossier"), form(&page, "/console/dossiers/new", &doc, &BTreeMap::new(), None))
}

pub async fn create(Posted(page, f): Posted) -> Response {
    let doc = match document_from(&f) {
        Ok(d) => d,
        Err(e) => return page.error_page(ApiError::bad_request(&e)),
    };
    match page.archive().dossiers().create_dossier(&page.ctx, &doc).await {
        Ok(c) => see_other(&format!("/console/dossiers/{}", c.id)),
        Err(ArchiveError::Invalid(errors)) => {
            invalid(&page, page.t("New dossier"), "/console/dossiers/new", &doc, None, &errors)
        }
        Err(e) => page.fail(e),
    }
}

pub async fn edit_form(page: Page, Path(id): Path<String>) -> Response {
    let view = match page.archive().dossiers().read_dossier(&page.ctx, &id, None).await {
        Ok(v) => v,
        Err(e) => return page.fail(e),
    };
    let redactions = view.redactions.iter().map(|r| (r.path.clone(), r.reason)).collect();
    let action = format!("/console/dossiers/{}/edit", enc(&id));
    let title = format!("{} {id}", page.t("Edit"));
    page.render(&title, form(&page, &action, &view.document, &redactions, Some(view.version)))
}

pub async fn update(Path(id): Path<String>, Posted(page, f): Posted) -> Response {
    let Some(version) = f.get("version").and_then(|v| v.parse::<u32>().ok()) else {
        return page.error_page(ApiError::bad_request("the version the edit is based on is missing"));
    };
    let doc = match document_from(&f) {
        Ok(d) => d,
        Err(e) => return page.error_page(ApiError::bad_request(&e)),
    };
    let action = format!("/console/dossiers/{}/edit", enc(&id));
    match page.archive().dossiers().update_dossier(&page.ctx, &id, version, &doc).await {
        Ok(_) => see_other(&format!("/console/dossiers/{}", enc(&id))),
        Err(ArchiveError::Invalid(errors)) => {
            invalid(&page, &format!("{} {id}", page.t("Edit")), &action, &doc, Some(version), &errors)
        }
        Err(e) => page.fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn a_form_becomes_the_template_document() {
        let f = fields(&[
            ("csrf", "x"),
            ("/customer/name", " 上海远航物流 "),
            ("/customer/region", "华东"),
            ("/grade", "B"),
            ("/transport/routes", "上海-北京，上海-广州, "),
            ("/preferences/tracking", "true"),
            ("/remarks", ""),
            ("/contacts/1/name", "李四"),
            ("/contacts/0/name", "张三"),
            ("/contacts/0/phone", "13900000000"),
            ("/contacts/2/name", ""),
            ("/contacts/2/phone", ""),
        ]);
        let doc = document_from(&f).unwrap();
        assert_eq!(
            doc,
            json!({"customer": {"name": "上海远航物流", "region": "华东"}, "grade": "B",
                "transport": {"routes": ["上海-北京", "上海-广州"]}, "preferences": {"tracking": true},
                "contacts": [{"name": "张三", "phone": "13900000000"}, {"name": "李四"}]})
        );
        assert!(document_from(&fields(&[("/customer/secret", "x")])).is_err());
        assert!(document_from(&fields(&[("/contacts/x/name", "x")])).is_err());
        assert!(document_from(&fields(&[("/contacts/*/name", "x")])).is_err(), "a contact's index, not *");
    }

    #[test]
    fn the_form_takes_every_template_field_from_the_catalog() {
        let own: Vec<&str> = dossier_fields().map(|f| f.path.as_str()).collect();
        assert_eq!(
            own,
            [
                "/customer/kind",
                "/customer/subject_id",
                "/customer/name",
                "/customer/credit_code",
                "/customer/industry",
                "/customer/region",
                "/customer/address",
                "/customer/notice",
                "/customer/sensitive_basis",
                "/owner",
                "/status",
                "/grade",
                "/transport/cargo_types",
                "/transport/frequency",
                "/transport/volume",
                "/transport/routes",
                "/preferences/delivery",
                "/preferences/tracking",
                "/preferences/packaging",
                "/preferences/extras",
                "/finance/credit_rating",
                "/finance/payment_terms",
                "/finance/bank_account",
                "/remarks",
                "/tags",
            ]
        );
        let contact: Vec<&str> = contact_fields().map(|(k, _)| k).collect();
        assert_eq!(contact, ["name", "phone", "email", "role", "id_number", "notice", "sensitive_basis"]);
        assert_eq!(input_of("/contacts/4/subject_id"), Some(&Input::Text), "the hidden subject id is posted back");
        assert_eq!(input_of("/preferences/tracking"), Some(&Input::Bool));
        assert_eq!(input_of("/grade"), Some(&Input::Choice(vec!["A".into(), "B".into(), "C".into()])));
        assert_eq!(input_of("/tags"), Some(&Input::List));
    }
}
