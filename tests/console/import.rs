//! Spreadsheet import and backups in the console. A service employee
//! checks a sheet with a bad row in a dry run (nothing created, the row's
//! error by row and field, never its value), fixes it and imports it for
//! real (the dossiers linked, the API's audit entries); a file too big or
//! not a sheet gets a clear error page and changes nothing; a role that may
//! not create dossiers is refused, as by the API. An administrator lists
//! the backup sets, takes one into a temporary target and sees it listed;
//! without a target the page says what to configure; others are refused.

use super::Visitor;
use crate::common::*;
use custos::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::datetime;

const BOUNDARY: &str = "custos-import-test-boundary";

/// A `multipart/form-data` body: the text fields, then the file `name`.
fn sheet_form(fields: &[(&str, &str)], name: &str, media: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").bytes());
    }
    body.extend(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: {media}\r\n\r\n"
        )
        .bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").bytes());
    body
}

async fn post_sheet(v: &mut Visitor, body: Vec<u8>) -> reqwest::Response {
    let r = v
        .client
        .post(format!("{}/console/import", v.base))
        .header("cookie", v.cookie_header())
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await
        .unwrap();
    v.keep(&r);
    r
}

/// The rows of the table with id `id` that carry `data-row="n"`.
fn rows_of(html: &str, id: &str) -> Vec<u64> {
    let Some(at) = html.find(&format!("id=\"{id}\"")) else { return vec![] };
    let table = &html[at..at + html[at..].find("</table>").unwrap()];
    table.split("data-row=\"").skip(1).map(|s| s[..s.find('"').unwrap()].parse().unwrap()).collect()
}

