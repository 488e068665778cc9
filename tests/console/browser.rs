//! The console in Debian's Chromium, driven through WebDriver
//! (chromedriver, from Rust with fantoccini): every role signs in; a sales
//! person sees only their dossiers, masked and withheld fields marked and
//! never in clear; an officer filters the audit log and checks an entry's
//! proof; an erasure blocked by a hold shows why; a post without the CSRF
//! token is refused; one officer proposes a destruction batch, another
//! approves it, and the dossier's page then names the certificate.
//! Screenshots of the main pages go to `$CARGO_TARGET_TMPDIR/console-screenshots`.

use super::common::*;
use custos::clock::ManualClock;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use time::macros::datetime;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    pub(crate) base: String,
    pub(crate) shots: PathBuf,
    pub(crate) _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(crate) async fn browser(base: &str) -> Option<Browser> {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !tool_available("Debian's chromium and chromium-driver", present) {
        return None;
    }
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,900", "--lang=zh-CN", format!("--user-data-dir={}", profile.path().display())]
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut client = None;
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    Some(Browser {
        client: client.expect("chromedriver answers"),
        driver,
        base: base.to_owned(),
        shots,
        _profile: profile,
    })
}

impl Browser {
    pub(crate) async fn go(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    pub(crate) async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    pub(crate) async fn css(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!("{css}: {e}\n{}", self.source().await),
        }
    }

    /// Clicks `css` and waits (up to 10 s) for the page it leads to.
    pub(crate) async fn submit(&self, css: &str) {
        let old = self.css("html").await;
        self.css(css).await.click().await.unwrap();
        for _ in 0..100 {
            if old.tag_name().await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{css} led nowhere: {}", self.source().await);
    }

    /// On a tablet (768×1024) and a phone (390×844) every page in `paths`
    /// fits the screen's width (nothing scrolls sideways) and its controls
    /// are at least 44 px tall; back to the desktop size after.
    pub(crate) async fn fits_tablets_and_phones(&self, paths: &[String]) {
        for (w, h) in [(768, 1024), (390, 844)] {
            self.client.set_window_size(w, h).await.unwrap();
            for path in paths {
                self.go(path).await;
                let got = self
                    .client
                    .execute(
                        "const d = document.documentElement; \
                         const small = [...document.querySelectorAll('button, select, input:not([type=hidden]), a.button, nav.main a')] \
                           .filter(e => e.offsetParent !== null && ((e.type === 'checkbox' || e.type === 'radio') && e.closest('label') ? e.closest('label') : e).getBoundingClientRect().height < 43.5) \
                           .map(e => e.outerHTML.slice(0, 80)); \
                         const wide = [...document.querySelectorAll('body *')] \
                           .filter(e => e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0) \
                           .map(e => e.tagName + ' ' + e.scrollWidth + '>' + e.clientWidth + ' ' + e.outerHTML.slice(0, 120)); \
                         return [d.scrollWidth, d.clientWidth, small, wide];",
                        vec![],
                    )
                    .await
                    .unwrap();
                let (scroll, client) = (got[0].as_f64().unwrap(), got[1].as_f64().unwrap());
                assert!(scroll <= client, "{path} at {w}px scrolls sideways: {scroll} > {client}: {}", got[3]);
                assert_eq!(got[2], serde_json::json!([]), "{path} at {w}px: controls under 44 px");
            }
        }
        self.client.set_window_size(1280, 900).await.unwrap();
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.css(css).await.text().await.unwrap()
    }

    pub(crate) async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    pub(crate) async fn sign_in(&self, token: &str) {
        self.go("/console/login").await;
        self.css("#token").await.send_keys(token).await.unwrap();
        self.css("#code").await.send_keys(&super::common::factor::code_for(&self.base, token)).await.unwrap();
        self.submit("#signin").await;
        self.wait_for_path("/console").await;
        // The token is in no URL the browser went to, and not in the page.
        assert!(!self.client.current_url().await.unwrap().as_str().contains(token));
        assert!(!self.source().await.contains(token));
    }

    pub(crate) async fn sign_out(&self) {
        self.submit("#signout").await;
        self.wait_for_path("/console/login").await;
    }

    /// Waits (up to 10 s) for the browser to arrive at `path` after a click.
    pub(crate) async fn wait_for_path(&self, path: &str) {
        for _ in 0..100 {
            if self.client.current_url().await.unwrap().path() == path {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("not at {path}: {}", self.source().await);
    }

    pub(crate) async fn purpose(&self, purpose: &str) {
        self.css("#purpose").await.select_by_value(purpose).await.unwrap();
        self.submit("form[action='/console/purpose'] button").await;
    }

    /// Uploads a small file as `name` from the dossier page's form.
    pub(crate) async fn upload(&self, name: &str) {
        let file = self._profile.path().join(name);
        std::fs::write(&file, "运输合同 2026").unwrap();
        self.css("form[enctype='multipart/form-data'] input[name=name]").await.send_keys(name).await.unwrap();
        self.css("form[enctype='multipart/form-data'] input[type=file]")
            .await
            .send_keys(file.to_str().unwrap())
            .await
            .unwrap();
        self.submit("form[enctype='multipart/form-data'] button").await;
    }

    /// The page's `<h1>`.
    pub(crate) async fn heading(&self) -> String {
        self.text("h1").await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_and_officers_do_their_work_in_chromium() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-05 09:00 UTC)));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |c| c.retention_interval = None, clock.clone()).await;
    let Some(b) = browser(&app.base).await else { return };

