//! Customer management through the real server with an injected clock:
//! interactions, monthly figures and the grading they drive (explained,
//! overridden, reproducible from the audit entry), periodic review by
//! grade, and the summary report with small cells suppressed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use custos::clock::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use time::macros::datetime;

const T0: time::OffsetDateTime = datetime!(2026-12-01 09:00 UTC);

struct World {
    app: TestApp,
    clock: Arc<ManualClock>,
    officer: String,
    service: String,
    service_id: String,
    sales: String,
    sales_id: String,
    finance: String,
}

async fn world() -> World {
    let clock = Arc::new(ManualClock::new(T0));
    let app = spawn_app_with(
        tempfile::tempdir().unwrap(),
        |c| {
            c.retention_interval = None;
            c.grading_interval = None;
        },
        clock.clone(),
    )
    .await;
    let (_, officer) = app.principal(&["compliance"], "总部").await;
    let (service_id, service) = app.principal(&["service"], "华东").await;
    let (sales_id, sales) = app.principal(&["sales"], "华东").await;
    let (_, finance) = app.principal(&["finance"], "总部").await;
    World { app, clock, officer, service, service_id, sales, sales_id, finance }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

impl World {
    async fn call(
        &self,
        method: Method,
        token: &str,
        purpose: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let r = self.app.request(method, token, purpose, path, body).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Fixture `i` in 华东, owned by `owner`, created by service.
    async fn dossier(&self, i: usize, owner: &str) -> (String, Vec<String>) {
        let mut body = fixture(i, owner);
        body["customer"]["region"] = json!("华东");
        self.app.create_ok(&self.service, "service_delivery", &body).await
    }

    fn now(&self) -> time::OffsetDateTime {
        use custos::clock::Clock;
        self.clock.now()
    }

    async fn figures(&self, did: &str, month: &str, orders: u64, amount: f64, returns: u64) -> (StatusCode, Value) {
        let body = json!({"orders": orders, "amount": amount, "returns": returns, "on_time_rate": 0.97});
        self.call(
            Method::PUT,
            &self.service,
            "service_delivery",
            &format!("/v1/dossiers/{did}/figures/{month}"),
            Some(body),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactions_are_recorded_by_the_right_staff_sealed_masked_and_erased_with_the_person() {
    let w = world().await;
    let (did, subjects) = w.dossier(0, &w.sales_id).await;
    let path = format!("/v1/dossiers/{did}/interactions");
    let call = json!({"kind": "call", "at": rfc3339(T0), "summary": "张伟 asked about cold-chain rates to 成都",
        "contact": subjects[0], "satisfaction": 4});
    let (status, v) = w.call(Method::POST, &w.sales, "service_delivery", &path, Some(call.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["summary_shown"], "clear", "the writer gets back what they wrote");
    let visit =
        json!({"kind": "follow_up", "at": rfc3339(T0), "summary": "回访: delivery times fine", "satisfaction": 5});
    let (status, _) = w.call(Method::POST, &w.service, "service_delivery", &path, Some(visit)).await;
    assert_eq!(status, StatusCode::CREATED);

    // Who may add: sales on their own dossiers, service in their region.
    let (_, other_sales) = w.app.principal(&["sales"], "华东").await;
    assert_eq!(
        w.call(Method::POST, &other_sales, "service_delivery", &path, Some(call.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, far_service) = w.app.principal(&["service"], "华南").await;
    assert_eq!(
        w.call(Method::POST, &far_service, "service_delivery", &path, Some(call.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.call(Method::POST, &w.finance, "credit_assessment", &path, Some(call.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    // Bad input: 422 naming the field.
    let mut bad = call.clone();
    bad["satisfaction"] = json!(6);
    assert_eq!(
        w.call(Method::POST, &w.sales, "service_delivery", &path, Some(bad)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let mut future = call.clone();
    future["at"] = json!(rfc3339(T0 + time::Duration::days(2)));
    let (status, p) = w.call(Method::POST, &w.sales, "service_delivery", &path, Some(future)).await;
    assert_eq!((status, p["errors"][0]["path"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("/at")), "{p}");
    let mut stranger = call.clone();
    stranger["contact"] = json!("sub_00000000000000000000000000");
    let (status, p) = w.call(Method::POST, &w.sales, "service_delivery", &path, Some(stranger)).await;
    assert_eq!((status, p["errors"][0]["path"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("/contact")));

    // Summaries are confidential: masked for sales, clear for finance (but a
    // person's summary no clearer than finance sees that person: masked).
    let (_, page) = w.call(Method::GET, &w.sales, "service_delivery", &path, None).await;
    let list = page["interactions"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!((list[0]["summary"].as_str(), list[0]["summary_shown"].as_str()), (Some("***"), Some("masked")));
    assert_eq!(list[0]["kind"], "call");
    assert_eq!(list[1]["kind"], "follow_up");
    let (_, page) = w.call(Method::GET, &w.finance, "credit_assessment", &path, None).await;
    let list = page["interactions"].as_array().unwrap();
    assert_eq!(list[0]["summary_shown"], "masked", "{page}");
    assert_eq!(list[1]["summary"], "回访: delivery times fine");
    let (_, page) = w.call(Method::GET, &w.sales, "service_delivery", &format!("{path}?limit=1"), None).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) =
        w.call(Method::GET, &w.sales, "service_delivery", &format!("{path}?limit=1&cursor={cursor}"), None).await;
    assert_eq!(next["interactions"][0]["kind"], "follow_up");
    assert!(next["next_cursor"].is_null());
    let entries = w.app.audit(&w.officer, &format!("resource={did}&action=interaction.create")).await;
    assert_eq!(entries.iter().filter(|e| e["outcome"] == "allow").count(), 2);
    assert!(entries.iter().all(|e| !e["reason"].as_str().unwrap().contains("cold-chain")), "no text in the log");
    assert!(files_containing(&w.app.data_dir(), "cold-chain").is_empty(), "sealed at rest");

    // Erasing the person shreds the summary that names them.
    let (status, _) = w
        .call(
            Method::POST,
            &w.officer,
            "dsr",
            &format!("/v1/subjects/{}/erasure", subjects[0]),
            Some(json!({"reason": "objection"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = w.call(Method::GET, &w.finance, "credit_assessment", &path, None).await;
    assert_eq!(page["interactions"][0]["summary_shown"], "erased", "{page}");
    assert!(page["interactions"][0]["summary"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_drive_a_grade_that_is_explained_reproducible_and_overridable() {
    let w = world().await;
    let (did, _) = w.dossier(0, &w.service_id).await;
    // Two years on, twelve months of steady figures: grade A by rule 1.
    w.clock.advance(time::Duration::days(2 * 366));
    let (y, m) = (w.now().year(), u8::from(w.now().month()));
    let month = |back: i32| {
        let total = y * 12 + i32::from(m) - 1 - back;
        format!("{:04}-{:02}", total.div_euclid(12), total.rem_euclid(12) + 1)
    };
    for back in 1..=12 {
        let (status, f) = w.figures(&did, &month(back), 25, 100_000.0, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{f}");
    }
    let (status, g) =
        w.call(Method::GET, &w.service, "service_delivery", &format!("/v1/dossiers/{did}/grade"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((g["grade"].as_str(), g["decided_by"].as_str()), (Some("A"), Some("rules")), "{g}");
    assert_eq!(g["computed"]["rule"], "rule 1 (A)");
    assert_eq!(g["inputs"]["orders"], 300);
    assert_eq!(g["inputs"]["active_months"], 12);
    assert_eq!(g["inputs"]["credit"], "***", "service sees the credit rating masked");
    let (_, g) = w.call(Method::GET, &w.finance, "credit_assessment", &format!("/v1/dossiers/{did}/grade"), None).await;
    assert_eq!(g["inputs"]["credit"], "良好");
    // The audit entry of the change reproduces it: inputs and the rule set's hash.
    let rules_hash = hex::encode(Sha256::digest(std::fs::read(policies_dir().join("grading.toml")).unwrap()));
    let graded = w.app.audit(&w.officer, &format!("resource={did}&action=dossier.grade")).await;
    let last = graded.last().unwrap()["reason"].as_str().unwrap().to_owned();
    // It became A with the tenth month: 250 orders in 10 active months.
    assert!(
        last.contains("→A by rule 1 (A)") && last.contains("orders=250 active_months=10") && last.contains(&rules_hash),
        "{last}"
    );
    assert_eq!(graded.last().unwrap()["actor"], "system");
    let d: Value =
        w.app.get(&w.service, Some("service_delivery"), &format!("/v1/dossiers/{did}")).await.json().await.unwrap();
    assert_eq!(d["grade"], "A");

    // A future month, bad numbers: 422.
    let (status, _) = w.figures(&did, &month(-2), 1, 1.0, 0).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = w.figures(&did, &month(1), 1, 1.0, 2).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "more returns than orders");

    // A manual grade needs a reason, wins over the rules until the figures change.
    let path = format!("/v1/dossiers/{did}/grade");
    let (status, _) =
        w.call(Method::POST, &w.service, "service_delivery", &path, Some(json!({"grade": "C", "reason": " "}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) =
        w.call(Method::POST, &w.sales, "service_delivery", &path, Some(json!({"grade": "C", "reason": "x"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "sales do not update dossiers");
    let body = json!({"grade": "C", "reason": "payment dispute pending"});
    let (status, v) = w.call(Method::POST, &w.service, "service_delivery", &path, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert!(w.app.archive().regrade_all(false).await.unwrap().is_empty(), "the override wins over the job");
    let (_, g) = w.call(Method::GET, &w.finance, "credit_assessment", &path, None).await;
    assert_eq!((g["grade"].as_str(), g["decided_by"].as_str()), (Some("C"), Some("override")), "{g}");
    assert_eq!(g["override"]["reason"], "payment dispute pending");
    assert_eq!(g["computed"]["grade"], "A", "what the rules would give is still shown");
    // New figures: the override lapses and the rules decide again.
    let (status, _) = w.figures(&did, &month(1), 30, 120_000.0, 0).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, g) = w.call(Method::GET, &w.service, "service_delivery", &path, None).await;
    assert_eq!((g["grade"].as_str(), g["decided_by"].as_str()), (Some("A"), Some("rules")), "{g}");
    assert_eq!(g["override"]["active"], false);

    // A dossier without figures keeps its grade.
    let (other, _) = w.dossier(1, &w.service_id).await;
    assert!(w.app.archive().regrade_all(true).await.unwrap().iter().all(|c| c.dossier.as_str() != other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_fall_due_by_grade_and_a_lost_contact_falls_due_for_erasure() {
    let w = world().await;
    let (a, subjects) = w.dossier(0, &w.sales_id).await; // grade A: quarterly
    let (c, _) = w.dossier(2, &w.sales_id).await; // grade C: yearly
    let due = |token: String| {
        let w = &w;
        async move { w.call(Method::GET, &token, "service_delivery", "/v1/reviews/due", None).await.1 }
    };
    assert!(due(w.sales.clone()).await["reviews"].as_array().unwrap().is_empty());
    w.clock.advance(time::Duration::days(100));
    let list = due(w.sales.clone()).await;
    let list = list["reviews"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "only the A dossier is past its quarter: {list:?}");
    assert_eq!((list[0]["dossier"].as_str(), list[0]["overdue"].as_bool()), (Some(a.as_str()), Some(true)));
    assert_eq!(list[0]["cycle"], "3m");
    assert_eq!(w.app.archive().count_overdue_reviews().await.unwrap(), 1);
    let metrics = w.app.client.get(format!("{}/metrics", w.app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("custos_reviews_overdue 1") || metrics.contains("reviews_overdue 1"), "{metrics}");
    let (_, other_sales) = w.app.principal(&["sales"], "华东").await;
    assert!(due(other_sales).await["reviews"].as_array().unwrap().is_empty(), "not theirs");

    // A review: the dossier leaves the list until its next quarter.
    let path = format!("/v1/dossiers/{a}/reviews");
    let (status, r) = w
        .call(
            Method::POST,
            &w.sales,
            "service_delivery",
            &path,
            Some(json!({"outcome": "confirmed", "note": "all current"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert!(due(w.sales.clone()).await["reviews"].as_array().unwrap().is_empty());
    let (status, _) = w
        .call(
            Method::POST,
            &w.sales,
            "service_delivery",
            &path,
            Some(json!({"outcome": "contact_lost", "note": "left"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "contact_lost names the contact");
    let lost = json!({"outcome": "contact_lost", "note": "张伟 left the company", "contact": subjects[0]});
    let (status, _) = w.call(Method::POST, &w.sales, "service_delivery", &path, Some(lost)).await;
    assert_eq!(status, StatusCode::CREATED);
    // Thirty days on, the contact-lost rule makes the person's erasure due.
    w.clock.advance(time::Duration::days(31));
    let (_, due_items) = w.call(Method::GET, &w.officer, "legal_compliance", "/v1/disposition/due", None).await;
    let items = due_items["items"].as_array().unwrap();
    assert!(
        items.iter().any(|i| i.to_string().contains(&subjects[0]) && i.to_string().contains("contact-lost")),
        "{due_items}"
    );
    // The C dossier falls due after a year.
    w.clock.advance(time::Duration::days(240));
    let list = due(w.sales.clone()).await;
    assert!(list["reviews"].as_array().unwrap().iter().any(|r| r["dossier"] == c.as_str()), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_report_aggregates_without_personal_values_and_suppresses_small_cells() {
    let w = world().await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(w.dossier(i % 3, &w.sales_id).await.0);
    }
    let mut far = fixture(4, &w.sales_id);
    far["customer"]["region"] = json!("华南");
    let (_, far_service) = w.app.principal(&["service"], "华南").await;
    w.app.create_ok(&far_service, "service_delivery", &far).await;
    let (status, f) = w.figures(&ids[0], "2026-10", 40, 50_000.0, 2).await;
    assert_eq!(status, StatusCode::CREATED, "{f}");
    let itr = json!({"kind": "complaint", "at": rfc3339(T0), "summary": "late pickup", "satisfaction": 2});
    w.call(Method::POST, &w.sales, "service_delivery", &format!("/v1/dossiers/{}/interactions", ids[1]), Some(itr))
        .await;

    let (status, r) = w.call(Method::GET, &w.officer, "legal_compliance", "/v1/reports/summary?by=region", None).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["scope"], "all");
    let rows = r["rows"].as_array().unwrap();
    let east = rows.iter().find(|x| x["group"] == "华东").unwrap();
    assert_eq!(
        (east["dossiers"].as_u64(), east["orders"].as_u64(), east["returns"].as_u64()),
        (Some(6), Some(40), Some(2))
    );
    assert_eq!(east["interactions"]["complaint"], 1);
    assert_eq!(east["average_satisfaction"], 2.0);
    let south = rows.iter().find(|x| x["group"] == "华南").unwrap();
    assert_eq!(south["suppressed"], true, "one dossier: suppressed");
    assert!(south["dossiers"].is_null());
    let text = r.to_string();
    for secret in ["张伟", "13912345688", "late pickup", "zhang.wei"] {
        assert!(!text.contains(secret), "{secret} in the report");
    }
    // By grade, as CSV; sales see their own only; admin nothing.
    let r = w
        .app
        .client
        .get(format!("{}/v1/reports/summary?by=industry", w.app.base))
        .bearer_auth(&w.sales)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("group,suppressed,dossiers,orders,amount"), "{csv}");
    // The sales user owns all seven (four industries, each under five dossiers).
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.contains(",true,")), "{csv}");
    let (status, _) = w.call(Method::GET, &w.sales, "service_delivery", "/v1/reports/summary?by=colour", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let r = w.app.get(ADMIN_TOKEN, None, "/v1/reports/summary?by=grade").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
