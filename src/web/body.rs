//! Typed request bodies: one way for every JSON body.
//!
//! [`Body<D>`] reads the body strictly ([`super::JsonBody`]: media type,
//! size, UTF-8, well-formed JSON; 400/413/415 otherwise), validates it
//! against the DTO's own OpenAPI schema (the one `/openapi.json` publishes,
//! so the document and the server cannot disagree), listing every failing
//! path in one 422, then builds the DTO with serde. Handlers convert the DTO
//! into a domain type with `TryFrom`, whose error is again every failing
//! path. No message ever quotes a submitted value.

use super::error::ApiError;
use super::extract::JsonBody;
use crate::domain::dossier::{describe_violation, FieldError};
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::ToSchema;

/// A JSON body of DTO type `D`, valid against `D`'s schema.
pub struct Body<D>(pub D);

/// The JSON Schema of `D`, as published in the OpenAPI document.
pub fn schema_of<D: ToSchema>() -> Value {
    serde_json::to_value(D::schema()).unwrap_or(Value::Bool(false))
}

/// Every place where `body` fails `D`'s schema, without any value.
pub fn violations<D: ToSchema>(body: &Value) -> Result<Vec<FieldError>, ApiError> {
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema_of::<D>())
        .map_err(|e| ApiError::from(crate::archive::ArchiveError::Internal(anyhow::anyhow!("request schema: {e}"))))?;
    let mut errors: Vec<FieldError> = validator
        .iter_errors(body)
        .map(|e| {
            let mut path = e.instance_path().to_string();
            // A missing member is named by its own path (it is ours, from
            // the schema, never a submitted value).
            if let jsonschema::error::ValidationErrorKind::Required { property } = &e.kind() {
                if let Some(name) = property.as_str() {
                    path = format!("{path}/{name}");
                }
            }
            FieldError { path, message: describe_violation(e.kind()) }
        })
        .collect();
    errors.sort_by(|a, b| a.path.cmp(&b.path));
    errors.dedup();
    Ok(errors)
}

/// Builds `D` from a body, or the 422 listing every failing path.
pub fn parse<D: ToSchema + DeserializeOwned>(body: Value) -> Result<D, ApiError> {
    let errors = violations::<D>(&body)?;
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    serde_json::from_value(body).map_err(|e| {
        ApiError::invalid(vec![FieldError {
            path: String::new(),
            message: format!("{:?} error in the body", e.classify()).to_lowercase(),
        }])
    })
}

impl<S: Send + Sync, D: ToSchema + DeserializeOwned> FromRequest<S> for Body<D> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBody(value) = JsonBody::from_request(req, state).await?;
        parse(value).map(Body)
    }
}

/// The pattern of a text that must hold a visible character: anything but
/// white space and control characters somewhere in it.
pub const VISIBLE: &str = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";

/// A free text of a register (a request's details, an incident's
/// description, a reason): 1 to 8,000 characters with a visible one. Its
/// schema is inlined where it is used (`#[schema(inline)]`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Text(pub String);

impl utoipa::PartialSchema for Text {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(8000))
            .pattern(Some(VISIBLE))
            .into()
    }
}

impl ToSchema for Text {}

/// Collects field errors while a DTO is converted into a domain type.
#[derive(Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn add(&mut self, path: &str, message: &str) {
        self.0.push(FieldError { path: path.to_owned(), message: message.to_owned() });
    }

    /// Errors found elsewhere (a command's own check of its shape).
    pub fn extend(&mut self, errors: Vec<FieldError>) {
        self.0.extend(errors);
    }

    /// A text of at most `max` characters with at least one that is
    /// neither white space nor a control character (the DTOs' schemas say
    /// the same with a pattern), trimmed; or an error at `path`.
    pub fn text(&mut self, path: &str, value: &str, max: usize) -> String {
        let t = value.trim();
        if value.chars().count() > max || !t.chars().any(|c| !c.is_control() && !c.is_whitespace()) {
            self.add(path, &format!("required, 1 to {max} characters"));
        }
        t.to_owned()
    }

    /// A text kept as written, of at most `max` characters with at least
    /// one that is neither white space nor a control character; or an
    /// error at `path`.
    pub fn visible(&mut self, path: &str, value: String, max: usize) -> String {
        if value.chars().count() > max || !value.chars().any(|c| !c.is_control() && !c.is_whitespace()) {
            self.add(path, &format!("required, at most {max} characters"));
        }
        value
    }

    /// An RFC 3339 time, or an error at `path`.
    pub fn time(&mut self, path: &str, value: &str) -> Option<time::OffsetDateTime> {
        let t = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok();
        if t.is_none() {
            self.add(path, "required: an RFC 3339 time");
        }
        t
    }

    /// An optional calendar date (`YYYY-MM-DD`), or an error at `path`.
    pub fn date(&mut self, path: &str, value: Option<&str>) -> Option<time::Date> {
        let v = value?;
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let d = time::Date::parse(v, &fmt).ok();
        if d.is_none() {
            self.add(path, "a date, YYYY-MM-DD");
        }
        d
    }

    /// `Ok(v)` when nothing failed.
    pub fn finish<T>(self, v: Option<T>) -> Result<T, Vec<FieldError>> {
        match v {
            Some(v) if self.0.is_empty() => Ok(v),
            _ if self.0.is_empty() => {
                Err(vec![FieldError { path: String::new(), message: "the body is not valid".into() }])
            }
            _ => Err(self.0),
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;

    /// The body decoder takes any text: well-formed JSON or not, nested to
    /// any depth, it is turned into the type or refused with the paths that
    /// fail, never a panic. Failures found are kept in
    /// proptest-regressions/body.txt.
    #[test]
    fn any_body_is_decoded_or_refused() {
        use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
        let config = Config {
            cases: 256,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/body.txt"))),
            ..Config::default()
        };
        let bodies =
            "[\\[\\]{}\",:0-9a-z \\\\]{0,200}|\\{\"name\":\"[^\"]{0,20}\",\"roles\":\\[(\"[a-z]{0,10}\",?){0,4}\\]\\}";
        TestRunner::new(config)
            .run(&bodies, |text| {
                if let Ok(value) = serde_json::from_str::<Value>(&text) {
                    let _ = parse::<crate::api::principals::NewPrincipalDto>(value);
                }
                Ok(())
            })
            .unwrap();
        // Nesting far past the parser's recursion limit is refused, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert!(serde_json::from_str::<Value>(&deep).is_err());
    }
}
