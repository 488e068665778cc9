//! What the access policy decided, and on what basis: the deciding
//! policies by `@id`, as a value that audit entries quote in words.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Why, as a value: the deciding policies by `@id` (no values).
    pub basis: Basis,
}

impl Decision {
    /// The basis in words, as an audit entry quotes it.
    pub fn reason(&self) -> String {
        self.basis.to_string()
    }

    pub(super) fn unbuildable(what: &'static str) -> Self {
        Decision { allowed: false, basis: Basis::Unbuildable(what) }
    }
}

/// Why the access policy decided as it did. Audit entries quote it in
/// words; code that needs to know matches on it, never on the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// Permitted by these policies (by `@id`, sorted).
    Permitted(Vec<String>),
    /// No policy permits `action` for `roles`; `on_dossier` says the
    /// decision was about one dossier ("here").
    NoPermit { action: String, roles: Vec<String>, on_dossier: bool },
    /// Forbidden by these policies (by `@id`, sorted).
    Forbidden(Vec<String>),
    /// The request could not be put to Cedar (what could not be built):
    /// refused, failing closed.
    Unbuildable(&'static str),
}

impl Basis {
    /// The policies that decided, by `@id` (none for a missing permit).
    pub fn policies(&self) -> &[String] {
        match self {
            Basis::Permitted(p) | Basis::Forbidden(p) => p,
            Basis::NoPermit { .. } | Basis::Unbuildable(_) => &[],
        }
    }
}

impl std::fmt::Display for Basis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Basis::Permitted(p) => write!(f, "permitted by {}", p.join(", ")),
            Basis::NoPermit { action, roles, on_dossier } => {
                write!(f, "no policy permits {action} for roles {}", roles.join(","))?;
                if *on_dossier {
                    f.write_str(" here")?;
                }
                Ok(())
            }
            Basis::Forbidden(p) => write!(f, "forbidden by {}", p.join(", ")),
            Basis::Unbuildable(what) => write!(f, "access policy: {what} could not be built"),
        }
    }
}
