//! `cargo xtask bench image`: the figures the image is held to, as a
//! Markdown table for docs/performance.md: size, start-up time, and how long
//! a rebuild takes after a one-file change. Timings depend on the machine, so
//! they are recorded, not asserted.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use super::WorkDir;
use super::stats::Spread;
use super::system::{self, answers_200, free_port, require_tool};
use super::table::{Align, Table};
use crate::cli::{Args, parse_number};
use crate::{Error, Result, fail, log, manifest};

const HELP: &str = "cargo xtask bench image --help";

const USAGE: &str = "\
Usage: cargo xtask bench image [--skip-rebuild]

Builds ${IMAGE:-<name>:local} with scripts/build-image.sh, then prints:
  - the image size as `docker image inspect` reports it (target: at most 6 MB)
  - the median time from `docker run` to the first 200 from /readyz over RUNS
    runs (default 10; target: under 150 ms), with the container hardened as
    in production (--read-only, --cap-drop ALL)
  - the time of scripts/build-image.sh after touching one source file
    (its mtime only; the content is unchanged); --skip-rebuild leaves it out
Environment: IMAGE, RUNS (as above), and those of scripts/build-image.sh.
Nothing is written to the repository except build outputs (target/, dist/).
";

/// The file whose mtime the rebuild figure touches.
const TOUCHED: &str = "src/lib.rs";

pub(super) fn run(args: Vec<String>) -> Result<()> {
    let mut measure_rebuild = true;
    let mut args = Args::new(args, HELP);
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            "--skip-rebuild" => measure_rebuild = false,
            _ => return Err(args.unknown(&arg)),
        }
    }
    let root = crate::project_root()?;
    let name = manifest::service_name(&root)?;
    let image = std::env::var("IMAGE").unwrap_or_else(|_| format!("{name}:local"));
    let runs = match std::env::var("RUNS") {
        Ok(value) => parse_number("RUNS", &value, 1, 1000)?,
        Err(_) => 10,
    };
    require_tool(
        "docker",
        "Install Docker (Debian: apt-get install docker.io).",
    )?;
    if !Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        fail!("no Docker engine answers ('docker info' failed); start one and retry.");
    }
    let load_before = system::load_average();
    let work = WorkDir::new(&format!("{name}-figures"))?;
    let builder = Builder {
        root: &root,
        image: &image,
        log: work.path("build.log"),
    };

    // A warm build first, so the timed rebuilds below are the incremental case.
    log(&format!("building {image}"));
    builder.build()?;
    // With nothing changed: what packaging costs (cargo has nothing to do).
    let noop = builder.timed_build()?;
    let size: u64 = inspect(&image, "{{.Size}}")?
        .parse()
        .map_err(|_| Error(format!("docker image inspect {image} printed no size")))?;

    // A free loopback port, fixed for all runs, so no `docker port` call
    // sits between `docker run` and the first request.
    let port = free_port()?;
    let starter = Starter {
        image: &image,
        prefix: format!("{name}-figures-{}", std::process::id()),
        runs,
        port,
    };
    log(&format!(
        "{runs} starts with a published port (bridge network)"
    ));
    let bridge = starter.runs(&["--publish", &format!("127.0.0.1:{port}:8080")])?;
    // In Kubernetes the pod's network exists before its container starts, so
    // the bridge set-up above is not on the start path there; host networking
    // shows the start-up without it.
    log(&format!("{runs} starts on the host network"));
    let host = starter.runs(&["--network", "host", "--env", &format!("PORT={port}")])?;

    let rebuild = if measure_rebuild {
        log(&format!("touching {TOUCHED} and rebuilding"));
        File::options()
            .append(true)
            .open(root.join(TOUCHED))
            .and_then(|file| file.set_modified(SystemTime::now()))
            .map_err(|e| Error(format!("cannot touch {TOUCHED}: {e}")))?;
        builder.timed_build()?
    } else {
        "not measured (--skip-rebuild)".to_owned()
    };

    print_report(&Figures {
        image: &image,
        runs,
        size,
        noop,
        bridge,
        host,
        rebuild,
        load_before,
    })
}

/// What `run` measured.
struct Figures<'a> {
    image: &'a str,
    runs: u64,
    size: u64,
    noop: String,
    bridge: Starts,
    host: Starts,
    rebuild: String,
    load_before: String,
}

fn print_report(f: &Figures<'_>) -> Result<()> {
    let (image, runs, size, load_before) = (f.image, f.runs, f.size, &f.load_before);
    let engine = system::output("docker", &["version", "--format", "{{.Server.Version}}"])
        .map_or_else(|_| "unknown".to_owned(), |v| v.trim().to_owned());
    let date = system::output("date", &["-u", "+%Y-%m-%d"])?;
    let cpus = system::output("nproc", &[])?;
    let arch = inspect(image, "{{.Architecture}}")?;
    let mut table = Table::new(&[
        ("figure", Align::Left),
        ("measured", Align::Left),
        ("of which after `docker run` returned", Align::Left),
        ("target", Align::Left),
    ]);
    #[allow(clippy::cast_precision_loss)] // image sizes are far below 2^52
    let size_mb = size as f64 / 1e6;
    table
        .row([
            "image size (`docker image inspect`)".to_owned(),
            format!("{size_mb:.2} MB ({size} bytes)"),
            String::new(),
            "at most 6 MB".to_owned(),
        ])
        .row([
            format!("`docker run` to first 200 from `/readyz`, published port, median of {runs}"),
            f.bridge.total(),
            f.bridge.service(),
            "under 150 ms".to_owned(),
        ])
        .row([
            format!("the same on the host network (no bridge set-up), median of {runs}"),
            f.host.total(),
            f.host.service(),
            String::new(),
        ])
        .row([
            "`scripts/build-image.sh` with nothing changed".to_owned(),
            f.noop.clone(),
            String::new(),
            String::new(),
        ])
        .row([
            format!("`scripts/build-image.sh` after touching `{TOUCHED}`"),
            f.rebuild.clone(),
            String::new(),
            String::new(),
        ]);
    println!(
        "\nMeasured {} on {} cores (load average before: {load_before}, after: {}), Docker engine {engine}, image {image} ({}).\n\n{table}",
        date.trim(),
        cpus.trim(),
        system::load_average(),
        arch.trim()
    );
    Ok(())
}

