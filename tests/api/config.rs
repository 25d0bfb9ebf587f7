//! The real binary refuses bad configuration with one clear line.

use std::process::Command;

fn run_with_env(name: &str, value: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_payload"))
        // Only the variables under test: one exported in the caller's shell
        // (RUST_LOG, PORT…) must not change the outcome.
        .env_clear()
        .env(name, value)
        .env("PORT", if name == "PORT" { value } else { "0" })
        .output()
        .expect("the binary runs")
}

#[test]
fn a_bad_port_exits_non_zero_naming_the_variable() {
    let output = run_with_env("PORT", "abc");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        r#"error: invalid PORT (--port) value "abc": expected a port number from 0 to 65535"#
    );
}

#[test]
fn a_negative_timeout_exits_non_zero_naming_the_variable() {
    let output = run_with_env("SHUTDOWN_TIMEOUT_SECONDS", "-1");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(r#"SHUTDOWN_TIMEOUT_SECONDS (--shutdown-timeout-seconds) value "-1""#),
        "{stderr}"
    );
}

#[test]
fn help_lists_every_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_payload"))
        .env_clear()
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for name in payload::configuration::env_vars() {
        assert!(
            help.contains(&format!("[env: {name}")),
            "{name} missing from --help:\n{help}"
        );
    }
}
