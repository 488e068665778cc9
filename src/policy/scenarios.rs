//! Runs the policy scenarios of `fixtures/policy/*.toml` against the shipped
//! policies (see fixtures/policy/README.md).

use super::access::{Change, DossierFacts, FieldOutcome, Operation, SubjectAction, SubjectFacts, SubjectState};
use super::PolicySet;
use crate::domain::dossier::{Grade, Status};
use crate::domain::{Classification, Principal, PrincipalId, Purpose, Role, SubjectId};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    scenario: Vec<Scenario>,
}

fn default_region() -> String {
    "华东".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    roles: Vec<Role>,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default)]
    owner: bool,
    #[serde(default = "default_region")]
    dossier_region: String,
    purpose: String,
    #[serde(default)]
    restricted: bool,
    #[serde(default)]
    consents: Vec<String>,
    #[serde(default)]
    separate_consents: Vec<String>,
    #[serde(default)]
    superseded: bool,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    new_region: Option<String>,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    allowed: Option<bool>,
    internal: Option<FieldOutcome>,
    confidential: Option<FieldOutcome>,
    personal: Option<FieldOutcome>,
    sensitive: Option<FieldOutcome>,
    contact_sensitive: Option<FieldOutcome>,
}

/// Returns a failure description, or None when the scenario holds.
fn run(policies: &PolicySet, s: &Scenario) -> Option<String> {
    let me = Principal {
        id: PrincipalId::generate(),
        name: "scenario".into(),
        roles: s.roles.clone(),
        department: "d".into(),
        region: s.region.clone(),
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        recipient: None,
        admin_pending: None,
        disabled_by: None,
    };
    let someone_else = PrincipalId::generate();
    let owner = if s.owner { me.id.clone() } else { someone_else };
    let facts = DossierFacts { owner: &owner, region: &s.dossier_region, grade: Grade::A, status: Status::Active };
    let access = &policies.access;
    let action = s.action.as_deref().unwrap_or("read");
    let subject_action = match action {
        "subject.read" => Some(SubjectAction::Read),
        "subject.link" => Some(SubjectAction::Link),
        "subject.export" => Some(SubjectAction::Export),
        "subject.restrict" => Some(SubjectAction::Restrict),
        "consent.grant" => Some(SubjectAction::GrantConsent),
        "consent.withdraw" => Some(SubjectAction::WithdrawConsent),
        "subject.erase" => Some(SubjectAction::Erase),
        "subject.residency" => Some(SubjectAction::Residency),
        _ => None,
    };
    let allowed = match (action, subject_action) {
        ("read", _) => None,
        ("create", _) => Some(access.decide_change(&me, Change::Create, &s.purpose, "new", facts, facts)),
        ("close", _) => Some(access.decide_change(&me, Change::Close, &s.purpose, "dos_x", facts, facts)),
        ("interact", _) => Some(access.decide_change(&me, Change::Interact, &s.purpose, "dos_x", facts, facts)),
        ("hold", _) => Some(access.decide_hold(&me, &s.purpose, "dos_x", facts)),
        ("disposition", _) => Some(access.decide_disposition(&me, &s.purpose)),
        (op, _) if Operation::parse(op).is_some() => Operation::parse(op).map(|op| access.decide_operation(&me, op)),
        ("update", _) => {
            let region = s.new_region.clone().unwrap_or_else(|| s.dossier_region.clone());
            let after = DossierFacts { region: &region, ..facts };
            Some(access.decide_change(&me, Change::Update, &s.purpose, "dos_x", facts, after))
        }
        (_, Some(op)) => {
            let subject = SubjectFacts {
                owners: [owner.clone()].into(),
                regions: [s.dossier_region.clone()].into(),
                restricted: s.restricted,
            };
            Some(access.decide_subject(&me, op, &s.purpose, &SubjectId::generate(), &subject))
        }
        _ => return Some(format!("unknown action {action}")),
    };
    if let Some(d) = allowed {
        let Some(want) = s.expect.allowed else { return Some("expect.allowed missing".into()) };
        return (d.allowed != want)
            .then(|| format!("{action}: allowed = {} ({}), expected {want}", d.allowed, d.reason()));
    }
    let Some(def) = Purpose::parse(&s.purpose).and_then(|p| policies.purposes.get(&p)) else {
        return Some(format!("unknown purpose {}", s.purpose));
    };
    let state = SubjectState {
        restricted: s.restricted,
        consents: s.consents.iter().cloned().collect(),
        separate_consents: s.separate_consents.iter().cloned().collect(),
        superseded: s.superseded,
    };
    let mut reader = access.reader(&me, "dos_x", facts, &s.purpose, def);
    let got = [
        ("internal", reader.decide(Classification::Internal, None), s.expect.internal),
        ("confidential", reader.decide(Classification::Confidential, None), s.expect.confidential),
        ("personal", reader.decide(Classification::Personal, Some(&state)), s.expect.personal),
        ("sensitive", reader.decide(Classification::Sensitive, None), s.expect.sensitive),
        ("contact_sensitive", reader.decide(Classification::Sensitive, Some(&state)), s.expect.contact_sensitive),
    ];
    let mut wrong = Vec::new();
    for (class, decision, want) in got {
        let Some(want) = want else {
            wrong.push(format!("{class}: no expectation"));
            continue;
        };
        if decision.outcome != want {
            wrong.push(format!("{class}: {:?} by {:?}, expected {want:?}", decision.outcome, decision.policies));
        }
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

#[test]
fn policy_scenarios_hold() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let policies = PolicySet::load(&root.join("policies")).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(root.join("fixtures/policy"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "one file per role of the API.md table");
    let (mut ran, mut failures) = (0, Vec::new());
    for f in &files {
        let file: File =
            toml::from_str(&std::fs::read_to_string(f).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for s in &file.scenario {
            ran += 1;
            if let Some(why) = run(&policies, s) {
                failures.push(format!("{} / {}: {why}", f.file_name().unwrap().to_string_lossy(), s.name));
            }
        }
    }
    assert!(ran >= 40, "only {ran} scenarios");
    assert!(failures.is_empty(), "{} of {ran} scenarios fail:\n{}", failures.len(), failures.join("\n"));
}

/// The Cedar action a scenario's `action` decides (the scenarios name the
/// dossier's own actions briefly).
fn cedar_action(scenario: &str) -> &str {
    match scenario {
        "read" => "dossier.read",
        "create" => "dossier.create",
        "update" => "dossier.update",
        "close" => "dossier.close",
        "interact" => "dossier.interact",
        "hold" => "dossier.hold",
        "disposition" => "disposition.manage",
        other => other,
    }
}

/// The actions `schema.cedarschema` declares (`action "a", "b" appliesTo`).
fn schema_actions(schema: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut in_action = false;
    for line in schema.lines() {
        let line = line.trim();
        in_action |= line.starts_with("action ");
        if in_action {
            let names = line.strip_prefix("action ").unwrap_or(line);
            let names = names.split("appliesTo").next().unwrap_or_default();
            out.extend(
                names.split(',').map(|n| n.trim().trim_matches('"')).filter(|n| !n.is_empty()).map(String::from),
            );
            in_action = !line.contains("appliesTo");
        }
    }
    out
}

/// Every action an operator can grant in `policies/access.cedar` has its
/// scenarios, both a caller it allows and one it refuses (a field read:
/// a caller who sees a field and one who sees none), so a change to who
/// may do what shows in the fixtures.
#[test]
fn the_scenarios_cover_every_action_both_ways() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = std::fs::read_to_string(root.join("policies/schema.cedarschema")).unwrap();
    let actions = schema_actions(&schema);
    assert!(actions.len() >= 20 && actions.contains("dossier.interact"), "{actions:?}");
    let (mut allowed, mut refused) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
    for f in std::fs::read_dir(root.join("fixtures/policy")).unwrap().flatten() {
        if f.path().extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let file: File = toml::from_str(&std::fs::read_to_string(f.path()).unwrap()).unwrap();
        for s in &file.scenario {
            let action = cedar_action(s.action.as_deref().unwrap_or("read")).to_owned();
            let sees = [s.expect.internal, s.expect.confidential, s.expect.personal, s.expect.sensitive]
                .into_iter()
                .flatten()
                .any(|o| o != FieldOutcome::Withheld);
            match s.expect.allowed {
                Some(true) => allowed.insert(action),
                Some(false) => refused.insert(action),
                None if sees => allowed.insert(action),
                None => refused.insert(action),
            };
        }
    }
    let unallowed: Vec<_> = actions.iter().filter(|a| !allowed.contains(*a)).collect();
    let unrefused: Vec<_> = actions.iter().filter(|a| !refused.contains(*a)).collect();
    assert!(unallowed.is_empty(), "no scenario a policy allows: {unallowed:?}");
    assert!(unrefused.is_empty(), "no scenario a policy refuses: {unrefused:?}");
}