    // Staff with names, as the pages show them (and the screenshots in docs/).
    let staff = |name: &str, role: &str, dept: &str, region: &str| serde_json::json!({"name": name, "roles": [role], "department": dept, "region": region});
    let named = |body: Value| {
        let (client, base) = (app.client.clone(), app.base.clone());
        async move { principal_from(&client, &base, &body).await }
    };
    let (sales_id, sales) = named(staff("王小明", "sales", "华东销售部", "华东")).await;
    let (other_sales, _) = named(staff("赵敏", "sales", "华东销售部", "华东")).await;
    let (_, service) = named(staff("李华", "service", "客户服务中心", "华东")).await;
    let (_, finance) = named(staff("孙丽", "finance", "财务部", "华东")).await;
    let (_, auditor) = named(staff("周审", "auditor", "内审部", "总部")).await;
    let (_, officer_a) = named(staff("陈静", "compliance", "合规部", "总部")).await;
    let (officer_b_id, officer_b) = named(staff("刘强", "compliance", "合规部", "总部")).await;
    assess(&app.client, &app.base, &officer_a, &["credit_assessment"], &["sensitive_data"]).await;
    let doc = fixture(0, &sales_id);
    let (mine, subjects) = app.create_ok(&service, "service_delivery", &doc).await;
    let (theirs, _) = app.create_ok(&service, "service_delivery", &fixture(1, &other_sales)).await;
    // Enough of the sales person's customers for the overview's charts (groups under five are suppressed).
    for i in 0..15 {
        let mut more = fixture(i % fixtures().len(), &sales_id);
        more["grade"] = json!(["A", "B", "B", "C", "A"][i % 5]);
        more["customer"]["region"] = json!("华东");
        app.create_ok(&service, "service_delivery", &more).await;
    }
    let mut closing = fixture(2, &other_sales);
    closing["customer"]["region"] = json!("华东");
    let (closed, _) = app.create_ok(&service, "service_delivery", &closing).await;
    let r = app
        .request(
            reqwest::Method::POST,
            &service,
            "service_delivery",
            &format!("/v1/dossiers/{closed}/close"),
            Some(json!({"ended_at": "2026-01-05T09:00:00Z"})),
        )
        .await;
    assert!(r.status().is_success());

    // Every role signs in and gets its start page.
    for token in [&service, &finance, &auditor] {
        b.sign_in(token).await;
        assert_eq!(b.heading().await, "今日工作");
        if token == &service {
            // Service stores a document from the dossier's page: the API lists it, same hash.
            b.go(&format!("/console/dossiers/{mine}")).await;
            b.upload("contract-2026.txt").await;
            let listed: Value = app
                .get(&service, Some("service_delivery"), &format!("/v1/dossiers/{mine}/documents"))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(listed[0]["name"], "contract-2026.txt", "{listed} {}", b.source().await);
            assert!(b.text("#documents").await.contains(listed[0]["sha256"].as_str().unwrap()));
            // And edits it in the form: the grade changes, a new version is read back by the API.
            b.submit("#edit").await;
            b.shot("dossier-edit").await;
            b.css("select[name='/grade'] option[value='C']").await.click().await.unwrap();
            b.submit("#save").await;
            b.wait_for_path(&format!("/console/dossiers/{mine}")).await;
            let read: Value = app
                .get(&service, Some("service_delivery"), &format!("/v1/dossiers/{mine}"))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!((read["grade"].as_str(), read["version"].as_u64()), (Some("C"), Some(2)), "{read}");
        }
        b.sign_out().await;
    }

