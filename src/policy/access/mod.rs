//! The access engine: Cedar policies (`policies/access.cedar`), validated
//! against `policies/schema.cedarschema` in strict mode when loaded.
//!
//! Decisions are pure functions of the principal, the dossier's plaintext
//! facts (owner, region, grade, status), the purpose with its legal basis,
//! the field class, and a data subject's consent and restriction state. A
//! read is decided per field class; the permits that hold say `clear` or
//! `masked` through their `@outcome` annotation, and no permit (or any
//! forbid, or any evaluation error) withholds. Every policy has an `@id`,
//! which audit entries quote as the reason.
//!
//! `load` parses and validates the files; `reader` decides the field
//! classes of one read.

mod decision;
mod gates;
mod load;
mod operation;
mod reader;

pub use decision::{Basis, Decision};
pub use operation::Operation;
pub use reader::FieldReader;
use reader::READ_RESOURCE;

use super::PurposeDef;
use crate::domain::dossier::{Grade, Status};
use crate::domain::{Classification, Principal, PrincipalId, SubjectId};
use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet as CedarPolicySet, Request, RestrictedExpression,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

/// How one field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldOutcome {
    Withheld,
    Masked,
    Clear,
}

impl FieldOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldOutcome::Clear => "clear",
            FieldOutcome::Masked => "masked",
            FieldOutcome::Withheld => "withheld",
        }
    }
}

/// Creating and changing dossiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Update,
    /// Ending the customer relationship.
    Close,
    /// Recording an interaction with the customer.
    Interact,
}

/// Operations on a data subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectAction {
    Read,
    Export,
    Restrict,
    GrantConsent,
    WithdrawConsent,
    Erase,
    /// Naming an existing subject in a dossier (create or update).
    Link,
    /// Recording where the person resides (whose law governs their rights).
    Residency,
}

impl SubjectAction {
    fn cedar_name(self) -> &'static str {
        match self {
            SubjectAction::Read => "subject.read",
            SubjectAction::Export => "subject.export",
            SubjectAction::Restrict => "subject.restrict",
            SubjectAction::GrantConsent => "consent.grant",
            SubjectAction::WithdrawConsent => "consent.withdraw",
            SubjectAction::Erase => "subject.erase",
            SubjectAction::Link => "subject.link",
            SubjectAction::Residency => "subject.residency",
        }
    }
}

/// The plaintext facts a dossier decision may use (no personal data).
#[derive(Debug, Clone, Copy)]
pub struct DossierFacts<'a> {
    pub owner: &'a PrincipalId,
    pub region: &'a str,
    pub grade: Grade,
    pub status: Status,
}

impl<'a> DossierFacts<'a> {
    pub fn of(d: &'a crate::domain::dossier::Dossier) -> Self {
        DossierFacts { owner: &d.owner, region: &d.customer.region, grade: d.grade, status: d.status }
    }
}

/// A data subject's legal-basis state when the request is decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SubjectState {
    pub restricted: bool,
    /// Purposes with a live consent of any basis.
    pub consents: BTreeSet<String>,
    /// Purposes with a live separate consent (PIPL Art. 29).
    pub separate_consents: BTreeSet<String>,
    /// The fields read are of an old version, since corrected (PIPL Art.
    /// 46; GDPR Art. 16).
    pub superseded: bool,
}

/// What subject operations are decided on: who serves the person.
#[derive(Debug, Clone, Default)]
pub struct SubjectFacts {
    /// Owners of the dossiers that name the subject.
    pub owners: BTreeSet<PrincipalId>,
    /// Regions of those dossiers.
    pub regions: BTreeSet<String>,
    pub restricted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDecision {
    pub outcome: FieldOutcome,
    /// The policies that decided, by `@id` (shared: a decision is copied
    /// into the cache, the request's memo and the plan).
    pub policies: std::sync::Arc<[String]>,
}

struct PolicyInfo {
    name: String,
    outcome: Option<FieldOutcome>,
    /// Where the policy starts in access.cedar (its first annotation).
    line: usize,
}

/// Everything a field decision depends on. The dossier's id is not given to
/// Cedar (policies decide on its attributes), so equal keys are equal
/// decisions whatever the dossier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ReadKey {
    /// The same for every decision of one read: shared, not copied.
    read: std::sync::Arc<ReadFacts>,
    class: Classification,
    subject: Option<SubjectState>,
}

