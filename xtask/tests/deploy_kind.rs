//! `cargo xtask deploy-kind` against fake `kind`, `kubectl`, `docker` and
//! `curl`: a deploy that fails after it was applied undoes itself, and one
//! that cannot be undone says why. kind cannot run everywhere the tests do;
//! what the binary asks of each tool, and what it makes of the answers, can.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Command;

/// Each call is logged to `$FAKE_LOG`; the answers come from the environment
/// (`FAKE_ROLLOUT`: exit statuses of the first and the second `rollout
/// status`, `FAKE_REVISION`: the Deployment's revision, `FAKE_READY`: curl's
/// exit status on /readyz, `FAKE_WAIT`: the exit status of the wait for the
/// replaced pod `pod/replaced-1`, which a failed wait leaves in place).
const FAKE_TOOLS: &str = r#"#!/usr/bin/env bash
tool="$(basename "$0")"
printf '%s %s\n' "$tool" "$*" >>"$FAKE_LOG"
case "$tool $*" in
  "kind version") echo "kind v0.33.0 go1.24 linux/amd64" ;;
  "kind get clusters") echo "$FAKE_APP" ;;
  "docker info --format {{.Architecture}}") echo x86_64 ;;
  "docker info --format {{json .DriverStatus}}") echo '[]' ;;
  "docker image inspect --format"*) echo 0123456789abcdef0123456789abcdef01234567 ;;
  *"rollout status"*)
    calls="$(grep -c 'rollout status' "$FAKE_LOG")"
    read -r -a statuses <<<"$FAKE_ROLLOUT"
    exit "${statuses[calls - 1]:-0}"
    ;;
  *" get deployment/$FAKE_APP -o jsonpath="*) echo "$FAKE_REVISION" ;;
  *" get pods -l "*" -o go-template="*) echo pod/replaced-1 ;;
  *" wait --for=delete pod/replaced-1 "*) exit "$FAKE_WAIT" ;;
  *" get pod/replaced-1 --ignore-not-found -o name") ((FAKE_WAIT == 0)) || echo pod/replaced-1 ;;
  "curl "*/readyz) exit "$FAKE_READY" ;;
  "curl "*/version) echo '{"git_sha":"0123456789abcdef0123456789abcdef01234567"}' ;;
esac
exit 0
"#;

struct Run {
    code: Option<i32>,
    stderr: String,
    calls: String,
}

/// `cargo xtask deploy-kind <app>:test` with the fakes first on PATH.
fn deploy_kind(rollout: &str, revision: &str, ready: &str, wait: &str) -> Run {
    let root = xtask::project_root().expect("the repository");
    let app = xtask::manifest::service_name(&root).expect("the service's name");
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "deploy-kind-fakes-{}-{rollout}-{revision}-{ready}-{wait}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("a directory for the fakes");
    let fake = dir.join("fake");
    fs::write(&fake, FAKE_TOOLS).expect("write the fake");
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).expect("chmod");
    for tool in ["kind", "kubectl", "docker", "curl"] {
        std::os::unix::fs::symlink(&fake, dir.join(tool)).expect("link a fake tool");
    }
    let log = dir.join("calls.log");
    fs::write(&log, "").expect("the log");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["deploy-kind", &format!("{app}:test")])
        .env("PATH", path)
        .env("FAKE_LOG", &log)
        .env("FAKE_APP", &app)
        .env("FAKE_ROLLOUT", rollout)
        .env("FAKE_REVISION", revision)
        .env("FAKE_READY", ready)
        .env("FAKE_WAIT", wait)
        .env("SMOKE_TEST_SECONDS", "2")
        .env_remove("KIND_CLUSTER_NAME")
        .env_remove("ROLLOUT_TIMEOUT")
        .output()
        .expect("xtask runs");
    let calls = fs::read_to_string(&log).expect("the calls");
    let _ = fs::remove_dir_all(&dir);
    Run {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        calls,
    }
}

#[test]
fn a_deploy_that_never_turns_ready_is_rolled_back() {
    let run = deploy_kind("1 0", "3", "0", "0");
    assert_eq!(
        run.code,
        Some(4),
        "exit 4 means rolled back:\n{}",
        run.stderr
    );
    assert!(
        run.calls.contains("rollout undo deployment/"),
        "{}",
        run.calls
    );
    assert!(
        run.calls.contains("logs -l") && run.calls.contains("get events"),
        "the failing pods' events and logs are shown:\n{}",
        run.calls
    );
    assert!(
        run.stderr.contains("did not become available")
            && run
                .stderr
                .contains("Rolled back: the previous revision serves again"),
        "{}",
        run.stderr
    );

    // A smoke test that fails after a complete rollout is undone the same way.
    let run = deploy_kind("0 0", "2", "7", "0");
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    assert!(
        run.calls.contains("rollout undo") && run.stderr.contains("/readyz did not answer 200"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_good_deploy_ends_when_the_pods_it_replaced_are_gone() {
    let run = deploy_kind("0", "2", "0", "0");
    assert_eq!(run.code, Some(0), "a good deploy:\n{}", run.stderr);
    assert!(!run.calls.contains("rollout undo"), "{}", run.calls);
    assert!(
        run.calls.contains("kind load image-archive")
            && run
                .calls
                .contains(":0123456789abcdef0123456789abcdef01234567"),
        "the image is loaded under its git SHA:\n{}",
        run.calls
    );
    assert!(
        run.calls.contains("wait --for=delete pod/replaced-1"),
        "a deploy ends when the pods it replaced are gone:\n{}",
        run.calls
    );
    let run = deploy_kind("0", "2", "0", "1");
    assert_eq!(
        run.code,
        Some(1),
        "a replaced pod that never goes fails the deploy"
    );
    assert!(
        run.stderr.contains("pod/replaced-1 still exist"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_rollback_that_cannot_happen_or_fails_says_so() {
    let run = deploy_kind("1", "1", "0", "0");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(!run.calls.contains("rollout undo"), "{}", run.calls);
    assert!(
        run.stderr
            .contains("first revision, so there is nothing to roll back to"),
        "{}",
        run.stderr
    );

    let run = deploy_kind("1 1", "4", "0", "0");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the previous revision did not become available again"),
        "{}",
        run.stderr
    );
}
