//! Table-driven bad input: each gets its clear 4xx problem document, never
//! echoes the submitted values, and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run
#![allow(clippy::type_complexity)] // tables of cases, one tuple a row

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_dossier_bodies_get_clear_errors() {
    let app = spawn_app_in(tempfile::tempdir().unwrap(), |c| c.max_body_bytes = 256 * 1024).await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let good = fixture(0, &sid);
    let secret = "秘密值-13700000000";

    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    // (case, content type, body, status, paths that must be listed)
    let cases: Vec<(&str, &str, Vec<u8>, StatusCode, Vec<&str>)> = vec![
        (
            "wrong type",
            "application/json",
            with(&|v| v["grade"] = json!(5)),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["/grade"],
        ),
        (
            "wrong enum",
            "application/json",
            with(&|v| v["status"] = json!("dormant")),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["/status"],
        ),
        (
            "nested wrong type",
            "application/json",
            with(&|v| v["contacts"][0]["phone"] = json!(13912345688u64)),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["/contacts/0/phone"],
        ),
        (
            "bad phone",
            "application/json",
            with(&|v| v["contacts"][0]["phone"] = json!(secret)),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["/contacts/0/phone"],
        ),
        (
            "unknown top-level field",
            "application/json",
            with(&|v| v["nickname"] = json!(secret)),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![""],
        ),
        (
            "unknown nested field",
            "application/json",
            with(&|v| v["contacts"][0]["wechat"] = json!(secret)),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["/contacts/0"],
        ),
        (
            "several failures at once",
            "application/json",
            with(&|v| {
                v["grade"] = json!("D");
                v["customer"].as_object_mut().unwrap().remove("name");
                v["contacts"][0]["email"] = json!(secret);
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["/grade", "/customer", "/contacts/0/email"],
        ),
        ("missing required", "application/json", b"{}".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, vec![""]),
        ("array instead of object", "application/json", b"[1,2]".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, vec![""]),
        (
            "owner not a principal",
            "application/json",
            with(&|v| v["owner"] = json!("prn_01jd0000000000000000000000")),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["/owner"],
        ),
        (
            "too long",
            "application/json",
            with(&|v| v["remarks"] = json!("长".repeat(10_001))),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["/remarks"],
        ),
        ("broken JSON", "application/json", br#"{"customer": {"name": "#.to_vec(), StatusCode::BAD_REQUEST, vec![]),
        (
            "trailing garbage",
            "application/json",
            [serde_json::to_vec(&good).unwrap(), b"}".to_vec()].concat(),
            StatusCode::BAD_REQUEST,
            vec![],
        ),
        ("empty body", "application/json", vec![], StatusCode::BAD_REQUEST, vec![]),
        ("not UTF-8", "application/json", b"{\"remarks\": \"\xff\xfe\"}".to_vec(), StatusCode::BAD_REQUEST, vec![]),
        ("not JSON at all", "text/plain", b"hello".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, vec![]),
        (
            "huge body",
            "application/json",
            with(&|v| v["remarks"] = json!("x".repeat(300 * 1024))),
            StatusCode::PAYLOAD_TOO_LARGE,
            vec![],
        ),
    ];
    for (case, ctype, body, status, paths) in cases {
        let r = app
            .client
            .post(format!("{}/v1/dossiers", app.base))
            .bearer_auth(&service)
            .header("X-Purpose", "service_delivery")
            .header("Content-Type", ctype)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{case}");
        let problem = assert_problem(r, status).await;
        let text = problem.to_string();
        assert!(!text.contains(secret) && !text.contains("秘密"), "{case} echoes input: {text}");
        if !paths.is_empty() {
            let listed: Vec<&str> =
                problem["errors"].as_array().expect(case).iter().map(|e| e["path"].as_str().unwrap()).collect();
            for p in paths {
                assert!(listed.contains(&p), "{case}: {p} not in {listed:?}");
            }
        }
    }
    // Nothing was created; the invalid attempts that reached the archive are audited as errors.
    let creates = app.audit(&compliance, "action=dossier.create").await;
    assert!(creates.iter().all(|e| e["outcome"] == "error"), "{creates:#?}");
    assert!(creates.len() >= 10);

    // Bad path and header values.
    let r = app.get(&service, Some("service_delivery"), "/v1/dossiers/dos_x/versions/zero").await;
    assert_problem(r, StatusCode::BAD_REQUEST).await;
    let r = app.get(&service, Some("service_delivery"), "/v1/dossiers/../../etc/passwd").await;
    assert!(r.status().is_client_error());
    let created: Value = app.create(&service, "service_delivery", &good).await.json().await.unwrap();
    let path = format!("/v1/dossiers/{}", created["id"].as_str().unwrap());
    assert_problem(app.put(&service, "service_delivery", &path, Some("one"), &good).await, StatusCode::BAD_REQUEST)
        .await;
    let r = app.client.delete(format!("{}{path}", app.base)).bearer_auth(&service).send().await.unwrap();
    assert_problem(r, StatusCode::METHOD_NOT_ALLOWED).await;
    app.stop().await;
}

/// Every JSON body other than the dossier template, table-driven: each bad
/// body gets a 422 listing every failing path, echoes nothing, and changes
/// nothing (the good body afterwards still works).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_other_body_is_typed_and_lists_every_failing_path() {
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let created: Value = app.create(&service, "service_delivery", &fixture(0, &sid)).await.json().await.unwrap();
    let dos = created["id"].as_str().unwrap().to_owned();
    let sub = created["subjects"][0].as_str().unwrap().to_owned();
    let secret = "秘密值-13700000000";
    // (case, caller, purpose, path, body, status, paths that must be listed)
    let close = format!("/v1/dossiers/{dos}/close");
    let holds = format!("/v1/dossiers/{dos}/legal-holds");
    let consents = format!("/v1/subjects/{sub}/consents");
    let erasure = format!("/v1/subjects/{sub}/erasure");
    let cases: Vec<(&str, &str, Option<&str>, &str, Value, u16, Vec<&str>)> = vec![
        ("close: no ended_at", &service, Some("service_delivery"), &close, json!({}), 422, vec!["/ended_at"]),
        (
            "close: not a time",
            &service,
            Some("service_delivery"),
            &close,
            json!({"ended_at": secret}),
            422,
            vec!["/ended_at"],
        ),
        (
            "close: wrong type",
            &service,
            Some("service_delivery"),
            &close,
            json!({"ended_at": 5}),
            422,
            vec!["/ended_at"],
        ),
        (
            "close: unknown member",
            &service,
            Some("service_delivery"),
            &close,
            json!({"ended_at": "2026-01-01T00:00:00Z", "why": secret}),
            422,
            vec![""],
        ),
        (
            "hold: both missing",
            &compliance,
            Some("legal_compliance"),
            &holds,
            json!({}),
            422,
            vec!["/reason", "/case_ref"],
        ),
        (
            "hold: both blank",
            &compliance,
            Some("legal_compliance"),
            &holds,
            json!({"reason": " ", "case_ref": "\u{7}"}),
            422,
            vec!["/reason", "/case_ref"],
        ),
        (
            "hold: too long",
            &compliance,
            Some("legal_compliance"),
            &holds,
            json!({"reason": "x".repeat(2001), "case_ref": secret}),
            422,
            vec!["/reason"],
        ),
        ("hold: array", &compliance, Some("legal_compliance"), &holds, json!([secret]), 422, vec![""]),
        (
            "consent: everything wrong",
            &compliance,
            Some("dsr"),
            &consents,
            json!({"purpose": 7, "basis": "whim", "evidence": ["x"], "granted_at": secret}),
            422,
            vec!["/purpose", "/basis", "/evidence"],
        ),
        (
            "consent: bad time",
            &compliance,
            Some("dsr"),
            &consents,
            json!({"purpose": "marketing", "basis": "consent", "evidence": "form 7", "granted_at": "yesterday"}),
            422,
            vec!["/granted_at"],
        ),
        ("erasure: no reason", &compliance, Some("dsr"), &erasure, json!({"ground": secret}), 422, vec!["", "/reason"]),
        (
            "principal: bad role and name",
            ADMIN_TOKEN,
            None,
            "/v1/principals",
            json!({"name": "", "roles": ["root"], "region": secret.repeat(20)}),
            422,
            vec!["/name", "/roles/0", "/region"],
        ),
        (
            "principal: no roles",
            ADMIN_TOKEN,
            None,
            "/v1/principals",
            json!({"name": "x", "roles": []}),
            422,
            vec!["/roles"],
        ),
    ];
    for (case, token, purpose, path, body, status, paths) in cases {
        let r = app.request(reqwest::Method::POST, token, purpose.unwrap_or(""), path, Some(body)).await;
        let status = StatusCode::from_u16(status).unwrap();
        assert_eq!(r.status(), status, "{case}");
        let problem = assert_problem(r, status).await;
        let text = problem.to_string();
        assert!(!text.contains("秘密") && !text.contains("13700000000"), "{case} echoes input: {text}");
        let listed: Vec<&str> =
            problem["errors"].as_array().expect(case).iter().map(|e| e["path"].as_str().unwrap()).collect();
        for p in paths {
            assert!(listed.contains(&p), "{case}: {p} not in {listed:?}");
        }
    }
    // Nothing changed: the dossier is at version 1 and has no hold.
    let r: Value =
        app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{dos}")).await.json().await.unwrap();
    assert_eq!(r["version"], 1);
    let held: Value = app.get(&compliance, Some("legal_compliance"), &holds).await.json().await.unwrap();
    assert_eq!(held.as_array().unwrap().len(), 0);
    app.stop().await;
}

/// Every request that passed authentication leaves an audit entry, whatever
/// its outcome, under its own request id; cursors past what the server hands
/// out are a 400, never an error from deep inside the search library.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_authenticated_request_is_audited_and_cursors_are_bounded() {
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    assert_eq!(app.create(&service, "service_delivery", &fixture(0, &sid)).await.status(), StatusCode::CREATED);
    let cases: Vec<(&str, StatusCode)> = vec![
        ("/v1/search?q=a&cursor=o1152921504606846976", StatusCode::BAD_REQUEST),
        ("/v1/search?q=a&cursor=o18446744073709551615", StatusCode::BAD_REQUEST),
        ("/v1/search?q=a&cursor=o10001", StatusCode::BAD_REQUEST),
        ("/v1/search?q=a&cursor=x", StatusCode::BAD_REQUEST),
        ("/v1/search?q=a&limit=100000000000000000000", StatusCode::BAD_REQUEST),
        ("/v1/search?q=a&grade=Z", StatusCode::BAD_REQUEST),
        ("/v1/search?nonsense=1", StatusCode::BAD_REQUEST),
        ("/v1/dossiers/dos_x/versions/zero", StatusCode::BAD_REQUEST),
        ("/v1/audit/entries?cursor=-1", StatusCode::BAD_REQUEST),
        ("/v1/audit/entries?limit=5", StatusCode::FORBIDDEN),
    ];
    for (path, status) in cases {
        let r = app.get(&service, Some("service_delivery"), path).await;
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let p = assert_problem(r, status).await;
        let slug = p["type"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
        let expected = if status == StatusCode::BAD_REQUEST { "bad-request" } else { "forbidden" };
        assert_eq!(slug, expected, "{path}: {p}");
        let entries: Vec<Value> = app
            .audit(&compliance, &format!("actor={sid}"))
            .await
            .into_iter()
            .filter(|e| e["request_id"] == id.as_str())
            .collect();
        assert_eq!(entries.len(), 1, "{path}: one entry for the request: {entries:#?}");
        let outcome = if status == StatusCode::FORBIDDEN { "deny" } else { "error" };
        assert_eq!(entries[0]["outcome"], outcome, "{path}: {entries:#?}");
        // The route's template, never the path with what the client put in it.
        assert!(!entries[0].to_string().contains("zero"), "{path}: {entries:#?}");
    }
    // A page within the bound still answers.
    let r = app.get(&service, Some("service_delivery"), "/v1/search?q=a&cursor=o10000").await;
    assert_eq!(r.status(), StatusCode::OK);
    // Unauthenticated requests are not the log's to keep (nobody to name).
    let r = app.get("not-a-token", Some("service_delivery"), "/v1/search?q=a").await;
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    app.stop().await;
}

/// Sends `request` on a new connection and reads until the server closes it
/// (or 20 s pass: then whatever arrived). The answer as text.
async fn raw(base: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Slow and oversized clients are bounded: a half-sent head is cut off, a
/// body declared over the limit is refused at once, a stalled body gets a
/// 408, long URIs and headers a 414 and 431 as problem documents, a huge bad
/// body a small 422, names of control characters a 422, and a principal over
/// its rate a 429 with Retry-After (audited) while others go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_oversized_clients_are_bounded() {
    let app = spawn_app_in(tempfile::tempdir().unwrap(), |c| {
        c.limits.header_read_timeout = std::time::Duration::from_secs(1);
        c.limits.body_read_timeout = std::time::Duration::from_secs(1);
        // One a second, bursts of ten: what the test sends before the rate
        // check stays under it, and the check meets the limit however slow
        // the machine (sixty requests would have to take fifty seconds).
        c.limits.rate_per_second = 1;
        c.limits.rate_burst = 10;
    })
    .await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;

    // Half a head, then nothing: the connection is closed, with no answer
    // to a request that never came.
    let answer = raw(&app.base, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ").await;
    assert!(answer.is_empty() || status_of(&answer) == 408, "{answer}");

    // 10 MB declared, nothing sent: 413 at once.
    let req = format!(
        "POST /v1/dossiers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {service}\r\nX-Purpose: service_delivery\r\n\
         Content-Type: application/json\r\nContent-Length: 10485760\r\nConnection: close\r\n\r\n"
    );
    let answer = raw(&app.base, req.as_bytes()).await;
    assert_eq!(status_of(&answer), 413, "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");

    // A body that stops halfway: 408.
    let req = format!(
        "POST /v1/dossiers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {service}\r\nX-Purpose: service_delivery\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{{\"customer\":"
    );
    let answer = raw(&app.base, req.as_bytes()).await;
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(answer.contains("request-timeout"), "{answer}");

    // 414 and 431, as problem documents.
    let r = app.get(&service, Some("service_delivery"), &format!("/v1/search?q={}", "a".repeat(9000))).await;
    let p = assert_problem(r, StatusCode::URI_TOO_LONG).await;
    assert!(p["type"].as_str().unwrap().ends_with("/uri-too-long"), "{p}");
    let r = app
        .client
        .get(format!("{}/v1/search?q=a", app.base))
        .bearer_auth(&service)
        .header("X-Purpose", "service_delivery")
        .header("X-Padding", "p".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).await;
    assert!(p["type"].as_str().unwrap().ends_with("/headers-too-large"), "{p}");

    // A large bad body gets a small answer.
    let mut huge = fixture(0, &sid);
    huge["contacts"] = json!((0..4000).map(|_| json!({"name": "", "phone": "x"})).collect::<Vec<_>>());
    let sent = serde_json::to_vec(&huge).unwrap().len();
    let r = app.create(&service, "service_delivery", &huge).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.bytes().await.unwrap();
    assert!(body.len() < 8 * 1024, "{} bytes out for {sent} in", body.len());
    let p: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(p["errors"].as_array().unwrap().len(), 20, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("the first 20"), "{p}");

    // Names made of control characters are not names.
    for (path, set) in [
        (
            "/contacts/0/name",
            &(|v: &mut Value| v["contacts"][0]["name"] = json!("\u{1}\u{2}\u{7f}")) as &dyn Fn(&mut Value),
        ),
        ("/contacts/0/name", &|v: &mut Value| v["contacts"][0]["name"] = json!("张\u{0}三")),
        ("/customer/name", &|v: &mut Value| v["customer"]["name"] = json!("\u{1b}\u{9b}")),
    ] {
        let mut body = fixture(0, &sid);
        set(&mut body);
        let p = assert_problem(app.create(&service, "service_delivery", &body).await, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
        let listed: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
        assert!(listed.contains(&path), "{path}: {p}");
    }

    // Over its rate, a principal gets 429 with Retry-After; others go on.
    let mut limited = None;
    for _ in 0..60 {
        let r = app.get(&service, Some("service_delivery"), "/v1/search?q=a").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("60 requests exceed a burst of 10 at 1 a second");
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let p = assert_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(p["type"].as_str().unwrap().ends_with("/rate-limited"), "{p}");
    // Refusals are audited in aggregate: one `request.rate_limited` entry
    // per principal and minute with the count, not one per refusal
    // (docs/security.md, round 2).
    app.archive().identity().flush_auth_failures(true).await.unwrap();
    let entries = app.audit(&compliance, &format!("actor={sid}")).await;
    assert!(!entries.iter().any(|e| e["request_id"] == id.as_str()), "no entry per refusal");
    assert!(
        entries.iter().any(|e| e["action"] == "request.rate_limited" && e["outcome"] == "deny"),
        "429s audited in aggregate: {entries:#?}"
    );
    assert_eq!(app.get(&compliance, None, "/v1/audit/entries?limit=1").await.status(), StatusCode::OK);
    app.stop().await;
}

/// At `max_connections`, a further client waits unanswered until a
/// connection closes, and is then served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_limited_and_waiting_clients_are_served_later() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_in(tempfile::tempdir().unwrap(), |c| c.limits.max_connections = 2).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let base = app.base.clone();
    let third =
        tokio::spawn(async move { raw(&base, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "a third connection was served while two were held");
    drop(held.pop());
    let answer = third.await.unwrap();
    assert_eq!(status_of(&answer), 200, "{answer}");
    drop(held);
    app.stop().await;
}
