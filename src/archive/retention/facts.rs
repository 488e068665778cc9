//! What retention may know of every live dossier and contact, kept
//! (`archive::kept`) so that the disposition list, the sweep and a batch do
//! not read every dossier's meta and holds and every person's record and
//! links per request: one row per live dossier (its times, status, active
//! holds) and per person not erased (times, consent, links), read again
//! whenever a write names them (a meta, a hold, a consent, a link). What
//! the rules make of them depends on the time and is decided per request.

use super::Retention;
use crate::archive::kept::Derive;
use crate::archive::records::{DOSSIERS, SUBJECTS};
use crate::archive::ArchiveError;
use crate::domain::{DossierId, SubjectId};
use crate::policy::retention::{ContactFacts, Covers, DossierFacts, RetentionRules};
use std::borrow::Cow;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A person as retention knows them; their dossiers are the rows they link.
#[derive(Debug, Clone)]
pub(crate) struct PersonFacts {
    id: SubjectId,
    created_at: OffsetDateTime,
    last_withdrawal_at: Option<OffsetDateTime>,
    has_live_consent: bool,
    lost_at: Option<OffsetDateTime>,
    links: Vec<DossierId>,
}

/// One kept row: a dossier's (`dos_…`) or a person's (`sub_…`).
#[derive(Debug, Clone)]
pub(crate) enum Fact {
    Dossier(DossierFacts),
    Person(PersonFacts),
}

/// Reads the rows for one retention service.
pub(super) struct Reader<'a>(pub &'a Retention);

impl Reader<'_> {
    /// Whether any rule covers contacts (else no person is kept).
    fn covers_contacts(&self) -> bool {
        self.0.policy.retention.rules.iter().any(|r| r.covers == Covers::Contact)
    }

    fn person(&self, sid: &SubjectId) -> Result<Option<PersonFacts>, ArchiveError> {
        let Some(s) = SUBJECTS.get(self.0.store.as_ref(), sid)?.filter(|s| s.erased.is_none()) else {
            return Ok(None);
        };
        Ok(Some(PersonFacts {
            id: sid.clone(),
            created_at: s.created_at,
            last_withdrawal_at: s.last_withdrawal_at,
            has_live_consent: !s.consents.is_empty(),
            lost_at: s.lost_at,
            links: self.0.linked_dossiers(sid)?,
        }))
    }
}

impl Derive for Reader<'_> {
    type Row = Fact;

    fn read_all(&self) -> Result<BTreeMap<String, Fact>, ArchiveError> {
        let mut rows = BTreeMap::new();
        for d in self.0.dossiers.all_dossiers()? {
            if d.destroyed.is_none() {
                rows.insert(d.id.to_string(), Fact::Dossier(self.0.dossier_facts(&d)?));
            }
        }
        if self.covers_contacts() {
            for s in SUBJECTS.values(self.0.store.as_ref()) {
                let s = s?;
                if let Some(p) = self.person(&s.id)? {
                    rows.insert(s.id.to_string(), Fact::Person(p));
                }
            }
        }
        Ok(rows)
    }

    fn read_one(&self, id: &str, _old: Option<&Fact>) -> Result<Option<Fact>, ArchiveError> {
        if let Ok(did) = DossierId::parse(id) {
            let meta = DOSSIERS.get(self.0.store.as_ref(), &did)?.filter(|d| d.destroyed.is_none());
            return meta.map(|d| self.0.dossier_facts(&d).map(Fact::Dossier)).transpose();
        }
        match SubjectId::parse(id) {
            Ok(sid) if self.covers_contacts() => Ok(self.person(&sid)?.map(Fact::Person)),
            _ => Ok(None),
        }
    }

    fn prefixes(&self) -> &'static [&'static str] {
        &["dos_", "sub_"]
    }
}

/// The rows whose ids start with `prefix` (`dos_`, `sub_`), in id order:
/// a range, not a pass over the other kind.
fn of_kind<'a>(rows: &'a BTreeMap<String, Fact>, prefix: &str) -> impl Iterator<Item = &'a Fact> {
    // The first string after every `prefix…` id: `_` is followed by a backquote.
    let end = format!("{}`", &prefix[..prefix.len() - 1]);
    rows.range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Excluded(end.as_str()))).map(|(_, f)| f)
}

/// The live dossiers' facts, in id order.
pub(super) fn dossiers(rows: &BTreeMap<String, Fact>) -> impl Iterator<Item = &DossierFacts> {
    of_kind(rows, "dos_").filter_map(|f| match f {
        Fact::Dossier(d) => Some(d),
        Fact::Person(_) => None,
    })
}

/// The facts of the persons `rules` could make due, with their live
/// dossiers', in id order. A person no erase rule could make due whatever
/// their dossiers (`contact_could_be_due`: a live consent, not lost) is
/// left out before their dossiers are gathered: the rules would find
/// nothing for them.
pub(super) fn contacts<'a>(
    rows: &'a BTreeMap<String, Fact>,
    rules: &'a RetentionRules,
) -> impl Iterator<Item = ContactFacts<'a>> {
    of_kind(rows, "sub_").filter_map(move |f| {
        let Fact::Person(p) = f else { return None };
        let mut c = ContactFacts {
            id: Cow::Borrowed(&p.id),
            created_at: p.created_at,
            last_withdrawal_at: p.last_withdrawal_at,
            has_live_consent: p.has_live_consent,
            lost_at: p.lost_at,
            dossiers: Vec::new(),
        };
        if !rules.contact_could_be_due(&c) {
            return None;
        }
        c.dossiers = p
            .links
            .iter()
            .filter_map(|d| match rows.get(d.as_str()) {
                Some(Fact::Dossier(d)) => Some(Cow::Borrowed(d)),
                _ => None,
            })
            .collect();
        Some(c)
    })
}
