//! Interactions tested where they live: the memory store, the shipped
//! policies, the manual clock; no HTTP.
use super::{InteractionKind, NewInteraction};
use crate::archive::testkit::{archive, last_entry, sales_dossier};
use crate::audit::Outcome;
use crate::store::{Cf, KvStore};

#[tokio::test]
async fn an_interaction_is_sealed_and_listed_as_the_read_plan_shows_its_class() {
    let (a, store) = archive();
    let (sales, made) = sales_dossier(&a).await;
    let contact = made.subjects[0].to_string();
    let n = NewInteraction {
        kind: InteractionKind::Complaint,
        at: a.now(),
        summary: "投诉货物外包装破损, 已安排补发".into(),
        contact: Some(contact.clone()),
        satisfaction: Some(2),
        follow_up: None,
    };
    let added = a.customers().add_interaction(&sales, made.id.as_str(), n).await.unwrap();
    for row in store.scan(Cf::Documents, b"", b"") {
        let (_, raw) = row.unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("外包装"), "the summary is sealed");
    }
    let page = a.customers().list_interactions(&sales, made.id.as_str(), None, None).await.unwrap();
    assert_eq!(page.interactions.len(), 1);
    assert_eq!(page.interactions[0].id, added.id);
    // The writer is shown what they wrote; a list shows the summary as the
    // read plan decides for its class (confidential: masked for sales).
    assert_eq!(added.summary.as_deref(), Some("投诉货物外包装破损, 已安排补发"));
    assert_eq!(page.interactions[0].summary_shown, "masked");
    assert_eq!(page.interactions[0].summary, Some(crate::policy::masking::masked_text()));
    assert_eq!(page.interactions[0].contact.as_deref(), Some(contact.as_str()));
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("interaction.list", Outcome::Allow));
}

/// The start page decides the policy only for the customers a list shows:
/// past the table's [`super::worklist::MAX_CUSTOMERS`], a customer with an
/// open follow-up or a review due is still listed (outside the table), one
/// with nothing to show is left out, through each change (the follow-up
/// met, a new one, time passing).
#[tokio::test]
async fn a_worklist_past_the_table_keeps_what_a_list_shows_and_drops_the_rest() {
    use super::worklist::{Worklist, MAX_CUSTOMERS};
    let (a, _store, clock) = crate::archive::testkit::archive_with_clock();
    let c = a.customers();
    let call = |follow_up: Option<time::Date>| NewInteraction {
        kind: InteractionKind::Call,
        at: a.now(),
        summary: "约定下周回访".into(),
        contact: None,
        satisfaction: None,
        follow_up,
    };
    let (sales, promised) = sales_dossier(&a).await;
    let first = c.add_interaction(&sales, promised.id.as_str(), call(Some(a.now().date() + time::Duration::days(3))));
    let first = first.await.unwrap();
    clock.advance(time::Duration::minutes(1));
    let body = crate::archive::testkit::body(sales.principal.id.as_str());
    let quiet = a.dossiers().create_dossier(&sales, &body).await.unwrap();
    for _ in 0..MAX_CUSTOMERS {
        clock.advance(time::Duration::seconds(1));
        a.dossiers().create_dossier(&sales, &body).await.unwrap();
    }
    let since = Some(a.now() - time::Duration::days(1));
    let me = &sales;
    let fetch = move || async move { c.worklist(me, since).await.unwrap() };
    let outside =
        |l: &Worklist| -> Vec<String> { l.customers.iter().filter(|c| !c.listed).map(|c| c.dossier.clone()).collect() };
    let list = fetch().await;
    assert!(list.more);
    assert_eq!(list.customers.iter().filter(|c| c.listed).count(), MAX_CUSTOMERS);
    assert_eq!(outside(&list), [promised.id.to_string()], "only the promised follow-up outside the table");
    assert!(!list.customers.iter().any(|c| c.dossier == quiet.id.as_str()));
    assert_eq!(list.follow_ups.len(), 1);
    assert_eq!(list.follow_ups[0].interaction, first.id);
    assert!(!list.follow_ups[0].customer_name.is_empty(), "the name opened as the policy shows it");

    // A later contact meets the promise.
    clock.advance(time::Duration::minutes(1));
    c.add_interaction(&sales, promised.id.as_str(), call(None)).await.unwrap();
    let list = fetch().await;
    assert!(list.follow_ups.is_empty());
    assert!(outside(&list).iter().all(|d| *d != promised.id.as_str()));

    // A new promise on a quiet customer; then time passes until every
    // review falls due within the look-ahead.
    c.add_interaction(&sales, quiet.id.as_str(), call(Some(a.now().date() + time::Duration::days(2)))).await.unwrap();
    let list = fetch().await;
    assert_eq!(list.follow_ups.iter().map(|f| f.dossier.as_str()).collect::<Vec<_>>(), [quiet.id.as_str()]);
    clock.advance(time::Duration::days(400));
    let list = fetch().await;
    assert_eq!(list.customers.len(), MAX_CUSTOMERS + 2, "every customer's review is due");
    assert!(list.customers.iter().all(|c| c.review_overdue));
    // The page lists the soonest reviews (the oldest customers' first) and
    // says how many there are.
    assert_eq!(list.reviews_total, MAX_CUSTOMERS + 2);
    let shown = list.reviews();
    assert_eq!(shown.len(), super::MAX_DUE);
    assert!(shown.windows(2).all(|w| w[0].review_due_at <= w[1].review_due_at), "soonest first");
    let outside: Vec<String> = outside(&list);
    assert!(outside.iter().all(|d| shown.iter().any(|c| &c.dossier == d)), "outside the table: only a shown review");
}
