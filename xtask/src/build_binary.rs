//! `cargo xtask build-binary` (run as `scripts/build-binary.sh`): the musl
//! binaries that ship, built through cargo-auditable and cargo-zigbuild, and
//! checked to be static, built for their CPU and carrying their dependency
//! list before they are copied to dist/linux/<arch>/.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::bench::system::{git_sha, require_tool};
use crate::cli::Args;
use crate::ship::{Arch, Ship, host_arch};
use crate::{Result, fail, log, manifest, output_of, warn};

const HELP: &str = "scripts/build-binary.sh --help";

pub const USAGE: &str = "\
Usage: scripts/build-binary.sh [--arch amd64|arm64|all] [--target TRIPLE] [--glibc]

Builds `cargo auditable zigbuild` with the arguments of scripts/lib/ship.sh
(SHIP_CARGO_ARGS) for the musl target of each architecture, checks that the
result is static, is built for that CPU and carries its dependency list, and
copies it to dist/linux/<arch>/<service>. Prints one line per binary:
`static binary: <path> (<bytes> bytes, <size>, <triple>)`.

  --arch ARCH     amd64, arm64 or all (both); default: this machine's
  --target TRIPLE x86_64-unknown-linux-musl or aarch64-unknown-linux-musl
                  (the same as --arch amd64 / arm64)
  --glibc         fallback for a machine without Zig: a static glibc binary
                  for this machine's architecture (plain cargo,
                  +crt-static, the system allocator). It is NOT what ships:
                  it says so, and the images are always built from the musl
                  binaries.

Needs: the rustup target of each architecture, cargo-auditable, readelf,
and cargo-zigbuild with Zig (scripts/install-tools.sh installs all of them;
Zig and cargo-zigbuild go to $TOOLS_HOME/zig).

Environment: GIT_SHA and BUILD_TIMESTAMP are baked into the binary (/version);
they default to HEAD and HEAD's commit time, so rebuilding one commit gives the
same binary.
";

#[derive(Debug, PartialEq, Eq)]
struct Options {
    /// Architecture names; empty: this machine's.
    archs: Vec<String>,
    glibc: bool,
}

fn parse(args: Vec<String>, ship: &Ship) -> Result<Option<Options>> {
    let mut args = Args::new(args, HELP);
    let mut options = Options {
        archs: Vec::new(),
        glibc: false,
    };
    while let Some(arg) = args.next_arg() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--glibc" => options.glibc = true,
            "--arch" | "--target" => {
                let value = match inline {
                    Some(value) => value,
                    None => args.value(&flag, "amd64")?,
                };
                options.archs = if flag == "--target" {
                    match ship.archs.iter().find(|a| a.triple == value) {
                        Some(arch) => vec![arch.name.clone()],
                        None => fail!(
                            "unsupported target '{value}': the images ship {} (or use --glibc for the documented glibc fallback)",
                            ship.archs
                                .iter()
                                .map(|a| a.triple.as_str())
                                .collect::<Vec<_>>()
                                .join(" and ")
                        ),
                    }
                } else if value == "all" {
                    ship.archs.iter().map(|a| a.name.clone()).collect()
                } else {
                    vec![ship.arch(&value)?.name.clone()]
                };
            }
            _ => return Err(args.unknown(&arg)),
        }
    }
    Ok(Some(options))
}

/// One cargo build's target and what to check of its output.
struct Build<'a> {
    arch: &'a str,
    triple: String,
}

