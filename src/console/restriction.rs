//! A person's restriction on their page (PIPL Art. 44, 47(2); GDPR Art.
//! 18): putting it in place, the notice that the person was told before it
//! is lifted (GDPR Art. 18(3)), and the lift. The same use cases as
//! `POST`/`DELETE /v1/subjects/{sid}/restriction` and `POST
//! .../restriction/notice`: the archive decides whether the notice counts
//! and whether the lift goes ahead, and audits both; the page shows what
//! it decided and says what is missing.

use super::compliance::{enc, when};
use super::page::{see_other, Body, Page, Posted};
use crate::archive::{NewLiftNotice, NoticeChannel, SubjectView};
use crate::web::commands::LiftNoticeDto;
use crate::web::error::ApiError;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

/// The English words of a channel (translated by the console's table).
fn channel_label(c: NoticeChannel) -> &'static str {
    match c {
        NoticeChannel::Letter => "Letter",
        NoticeChannel::Email => "Email",
        NoticeChannel::Phone => "Phone",
        NoticeChannel::InPerson => "In person",
        NoticeChannel::Portal => "Portal",
    }
}

/// The restriction's part of a person's page: whether it is in place and,
/// while it is, whether a notice since it began is recorded (and when), the
/// form that records one, and the button that restricts or lifts.
pub fn section(page: &Page, s: &SubjectView) -> Markup {
    let id = s.id.to_string();
    let restricted = s.restricted_at.is_some();
    let notice = s.lift_notice.as_ref().filter(|n| n.covers_restriction);
    html! {
        h2 { (page.t("Restriction")) }
        @if restricted {
            @if let Some(n) = notice {
                p.ok #lift-notice-recorded {
                    (page.t("The person was told that the restriction is about to be lifted:")) " "
                    (when(n.notified_at)) " (" (page.t(channel_label(n.channel))) "); "
                    (page.t("recorded")) " " (when(n.recorded_at)) " " (page.t("By")) " " (page.names([n.recorded_by.as_str()]).show(n.recorded_by.as_str()))
                    @if n.has_reference { "; " (page.t("reference kept sealed")) }
                }
            } @else {
                div.error #lift-notice-missing role="note" {
                    p { (page.t("No notice to the person is recorded since the restriction began.")) }
                    p { (page.t("The person must be told before their restriction is lifted (GDPR Art. 18(3)): record how and when they were told, then lift it.")) }
                    @if s.lift_notice.is_some() {
                        p { (page.t("A notice of an earlier restriction does not count.")) }
                    }
                }
                form #lift-notice-form method="post" action={ "/console/subjects/" (id) "/restriction/notice" } {
                    (page.csrf_field())
                    label { (page.t("Channel")) select name="channel" {
                        @for c in NoticeChannel::ALL { option value=(c.as_str()) { (page.t(channel_label(c))) } }
                    } }
                    label { (page.t("Told on (RFC 3339; not in the future)"))
                        input #notified-at type="text" name="notified_at" required placeholder="2026-12-01T09:30:00+08:00"; }
                    label { (page.t("Reference (optional; kept sealed)"))
                        input type="text" name="reference" maxlength=(crate::archive::MAX_NOTICE_REFERENCE); }
                    button type="submit" { (page.t("Record notice")) }
                }
            }
        }
        div.actions {
            form #restriction-form method="post" action={ "/console/subjects/" (id) "/restriction" } {
                (page.csrf_field())
                input type="hidden" name="restrict" value=(if restricted { "false" } else { "true" });
                button type="submit" { (if restricted { page.t("Lift restriction") } else { page.t("Restrict processing") }) }
            }
        }
    }
}

/// Restricts, or lifts the restriction. A lift the archive refuses (no
/// notice since the restriction began, an erasure pending behind a hold)
/// answers the person's page again with the refusal on top, so that the
/// officer sees what is missing and the form that records it.
pub async fn restrict(Path(sid): Path<String>, Posted(page, f): Posted) -> Response {
    let restrict = match f.get("restrict") {
        Some("true") => true,
        Some("false") => false,
        _ => return page.error_page(ApiError::bad_request("restrict is true or false")),
    };
    match page.archive().subjects().set_restriction(&page.ctx, &sid, restrict).await {
        Ok(_) => see_other(&format!("/console/subjects/{}", enc(&sid))),
        Err(e) => {
            let api = ApiError::from(e);
            if api.status != StatusCode::CONFLICT {
                return page.error_page(api);
            }
            let refused = html! {
                div.error #lift-refused role="alert" {
                    p { strong { (page.t("Restriction not lifted")) } }
                    p.detail { (api.detail) }
                }
            };
            super::subjects::subject_page(&page, &sid, StatusCode::CONFLICT, Some(refused)).await
        }
    }
}

/// The notice, as `POST /v1/subjects/{sid}/restriction/notice` takes it:
/// the same body and shape check, the same use case (which refuses a time
/// before the restriction or in the future, and audits the record).
pub async fn notice(Path(sid): Path<String>, Posted(page, f): Posted) -> Response {
    let how = Body::offering(&["channel", "notified_at", "reference"]);
    let notice = match page.command::<LiftNoticeDto, NewLiftNotice>(&f, how) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    let done = page.archive().subjects().record_lift_notice(&page.ctx, &sid, notice).await;
    super::subjects::back_to_subject(&page, &sid, done)
}