/// The caller, the dossier's attributes and the purpose of one read.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ReadFacts {
    principal: PrincipalId,
    roles: Vec<crate::domain::Role>,
    department: String,
    region: String,
    owner: PrincipalId,
    dossier_region: String,
    grade: Grade,
    status: Status,
    purpose: String,
}

/// How many field decisions are kept across requests.
const DECISION_CACHE: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(65_536) {
    Some(n) => n,
    None => std::num::NonZeroUsize::MIN,
};

pub struct AccessPolicy {
    decisions: std::sync::Mutex<lru::LruCache<ReadKey, FieldDecision>>,
    policies: CedarPolicySet,
    authorizer: Authorizer,
    info: HashMap<PolicyId, PolicyInfo>,
    staff: EntityTypeName,
    dossier: EntityTypeName,
    subject: EntityTypeName,
    read: EntityUid,
    create: EntityUid,
    update: EntityUid,
    /// The roles some read permit requires (`gates`); `None`: unknown.
    read_roles: Option<std::collections::BTreeSet<String>>,
}

#[expect(
    clippy::expect_used,
    reason = "called with the fixed names of schema.cedarschema (tested by shipped_policies_validate)"
)]
fn type_name(s: &str) -> EntityTypeName {
    EntityTypeName::from_str(s).expect("a valid Cedar type name")
}

fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

fn strings<'a>(items: impl IntoIterator<Item = &'a String>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.into_iter().map(|s| RestrictedExpression::new_string(s.clone())))
}

impl AccessPolicy {
    /// Whether some read permit could ever show `p` a field of some
    /// dossier (`gates`): false for a caller with none of the roles the
    /// read permits require, who is shown nothing of any dossier.
    pub fn may_read_some(&self, p: &Principal) -> bool {
        self.read_roles.as_ref().is_none_or(|roles| p.roles.iter().any(|r| roles.contains(r.as_str())))
    }

