//! `POST /v1/principals`, read by the API as JSON and by the console's
//! people page as a form: one check of a new principal's shape.

use crate::archive::NewPrincipal;
use crate::domain::dossier::FieldError;
use crate::domain::Role;
use crate::web::body::Errors;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrincipalDto {
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 200
    )]
    pub name: String,
    /// Any of sales, service, finance, compliance, admin, auditor, processor;
    /// admin with compliance or auditor, auditor or processor with any other
    /// role, are refused.
    #[schema(min_items = 1)]
    #[schema(inline)]
    pub roles: Vec<RoleDto>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub department: String,
    /// The region a service principal serves (`customer.region`).
    #[serde(default)]
    #[schema(max_length = 100)]
    pub region: String,
    /// For the role `processor` (and only for it): the recipients-register
    /// entry it acts for; its tokens expire with the entry's term.
    #[serde(default)]
    #[schema(pattern = "^rcp_[0-9a-z]{26}$")]
    pub recipient: Option<String>,
}

/// A built-in role.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleDto {
    Sales,
    Service,
    Finance,
    Compliance,
    Admin,
    Auditor,
    Processor,
}

impl From<RoleDto> for Role {
    fn from(r: RoleDto) -> Role {
        match r {
            RoleDto::Sales => Role::Sales,
            RoleDto::Service => Role::Service,
            RoleDto::Finance => Role::Finance,
            RoleDto::Compliance => Role::Compliance,
            RoleDto::Admin => Role::Admin,
            RoleDto::Auditor => Role::Auditor,
            RoleDto::Processor => Role::Processor,
        }
    }
}

impl TryFrom<NewPrincipalDto> for NewPrincipal {
    type Error = Vec<FieldError>;
    fn try_from(d: NewPrincipalDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let name = errors.text("/name", &d.name, 200);
        if d.roles.is_empty() {
            errors.add("/roles", "at least one role is required");
        }
        let mut roles: Vec<Role> = d.roles.into_iter().map(Role::from).collect();
        roles.sort();
        roles.dedup();
        if let Some((a, b)) = Role::conflict(&roles) {
            errors.add("/roles", &format!("{a} and {b} may not be held together (separation of duties)"));
        }
        let recipient = match d.recipient.as_deref().map(crate::domain::RecipientId::parse) {
            None => None,
            Some(Ok(r)) => Some(r),
            Some(Err(_)) => {
                errors.add("/recipient", "not a recipient id");
                None
            }
        };
        if roles.contains(&Role::Processor) != d.recipient.is_some() {
            errors.add("/recipient", "a processor principal is bound to a recipient, and only a processor is");
        }
        errors.finish(Some(NewPrincipal { name, roles, department: d.department, region: d.region, recipient }))
    }
}
