//! Second factors in tests: the TOTP secret each principal set up, and the
//! codes a person's authenticator app would show at the server's time.
//! Every code is of a step after the last one used (the server accepts a
//! step once): at most three per 30-second window (one step either side).

use custos::clock::{Clock, SystemClock};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

struct Factors {
    /// Base URL → the server's clock.
    clocks: HashMap<String, Arc<dyn Clock>>,
    /// (base URL, token) → principal id.
    holders: HashMap<(String, String), String>,
    /// Principal id → (base32 secret, last step used).
    secrets: HashMap<String, (String, u64)>,
}

static FACTORS: Mutex<Option<Factors>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut Factors) -> T) -> T {
    let mut guard = FACTORS.lock().unwrap();
    let factors = guard.get_or_insert_with(|| Factors {
        clocks: HashMap::new(),
        holders: HashMap::new(),
        secrets: HashMap::new(),
    });
    f(factors)
}

/// The server at `base` reads `clock` (else the system clock).
pub fn register_clock(base: &str, clock: Arc<dyn Clock>) {
    with(|f| f.clocks.insert(base.to_owned(), clock));
}

/// `token` (at `base`) is `principal`'s; `secret` (base32) is their factor's.
pub fn remember(base: &str, token: &str, principal: &str, secret: Option<&str>) {
    with(|f| {
        f.holders.insert((base.to_owned(), token.to_owned()), principal.to_owned());
        if let Some(s) = secret {
            f.secrets.insert(principal.to_owned(), (s.to_owned(), 0));
        }
    });
}

/// The code of `secret` for TOTP step `step`.
pub fn code_at(secret: &str, step: u64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).unwrap();
    let totp = totp_rs::Builder::new().with_secret(bytes.as_bytes().to_vec()).build().unwrap();
    totp.generate(step * 30).to_string()
}

/// The server's current TOTP step.
pub fn step_now(base: &str) -> u64 {
    let clock = with(|f| f.clocks.get(base).cloned()).unwrap_or_else(|| Arc::new(SystemClock));
    (clock.now().unix_timestamp() / 30) as u64
}

/// A fresh code of `principal`'s factor at the server's time.
pub fn code_of(base: &str, principal: &str) -> String {
    for _ in 0..12 {
        let clock = with(|f| f.clocks.get(base).cloned()).unwrap_or_else(|| Arc::new(SystemClock));
        let secs = clock.now().unix_timestamp();
        let now = (secs / 30) as u64;
        // The server checks the code a moment later, on the same clock: in
        // the last seconds of a window it may be in the next one already,
        // where the previous window's code no longer counts.
        let first = if secs % 30 >= 27 { now } else { now.saturating_sub(1) };
        let found = with(|f| {
            let (secret, last) = f.secrets.get_mut(principal).expect("a principal whose factor the test set up");
            let step = (first..=now + 1).find(|s| s > last)?;
            *last = step;
            Some(code_at(secret, step))
        });
        if let Some(code) = found {
            return code;
        }
        // Every code of this window is used: the next window's (on the
        // system clock; a test's manual clock must be moved by the test).
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
    panic!("every code of {principal} in this 30-second window is used: move the clock");
}

/// A fresh code for the holder of `token` at `base`.
pub fn code_for(base: &str, token: &str) -> String {
    let principal = with(|f| f.holders.get(&(base.to_owned(), token.to_owned())).cloned())
        .unwrap_or_else(|| panic!("no principal known for this token at {base}"));
    code_of(base, &principal)
}

/// Sets up and confirms the second factor of `token`'s holder (the
/// bootstrap admin) unless it is set up already; returns the principal id
/// when it set one up.
pub async fn set_up(client: &Client, base: &str, token: &str) -> Option<String> {
    let r = client.post(format!("{base}/v1/factor")).bearer_auth(token).send().await.unwrap();
    if r.status() == StatusCode::CONFLICT {
        return None;
    }
    assert_eq!(r.status(), StatusCode::CREATED, "setting up a second factor");
    let setup: Value = r.json().await.unwrap();
    let principal = setup["principal_id"].as_str().unwrap().to_owned();
    remember(base, token, &principal, setup["secret"].as_str());
    let code = code_of(base, &principal);
    let r = client.post(format!("{base}/v1/factor/confirm")).bearer_auth(token).json(&json!({ "code": code }));
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "confirming the second factor");
    Some(principal)
}

/// Redeems an enrollment code the way a person does: the factor to set up
/// (202), then the code again with its first code (201). A person who has a
/// factor already (`principal`) sends a current code at once. The answer
/// of the last call.
pub async fn redeem(client: &Client, base: &str, code: &str, principal: Option<&str>) -> reqwest::Response {
    let url = format!("{base}/v1/enroll");
    if let Some(p) = principal {
        let second = code_of(base, p);
        return client.post(&url).json(&json!({ "code": code, "second_factor": second })).send().await.unwrap();
    }
    let r = client.post(&url).json(&json!({ "code": code })).send().await.unwrap();
    if r.status() != StatusCode::ACCEPTED {
        return r;
    }
    let setup: Value = r.json().await.unwrap();
    let principal = setup["second_factor"]["principal_id"].as_str().unwrap().to_owned();
    let secret = setup["second_factor"]["secret"].as_str().unwrap().to_owned();
    with(|f| f.secrets.insert(principal.clone(), (secret, 0)));
    let second = code_of(base, &principal);
    client.post(&url).json(&json!({ "code": code, "second_factor": second })).send().await.unwrap()
}
