//! The second factor where it lives: codes at the manual clock's time,
//! replays, windows, recovery codes, the lockout, reset and unlock, and
//! enrollment that issues a token only after the factor is proven.

use crate::archive::identity::{Enrollment, Standing};
use crate::archive::testkit::{archive_with_clock, last_entry};
use crate::archive::{Archive, ArchiveError, Denial, RequestCtx, StatedPurpose};
use crate::audit::{AuditEntry, Outcome};
use crate::clock::{Clock, ManualClock};
use crate::store::{Cf, KvStore, MemStore};
use std::sync::Arc;
use time::Duration;

const TOKEN: &str = "cst_operator-chosen-token-0001";
const SECOND: &str = "enr_operator-chosen-second-code-0002";

fn code(secret: &str, clock: &ManualClock, steps: i64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).unwrap();
    let totp = totp_rs::Builder::new().with_secret(bytes.as_bytes().to_vec()).build().unwrap();
    let at = clock.now().unix_timestamp() + steps * 30;
    totp.generate(at as u64).to_string()
}

fn ctx_of(a: &Archive, token: &str) -> RequestCtx {
    let (p, t, _) = a.identity().authenticate(token).unwrap();
    RequestCtx::new(p, t, StatedPurpose::Missing, "req_test".into())
}

fn denial(r: Result<impl std::fmt::Debug, ArchiveError>) -> Denial {
    match r {
        Err(ArchiveError::Forbidden { denial, .. }) => denial,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn entries(store: &MemStore) -> Vec<AuditEntry> {
    store.scan(Cf::Audit, b"", b"").map(|r| AuditEntry::decode(&r.unwrap().1).unwrap()).collect()
}

/// The bootstrap admin with a confirmed factor: the archive, store, clock, secret.
async fn admin_with_factor() -> (Archive, Arc<MemStore>, Arc<ManualClock>, String) {
    let (a, store, clock) = archive_with_clock();
    a.identity().bootstrap(Some(TOKEN), Some(SECOND)).unwrap();
    let setup = a.identity().factors().begin_factor(&ctx_of(&a, TOKEN)).await.unwrap();
    let secret = setup.secret.to_string();
    a.identity().factors().confirm_factor(&ctx_of(&a, TOKEN), &code(&secret, &clock, 0)).await.unwrap();
    (a, store, clock, secret)
}

#[tokio::test]
async fn the_bootstrap_token_serves_only_to_set_up_the_factor_until_a_code_proves_it() {
    let (a, store, clock) = archive_with_clock();
    a.identity().bootstrap(Some(TOKEN), None).unwrap();
    assert_eq!(a.identity().authenticate(TOKEN).unwrap().2, Standing::Unbound);
    let setup = a.identity().factors().begin_factor(&ctx_of(&a, TOKEN)).await.unwrap();
    assert!(setup.uri.starts_with("otpauth://totp/custos:") && setup.uri.contains(setup.secret.as_str()));
    let secret = setup.secret.to_string();
    // Stored sealed: the secret is nowhere in the store in clear, nor in the log.
    for cf in [Cf::Principals, Cf::Audit] {
        for row in store.scan(cf, b"", b"") {
            let raw = row.unwrap().1;
            assert!(!String::from_utf8_lossy(&raw).contains(&secret), "the secret in clear in {cf:?}");
        }
    }
    let wrong = a.identity().factors().confirm_factor(&ctx_of(&a, TOKEN), "000000").await;
    assert_eq!(denial(wrong), Denial::SecondFactorInvalid);
    assert_eq!(a.identity().authenticate(TOKEN).unwrap().2, Standing::Unbound, "not bound by a wrong code");
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("factor.confirm", Outcome::Deny));
    let proven = a.identity().factors().confirm_factor(&ctx_of(&a, TOKEN), &code(&secret, &clock, 0)).await.unwrap();
    assert_eq!(proven.recovery_codes.as_ref().map(Vec::len), Some(10));
    assert_eq!(a.identity().authenticate(TOKEN).unwrap().2, Standing::Bound);
    // A second factor is set up once; a lost one is reset by an admin.
    let again = a.identity().factors().begin_factor(&ctx_of(&a, TOKEN)).await;
    assert!(matches!(again, Err(ArchiveError::Conflict(_))), "{again:?}");
}

#[tokio::test]
async fn a_code_is_accepted_once_within_one_step_either_side_and_not_outside() {
    let (a, _store, clock, secret) = admin_with_factor().await;
    let ctx = ctx_of(&a, TOKEN);
    let replay = a.identity().factors().verify_factor(&ctx, &code(&secret, &clock, 0)).await;
    assert_eq!(denial(replay), Denial::SecondFactorInvalid, "the step confirmed with is used");
    clock.advance(Duration::seconds(90));
    let too_old = a.identity().factors().verify_factor(&ctx, &code(&secret, &clock, -2)).await;
    assert_eq!(denial(too_old), Denial::SecondFactorInvalid, "two steps back is outside the window");
    let too_new = a.identity().factors().verify_factor(&ctx, &code(&secret, &clock, 2)).await;
    assert_eq!(denial(too_new), Denial::SecondFactorInvalid, "two steps ahead is outside the window");
    a.identity().factors().verify_factor(&ctx, &code(&secret, &clock, -1)).await.expect("the previous step's code");
    a.identity().factors().verify_factor(&ctx, &code(&secret, &clock, 1)).await.expect("the next step's code");
    let older = a.identity().factors().verify_factor(&ctx, &code(&secret, &clock, 0)).await;
    assert_eq!(denial(older), Denial::SecondFactorInvalid, "no step before the last one accepted");
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let (a, store, clock) = archive_with_clock();
    a.identity().bootstrap(Some(TOKEN), None).unwrap();
    let setup = a.identity().factors().begin_factor(&ctx_of(&a, TOKEN)).await.unwrap();
    let proven =
        a.identity().factors().confirm_factor(&ctx_of(&a, TOKEN), &code(&setup.secret, &clock, 0)).await.unwrap();
    let codes = proven.recovery_codes.unwrap();
    let ctx = ctx_of(&a, TOKEN);
    a.identity()
        .factors()
        .verify_factor(&ctx, &codes[3].to_uppercase())
        .await
        .expect("a recovery code, in either case");
    let e = last_entry(&store);
    assert!(e.body.reason.contains("recovery code used, 9 left") && !e.body.reason.contains(&codes[3]));
    assert_eq!(denial(a.identity().factors().verify_factor(&ctx, &codes[3]).await), Denial::SecondFactorInvalid);
}

#[tokio::test]
async fn failures_lock_the_principal_out_audited_and_alerted_until_the_lock_ends_or_an_admin_unlocks() {
    let (a, store, clock, secret) = admin_with_factor().await;
    let ctx = ctx_of(&a, TOKEN);
    for n in 1..=4 {
        let d = denial(a.identity().factors().verify_factor(&ctx, "123456").await);
        assert_eq!(d, Denial::SecondFactorInvalid, "failure {n}");
    }
    assert_eq!(
        denial(a.identity().factors().verify_factor(&ctx, "123456").await),
        Denial::SecondFactorLocked,
        "the fifth locks"
    );
    let log = entries(&store);
    assert!(log.iter().any(|e| e.body.action == "factor.lockout" && e.body.outcome == Outcome::Deny));
    assert!(log.iter().any(|e| e.body.action == "audit.alert" && e.body.reason.starts_with("second_factor_lockout")));
    assert_eq!(a.identity().authenticate(TOKEN).unwrap().2, Standing::Locked, "every token is refused");
    clock.advance(Duration::seconds(31));
    let right = a.identity().factors().verify_factor(&ctx, &code(&secret, &clock, 0)).await;
    assert_eq!(denial(right), Denial::SecondFactorLocked, "the right code is not even checked while locked");
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("factor.verify", Outcome::Deny));
    // Unlocking is another admin's: the admin cannot unlock themself.
    let own = a.identity().change_factor(&ctx, super::FactorChange::Unlock, ctx.principal.id.as_str()).await;
    assert!(matches!(denial(own), Denial::FourEyes(_)));
    clock.advance(Duration::minutes(30));
    assert_eq!(a.identity().authenticate(TOKEN).unwrap().2, Standing::Bound, "the lock ends");
    a.identity().factors().verify_factor(&ctx, &code(&secret, &clock, 0)).await.expect("and the code works again");
}

