//! How a token reaches the person who will hold it. An admin asks for a
//! token for a principal; unless it is for the admin themself, a second
//! admin must approve it; then a one-time enrollment code (shown to the
//! admin who asked for their own token, else to the approving admin, to hand
//! over) is redeemed by the person (`POST /v1/enroll`) for the token, which
//! no admin ever sees. So a single admin cannot act as anyone else by any
//! sequence of calls: every token for someone else takes two admins. Every
//! step is audited, naming who asked, who approved and the token id (which
//! every entry of a request names), and a code redeemed from the address the
//! asking or approving admin works from raises an alert.

use super::Identity;
use crate::archive::denial::FourEyes;
use crate::archive::records::{TokenRecord, TokenState, TOKENS, TOKEN_BY_CODE};
use crate::archive::{ArchiveError, Denial, RequestCtx};
use crate::audit::{Action, Commit, CommitError, Guard, Outcome};
use crate::crypto::secret::{new_secret, token_hash};
use crate::domain::{PrincipalId, TokenId};
use crate::store::Op;
use std::collections::HashMap;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};

/// How long an enrollment code can be redeemed.
pub const CODE_TTL: Duration = Duration::hours(72);
/// The second admin's code made at initialisation: long enough to set up.
pub const BOOTSTRAP_CODE_TTL: Duration = Duration::days(30);
/// How long an admin's address is remembered for the enrollment alert.
pub(super) const ADDRESS_MEMORY: Duration = Duration::hours(24);
/// Admins whose address is remembered at most (the map is cleared past it).
const MAX_ADMINS_REMEMBERED: usize = 1000;

/// The address each admin's requests came from lately.
pub type AdminAddresses = HashMap<PrincipalId, (IpAddr, OffsetDateTime)>;

/// How long an enrolled token works before it must be renewed
/// (`token_days`, `admin_token_days`).
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    pub staff: Duration,
    /// Shorter: an admin token makes principals and tokens.
    pub admin: Duration,
}

impl TokenLifetimes {
    pub fn lifetime(&self, admin: bool) -> Duration {
        if admin {
            self.admin
        } else {
            self.staff
        }
    }
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        TokenLifetimes { staff: Duration::days(90), admin: Duration::days(30) }
    }
}

/// A token as listed: never the token or its code.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub token_id: String,
    #[schema(inline)]
    pub state: TokenState,
    /// RFC 3339 times; absent when not (yet) so.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub enrolled_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub revoked_at: Option<OffsetDateTime>,
    /// The admin who asked for it, and the one who approved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

/// A token asked for or approved: its state, and the enrollment code when
/// it can be redeemed (shown once, never stored).
#[derive(Debug)]
pub struct TokenIssue {
    pub token_id: TokenId,
    pub principal: PrincipalId,
    pub state: TokenState,
    /// The whole enrollment code: only for an admin's own token.
    pub code: Option<String>,
    /// One half of the enrollment code of a token that needs approval: the
    /// asking admin's (first) half when asked, the approving admin's
    /// (second) half when approved. The person redeems the two joined.
    pub code_part: Option<String>,
    pub code_expires_at: Option<OffsetDateTime>,
    /// Whom the token is for, as the approving admin sees it.
    pub holder: Option<super::auth_cache::PrincipalView>,
    pub requested_by: Option<PrincipalId>,
    pub requested_at: Option<OffsetDateTime>,
}

/// The asking admin's half of an enrollment code: `enr_` and 43 characters.
pub(super) const FIRST_HALF: usize = 47;

/// A client address worth comparing: not 127.0.0.1, where every local
/// client and a reverse proxy on the host look alike.
pub(super) fn comparable(ip: IpAddr) -> Option<IpAddr> {
    (ip != IpAddr::from([127, 0, 0, 1])).then_some(ip)
}

