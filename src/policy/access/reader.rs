//! One read's field decisions: per field class (and per contact), memoised
//! within the request and shared across requests through the policy's
//! bounded cache.

use super::{strings, AccessPolicy, FieldDecision, FieldOutcome, ReadFacts, ReadKey, SubjectState};
use crate::domain::Classification;
use cedar_policy::{Entities, EntityUid, RestrictedExpression};
use std::collections::HashMap;

/// The dossier as field decisions see it: its attributes, not its id.
pub(super) const READ_RESOURCE: &str = "dossier";

pub struct FieldReader<'a> {
    pub(super) policy: &'a AccessPolicy,
    pub(super) facts: std::sync::Arc<ReadFacts>,
    /// Built on the first decision not found in the cache.
    pub(super) entities: std::cell::OnceCell<Option<Entities>>,
    pub(super) principal: EntityUid,
    pub(super) resource: EntityUid,
    pub(super) basis: String,
    pub(super) open_when_restricted: bool,
    pub(super) memo: HashMap<(Classification, Option<SubjectState>), FieldDecision>,
}

impl FieldReader<'_> {
    /// How many distinct decisions this reader evaluated (the rest were memoised).
    pub fn evaluations(&self) -> usize {
        self.memo.len()
    }

    /// The outcome for a class of fields; `subject` is the person the fields
    /// are about (a contact's own fields), `None` for the dossier's.
    pub fn decide(&mut self, class: Classification, subject: Option<&SubjectState>) -> FieldDecision {
        let key = (class, subject.cloned());
        if let Some(d) = self.memo.get(&key) {
            return d.clone();
        }
        let shared = ReadKey { read: self.facts.clone(), class, subject: subject.cloned() };
        let cached = self.policy.decisions.lock().ok().and_then(|mut c| c.get(&shared).cloned());
        let d = match cached {
            Some(d) => d,
            None => {
                let d = self.evaluate(class, subject);
                if let Ok(mut c) = self.policy.decisions.lock() {
                    c.put(shared, d.clone());
                }
                d
            }
        };
        self.memo.insert(key, d.clone());
        d
    }

    fn evaluate(&self, class: Classification, subject: Option<&SubjectState>) -> FieldDecision {
        let Some(entities) = self.entities.get_or_init(|| self.policy.read_entities(&self.facts)) else {
            return FieldDecision {
                outcome: FieldOutcome::Withheld,
                policies: ["(entities could not be built)".to_owned()].into(),
            };
        };
        let empty = SubjectState::default();
        let s = subject.unwrap_or(&empty);
        let state = RestrictedExpression::new_record([
            ("restricted".to_owned(), RestrictedExpression::new_bool(s.restricted)),
            ("consents".to_owned(), strings(&s.consents)),
            ("separate_consents".to_owned(), strings(&s.separate_consents)),
            ("superseded".to_owned(), RestrictedExpression::new_bool(s.superseded)),
        ]);
        let Ok(state) = state else {
            return FieldDecision {
                outcome: FieldOutcome::Withheld,
                policies: ["(context could not be built)".to_owned()].into(),
            };
        };
        let class_name = class.as_str();
        let context = vec![
            ("purpose".to_owned(), RestrictedExpression::new_string(self.facts.purpose.clone())),
            ("basis".to_owned(), RestrictedExpression::new_string(self.basis.clone())),
            ("open_when_restricted".to_owned(), RestrictedExpression::new_bool(self.open_when_restricted)),
            ("field_class".to_owned(), RestrictedExpression::new_string(class_name.to_owned())),
            ("about_subject".to_owned(), RestrictedExpression::new_bool(subject.is_some())),
            ("subject".to_owned(), state),
        ];
        let (allowed, reasons) =
            self.policy.run(self.principal.clone(), self.policy.read.clone(), self.resource.clone(), context, entities);
        let outcome = if allowed {
            reasons.iter().filter_map(|i| i.outcome).max().unwrap_or(FieldOutcome::Withheld)
        } else {
            FieldOutcome::Withheld
        };
        let mut policies: Vec<String> = reasons.iter().map(|i| i.name.clone()).collect();
        policies.sort_unstable();
        FieldDecision { outcome, policies: policies.into() }
    }
}
