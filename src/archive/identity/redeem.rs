//! Redeeming an enrollment code (`POST /v1/enroll`): the token is issued
//! only to a person who proves their second factor with it. A person with
//! no factor yet gets one to set up first (the code stays unredeemed) and
//! sends its first code with the enrollment code; a person with one sends
//! a current code (or a recovery code). The token is bound to that factor.
//! A code redeemed from the address an admin who asked for or approved the
//! token works from raises an alert.

use super::enrollment::{comparable, ADDRESS_MEMORY, FIRST_HALF};
use super::factor::{entry_for, FactorSetup};
use super::Identity;
use crate::archive::records::{TokenRecord, TokenState, TOKEN_BY_CODE};
use crate::archive::{ArchiveError, Denial};
use crate::audit::{Action, Commit, CommitError, EntryBody, Guard};
use crate::crypto::secret::{ct_eq, new_secret, token_hash};
use crate::domain::{AlertId, PrincipalId, TokenId};
use crate::store::Op;
use std::net::IpAddr;
use time::OffsetDateTime;

/// What redeeming an enrollment code gave.
#[derive(Debug)]
pub enum Enrollment {
    /// The person has no second factor yet: this one is to be set up and
    /// its first code sent with the enrollment code again.
    SetUp(FactorSetup),
    /// The token, bound to the factor the person proved.
    Enrolled(Enrolled),
}

/// A redeemed enrollment code: the token (shown once, never stored), and
/// the recovery codes when the redemption confirmed a new factor.
pub struct Enrolled {
    pub token_id: TokenId,
    pub principal: PrincipalId,
    pub token: String,
    pub recovery_codes: Option<Vec<String>>,
}

impl std::fmt::Debug for Enrolled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Enrolled({}, {})", self.token_id, self.principal)
    }
}

impl Identity {
    /// The token record an enrollment code names, if the code is whole: a
    /// code of one piece (an admin's own token, the bootstrap second admin),
    /// or the two halves of a token that needed approval, joined.
    fn record_of_code(&self, code: &str) -> Result<Option<(TokenRecord, Guard, String)>, ArchiveError> {
        let lookup = |hash: &str| -> Result<Option<(TokenRecord, Guard)>, ArchiveError> {
            let id = TOKEN_BY_CODE.get(self.store.as_ref(), hash)?;
            Ok(id.map(|id| self.token_record_guarded(&id)).transpose()?.flatten())
        };
        let whole = token_hash(code);
        if let Some((record, guard)) = lookup(&whole)? {
            // A halved token's second half alone does not enroll.
            return Ok(record.code_part_hash.is_none().then_some((record, guard, whole)));
        }
        let (Some(first), Some(second)) = (code.get(..FIRST_HALF), code.get(FIRST_HALF..)) else { return Ok(None) };
        let second_hash = token_hash(second);
        let Some((record, guard)) = lookup(&second_hash)? else { return Ok(None) };
        let first_ok = record.code_part_hash.as_deref().is_some_and(|h| ct_eq(h, &token_hash(first)));
        Ok(first_ok.then_some((record, guard, second_hash)))
    }

