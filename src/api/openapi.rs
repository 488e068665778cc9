//! Making `/openapi.json` exact. The handlers' annotations describe each
//! operation's own answers; what every operation shares is added here, in
//! one place, so that the document lists every status an operation can
//! answer and accepts exactly what the server accepts: the answers of the
//! request layer (400, 413–415, 408, 414, 431, 429, 500, 503, each a problem
//! document), `X-Purpose` as the enumeration of the loaded purposes, and
//! path parameters as the ids the server issues. Checked by schemathesis
//! against the running server (`tests/schemathesis.rs`).

use serde_json::{json, Map, Value};

/// A problem-document response.
fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn reason(status: &str) -> &'static str {
    match status {
        "400" => "malformed path, query, header or body",
        "401" => "missing, unknown or revoked token",
        "403" => "not permitted (role, ownership, region, purpose or consent)",
        "404" => "no such resource",
        "408" => "the body stopped arriving",
        "409" => "conflicts with the resource's state",
        "410" => "destroyed; the problem names the destruction certificate",
        "412" => "If-Match does not name the current version",
        "413" => "the body is larger than the configured limit",
        "414" => "the path and query are too long",
        "415" => "the body is not of the required media type",
        "422" => "the body does not validate; errors lists the failing paths",
        "428" => "If-Match is required",
        "429" => "this principal's rate limit is reached; see Retry-After",
        "431" => "the headers are too large",
        "500" => "internal error (audited)",
        "503" => "the audit log cannot be written, or the service is not ready",
        _ => "error",
    }
}

/// The pattern of the id a path parameter names, by path and name.
fn id_pattern(path: &str, name: &str) -> Option<&'static str> {
    Some(match (name, path) {
        ("sid", _) => "sub_",
        ("token_id", _) => "tok_",
        ("hold_id", _) => "hold_",
        ("id", p) if p.starts_with("/v1/dossiers/") => "dos_",
        ("id", p) if p.starts_with("/v1/principals/") => "prn_",
        ("id", p) if p.starts_with("/v1/disposition/batches/") => "bat_",
        ("id", p) if p.starts_with("/v1/certificates/") => "cert_",
        ("id", p) if p.starts_with("/v1/requests/") => "req_",
        ("id", p) if p.starts_with("/v1/incidents/") => "inc_",
        ("id", p) if p.starts_with("/v1/exports/") => "exp_",
        ("id", p) if p.starts_with("/v1/assessments/") => "pia_",
        ("id", p) if p.starts_with("/v1/recipients/") => "rcp_",
        ("recipient", _) => "rcp_",
        _ => return None,
    })
}

/// The schema of a path parameter the server reads as something narrower
/// than a string.
fn path_schema(path: &str, name: &str, purposes: &[String]) -> Option<Value> {
    if let Some(prefix) = id_pattern(path, name) {
        return Some(json!({"type": "string", "pattern": format!("^{prefix}[0-9a-z]{{26}}$")}));
    }
    Some(match (name, path) {
        ("seq", _) => json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": i64::MAX}),
        ("v", _) => json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": u32::MAX}),
        ("n", _) => json!({"type": "integer", "format": "int32", "minimum": 0, "maximum": u32::MAX}),
        ("month", _) => json!({"type": "string", "pattern": "^20[0-9]{2}-(0[1-9]|1[0-2])$"}),
        // A purpose, or `purpose@recipient` for a consent naming a recipient.
        ("purpose", _) => {
            json!({"type": "string", "pattern": format!("^(?:{})(?:@rcp_[0-9a-z]{{26}})?$", purposes.join("|"))})
        }
        ("name", p) if p.starts_with("/schemas/") => {
            json!({"type": "string", "enum": ["dossier.schema.json", "subject-export.schema.json", "labels.json"]})
        }
        ("name", _) => json!({"type": "string", "pattern": "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$"}),
        _ => return None,
    })
}

/// The role pairs one principal may not hold (`Role::conflict`), as JSON
/// Schema: a role list containing both of a pair is not valid.
fn conflicting_roles() -> Value {
    use crate::domain::Role;
    let mut pairs = Vec::new();
    for a in Role::ALL {
        for b in Role::ALL {
            if a < b && Role::conflict(&[a, b]).is_some() {
                pairs
                    .push(json!({"allOf": [{"contains": {"const": a.as_str()}}, {"contains": {"const": b.as_str()}}]}));
            }
        }
    }
    json!({"anyOf": pairs})
}

