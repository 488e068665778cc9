//! People and their access, for administrators: every principal, making
//! one, a principal's page (approve an admin, disable, enable, reset or
//! unlock the second factor, ask for a token, revoke one), and for everyone
//! their own tokens (renew). Each through the same `Identity` use case as
//! `/v1/principals` and `/v1/tokens`, so the same four-eyes rules, the
//! same refusals and the same audit entries. A token asked for someone
//! else shows the asking admin's half of the enrollment code once; the
//! person enrolls at `/console/enroll` and never sees their token.

use super::compliance::{enc, when};
use super::page::{see_other, Body, Fields, Page, Posted};
use crate::archive::wire_name;
use crate::archive::{FactorChange, NewPrincipal, PrincipalView, TokenState, TokenView};
use crate::web::commands::NewPrincipalDto;
use crate::web::error::ApiError;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

/// The roles a principal can be given, in the form's order.
const ROLES: [&str; 7] = ["sales", "service", "finance", "compliance", "auditor", "admin", "processor"];

/// A principal's state in words.
fn state_of(page: &Page, p: &PrincipalView) -> &'static str {
    if p.disabled_by.is_some() {
        page.t("disabled")
    } else if p.admin_pending.is_some() {
        page.t("admin awaiting approval")
    } else {
        page.t("active")
    }
}

/// `GET /console/principals`: everyone, and the form to add a person.
pub async fn principals(page: Page) -> Response {
    let o = match page.archive().identity().directory().admin_overview(&page.ctx).await {
        Ok(o) => o,
        Err(e) => return page.fail(e),
    };
    let lang = page.session.lang;
    let body = html! {
        table #principals {
            thead { tr { th { (page.t("Name")) } th { (page.t("Roles")) } th { (page.t("Department")) } th { (page.t("Region")) } th { (page.t("State")) } } }
            tbody { @for p in &o.principals {
                tr { td { a href={ "/console/principals/" (enc(&p.id)) } title=(p.id) { (p.name) } }
                     td { (super::people::roles(lang, p.roles.iter().map(String::as_str))) }
                     td { (p.department) } td { (p.region) } td { (state_of(&page, p)) } }
            } }
        }
        h2 { (page.t("Add a person")) }
        (new_principal_form(&page))
    };
    page.render(page.t("People and access"), body)
}

fn new_principal_form(page: &Page) -> Markup {
    html! {
        form #new-principal method="post" action="/console/principals" {
            (page.csrf_field())
            label for="p-name" { (page.t("Name")) }
            input #p-name type="text" name="name" maxlength="200" autocomplete="off" required;
            fieldset {
                legend { (page.t("Roles")) }
                @for r in ROLES {
                    label.check { input type="checkbox" name="role" value=(r); " " (page.label("role", r)) }
                }
            }
            label for="p-department" { (page.t("Department")) }
            input #p-department type="text" name="department" maxlength="200";
            label for="p-region" { (page.t("Region")) }
            input #p-region type="text" name="region" maxlength="100";
            label for="p-recipient" { (page.t("Recipient (for an outside processor only)")) }
            input #p-recipient type="text" name="recipient" pattern="rcp_[0-9a-z]{26}" autocomplete="off";
            p.muted { (page.t("An administrator you add acts without the admin role until a second administrator approves.")) }
            button #add-principal type="submit" { (page.t("Add")) }
        }
    }
}

/// `POST /console/principals`: as `POST /v1/principals` (the roles'
/// boxes joined into the body's list).
pub async fn create_principal(Posted(page, f): Posted) -> Response {
    let roles: Vec<&str> = f.0.iter().filter(|(k, _)| k == "role").map(|(_, v)| v.trim()).collect();
    let mut fields: Vec<(String, String)> = f.0.iter().filter(|(k, _)| k != "role").cloned().collect();
    fields.push(("roles".to_owned(), roles.join(",")));
    let how = Body::offering(&["name", "roles", "department", "region", "recipient"]);
    let new: NewPrincipal = match page.command::<NewPrincipalDto, _>(&Fields(fields), how) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    match page.archive().identity().create_principal(&page.ctx, new).await {
        Ok(id) => see_other(&format!("/console/principals/{}", enc(id.as_str()))),
        Err(e) => page.fail(e),
    }
}