    /// `POST /v1/enroll`: redeems a one-time enrollment code for its token,
    /// issued once the person proves their second factor (`second_factor`:
    /// a current TOTP code, or a recovery code). An unknown, used, expired
    /// or revoked code is one answer (401).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn enroll(
        &self,
        code: &str,
        second_factor: Option<&str>,
        from: Option<IpAddr>,
        request_id: &str,
    ) -> Result<Enrollment, ArchiveError> {
        let Some((mut record, guard, hash)) = self.record_of_code(code)? else {
            return Err(ArchiveError::Unauthenticated);
        };
        let now = self.clock.now();
        let matches = record.code_hash.as_deref().is_some_and(|h| ct_eq(h, &hash));
        if !matches || record.state(now) != TokenState::Enrollable {
            return Err(ArchiveError::Unauthenticated);
        }
        let principal = self.principal(&record.principal)?.ok_or(ArchiveError::Unauthenticated)?;
        if principal.disabled_by.is_some() {
            return Err(ArchiveError::Unauthenticated);
        }
        let confirmed = self.factors.factor(&principal.id)?.is_some_and(|f| f.confirmed());
        let entry = |action| entry_for(&principal, action, request_id, &record.id);
        let proven = match second_factor {
            None if !confirmed => {
                return Ok(Enrollment::SetUp(self.factors.begin(&principal.id, entry(Action::FactorBegin)).await?));
            }
            None => {
                let told = "send a current code of your authenticator app (or a recovery code) as second_factor, \
                            with the enrollment code";
                return self.gate.deny(entry(Action::FactorVerify), Denial::SecondFactorRequired, Some(told)).await;
            }
            Some(sf) => {
                let action = if confirmed { Action::FactorVerify } else { Action::FactorConfirm };
                self.factors.attempt(&principal.id, sf, entry(action)).await?
            }
        };
        record.factor = Some(proven.factor_id.clone());
        record.code_hash = None;
        record.code_part_hash = None;
        let token = new_secret("cst_");
        let mut ops = self.token_ops(&mut record, &token, principal.has_role(crate::domain::Role::Admin))?;
        ops.push(TOKEN_BY_CODE.delete(&hash));
        let admins = [&record.requested_by, &record.approved_by];
        let names =
            |p: &Option<PrincipalId>| p.as_ref().map(ToString::to_string).unwrap_or_else(|| "initialisation".into());
        let reason = format!(
            "enrollment code redeemed; asked by {}, approved by {}; bound to second factor {}",
            names(admins[0]),
            names(admins[1]),
            proven.factor_id
        );
        let mut entries = vec![EntryBody {
            actor: principal.id.to_string(),
            roles: principal.role_names(),
            request_id: request_id.to_owned(),
            token_id: record.id.to_string(),
            ..EntryBody::system(Action::TokenEnroll, record.id.as_str(), reason)
        }];
        // Redeemed from where an admin who asked for or approved it works:
        // that admin may be about to act as someone else.
        for admin in admins.into_iter().flatten() {
            if from.and_then(comparable).is_some_and(|ip| self.admin_seen_at(admin, ip, now)) {
                let (op, entry) = self.enrollment_alert(admin, &record, now)?;
                ops.push(op);
                entries.push(entry);
            }
        }
        // One code, one token: of redemptions racing, the first to commit
        // wins and the others find the record changed (401, as for a used code).
        match self.audit.commit(Commit { ops, entries, guard: Some(guard), on_conflict: vec![] }).await {
            Err(CommitError::Conflict) => return Err(ArchiveError::Unauthenticated),
            other => other?,
        };
        Ok(Enrollment::Enrolled(Enrolled {
            token_id: record.id,
            principal: principal.id,
            token,
            recovery_codes: proven.recovery_codes,
        }))
    }

    fn enrollment_alert(
        &self,
        admin: &PrincipalId,
        record: &TokenRecord,
        now: OffsetDateTime,
    ) -> Result<(Op, EntryBody), ArchiveError> {
        let alert = crate::policy::alerts::Alert {
            id: AlertId::generate().to_string(),
            rule: Action::TokenEnrolledFromAdmin.into(),
            description: format!(
                "token {} for {} was enrolled from the address admin {admin} works from: the admin may act as them",
                record.id, record.principal
            ),
            actor: admin.to_string(),
            window_start: now - ADDRESS_MEMORY,
            window_end: now,
            window_seconds: ADDRESS_MEMORY.whole_seconds().unsigned_abs(),
            count: 1,
            threshold: 1,
        };
        tracing::warn!(rule = %alert.rule, actor = %alert.actor, "unusual access alert");
        let op = crate::archive::records::ALERTS.put_unguarded(&alert.id, &alert)?;
        let reason = format!("{}: {}", alert.rule, alert.description);
        Ok((
            op,
            EntryBody { request_id: alert.id.clone(), ..EntryBody::system(Action::AuditAlert, admin.as_str(), reason) },
        ))
    }
}
