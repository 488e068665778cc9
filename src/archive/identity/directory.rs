//! The staff directory: a colleague by name, roles and department, where a
//! page names who acted (a dossier's owner, a version's author, an audit
//! entry's actor). Decided by `staff.directory` in `policies/access.cedar`
//! (staff of the company; an outside processor sees ids), in one place for
//! every page. A card carries nothing else of the staff record (no region,
//! no tokens, no second factor).
//!
//! Not audited: these are the workplace names the archive already shows
//! beside every action a colleague takes; reading a dossier or a person
//! stays audited as before.

use super::Identity;
use crate::archive::gate::Operation;
use crate::archive::ArchiveError;
use crate::domain::{Principal, PrincipalId, Role};
use crate::store::{Cf, Op};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;

/// A colleague as the directory shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffCard {
    pub id: PrincipalId,
    pub name: String,
    pub roles: Vec<Role>,
    pub department: String,
}

impl StaffCard {
    fn of(p: &Principal) -> Self {
        StaffCard { id: p.id.clone(), name: p.name.clone(), roles: p.roles.clone(), department: p.department.clone() }
    }
}

/// Distinct principals looked up at most per call: a page names a few
/// dozen people; anything past this is shown by id.
const MAX_CARDS: usize = 500;

impl Identity {
    /// The cards of `ids` the `viewer` may see: none when the policy does
    /// not permit the directory; an id that names no principal (`system`,
    /// a removed record) has no card. Each distinct id is read once.
    pub fn staff_cards<'a>(
        &self,
        viewer: &Principal,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, StaffCard>, ArchiveError> {
        let mut out = HashMap::new();
        if !self.gate.may(viewer, Operation::StaffDirectory) {
            return Ok(out);
        }
        let mut seen = std::collections::HashSet::new();
        for raw in ids {
            if seen.len() >= MAX_CARDS || !seen.insert(raw) {
                continue;
            }
            let Ok(id) = PrincipalId::parse(raw) else { continue };
            if id == viewer.id {
                out.insert(raw.to_owned(), StaffCard::of(viewer));
            } else if let Some(p) = self.principal(&id)? {
                out.insert(raw.to_owned(), StaffCard::of(&p));
            }
        }
        Ok(out)
    }
}

impl Identity {
    /// Records a console sign-in of `id` now; returns the one before it
    /// (`v/<prn>` in `principals`, a time and nothing else).
    pub fn note_console_visit(&self, id: &PrincipalId) -> Result<Option<time::OffsetDateTime>, ArchiveError> {
        let key = crate::store::keys::console_visit(id);
        let previous = self
            .store
            .get(Cf::Principals, &key)?
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|t| time::OffsetDateTime::parse(&t, &Rfc3339).ok());
        let now = self.clock.now().format(&Rfc3339).map_err(|e| ArchiveError::Internal(e.into()))?;
        self.store.write(&[Op::Put(Cf::Principals, key, now.into_bytes())], false)?;
        Ok(previous)
    }
}