/// `GET /console/principals/{id}`: who it is, its tokens, and what an
/// admin can do about either.
pub async fn principal(page: Page, Path(id): Path<String>) -> Response {
    let identity = page.archive().identity();
    let o = match identity.directory().admin_overview(&page.ctx).await {
        Ok(o) => o,
        Err(e) => return page.fail(e),
    };
    let Some(p) = o.principals.iter().find(|p| p.id == id) else {
        return page.error_page(ApiError::new(StatusCode::NOT_FOUND, "not-found", page.t("Not found")));
    };
    let tokens = match identity.list_tokens(&page.ctx, &id).await {
        Ok(t) => t,
        Err(e) => return page.fail(e),
    };
    let lang = page.session.lang;
    let me = page.ctx.principal.id.as_str() == id;
    let people = page.names(
        tokens
            .iter()
            .flat_map(|t| [t.requested_by.as_deref(), t.approved_by.as_deref()])
            .chain([p.admin_pending.as_deref(), p.disabled_by.as_deref()])
            .flatten(),
    );
    let action = |what: &str, label: &'static str, id_attr: &str| {
        html! {
            form.inline method="post" action={ "/console/principals/" (enc(&p.id)) "/" (what) } {
                (page.csrf_field())
                button id=(id_attr) type="submit" { (page.t(label)) }
            }
        }
    };
    let body = html! {
        dl #principal {
            dt { (page.t("Name")) } dd { (p.name) }
            dt { (page.t("Roles")) } dd { (super::people::roles(lang, p.roles.iter().map(String::as_str))) }
            dt { (page.t("Department")) } dd { (p.department) }
            dt { (page.t("Region")) } dd { (p.region) }
            dt { (page.t("State")) } dd #principal-state { (state_of(&page, p))
                @if let Some(by) = &p.disabled_by { " · " (page.t("by")) " " (people.show(by)) }
                @if let Some(by) = &p.admin_pending { " · " (page.t("made by")) " " (people.show(by)) } }
            dt { (page.t("Since")) } dd { (when(p.created_at)) }
            dt { "id" } dd.mono { (p.id) }
        }
        @if !me {
            div.actions {
                @if p.admin_pending.is_some() { (action("approve", "Approve as admin", "approve-principal")) }
                @if p.disabled_by.is_some() { (action("enable", "Enable", "enable-principal")) }
                @else { (action("disable", "Disable", "disable-principal")) }
                (action("factor-reset", "Reset the second factor", "reset-factor"))
                (action("factor-unlock", "Unlock the second factor", "unlock-factor"))
            }
            p.muted { (page.t("Disabling stops every token of the person at once; resetting the second factor stops every token bound to it, and the person sets up a new one at their next sign-in.")) }
        }
        h2 { (page.t("Tokens")) }
        (token_table(&page, &tokens, &people, Some(&p.id)))
        form method="post" action={ "/console/principals/" (enc(&p.id)) "/tokens" } {
            (page.csrf_field())
            button #ask-token type="submit" { (page.t("Ask for a token")) }
            " " small.muted { (page.t("For anyone but yourself a second administrator approves it, and each of you hands over half of the enrollment code.")) }
        }
    };
    page.render(&p.name, body)
}

/// A principal's tokens: state by label, times, who asked and approved;
/// `revoke_for`: the principal whose page this is (an admin's revoke
/// buttons), `None` on one's own page (renew buttons).
fn token_table(page: &Page, tokens: &[TokenView], people: &super::people::Names, revoke_for: Option<&str>) -> Markup {
    let live = |s: TokenState| matches!(s, TokenState::AwaitingApproval | TokenState::Enrollable | TokenState::Active);
    html! {
        @if tokens.is_empty() { p { (page.t("None.")) } } @else {
            table #tokens {
                thead { tr { th { "id" } th { (page.t("State")) } th { (page.t("Asked")) } th { (page.t("Enrolled")) }
                             th { (page.t("Valid until")) } th { (page.t("Asked by")) } th { (page.t("Approved by")) } th { (page.t("Action")) } } }
                tbody { @for t in tokens {
                    tr { td.mono { (t.token_id) } td { (page.value("token_state", &wire_name(&t.state))) }
                         td { (when(t.created_at)) } td { @if let Some(e) = t.enrolled_at { (when(e)) } }
                         td { @if let Some(e) = t.revoked_at { (page.t("revoked")) " " (when(e)) } @else if let Some(e) = t.expires_at { (when(e)) } }
                         td { @if let Some(by) = &t.requested_by { (people.show(by)) } }
                         td { @if let Some(by) = &t.approved_by { (people.show(by)) } }
                         td { @match revoke_for {
                            Some(owner) if live(t.state) => form.inline method="post" action={ "/console/tokens/" (enc(&t.token_id)) "/revoke" } {
                                (page.csrf_field())
                                input type="hidden" name="principal" value=(owner);
                                button type="submit" { (page.t("Revoke")) }
                            },
                            None if t.state == TokenState::Active => form.inline method="post" action={ "/console/tokens/" (enc(&t.token_id)) "/renew" } {
                                (page.csrf_field())
                                button type="submit" { (page.t("Renew")) }
                            },
                            _ => {}
                         } }
                    }
                } }
            }
        }
    }
}