fn inspect(image: &str, format: &str) -> Result<String> {
    Ok(
        system::output("docker", &["image", "inspect", "--format", format, image])?
            .trim()
            .to_owned(),
    )
}

/// scripts/build-image.sh, its output kept in a log shown on failure.
struct Builder<'a> {
    root: &'a Path,
    image: &'a str,
    log: PathBuf,
}

impl Builder<'_> {
    fn build(&self) -> Result<()> {
        let log = File::create(&self.log)
            .map_err(|e| Error(format!("cannot create {}: {e}", self.log.display())))?;
        let err = log
            .try_clone()
            .map_err(|e| Error(format!("cannot share the build log: {e}")))?;
        let status = Command::new(self.root.join("scripts/build-image.sh"))
            .current_dir(self.root)
            .env("IMAGE", self.image)
            .stdout(log)
            .stderr(err)
            .status()
            .map_err(|e| Error(format!("cannot run scripts/build-image.sh: {e}")))?;
        if !status.success() {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("{}", crate::last_lines(&text, 40));
            fail!("scripts/build-image.sh failed (last lines above)");
        }
        Ok(())
    }

    /// The build's wall time, "12.3 s".
    fn timed_build(&self) -> Result<String> {
        let start = Instant::now();
        self.build()?;
        Ok(format!("{:.1} s", start.elapsed().as_secs_f64()))
    }
}

/// Starts hardened containers and times them to the first 200.
struct Starter<'a> {
    image: &'a str,
    prefix: String,
    runs: u64,
    port: u16,
}

/// Start-up times of a series of runs, in milliseconds: from `docker run`,
/// and from the moment `docker run` returned.
#[derive(Debug)]
struct Starts {
    total: Vec<f64>,
    service: Vec<f64>,
}

impl Starts {
    /// "median ms (min a, max b)".
    fn total(&self) -> String {
        Spread::of(&self.total).map_or_else(String::new, |s| {
            format!(
                "{:.0} ms (min {:.0}, max {:.0})",
                s.median.floor(),
                s.min,
                s.max
            )
        })
    }

    fn service(&self) -> String {
        Spread::of(&self.service)
            .map_or_else(String::new, |s| format!("{:.0} ms", s.median.floor()))
    }
}

/// Removes the container when dropped, also on an error.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

impl Starter<'_> {
    fn runs(&self, docker_args: &[&str]) -> Result<Starts> {
        let mut starts = Starts {
            total: Vec::new(),
            service: Vec::new(),
        };
        for i in 1..=self.runs {
            let name = format!("{}-{i}", self.prefix);
            let start = Instant::now();
            // `docker run --detach` returns once the engine has started the
            // process. Polling only then, not during the engine's network
            // set-up: a connection attempt made while the port proxy has no
            // route yet stalls for a SYN retransmit (1 s) and would be
            // measured as start-up time.
            let run = Command::new("docker")
                .args([
                    "run",
                    "--detach",
                    "--rm",
                    "--name",
                    &name,
                    "--read-only",
                    "--cap-drop",
                    "ALL",
                ])
                .args(["--security-opt", "no-new-privileges"])
                .args(docker_args)
                .arg(self.image)
                .output()
                .map_err(|e| Error(format!("cannot run docker: {e}")))?;
            let container = Container(name);
            if !run.status.success() {
                fail!(
                    "run {i}: docker run failed: {}",
                    String::from_utf8_lossy(&run.stderr).trim()
                );
            }
            let started = Instant::now();
            while !answers_200(self.port, "/readyz", Duration::from_secs(1)) {
                if start.elapsed() > Duration::from_secs(10) {
                    fail!("run {i}: no 200 from /readyz within 10 s");
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let ready = Instant::now();
            starts.total.push(millis(ready - start));
            starts.service.push(millis(ready - started));
            drop(container);
        }
        Ok(starts)
    }
}

/// Whole milliseconds, as the figures are printed.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_are_summarised_as_median_min_and_max() {
        let starts = Starts {
            total: vec![120.0, 100.0, 300.0, 110.0],
            service: vec![20.0, 21.0, 30.0],
        };
        assert_eq!(starts.total(), "115 ms (min 100, max 300)");
        assert_eq!(starts.service(), "21 ms");
    }

    #[test]
    fn an_unknown_argument_is_refused_with_the_help() {
        let err = run(vec!["--rebuild".to_owned()]).expect_err("unknown");
        assert_eq!(
            err.0,
            "unknown argument '--rebuild' (see cargo xtask bench image --help)"
        );
    }
}