    // Sales: the start page (in Chinese): their customers by name; the
    // analysis, charts of their own dossiers.
    b.sign_in(&sales).await;
    b.css(&format!("#my-customers a[href='/console/dossiers/{mine}']")).await;
    b.shot("start-sales").await;
    b.go("/console/analysis").await;
    assert!(b.source().await.contains("<svg"), "charts");
    b.shot("overview-sales").await;

    // Search (posted) finds their dossier, not another's.
    b.go("/console/search").await;
    b.css("#q").await.send_keys("科技").await.unwrap();
    b.submit("#search").await;
    let results = b.text("#results").await;
    assert!(results.contains(&mine), "{results}");
    assert!(!results.contains(&theirs));
    assert_eq!(b.client.current_url().await.unwrap().query(), None, "the query is not in the URL");
    b.shot("search").await;

    // Their dossier: what the API masks or withholds is marked so and never in clear.
    let api: Value =
        app.get(&sales, Some("service_delivery"), &format!("/v1/dossiers/{mine}")).await.json().await.unwrap();
    b.go(&format!("/console/dossiers/{mine}")).await;
    let page = b.source().await;
    for (reason, label) in [("masked", "已脱敏"), ("withheld", "不予显示")] {
        for path in redacted(&api, reason) {
            let row = b.client.find(Locator::Css(&format!("#fields tr[data-path='{path}']"))).await;
            let row = row.unwrap_or_else(|_| panic!("{path} not listed")).text().await.unwrap();
            assert!(row.contains(label), "{path}: {row}");
            if let Some(plain) = doc.pointer(&path).and_then(Value::as_str) {
                assert!(!page.contains(plain), "{reason} {path} in clear");
            }
        }
    }
    assert!(!b.client.title().await.unwrap().contains(doc["customer"]["name"].as_str().unwrap()));
    b.client.set_window_size(1280, 2400).await.unwrap();
    b.shot("dossier-sales").await;
    b.client.set_window_size(1280, 900).await.unwrap();
    let sales_pages = [
        "/console".to_owned(),
        format!("/console/dossiers/{mine}"),
        "/console/dossiers/new".to_owned(),
        "/console/search".to_owned(),
        "/console/analysis".to_owned(),
    ];
    b.fits_tablets_and_phones(&sales_pages).await;
    b.client.set_window_size(768, 1024).await.unwrap();
    b.go("/console").await;
    b.shot("start-sales-tablet").await;
    b.client.set_window_size(1280, 900).await.unwrap();
    b.go(&format!("/console/dossiers/{mine}")).await;

    // Sales may not store documents: refused in the page, as by the API.
    b.upload("contract-2026.txt").await;
    assert!(b.text(".error").await.contains("403"));
    b.go(&format!("/console/dossiers/{mine}")).await;
    // An interaction recorded from the page.
    b.css("select[name=kind]").await.select_by_value("follow_up").await.unwrap();
    b.css("input[name=summary]").await.send_keys("回访:对时效满意").await.unwrap();
    b.submit("form[action$='/interactions'] button").await;
    let interactions = b.text("#interactions").await;
    let api: Value = app
        .get(&sales, Some("service_delivery"), &format!("/v1/dossiers/{mine}/interactions"))
        .await
        .json()
        .await
        .unwrap();
    let shown = api["interactions"][0]["summary_shown"].as_str().unwrap();
    assert!(interactions.contains("回访") && !interactions.contains("follow_up"), "by its label: {interactions}");
    // As the API shows it to this person: here masked, so never in clear.
    assert_eq!(interactions.contains("回访:对时效满意"), shown == "clear", "{shown}: {interactions}");
    // Another's dossier: refused in the page.
    b.go(&format!("/console/dossiers/{theirs}")).await;
    assert!(b.text(".error").await.contains("403"));
    b.sign_out().await;

    // The officer: the audit log filtered to that sales person's refusals.
    b.sign_in(&officer_a).await;
    b.go("/console/audit").await;
    b.css("input[name=actor]").await.send_keys(&sales_id).await.unwrap();
    b.css("select[name=outcome]").await.select_by_value("deny").await.unwrap();
    b.submit("#filter").await;
    let rows = b.client.find_all(Locator::Css("#audit-entries tbody tr")).await.unwrap();
    let api = app.audit(&officer_a, &format!("actor={sales_id}&outcome=deny")).await;
    assert_eq!(rows.len(), api.len(), "{}", b.text("#audit-entries").await);
    assert_eq!(rows.len(), 2, "the document refused and the other's dossier");
    assert!(rows[1].text().await.unwrap().contains(&theirs));
    b.shot("audit-log").await;
    // The entry, its inclusion proof checked against the signed checkpoint.
    b.submit("#audit-entries tbody tr:last-child a").await;
    assert!(b.text("#proof-verdict").await.starts_with('✓'), "{}", b.source().await);
    b.shot("audit-entry").await;

