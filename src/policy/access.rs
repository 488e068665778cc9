//! Coarse access rules (API.md role table, ownership and region columns).
//! A decision is a pure function of the principal and the dossier facts;
//! nothing permitted means deny.

use crate::domain::{Principal, PrincipalId, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Update,
}

/// The plaintext facts a decision may use (no personal data).
#[derive(Debug, Clone, Copy)]
pub struct DossierFacts<'a> {
    pub owner: &'a PrincipalId,
    pub region: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Why, in words that can go into an audit entry (no values).
    pub reason: String,
}

fn allow(reason: impl Into<String>) -> Decision {
    Decision { allowed: true, reason: reason.into() }
}

fn deny(reason: impl Into<String>) -> Decision {
    Decision { allowed: false, reason: reason.into() }
}

/// `facts` is the dossier as it is (read, update) or as it would be
/// (create); for an update `after` is the dossier as it would become.
pub fn decide(p: &Principal, action: Action, facts: DossierFacts<'_>, after: Option<DossierFacts<'_>>) -> Decision {
    let mut reasons = Vec::new();
    for role in &p.roles {
        let d = decide_role(*role, p, action, facts, after);
        if d.allowed {
            return d;
        }
        reasons.push(d.reason);
    }
    if reasons.is_empty() {
        return deny("principal has no role");
    }
    deny(reasons.join("; "))
}

fn decide_role(
    role: Role,
    p: &Principal,
    action: Action,
    facts: DossierFacts<'_>,
    after: Option<DossierFacts<'_>>,
) -> Decision {
    let own = facts.owner == &p.id;
    let in_region = |f: DossierFacts<'_>| f.region == p.region;
    match (role, action) {
        (Role::Admin, _) => deny("admin: reads and writes no dossier content"),
        (Role::Sales, Action::Read) if own => allow("sales: owner"),
        (Role::Sales, Action::Read) => deny("sales: not the owner"),
        (Role::Sales, Action::Create) if own => allow("sales: creates as owner"),
        (Role::Sales, Action::Create) => deny("sales: may create only as owner"),
        (Role::Sales, Action::Update) => deny("sales: may not update dossiers"),
        (Role::Service, Action::Read) if in_region(facts) => allow("service: own region"),
        (Role::Service, Action::Read) => deny("service: other region"),
        (Role::Service, Action::Create) => allow("service: may create"),
        (Role::Service, Action::Update) if in_region(facts) && after.is_none_or(in_region) => {
            allow("service: own region")
        }
        (Role::Service, Action::Update) => deny("service: may update only in own region"),
        (Role::Finance | Role::Compliance, Action::Read) => allow(format!("{role}: may read")),
        (Role::Finance | Role::Compliance, _) => deny(format!("{role}: may not change dossiers")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role], region: &str) -> Principal {
        Principal {
            id: PrincipalId::generate(),
            name: "t".into(),
            roles: roles.to_vec(),
            department: "d".into(),
            region: region.into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn role_table_ownership_and_region() {
        let other = PrincipalId::generate();
        let sales = principal(&[Role::Sales], "华东");
        let own = DossierFacts { owner: &sales.id, region: "华南" };
        let theirs = DossierFacts { owner: &other, region: "华东" };
        assert!(decide(&sales, Action::Read, own, None).allowed);
        assert!(!decide(&sales, Action::Read, theirs, None).allowed);
        assert!(decide(&sales, Action::Create, own, None).allowed);
        assert!(!decide(&sales, Action::Create, theirs, None).allowed);
        assert!(!decide(&sales, Action::Update, own, Some(own)).allowed);

        let service = principal(&[Role::Service], "华东");
        assert!(decide(&service, Action::Read, theirs, None).allowed);
        assert!(!decide(&service, Action::Read, own, None).allowed);
        assert!(decide(&service, Action::Update, theirs, Some(theirs)).allowed);
        assert!(!decide(&service, Action::Update, theirs, Some(own)).allowed, "moving out of region");

        for r in [Role::Finance, Role::Compliance] {
            let p = principal(&[r], "x");
            assert!(decide(&p, Action::Read, theirs, None).allowed);
            assert!(!decide(&p, Action::Create, theirs, None).allowed);
            assert!(!decide(&p, Action::Update, theirs, Some(theirs)).allowed);
        }
        let admin = principal(&[Role::Admin], "华东");
        for a in [Action::Read, Action::Create, Action::Update] {
            assert!(!decide(&admin, a, theirs, Some(theirs)).allowed);
        }
        assert!(!decide(&principal(&[], "x"), Action::Read, theirs, None).allowed);
    }
}
