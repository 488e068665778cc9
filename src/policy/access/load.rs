//! Loading the access policies: the Cedar schema and policies, validated in
//! strict mode, every policy with an `@id`, every read permit with an
//! `@outcome`; errors name their line.

use super::{type_name, uid, AccessPolicy, FieldOutcome, PolicyInfo, DECISION_CACHE};
use cedar_policy::{Authorizer, Effect, PolicySet as CedarPolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

/// The first labelled position of a diagnostic, as a line, and its message
/// with every related diagnostic's.
fn diagnostic_line(text: &str, d: &dyn Diagnostic) -> usize {
    let own = d.labels().and_then(|mut l| l.next()).map(|l| l.offset());
    let related = || d.related().into_iter().flatten().find_map(|r| r.labels().and_then(|mut l| l.next()));
    own.or_else(|| related().map(|l| l.offset())).map_or(1, |o| crate::policy::line_at(text, o))
}

fn describe(d: &dyn Diagnostic) -> String {
    let mut msg = d.to_string();
    if let Some(help) = d.help() {
        msg.push_str(&format!(" ({help})"));
    }
    msg
}

impl AccessPolicy {
    pub fn parse_schema(text: &str) -> Result<Schema, (usize, String)> {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(text).map_err(|e| (diagnostic_line(text, &e), describe(&e)))?;
        // The engine builds requests of exactly these shapes.
        for action in ["dossier.create", "dossier.update", "dossier.read"] {
            let known = schema.actions().any(|a| a.id().unescaped() == action);
            if !known {
                return Err((1, format!("the schema must declare action {action:?}")));
            }
        }
        Ok(schema)
    }

    /// Parses and validates the policies. Errors carry the 1-based line.
    pub fn parse(schema: &Schema, text: &str) -> Result<Self, (usize, String)> {
        let policies = CedarPolicySet::from_str(text).map_err(|e| (diagnostic_line(text, &e), describe(&e)))?;
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if let Some(e) = result.validation_errors().next() {
            return Err((diagnostic_line(text, e), describe(e)));
        }
        // Source order, to point at a policy by line when an annotation is wrong.
        let starts = policy_starts(text);
        let mut info = HashMap::new();
        let mut names = HashSet::new();
        for (n, p) in policies.policies().enumerate() {
            let line = p
                .id()
                .to_string()
                .strip_prefix("policy")
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| starts.get(i))
                .copied()
                .unwrap_or_else(|| starts.get(n).copied().unwrap_or(1));
            let Some(name) = p.annotation("id").filter(|n| !n.trim().is_empty()) else {
                return Err((line, "every policy needs an @id(\"...\") annotation (audit entries quote it)".into()));
            };
            if !names.insert(name.to_owned()) {
                return Err((line, format!("@id({name:?}) is used twice")));
            }
            let outcome = match (p.effect(), p.annotation("outcome")) {
                (Effect::Forbid, None) => None,
                (Effect::Forbid, Some(_)) => {
                    return Err((line, format!("forbid policy {name} withholds; it cannot carry @outcome")))
                }
                (Effect::Permit, Some("clear")) => Some(FieldOutcome::Clear),
                (Effect::Permit, Some("masked")) => Some(FieldOutcome::Masked),
                (Effect::Permit, Some(o)) => {
                    return Err((line, format!("@outcome({o:?}) of {name}: must be \"clear\" or \"masked\"")))
                }
                (Effect::Permit, None) => None,
            };
            info.insert(p.id().clone(), PolicyInfo { name: name.to_owned(), outcome, line });
        }
        let action = |name: &str| uid(&type_name("Action"), name);
        let read_roles = super::gates::read_roles(&policies, &action("dossier.read"));
        let engine = AccessPolicy {
            read_roles,
            decisions: std::sync::Mutex::new(lru::LruCache::new(DECISION_CACHE)),
            policies,
            authorizer: Authorizer::new(),
            info,
            staff: type_name("Staff"),
            dossier: type_name("Dossier"),
            subject: type_name("Subject"),
            read: action("dossier.read"),
            create: action("dossier.create"),
            update: action("dossier.update"),
        };
        // A permit that can apply to a read must say how it shows the field.
        for p in engine.policies.policies() {
            let reads = match p.action_constraint() {
                cedar_policy::ActionConstraint::Any => true,
                cedar_policy::ActionConstraint::Eq(a) => a == engine.read,
                cedar_policy::ActionConstraint::In(list) => list.contains(&engine.read),
            };
            let i = &engine.info[p.id()];
            if reads && p.effect() == Effect::Permit && i.outcome.is_none() {
                return Err((
                    i.line,
                    format!(
                        "permit {} applies to dossier.read: it needs @outcome(\"clear\") or @outcome(\"masked\")",
                        i.name
                    ),
                ));
            }
        }
        Ok(engine)
    }
}

/// Byte offsets of each `permit`/`forbid` that starts a policy, as lines.
fn policy_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut annotation_line = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("//") || t.is_empty() {
            continue;
        }
        if t.starts_with('@') {
            annotation_line.get_or_insert(i + 1);
            continue;
        }
        if t.starts_with("permit") || t.starts_with("forbid") {
            starts.push(annotation_line.take().unwrap_or(i + 1));
        } else {
            annotation_line = None;
        }
    }
    starts
}