/// Completes `doc` (the generated document) as the module says.
/// What the active policies allow, for the document's enumerations.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    pub purposes: Vec<String>,
    pub consent_purposes: Vec<String>,
    pub incident_levels: Vec<String>,
    pub refusal_codes: Vec<String>,
    pub transfer_mechanisms: Vec<String>,
    /// The notice versions (a consent may name one).
    pub notices: Vec<String>,
}

pub fn make_exact(doc: &mut Value, vocabulary: &Vocabulary) {
    let (purposes, consent_purposes) = (&vocabulary.purposes[..], &vocabulary.consent_purposes[..]);
    registers_exact(doc, vocabulary);
    if let Some(roles) = doc.pointer_mut("/components/schemas/NewPrincipalDto/properties/roles") {
        roles["not"] = conflicting_roles();
    }
    // A consent record names a purpose that rests on consent.
    if let Some(c) = doc.pointer_mut("/components/schemas/ConsentDto") {
        c["properties"]["purpose"] = json!({"type": "string", "enum": purposes,
            "description": "a purpose of policies/purposes.toml that rests on consent or separate consent; any purpose for a consent naming a recipient"});
        // Without a recipient, a consent-based purpose; with one, a separate consent.
        let names_recipient = json!({"required": ["recipient"], "properties": {"recipient": {"type": "string"}}});
        c["anyOf"] = json!([{"properties": {"purpose": {"enum": consent_purposes}}}, names_recipient.clone()]);
        c["if"] = names_recipient;
        c["then"] = json!({"properties": {"basis": {"const": "separate_consent"}}});
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, ops) in paths.iter_mut() {
        let Some(ops) = ops.as_object_mut() else { continue };
        for (_, op) in ops.iter_mut() {
            let Some(op) = op.as_object_mut() else { continue };
            complete_parameters(path, op, purposes);
            complete_responses(op);
        }
    }
}

