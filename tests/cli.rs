//! The CLI: readable messages and the documented exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(custos_bin()).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `custos serve` on `data` with the policies in `policies` (expected to stop at once).
fn serve_once(data: &std::path::Path, policies: &std::path::Path) -> (Option<i32>, String, String) {
    run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--policies",
        policies.to_str().unwrap(),
    ])
}

#[test]
fn policy_check_accepts_the_shipped_policies_and_names_file_and_line() {
    let shipped = policies_dir();
    let (code, out, _) = run(&["policy", "check", "--policies", shipped.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(out.contains("service_delivery") && out.contains("dsr"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let broken = std::fs::read_to_string(shipped.join("purposes.toml")).unwrap().replacen(
        "basis = \"contract\"",
        "basis = \"whim\"",
        1,
    );
    std::fs::write(dir.path().join("purposes.toml"), &broken).unwrap();
    let line = broken.lines().position(|l| l.contains("whim")).unwrap() + 1;
    let (code, _, err) = run(&["policy", "check", "--policies", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("purposes.toml:{line}")), "{err}");

    // A broken policy set also stops start-up, with the same message.
    let data = dir.path().join("data");
    let (code, _, err) = serve_once(&data, dir.path());
    assert_eq!(code, Some(2));
    assert!(err.contains(&format!("purposes.toml:{line}")), "{err}");
    assert!(!data.exists(), "nothing initialised with a broken policy set");
}

#[test]
fn bad_invocations_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["audit", "verify", "--data-dir", dir.path().join("nothing").to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a custos data directory"), "{err}");

    let cfg = dir.path().join("custos.toml");
    std::fs::write(&cfg, "data_dir = \"/tmp/x\"\nlisen = \"127.0.0.1:1\"\n").unwrap();
    let (code, _, err) = run(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown field") && err.contains("lisen"), "{err}");

    let (code, _, err) = run(&["serve", "--listen", "not-an-address"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--listen"), "{err}");

    let (code, _, _) = run(&["frobnicate"]);
    assert_ne!(code, Some(0));

    // A port already in use stops a first start before anything is created.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let data = dir.path().join("busy");
    let (code, out, err) = run(&[
        "serve",
        "--listen",
        &addr,
        "--data-dir",
        data.to_str().unwrap(),
        "--policies",
        policies_dir().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("binding"), "{err}");
    assert!(!out.contains("admin token") && !data.exists(), "no admin created without a way to show its token");

    // A short bootstrap token is refused before anything is written.
    let data = dir.path().join("data");
    let out = Command::new(custos_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--policies",
            policies_dir().to_str().unwrap(),
        ])
        .env("CUSTOS_BOOTSTRAP_TOKEN", "short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CUSTOS_BOOTSTRAP_TOKEN"));
    assert!(!data.exists(), "nothing written");
}

/// Copies the shipped policies into a temp dir with `file` changed by `edit`.
fn policies_with(file: &str, edit: impl FnOnce(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(policies_dir()).unwrap().flatten() {
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let p = dir.path().join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, edit(text)).unwrap();
    dir
}

#[test]
fn policy_check_names_file_and_line_of_a_broken_cedar_policy_or_schema() {
    // A type error: Staff has no attribute `colour`.
    let dir = policies_with("access.cedar", |t| {
        t.replacen("resource.owner == principal &&", "principal.colour == \"red\" &&", 1)
    });
    let text = std::fs::read_to_string(dir.path().join("access.cedar")).unwrap();
    let line = text.lines().position(|l| l.contains("colour")).unwrap() + 1;
    let (code, _, err) = run(&["policy", "check", "--policies", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("access.cedar:{line}")), "{err}");
    assert!(err.contains("colour"), "{err}");

    // A syntax error.
    let dir = policies_with("access.cedar", |t| {
        t.replacen(
            "permit (principal, action == Action::\"dossier.create\"",
            "permit (principal action == Action::\"dossier.create\"",
            1,
        )
    });
    let text = std::fs::read_to_string(dir.path().join("access.cedar")).unwrap();
    let line = text.lines().position(|l| l.contains("permit (principal action")).unwrap() + 1;
    let (code, _, err) = run(&["policy", "check", "--policies", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("access.cedar:{line}")), "{err}");

    // A read permit that does not say how it shows fields.
    let dir = policies_with("access.cedar", |t| t.replacen("@outcome(\"masked\")\n", "", 1));
    let (code, _, err) = run(&["policy", "check", "--policies", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("access.cedar:") && err.contains("@outcome"), "{err}");

    // A broken schema.
    let dir = policies_with("schema.cedarschema", |t| t.replacen("region: String,", "region: Strnig,", 1));
    let text = std::fs::read_to_string(dir.path().join("schema.cedarschema")).unwrap();
    let line = text.lines().position(|l| l.contains("Strnig")).unwrap() + 1;
    let (code, _, err) = run(&["policy", "check", "--policies", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("schema.cedarschema:"), "{err}");
    assert!(err.contains(&format!(":{line}")), "line {line}: {err}");

    // And start-up refuses it with the same message.
    let data = dir.path().join("data");
    let (code, _, err2) = serve_once(&data, dir.path());
    assert_eq!(code, Some(2));
    assert!(err2.contains("schema.cedarschema:"), "{err2}");
    assert!(!data.exists());
}

/// Started outside the checkout with no policies directory, the binary runs
/// on the policies built into it, says so, and its default log carries
/// custos's events, not its dependencies' INFO chatter.
#[test]
fn the_binary_runs_from_anywhere_on_its_built_in_policies() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut cmd = Command::new(custos_bin());
    cmd.current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"])
        .env_remove("CUSTOS_LOG")
        .env_remove("CUSTOS_POLICIES_DIR");
    let mut server = BinaryServer::spawn(cmd, &log);
    // A dossier write touches the index (tantivy logs its commits at INFO).
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let (sid, service) = principal(&client, &server.base, &["service"], "华东").await;
        let r = client
            .post(format!("{}/v1/dossiers", server.base))
            .bearer_auth(&service)
            .header("X-Purpose", "service_delivery")
            .json(&fixture(0, &sid))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    });
    assert!(server.terminate().success(), "a graceful shutdown");

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("built into this binary"), "the log says where the policies came from: {text}");
    for line in text.lines() {
        assert!(
            line.contains("custos") || line.contains(" WARN ") || line.contains(" ERROR "),
            "dependency chatter: {line}"
        );
    }
    assert!(!text.to_lowercase().contains("tantivy"), "{text}");

    // `policy show` prints the built-in files, with the same policy-set hash
    // as `policy check` and the server.
    let (code, shown, _) = run(&["policy", "show"]);
    assert_eq!(code, Some(0));
    for f in ["access.cedar", "purposes.toml", "retention.toml", "schema.cedarschema", "masking.toml", "alerts.toml"] {
        assert!(shown.contains(&format!("==> policies/{f} <==")), "{f} missing");
    }
    let (code, checked, _) = run(&["policy", "check"]);
    assert_eq!(code, Some(0));
    let hash = checked.split("policy set ").nth(1).unwrap().split(')').next().unwrap();
    assert!(shown.contains(hash) && text.contains(hash), "one policy set: {hash}");
}

/// Output piped into a reader that has gone (`custos policy show | head
/// -1` once head has exited) ends the command quietly with success, never
/// a panic.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let mut child = std::process::Command::new(custos_bin())
        .args(["policy", "show"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the command has started writing: every
    // write it makes meets a closed pipe (EPIPE).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// An ungraded field cannot be kept (DSL Art. 21): a data_grades.toml that
/// leaves a template field out of every data set stops `policy check` and
/// start-up, naming the field; so does an important set without its
/// catalogue entry, with its line.
#[test]
fn start_up_refuses_a_field_in_no_data_set_and_an_important_set_without_its_catalogue() {
    let dir = policies_with("data_grades.toml", |t| t.replacen("\"/transport/routes\", ", "", 1));
    let (code, _, err) = run(&["policy", "check", "--policies", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("data_grades.toml:") && err.contains("/transport/routes (internal)"), "{err}");
    let data = dir.path().join("data");
    let (code, _, err) = serve_once(&data, dir.path());
    assert_eq!(code, Some(2));
    assert!(err.contains("/transport/routes"), "{err}");
    assert!(!data.exists(), "nothing initialised with an ungraded field");

    let dir = policies_with("data_grades.toml", |t| t.replacen("level = \"general\"", "level = \"important\"", 1));
    let text = std::fs::read_to_string(dir.path().join("data_grades.toml")).unwrap();
    let header = text.lines().position(|l| l.starts_with("[sets.")).unwrap() + 1;
    let (code, _, err) = run(&["policy", "check", "--policies", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("data_grades.toml:{header}")) && err.contains("catalogue"), "{err}");
}
