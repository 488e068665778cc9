//! A working day in Chromium, role by role, and the console checked by
//! axe-core: an admin adds a person and asks for their token, a second
//! admin approves it, and the new employee enrolls by code in the browser
//! (never seeing a token); a sales person on a tablet creates a customer
//! from the start page, records a visit with a follow-up, and sees the
//! follow-up and later the review fall due there. Then every console page,
//! for each role (and the two pages before sign-in), is run through
//! axe-core (npm, injected through WebDriver): no serious or critical
//! violation; every page has its `lang`; every page fits a tablet and a
//! phone (768 and 390 px) with its controls at least 44 px tall.

use super::browser::{browser, Browser};
use crate::common::*;
use custos::clock::ManualClock;
use fantoccini::Locator;
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::datetime;

/// axe-core's script (`./dev.sh test` installs it from npm into the build
/// cache and names it in `CUSTOS_AXE_JS`).
fn axe_script() -> Option<String> {
    let path = std::env::var("CUSTOS_AXE_JS").ok()?;
    std::fs::read_to_string(path).ok()
}

/// The serious and critical axe-core violations of the page at `path`
/// (each rule with up to three of its elements), and its `lang`.
async fn axe(b: &Browser, script: &str, path: &str) -> (Vec<String>, String) {
    b.go(path).await;
    b.client.execute(script, vec![]).await.unwrap();
    let found = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done([document.documentElement.lang, r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.impact + ' ' + v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + n.html.slice(0, 100)).join(' | '))]))
               .catch(e => done(['', ['axe failed: ' + e]]));",
            vec![],
        )
        .await
        .unwrap();
    let lang = found[0].as_str().unwrap_or_default().to_owned();
    let violations = found[1].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    (violations, lang)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_roles_day_in_chromium_and_every_page_passes_axe() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-02 09:00 UTC)));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |c| c.retention_interval = None, clock.clone()).await;
    let Some(b) = browser(&app.base).await else { return };
    let script = axe_script();
    if !tool_available("axe-core (CUSTOS_AXE_JS, installed by ./dev.sh test)", script.is_some()) {
        return;
    }
    let script = script.unwrap();
    let (client, base) = (&app.client, app.base.as_str());
    let staff = |name: &str, role: &str, dept: &str| json!({"name": name, "roles": [role], "department": dept, "region": "华东"});
    let (sales_id, sales) = principal_from(client, base, &staff("王小明", "sales", "华东销售部")).await;
    let (_, service) = principal_from(client, base, &staff("李华", "service", "客户服务中心")).await;
    let (_, finance) = principal_from(client, base, &staff("孙丽", "finance", "财务部")).await;
    let (_, auditor) = principal_from(client, base, &staff("周审", "auditor", "内审部")).await;
    let (_, officer) = principal_from(client, base, &staff("陈静", "compliance", "合规部")).await;
    let second = second_admin(client, base, false).await;
    assess(client, base, &officer, &["credit_assessment", "service_delivery"], &["sensitive_data"]).await;
    let (mine, subjects) = app.create_ok(&service, "service_delivery", &fixture(0, &sales_id)).await;

    // The admin adds a person and asks for their token: the first half.
    b.sign_in(ADMIN_TOKEN).await;
    b.go("/console/principals").await;
    b.css("#p-name").await.send_keys("吴芳").await.unwrap();
    b.css("input[name=role][value=service]").await.click().await.unwrap();
    b.css("#p-department").await.send_keys("客户服务中心").await.unwrap();
    b.css("#p-region").await.send_keys("华东").await.unwrap();
    b.submit("#add-principal").await;
    let person = b.client.current_url().await.unwrap().path().to_owned();
    assert!(person.starts_with("/console/principals/prn_"), "{person}");
    b.shot("principal").await;
    b.submit("#ask-token").await;
    let first_half = b.text("#code-part").await;
    b.sign_out().await;
    // The second admin approves from their start page: the second half.
    b.sign_in(&second).await;
    assert!(b.text("#tokens-awaiting").await.contains("吴芳"));
    b.shot("start-admin").await;
    b.submit("#tokens-awaiting button").await;
    let second_half = b.text("#code-part").await;
    assert!(b.text("#token-approved").await.contains("吴芳"));
    b.sign_out().await;
    // The new employee enrolls by code: their factor set up, no token seen.
    b.submit("#enroll-link").await;
    b.css("#enrollment-code").await.send_keys(&format!("{first_half}{second_half}")).await.unwrap();
    b.submit("#enroll").await;
    let secret = b.text("#factor-secret").await;
    let pid = person.trim_start_matches("/console/principals/");
    factor::remember(base, "device", pid, Some(&secret));
    b.shot("enroll").await;
    b.css("#code").await.send_keys(&factor::code_of(base, pid)).await.unwrap();
    b.submit("#enroll").await;
    assert!(!b.source().await.contains("cst_"), "no token on the page");
    b.submit("#continue").await;
    assert!(b.text("#who").await.contains("吴芳"));
    // Signed out, the device needs only the app's code.
    b.sign_out().await;
    b.css("#device-enrolled").await;
    b.css("#code").await.send_keys(&factor::code_of(base, pid)).await.unwrap();
    b.submit("#signin").await;
    b.wait_for_path("/console").await;
    b.sign_out().await;
    b.submit("#forget-device").await;

    // A sales person at a trade fair, on a tablet: a new customer from the start page.
    b.client.set_window_size(768, 1024).await.unwrap();
    b.sign_in(&sales).await;
    b.submit("a[href='/console/dossiers/new']").await;
    b.css("input[name='/customer/name']").await.send_keys("杭州速达物流有限公司").await.unwrap();
    b.css("input[name='/customer/region']").await.send_keys("华东").await.unwrap();
    b.css("input[name='/contacts/0/name']").await.send_keys("钱进").await.unwrap();
    let phone = b.css("input[name='/contacts/0/phone']").await;
    assert_eq!(phone.attr("type").await.unwrap().as_deref(), Some("tel"), "a phone keyboard");
    phone.send_keys("13800001111").await.unwrap();
    // The privacy-notice version the contact was shown at the stand.
    b.css("input[name='/contacts/0/notice']").await.send_keys("2025-01").await.unwrap();
    b.shot("new-dossier-tablet").await;
    b.submit("#save").await;
    let page = b.client.current_url().await.unwrap().path().to_owned();
    assert!(page.starts_with("/console/dossiers/dos_"), "{page}: {}", b.source().await);
    let did = page.trim_start_matches("/console/dossiers/").to_owned();
    // A visit, and a follow-up promised for the 9th.
    b.css("#new-interaction select[name=kind]").await.select_by_value("visit").await.unwrap();
    b.css("#new-interaction input[name=summary]").await.send_keys("展会现场拜访").await.unwrap();
    b.client
        .execute("document.querySelector('#new-interaction input[name=follow_up]').value = '2026-03-09'", vec![])
        .await
        .unwrap();
    b.submit("#new-interaction button").await;
    let recorded: Value = app
        .get(&sales, Some("service_delivery"), &format!("/v1/dossiers/{did}/interactions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(recorded["interactions"][0]["follow_up"], "2026-03-09", "{recorded}");
    b.go("/console").await;
    let follow_ups = b.text("#follow-ups").await;
    assert!(follow_ups.contains("杭州速达物流有限公司") && follow_ups.contains("2026-03-09"), "{follow_ups}");
    b.shot("start-sales-follow-up").await;
    // Months on, the review falls due (the sessions have long ended).
    clock.advance(time::Duration::days(400));
    b.go("/console").await;
    b.sign_in(&sales).await;
    let due = b.text("#reviews-due").await;
    assert!(due.contains("杭州速达物流有限公司"), "{due}");
    b.sign_out().await;
    b.client.set_window_size(1280, 900).await.unwrap();

    // Service imports a sheet: the dry run shows row 3's error, the fixed sheet imports.
    b.sign_in(&service).await;
    b.submit("a[href='/console/import']").await;
    let header = "客户名称,统一社会信用代码,地区,合作阶段,联系人,电话\n";
    let good = "宁波港联物流有限公司,91330200MA2AL0CX1X,华东,合作中,郑一,13800000010\n";
    let sheet = b._profile.path().join("客户.csv");
    std::fs::write(
        &sheet,
        format!("{header}{good}温州顺达货运有限公司,91330300MA2AL0CX2Y,华东,合作中,冯二,电话待补\n"),
    )
    .unwrap();
    // What the people on the sheet were shown: the notice in force (the clock moved on).
    b.css("#import-notice").await.select_by_value("2027-03").await.unwrap();
    b.css("#import-file").await.send_keys(sheet.to_str().unwrap()).await.unwrap();
    b.submit("#import-submit").await;
    let errors = b.text("#row-errors").await;
    let failed = b.client.find_all(Locator::Css("#row-errors tbody tr[data-row='3']")).await.unwrap();
    assert_eq!(failed.len(), 1, "row 3 only: {errors}");
    assert!(b.client.find(Locator::Css("#row-errors tbody tr[data-row='2']")).await.is_err(), "{errors}");
    assert!(errors.contains("电话") && !errors.contains("电话待补"), "{errors}");
    b.shot("import-dry-run").await;
    std::fs::write(
        &sheet,
        format!("{header}{good}温州顺达货运有限公司,91330300MA2AL0CX2Y,华东,合作中,冯二,13800000011\n"),
    )
    .unwrap();
    b.css("#import-notice").await.select_by_value("2027-03").await.unwrap();
    b.css("input[name=dry_run][value=false]").await.click().await.unwrap();
    b.css("#import-file").await.send_keys(sheet.to_str().unwrap()).await.unwrap();
    b.submit("#import-submit").await;
    let results = b.text("#row-results").await;
    assert!(
        b.client.find(Locator::Css("#row-errors tbody tr")).await.is_err(),
        "no error left: {results}: {}",
        b.source().await
    );
    let linked = b.client.find_all(Locator::Css("#row-results a[href^='/console/dossiers/dos_']")).await.unwrap();
    assert_eq!(linked.len(), 2, "{results}");
    b.sign_out().await;

    // The officer answers a request and records an incident.
    b.sign_in(&officer).await;
    b.purpose("dsr").await;
    b.go(&format!("/console/subjects/{}", subjects[0])).await;
    b.css("#request-form select[name=kind]").await.select_by_value("access").await.unwrap();
    b.submit("#request-form button").await;
    let request = b.client.current_url().await.unwrap().path().to_owned();
    assert!(request.starts_with("/console/requests/"), "{request}: {}", b.source().await);
    b.submit("#verify-form button").await;
    b.submit("#start").await;
    // The person's export answers it (a download: the page stays).
    let req_id = request.trim_start_matches("/console/requests/").to_owned();
    b.go(&format!("/console/subjects/{}", subjects[0])).await;
    b.css("#export-request").await.send_keys(&req_id).await.unwrap();
    b.css("#export").await.click().await.unwrap();
    let mut answer = None;
    for _ in 0..100 {
        if let Some(e) = app.audit(&officer, "action=subject.export&outcome=allow").await.first() {
            answer = e["seq"].as_u64();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let answer = answer.expect("the export is audited");
    b.go(&request).await;
    b.css("#reference").await.send_keys(&answer.to_string()).await.unwrap();
    b.submit("#complete-form button").await;
    let api: Value = app.get(&officer, Some("dsr"), &format!("/v1/requests/{req_id}")).await.json().await.unwrap();
    assert_eq!(api["state"], "completed", "{api}");
    b.shot("request-completed").await;
    b.purpose("legal_compliance").await;
    b.go("/console/incidents").await;
    let now = &rfc3339(custos::clock::Clock::now(clock.as_ref()));
    b.css("#incident-form input[name=detected_at]").await.send_keys(now).await.unwrap();
    b.css("#incident-form input[name=aware_at]").await.send_keys(now).await.unwrap();
    b.css("#incident-form input[name=data_categories][value=personal]").await.click().await.unwrap();
    b.css("#incident-form textarea[name=description]").await.send_keys("一台笔记本电脑遗失").await.unwrap();
    b.css("#incident-form textarea[name=cause]").await.send_keys("出差途中遗失").await.unwrap();
    b.submit("#record-incident").await;
    let incident = b.client.current_url().await.unwrap().path().to_owned();
    assert!(incident.starts_with("/console/incidents/"), "{incident}: {}", b.source().await);
    assert_eq!(b.text("#incident-level").await, "一般", "the level by its label");
    b.shot("incident").await;
    b.sign_out().await;

    // Every page, for each role, through axe-core.
    let seq = app.audit(&officer, "outcome=allow").await[0]["seq"].as_u64().unwrap();
    let pages: Vec<(&str, Vec<String>)> = vec![
        ("", vec!["/console/login".into(), "/console/enroll".into()]),
        (
            &sales,
            vec![
                "/console".into(),
                "/console/analysis".into(),
                "/console/search".into(),
                "/console/dossiers/new".into(),
                format!("/console/dossiers/{mine}"),
                format!("/console/dossiers/{mine}/figures"),
                "/console/export".into(),
                "/console/import".into(),
                "/console/tokens".into(),
            ],
        ),
        (&service, vec!["/console".into(), format!("/console/dossiers/{mine}/edit"), "/console/import".into()]),
        (&finance, vec!["/console".into(), "/console/analysis".into(), format!("/console/dossiers/{mine}/figures")]),
        (
            &officer,
            vec![
                "/console".into(),
                "/console/audit".into(),
                format!("/console/audit/{seq}"),
                "/console/alerts".into(),
                "/console/disposition".into(),
                format!("/console/subjects/{}", subjects[0]),
                "/console/requests".into(),
                "/console/incidents".into(),
                "/console/recipients".into(),
                "/console/assessments".into(),
                "/console/records-of-processing".into(),
            ],
        ),
        (
            &officer,
            vec![
                "/console/analysis".into(),
                request.clone(),
                incident.clone(),
                format!("{incident}/notice"),
                "/console/tokens".into(),
            ],
        ),
        (
            &auditor,
            vec![
                "/console".into(),
                "/console/audit".into(),
                "/console/requests".into(),
                incident.clone(),
                "/console/recipients".into(),
                "/console/assessments".into(),
            ],
        ),
        (ADMIN_TOKEN, vec!["/console".into(), "/console/principals".into(), person.clone(), "/console/backups".into()]),
    ];
    let mut failures = Vec::new();
    for (token, paths) in &pages {
        if !token.is_empty() {
            b.sign_in(token).await;
        }
        for path in paths {
            let (violations, lang) = axe(&b, &script, path).await;
            if !matches!(lang.as_str(), "zh-CN" | "en") {
                failures.push(format!("{path}: lang {lang:?}"));
            }
            failures.extend(violations.into_iter().map(|v| format!("{path}: {v}")));
        }
        // And each fits a tablet and a phone, its controls 44 px tall.
        b.fits_tablets_and_phones(paths).await;
        if !token.is_empty() {
            b.go("/console").await;
            b.sign_out().await;
        }
    }
    assert!(failures.is_empty(), "axe-core: {failures:#?}");
    let checked: usize = pages.iter().map(|(_, p)| p.len()).sum();
    eprintln!("axe-core: {checked} pages, no serious or critical violation");
    b.client.clone().close().await.unwrap();
}
