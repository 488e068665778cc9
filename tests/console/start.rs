//! The start page: a sales person's day (their customers by name with
//! grade, stage and last contact; the follow-up they promised, until a later
//! contact meets it; a grade change since their last visit; a review falling
//! due), people by name and values by label instead of ids and wire values,
//! nothing of another's customers, one audited `customer.worklist` entry;
//! and a compliance officer's requests near their deadline.

use super::{form_value, Visitor};
use crate::common::*;
use custos::clock::{Clock, ManualClock};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::datetime;

/// The text of the element with id `id` (its tags dropped), or "" when
/// the page has no such element.
fn element_text(html: &str, id: &str) -> String {
    let Some(at) = html.find(&format!("id=\"{id}\"")) else { return String::new() };
    let open = html[..at].rfind('<').unwrap();
    let name: String = html[open + 1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    let (mut depth, mut i) = (0usize, open);
    let end = loop {
        let next_open = html[i..].find(&format!("<{name}")).map(|k| k + i);
        let next_close = html[i..].find(&format!("</{name}>")).map(|k| k + i).unwrap();
        match next_open {
            Some(o) if o < next_close => {
                depth += 1;
                i = o + 1;
            }
            _ => {
                depth -= 1;
                i = next_close + 1;
                if depth == 0 {
                    break next_close;
                }
            }
        }
    };
    let mut out = String::new();
    let mut in_tag = false;
    for c in html[open..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sales_persons_start_page_is_their_day_by_name() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-02 09:00 UTC)));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |_| {}, clock.clone()).await;
    let body = |name: &str, roles: &[&str], dept: &str| json!({"name": name, "roles": roles, "department": dept, "region": "华东"});
    let (sales_id, sales) = principal_from(&app.client, &app.base, &body("王小明", &["sales"], "华东销售部")).await;
    let (other_id, _) = principal_from(&app.client, &app.base, &body("赵敏", &["sales"], "华东销售部")).await;
    let (_, service) = principal_from(&app.client, &app.base, &body("李华", &["service"], "客服中心")).await;
    let (_, officer) = app.principal(&["compliance"], "总部").await;
    let (_, auditor) = app.principal(&["auditor"], "总部").await;
    let mine_doc = fixture(0, &sales_id);
    let (mine, subjects) = app.create_ok(&service, "service_delivery", &mine_doc).await;
    let theirs_doc = fixture(1, &other_id);
    let (theirs, _) = app.create_ok(&service, "service_delivery", &theirs_doc).await;
    let my_name = mine_doc["customer"]["name"].as_str().unwrap();
    let their_name = theirs_doc["customer"]["name"].as_str().unwrap();

    // The start page: their customer by name, grade and stage by label; not another's.
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&sales).await;
    let home = v.get("/console").await.text().await.unwrap();
    let who = element_text(&home, "who");
    assert!(
        who.contains("王小明") && !who.contains("prn_"),
        "the signed-in person by name: {who} {}",
        &home[home.find("id=\"who\"").unwrap() - 50..home.find("id=\"who\"").unwrap() + 200]
    );
    let customers = element_text(&home, "my-customers");
    assert!(customers.contains(my_name) && home.contains(&format!("href=\"/console/dossiers/{mine}\"")), "{customers}");
    assert!(!customers.contains(their_name) && !home.contains(&theirs), "another's customer is not listed");
    assert!(customers.contains("合作中") && !customers.contains(" active "), "the stage by its label: {customers}");
    assert!(element_text(&home, "follow-ups").is_empty(), "no follow-up promised yet");

    // The dossier: sections as the template, the owner by name with the id on hover.
    let page = v.get(&format!("/console/dossiers/{mine}")).await.text().await.unwrap();
    for section in ["基本信息", "联系人", "运输需求", "服务偏好", "财务与信用", "备注与标签"] {
        assert!(page.contains(&format!("<h2>{section}</h2>")), "section {section}");
    }
    let owner_row = &page[page.find("data-path=\"/owner\"").unwrap()..];
    let owner_row = &owner_row[..owner_row.find("</tr>").unwrap()];
    assert!(owner_row.contains("王小明") && owner_row.contains(&format!("title=\"{sales_id}\"")), "{owner_row}");
    assert!(!page.contains(">prn_"), "no principal shown as a bare id");

    // A visit recorded with the follow-up promised for next week: it is on the start page.
    let r = v
        .post(
            &format!("/console/dossiers/{mine}/interactions"),
            &[("kind", "visit"), ("summary", "拜访客户, 商谈冷链线路"), ("follow_up", "2026-03-09"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = v.get("/console").await.text().await.unwrap();
    let follow_ups = element_text(&home, "follow-ups");
    assert!(
        follow_ups.contains(my_name) && follow_ups.contains("2026-03-09") && follow_ups.contains("拜访"),
        "{follow_ups}"
    );
    let page = v.get(&format!("/console/dossiers/{mine}")).await.text().await.unwrap();
    assert!(element_text(&page, "summary-follow-ups").contains("2026-03-09"));
    assert!(element_text(&page, "summary-last-contact").contains("王小明"));
    // A follow-up before the visit itself is refused as the API refuses it, field named.
    let r = v
        .post(
            &format!("/console/dossiers/{mine}/interactions"),
            &[("kind", "call"), ("summary", "电话"), ("follow_up", "2026-02-01"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(element_text(&r.text().await.unwrap(), "field-errors").contains("/follow_up"));

    // Two days on, service calls the customer: the promise is met, the list is empty again.
    clock.advance(time::Duration::days(2));
    let call = json!({"kind": "call", "at": rfc3339(clock.now()), "summary": "回访, 客户满意"});
    let r = app
        .request(Method::POST, &service, "service_delivery", &format!("/v1/dossiers/{mine}/interactions"), Some(call))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut v = Visitor::new(&app.base);
    v.sign_in(&sales).await;
    let home = v.get("/console").await.text().await.unwrap();
    assert!(element_text(&home, "follow-ups").is_empty(), "met by the later contact");
    assert!(element_text(&home, "my-customers").contains("2026-03-04T09:00:00Z"), "service's call is the last contact");

    // The dossier's page lists the newest interactions: 22 calls later, the
    // table holds the last 20 and the summary the latest contact.
    clock.advance(time::Duration::hours(1));
    for k in 0..22 {
        let at = rfc3339(clock.now() - time::Duration::minutes(30 - k));
        let kind = if k == 21 { "complaint" } else { "call" };
        let body = json!({"kind": kind, "at": at, "summary": format!("电话 {k}")});
        let path = format!("/v1/dossiers/{mine}/interactions");
        let r = app.request(Method::POST, &service, "service_delivery", &path, Some(body)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let mut s = Visitor::new(&app.base);
    s.sign_in(&service).await;
    let page = s.get(&format!("/console/dossiers/{mine}")).await.text().await.unwrap();
    let table = &page[page.find("id=\"interactions\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr>").count(), 21, "a header and the newest 20");
    // Calls 2 to 21 (at 09:32 to 09:51), not call 1 (09:31) or the visit.
    assert!(
        table.contains("09:51:00Z") && table.contains("09:32:00Z") && !table.contains("09:31:00Z"),
        "the newest: {table}"
    );
    assert!(element_text(&page, "summary-last-contact").contains("投诉"), "the latest contact");

    // Service regrades the customer; at the sales person's next visit the change is listed.
    let mut regraded = mine_doc.clone();
    regraded["grade"] = json!("B");
    clock.advance(time::Duration::minutes(5));
    let r = app.put(&service, "service_delivery", &format!("/v1/dossiers/{mine}"), Some("1"), &regraded).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&sales).await;
    let changes = element_text(&v.get("/console").await.text().await.unwrap(), "grade-changes");
    assert!(changes.contains(my_name) && changes.contains("A") && changes.contains("B"), "{changes}");
    // A second visit: the change was seen, it is no longer "since the last visit".
    v.post("/console/logout", &[("csrf", &csrf)]).await;
    v.sign_in(&sales).await;
    assert!(element_text(&v.get("/console").await.text().await.unwrap(), "grade-changes").is_empty());

    // Half a year on, the grade-B customer's review is overdue.
    clock.advance(time::Duration::days(190));
    let mut v = Visitor::new(&app.base);
    v.sign_in(&sales).await;
    let reviews = element_text(&v.get("/console").await.text().await.unwrap(), "reviews-due");
    assert!(reviews.contains(my_name) && reviews.contains("已逾期"), "{reviews}");

    // Every start page is one audited entry naming what it listed.
    let entries: Value =
        app.get(&auditor, None, "/v1/audit/entries?action=customer.worklist").await.json().await.unwrap();
    let all = entries["entries"].as_array().unwrap();
    assert!(all.iter().all(|e| e["outcome"] == "allow"));
    let listed: Vec<_> = all.iter().filter(|e| e["actor"] == sales_id.as_str()).collect();
    assert!(listed.len() >= 5, "{entries}");
    assert!(listed.iter().all(|e| e["reason"].as_str().unwrap().contains(&mine)));
    assert!(listed.iter().all(|e| !e["reason"].as_str().unwrap().contains(my_name)), "no name in the log");

    // The officer's day: a request received ten days ago is due within the week.
    let received = rfc3339(clock.now() - time::Duration::days(10));
    let request = json!({"subject_id": subjects[1], "kind": "access", "received_at": received, "channel": "email"});
    let r = app.request(Method::POST, &officer, "dsr", "/v1/requests", Some(request)).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let mut o = Visitor::new(&app.base);
    o.sign_in(&officer).await;
    let home = o.get("/console").await.text().await.unwrap();
    let due = element_text(&home, "requests-due");
    assert!(due.contains(&id) && due.contains("查阅复制") && !due.contains(" access "), "{due}");
    assert!(!home.contains("id=\"batches-awaiting\""), "no batch is proposed");
    // Sales has no compliance section, the officer no work list.
    assert!(!home.contains("id=\"my-customers\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analysis_charts_a_customers_months_and_the_portfolio_with_tables_and_csv() {
    let app = spawn_app().await;
    let (sales_id, sales) = app.principal(&["sales"], "华东").await;
    let (_, service) = app.principal(&["service"], "华东").await;
    // Seven customers in 华东 (a group the report shows), one in 华南 (fewer
    // than five: suppressed) and five in 华北 (suppressed too, or 华南's
    // figures would be the total less the others).
    let mut ids = Vec::new();
    for i in 0..13 {
        let mut doc = fixture(i % 3, &sales_id);
        doc["customer"]["region"] = json!(match i {
            0..7 => "华东",
            7..12 => "华北",
            _ => "华南",
        });
        ids.push(app.create_ok(&service, "service_delivery", &doc).await.0);
    }
    let did = &ids[0];
    for (month, orders, returns) in [("2026-01", 120, 3), ("2026-02", 95, 1)] {
        let body = json!({"orders": orders, "amount": 45000.5, "returns": returns, "on_time_rate": 0.965});
        let path = format!("/v1/dossiers/{did}/figures/{month}");
        let r = app.request(Method::PUT, &service, "service_delivery", &path, Some(body)).await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    // The API's explanation lists the months its inputs come from.
    let g: Value =
        app.get(&sales, Some("service_delivery"), &format!("/v1/dossiers/{did}/grade")).await.json().await.unwrap();
    assert_eq!(g["months"].as_array().map(Vec::len), Some(2), "{g}");

    let mut v = Visitor::new(&app.base);
    v.sign_in(&sales).await;
    // One customer: the dossier page links why it has its grade; there, a
    // chart, its numbers as a table, and the CSV.
    let page = v.get(&format!("/console/dossiers/{did}")).await.text().await.unwrap();
    assert!(page.contains(&format!("href=\"/console/dossiers/{did}/figures\"")));
    let page = v.get(&format!("/console/dossiers/{did}/figures")).await.text().await.unwrap();
    assert!(element_text(&page, "grade-explained").contains("级"), "the grade, by its label");
    let table = element_text(&page, "figures");
    assert!(table.contains("2026-01") && table.contains("120") && table.contains("96.5%"), "{table}");
    assert!(page.contains("<svg id=\"customer-orders\""), "charted");
    let r = v.get(&format!("/console/dossiers/{did}/figures.csv")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let csv = r.text().await.unwrap();
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        ["month,orders,amount,returns,on_time_rate", "2026-01,120,45000.50,3,0.9650", "2026-02,95,45000.50,1,0.9650"]
    );

    // The portfolio by region: 华东 counted, 华南 (one dossier) suppressed in the chart, table and CSV.
    let page = v.get("/console/analysis?by=region").await.text().await.unwrap();
    let table = element_text(&page, "portfolio-table");
    let row = |name: &str| table[table.find(name).unwrap()..].split("  ").take(4).collect::<Vec<_>>().join("|");
    assert!(row("华东").contains("7") && !row("华东").contains("少于"), "{table}");
    assert!(row("华南").contains("少于 5") && row("华北").contains("少于 5"), "{table}");
    assert!(page.contains("<svg id=\"dossiers-region\""));
    let csv = v.get("/console/analysis/report.csv?by=region").await.text().await.unwrap();
    let api = app
        .client
        .get(format!("{}/v1/reports/summary?by=region", app.base))
        .bearer_auth(&sales)
        .header("X-Purpose", "service_delivery")
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv, api, "the same CSV as the API's");
    // By stage, grades and stages by their labels; a grouping the page does not offer is refused.
    let page = v.get("/console/analysis?by=stage").await.text().await.unwrap();
    assert!(element_text(&page, "portfolio-table").contains("合作中"));
    for bad in ["owner", "bogus"] {
        assert_eq!(v.get(&format!("/console/analysis?by={bad}")).await.status(), StatusCode::BAD_REQUEST);
    }

    // The CSV export, posted: the API's export byte for byte; bad filters and forged fields refused.
    let form = v.get("/console/export").await.text().await.unwrap();
    assert!(form.contains("id=\"export-form\""));
    let csrf = form_value(&form, "csrf");
    let r = v.post("/console/export", &[("grade", "A"), ("status", ""), ("region", "华东"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let csv = r.text().await.unwrap();
    let api = app
        .client
        .get(format!("{}/v1/dossiers/export?format=csv&grade=A&region=%E5%8D%8E%E4%B8%9C", app.base))
        .bearer_auth(&sales)
        .header("X-Purpose", "service_delivery")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv, api);
    assert!(csv.lines().count() > 1, "{csv}");
    let r = v.post("/console/export", &[("grade", "Z"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = v.post("/console/export", &[("owner", &sales_id), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = v.post("/console/export", &[("grade", "A")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_approves_a_token_from_the_start_page_seeing_whom_it_is_for() {
    let app = spawn_app().await;
    let (_, sales) = app.principal(&["sales"], "华东").await;
    let second = second_admin(&app.client, &app.base, false).await;
    // The first admin asks for a token for a new employee.
    let body = json!({"name": "陈新", "roles": ["sales"], "department": "华南销售部", "region": "华南"});
    let r = app
        .client
        .post(format!("{}/v1/principals", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let r = app
        .client
        .post(format!("{}/v1/principals/{id}/tokens", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let asked: Value = r.json().await.unwrap();
    let (token_id, first_half) = (asked["token_id"].as_str().unwrap(), asked["enrollment_code_part"].as_str().unwrap());

    // The second admin's start page: the token, with whom it is for by name, role and department.
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&second).await;
    let home = v.get("/console").await.text().await.unwrap();
    let awaiting = element_text(&home, "tokens-awaiting");
    assert!(awaiting.contains("陈新") && awaiting.contains("销售") && awaiting.contains("华南销售部"), "{awaiting}");
    assert!(element_text(&home, "principals").contains("陈新"));
    // Approved from the page: the approving half of the code, shown once.
    let r = v.post(&format!("/console/tokens/{token_id}/approve"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    let second_half = element_text(&page, "code-part").trim().to_owned();
    assert!(element_text(&page, "token-approved").contains("陈新"));
    // The new employee enrolls with the two halves, and the token works.
    let token = enroll(&app.client, &app.base, &format!("{first_half}{second_half}")).await;
    assert!(!token.is_empty());
    assert!(
        !element_text(&v.get("/console").await.text().await.unwrap(), "tokens-awaiting").contains("陈新"),
        "no longer waiting"
    );
    // Approving again is refused by the use case, in the page; sales may not approve at all.
    let r = v.post(&format!("/console/tokens/{token_id}/approve"), &[("csrf", &csrf)]).await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let mut s = Visitor::new(&app.base);
    let csrf = s.sign_in(&sales).await;
    let r = s.post(&format!("/console/tokens/{token_id}/approve"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!s.get("/console").await.text().await.unwrap().contains("id=\"tokens-awaiting\""));
}