/// The registers' bodies as exactly as a schema can say them: the codes the
/// policies allow, and which members a kind or a state needs.
fn registers_exact(doc: &mut Value, v: &Vocabulary) {
    let mut set = |ptr: &str, value: Value| {
        if let Some(s) = doc.pointer_mut(ptr) {
            *s = value;
        }
    };
    let two_letters = json!({"type": "string", "pattern": "^[A-Z]{2}$"});
    let mut hold = vec![json!("CN"), json!("EU")];
    hold.extend(crate::domain::EU_MEMBER_STATES.iter().map(|c| json!(c)));
    set(
        "/components/schemas/HoldDto/properties/jurisdiction",
        json!({"type": ["string", "null"], "enum": hold.into_iter().chain([Value::Null]).collect::<Vec<_>>(),
            "description": "CN (the default), EU or an EU member state"}),
    );
    set("/components/schemas/NewIncidentDto/properties/jurisdictions/items", two_letters);
    set(
        "/components/schemas/NewIncidentDto/properties/level",
        json!({"type": "string", "enum": v.incident_levels, "description": "a level of policies/incidents.toml"}),
    );
    set(
        "/components/schemas/NewRequestDto/properties/purpose",
        json!({"type": ["string", "null"], "enum": v.purposes.iter().map(|p| json!(p)).chain([Value::Null]).collect::<Vec<_>>()}),
    );
    set(
        "/components/schemas/RequestChangeDto/properties/reason_code",
        json!({"type": ["string", "null"], "enum": v.refusal_codes.iter().map(|p| json!(p)).chain([Value::Null]).collect::<Vec<_>>(),
            "description": "a refusal reason of policies/requests.toml"}),
    );
    set(
        "/components/schemas/ExemptionDto/properties/keys_compromised",
        json!({"const": false,
        "description": "must be false: the exemption needs the keys uncompromised"}),
    );
    let id_items = |prefix: &str| json!({"type": "string", "pattern": format!("^{prefix}[0-9a-z]{{26}}$")});
    set("/components/schemas/NewExportDto/properties/dossiers/items", id_items("dos_"));
    set(
        "/components/schemas/AssessmentDto/properties/scope/properties/purposes/items",
        json!({"type": "string", "enum": v.purposes}),
    );
    set("/components/schemas/NewExportDto/properties/subjects/items", id_items("sub_"));
    set("/components/schemas/NewRecipientDto/properties/purposes/items", json!({"type": "string", "enum": v.purposes}));
    set(
        "/components/schemas/NewTransferDto/properties/mechanism",
        json!({"type": "string", "enum": v.transfer_mechanisms, "description": "a mechanism of policies/transfers.toml"}),
    );
    set(
        "/components/schemas/ConsentDto/properties/notice",
        json!({"type": ["string", "null"], "enum": v.notices.iter().map(|p| json!(p)).chain([Value::Null]).collect::<Vec<_>>(),
            "description": "a notice version of policies/notices.toml (one in force by then)"}),
    );
    set(
        "/components/schemas/NotifiedDto/properties/version",
        json!({"type": "string", "enum": v.notices,
            "description": "a notice version of policies/notices.toml (one in force by then)"}),
    );
    set("/components/schemas/AffectedDto/properties/dossiers/items", id_items("dos_"));
    let non_null = |m: &str| json!({"required": [m], "properties": {m: {"not": {"type": "null"}}}});
    if let Some(s) = doc.pointer_mut("/components/schemas/NewRequestDto") {
        // An objection or a withdrawal names its purpose.
        s["if"] = json!({"properties": {"kind": {"enum": ["objection", "withdrawal"]}}, "required": ["kind"]});
        s["then"] = non_null("purpose");
    }
    if let Some(s) = doc.pointer_mut("/components/schemas/RequestChangeDto") {
        // Each state needs what goes with it; something must change.
        let when = |state: &str, then: Value| json!({"if": {"properties": {"state": {"const": state}}, "required": ["state"]}, "then": then});
        s["minProperties"] = json!(1);
        s["anyOf"] = json!([non_null("state"), non_null("extension_reason")]);
        s["allOf"] = json!([
            when("verified", non_null("verification")),
            when(
                "completed",
                json!({"required": ["answered_by"], "properties": {"answered_by": {"type": "array", "minItems": 1}}})
            ),
            when("refused", json!({"allOf": [non_null("reason_code"), non_null("reason")]})),
        ]);
    }
    if let Some(s) = doc.pointer_mut("/components/schemas/ReviewDto") {
        // A lost contact is named.
        s["if"] = json!({"properties": {"outcome": {"const": "contact_lost"}}, "required": ["outcome"]});
        s["then"] = non_null("contact");
    }
    if let Some(s) = doc.pointer_mut("/components/schemas/NewPrincipalDto") {
        // A processor is bound to a recipient, and only a processor is.
        s["if"] = json!({"properties": {"roles": {"contains": {"const": "processor"}}}, "required": ["roles"]});
        s["then"] = non_null("recipient");
        s["else"] = json!({"properties": {"recipient": {"type": "null"}}});
    }
    for name in ["AffectedDto", "NewExportDto"] {
        if let Some(s) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            s["minProperties"] = json!(1);
        }
    }
}

fn complete_parameters(path: &str, op: &mut Map<String, Value>, purposes: &[String]) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else { return };
    for p in params.iter_mut() {
        let (name, place) = (p["name"].as_str().unwrap_or_default().to_owned(), p["in"].clone());
        if name == "X-Purpose" && place == "header" {
            p["required"] = json!(true);
            p["schema"] = json!({"type": "string", "enum": purposes});
            p["description"] = json!("the purpose of the call (policies/purposes.toml)");
        } else if place == "path" {
            if let Some(schema) = path_schema(path, &name, purposes) {
                p["schema"] = schema;
            }
        }
    }
}

fn complete_responses(op: &mut Map<String, Value>) {
    let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    let body = op.get("requestBody").cloned();
    let json_body = body.as_ref().is_some_and(|b| b.pointer("/content/application~1json").is_some());
    let has_params = op.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty());
    let mut add: Vec<&str> = vec!["414", "431"];
    if secured || has_params || body.is_some() {
        add.extend(["400", "500"]);
    }
    if secured {
        add.extend(["401", "429", "503"]);
    }
    if body.is_some() {
        add.extend(["408", "413", "415"]);
    }
    if json_body {
        add.push("422");
    }
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for status in add {
        responses.entry(status.to_owned()).or_insert_with(|| problem(reason(status)));
    }
    // Every error answer is a problem document.
    for (status, r) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            if let Some(r) = r.as_object_mut() {
                if !r.contains_key("content") {
                    r.insert("content".into(), problem("").get("content").cloned().unwrap_or_default());
                }
                if r.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
                    r.insert("description".into(), json!(reason(status)));
                }
            }
        }
    }
}
