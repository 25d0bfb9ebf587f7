//! The pipeline's stages, in the order the GitHub workflows run them: the
//! one list that `scripts/ci.sh` runs, `--list` prints and `--help` explains.
//! Adding a stage is adding an entry here.

/// One stage: what it is called, the command that runs it (by bash, from
/// the repository root), what it checks, and the `install-tools` parts it
/// needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stage {
    pub(super) name: &'static str,
    pub(super) command: &'static str,
    pub(super) checks: &'static str,
    pub(super) parts: &'static [&'static str],
}

const fn stage(
    name: &'static str,
    command: &'static str,
    checks: &'static str,
    parts: &'static [&'static str],
) -> Stage {
    Stage {
        name,
        command,
        checks,
        parts,
    }
}

pub(super) const STAGES: &[Stage] = &[
    stage(
        "rust-lint",
        "scripts/lint-rust.sh",
        "cargo fmt --check and clippy on all targets with warnings denied",
        &["rust"],
    ),
    stage(
        "config-lint",
        "scripts/lint-config.sh",
        "actionlint, zizmor, shellcheck, hadolint, yamllint, kustomize + kubernetes-validate",
        &["apt", "python", "repacks"],
    ),
    stage(
        "test",
        "scripts/test.sh",
        "unit, HTTP and doc tests (cargo-nextest)",
        &["apt", "rust", "cargo", "repacks"],
    ),
    stage(
        "image",
        "scripts/build-image.sh",
        "musl binaries and scratch images for linux/amd64 and linux/arm64 ($IMAGE-amd64, -arm64)",
        &["apt", "rust", "cargo", "cross"],
    ),
    stage(
        "container-test",
        "scripts/container-test.sh",
        "testcontainers suite against the amd64 and the arm64 image (arm64 under QEMU)",
        &["apt", "rust", "cargo", "emulation"],
    ),
    stage(
        "arm64-smoke",
        "scripts/smoke-image.sh --platform arm64",
        "the arm64 image read-only as uid 65532: /readyz, and /version names this commit and aarch64 (the arm64-smoke job, here under QEMU)",
        &["apt", "emulation"],
    ),
    stage(
        "monitoring",
        "cargo xtask monitoring --plant-faults",
        "promtool tests of every alert; every dashboard and alert expression returns series from a real Prometheus (Debian's) scraping the service under load; a renamed metric must be caught",
        &["apt", "rust", "cargo"],
    ),
    stage(
        "supply-chain",
        "scripts/supply-chain.sh",
        "cargo-deny advisories/bans/licenses/sources and cargo-audit",
        &["rust", "cargo"],
    ),
    stage(
        "scan",
        "scripts/scan.sh",
        "Trivy config and secret scans; SBOM and cargo audit bin per platform's image",
        &["apt", "cargo", "repacks"],
    ),
    stage(
        "release",
        "scripts/release-assets.sh --build --plant-faults",
        "the asset set a tag publishes (archives, SBOMs, SHA256SUMS, notes) in target/dist, verified as a downloader would (arm64 under QEMU); planted faults must be refused",
        &["apt", "rust", "cargo", "cross", "emulation"],
    ),
    stage(
        "image-vuln",
        "scripts/scan.sh vuln",
        "Trivy vulnerability scan of the image (needs Trivy's online database)",
        &["apt", "repacks"],
    ),
    stage(
        "deploy",
        "scripts/deploy-stage.sh",
        "deploy to kind and check a rolling update drops no request",
        &["apt", "rust", "cross", "repacks"],
    ),
    stage(
        "deploy-host",
        "scripts/deploy-host-stage.sh",
        "blue-green, canary and rollback behind nginx (Debian's) under load: 0 failed requests; planted faults must lose some",
        &["apt", "rust", "cargo", "cross"],
    ),
    stage(
        "gates",
        "scripts/gates.sh",
        "plants one violation per gate in a copy of the repo; each gate must fail",
        &["apt", "rust", "cargo", "python", "repacks", "api-test"],
    ),
    stage(
        "rename-test",
        "cargo nextest run --locked --test rename --run-ignored only --no-fail-fast",
        "renames a copy of the repo with scripts/rename.sh (cargo xtask rename); the copy must build and pass its tests",
        &["apt", "rust", "cargo"],
    ),
    stage(
        "reliability",
        "scripts/reliability.sh --soak $SOAK_SECONDS --debug",
        "shutdown under load, a soak at saturation, hostile input over raw sockets (tests/reliability/), then the API contract (schemathesis)",
        &["apt", "rust", "cargo", "api-test"],
    ),
    stage(
        "fuzz",
        "scripts/fuzz.sh --time $FUZZ_SECONDS",
        "bounded cargo-fuzz run of the slug and request-body targets (nightly)",
        &["apt", "cargo"],
    ),
];

/// The time boxes of the stages that run for a set time rather than to the
/// end of a fixed amount of work, as the environment of every stage.
/// `--quick` shortens them for a rerun during the day; CI never does (it
/// refuses `--quick`), so every pull request gets the full boxes.
pub(super) const FULL_TIME_BOXES: &[(&str, &str)] =
    &[("SOAK_SECONDS", "20"), ("FUZZ_SECONDS", "30")];
pub(super) const QUICK_TIME_BOXES: &[(&str, &str)] =
    &[("SOAK_SECONDS", "15"), ("FUZZ_SECONDS", "5")];

/// The install parts that install system packages or change the kernel's
/// binfmt table: the runner never runs them itself, it names the command.
pub(super) const ROOT_PARTS: &[&str] = &["apt", "emulation"];

pub(super) fn find(name: &str) -> Option<&'static Stage> {
    STAGES.iter().find(|stage| stage.name == name)
}

/// `SOAK_SECONDS=20 FUZZ_SECONDS=30`.
pub(super) fn describe(boxes: &[(&str, &str)]) -> String {
    boxes
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_are_unique_scripts_exist_and_every_part_is_one_install_tools_knows() {
        let root = crate::project_root().expect("root");
        let known = crate::install::PARTS;
        assert!(
            ROOT_PARTS.iter().all(|p| known.contains(p)),
            "{ROOT_PARTS:?}"
        );
        for stage in STAGES {
            assert_eq!(
                find(stage.name),
                Some(stage),
                "{} is listed twice",
                stage.name
            );
            let program = stage.command.split_whitespace().next().expect("a command");
            assert!(
                program == "cargo" || root.join(program).is_file(),
                "{}: {program} does not exist",
                stage.name
            );
            for part in stage.parts {
                assert!(known.contains(part), "{}: unknown part {part}", stage.name);
            }
        }
        assert_eq!(describe(FULL_TIME_BOXES), "SOAK_SECONDS=20 FUZZ_SECONDS=30");
    }

    #[test]
    fn the_quick_boxes_shorten_the_same_variables() {
        let names = |boxes: &[(&'static str, &str)]| boxes.iter().map(|b| b.0).collect::<Vec<_>>();
        assert_eq!(names(FULL_TIME_BOXES), names(QUICK_TIME_BOXES));
    }
}