const HEADER: &str = "客户名称,统一社会信用代码,地区,合作阶段,联系人,电话\n";
const GOOD_ROW: &str = "控制台导入公司,91310000MA1FL0CX1X,华东,合作中,钱七,13800000000\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_employee_checks_a_sheet_fixes_it_and_imports_it() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-02 09:00 UTC)));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |c| c.max_document_bytes = 64 * 1024, clock).await;
    let body = json!({"name": "李华", "roles": ["service"], "department": "客服中心", "region": "华东"});
    let (service_id, service) = principal_from(&app.client, &app.base, &body).await;
    let (_, officer) = app.principal(&["compliance"], "总部").await;
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&service).await;

    // The nav offers the import; the form is a multipart form with labelled inputs.
    let home = v.get("/console").await.text().await.unwrap();
    assert!(home.contains("href=\"/console/import\""), "{home}");
    assert!(!home.contains("href=\"/console/backups\""), "backups are for admins");
    let form = v.get("/console/import").await.text().await.unwrap();
    assert!(form.contains("enctype=\"multipart/form-data\""));
    for id in ["import-owner", "import-notice", "import-file"] {
        assert!(form.contains(&format!("for=\"{id}\"")), "{id} has a label");
    }

    // A dry run of a sheet with a bad phone on row 3: nothing created, the
    // row's error by row and field, never the value.
    let bad = format!("{HEADER}{GOOD_ROW}坏电话公司,91310000MA1FL0CX3Y,华东,合作中,周九,not-a-phone-555\n");
    let fields = [("csrf", csrf.as_str()), ("owner", ""), ("notice", "2025-01"), ("dry_run", "true")];
    let r = post_sheet(&mut v, sheet_form(&fields, "客户.csv", "text/csv", bad.as_bytes())).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"dry-run\""), "{page}");
    assert_eq!(rows_of(&page, "row-errors"), [3], "{page}");
    let errors = &page[page.find("id=\"row-errors\"").unwrap()..];
    assert!(errors[..errors.find("</table>").unwrap()].contains("电话"), "the field is named: {errors}");
    assert!(!page.contains("not-a-phone"), "no value in the page");
    assert_eq!(rows_of(&page, "row-results"), [2, 3]);
    assert!(page.contains("title=\"would_create\""), "the outcome by its label: {page}");
    assert!(!page.contains("href=\"/console/dossiers/dos_"), "a dry run creates nothing to link");
    assert!(app.audit(&officer, "action=dossier.create").await.is_empty(), "a dry run created nothing");
    let runs = app.audit(&officer, "action=import").await;
    let last = runs.last().unwrap();
    assert_eq!(last["actor"], service_id.as_str());
    assert!(last["reason"].as_str().unwrap().starts_with("dry run; 2 row(s): 1 created"), "{last}");
    let row_errors = app.audit(&officer, "action=import.row&outcome=error").await;
    assert!(row_errors.last().unwrap()["reason"].as_str().unwrap().contains("row 3 电话"), "{row_errors:?}");

    // Fixed and imported for real: both created, each linked, audited as the API audits.
    let fixed = format!("{HEADER}{GOOD_ROW}好电话公司,91310000MA1FL0CX3Y,华东,合作中,周九,13800000002\n");
    let fields = [("csrf", csrf.as_str()), ("owner", ""), ("notice", "2025-01"), ("dry_run", "false")];
    let r = post_sheet(&mut v, sheet_form(&fields, "客户.csv", "text/csv", fixed.as_bytes())).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(!page.contains("id=\"dry-run\""));
    assert!(rows_of(&page, "row-errors").is_empty(), "{page}");
    let links: Vec<&str> = page
        .split("href=\"/console/dossiers/")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .filter(|d| d.starts_with("dos_"))
        .collect();
    assert_eq!(links.len(), 2, "{page}");
    let created = app.audit(&officer, "action=dossier.create").await;
    assert_eq!(created.len(), 2, "{created:?}");
    for e in &created {
        assert_eq!(e["actor"], service_id.as_str());
        assert!(links.contains(&e["resource"].as_str().unwrap()), "{e} {links:?}");
    }
    let runs = app.audit(&officer, "action=import").await;
    assert!(runs.last().unwrap()["reason"].as_str().unwrap().starts_with("2 row(s): 2 created"), "{runs:?}");
    let d: Value =
        app.get(&officer, Some("legal_compliance"), &format!("/v1/dossiers/{}", links[0])).await.json().await.unwrap();
    assert_eq!(d["owner"], service_id.as_str(), "no owner given: the caller");

    // Hostile files: over the document limit (413), not a workbook (400), not
    // a sheet at all (415); each a page saying so, nothing created.
    let before = app.audit(&officer, "action=dossier.create").await.len();
    let big = format!("{HEADER}{}", GOOD_ROW.repeat(1200));
    assert!(big.len() > 64 * 1024);
    let r = post_sheet(&mut v, sheet_form(&fields, "big.csv", "text/csv", big.as_bytes())).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("role=\"alert\""));
    let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    let r = post_sheet(&mut v, sheet_form(&fields, "客户.xlsx", xlsx, b"PK\x03\x04 not really a workbook")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("the sheet:"), "{page}");
    let r = post_sheet(&mut v, sheet_form(&fields, "run.exe", "application/octet-stream", b"MZ\x90\x00")).await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.text().await.unwrap().contains(".xlsx"));
    // A malformed owner is refused before anything is read.
    let odd = [("csrf", csrf.as_str()), ("owner", "somebody"), ("notice", "2025-01"), ("dry_run", "false")];
    let r = post_sheet(&mut v, sheet_form(&odd, "客户.csv", "text/csv", fixed.as_bytes())).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Without the session's CSRF token: refused.
    let forged = [("csrf", "forged"), ("notice", "2025-01"), ("dry_run", "false")];
    let r = post_sheet(&mut v, sheet_form(&forged, "客户.csv", "text/csv", fixed.as_bytes())).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.audit(&officer, "action=dossier.create").await.len(), before, "nothing created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_not_create_dossiers_may_not_import() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-02 09:00 UTC)));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |_| {}, clock).await;
    let (auditor_id, auditor) = app.principal(&["auditor"], "总部").await;
    let (_, officer) = app.principal(&["compliance"], "总部").await;
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&auditor).await;
    let home = v.get("/console").await.text().await.unwrap();
    assert!(!home.contains("href=\"/console/import\""), "no import in an auditor's menu");
    let fields = [("csrf", csrf.as_str()), ("notice", "2025-01"), ("dry_run", "false")];
    let sheet = format!("{HEADER}{GOOD_ROW}");
    let r = post_sheet(&mut v, sheet_form(&fields, "客户.csv", "text/csv", sheet.as_bytes())).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("role=\"alert\""));
    let denied = app.audit(&officer, "action=import&outcome=deny").await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["actor"], auditor_id.as_str());
    assert!(app.audit(&officer, "action=dossier.create").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_lists_backups_and_takes_a_set() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("offsite");
    let t = target.clone();
    let app = spawn_app_in(dir, move |c| c.backup_target = Some(custos::backup::Location::Dir(t))).await;
    let (_, officer) = app.principal(&["compliance"], "总部").await;
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(ADMIN_TOKEN).await;

    // The start page: no set yet, the next nightly run, no failures.
    let home = v.get("/console").await.text().await.unwrap();
    assert!(home.contains("href=\"/console/backups\""), "{home}");
    assert!(home.contains("id=\"backup-summary\""), "{home}");
    let page = v.get("/console/backups").await.text().await.unwrap();
    assert!(page.contains(target.to_str().unwrap()), "the target is named: {page}");
    assert!(!page.contains("id=\"backup-sets\""), "no set yet");

    // A set now: back to the list, which names it.
    let r = v.post("/console/backups", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/console/backups?taken="), "{to}");
    let page = v.get(&to).await.text().await.unwrap();
    assert!(page.contains("id=\"backup-taken\""), "{page}");
    let set = to.trim_start_matches("/console/backups?taken=");
    assert_eq!(rows_in(&page, "backup-sets"), 1, "{page}");
    assert!(page.contains(set));
    let made = app.audit(&officer, "action=backup.create").await;
    assert_eq!(made.len(), 1);
    assert_eq!(made[0]["resource"], set);
    assert!(!app.audit(&officer, "action=backup.list").await.is_empty(), "listing is audited");
    // The API lists the same set.
    let listed: Value = app.get(ADMIN_TOKEN, None, "/v1/backups").await.json().await.unwrap();
    assert_eq!(listed["sets"][0]["backup_id"], set, "{listed}");
    assert_eq!(listed["configured"], true);
    // A post without the CSRF token takes nothing.
    let r = v.post("/console/backups", &[("csrf", "forged")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.audit(&officer, "action=backup.create").await.len(), 1);
    // The start page names the last set.
    let home = v.get("/console").await.text().await.unwrap();
    let summary = &home[home.find("id=\"backup-summary\"").unwrap()..];
    assert!(!summary[..summary.find("</dl>").unwrap()].contains("None."), "{summary}");

    // A non-admin is refused, in the page and audited.
    let (_, service) = app.principal(&["service"], "华东").await;
    let mut s = Visitor::new(&app.base);
    let scsrf = s.sign_in(&service).await;
    assert_eq!(s.get("/console/backups").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.post("/console/backups", &[("csrf", &scsrf)]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.audit(&officer, "action=backup.create&outcome=deny").await.len(), 1);
    assert_eq!(app.audit(&officer, "action=backup.list&outcome=deny").await.len(), 1);
    assert_eq!(app.audit(&officer, "action=backup.create").await.len(), 2, "the set and the refusal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_backup_target_the_page_says_what_to_configure() {
    let app = spawn_app().await;
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(ADMIN_TOKEN).await;
    let page = v.get("/console/backups").await.text().await.unwrap();
    assert!(page.contains("id=\"backup-summary\""), "{page}");
    let r = v.post("/console/backups", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let page = r.text().await.unwrap();
    assert!(page.contains("backup_dir"), "the page says what to configure: {page}");
}

/// The body rows of the table with id `id`.
fn rows_in(html: &str, id: &str) -> usize {
    let at = html.find(&format!("id=\"{id}\"")).unwrap();
    let table = &html[at..at + html[at..].find("</table>").unwrap()];
    let body = &table[table.find("<tbody>").unwrap()..];
    body.matches("<tr").count()
}