pub fn run(args: Vec<String>) -> Result<()> {
    let root = crate::project_root()?;
    let ship = Ship::read(&root)?;
    let Some(options) = parse(args, &ship)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let host = host_arch();
    let archs: Vec<String> = if options.archs.is_empty() {
        match host {
            Some(host) => vec![host.to_owned()],
            None => fail!("this machine's CPU has no image: pass --arch amd64 or --arch arm64"),
        }
    } else {
        options.archs
    };
    require_tool(
        "readelf",
        "Install binutils (Debian: apt-get install binutils).",
    )?;
    require_tool(
        "cargo-auditable",
        "Run scripts/install-tools.sh (or: cargo install --locked cargo-auditable).",
    )?;
    let sha = git_sha(&root);
    let mut cargo = Command::new("cargo");
    cargo
        .current_dir(&root)
        .env("GIT_SHA", &sha)
        .env("BUILD_TIMESTAMP", build_timestamp(&root));
    let (subcommand, builds) = if options.glibc {
        (
            glibc_build(&mut cargo, &archs, host)?,
            vec![Build {
                arch: host.unwrap_or_default(),
                triple: host_triple()?,
            }],
        )
    } else {
        zig_setup(&mut cargo, &ship)?;
        let builds = archs
            .iter()
            .map(|name| {
                ship.arch(name).map(|a: &Arch| Build {
                    arch: &a.name,
                    triple: a.triple.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        ("zigbuild", builds)
    };
    require_targets(&root, &builds)?;
    cargo.args(["auditable", subcommand]).args(&ship.cargo_args);
    for build in &builds {
        cargo.args(["--target", &build.triple]);
    }
    let shown: Vec<String> = cargo
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    log(&format!("cargo {} (git {})", shown.join(" "), sha));
    let started = Instant::now();
    crate::run_shown(&mut cargo, &format!("cargo auditable {subcommand}"))?;
    log(&format!(
        "built {} target(s) in {} s",
        builds.len(),
        started.elapsed().as_secs()
    ));
    ship_binaries(&root, &builds)
}

/// The Rust standard library of each build's target is installed.
fn require_targets(root: &Path, builds: &[Build<'_>]) -> Result<()> {
    let installed = output_of(
        Command::new("rustup")
            .args(["target", "list", "--installed"])
            .current_dir(root),
    )
    .unwrap_or_default();
    for build in builds {
        if !installed.lines().any(|t| t == build.triple) {
            fail!(
                "the Rust standard library for {} is not installed. Run scripts/install-tools.sh (or: rustup target add {})",
                build.triple,
                build.triple
            );
        }
    }
    Ok(())
}

/// Checks each built binary and copies it to dist/linux/<arch>/.
fn ship_binaries(root: &Path, builds: &[Build<'_>]) -> Result<()> {
    let name = manifest::service_name(root)?;
    for build in builds {
        let binary = crate::target_dir(root)
            .join(&build.triple)
            .join("release")
            .join(&name);
        check_binary(&binary, build.arch)?;
        let dest = root.join("dist/linux").join(build.arch).join(&name);
        install(&binary, &dest)?;
        let size = std::fs::metadata(&dest)
            .map(|m| m.len())
            .unwrap_or_default();
        #[allow(clippy::cast_precision_loss)] // a size in MiB, for reading
        let mib = size as f64 / 1_048_576.0;
        log(&format!(
            "static binary: {} ({size} bytes, {mib:.1} MiB, {})",
            dest.strip_prefix(root).unwrap_or(&dest).display(),
            build.triple
        ));
    }
    Ok(())
}

/// `BUILD_TIMESTAMP`, else HEAD's commit time in UTC (so rebuilding one
/// commit gives the same binary), else nothing (the build then uses now).
fn build_timestamp(root: &Path) -> String {
    crate::env_value("BUILD_TIMESTAMP").unwrap_or_else(|| {
        output_of(
            Command::new("git")
                .arg("-C")
                .arg(root)
                .args([
                    "log",
                    "-1",
                    "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
                    "--format=%cd",
                ])
                .env("TZ", "UTC0"),
        )
        .map(|t| t.trim().to_owned())
        .unwrap_or_default()
    })
}

fn host_triple() -> Result<String> {
    let version = output_of(Command::new("rustc").arg("-vV"))?;
    match version.lines().find_map(|l| l.strip_prefix("host: ")) {
        Some(host) => Ok(host.trim().to_owned()),
        None => fail!("rustc -vV names no host"),
    }
}

/// The documented fallback: this machine's glibc target, linked statically.
fn glibc_build(cargo: &mut Command, archs: &[String], host: Option<&str>) -> Result<&'static str> {
    let Some(host) = host else {
        fail!("--glibc builds for this machine only, and it has no image");
    };
    if archs != [host] {
        fail!("--glibc builds for this machine only ({host}): it cannot cross-compile");
    }
    let triple = host_triple()?;
    if !triple.ends_with("-linux-gnu") {
        fail!("--glibc needs a glibc Linux host; this one is {triple}");
    }
    warn(
        "--glibc: building the glibc fallback, not the musl binary that ships (no mimalloc, glibc's allocator and memcpy); install Zig with scripts/install-tools.sh to build what ships",
    );
    let rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    cargo.env(
        "RUSTFLAGS",
        format!("{rustflags} -C target-feature=+crt-static").trim_start(),
    );
    Ok("build")
}

/// cargo-zigbuild from the tools' venv first on PATH, and ship.sh's C flags
/// for each target's C code.
fn zig_setup(cargo: &mut Command, ship: &Ship) -> Result<()> {
    let zig_bin = crate::tools_home()?.join("zig/bin");
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if zig_bin.join("cargo-zigbuild").is_file() {
        let mut dirs = vec![zig_bin];
        dirs.extend(std::env::split_paths(&path));
        path = std::env::join_paths(dirs).map_err(|e| crate::Error(format!("PATH: {e}")))?;
    }
    let on_path = std::env::split_paths(&path).any(|dir| dir.join("cargo-zigbuild").is_file());
    if !on_path {
        fail!(
            "cargo-zigbuild is not installed: run scripts/install-tools.sh (pins in scripts/tools/zig-requirements.txt), or build the documented glibc fallback with --glibc"
        );
    }
    cargo.env("PATH", path);
    for arch in &ship.archs {
        cargo.env(
            format!("CFLAGS_{}", arch.triple.replace('-', "_")),
            &ship.cflags,
        );
    }
    Ok(())
}

/// Static (no ELF interpreter), built for `arch`'s CPU, and carrying the
/// dependency list cargo-auditable embeds (the `.dep-v0` section).
fn check_binary(binary: &Path, arch: &str) -> Result<()> {
    if !binary.is_file() {
        fail!("cargo finished but {} is missing", binary.display());
    }
    let readelf = |flags: &[&str]| output_of(Command::new("readelf").args(flags).arg(binary));
    let program_headers = readelf(&["--program-headers", "--wide"])?;
    if let Some(interpreter) = program_headers.lines().find(|l| l.contains("interpreter:")) {
        fail!(
            "{} is dynamically linked ({}); it cannot run in a scratch image",
            binary.display(),
            interpreter.trim().trim_matches(|c| c == '[' || c == ']')
        );
    }
    let header = readelf(&["--file-header"])?;
    let machine = header
        .lines()
        .find_map(|l| l.trim().strip_prefix("Machine:"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !built_for(arch, &machine) {
        fail!(
            "{} is built for '{machine}', not for {arch}",
            binary.display()
        );
    }
    if !readelf(&["--section-headers", "--wide"])?.contains(".dep-v0") {
        fail!(
            "{} has no .dep-v0 section: the dependency list was not embedded (was it built through cargo auditable?)",
            binary.display()
        );
    }
    Ok(())
}

/// readelf's `Machine:` is that of `arch`.
fn built_for(arch: &str, machine: &str) -> bool {
    match arch {
        "amd64" => machine.contains("X86-64"),
        "arm64" => machine == "AArch64",
        _ => false,
    }
}

/// Copies through a temporary file, so a reader never sees half a binary.
fn install(binary: &Path, dest: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let io = |e: std::io::Error| crate::Error(format!("cannot write {}: {e}", dest.display()));
    let tmp: PathBuf = dest.with_extension("tmp");
    std::fs::create_dir_all(dest.parent().unwrap_or(Path::new("."))).map_err(io)?;
    std::fs::copy(binary, &tmp).map_err(io)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    std::fs::rename(&tmp, dest).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::owned;

    fn ship() -> Ship {
        Ship::read(&crate::project_root().expect("root")).expect("ship.sh")
    }

    #[test]
    fn arch_and_target_name_the_same_builds() {
        let ship = ship();
        let archs = |args: &[&str]| {
            parse(owned(args), &ship)
                .expect("valid")
                .expect("options")
                .archs
        };
        assert_eq!(archs(&["--arch", "all"]), ["amd64", "arm64"]);
        assert_eq!(archs(&["--arch=arm64"]), ["arm64"]);
        assert_eq!(archs(&["--target", "x86_64-unknown-linux-musl"]), ["amd64"]);
        assert!(archs(&[]).is_empty(), "no --arch: this machine's");
        assert!(
            parse(owned(&["--glibc"]), &ship)
                .expect("valid")
                .expect("options")
                .glibc
        );
        for (args, error) in [
            (
                &["--arch", "riscv64"][..],
                "unsupported architecture 'riscv64'",
            ),
            (
                &["--target", "x86_64-unknown-linux-gnu"],
                "unsupported target 'x86_64-unknown-linux-gnu'",
            ),
            (&["--arch"], "--arch needs a value"),
            (&["--fast"], "unknown argument '--fast'"),
        ] {
            let err = parse(owned(args), &ship).expect_err("refused").0;
            assert!(err.contains(error), "{args:?}: {err}");
        }
    }

    #[test]
    fn the_cpu_must_be_the_architectures() {
        assert!(built_for("amd64", "Advanced Micro Devices X86-64"));
        assert!(built_for("arm64", "AArch64"));
        assert!(!built_for("arm64", "Advanced Micro Devices X86-64"));
        assert!(!built_for("amd64", "AArch64"));
    }

    #[test]
    fn a_binary_that_is_not_there_or_not_static_is_refused() {
        let missing = check_binary(Path::new("/nonexistent/binary"), "amd64")
            .expect_err("missing")
            .0;
        assert!(
            missing.contains("cargo finished but /nonexistent/binary is missing"),
            "{missing}"
        );
        // Any dynamically linked program of this machine.
        if Path::new("/bin/sh").is_file() && require_tool("readelf", "").is_ok() {
            let err = check_binary(Path::new("/bin/sh"), "amd64")
                .expect_err("dynamic")
                .0;
            assert!(err.contains("is dynamically linked"), "{err}");
        }
    }
}
