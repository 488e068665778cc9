//! Customer management through the real server with an injected clock:
//! interactions, monthly figures and the grading they drive (explained,
//! overridden, reproducible from the audit entry), periodic review by
//! grade, and the summary report with small cells suppressed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::macros::datetime;

const T0: time::OffsetDateTime = datetime!(2026-12-01 09:00 UTC);

fn world() -> WorldBuilder {
    World::customer_desk(T0)
}

impl World {
    /// Fixture `i` in 华东, owned by `owner`, created by service.
    async fn dossier(&self, i: usize, owner: &str) -> (String, Vec<String>) {
        let mut body = fixture(i, owner);
        body["customer"]["region"] = json!("华东");
        self.app.create_ok(self.token("service"), "service_delivery", &body).await
    }

    async fn figures(&self, did: &str, month: &str, orders: u64, amount: f64, returns: u64) -> (StatusCode, Value) {
        let body = json!({"orders": orders, "amount": amount, "returns": returns, "on_time_rate": 0.97});
        self.call(
            Method::PUT,
            self.token("service"),
            "service_delivery",
            &format!("/v1/dossiers/{did}/figures/{month}"),
            Some(body),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactions_are_recorded_by_the_right_staff_sealed_masked_and_erased_with_the_person() {
    let w = world().start().await;
    w.app.assess(&["credit_assessment"], &["sensitive_data", "automated_decision"]).await;
    let (did, subjects) = w.dossier(0, w.id("sales")).await;
    let path = format!("/v1/dossiers/{did}/interactions");
    let call = json!({"kind": "call", "at": rfc3339(T0), "summary": "张伟 asked about cold-chain rates to 成都",
        "contact": subjects[0], "satisfaction": 4});
    let (status, v) = w.call(Method::POST, w.token("sales"), "service_delivery", &path, Some(call.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["summary_shown"], "clear", "the writer gets back what they wrote");
    let visit =
        json!({"kind": "follow_up", "at": rfc3339(T0), "summary": "回访: delivery times fine", "satisfaction": 5});
    let (status, _) = w.call(Method::POST, w.token("service"), "service_delivery", &path, Some(visit)).await;
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
        w.call(Method::POST, w.token("finance"), "credit_assessment", &path, Some(call.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    // Bad input: 422 naming the field.
    let mut bad = call.clone();
    bad["satisfaction"] = json!(6);
    assert_eq!(
        w.call(Method::POST, w.token("sales"), "service_delivery", &path, Some(bad)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let mut future = call.clone();
    future["at"] = json!(rfc3339(T0 + time::Duration::days(2)));
    let (status, p) = w.call(Method::POST, w.token("sales"), "service_delivery", &path, Some(future)).await;
    assert_eq!((status, p["errors"][0]["path"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("/at")), "{p}");
    let mut stranger = call.clone();
    stranger["contact"] = json!("sub_00000000000000000000000000");
    let (status, p) = w.call(Method::POST, w.token("sales"), "service_delivery", &path, Some(stranger)).await;
    assert_eq!((status, p["errors"][0]["path"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("/contact")));

    // Summaries are confidential: masked for sales, clear for finance (but a
    // person's summary no clearer than finance sees that person: masked).
    let (_, page) = w.call(Method::GET, w.token("sales"), "service_delivery", &path, None).await;
    let list = page["interactions"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!((list[0]["summary"].as_str(), list[0]["summary_shown"].as_str()), (Some("***"), Some("masked")));
    assert_eq!(list[0]["kind"], "call");
    assert_eq!(list[1]["kind"], "follow_up");
    let (_, page) = w.call(Method::GET, w.token("finance"), "credit_assessment", &path, None).await;
    let list = page["interactions"].as_array().unwrap();
    assert_eq!(list[0]["summary_shown"], "masked", "{page}");
    assert_eq!(list[1]["summary"], "回访: delivery times fine");
    let (_, page) = w.call(Method::GET, w.token("sales"), "service_delivery", &format!("{path}?limit=1"), None).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) = w
        .call(Method::GET, w.token("sales"), "service_delivery", &format!("{path}?limit=1&cursor={cursor}"), None)
        .await;
    assert_eq!(next["interactions"][0]["kind"], "follow_up");
    assert!(next["next_cursor"].is_null());
    let entries = w.app.audit(w.token("officer"), &format!("resource={did}&action=interaction.create")).await;
    assert_eq!(entries.iter().filter(|e| e["outcome"] == "allow").count(), 2);
    assert!(entries.iter().all(|e| !e["reason"].as_str().unwrap().contains("cold-chain")), "no text in the log");
    assert!(files_containing(&w.app.data_dir(), "cold-chain").is_empty(), "sealed at rest");

    // The person's export holds the interaction that names them.
    let req = w.app.verified_request(w.token("officer"), w.id("officer"), &subjects[0], "access", w.now()).await;
    let export_path = format!("/v1/subjects/{}/export?request={req}", subjects[0]);
    let (_, export) = w.call(Method::GET, w.token("officer"), "dsr", &export_path, None).await;
    let theirs = &export["dossiers"][0]["interactions"];
    assert_eq!(theirs.as_array().unwrap().len(), 1, "{export}");
    assert_eq!(theirs[0]["summary"], "张伟 asked about cold-chain rates to 成都");
    // Summaries are searchable like the remarks.
    let hits = |q: &'static str| {
        let w = &w;
        async move {
            let r: Value = w
                .app
                .get(w.token("sales"), Some("service_delivery"), &format!("/v1/search?q={q}"))
                .await
                .json()
                .await
                .unwrap();
            r["hits"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(hits("rates").await, vec![did.clone()]);
    assert_eq!(hits("times").await, vec![did.clone()]);
    // Erasing the person shreds the summary that names them.
    let (status, _) = w
        .call(
            Method::POST,
            w.token("officer"),
            "dsr",
            &format!("/v1/subjects/{}/erasure", subjects[0]),
            Some(json!({"reason": "objection"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = w.call(Method::GET, w.token("finance"), "credit_assessment", &path, None).await;
    assert_eq!(page["interactions"][0]["summary_shown"], "erased", "{page}");
    assert!(page["interactions"][0]["summary"].is_null());
    assert!(hits("rates").await.is_empty(), "out of the index with the person");
    assert_eq!(hits("times").await, vec![did.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_drive_a_grade_that_is_explained_reproducible_and_overridable() {
    let w = world().start().await;
    w.app.assess(&["credit_assessment"], &["sensitive_data", "automated_decision"]).await;
    let (did, _) = w.dossier(0, w.id("service")).await;
    // Two years on, twelve months of steady figures: grade A by rule 1.
    w.clock().advance(time::Duration::days(2 * 366));
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
        w.call(Method::GET, w.token("service"), "service_delivery", &format!("/v1/dossiers/{did}/grade"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((g["grade"].as_str(), g["decided_by"].as_str()), (Some("A"), Some("rules")), "{g}");
    assert_eq!(g["computed"]["rule"], "rule 1 (A)");
    assert_eq!(g["inputs"]["orders"], 300);
    assert_eq!(g["inputs"]["active_months"], 12);
    assert_eq!(g["inputs"]["credit"], "***", "service sees the credit rating masked");
    let (_, g) =
        w.call(Method::GET, w.token("finance"), "credit_assessment", &format!("/v1/dossiers/{did}/grade"), None).await;
    assert_eq!(g["inputs"]["credit"], "良好");
    // The audit entry of the change reproduces it: inputs and the rule set's hash.
    let rules_hash = hex::encode(Sha256::digest(std::fs::read(policies_dir().join("grading.toml")).unwrap()));
    let graded = w.app.audit(w.token("officer"), &format!("resource={did}&action=dossier.grade")).await;
    let last = graded.last().unwrap()["reason"].as_str().unwrap().to_owned();
    // It became A with the tenth month: 250 orders in 10 active months.
    assert!(
        last.contains("→A by rule 1 (A)") && last.contains("orders=250 active_months=10") && last.contains(&rules_hash),
        "{last}"
    );
    assert_eq!(graded.last().unwrap()["actor"], "system");
    let d: Value = w
        .app
        .get(w.token("service"), Some("service_delivery"), &format!("/v1/dossiers/{did}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["grade"], "A");

    // A future month, bad numbers: 422.
    let (status, _) = w.figures(&did, &month(-2), 1, 1.0, 0).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = w.figures(&did, &month(1), 1, 1.0, 2).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "more returns than orders");

    // A manual grade needs a reason, wins over the rules until the figures change.
    let path = format!("/v1/dossiers/{did}/grade");
    let (status, _) = w
        .call(Method::POST, w.token("service"), "service_delivery", &path, Some(json!({"grade": "C", "reason": " "})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = w
        .call(Method::POST, w.token("sales"), "service_delivery", &path, Some(json!({"grade": "C", "reason": "x"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "sales do not update dossiers");
    let body = json!({"grade": "C", "reason": "payment dispute pending"});
    let (status, v) = w.call(Method::POST, w.token("service"), "service_delivery", &path, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert!(w.app.archive().customers().regrade_all(false).await.unwrap().is_empty(), "the override wins over the job");
    let (_, g) = w.call(Method::GET, w.token("finance"), "credit_assessment", &path, None).await;
    assert_eq!((g["grade"].as_str(), g["decided_by"].as_str()), (Some("C"), Some("override")), "{g}");
    assert_eq!(g["override"]["reason"], "payment dispute pending");
    assert_eq!(g["computed"]["grade"], "A", "what the rules would give is still shown");
    // New figures: the override lapses and the rules decide again.
    let (status, _) = w.figures(&did, &month(1), 30, 120_000.0, 0).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, g) = w.call(Method::GET, w.token("service"), "service_delivery", &path, None).await;
    assert_eq!((g["grade"].as_str(), g["decided_by"].as_str()), (Some("A"), Some("rules")), "{g}");
    assert_eq!(g["override"]["active"], false);

    // A dossier without figures keeps its grade.
    let (other, _) = w.dossier(1, w.id("service")).await;
    assert!(w.app.archive().customers().regrade_all(true).await.unwrap().iter().all(|c| c.dossier.as_str() != other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_fall_due_by_grade_and_a_lost_contact_falls_due_for_erasure() {
    let w = world().start().await;
    let (a, subjects) = w.dossier(0, w.id("sales")).await; // grade A: quarterly
    let (c, _) = w.dossier(2, w.id("sales")).await; // grade C: yearly
    let due = |token: String| {
        let w = &w;
        async move { w.call(Method::GET, &token, "service_delivery", "/v1/reviews/due", None).await.1 }
    };
    assert!(due(w.token("sales").to_owned()).await["reviews"].as_array().unwrap().is_empty());
    w.clock().advance(time::Duration::days(100));
    let list = due(w.token("sales").to_owned()).await;
    let list = list["reviews"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "only the A dossier is past its quarter: {list:?}");
    assert_eq!((list[0]["dossier"].as_str(), list[0]["overdue"].as_bool()), (Some(a.as_str()), Some(true)));
    assert_eq!(list[0]["cycle"], "3m");
    assert_eq!(w.app.archive().customers().count_overdue_reviews().await.unwrap(), 1);
    let metrics = w.app.client.get(format!("{}/metrics", w.app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("custos_reviews_overdue 1") || metrics.contains("reviews_overdue 1"), "{metrics}");
    let (_, other_sales) = w.app.principal(&["sales"], "华东").await;
    assert!(due(other_sales).await["reviews"].as_array().unwrap().is_empty(), "not theirs");

    // A review: the dossier leaves the list until its next quarter.
    let path = format!("/v1/dossiers/{a}/reviews");
    let (status, r) = w
        .call(
            Method::POST,
            w.token("sales"),
            "service_delivery",
            &path,
            Some(json!({"outcome": "confirmed", "note": "all current"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert!(due(w.token("sales").to_owned()).await["reviews"].as_array().unwrap().is_empty());
    let (status, _) = w
        .call(
            Method::POST,
            w.token("sales"),
            "service_delivery",
            &path,
            Some(json!({"outcome": "contact_lost", "note": "left"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "contact_lost names the contact");
    let lost = json!({"outcome": "contact_lost", "note": "张伟 left the company", "contact": subjects[0]});
    let (status, _) = w.call(Method::POST, w.token("sales"), "service_delivery", &path, Some(lost)).await;
    assert_eq!(status, StatusCode::CREATED);
    // Thirty days on, the contact-lost rule makes the person's erasure due.
    w.clock().advance(time::Duration::days(31));
    let (_, due_items) = w.call(Method::GET, w.token("officer"), "legal_compliance", "/v1/disposition/due", None).await;
    let items = due_items["items"].as_array().unwrap();
    assert!(
        items.iter().any(|i| i.to_string().contains(&subjects[0]) && i.to_string().contains("contact-lost")),
        "{due_items}"
    );
    // The C dossier falls due after a year.
    w.clock().advance(time::Duration::days(240));
    let list = due(w.token("sales").to_owned()).await;
    assert!(list["reviews"].as_array().unwrap().iter().any(|r| r["dossier"] == c.as_str()), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_report_aggregates_without_personal_values_and_suppresses_small_cells() {
    let w = world().start().await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(w.dossier(i % 3, w.id("sales")).await.0);
    }
    let mut far = fixture(4, w.id("sales"));
    far["customer"]["region"] = json!("华南");
    let (_, far_service) = w.app.principal(&["service"], "华南").await;
    w.app.create_ok(&far_service, "service_delivery", &far).await;
    // Five in 华北: the smallest group above the minimum, left out with
    // 华南 so that 华南's figures are not the difference between another
    // grouping's total and the groups shown (complementary suppression).
    let (_, north_service) = w.app.principal(&["service"], "华北").await;
    for i in 5..10 {
        let mut north = fixture(i, w.id("sales"));
        north["customer"]["region"] = json!("华北");
        w.app.create_ok(&north_service, "service_delivery", &north).await;
    }
    let (status, f) = w.figures(&ids[0], "2026-10", 40, 50_000.0, 2).await;
    assert_eq!(status, StatusCode::CREATED, "{f}");
    let itr = json!({"kind": "complaint", "at": rfc3339(T0), "summary": "late pickup", "satisfaction": 2});
    w.call(
        Method::POST,
        w.token("sales"),
        "service_delivery",
        &format!("/v1/dossiers/{}/interactions", ids[1]),
        Some(itr),
    )
    .await;

    let (status, r) =
        w.call(Method::GET, w.token("officer"), "legal_compliance", "/v1/reports/summary?by=region", None).await;
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
    let north = rows.iter().find(|x| x["group"] == "华北").unwrap();
    assert_eq!(north["suppressed"], true, "the complement of 华南: suppressed too");
    let text = r.to_string();
    for secret in ["张伟", "13912345688", "late pickup", "zhang.wei"] {
        assert!(!text.contains(secret), "{secret} in the report");
    }
    // By grade, as CSV; sales see their own only; admin nothing.
    let csv = w.app.get_csv(w.token("sales"), "/v1/reports/summary?by=industry").await;
    assert!(csv.starts_with("group,suppressed,dossiers,orders,amount"), "{csv}");
    // The sales user owns all twelve (each industry under five dossiers, or
    // left out with them).
    assert!(csv.lines().count() > 1, "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.contains(",true,")), "{csv}");
    let (status, _) =
        w.call(Method::GET, w.token("sales"), "service_delivery", "/v1/reports/summary?by=colour", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let r = w.app.get(ADMIN_TOKEN, None, "/v1/reports/summary?by=grade").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)).unwrap()
}

impl World {
    async fn import(&self, token: &str, body: Vec<u8>, media: &str, query: &str) -> (StatusCode, Value) {
        self.app.import(token, body, media, query).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spreadsheet_imports_idempotently_with_row_errors_that_name_no_value() {
    let w = world().start().await;
    let csv = sample("customers-sample.csv");
    // A dry run changes nothing.
    let (status, r) = w.import(w.token("service"), csv.clone(), "text/csv", "?dry_run=true&notice=2025-01").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        (r["rows"].as_u64(), r["created"].as_u64(), r["failed"].as_u64()),
        (Some(300), Some(300), Some(0)),
        "{r}"
    );
    assert_eq!(r["results"][0]["action"], "would_create");
    let (_, again) = w.import(w.token("service"), csv.clone(), "text/csv", "?dry_run=true&notice=2025-01").await;
    assert_eq!(again["created"], 300, "the dry run created nothing");

    let (status, r) = w.import(w.token("service"), csv.clone(), "text/csv", "?notice=2025-01").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((r["created"].as_u64(), r["failed"].as_u64()), (Some(300), Some(0)), "{}", r["errors"]);
    let created: Vec<String> =
        r["results"].as_array().unwrap().iter().map(|x| x["dossier"].as_str().unwrap().to_owned()).collect();
    let first = created[0].clone();
    let d: Value = w
        .app
        .get(w.token("officer"), Some("legal_compliance"), &format!("/v1/dossiers/{first}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(d["customer"]["name"].as_str().unwrap().ends_with("0000有限公司"), "{d}");
    assert_eq!(d["status"], "closed", "已终止 is closed");
    assert_eq!(d["grade"], "C", "低 is C");
    assert_eq!(d["transport"]["volume"], "4519", "年订单量");
    // The same sheet again updates nothing; as a workbook too (its phone
    // numbers are numbers). Service may change (and so learn about) only its
    // own region's dossiers: the rows of the others fail without naming
    // them (docs/security.md, round 2).
    let text = String::from_utf8(csv.clone()).unwrap();
    let east_rows = |n: usize| text.lines().skip(1).take(n).filter(|l| l.contains(",华东,")).count() as u64;
    let (_, r) = w.import(w.token("service"), csv.clone(), "text/csv", "?notice=2025-01").await;
    assert_eq!(
        (r["created"].as_u64(), r["unchanged"].as_u64(), r["failed"].as_u64()),
        (Some(0), Some(east_rows(300)), Some(300 - east_rows(300))),
        "{r}"
    );
    assert!(east_rows(300) > 0);
    let xlsx = sample("customers-sample.xlsx");
    let media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    let (status, r) = w.import(w.token("service"), xlsx, media, "?notice=2025-01").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["rows"].as_u64(), r["unchanged"].as_u64()), (Some(100), Some(east_rows(100))), "{r}");
    // A changed row updates its dossier (a new version), keeping the person;
    // service may change only its own region's (华东).
    let data: Vec<&str> = text.lines().skip(1).collect();
    let k = data.iter().position(|l| l.contains(",华东,")).unwrap();
    let east = created[k].clone();
    let role =
        ["采购经理", "物流主管", "总经理", "财务经理", "仓储主管"].into_iter().find(|r| data[k].contains(r)).unwrap();
    let changed = format!("{}\n{}", text.lines().next().unwrap(), data[k].replace(role, "物流总监"));
    let (_, r) = w.import(w.token("service"), changed.into_bytes(), "text/csv", "?notice=2025-01").await;
    assert_eq!(r["updated"], 1, "{r}");
    let d: Value =
        w.app.get(w.token("officer"), Some("dsr"), &format!("/v1/dossiers/{east}")).await.json().await.unwrap();
    assert_eq!((d["version"].as_u64(), d["contacts"].as_array().unwrap().len()), (Some(2), 1), "{d}");
    assert_eq!(d["contacts"][0]["role"], "物流总监");

    // Bad rows: each error names its row and column, never the value.
    let bad = "客户名称,统一社会信用代码,地区,合作阶段,联系人,电话\n\
               好公司,91310000MA1FL0XX1X,华东,合作中,钱七,13800000000\n\
               ,91310000MA1FL0XX2Y,华东,合作中,孙八,13800000001\n\
               坏电话公司,91310000MA1FL0XX3Y,华东,合作中,周九,not-a-phone-555\n\
               阶段公司,91310000MA1FL0XX4A,华东,明天,吴十,\n\
               重复公司,91310000MA1FL0XX1X,华东,合作中,郑一,\n";
    let (status, r) = w.import(w.token("service"), bad.as_bytes().to_vec(), "text/csv", "?notice=2025-01").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((r["created"].as_u64(), r["failed"].as_u64()), (Some(1), Some(4)), "{r}");
    let errors: Vec<(u64, String)> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["column"].as_str().unwrap().to_owned()))
        .collect();
    assert!(errors.contains(&(3, "客户名称".into())), "{errors:?}");
    assert!(errors.contains(&(4, "电话".into())), "{errors:?}");
    assert!(errors.contains(&(5, "合作阶段".into())), "{errors:?}");
    assert!(errors.contains(&(6, "统一社会信用代码".into())), "{errors:?}");
    assert!(!r.to_string().contains("not-a-phone"), "no value in the report");
    let audited = w.app.audit(w.token("officer"), "action=import.row&outcome=error").await;
    assert!(audited.last().unwrap()["reason"].as_str().unwrap().contains("row 4 电话"), "{audited:?}");
    assert!(!audited.iter().any(|e| e.to_string().contains("not-a-phone")));
    // A sheet with a month's figures records them with the dossier.
    let monthly = "客户名称,统一社会信用代码,地区,月份,订单数,金额,退货数,准时率\n\
                   月报公司,91310000MA1FL0XX5B,华东,2026-11,42,88000.5,1,96%\n\
                   坏月份公司,91310000MA1FL0XX6C,华东,下个月,x,,,\n";
    let (_, r) = w.import(w.token("service"), monthly.as_bytes().to_vec(), "text/csv", "?notice=2025-01").await;
    assert_eq!((r["created"].as_u64(), r["failed"].as_u64()), (Some(1), Some(1)), "{r}");
    let columns: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["column"].as_str().unwrap()).collect();
    assert_eq!(columns, ["月份", "订单数"], "{r}");
    let did = r["results"][0]["dossier"].as_str().unwrap();
    let (_, g) =
        w.call(Method::GET, w.token("service"), "service_delivery", &format!("/v1/dossiers/{did}/grade"), None).await;
    assert_eq!((g["inputs"]["orders"].as_u64(), g["inputs"]["amount"].as_f64()), (Some(42), Some(88000.5)), "{g}");
    // Not a sheet, no name column, no purpose: refused whole.
    let (status, _) = w.import(w.token("service"), b"{}".to_vec(), "application/json", "").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, p) = w.import(w.token("service"), "电话\n123\n".as_bytes().to_vec(), "text/csv", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let (status, _) = w.import(&w.auditor_token().await, sample("customers-sample.csv"), "text/csv", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

impl World {
    async fn auditor_token(&self) -> String {
        self.app.principal(&["auditor"], "").await.1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_list_exports_as_csv_with_only_what_they_may_see() {
    let w = world().start().await;
    w.dossier(0, w.id("sales")).await; // two contacts
    w.dossier(1, w.id("sales")).await;
    let r = w.app.get(w.token("sales"), Some("service_delivery"), "/v1/dossiers/export?format=csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let headers = rows.headers().unwrap().clone();
    assert_eq!(&headers[0], "id");
    assert_eq!(&headers[1], "客户名称");
    let credit = headers.iter().position(|h| h == "信用评级").unwrap();
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3, "one row per contact person: {text}");
    assert!(records.iter().all(|r| &r[credit] == "***"), "sales see the credit rating masked: {text}");
    assert!(text.contains("张伟") && text.contains("13912345688"), "sales see their contacts: {text}");
    assert!(!text.contains("310101198503071234"), "no sensitive value");
    let reads = w.app.audit(w.token("officer"), "action=dossier.read").await;
    assert_eq!(reads.len(), 2, "every dossier read audited");
    // Another salesperson's list is empty; over the bulk limit is a 409.
    let (_, other) = w.app.principal(&["sales"], "华东").await;
    let text =
        w.app.get(&other, Some("service_delivery"), "/v1/dossiers/export?format=csv").await.text().await.unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let (status, r) = w.import(w.token("service"), sample("customers-sample.csv"), "text/csv", "?notice=2025-01").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let r = w.app.get(w.token("officer"), Some("legal_compliance"), "/v1/dossiers/export?format=csv").await;
    let p = assert_problem(r, StatusCode::CONFLICT).await;
    assert!(p["detail"].as_str().unwrap().contains("POST /v1/exports"), "{p}");
    let r = w.app.get(w.token("sales"), Some("service_delivery"), "/v1/dossiers/export?format=xml").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custos_import_sends_a_workbook_with_a_mapping_and_reports_per_row() {
    let w = world().start().await;
    let dir = tempfile::tempdir().unwrap();
    // A sheet with the company's own headers, mapped.
    let sheet = dir.path().join("crm.csv");
    std::fs::write(&sheet, "Company,Area,Person,Mobile\n甲物流,华东,钱七,13800000000\n乙物流,华东,孙八,bad\n").unwrap();
    let mapping = dir.path().join("map.toml");
    std::fs::write(&mapping, "[columns]\nCompany = \"customer.name\"\nArea = \"customer.region\"\nPerson = \"contact.name\"\nMobile = \"contact.phone\"\n").unwrap();
    let out = std::process::Command::new(custos_bin())
        .args(["import", "--file"])
        .arg(&sheet)
        .arg("--mapping")
        .arg(&mapping)
        .args(["--url", &w.app.base, "--notice", "2025-01"])
        .env("CUSTOS_TOKEN", w.token("service"))
        .env("CI", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "one row failed: {stdout}{stderr}");
    assert!(stdout.contains("2 row(s)") && stdout.contains("1 created") && stdout.contains("1 failed"), "{stdout}");
    assert!(stderr.contains("row 3, column contact.phone"), "{stderr}");
    assert!(!stderr.contains("bad"), "{stderr}");
    // The workbook, dry run.
    let xlsx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/customers-sample.xlsx");
    let out = std::process::Command::new(custos_bin())
        .args(["import", "--dry-run", "--file"])
        .arg(&xlsx)
        .args(["--url", &w.app.base, "--notice", "2025-01"])
        .env("CUSTOS_TOKEN", w.token("service"))
        .env("CI", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("100 row(s)") && stdout.contains("100 created") && stdout.contains("dry run"), "{stdout}");
    // A bad token: a clear message, exit 2.
    let out = std::process::Command::new(custos_bin())
        .args(["import", "--file"])
        .arg(&sheet)
        .args(["--url", &w.app.base, "--token", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the import (401)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_text_holding_personal_values_is_refused_naming_the_kind_never_the_value() {
    let w = world().start().await;
    let mut body = fixture(0, w.id("sales"));
    body["customer"]["region"] = json!("华东");
    let values = ["13912345688", "11010519491231002X", "6222020200112233446", "糖尿病"];
    for (remarks, kind) in [
        ("法人手机 139 1234 5688,急事可打", "a mobile number"),
        ("法人身份证 11010519491231002X", "an ID number"),
        ("回款卡号 6222020200112233446", "a bank card number"),
        ("司机有糖尿病,注意排班", "a special-category term (health)"),
    ] {
        body["remarks"] = json!(remarks);
        let (status, v) =
            w.call(Method::POST, w.token("service"), "service_delivery", "/v1/dossiers", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{remarks}: {v}");
        assert_eq!(v["errors"][0]["path"], "/remarks", "{v}");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains(kind), "{v}");
        assert!(values.iter().all(|x| !v.to_string().contains(x)), "the value is never echoed: {v}");
    }
    // Business text passes; an update is screened as a create is.
    body["remarks"] = json!("月均 2000 吨冷链,订单 SO2026120600123 已签收");
    let (status, made) =
        w.call(Method::POST, w.token("service"), "service_delivery", "/v1/dossiers", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let did = made["id"].as_str().unwrap().to_owned();
    let mut next = body.clone();
    next["remarks"] = json!("财务邮箱 zhang.wei@example.com.cn");
    let r = w.app.put(w.token("service"), "service_delivery", &format!("/v1/dossiers/{did}"), Some("1"), &next).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["errors"][0]["path"].as_str(), v["errors"].as_array().unwrap().len()), (Some("/remarks"), 1), "{v}");

    // A summary may say how to reach the person it was with, not their ID
    // number: it is then sealed as that person's own data, so it must name them.
    let path = format!("/v1/dossiers/{did}/interactions");
    let ok = json!({"kind": "call", "at": rfc3339(T0), "summary": "回电 13912345688 确认提货时间", "satisfaction": 4,
        "contact": made["subjects"][0]});
    let (status, v) = w.call(Method::POST, w.token("service"), "service_delivery", &path, Some(ok)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let unnamed = json!({"kind": "call", "at": rfc3339(T0), "summary": "回电 13912345688 确认提货时间"});
    let (status, v) = w.call(Method::POST, w.token("service"), "service_delivery", &path, Some(unnamed)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"][0]["path"], "/summary", "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("name the contact"), "{v}");
    assert!(!v.to_string().contains("13912345688"), "{v}");
    let bad = json!({"kind": "call", "at": rfc3339(T0), "summary": "核对身份证 11010519491231002X", "satisfaction": 4});
    let (status, v) = w.call(Method::POST, w.token("service"), "service_delivery", &path, Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"][0]["path"], "/summary", "{v}");

    // The refusals are audited without the values.
    let log = Value::Array(w.app.audit(w.token("officer"), "outcome=error").await).to_string();
    assert!(log.contains("dossier.create") && log.contains("interaction.create"), "{log}");
    assert!(values.iter().all(|x| !log.contains(x)), "no value in the audit log");
}

/// GDPR Art. 9; PIPL Art. 28 (`policies/screening.toml`, `seal`): a summary
/// that says how to reach the person it was with is kept sealed as that
/// person's own data: not found by search, shown no more than their own
/// fields, and read as erased once they are erased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_holding_a_persons_number_is_sealed_as_theirs_unsearchable_and_erased_with_them() {
    let w = world().start().await;
    let (did, subjects) = w.dossier(0, w.id("sales")).await;
    let path = format!("/v1/dossiers/{did}/interactions");
    let number = "13655551234";
    let said = json!({"kind": "call", "at": rfc3339(T0), "summary": format!("客户改用手机 {number} 联系"),
        "contact": subjects[1], "satisfaction": 4});
    let (status, v) = w.call(Method::POST, w.token("sales"), "service_delivery", &path, Some(said)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert!(v["summary"].as_str().unwrap().contains(number), "the writer is shown what they wrote: {v}");
    let plain = json!({"kind": "call", "at": rfc3339(T0), "summary": "验收单 已确认", "contact": subjects[1]});
    let (status, _) = w.call(Method::POST, w.token("sales"), "service_delivery", &path, Some(plain)).await;
    assert_eq!(status, StatusCode::CREATED);
    let search = |q: &str| format!("/v1/search?q={q}");
    let (_, found) = w.call(Method::GET, w.token("sales"), "service_delivery", &search(number), None).await;
    assert_eq!(found["hits"].as_array().unwrap().len(), 0, "a sealed summary is not indexed: {found}");
    let (_, found) = w.call(Method::GET, w.token("sales"), "service_delivery", &search("验收单"), None).await;
    assert_eq!(found["hits"].as_array().unwrap().len(), 1, "an ordinary summary still is: {found}");
    let created = w.app.audit(w.token("officer"), &format!("resource={did}&action=interaction.create")).await;
    let reasons = Value::Array(created).to_string();
    assert!(
        reasons.contains("sealed as the person's own data (a mobile number)") && !reasons.contains(number),
        "{reasons}"
    );

    // Listed as the read plan decides while the person is on record (a
    // summary is confidential: masked for sales); gone with them.
    let (_, list) = w.call(Method::GET, w.token("sales"), "service_delivery", &path, None).await;
    let shown: Vec<&str> =
        list["interactions"].as_array().unwrap().iter().map(|i| i["summary_shown"].as_str().unwrap()).collect();
    assert_eq!(shown, ["masked", "masked"], "{list}");
    assert!(!list.to_string().contains(number), "{list}");
    let erase = format!("/v1/subjects/{}/erasure", subjects[1]);
    let (status, v) =
        w.call(Method::POST, w.token("officer"), "dsr", &erase, Some(json!({"reason": "objection"}))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (_, list) = w.call(Method::GET, w.token("sales"), "service_delivery", &path, None).await;
    assert!(!list.to_string().contains(number), "{list}");
    let shown: Vec<&str> =
        list["interactions"].as_array().unwrap().iter().map(|i| i["summary_shown"].as_str().unwrap()).collect();
    assert_eq!(shown, ["erased", "erased"], "{list}");
}
