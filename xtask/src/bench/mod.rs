//! `cargo xtask bench throughput|instructions|image`: the figures of
//! docs/performance.md. They print figures for a human; none is a CI stage,
//! because shared CI runners are too noisy for a performance gate.

mod image;
mod instructions;
mod otlp_sink;
pub mod server;
pub mod stats;
pub mod system;
pub mod table;
mod throughput;
pub mod wrk;

use std::fs;
use std::path::{Path, PathBuf};

use crate::{Error, Result, fail, log, manifest};

const USAGE: &str = "\
Usage: cargo xtask bench <throughput|instructions|image> [OPTIONS]
       scripts/bench.sh <throughput|instructions|image> [OPTIONS]   (the same)

  throughput    requests/s and latency next to nginx, memory, start-up time
  instructions  user-space instructions per request, counted by valgrind
  image         image size, container start-up time, rebuild time

`cargo xtask bench <benchmark> --help` describes each one's options.
";

pub fn run(args: Vec<String>) -> Result<()> {
    let mut args = args.into_iter();
    let which = args.next();
    let rest: Vec<String> = args.collect();
    match which.as_deref() {
        Some("throughput") => throughput::run(&rest),
        Some("instructions") => instructions::run(rest),
        Some("image") => image::run(rest),
        Some("-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(option) if option.starts_with('-') => fail!(
            "name the benchmark before its options, e.g. cargo xtask bench throughput {option} (cargo xtask bench --help)"
        ),
        Some(other) => fail!(
            "unknown benchmark '{other}': choose throughput, instructions or image (cargo xtask bench --help)"
        ),
        None => {
            eprint!("{USAGE}");
            fail!("name a benchmark, e.g. cargo xtask bench throughput")
        }
    }
}

/// The floor's row in every table.
const FLOOR_LABEL: &str = "floor: same handlers and accept loop, no middleware, no log";

/// The request body of every `POST /api/v1/slugify`.
const SLUGIFY_BODY: &str =
    r#"{"text":"Crème brûlée: a recipe for 4, ready in 45 minutes!","max_len":64}"#;

/// The two endpoints measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Endpoint {
    Healthz,
    Slugify,
}

impl Endpoint {
    const ALL: [Self; 2] = [Self::Healthz, Self::Slugify];

    fn path(self) -> &'static str {
        match self {
            Self::Healthz => "/healthz",
            Self::Slugify => "/api/v1/slugify",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Healthz => "GET /healthz",
            Self::Slugify => "POST /api/v1/slugify",
        }
    }
}

/// The release binaries a benchmark measures.
#[derive(Debug)]
struct Binaries {
    root: PathBuf,
    /// The service's name (Cargo.toml's package name).
    name: String,
    service: PathBuf,
    /// `examples/bench_floor.rs`: the same handlers and accept loop, no
    /// middleware, no log.
    floor: PathBuf,
}

impl Binaries {
    /// Release builds of the service and of the framework floor; `service`
    /// (`--binary`) replaces the service's, e.g. the musl binary that ships
    /// (the floor stays the cargo build).
    fn build(service: Option<&str>) -> Result<Self> {
        let root = crate::project_root()?;
        let name = manifest::service_name(&root)?;
        log("building the release binary and the framework floor (examples/bench_floor.rs)");
        let built = crate::cargo()
            .args([
                "build",
                "--release",
                "--locked",
                "--bin",
                &name,
                "--example",
                "bench_floor",
            ])
            .current_dir(&root)
            .status()
            .map_err(|e| Error(format!("cannot run cargo: {e}")))?;
        if !built.success() {
            fail!("cargo build --release failed (output above)");
        }
        let release = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), PathBuf::from)
            .join("release");
        let mut binaries = Self {
            service: release.join(&name),
            floor: release.join("examples/bench_floor"),
            root,
            name,
        };
        for built in [&binaries.service, &binaries.floor] {
            if !built.is_file() {
                fail!(
                    "cargo build succeeded but {} is missing; is CARGO_TARGET_DIR set to something else than the build used?",
                    built.display()
                );
            }
        }
        if let Some(path) = service {
            let path = Path::new(path);
            if !is_executable(path) {
                fail!(
                    "--binary {} is not an executable file (build the musl one with scripts/build-binary.sh)",
                    path.display()
                );
            }
            binaries.service = fs::canonicalize(path)
                .map_err(|e| Error(format!("cannot resolve {}: {e}", path.display())))?;
            log(&format!(
                "the service rows measure {}",
                binaries.service.display()
            ));
        }
        Ok(binaries)
    }

    /// The service binary's path relative to the repository, for the report.
    fn service_shown(&self) -> String {
        self.service
            .strip_prefix(&self.root)
            .unwrap_or(&self.service)
            .display()
            .to_string()
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `rustc 1.95.0`: the compiler's first two words.
fn rustc_version() -> String {
    let line = system::version_line("rustc", &["-V"]);
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A temporary directory for logs and scripts, removed when dropped unless
/// `KEEP_BENCH_DIR=1`.
#[derive(Debug)]
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(label: &str) -> Result<Self> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("{label}.{}-{stamp}", std::process::id()));
        fs::create_dir_all(&dir)
            .map_err(|e| Error(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Self(dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var("KEEP_BENCH_DIR").as_deref() == Ok("1") {
            log(&format!("kept {}", self.0.display()));
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// `us` microseconds as milliseconds with two decimals.
fn ms(us: f64) -> String {
    format!("{:.2}", us / 1000.0)
}

/// `kb` kibibytes as megabytes (10^6 bytes) with one decimal.
fn mb(kb: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // memory sizes are far below 2^52
    let bytes = (kb * 1024) as f64;
    format!("{:.1}", bytes / 1e6)
}

/// `a / b` with two decimals.
fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}", a / b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_printed_in_the_units_of_the_tables() {
        assert_eq!(ms(1234.0), "1.23");
        assert_eq!(mb(4096), "4.2");
        assert_eq!(ratio(85.0, 100.0), "0.85");
    }

    #[test]
    fn an_unknown_benchmark_lists_the_choices() {
        let err = run(vec!["speed".to_owned()]).expect_err("unknown");
        assert!(err.0.contains("'speed'") && err.0.contains("throughput, instructions or image"));
    }
}