    /// The `@id`s of the policies, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.info.values().map(|i| i.name.as_str()).collect();
        names.sort_unstable();
        names
    }

    fn staff_entity(&self, p: &Principal) -> Entity {
        self.staff_entity_of(&p.id, &p.roles, &p.department, &p.region)
    }

    #[expect(clippy::expect_used, reason = "literal attribute values always evaluate")]
    fn staff_entity_of(
        &self,
        id: &PrincipalId,
        roles: &[crate::domain::Role],
        department: &str,
        region: &str,
    ) -> Entity {
        let roles = RestrictedExpression::new_set(
            roles.iter().map(|r| RestrictedExpression::new_string(r.as_str().to_owned())),
        );
        let attrs = HashMap::from([
            ("roles".to_owned(), roles),
            ("department".to_owned(), RestrictedExpression::new_string(department.to_owned())),
            ("region".to_owned(), RestrictedExpression::new_string(region.to_owned())),
        ]);
        Entity::new(uid(&self.staff, id.as_str()), attrs, HashSet::new()).expect("literal attributes")
    }

    #[expect(clippy::expect_used, reason = "literal attribute values always evaluate")]
    fn dossier_entity(&self, id: &str, facts: &DossierFacts<'_>) -> Entity {
        let grade = match facts.grade {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
        };
        let status = match facts.status {
            Status::Prospect => "prospect",
            Status::Active => "active",
            Status::Closed => "closed",
        };
        let attrs = HashMap::from([
            ("owner".to_owned(), RestrictedExpression::new_entity_uid(uid(&self.staff, facts.owner.as_str()))),
            ("region".to_owned(), RestrictedExpression::new_string(facts.region.to_owned())),
            ("grade".to_owned(), RestrictedExpression::new_string(grade.to_owned())),
            ("status".to_owned(), RestrictedExpression::new_string(status.to_owned())),
        ]);
        Entity::new(uid(&self.dossier, id), attrs, HashSet::new()).expect("literal attributes")
    }

    /// The entities of a field decision, from its cache key: built only
    /// when a decision is evaluated, not when it comes from the cache.
    fn read_entities(&self, k: &ReadFacts) -> Option<Entities> {
        let staff = self.staff_entity_of(&k.principal, &k.roles, &k.department, &k.region);
        let facts = DossierFacts { owner: &k.owner, region: &k.dossier_region, grade: k.grade, status: k.status };
        Entities::from_entities([staff, self.dossier_entity(READ_RESOURCE, &facts)], None).ok()
    }

    /// Runs one request; evaluation errors fail closed.
    fn run(
        &self,
        principal: EntityUid,
        action: EntityUid,
        resource: EntityUid,
        context: Vec<(String, RestrictedExpression)>,
        entities: &Entities,
    ) -> (bool, Vec<&PolicyInfo>) {
        let Ok(context) = Context::from_pairs(context) else {
            tracing::error!("access policy: context could not be built; denying");
            return (false, vec![]);
        };
        let Ok(request) = Request::new(principal, action, resource, context, None) else {
            tracing::error!("access policy: request could not be built; denying");
            return (false, vec![]);
        };
        let response = self.authorizer.is_authorized(&request, &self.policies, entities);
        let errors: Vec<String> = response.diagnostics().errors().map(|e| e.to_string()).collect();
        if !errors.is_empty() {
            tracing::error!(errors = ?errors, "access policy: evaluation errors; denying");
            return (false, vec![]);
        }
        let reasons = response.diagnostics().reason().filter_map(|id| self.info.get(id)).collect();
        (response.decision() == CedarDecision::Allow, reasons)
    }

    fn deciding(reasons: &[&PolicyInfo]) -> Vec<String> {
        let mut names: Vec<String> = reasons.iter().map(|i| i.name.clone()).collect();
        names.sort_unstable();
        names
    }

    /// The decision on `action` from Cedar's answer and its deciding policies.
    fn verdict(p: &Principal, action: &str, on_dossier: bool, allowed: bool, reasons: &[&PolicyInfo]) -> Decision {
        let basis = match (allowed, reasons.is_empty()) {
            (true, _) => Basis::Permitted(Self::deciding(reasons)),
            (false, true) => Basis::NoPermit { action: action.to_owned(), roles: p.role_names(), on_dossier },
            (false, false) => Basis::Forbidden(Self::deciding(reasons)),
        };
        Decision { allowed, basis }
    }

    /// Create (`facts` is the dossier as it would be) or update (`facts` as
    /// it is, `after` as it would become).
    pub fn decide_change(
        &self,
        p: &Principal,
        change: Change,
        purpose: &str,
        id: &str,
        facts: DossierFacts<'_>,
        after: DossierFacts<'_>,
    ) -> Decision {
        let entities = match Entities::from_entities([self.staff_entity(p), self.dossier_entity(id, &facts)], None) {
            Ok(e) => e,
            Err(_) => return Decision::unbuildable("entities"),
        };
        let context = vec![
            ("purpose".to_owned(), RestrictedExpression::new_string(purpose.to_owned())),
            ("new_owner".to_owned(), RestrictedExpression::new_entity_uid(uid(&self.staff, after.owner.as_str()))),
            ("new_region".to_owned(), RestrictedExpression::new_string(after.region.to_owned())),
        ];
        let action = match change {
            Change::Create => self.create.clone(),
            Change::Update => self.update.clone(),
            Change::Close => uid(&type_name("Action"), "dossier.close"),
            Change::Interact => uid(&type_name("Action"), "dossier.interact"),
        };
        let (allowed, reasons) =
            self.run(uid(&self.staff, p.id.as_str()), action, uid(&self.dossier, id), context, &entities);
        let verb = match change {
            Change::Create => "create",
            Change::Update => "update",
            Change::Close => "close",
            Change::Interact => "interact",
        };
        Self::verdict(p, verb, true, allowed, &reasons)
    }

    /// Placing or releasing a legal hold on a dossier.
    pub fn decide_hold(&self, p: &Principal, purpose: &str, id: &str, facts: DossierFacts<'_>) -> Decision {
        let Ok(entities) = Entities::from_entities([self.staff_entity(p), self.dossier_entity(id, &facts)], None)
        else {
            return Decision::unbuildable("entities");
        };
        let context = vec![("purpose".to_owned(), RestrictedExpression::new_string(purpose.to_owned()))];
        let action = uid(&type_name("Action"), "dossier.hold");
        let (allowed, reasons) =
            self.run(uid(&self.staff, p.id.as_str()), action, uid(&self.dossier, id), context, &entities);
        Self::verdict(p, "dossier.hold", false, allowed, &reasons)
    }

    /// An operation on the archive as a whole (see [`Operation`]): who may
    /// read the audit log, keep or read the registers, administer staff.
    pub fn decide_operation(&self, p: &Principal, op: Operation) -> Decision {
        self.decide_on_archive(p, op.cedar_name(), vec![])
    }

    /// Retention and destruction as a whole (`disposition.manage`).
    pub fn decide_disposition(&self, p: &Principal, purpose: &str) -> Decision {
        let context = vec![("purpose".to_owned(), RestrictedExpression::new_string(purpose.to_owned()))];
        self.decide_on_archive(p, "disposition.manage", context)
    }

    /// `action` by `p` on the `Archive` entity, with `context`.
    fn decide_on_archive(&self, p: &Principal, action: &str, context: Vec<(String, RestrictedExpression)>) -> Decision {
        let archive = uid(&type_name("Archive"), "custos");
        let Ok(entities) = Entities::from_entities(
            [self.staff_entity(p), Entity::new_no_attrs(archive.clone(), HashSet::new())],
            None,
        ) else {
            return Decision::unbuildable("entities");
        };
        let action_uid = uid(&type_name("Action"), action);
        let (allowed, reasons) = self.run(uid(&self.staff, p.id.as_str()), action_uid, archive, context, &entities);
        Self::verdict(p, action, false, allowed, &reasons)
    }

    pub fn decide_subject(
        &self,
        p: &Principal,
        action: SubjectAction,
        purpose: &str,
        id: &SubjectId,
        facts: &SubjectFacts,
    ) -> Decision {
        let attrs = HashMap::from([
            (
                "owners".to_owned(),
                RestrictedExpression::new_set(
                    facts.owners.iter().map(|o| RestrictedExpression::new_entity_uid(uid(&self.staff, o.as_str()))),
                ),
            ),
            ("regions".to_owned(), strings(&facts.regions)),
            ("restricted".to_owned(), RestrictedExpression::new_bool(facts.restricted)),
        ]);
        let Ok(subject) = Entity::new(uid(&self.subject, id.as_str()), attrs, HashSet::new()) else {
            return Decision::unbuildable("the subject entity");
        };
        let Ok(entities) = Entities::from_entities([self.staff_entity(p), subject], None) else {
            return Decision::unbuildable("entities");
        };
        let context = vec![("purpose".to_owned(), RestrictedExpression::new_string(purpose.to_owned()))];
        let action_uid = uid(&type_name("Action"), action.cedar_name());
        let (allowed, reasons) =
            self.run(uid(&self.staff, p.id.as_str()), action_uid, uid(&self.subject, id.as_str()), context, &entities);
        Self::verdict(p, action.cedar_name(), false, allowed, &reasons)
    }
    /// A reader for one dossier: decides field classes, memoising each
    /// distinct (class, subject state) so a dossier costs a handful of
    /// evaluations whatever its number of contacts, and sharing decisions
    /// across requests through a bounded cache keyed by everything a
    /// decision depends on. The dossier's id is deliberately not given to
    /// Cedar: read policies decide on its attributes (owner, region, grade,
    /// status), which is what makes the cache sound.
    pub fn reader<'a>(
        &'a self,
        p: &Principal,
        _dossier: &str,
        facts: DossierFacts<'_>,
        purpose: &str,
        def: &PurposeDef,
    ) -> FieldReader<'a> {
        let basis = def.basis.as_str().to_owned();
        FieldReader {
            policy: self,
            entities: std::cell::OnceCell::new(),
            principal: uid(&self.staff, p.id.as_str()),
            resource: uid(&self.dossier, READ_RESOURCE),
            facts: std::sync::Arc::new(ReadFacts {
                principal: p.id.clone(),
                roles: p.roles.clone(),
                department: p.department.clone(),
                region: p.region.clone(),
                owner: facts.owner.clone(),
                dossier_region: facts.region.to_owned(),
                grade: facts.grade,
                status: facts.status,
                purpose: purpose.to_owned(),
            }),
            basis,
            open_when_restricted: def.open_when_restricted,
            memo: HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn shipped() -> AccessPolicy {
        crate::policy::PolicySet::embedded().unwrap().access
    }

    fn schema() -> cedar_policy::Schema {
        let text = crate::policy::EMBEDDED.iter().find(|(n, _)| *n == "schema.cedarschema").unwrap().1;
        AccessPolicy::parse_schema(text).unwrap()
    }

    #[test]
    fn shipped_policies_validate() {
        let p = shipped();
        assert!(p.info.len() >= 15);
    }

    #[test]
    fn errors_name_the_line() {
        let s = schema();
        // Syntax error on line 3.
        let text = "@id(\"a\")\n@outcome(\"clear\")\npermit (principal, action, resource) when { principal.roles.contains(\"sales\") &&  };\n";
        let (line, msg) = AccessPolicy::parse(&s, text).err().unwrap();
        assert_eq!(line, 3, "{msg}");
        // Type error (unknown attribute) on line 4.
        let text = "// c\n@id(\"a\")\n@outcome(\"clear\")\npermit (principal, action == Action::\"dossier.read\", resource)\n  when { resource.colour == \"red\" };\n";
        let (line, msg) = AccessPolicy::parse(&s, text).err().unwrap();
        assert!((4..=5).contains(&line), "{line}: {msg}");
        assert!(msg.contains("colour"), "{msg}");
        // Missing @id.
        let text = "\n\npermit (principal, action == Action::\"dossier.create\", resource);\n";
        let (line, msg) = AccessPolicy::parse(&s, text).err().unwrap();
        assert_eq!(line, 3, "{msg}");
        // A read permit without @outcome.
        let text = "@id(\"x\")\npermit (principal, action == Action::\"dossier.read\", resource);\n";
        let (line, msg) = AccessPolicy::parse(&s, text).err().unwrap();
        assert!(msg.contains("@outcome"), "{line}: {msg}");
        // Unknown action: validation error.
        let text = "@id(\"x\")\npermit (principal, action == Action::\"dossier.delete\", resource);\n";
        assert!(AccessPolicy::parse(&s, text).is_err());
        // A broken schema names its line.
        let (line, msg) = AccessPolicy::parse_schema("entity Staff = {\n roles: Set<String>,\n region: Strin g,\n};\n")
            .err()
            .unwrap();
        assert!((2..=3).contains(&line), "{line}: {msg}");
    }

    #[test]
    fn evaluation_errors_and_no_permit_withhold() {
        let p = shipped();
        let owner = PrincipalId::generate();
        let admin = Principal {
            id: owner.clone(),
            name: "a".into(),
            roles: vec![Role::Admin, Role::Sales],
            department: "d".into(),
            region: "r".into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            recipient: None,
            admin_pending: None,
            disabled_by: None,
        };
        let facts = DossierFacts { owner: &owner, region: "r", grade: Grade::A, status: Status::Active };
        let def = PurposeDef {
            description: String::new(),
            basis: super::super::Basis::Contract,
            citation: "c".into(),
            roles: vec![Role::Sales],
            open_when_restricted: false,
            direct_marketing: false,
            requires_assessment: false,
        };
        let mut r = p.reader(&admin, "dos_x", facts, "service_delivery", &def);
        let d = r.decide(Classification::Internal, None);
        assert_eq!(d.outcome, FieldOutcome::Withheld, "admin role forbids even with sales: {d:?}");
        assert_eq!(&*d.policies, ["admin.no-content".to_owned()]);
    }
}
