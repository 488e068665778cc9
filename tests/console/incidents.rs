//! The incident register from the console: an officer records an incident
//! in a form held to the API's checks, derives the persons affected, opens
//! the set, records notifications to the authority and to the persons, is
//! told clearly that the Art. 34(3)(a) exemption needs uncompromised keys,
//! and reads the draft notice; every value by its label, nobody by id, no
//! JSON; the audit log holds the same actions as the API's. An auditor
//! reads the register and may not change it; sales may not read it. And a
//! request's page says in words what answered it.

use super::{form_value, officer_at_a_subject, OfficerAtSubject, Visitor};
use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// A form's changes, the status they get, and what the page says.
type Hostile<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str);

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// The incident form as the officer fills it in, `changed` replacing or
/// (with an empty value) dropping fields.
fn incident_form<'a>(csrf: &'a str, detected: &'a str, changed: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("detected_at", detected),
        ("aware_at", detected),
        ("level", "relatively_major"),
        ("jurisdictions", "CN"),
        ("keys_compromised", ""),
        ("data_categories", "personal"),
        ("data_categories", "sensitive"),
        ("description", "账号 CONSOLE-INCIDENT-7731 被盗用"),
        ("cause", "凭证泄露"),
        ("consequences", ""),
        ("csrf", csrf),
    ];
    for &(name, value) in changed {
        form.retain(|(k, _)| *k != name);
        if !value.is_empty() {
            form.push((name, value));
        }
    }
    form
}

/// The `<tr>` holding `needle`.
fn row<'p>(page: &'p str, needle: &str) -> &'p str {
    let at = page.find(needle).unwrap_or_else(|| panic!("{needle} not in {page}"));
    let start = page[..at].rfind("<tr").unwrap();
    &page[start..at + page[at..].find("</tr>").unwrap()]
}

/// The actions of the allowed entries about `resource`.
async fn actions(app: &TestApp, officer: &str, resource: &str) -> BTreeSet<String> {
    let entries = app.audit(officer, &format!("resource={resource}&outcome=allow")).await;
    entries.iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
}