    // A post without the CSRF token (removed from the form) is refused.
    b.go(&format!("/console/dossiers/{mine}")).await;
    b.client.execute("document.querySelector('#hold-form input[name=csrf]').remove()", vec![]).await.unwrap();
    b.css("#hold-form input[name=reason]").await.send_keys("诉讼").await.unwrap();
    b.css("#hold-form input[name=case_ref]").await.send_keys("(2026)沪01民初1号").await.unwrap();
    b.submit("#place-hold").await;
    assert!(b.text(".error").await.contains("403"));
    let holds: Value = app
        .get(&officer_a, Some("legal_compliance"), &format!("/v1/dossiers/{mine}/legal-holds"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(holds, json!([]));
    // With it: the hold is placed.
    b.go(&format!("/console/dossiers/{mine}")).await;
    b.css("#hold-form input[name=reason]").await.send_keys("诉讼").await.unwrap();
    b.css("#hold-form input[name=case_ref]").await.send_keys("(2026)沪01民初1号").await.unwrap();
    b.submit("#place-hold").await;
    let holds = b.text("#holds").await;
    assert!(holds.contains("(2026)沪01民初1号"), "{holds}");

    // Erasure of a contact of the held dossier: refused, naming the hold.
    b.purpose("dsr").await;
    b.go(&format!("/console/subjects/{}", subjects[0])).await;
    b.css("#ground").await.send_keys("consent_withdrawn").await.unwrap();
    b.submit("#erase").await;
    let refused = b.text("#erasure-refused").await;
    assert!(refused.contains("hold_"), "{refused}");
    b.shot("erasure-refused").await;
    b.purpose("legal_compliance").await;

    // Three years on, the closed customer's dossier is due. Sessions have long ended.
    clock.advance(time::Duration::days(3 * 366));
    b.go("/console").await;
    assert_eq!(b.client.current_url().await.unwrap().path(), "/console/login");
    b.sign_in(&officer_a).await;
    b.shot("overview-officer").await;
    b.go("/console/disposition").await;
    assert!(b.text("#due").await.contains(&closed));
    b.submit("#propose").await;
    let batch_url = b.client.current_url().await.unwrap().path().to_owned();
    assert!(batch_url.starts_with("/console/disposition/batches/"), "{batch_url}");
    // The proposer cannot approve: the button says so, and a post is refused by the use case.
    assert!(b.css("#approve").await.attr("disabled").await.unwrap().is_some());
    b.shot("disposition-batch").await;
    b.sign_out().await;

    // A second officer approves; the batch names its certificate.
    b.sign_in(&officer_b).await;
    b.go(&batch_url).await;
    b.submit("#approve").await;
    assert_eq!(b.text("#batch-state").await, "已完成");
    let cert = b.text("#certificate-link").await;
    assert!(cert.starts_with("cert_"));
    // The destroyed dossier's page names the certificate.
    b.go(&format!("/console/dossiers/{closed}")).await;
    let gone = b.text(".error").await;
    assert!(gone.contains("410") && gone.contains(&cert), "{gone}");
    b.submit(".error a").await;
    assert!(b.text("#certificate").await.contains(officer_b_id.as_str()));
    b.shot("certificate").await;

    // English, and a phone-sized screen.
    b.go("/console").await;
    b.submit("form[action='/console/lang'] button").await;
    assert_eq!(b.heading().await, "Today");
    b.client.set_window_size(390, 844).await.unwrap();
    b.go("/console/audit").await;
    b.shot("audit-log-phone").await;
    b.client.set_window_size(1280, 900).await.unwrap();
    let officer_pages: Vec<String> = [
        "/console",
        "/console/audit",
        "/console/alerts",
        "/console/disposition",
        "/console/requests",
        "/console/incidents",
        "/console/analysis",
    ]
    .map(str::to_owned)
    .to_vec();
    b.fits_tablets_and_phones(&officer_pages).await;
    b.sign_out().await;

    eprintln!("screenshots: {}", b.shots.display());
    b.client.clone().close().await.unwrap();
}
