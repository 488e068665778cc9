//! `policies/authentication.toml`: when repeated failed second-factor
//! attempts lock a principal, and for how long.

use serde::Deserialize;
use time::Duration;
use toml::Spanned;

/// The parsed file.
#[derive(Debug, Clone)]
pub struct AuthenticationRules {
    pub lockout: Lockout,
}

/// Failed attempts within a window lock the principal for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// Failed attempts within `window` that lock the principal.
    pub failures: u32,
    pub window: Duration,
    pub lock: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    lockout: LockoutFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockoutFile {
    failures: Spanned<u32>,
    window_seconds: Spanned<u32>,
    lock_seconds: Spanned<u32>,
}

impl AuthenticationRules {
    /// Parses the file; errors carry the 1-based line.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let file: File = super::parse_toml(text)?;
        let l = file.lockout;
        let within = |v: &Spanned<u32>, range: std::ops::RangeInclusive<u32>, what: &str| {
            if range.contains(v.get_ref()) {
                Ok(*v.get_ref())
            } else {
                Err((super::line_of(text, v), format!("{what} must be from {} to {}", range.start(), range.end())))
            }
        };
        let failures = within(&l.failures, 1..=100, "lockout.failures")?;
        let window = within(&l.window_seconds, 30..=86_400, "lockout.window_seconds")?;
        let lock = within(&l.lock_seconds, 30..=2_592_000, "lockout.lock_seconds")?;
        Ok(AuthenticationRules {
            lockout: Lockout {
                failures,
                window: Duration::seconds(i64::from(window)),
                lock: Duration::seconds(i64::from(lock)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_locks_after_five_failures() {
        let rules = AuthenticationRules::parse(include_str!("../../policies/authentication.toml")).unwrap();
        assert_eq!(rules.lockout.failures, 5);
        assert_eq!(rules.lockout.window, Duration::minutes(15));
    }

    #[test]
    fn a_bad_value_or_key_is_refused_naming_its_line() {
        let zero = "[lockout]\nfailures = 0\nwindow_seconds = 900\nlock_seconds = 900\n";
        assert_eq!(AuthenticationRules::parse(zero).unwrap_err().0, 2);
        let unknown = "[lockout]\nfailures = 5\nwindow_seconds = 900\nlock_seconds = 900\nforever = true\n";
        let (line, message) = AuthenticationRules::parse(unknown).unwrap_err();
        assert_eq!(line, 5, "{message}");
        assert!(AuthenticationRules::parse("[lockout]\nfailures = 5\n").is_err(), "every key is required");
    }
}