/// `POST /console/principals/{id}/{approve,disable,enable,factor-reset,factor-unlock}`.
pub async fn principal_action(Path((id, what)): Path<(String, String)>, Posted(page, _): Posted) -> Response {
    let identity = page.archive().identity();
    let done = match what.as_str() {
        "approve" => identity.approve_principal(&page.ctx, &id).await.map(drop),
        "disable" => identity.set_disabled(&page.ctx, &id, true).await.map(drop),
        "enable" => identity.set_disabled(&page.ctx, &id, false).await.map(drop),
        "factor-reset" => identity.change_factor(&page.ctx, FactorChange::Reset, &id).await,
        "factor-unlock" => identity.change_factor(&page.ctx, FactorChange::Unlock, &id).await,
        _ => return page.error_page(ApiError::new(StatusCode::NOT_FOUND, "not-found", page.t("Not found"))),
    };
    match done {
        Ok(()) => see_other(&format!("/console/principals/{}", enc(&id))),
        Err(e) => page.fail(e),
    }
}

/// `POST /console/principals/{id}/tokens`: as `POST /v1/principals/{id}/tokens`;
/// the code (one's own) or the asking half (anyone else's) shown once.
pub async fn ask_token(Path(id): Path<String>, Posted(page, _): Posted) -> Response {
    let issued = match page.archive().identity().create_token(&page.ctx, &id).await {
        Ok(i) => i,
        Err(e) => return page.fail(e),
    };
    let body = html! {
        div #token-asked {
            @if let Some(code) = &issued.code {
                p { (page.t("Your enrollment code, shown once: enroll with it at the console's sign-in page, under Enroll.")) }
                p.mono #code-whole { (code) }
            }
            @if let Some(part) = &issued.code_part {
                p { (page.t("A second administrator approves this token on their start page. Give this first half of the enrollment code to the person yourself; the approving administrator gives them the second half. The person enrolls with the two joined at the console's sign-in page, under Enroll.")) }
                p.mono #code-part { (part) }
            }
            @if let Some(until) = issued.code_expires_at { p { (page.t("Valid until")) " " (when(until)) } }
            p { a href={ "/console/principals/" (enc(&id)) } { (page.t("Back")) } }
        }
    };
    page.render(page.t("Token asked for"), body)
}

/// `POST /console/tokens/{id}/revoke`: as `DELETE /v1/tokens/{id}`, back
/// to the principal's page.
pub async fn revoke_token(Path(token): Path<String>, Posted(page, f): Posted) -> Response {
    if let Err(e) = page.archive().identity().revoke_token(&page.ctx, &token).await {
        return page.fail(e);
    }
    match f.get("principal") {
        Some(p) => see_other(&format!("/console/principals/{}", enc(p))),
        None => see_other("/console/principals"),
    }
}

/// `GET /console/tokens`: the signed-in person's own tokens.
pub async fn my_tokens(page: Page) -> Response {
    let me = page.ctx.principal.id.to_string();
    let tokens = match page.archive().identity().list_tokens(&page.ctx, &me).await {
        Ok(t) => t,
        Err(e) => return page.fail(e),
    };
    let people =
        page.names(tokens.iter().flat_map(|t| [t.requested_by.as_deref(), t.approved_by.as_deref()]).flatten());
    let body = html! {
        p { (page.t("Renewing a token keeps it working for one more lifetime from now.")) }
        p { (page.t("Signed in with")) " " span.mono #current-token { (page.ctx.token_id.as_str()) } }
        (token_table(&page, &tokens, &people, None))
    };
    page.render(page.t("My tokens"), body)
}

/// `POST /console/tokens/{id}/renew`: as `POST /v1/tokens/{id}/renew`
/// (the holder only).
pub async fn renew_token(Path(token): Path<String>, Posted(page, _): Posted) -> Response {
    match page.archive().identity().renew_token(&page.ctx, &token).await {
        Ok(_) => see_other("/console/tokens"),
        Err(e) => page.fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::from_wire;

    #[test]
    fn every_role_the_form_offers_is_a_role_with_a_label() {
        for r in ROLES {
            assert!(crate::domain::Role::ALL.iter().any(|role| role.as_str() == r), "{r}");
            assert!(crate::domain::labels::label("role", r, crate::domain::Lang::Zh).is_some(), "{r}");
        }
        assert!(from_wire::<TokenState>("active").is_some());
    }
}
