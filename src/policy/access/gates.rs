//! Which roles can ever be shown a dossier field: read from the policies'
//! own structure once, at load, so that a use over many dossiers (a search)
//! can tell at once that a caller will be shown nothing of any of them (an
//! auditor, an admin) instead of asking per dossier.
//!
//! Sound by construction: a permit is satisfied only if every top-level
//! conjunct of each of its `when` conditions is true; a conjunct
//! `principal.roles.contains("r")` is false for a caller without role `r`,
//! whatever the dossier, the purpose or the person. A permit that can apply
//! to `dossier.read` and has no such conjunct makes the answer unknown, and
//! then nobody is ruled out.

use cedar_policy::{ActionConstraint, Effect, EntityUid, PolicySet};
use serde_json::Value;
use std::collections::BTreeSet;

/// The roles a permit applying to `read` requires (any one of them lets it
/// be satisfied); `None` when some such permit requires no role.
pub(super) fn read_roles(policies: &PolicySet, read: &EntityUid) -> Option<BTreeSet<String>> {
    let mut roles = BTreeSet::new();
    for p in policies.policies().filter(|p| p.effect() == Effect::Permit) {
        let reads = match p.action_constraint() {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(a) => a == *read,
            ActionConstraint::In(list) => list.contains(read),
        };
        if !reads {
            continue;
        }
        let json = p.to_json().ok()?;
        let required: Vec<String> = json["conditions"]
            .as_array()?
            .iter()
            .filter(|c| c["kind"] == "when")
            .flat_map(|c| conjuncts(&c["body"]))
            .filter_map(role_required)
            .collect();
        // Several role conjuncts: the permit needs all; any one rules out
        // a caller without it, so the first is a sound gate.
        roles.insert(required.into_iter().next()?);
    }
    Some(roles)
}

/// The top-level conjuncts of a condition (Cedar's JSON policy format).
fn conjuncts(e: &Value) -> Vec<&Value> {
    match e.get("&&") {
        Some(and) => {
            let mut out = conjuncts(&and["left"]);
            out.extend(conjuncts(&and["right"]));
            out
        }
        None => vec![e],
    }
}

/// `r` when the conjunct is `principal.roles.contains("r")`.
fn role_required(e: &Value) -> Option<String> {
    let contains = e.get("contains")?;
    let attr = contains["left"].get(".")?;
    let on_principal = attr["left"].get("Var").and_then(Value::as_str) == Some("principal");
    if !on_principal || attr["attr"] != "roles" {
        return None;
    }
    contains["right"].get("Value")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn read() -> EntityUid {
        EntityUid::from_str(r#"Action::"dossier.read""#).unwrap()
    }

    #[test]
    fn the_shipped_read_permits_are_gated_by_role_and_an_auditor_or_admin_has_none_of_them() {
        let policy = crate::policy::PolicySet::embedded().unwrap().access;
        let roles = read_roles(&policy.policies, &read()).expect("every shipped read permit names a role");
        for r in ["sales", "service", "finance", "compliance"] {
            assert!(roles.contains(r), "{r} reads: {roles:?}");
        }
        assert!(!roles.contains("auditor") && !roles.contains("admin"), "{roles:?}");
    }

    #[test]
    fn a_read_permit_without_a_role_conjunct_rules_nobody_out() {
        let gated = r#"permit (principal, action == Action::"dossier.read", resource)
            when { context.purpose == "x" && principal.roles.contains("sales") && resource.owner == principal };"#;
        let ungated = r#"permit (principal, action, resource) when { principal.roles.contains("sales") || true };"#;
        let other = r#"permit (principal, action == Action::"dossier.create", resource);"#;
        let set = |text: &str| PolicySet::from_str(text).unwrap();
        assert_eq!(read_roles(&set(gated), &read()), Some(BTreeSet::from(["sales".to_owned()])));
        assert_eq!(read_roles(&set(&format!("{gated}\n{other}")), &read()).map(|r| r.len()), Some(1));
        assert_eq!(read_roles(&set(&format!("{gated}\n{ungated}")), &read()), None);
        let unless = r#"permit (principal, action, resource) unless { principal.roles.contains("sales") };"#;
        assert_eq!(read_roles(&set(unless), &read()), None, "an unless condition gates nothing");
    }
}
