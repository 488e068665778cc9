//! A person's restriction from the console (GDPR Art. 18(3)): the page says
//! that a notice must be recorded before the lift, the lift without one is
//! refused in the page (not as a raw problem), the notice is recorded in a
//! form held to the API's bounds and the archive's, and then the lift goes
//! ahead; every step audited as the API's.

use super::{form_value, officer_at_a_subject, OfficerAtSubject};
use crate::common::rfc3339;
use reqwest::StatusCode;
use serde_json::Value;

/// A notice form as posted, the status it gets, and what its page says.
type Hostile<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restriction_is_lifted_from_the_console_once_the_notice_is_recorded() {
    let OfficerAtSubject { app, officer_id, officer, sid, mut v, csrf } = officer_at_a_subject().await;
    let page_at = format!("/console/subjects/{sid}");
    let restriction = format!("{page_at}/restriction");
    let notice = format!("{restriction}/notice");
    let api = || async {
        let r = app.get(&officer, Some("dsr"), &format!("/v1/subjects/{sid}")).await;
        r.json::<Value>().await.unwrap()
    };

    // Restricted from the page: the page now says a notice must come first, and offers its form.
    let r = v.post(&restriction, &[("restrict", "true"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(api().await["status"], "restricted");
    let page = v.get(&page_at).await.text().await.unwrap();
    assert!(page.contains("id=\"lift-notice-missing\"") && page.contains("id=\"lift-notice-form\""), "{page}");
    assert!(page.contains("解除限制处理前必须先告知本人（GDPR 第 18 条第 3 款）"), "in the console's language");
    for channel in ["letter", "email", "phone", "in_person", "portal"] {
        assert!(page.contains(&format!("<option value=\"{channel}\">")), "{channel} offered");
    }

    // The lift without a notice: refused by the archive, shown in the page with the explanation.
    let r = v.post(&restriction, &[("restrict", "false"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "a page, not a problem document");
    let refused = r.text().await.unwrap();
    assert!(refused.contains("id=\"lift-refused\"") && refused.contains("id=\"lift-notice-missing\""), "{refused}");
    assert!(refused.contains("18(3)") && refused.contains("id=\"lift-notice-form\""));
    assert_eq!(api().await["status"], "restricted");
    let denied = app.audit(&officer, &format!("actor={officer_id}&action=subject.unrestrict&outcome=deny")).await;
    assert_eq!((denied.len(), denied[0]["purpose"].as_str()), (1, Some("dsr")));

    // Hostile notices: each refused, nothing recorded.
    let now = time::OffsetDateTime::now_utc();
    let (tomorrow, yesterday, at) =
        (rfc3339(now + time::Duration::days(1)), rfc3339(now - time::Duration::days(1)), rfc3339(now));
    let cases: [Hostile; 6] = [
        (
            &[("channel", "letter"), ("notified_at", &tomorrow), ("csrf", &csrf)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "lies in the future",
        ),
        (
            &[("channel", "letter"), ("notified_at", &yesterday), ("csrf", &csrf)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "before the restriction began",
        ),
        (&[("channel", "pigeon"), ("notified_at", &at), ("csrf", &csrf)], StatusCode::UNPROCESSABLE_ENTITY, "/channel"),
        (
            &[("channel", "letter"), ("notified_at", "next tuesday"), ("csrf", &csrf)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "/notified_at",
        ),
        (&[("channel", "letter"), ("notified_at", &at)], StatusCode::FORBIDDEN, ""),
        (
            &[("channel", "letter"), ("notified_at", &at), ("recorded_by", &officer_id), ("csrf", &csrf)],
            StatusCode::BAD_REQUEST,
            "",
        ),
    ];
    for (form, want, says) in cases {
        let r = v.post(&notice, form).await;
        assert_eq!(r.status(), want, "{form:?}");
        assert!(r.text().await.unwrap().contains(says), "{form:?} says {says}");
    }
    let r = v.post(&notice, &[("channel", "letter"), ("notified_at", &at), ("csrf", "forged")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(api().await["lift_notice"], Value::Null, "nothing recorded");

    // The notice recorded in the form: shown with when it was given, the reference never.
    let form = [("channel", "letter"), ("notified_at", at.as_str()), ("reference", "函-2026-77"), ("csrf", &csrf)];
    assert_eq!(v.post(&notice, &form).await.status(), StatusCode::SEE_OTHER);
    let s = api().await;
    assert_eq!(
        (s["lift_notice"]["channel"].as_str(), s["lift_notice"]["covers_restriction"].as_bool()),
        (Some("letter"), Some(true))
    );
    let page = v.get(&page_at).await.text().await.unwrap();
    assert!(page.contains("id=\"lift-notice-recorded\"") && !page.contains("id=\"lift-notice-missing\""), "{page}");
    assert!(page.contains(&at) && !page.contains("函-2026-77"));
    let noted = app.audit(&officer, &format!("actor={officer_id}&action=subject.restriction_notice")).await;
    let outcomes: Vec<&str> = noted.iter().filter_map(|e| e["outcome"].as_str()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "allow").count(), 1, "{outcomes:?}");
    assert_eq!(noted.iter().find(|e| e["outcome"] == "allow").unwrap()["purpose"], "dsr");
    assert!(!serde_json::to_string(&noted).unwrap().contains("函-2026-77"));

    // Then the lift goes ahead, through the same use case.
    let csrf = form_value(&page, "csrf");
    assert_eq!(v.post(&restriction, &[("restrict", "false"), ("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(api().await["status"], "active");
    let lifted = app.audit(&officer, &format!("actor={officer_id}&action=subject.unrestrict&outcome=allow")).await;
    assert!(lifted[0]["reason"].as_str().unwrap().contains("the person was told on"), "{}", lifted[0]);
    let page = v.get(&page_at).await.text().await.unwrap();
    assert!(!page.contains("id=\"lift-notice-form\"") && page.contains("name=\"restrict\" value=\"true\""));

    // Restricted again: the old notice does not count, and the page says so.
    assert_eq!(v.post(&restriction, &[("restrict", "true"), ("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    let page = v.get(&page_at).await.text().await.unwrap();
    assert!(page.contains("id=\"lift-notice-missing\"") && page.contains("此前一次限制处理的告知不计入"), "{page}");
}
