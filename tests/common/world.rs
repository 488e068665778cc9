//! The world the API tests start from: the real server on port 0 in a
//! fresh temp data directory, on a clock the test moves, with the staff
//! members it names enrolled.
//!
//! ```ignore
//! let w = World::at(T0).staff("officer", &["compliance"], "总部").start().await;
//! w.app.get(w.token("officer"), Some("dsr"), "/v1/requests").await;
//! w.clock().advance(time::Duration::days(30));
//! ```

use super::{policies_dir, spawn_app_with, TestApp};
use custos::clock::{Clock, ManualClock, SystemClock};
use custos::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;
use time::OffsetDateTime;

/// A running server, its clock, its policies and its staff.
pub struct World {
    /// The server.
    pub app: TestApp,
    /// The clock the server reads; none for a world on the system clock.
    clock: Option<Arc<ManualClock>>,
    /// The shipped policies with the builder's files replaced, if it replaced any.
    policies: Option<TempDir>,
    /// The staff members, in the order they were enrolled.
    staff: Vec<Member>,
}

/// A staff member: the name a test calls them by, their principal id and token.
struct Member {
    name: String,
    id: String,
    token: String,
}

/// A change to the test configuration.
type Tweak = Box<dyn FnOnce(&mut Config) + Send>;

/// What a [`World`] starts with: [`WorldBuilder::start`] runs it.
pub struct WorldBuilder {
    clock: Option<Arc<ManualClock>>,
    dir: Option<TempDir>,
    tweaks: Vec<Tweak>,
    policies: Vec<(String, String)>,
    staff: Vec<(String, Vec<String>, String)>,
}

/// An answer as the tests read it: the status and the JSON body (null when
/// there is none).
pub type Answer = (StatusCode, Value);

impl World {
    /// A world whose clock stands at `t0` and moves only when a test advances it.
    pub fn at(t0: OffsetDateTime) -> WorldBuilder {
        WorldBuilder::new(Some(Arc::new(ManualClock::new(t0))))
    }

    /// The customer desk at `t0`: a compliance officer (`officer`) and
    /// `finance` at 总部, `service` and `sales` in 华东; the retention sweep
    /// and the grading job run only when a test runs them.
    pub fn customer_desk(t0: OffsetDateTime) -> WorldBuilder {
        World::at(t0)
            .config(|c| {
                c.retention_interval = None;
                c.grading_interval = None;
            })
            .staff("officer", &["compliance"], "总部")
            .staff("service", &["service"], "华东")
            .staff("sales", &["sales"], "华东")
            .staff("finance", &["finance"], "总部")
    }

    /// `method path` as `token` stating `purpose`, with an optional JSON body.
    pub async fn call(&self, method: Method, token: &str, purpose: &str, path: &str, body: Option<Value>) -> Answer {
        let r = self.app.request(method, token, purpose, path, body).await;
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// A world on the system clock.
    pub fn on_system_clock() -> WorldBuilder {
        WorldBuilder::new(None)
    }

    /// The token of the staff member called `name`.
    pub fn token(&self, name: &str) -> &str {
        &self.member(name).token
    }

    /// The principal id of the staff member called `name`.
    pub fn id(&self, name: &str) -> &str {
        &self.member(name).id
    }

    fn member(&self, name: &str) -> &Member {
        self.staff.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no staff member {name:?} in this world"))
    }

    /// The server's clock, to move it.
    pub fn clock(&self) -> &Arc<ManualClock> {
        self.clock.as_ref().expect("a world started with World::at has a clock to move")
    }

    /// The server's time.
    pub fn now(&self) -> OffsetDateTime {
        match &self.clock {
            Some(clock) => clock.now(),
            None => SystemClock.now(),
        }
    }

    /// The policies directory the server runs on, when the builder replaced files in it.
    pub fn policies_dir(&self) -> &Path {
        self.policies.as_ref().expect("the builder replaced a policy file").path()
    }
}

impl WorldBuilder {
    fn new(clock: Option<Arc<ManualClock>>) -> Self {
        WorldBuilder { clock, dir: None, tweaks: Vec::new(), policies: Vec::new(), staff: Vec::new() }
    }

    /// Changes the test configuration; tweaks apply in the order given.
    pub fn config(mut self, tweak: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// Runs on the shipped policies with `file` holding `text` instead.
    pub fn policy(mut self, file: &str, text: &str) -> Self {
        self.policies.push((file.to_owned(), text.to_owned()));
        self
    }

    /// Enrolls a staff member called `name` with `roles` in `region`
    /// (in the order the calls are made).
    pub fn staff(mut self, name: &str, roles: &[&str], region: &str) -> Self {
        assert!(self.staff.iter().all(|(n, _, _)| n != name), "two staff members called {name:?}");
        self.staff.push((name.to_owned(), roles.iter().map(|r| (*r).to_owned()).collect(), region.to_owned()));
        self
    }

    /// Starts in `dir` (a stopped server's) instead of a fresh directory.
    pub fn in_dir(mut self, dir: TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    /// Starts the server and enrolls the staff.
    pub async fn start(self) -> World {
        let policies = (!self.policies.is_empty()).then(|| {
            let dir = tempfile::tempdir().unwrap();
            for e in std::fs::read_dir(policies_dir()).unwrap().flatten() {
                std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
            }
            for (file, text) in &self.policies {
                std::fs::write(dir.path().join(file), text).unwrap();
            }
            dir
        });
        let policies_path = policies.as_ref().map(|d| d.path().to_owned());
        let tweaks = self.tweaks;
        let configure = move |c: &mut Config| {
            if policies_path.is_some() {
                c.policies_dir = policies_path;
            }
            for tweak in tweaks {
                tweak(c);
            }
        };
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(clock) => clock.clone(),
            None => Arc::new(SystemClock),
        };
        let dir = self.dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let app = spawn_app_with(dir, configure, clock).await;
        let mut staff = Vec::new();
        for (name, roles, region) in self.staff {
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            let (id, token) = app.principal(&roles, &region).await;
            staff.push(Member { name, id, token });
        }
        World { app, clock: self.clock, policies, staff }
    }
}