async fn incidents_in_api(app: &TestApp, officer: &str) -> Vec<Value> {
    let r = app.get(officer, Some("legal_compliance"), "/v1/incidents").await;
    r.json::<Value>().await.unwrap()["incidents"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_keeps_an_incident_from_the_console_as_through_the_api() {
    let app = spawn_app().await;
    let (officer_id, officer) = app.principal(&["compliance"], "总部").await;
    let (service_id, service) = app.principal(&["service"], "华东").await;
    let (owner, _) = app.principal(&["sales"], "华东").await;
    let (dossier, subjects) = app.create_ok(&service, "service_delivery", &fixture(0, &owner)).await;
    // The account later found compromised reads the dossier.
    let r = app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{dossier}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&officer).await;
    let detected = rfc3339(now() - time::Duration::hours(1));

    // The register offers the form; bad input is refused in the page, naming the field, and records nothing.
    let page = v.get("/console/incidents").await.text().await.unwrap();
    assert!(page.contains("id=\"incident-form\""), "{page}");
    assert!(page.contains("<option value=\"relatively_major\">较大</option>"), "levels by label");
    let hostile: [Hostile; 6] = [
        (&[("detected_at", "2026-12-01 09:30")], StatusCode::UNPROCESSABLE_ENTITY, "/detected_at"),
        (&[("description", "")], StatusCode::UNPROCESSABLE_ENTITY, "/description"),
        (&[("data_categories", "")], StatusCode::UNPROCESSABLE_ENTITY, "/data_categories"),
        (&[("level", "catastrophic")], StatusCode::UNPROCESSABLE_ENTITY, "/level"),
        (&[("jurisdictions", "Mars")], StatusCode::UNPROCESSABLE_ENTITY, "/jurisdictions/0"),
        (&[("recorded_by", officer_id.as_str())], StatusCode::BAD_REQUEST, "does not offer"),
    ];
    for (changed, want, says) in hostile {
        let r = v.post("/console/incidents", &incident_form(&csrf, &detected, changed)).await;
        assert_eq!(r.status(), want, "{changed:?}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let text = r.text().await.unwrap();
        assert!(text.contains("role=\"alert\"") && text.contains(says), "{changed:?} says {says}: {text}");
    }
    let r = v.post("/console/incidents", &incident_form("forged", &detected, &[])).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(incidents_in_api(&app, &officer).await.is_empty(), "nothing recorded");

    // Recorded: to the incident's page.
    let r = v.post("/console/incidents", &incident_form(&csrf, &detected, &[])).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let at = r.headers()["location"].to_str().unwrap().to_owned();
    let id = at.strip_prefix("/console/incidents/").unwrap().to_owned();
    assert!(id.starts_with("inc_"), "{at}");
    let api = incidents_in_api(&app, &officer).await;
    assert_eq!((api.len(), api[0]["id"].as_str()), (1, Some(id.as_str())));
    assert_eq!(api[0]["data_categories"], json!(["personal", "sensitive"]));

    // Its page: values by label, people by name, the deadline with whom it notifies, no JSON.
    let page = v.get(&at).await.text().await.unwrap();
    assert!(page.contains("<span title=\"relatively_major\">较大</span>"), "{page}");
    assert!(page.contains("<span title=\"sensitive\">敏感个人信息</span>"));
    assert!(page.contains("CONSOLE-INCIDENT-7731"), "the texts, to compliance");
    let deadline = row(&page, "data-deadline=\"prc-cac-report\"");
    assert!(deadline.contains("<span title=\"authority\">监管部门</span>"), "{deadline}");
    assert!(deadline.contains("data-status=\"open\"") && deadline.contains("未到期"), "{deadline}");
    assert!(!page.contains(&format!(">{officer_id}<")), "the recorder by name, not by id");
    assert!(
        !page.contains("{&quot;") && !page.contains("<dt>deadlines</dt>") && !page.contains("<dt>due_at</dt>"),
        "no JSON"
    );
    for form in ["affected-form", "notification-form", "exemption-form", "notice-link"] {
        assert!(page.contains(&format!("id=\"{form}\"")), "{form}");
    }

    // The persons affected: derived from the log (a criterion is needed), then opened.
    let affected = format!("{at}/affected");
    let r = v.post(&affected, &[("actor", ""), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("give an actor"));
    let r = v.post(&affected, &[("actor", &service_id), ("from", ""), ("dossiers", &dossier), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("{affected}/0"));
    let set = v.get(&format!("{affected}/0")).await.text().await.unwrap();
    assert!(!subjects.is_empty());
    for s in &subjects {
        assert!(set.contains(&format!("href=\"/console/subjects/{s}\"")), "{s} in {set}");
    }
    assert_eq!(v.get(&format!("{affected}/x")).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(v.get(&format!("{affected}/7")).await.status(), StatusCode::NOT_FOUND);
    let page = v.get(&at).await.text().await.unwrap();
    let sets = row(&page, &format!("href=\"{affected}/0\""));
    assert!(sets.contains(&format!("<td class=\"count\">{}</td>", subjects.len())), "{sets}");

    // Notifications: a bad time refused, then to the authority (now) and to the persons.
    let notifications = format!("{at}/notifications");
    let r = v
        .post(&notifications, &[("to", "authority"), ("recipient", "网信办"), ("at", "13/01/2026"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("/at"));
    let r = v
        .post(
            &notifications,
            &[("to", "authority"), ("recipient", "上海市网信办"), ("reference", "案号 2026-88"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let told = [("to", "persons"), ("recipient", "短信"), ("persons", "2"), ("at", &detected), ("csrf", &csrf)];
    assert_eq!(v.post(&notifications, &told).await.status(), StatusCode::SEE_OTHER);
    let page = v.get(&at).await.text().await.unwrap();
    let deadline = row(&page, "data-deadline=\"prc-cac-report\"");
    assert!(deadline.contains("data-status=\"met\"") && deadline.contains("按时完成"), "{deadline}");
    let list = row(&page, "上海市网信办");
    assert!(list.contains("案号 2026-88") && list.contains("<span title=\"authority\">"), "{list}");
    assert!(row(&page, "短信").contains("<span title=\"persons\">受影响个人</span>"));

    // The exemption: refused, clearly, with compromised keys; recorded otherwise.
    let exemption = format!("{at}/exemption");
    let r = v.post(&exemption, &[("reasoning", "全部加密"), ("keys_compromised", "true"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(text.contains("id=\"keys-compromised\"") && text.contains("密钥已泄露时不适用该豁免"), "{text}");
    let r =
        v.post(&exemption, &[("reasoning", "只读到掩码字段"), ("keys_compromised", "false"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = v.get(&at).await.text().await.unwrap();
    assert!(
        page.contains("id=\"exempted\"") && page.contains("只读到掩码字段") && !page.contains("id=\"exemption-form\"")
    );

    // The draft notice: every element by its label with its article, what is missing, no JSON.
    let notice = v.get(&format!("{at}/notice")).await.text().await.unwrap();
    let api: Value =
        app.get(&officer, Some("legal_compliance"), &format!("/v1/incidents/{id}/notice")).await.json().await.unwrap();
    for (name, e) in api["elements"].as_object().unwrap() {
        let r = row(&notice, &format!("<span title=\"{name}\">"));
        assert!(r.contains(e["required_by"].as_str().unwrap()), "{name}: {r}");
    }
    let missing = row(&notice, "<span title=\"likely_consequences\">");
    assert!(missing.contains("可能造成的危害") && missing.contains("GDPR Art. 33(3)(c)"), "{missing}");
    assert!(notice.contains("id=\"notice-missing\"") && notice.contains("不完整"));
    assert!(row(&notice, "<span title=\"level\">").contains("较大"), "the level by its label");
    assert!(
        !notice.contains("{&quot;") && !notice.contains("<dt>value</dt>") && !notice.contains("<dt>due_at</dt>"),
        "no JSON"
    );

    // The same actions as through the API, for an incident kept there.
    let body = json!({"detected_at": detected, "aware_at": detected, "level": "relatively_major",
        "data_categories": ["personal"], "description": "d", "cause": "c"});
    let call = |m: Method, path: String, body: Option<Value>| {
        let (app, officer) = (&app, officer.clone());
        async move {
            let r = app.request(m, &officer, "legal_compliance", &path, body).await;
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.json::<Value>().await.unwrap()
        }
    };
    let other = call(Method::POST, "/v1/incidents".into(), Some(body)).await["id"].as_str().unwrap().to_owned();
    let base = format!("/v1/incidents/{other}");
    call(Method::GET, base.clone(), None).await;
    call(Method::POST, format!("{base}/affected"), Some(json!({"actor": service_id}))).await;
    call(Method::GET, format!("{base}/affected/0"), None).await;
    let n = json!({"to": "authority", "recipient": "r", "at": rfc3339(now())});
    call(Method::POST, format!("{base}/notifications"), Some(n)).await;
    call(Method::POST, format!("{base}/exemption"), Some(json!({"reasoning": "r", "keys_compromised": false}))).await;
    call(Method::GET, format!("{base}/notice"), None).await;
    let (console, through_api) = (actions(&app, &officer, &id).await, actions(&app, &officer, &other).await);
    assert_eq!(console, through_api);
    assert_eq!(console.len(), 7, "{console:?}");
    let entries = app.audit(&officer, &format!("resource={id}&action=incident.notify")).await;
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e["actor"] == officer_id.as_str() && e["purpose"] == "legal_compliance"));
    let created = app.audit(&officer, "action=incident.create").await;
    assert_eq!(created.len(), 3, "two recorded, the unknown level refused by the use case: {created:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_the_register_without_changing_it_and_sales_may_not_read_it() {
    let app = spawn_app().await;
    let (_, officer) = app.principal(&["compliance"], "总部").await;
    let (auditor_id, auditor) = app.principal(&["auditor"], "总部").await;
    let (_, sales) = app.principal(&["sales"], "华东").await;
    let detected = rfc3339(now() - time::Duration::hours(1));
    let body = json!({"detected_at": detected, "aware_at": detected, "level": "general",
        "data_categories": ["personal"], "description": "AUDITOR-MAY-NOT-READ-4410", "cause": "c"});
    let r = app.request(Method::POST, &officer, "legal_compliance", "/v1/incidents", Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let at = format!("/console/incidents/{id}");

    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&auditor).await;
    let list = v.get("/console/incidents").await;
    assert_eq!(list.status(), StatusCode::OK);
    let list = list.text().await.unwrap();
    assert!(list.contains(&id) && !list.contains("id=\"incident-form\""), "{list}");
    let page = v.get(&at).await.text().await.unwrap();
    assert!(page.contains("<span title=\"general\">一般</span>") && page.contains("id=\"texts-withheld\""), "{page}");
    assert!(!page.contains("AUDITOR-MAY-NOT-READ-4410"), "no texts to an auditor");
    for form in ["affected-form", "notification-form", "exemption-form", "notice-link"] {
        assert!(!page.contains(&format!("id=\"{form}\"")), "{form} offered to an auditor");
    }
    // Posting anyway: refused by the use case, audited, nothing changed.
    let detected_s = detected.as_str();
    let r = v.post("/console/incidents", &incident_form(&csrf, detected_s, &[])).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let told = [("to", "authority"), ("recipient", "x"), ("csrf", csrf.as_str())];
    assert_eq!(v.post(&format!("{at}/notifications"), &told).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(v.get(&format!("{at}/notice")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(v.get(&format!("{at}/affected/0")).await.status(), StatusCode::FORBIDDEN);
    let denied = app.audit(&officer, &format!("actor={auditor_id}&outcome=deny")).await;
    let denied: BTreeSet<&str> = denied.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(denied.contains("incident.create") && denied.contains("incident.notify"), "{denied:?}");
    let api = incidents_in_api(&app, &officer).await;
    assert_eq!(api.len(), 1);
    assert_eq!(api[0]["notifications"], json!([]));

    // Sales: refused the register and the incident.
    let mut s = Visitor::new(&app.base);
    let home = {
        s.sign_in(&sales).await;
        s.get("/console").await.text().await.unwrap()
    };
    assert!(!home.contains("href=\"/console/incidents\""), "not in the menu");
    assert_eq!(s.get("/console/incidents").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.get(&at).await.status(), StatusCode::FORBIDDEN);
    let csrf = form_value(&home, "csrf");
    let r = s.post("/console/incidents", &incident_form(&csrf, detected_s, &[])).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(incidents_in_api(&app, &officer).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_page_says_in_words_what_answered_it() {
    let OfficerAtSubject { app, officer_id, officer, sid, mut v, csrf } = officer_at_a_subject().await;
    let id = app.verified_request(&officer, &officer_id, &sid, "access", now()).await;
    let r = v.post(&format!("/console/subjects/{sid}/export"), &[("request", id.as_str()), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let export = app.audit(&officer, &format!("actor={officer_id}&action=subject.export&outcome=allow")).await;
    let seq = export[0]["seq"].as_u64().unwrap().to_string();
    let at = format!("/console/requests/{id}");
    let form = [("change", "complete"), ("answer_kind", "audit_entry"), ("reference", &seq), ("csrf", &csrf)];
    assert_eq!(v.post(&at, &form).await.status(), StatusCode::SEE_OTHER);

    let page = v.get(&at).await.text().await.unwrap();
    let answered = &page[page.find("id=\"answered-by\"").expect("the answers listed")..];
    let answered = &answered[..answered.find("</ul>").unwrap()];
    assert!(answered.contains("<span title=\"audit_entry\">审计记录</span>"), "{answered}");
    assert!(answered.contains(&format!("href=\"/console/audit/{seq}\"")), "{answered}");
    assert!(answered.contains("<span title=\"subject.export\">导出个人信息副本</span>"), "{answered}");
    // The history in words, by name; no JSON anywhere.
    let history = &page[page.find("id=\"request-history\"").unwrap()..];
    assert!(history.contains("<span title=\"completed\">"), "{history}");
    assert!(!page.contains("{&quot;") && !page.contains("<dt>kind</dt>") && !page.contains("<dt>by</dt>"), "{page}");
    assert!(!page.contains(&format!(">{officer_id}<")), "people by name");
}
