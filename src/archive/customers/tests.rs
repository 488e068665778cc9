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