impl TokenView {
    pub(super) fn of(rec: &TokenRecord, now: OffsetDateTime) -> Self {
        TokenView {
            token_id: rec.id.to_string(),
            state: rec.state(now),
            created_at: rec.created_at,
            enrolled_at: rec.enrolled_at,
            expires_at: rec.expires_at,
            revoked_at: rec.revoked_at,
            requested_by: rec.requested_by.as_ref().map(ToString::to_string),
            approved_by: rec.approved_by.as_ref().map(ToString::to_string),
        }
    }
}

impl Identity {
    /// When an enrolled token stops working.
    pub(super) fn token_expiry(&self, record: &TokenRecord, principal: &crate::domain::Principal) -> OffsetDateTime {
        let life = self.token_lifetimes.lifetime(principal.has_role(crate::domain::Role::Admin));
        let expiry = record.expires_at.unwrap_or(record.enrolled_at.unwrap_or(record.created_at) + life);
        // A processor's tokens end with its agreement's term.
        self.gate.term_end(principal).map_or(expiry, |end| expiry.min(end))
    }

    /// `GET /v1/principals/{id}/tokens`: an admin, or the principal
    /// themself, lists the principal's tokens (never a token or code).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_tokens(&self, ctx: &RequestCtx, principal: &str) -> Result<Vec<TokenView>, ArchiveError> {
        const ACTION: Action = Action::TokenList;
        let own = ctx.principal.id.as_str() == principal;
        if !own {
            self.gate.require_admin(ctx, ACTION, principal).await?;
        }
        let Some(pid) = PrincipalId::parse(principal).ok().filter(|id| matches!(self.principal(id), Ok(Some(_))))
        else {
            let e = ctx.entry(ACTION, principal, Outcome::Error, "unknown principal");
            return self.gate.refuse(e, ArchiveError::NotFound("principal".into())).await;
        };
        let now = self.clock.now();
        let mut out = Vec::new();
        for rec in TOKENS.values(self.store.as_ref()) {
            let mut rec = rec?;
            if rec.principal != pid {
                continue;
            }
            if !rec.hash.is_empty() {
                if let Some(p) = self.principal(&pid)? {
                    rec.expires_at = Some(self.token_expiry(&rec, &p));
                }
            }
            out.push(TokenView::of(&rec, now));
        }
        let reason = format!("{} token(s) of {pid}", out.len());
        self.audit.commit(Commit::entry(ctx.entry(ACTION, pid.as_str(), Outcome::Allow, reason))).await?;
        Ok(out)
    }

    /// `POST /v1/tokens/{id}/renew`: the token's holder (only) moves
    /// its expiry to one lifetime from now. An expired or revoked token is
    /// not renewed: its holder asks for a new one.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn renew_token(&self, ctx: &RequestCtx, token_id: &str) -> Result<TokenView, ArchiveError> {
        const ACTION: Action = Action::TokenRenew;
        let found = match TokenId::parse(token_id) {
            Ok(id) => self.token_record_guarded(&id)?,
            Err(_) => None,
        };
        // Only the holder renews a token: an admin renewing someone else's
        // alone would keep a credential alive that no second admin looked at
        // again. For anyone else, a new token is asked for and approved.
        // An unknown token and someone else's are one answer: token ids
        // cannot be probed.
        let Some((mut record, guard)) = found.filter(|(r, _)| r.principal == ctx.principal.id) else {
            return self.gate.deny(ctx.entry(ACTION, token_id, Outcome::Deny, ""), Denial::NotTheHolder, None).await;
        };
        let now = self.clock.now();
        let principal = self.principal(&record.principal)?.ok_or_else(|| anyhow::anyhow!("token of no principal"))?;
        let active = record.state(now) == TokenState::Active && self.token_expiry(&record, &principal) > now;
        if !active {
            let err = ArchiveError::Conflict("only an active token is renewed; ask for a new one".into());
            let e = ctx.entry(ACTION, record.id.as_str(), Outcome::Error, err.to_string());
            return self.gate.refuse(e, err).await;
        }
        let mut expires = now + self.token_lifetimes.lifetime(principal.has_role(crate::domain::Role::Admin));
        if let Some(end) = self.gate.term_end(&principal) {
            expires = expires.min(end);
        }
        record.expires_at = Some(expires);
        let op = TOKENS.put_unguarded(&record.id, &record)?;
        let reason = format!("token of {} renewed until {expires}", record.principal);
        let entry = ctx.entry(ACTION, record.id.as_str(), Outcome::Allow, reason);
        self.audit.commit(Commit { guard: Some(guard), ..Commit::change(vec![op], entry) }).await?;
        self.forget_token(&record.hash);
        Ok(TokenView::of(&record, now))
    }

    /// Gives `record` a fresh enrollment code valid for `ttl`: the record,
    /// and the code hash → token index.
    pub(super) fn code_ops(
        &self,
        record: &mut TokenRecord,
        code: &str,
        ttl: Duration,
    ) -> Result<Vec<Op>, ArchiveError> {
        let hash = token_hash(code);
        record.code_hash = Some(hash.clone());
        record.code_expires_at = Some(self.clock.now() + ttl);
        Ok(vec![TOKENS.put_unguarded(&record.id, record)?, TOKEN_BY_CODE.put(&hash, &record.id)])
    }

    fn issue(record: &TokenRecord, code: Option<String>, now: OffsetDateTime) -> TokenIssue {
        TokenIssue {
            token_id: record.id.clone(),
            principal: record.principal.clone(),
            state: record.state(now),
            code_expires_at: code.as_ref().and(record.code_expires_at),
            code,
            code_part: None,
            holder: None,
            requested_by: record.requested_by.clone(),
            requested_at: Some(record.created_at),
        }
    }

    /// A token record and the guard that a change of it commits under: the
    /// change lands only if the record is still as read (two approvals, two
    /// redemptions of one code, a revocation racing a renewal: one wins).
    pub(super) fn token_record_guarded(&self, id: &TokenId) -> Result<Option<(TokenRecord, Guard)>, ArchiveError> {
        let Some(held) = TOKENS.hold(self.store.as_ref(), id)? else { return Ok(None) };
        let guard = held.guard().clone();
        Ok(Some((held.value, guard)))
    }

    /// `POST /v1/principals/{id}/tokens` (admin): a token for an admin
    /// themself gets its enrollment code at once; one for anyone else
    /// waits for a second admin's approval.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_token(&self, ctx: &RequestCtx, principal: &str) -> Result<TokenIssue, ArchiveError> {
        const ACTION: Action = Action::TokenCreate;
        self.gate.require_admin(ctx, ACTION, principal).await?;
        let pid = match PrincipalId::parse(principal).ok().filter(|id| matches!(self.principal(id), Ok(Some(_)))) {
            Some(id) => id,
            None => {
                let e = ctx.entry(ACTION, principal, Outcome::Error, "unknown principal");
                return self.gate.refuse(e, ArchiveError::NotFound("principal".into())).await;
            }
        };
        let now = self.clock.now();
        let mut record = TokenRecord::pending(TokenId::generate(), pid.clone(), Some(ctx.principal.id.clone()), now);
        let own = pid == ctx.principal.id;
        record.needs_approval = !own;
        // For someone else the asking admin gets the first half of the code
        // and the approving admin, later, the second: neither alone holds a
        // code that enrolls.
        let (ops, code, part, how) = if own {
            let code = new_secret("enr_");
            let ops = self.code_ops(&mut record, &code, CODE_TTL)?;
            (ops, Some(code), None, "for the asking admin: enrollment code issued")
        } else {
            let part = new_secret("enr_");
            record.code_part_hash = Some(token_hash(&part));
            let how = "first half of the enrollment code to the asking admin; awaiting a second admin's approval";
            (vec![TOKENS.put_unguarded(&record.id, &record)?], None, Some(part), how)
        };
        let reason = format!("for {pid}, asked by {}; {how}", ctx.principal.id);
        let entry = ctx.entry(ACTION, record.id.as_str(), Outcome::Allow, reason);
        self.audit.commit(Commit::change(ops, entry)).await?;
        Ok(TokenIssue { code_part: part, ..Self::issue(&record, code, now) })
    }

    /// `POST /v1/tokens/{id}/approve` (a second admin): the token's
    /// enrollment code, for the approving admin to hand to the person.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn approve_token(&self, ctx: &RequestCtx, token_id: &str) -> Result<TokenIssue, ArchiveError> {
        const ACTION: Action = Action::TokenApprove;
        self.gate.require_admin(ctx, ACTION, token_id).await?;
        let found = match TokenId::parse(token_id) {
            Ok(id) => self.token_record_guarded(&id)?,
            Err(_) => None,
        };
        let Some((mut record, guard)) = found else {
            let e = ctx.entry(ACTION, token_id, Outcome::Error, "unknown token");
            return self.gate.refuse(e, ArchiveError::NotFound("token".into())).await;
        };
        let now = self.clock.now();
        let me = &ctx.principal.id;
        let refusal = if record.state(now) != TokenState::AwaitingApproval {
            Some((Outcome::Error, ArchiveError::Conflict("the token is not awaiting approval".into())))
        } else if record.code_part_hash.is_none() {
            // Asked for before codes were halved: its approval would hand one
            // admin the whole code.
            let why = "asked for before enrollment codes were halved: revoke it and ask for a new token";
            Some((Outcome::Error, ArchiveError::Conflict(why.into())))
        } else if record.requested_by.as_ref() == Some(me) {
            Some((Outcome::Deny, ArchiveError::forbidden(Denial::FourEyes(FourEyes::TokenAsker))))
        } else if &record.principal == me {
            Some((Outcome::Deny, ArchiveError::forbidden(Denial::FourEyes(FourEyes::OwnToken))))
        } else {
            None
        };
        if let Some((outcome, err)) = refusal {
            let e = ctx.entry(ACTION, record.id.as_str(), outcome, err.audit_reason());
            return self.gate.refuse(e, err).await;
        }
        record.approved_by = Some(me.clone());
        // The second half of the code: the person joins it to the asking
        // admin's half. (A token asked for before codes were halved has no
        // first half: its code is this one alone.)
        let code = new_secret("");
        let ops = self.code_ops(&mut record, &code, CODE_TTL)?;
        let asked = record.requested_by.as_ref().map(ToString::to_string).unwrap_or_default();
        let reason = format!(
            "for {}, asked by {asked}, approved by {me}; second half of the enrollment code issued",
            record.principal
        );
        let entry = ctx.entry(ACTION, record.id.as_str(), Outcome::Allow, reason);
        self.audit.commit(Commit { guard: Some(guard), ..Commit::change(ops, entry) }).await.map_err(|e| match e {
            CommitError::Conflict => ArchiveError::Conflict("the token was approved or changed meanwhile".into()),
            e => e.into(),
        })?;
        let holder = self.principal_view(&record.principal)?;
        let halved = record.code_part_hash.is_some();
        let issue = Self::issue(&record, None, now);
        let (code, code_part) = if halved { (None, Some(code)) } else { (Some(code), None) };
        Ok(TokenIssue { code_expires_at: record.code_expires_at, code, code_part, holder, ..issue })
    }

    /// Notes where an admin's request came from (the API calls it for every
    /// authenticated admin request).
    pub fn note_admin_address(&self, admin: &PrincipalId, ip: IpAddr) {
        let Some(ip) = comparable(ip) else { return };
        if let Ok(mut seen) = self.admin_addresses.lock() {
            if seen.len() >= MAX_ADMINS_REMEMBERED && !seen.contains_key(admin) {
                seen.clear();
            }
            seen.insert(admin.clone(), (ip, self.clock.now()));
        }
    }

    pub(super) fn admin_seen_at(&self, admin: &PrincipalId, ip: IpAddr, now: OffsetDateTime) -> bool {
        self.admin_addresses
            .lock()
            .ok()
            .and_then(|seen| seen.get(admin).copied())
            .is_some_and(|(at_ip, at)| at_ip == ip && now - at <= ADDRESS_MEMORY)
    }
}
