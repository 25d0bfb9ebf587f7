//! Each install part: what it checks, and what it runs when something is
//! missing. Every tool runs with no stdin, so nothing waits for an answer.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{Installer, pins, read};
use crate::bench::system::require_tool;
use crate::{Result, fail, log, manifest, output_of, run_shown};

/// `program` with `sudo` in front when this is not root: the parts that
/// change the system.
fn as_root(program: &str) -> Command {
    let root = output_of(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0");
    if root {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg(program);
        sudo
    }
}

/// The SHA-256 of a pin file, as `.pins` in an install directory records it
/// (sha256sum's format, so installs made by earlier versions stay valid).
fn pins_hash(file: &Path) -> Result<String> {
    let out = output_of(Command::new("sha256sum").arg(file))?;
    Ok(out.split_whitespace().next().unwrap_or_default().to_owned())
}

/// True when `dir` was installed from `file` as it is now.
fn pins_installed(dir: &Path, file: &Path) -> Result<bool> {
    let recorded = std::fs::read_to_string(dir.join(".pins")).unwrap_or_default();
    Ok(recorded.trim() == pins_hash(file)?)
}

fn record_pins(dir: &Path, file: &Path) -> Result<()> {
    let hash = pins_hash(file)?;
    std::fs::write(dir.join(".pins"), hash + "\n")
        .map_err(|e| crate::Error(format!("cannot write {}/.pins: {e}", dir.display())))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// The toolchains rustup has, one `name-host` per line.
fn rustup_toolchains(root: &Path) -> Result<String> {
    output_of(
        Command::new("rustup")
            .args(["toolchain", "list"])
            .current_dir(root),
    )
}

impl Installer {
    pub(super) fn install(&mut self, part: &str) -> Result<()> {
        let home = self.tools_home.clone();
        let venv = |name: &str| home.join(name);
        match part {
            "apt" => self.apt(&self.pin_file("apt-packages.txt")),
            "rust" => self.rust_toolchain(),
            "python" => {
                self.venv(&venv("venv"), "requirements.txt", &["--require-hashes"])?;
                self.venv(
                    &venv("checkov"),
                    "checkov-requirements.txt",
                    &["--require-hashes"],
                )
            }
            "repacks" => self.venv(&venv("repacks"), "repacks.txt", &["--require-hashes"]),
            "api-test" => self.venv(
                &venv("api-test"),
                "api-test-requirements.txt",
                &["--require-hashes"],
            ),
            "go" => self.go_tools(),
            "cargo" => {
                self.cargo_tools()?;
                self.fuzz_toolchain()
            }
            "cross" => {
                self.rust_targets()?;
                self.venv(
                    &venv("zig"),
                    "zig-requirements.txt",
                    &["--require-hashes", "--only-binary", ":all:"],
                )
            }
            "emulation" => self.emulation(),
            other => fail!("no install for part '{other}'"),
        }
    }

    /// The Debian packages `file` lists.
    fn apt(&mut self, file: &Path) -> Result<()> {
        let text = read(file)?;
        let missing: Vec<&str> = pins(&text)
            .into_iter()
            .filter(|pkg| {
                !output_of(Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]))
                    .is_ok_and(|status| status.contains("install ok installed"))
            })
            .collect();
        let name = file_name(file);
        if missing.is_empty() {
            log(&format!("apt: all packages of {name} present"));
            return Ok(());
        }
        let list = missing.join(" ");
        if self.only_checking(format!("Debian packages {list} ({name})")) {
            return Ok(());
        }
        if self.no_apt {
            fail!(
                "--no-apt: the Debian packages {list} ({name}) are missing; install them (sudo apt-get install {list}) or drop --no-apt"
            );
        }
        require_tool("apt-get", &format!("Install by hand: {list}"))?;
        log(&format!("apt: installing {list}"));
        run_shown(as_root("apt-get").args(["update", "-qq"]), "apt-get update")?;
        run_shown(
            as_root("env")
                .args([
                    "DEBIAN_FRONTEND=noninteractive",
                    "apt-get",
                    "install",
                    "-y",
                    "-qq",
                    "--no-install-recommends",
                ])
                .args(&missing),
            &format!("apt-get install {list}"),
        )
    }

    /// The repository's toolchain, read by rustup from rust-toolchain.toml.
    fn rust_toolchain(&mut self) -> Result<()> {
        require_tool("rustup", "Install Rust with rustup (https://rustup.rs).")?;
        self.toolchain("rust-toolchain.toml", &[], "")
    }

    /// The nightly cargo-fuzz needs for its sanitizer flags.
    fn fuzz_toolchain(&mut self) -> Result<()> {
        self.toolchain(
            "fuzz/rust-toolchain.toml",
            &["--profile", "minimal"],
            " (minimal profile) for fuzzing",
        )
    }

    /// The toolchain the rust-toolchain.toml at `file` names: `rustup
    /// toolchain install` reads the repository's own file (with its
    /// components); any other is installed by name with `args`.
    fn toolchain(&mut self, file: &str, args: &[&str], why: &str) -> Result<()> {
        let toml = read(&self.root.join(file))?;
        let Some(channel) = manifest::table_field(&toml, "toolchain", "channel") else {
            fail!("{file} names no [toolchain] channel");
        };
        let installed = rustup_toolchains(&self.root)?;
        if installed
            .lines()
            .any(|t| t.starts_with(&format!("{channel}-")))
        {
            log(&format!("rustup: toolchain {channel} ({file}) present"));
            return Ok(());
        }
        if self.only_checking(format!("the Rust toolchain {channel} ({file})")) {
            return Ok(());
        }
        log(&format!(
            "rustup: installing toolchain {channel} ({file}){why}"
        ));
        let mut rustup = Command::new("rustup");
        rustup
            .args(["toolchain", "install"])
            .current_dir(&self.root);
        if !args.is_empty() {
            rustup.arg(&channel).args(args);
        }
        run_shown(&mut rustup, &format!("rustup toolchain install {channel}"))
    }

    /// A venv whose packages match the pin file `requirements`; pip refuses
    /// any package, transitive ones too, whose hash is not listed.
    fn venv(&mut self, dir: &Path, requirements: &str, pip_args: &[&str]) -> Result<()> {
        let file = self.pin_file(requirements);
        let name = file_name(dir);
        if pins_installed(dir, &file)? {
            log(&format!("python: {name} venv up to date"));
            return Ok(());
        }
        if self.only_checking(format!("the {name} venv ({requirements})")) {
            return Ok(());
        }
        require_tool(
            "python3",
            "Install Python 3 (Debian: apt-get install python3 python3-venv).",
        )?;
        log(&format!(
            "python: installing {requirements} into {}",
            dir.display()
        ));
        run_shown(
            Command::new("python3").args(["-m", "venv"]).arg(dir),
            "python3 -m venv",
        )?;
        run_shown(
            Command::new(dir.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(pip_args)
                .arg("-r")
                .arg(&file),
            &format!("pip install -r {requirements}"),
        )?;
        record_pins(dir, &file)
    }

    /// Each module@version of go-tools.txt, built by `go install`.
    fn go_tools(&mut self) -> Result<()> {
        let bin = self.tools_home.join("go/bin");
        let file = self.pin_file("go-tools.txt");
        if pins_installed(&bin, &file)? {
            log("go: tools up to date");
            return Ok(());
        }
        if self.only_checking("the Go tools (go-tools.txt)".to_owned()) {
            return Ok(());
        }
        require_tool(
            "go",
            "Install Go (GitHub's runners have it), or use the repacks part instead.",
        )?;
        std::fs::create_dir_all(&bin)
            .map_err(|e| crate::Error(format!("cannot create {}: {e}", bin.display())))?;
        for module in pins(&read(&file)?) {
            log(&format!("go: installing {module}"));
            // GOFLAGS=-mod=mod and the default GONOSUMDB: every module is
            // checked against the public checksum database.
            run_shown(
                Command::new("go")
                    .args(["install", module])
                    .env("GOBIN", &bin)
                    .env("GOFLAGS", "-mod=mod"),
                &format!("go install {module}"),
            )?;
        }
        record_pins(&bin, &file)
    }

    /// scripts/tools/cargo-tools.txt, by `cargo install --locked`.
    fn cargo_tools(&mut self) -> Result<()> {
        require_tool("cargo", "Install Rust with rustup (rustup.rs).")?;
        let installed = output_of(Command::new("cargo").args(["install", "--list"]))?;
        for line in pins(&read(&self.pin_file("cargo-tools.txt"))?) {
            let mut fields = line.split_whitespace();
            let (Some(name), Some(version)) = (fields.next(), fields.next()) else {
                fail!("cargo-tools.txt: '{line}' is not `name version [ci-only]`");
            };
            // `ci-only`: only a GitHub workflow uses it (installed there
            // prebuilt); no local stage does, and compiling it would cost a
            // cold run minutes.
            if fields.next() == Some("ci-only") {
                log(&format!(
                    "cargo: {name} {version} skipped (ci-only; by hand: cargo install --locked {name} --version {version})"
                ));
                continue;
            }
            if cargo_tool_present(&installed, name, version) {
                log(&format!("cargo: {name} {version} present"));
                continue;
            }
            if self.only_checking(format!("{name} {version} (cargo-tools.txt)")) {
                continue;
            }
            log(&format!(
                "cargo: installing {name} {version} (compiles from source; takes minutes)"
            ));
            // These are tools, not shipped code: skip their release profiles'
            // LTO and single codegen unit, which make a cold install several
            // times slower for a speed-up nobody notices in a linter.
            run_shown(
                Command::new("cargo")
                    .args(["install", "--locked", "--quiet", name, "--version", version])
                    .env("CARGO_PROFILE_RELEASE_LTO", "false")
                    .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
                &format!("cargo install {name} {version}"),
            )?;
        }
        Ok(())
    }

    /// The Rust standard library of each target that ships, as
    /// scripts/lib/ship.sh names them.
    fn rust_targets(&mut self) -> Result<()> {
        require_tool(
            "rustup",
            "rustup is not installed: the musl targets come from rustup (https://rustup.rs)",
        )?;
        let ship = crate::ship::Ship::read(&self.root)?;
        let triples: Vec<&str> = ship.archs.iter().map(|a| a.triple.as_str()).collect();
        // From the repository, so the toolchain it pins gets the targets.
        let installed = output_of(
            Command::new("rustup")
                .args(["target", "list", "--installed"])
                .current_dir(&self.root),
        )?;
        let missing: Vec<&str> = triples
            .iter()
            .copied()
            .filter(|t| !installed.lines().any(|i| i == *t))
            .collect();
        if missing.is_empty() {
            log(&format!("rustup: targets {} present", triples.join(" ")));
            return Ok(());
        }
        if self.only_checking(format!("rustup targets {}", missing.join(" "))) {
            return Ok(());
        }
        log(&format!("rustup: adding targets {}", missing.join(" ")));
        run_shown(
            Command::new("rustup")
                .args(["target", "add"])
                .args(&missing)
                .current_dir(&self.root),
            "rustup target add",
        )
    }

    /// Runs linux/arm64 binaries on an `x86_64` Linux host through QEMU: the
    /// kernel hands every aarch64 ELF to the qemu-aarch64 handler of
    /// `binfmt_misc`. Its `fix_binary` flag (Debian's default) opens the emulator
    /// when the handler is enabled, so it also works inside containers, which
    /// do not have the file.
    fn emulation(&mut self) -> Result<()> {
        const BINFMT: &str = "/proc/sys/fs/binfmt_misc";
        const HANDLER: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";
        if std::env::consts::OS != "linux" {
            log("emulation: not Linux; Docker Desktop runs arm64 images itself");
            return Ok(());
        }
        if std::env::consts::ARCH == "aarch64" {
            log(
                "emulation: not needed, this machine is arm64 (the amd64 image would need qemu-x86_64 instead)",
            );
            return Ok(());
        }
        self.apt(&self.pin_file("emulation-apt-packages.txt"))?;
        let enabled =
            || std::fs::read_to_string(HANDLER).is_ok_and(|h| h.lines().next() == Some("enabled"));
        if self.check {
            if !enabled() {
                self.missing.push(
                    "the qemu-aarch64 binfmt handler (binfmt_misc mounted, update-binfmts --enable qemu-aarch64)".to_owned(),
                );
            }
            return Ok(());
        }
        let mounted = Command::new("mountpoint")
            .args(["-q", BINFMT])
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            log(&format!("emulation: mounting binfmt_misc on {BINFMT}"));
            run_shown(
                as_root("mount").args(["-t", "binfmt_misc", "binfmt_misc", BINFMT]),
                "mounting binfmt_misc (in a container, the host must mount it, or arm64 images cannot run here)",
            )?;
        }
        if !enabled() {
            log("emulation: enabling the qemu-aarch64 binfmt handler");
            run_shown(
                as_root("update-binfmts").args(["--enable", "qemu-aarch64"]),
                "update-binfmts --enable qemu-aarch64 (arm64 images cannot run here)",
            )?;
        }
        let handler = std::fs::read_to_string(HANDLER).unwrap_or_default();
        let field = |name: &str| {
            handler
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let flags = field("flags:");
        if !flags.contains('F') {
            fail!(
                "the qemu-aarch64 handler lacks the F (fix_binary) flag, so containers cannot use it: re-register it with fix_binary yes"
            );
        }
        log(&format!(
            "emulation: qemu-aarch64 handler enabled ({}, flags {flags})",
            field("interpreter ")
        ));
        Ok(())
    }
}

/// Installed by cargo install, or on PATH some other way (a prebuilt binary,
/// e.g. from the machine image or taiki-e/install-action).
fn cargo_tool_present(install_list: &str, name: &str, version: &str) -> bool {
    if install_list
        .lines()
        .any(|l| l.starts_with(&format!("{name} v{version}:")))
    {
        return true;
    }
    let subcommand = name.strip_prefix("cargo-").unwrap_or(name);
    let reported = Command::new("cargo")
        .args([subcommand, "--version"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    reports_version(&reported, name, version)
}

/// `NAME VERSION` or `NAME VERSION (...)` on the first line.
fn reports_version(version_output: &str, name: &str, version: &str) -> bool {
    let first = version_output.lines().next().unwrap_or_default();
    first
        .strip_prefix(&format!("{name} {version}"))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_on_path_counts_only_at_the_pinned_version() {
        assert!(reports_version(
            "cargo-deny 0.20.2\n",
            "cargo-deny",
            "0.20.2"
        ));
        assert!(reports_version(
            "cargo-nextest 0.9.143 (abc 2026-01-01)\n",
            "cargo-nextest",
            "0.9.143"
        ));
        assert!(!reports_version(
            "cargo-nextest 0.9.1430\n",
            "cargo-nextest",
            "0.9.143"
        ));
        assert!(!reports_version(
            "cargo-deny 0.20.1\n",
            "cargo-deny",
            "0.20.2"
        ));
        assert!(!reports_version("", "cargo-deny", "0.20.2"));
        assert!(cargo_tool_present(
            "cargo-audit v0.22.2:\n    cargo-audit\n",
            "cargo-audit",
            "0.22.2"
        ));
    }
}
