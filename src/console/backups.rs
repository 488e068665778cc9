//! `/console/backups` (admins): the sets on the backup target, the nightly
//! schedule and how the scheduled sets went (as `GET /v1/backups`, audited
//! `backup.list`), and a set taken now (as `POST /v1/backups`, audited
//! `backup.create`). The admin start page shows the same status in short.

use super::compliance::{enc, when};
use super::page::{see_other, Page};
use super::Posted;
use crate::archive::BackupStatus;
use crate::web::error::ApiError;
use crate::web::offload;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

/// The backup status through the API's use case (it reads the target: off
/// the async threads, as the API does).
pub(super) async fn status(page: &Page) -> Result<BackupStatus, ApiError> {
    let ctx = page.ctx.clone();
    offload(&page.state, move |a| async move { a.backups().backup_status(&ctx).await }).await
}

/// Bytes for people: KiB, MiB, GiB with one decimal.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The last set, the next run and the failures, for the start page and
/// the head of the backups page.
pub(super) fn summary(page: &Page, s: &BackupStatus) -> Markup {
    html! {
        @if !s.configured {
            p #backup-summary { (page.t("Backups")) ": " (page.t("not configured")) }
        } @else {
            dl #backup-summary {
                dt { (page.t("Last set")) }
                dd { @match s.sets.first() {
                    Some(set) => { (when(set.created_at)) " · " (size(set.bytes)) }
                    None => { (page.t("None.")) }
                } }
                dt { (page.t("Next run")) }
                dd { @match s.next_run { Some(t) => { (when(t)) }, None => { (page.t("not scheduled")) } } }
                dt { (page.t("Failures")) }
                dd {
                    (s.failures)
                    @if let Some(t) = s.last_failure { " · " (page.t("last failure")) " " (when(t)) }
                    @if s.failing { " " strong.badge.overdue { (page.t("the last scheduled backup failed")) } }
                }
                @if let Some(why) = &s.unreadable {
                    dt { (page.t("Target")) }
                    dd { strong.badge.overdue { (page.t("unreadable")) } " " (why) }
                }
            }
        }
    }
}

#[derive(serde::Deserialize)]
pub struct Taken {
    /// The set `POST /console/backups` just took (a set id, no personal value).
    taken: Option<String>,
}

/// `GET /console/backups`: the status and the sets, newest first.
pub async fn list(page: Page, q: Result<Query<Taken>, QueryRejection>) -> Response {
    let s = match status(&page).await {
        Ok(s) => s,
        Err(e) => return page.error_page(e),
    };
    let wanted = q.ok().and_then(|Query(t)| t.taken);
    let taken = wanted.as_deref().and_then(|id| s.sets.iter().find(|set| set.backup_id == id));
    let body = html! {
        @if let Some(set) = taken {
            p.ok #backup-taken role="status" { (page.t("The backup set was taken.")) " " span.mono { (set.backup_id) } }
        }
        (summary(&page, &s))
        @if let Some(target) = &s.target {
            p { (page.t("Target")) ": " span.mono { (target) } " · "
                (page.t("Sets are kept for")) " " (s.keep_days) " " (page.t("days"))
                @if let Some(at) = &s.schedule { " · " (page.t("nightly at")) " " (at) } }
        }
        form method="post" action="/console/backups" {
            (page.csrf_field())
            button #backup-now type="submit" { (page.t("Take a backup set now")) }
        }
        h2 { (page.t("Backup sets")) }
        @if s.sets.is_empty() { p { (page.t("None.")) } } @else {
            table #backup-sets {
                thead { tr { th { (page.t("Set")) } th { (page.t("When")) } th { (page.t("Size")) }
                             th { (page.t("Audit tree size")) } th { (page.t("New bytes")) } th { (page.t("Files")) } } }
                tbody { @for set in &s.sets {
                    tr { td.mono { (set.backup_id) } td { (when(set.created_at)) } td { (size(set.bytes)) }
                         td { (set.tree_size) } td { (size(set.new_bytes)) } td { (set.files) } }
                } }
            }
        }
        @if !s.damaged.is_empty() {
            h2 { (page.t("Damaged sets")) }
            table #damaged-sets {
                thead { tr { th { (page.t("Manifest")) } th { (page.t("Problem")) } } }
                tbody { @for d in &s.damaged { tr { td.mono { (d.path) } td { (d.what) } } } }
            }
        }
        p { small.muted { (page.t("Sets are verified and restored with the command line: custos backup verify, custos backup restore (docs/backup.md).")) } }
    };
    page.render(page.t("Backups"), body)
}

/// `POST /console/backups`: a set now, as `POST /v1/backups`, then back to
/// the list (which names the new set); without a target, a 409 page that
/// says what to configure.
pub async fn create(Posted(page, _): Posted) -> Response {
    let ctx = page.ctx.clone();
    let taken = offload(&page.state, move |a| async move { a.backups().create_backup(&ctx).await }).await;
    match taken {
        Ok(m) => see_other(&format!("/console/backups?taken={}", enc(m.backup_id.as_str()))),
        Err(e) if e.status == StatusCode::CONFLICT => page.error_page(ApiError::new(
            StatusCode::CONFLICT,
            "no-backup-target",
            page.t("No backup target is configured: set backup_dir or backup_target in the server's configuration (docs/backup.md)."),
        )),
        Err(e) => page.error_page(e),
    }
}