#[tokio::test]
async fn enrollment_issues_a_bound_token_only_after_the_code_and_a_reset_factor_unbinds_it() {
    let (a, store, clock, _) = admin_with_factor().await;
    let id = a.identity();
    // The second admin: no factor yet, so the code gives a factor to set up and no token.
    let Enrollment::SetUp(setup) = id.enroll(SECOND, None, None, "req_1").await.unwrap() else {
        panic!("no token before the second factor")
    };
    let wrong = id.enroll(SECOND, Some("000000"), None, "req_2").await;
    assert_eq!(denial(wrong), Denial::SecondFactorInvalid);
    let Enrollment::Enrolled(second) =
        id.enroll(SECOND, Some(&code(&setup.secret, &clock, 0)), None, "req_3").await.unwrap()
    else {
        panic!("a token once the code is right")
    };
    assert_eq!(second.recovery_codes.as_ref().map(Vec::len), Some(10));
    assert_eq!(id.authenticate(&second.token).unwrap().2, Standing::Bound);
    let used = id.enroll(SECOND, Some(&code(&setup.secret, &clock, 1)), None, "req_4").await;
    assert!(matches!(used, Err(ArchiveError::Unauthenticated)), "one code, one token");
    // The first admin resets the second's factor: the second's token stops working.
    let admin = ctx_of(&a, TOKEN);
    id.change_factor(&admin, super::FactorChange::Reset, second.principal.as_str()).await.unwrap();
    assert!(matches!(id.authenticate(&second.token), Err(ArchiveError::Unauthenticated)));
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("factor.reset", Outcome::Allow));
    let own = id.change_factor(&admin, super::FactorChange::Reset, admin.principal.id.as_str()).await;
    assert!(matches!(denial(own), Denial::FourEyes(_)), "not one's own");
}
