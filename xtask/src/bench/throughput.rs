//! `cargo xtask bench throughput`: throughput and latency of the release
//! binary next to nginx measured in the same run, plus memory and start-up
//! time. Absolute requests/s depend on the machine; the ratio to a
//! known-fast server on the same cores at the same moment is what can be
//! compared across machines, and a regression in the middleware stack or the
//! log path shows up there.

use std::collections::HashMap;
use std::fs;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::server::{Launch, Server, TASKSET_HINT};
use super::stats::median;
use super::system::{self, free_port, require_tool};
use super::table::{Align, Table};
use super::wrk::{self, WrkResult};
use super::{Binaries, Endpoint, FLOOR_LABEL, SLUGIFY_BODY, WorkDir, mb, ms, ratio};
use crate::cli::Args;
use crate::{Error, Result, fail, log, warn};

const HELP: &str = "cargo xtask bench throughput --help";

const USAGE: &str = "\
Usage: cargo xtask bench throughput [--duration SECONDS] [--soak-seconds SECONDS] [--starts N] [--nice] [--check] [--binary PATH]

Builds the release binary and the floor (cargo build --release --locked) and
measures, with the server pinned to CPU 0 and wrk (1 thread, 64 connections)
pinned to CPU 1, all traffic on 127.0.0.1:
  - requests/s, p50 and p99 latency of GET /healthz and POST /api/v1/slugify for
    nginx (1 worker, `return 200`: the baseline), the framework floor (the
    same handlers and accept loop with no middleware and no log:
    examples/bench_floor.rs), the service in its default configuration
    (LOG_FORMAT=json, RUST_LOG=info: access logs are part of the cost) and the
    service with RUST_LOG=warn; the ratio of each to nginx;
  - idle RSS, RSS after a soak at saturation (POST /api/v1/slugify);
  - time from process start to the first 200 from /readyz (median of N starts).
Then it compares the figures with the service's performance targets.

Options:
  --duration SECONDS      length of each measured wrk run (default 10)
  --soak-seconds SECONDS  length of the saturation run before the RSS reading (default 30)
  --starts N              process starts timed for start-to-ready (default 5)
  --nice                  after the build, run the servers, wrk and every helper
                          at the highest priority (nice -20, in a session of
                          their own; needs root): on a machine shared with other
                          work such as builds, the figures then describe the
                          service rather than the neighbours
  --check                 exit 1 when a target is missed (default: report only,
                          since a loaded machine misses targets for reasons of
                          its own)
  --binary PATH           measure this service binary instead of the cargo
                          build for this host (glibc), e.g. the musl binary
                          that ships: dist/linux/amd64/<name>
  -h, --help              this text

Needs: cargo, wrk, nginx, taskset and at least 2 CPUs.
  Debian/Ubuntu: apt-get install wrk nginx-light   (or nginx; taskset is in util-linux)
Servers' logs and wrk's full output stay in a temporary directory that is
removed on exit; set KEEP_BENCH_DIR=1 to keep it.
";

const INSTALL_HINT: &str = "Debian/Ubuntu: apt-get install -y wrk nginx-light (or nginx); the benchmark is not part of CI, so scripts/install-tools.sh does not install them.";

/// Set in the re-run of `--nice` inside its own session.
const OWN_SESSION: &str = "BENCH_OWN_SESSION";

#[derive(Debug, PartialEq, Eq)]
struct Options {
    duration: u64,
    soak_seconds: u64,
    starts: u64,
    nice: bool,
    check: bool,
    binary: Option<String>,
}

/// `None` for --help.
fn parse(args: Vec<String>) -> Result<Option<Options>> {
    let mut options = Options {
        duration: 10,
        soak_seconds: 30,
        starts: 5,
        nice: false,
        check: false,
        binary: None,
    };
    let mut args = Args::new(args, HELP);
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--duration" => options.duration = args.number(&arg, 1, 99_999)?,
            "--soak-seconds" => options.soak_seconds = args.number(&arg, 1, 99_999)?,
            "--starts" => options.starts = args.number(&arg, 1, 99_999)?,
            "--nice" => options.nice = true,
            "--check" => options.check = true,
            "--binary" => options.binary = Some(args.value(&arg, "dist/linux/amd64/<name>")?),
            _ => return Err(args.unknown(&arg)),
        }
    }
    Ok(Some(options))
}

pub(super) fn run(args: &[String]) -> Result<()> {
    let Some(options) = parse(args.to_vec())? else {
        print!("{USAGE}");
        return Ok(());
    };
    require_tool("wrk", INSTALL_HINT)?;
    require_tool("nginx", INSTALL_HINT)?;
    let taskset = require_tool("taskset", TASKSET_HINT)?;
    if !Command::new(&taskset)
        .args(["-c", "1", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        fail!(
            "CPU 1 is not available to this process: the benchmark needs 2 CPUs, one for the server and one for the load generator."
        );
    }
    if options.nice && std::env::var_os(OWN_SESSION).is_none() {
        return rerun_in_own_session(args);
    }
    // In the session of --nice: the process that started it, and waits.
    let caller = std::os::unix::process::parent_id();
    let load_before = system::load_average();
    let binaries = Binaries::build(options.binary.as_deref())?;
    move_to_cpu_1(options.nice)?;
    let work = WorkDir::new(&format!("{}-bench", binaries.name))?;
    if options.nice {
        watch_for_orphaning(caller, work.0.clone());
    }
    let figures = measure(&options, &binaries, &work)?;
    let report = Report {
        options: &options,
        binaries: &binaries,
        figures: &figures,
        load_before,
        load_after: system::load_average(),
    };
    print!("{}", report.header()?);
    print!("{}", report.tables());
    let missed = report.targets();
    if missed > 0 {
        warn(&format!(
            "{missed} target(s) missed. On a loaded machine compare the 'others on CPU 0' column: CPU time taken by other programs is missing from the server's figures."
        ));
        if options.check {
            fail!("{missed} target(s) missed (--check)");
        }
    }
    Ok(())
}

/// With the kernel's autogroup scheduling (the default on desktop and many
/// server kernels), nice only ranks processes within one session, and every
/// session gets an equal share of a CPU: a build in another terminal would
/// still take half of CPU 0. So --nice runs the benchmark again in a session
/// of its own, whose priority it can raise without touching the caller's.
fn rerun_in_own_session(args: &[String]) -> Result<()> {
    let setsid = require_tool("setsid", TASKSET_HINT)?;
    let me = std::env::current_exe()
        .map_err(|e| Error(format!("cannot find this program's path: {e}")))?;
    let status = Command::new(setsid)
        .arg("-w")
        .arg(me)
        .args(["bench", "throughput"])
        .args(args)
        .env(OWN_SESSION, "1")
        .status()
        .map_err(|e| Error(format!("cannot run setsid: {e}")))?;
    if !status.success() {
        // The run in the session has printed its error already.
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}

/// In its own session, Ctrl-C reaches only the parent: when the parent is
/// gone, remove the work directory and stop the whole session (this
/// process's group: itself, the servers and wrk).
fn watch_for_orphaning(caller: u32, work: std::path::PathBuf) {
    thread::spawn(move || {
        while std::os::unix::process::parent_id() == caller {
            thread::sleep(Duration::from_millis(200));
        }
        if std::env::var("KEEP_BENCH_DIR").as_deref() != Ok("1") {
            let _ = fs::remove_dir_all(work);
        }
        let group = format!("-{}", std::process::id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    });
}

/// This process, and every helper it starts from here on (probes, wrk), runs
/// on CPU 1; CPU 0 is left to the server under test. Children inherit both
/// the CPU and, with --nice, the priority.
fn move_to_cpu_1(nice: bool) -> Result<()> {
    let pid = std::process::id().to_string();
    system::output("taskset", &["-a", "-pc", "1", &pid])?;
    if nice {
        if system::output("renice", &["-n", "-20", "-p", &pid]).is_err() {
            fail!(
                "--nice needs permission to raise priority (root or CAP_SYS_NICE); run without --nice, or as root"
            );
        }
        let autogroup = format!("/proc/{pid}/autogroup");
        if fs::metadata(&autogroup).is_ok() && fs::write(&autogroup, "-20\n").is_err() {
            fail!("could not raise the priority of this session's autogroup");
        }
    }
    Ok(())
}

/// The figures of one measured wrk run.
#[derive(Debug, Clone)]
struct Run {
    wrk: WrkResult,
    /// Server CPU time as a share of one core, in percent.
    server_cpu: u64,
    /// CPU time per request: what the server would need with the core to
    /// itself, much less sensitive to other programs than requests/s.
    cpu_us_per_request: f64,
    /// What else ran on the server's core meanwhile: the noise on this row.
    others_on_cpu0: u64,
    cpu1_busy: u64,
}

/// The four servers of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    Nginx,
    Floor,
    Info,
    Warn,
}

impl Target {
    const ALL: [Self; 4] = [Self::Nginx, Self::Floor, Self::Info, Self::Warn];
}

#[derive(Debug)]
struct Figures {
    runs: HashMap<(Target, Endpoint), Run>,
    soak: Run,
    idle_rss_kb: u64,
    soak_rss_kb: u64,
    soak_peak_kb: u64,
    info_log_lines: usize,
    start_ms: Vec<f64>,
}

/// One server under load, with the processes whose CPU time counts.
struct Subject {
    server: Server,
    port: u16,
    pids: Vec<u32>,
}

fn measure(options: &Options, binaries: &Binaries, work: &WorkDir) -> Result<Figures> {
    let load = Load::new(work)?;
    log("starting nginx (1 worker, return 200) on CPU 0");
    let nginx = start_nginx(work)?;
    log(&format!(
        "starting {} (LOG_FORMAT=json RUST_LOG=info, the defaults) on CPU 0",
        binaries.name
    ));
    let mut info = start_service(work, "info", &binaries.service, "info")?;
    // Idle: started and answered its probes, nothing else yet.
    thread::sleep(Duration::from_secs(1));
    let idle_rss_kb = info.server.rss_kb()?;
    log("starting the framework floor (no middleware, no log) on CPU 0");
    let floor = start_service(work, "floor", &binaries.floor, "info")?;
    log(&format!(
        "starting {} with RUST_LOG=warn on CPU 0",
        binaries.name
    ));
    let warn = start_service(work, "warn", &binaries.service, "warn")?;

    // One endpoint at a time, the four servers back to back, so a burst of
    // background load hits neighbouring rows rather than one server's figures.
    let mut runs = HashMap::new();
    for endpoint in Endpoint::ALL {
        for target in Target::ALL {
            let subject = match target {
                Target::Nginx => &nginx,
                Target::Floor => &floor,
                Target::Info => &info,
                Target::Warn => &warn,
            };
            // A short warm-up first: connections, allocator pools and caches.
            load.run(subject, endpoint, 2)?;
            let run = load.run(subject, endpoint, options.duration)?;
            log(&format!(
                "{}: {} req/s, p50 {} ms, p99 {} ms, server CPU {}%, {:.1} CPU µs/request",
                format!("{target:?}/{endpoint:?}").to_lowercase(),
                run.wrk.requests_per_second(),
                ms(us(run.wrk.p50_us)),
                ms(us(run.wrk.p99_us)),
                run.server_cpu,
                run.cpu_us_per_request
            ));
            runs.insert((target, endpoint), run);
        }
    }
    log(&format!(
        "soak: {} s of POST /api/v1/slugify at saturation (default configuration)",
        options.soak_seconds
    ));
    let soak = load.run(&info, Endpoint::Slugify, options.soak_seconds)?;
    let (soak_rss_kb, soak_peak_kb) = (info.server.rss_kb()?, info.server.peak_rss_kb()?);
    for mut subject in [warn, floor, nginx] {
        subject.server.stop(Duration::from_secs(5));
    }
    info.server.stop(Duration::from_secs(5));
    let info_log_lines = info.server.log_lines();

    log(&format!(
        "timing {} starts to the first 200 from /readyz",
        options.starts
    ));
    let mut start_ms = Vec::new();
    for i in 1..=options.starts {
        let port = free_port()?;
        let launch = Launch::service(
            &format!("{} (start {i})", binaries.name),
            &binaries.service,
            port,
            "info",
            work.path(&format!("start{i}.log")),
        )
        .on_cpu(0);
        // The clock starts before the fork, so taskset's exec is charged to
        // the service; a tight loop on CPU 1 (a refused connection costs
        // microseconds) keeps the resolution far below the 50 ms target.
        let t0 = Instant::now();
        let mut server = Server::start(&launch)?;
        server.wait_ready(port, "/readyz", Duration::from_secs(10), Duration::ZERO)?;
        start_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        server.stop(Duration::from_secs(5));
    }
    Ok(Figures {
        runs,
        soak,
        idle_rss_kb,
        soak_rss_kb,
        soak_peak_kb,
        info_log_lines,
        start_ms,
    })
}

#[allow(clippy::cast_precision_loss)] // latencies in µs are far below 2^52
fn us(value: u64) -> f64 {
    value as f64
}

fn start_service(
    work: &WorkDir,
    key: &str,
    binary: &std::path::Path,
    rust_log: &str,
) -> Result<Subject> {
    let port = free_port()?;
    let launch = Launch::service(
        key,
        binary,
        port,
        rust_log,
        work.path(&format!("{key}.log")),
    )
    .on_cpu(0);
    let server = start_ready(&launch, port, "/readyz")?;
    Ok(Subject {
        pids: vec![server.pid()],
        server,
        port,
    })
}

/// Starts a server and waits (10 s at most) until `path` answers 200.
fn start_ready(launch: &Launch, port: u16, path: &str) -> Result<Server> {
    let mut server = Server::start(launch)?;
    server.wait_ready(
        port,
        path,
        Duration::from_secs(10),
        Duration::from_millis(10),
    )?;
    Ok(server)
}

/// nginx with one worker that answers `return 200`. `keepalive_requests`:
/// nginx closes a keep-alive connection after 1000 requests by default, the
/// service never does; the baseline should not pay reconnects the service
/// does not. Every path nginx would write to is in the work directory.
fn start_nginx(work: &WorkDir) -> Result<Subject> {
    let port = free_port()?;
    let dir = work.path("nginx");
    fs::create_dir_all(&dir).map_err(|e| Error(format!("cannot create {}: {e}", dir.display())))?;
    let d = dir.display();
    let conf = format!(
        "worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200; }}
  }}
}}
"
    );
    let conf_path = dir.join("nginx.conf");
    fs::write(&conf_path, conf)
        .map_err(|e| Error(format!("cannot write {}: {e}", conf_path.display())))?;
    let launch = Launch {
        name: "nginx".to_owned(),
        program: require_tool("nginx", INSTALL_HINT)?,
        args: [
            "-p",
            &d.to_string(),
            "-c",
            &conf_path.display().to_string(),
            "-e",
            &format!("{d}/error.log"),
        ]
        .map(str::to_owned)
        .to_vec(),
        env: Vec::new(),
        cpu: Some(0),
        log: dir.join("stdout.log"),
    };
    let server = start_ready(&launch, port, "/")?;
    let workers = system::children(server.pid());
    if workers.len() != 1 {
        fail!("expected 1 nginx worker, found {}", workers.len());
    }
    let mut pids = vec![server.pid()];
    pids.extend(workers);
    Ok(Subject { server, port, pids })
}

/// wrk runs, pinned to CPU 1, with the CPU accounting around them.
struct Load<'a> {
    work: &'a WorkDir,
    clock_ticks: u64,
}

impl<'a> Load<'a> {
    fn new(work: &'a WorkDir) -> Result<Self> {
        fs::write(work.path("get.lua"), wrk::REPORT_LUA)
            .and_then(|()| fs::write(work.path("post.lua"), wrk::post_lua(SLUGIFY_BODY)))
            .map_err(|e| Error(format!("cannot write the wrk scripts: {e}")))?;
        Ok(Self {
            work,
            clock_ticks: system::clock_ticks_per_second()?,
        })
    }

    /// One wrk run of `seconds` against `subject`, watching the CPU time of
    /// its processes and of both CPUs.
    fn run(&self, subject: &Subject, endpoint: Endpoint, seconds: u64) -> Result<Run> {
        let lua = match endpoint {
            Endpoint::Healthz => "get.lua",
            Endpoint::Slugify => "post.lua",
        };
        let url = format!("http://127.0.0.1:{}{}", subject.port, endpoint.path());
        let ticks0 = system::cpu_ticks(&subject.pids)?;
        let (cpu0_a, cpu1_a) = (system::cpu_now(0)?, system::cpu_now(1)?);
        let t0 = Instant::now();
        let out = Command::new("taskset")
            .args([
                "-c",
                "1",
                "wrk",
                "-t",
                "1",
                "-c",
                "64",
                "-d",
                &format!("{seconds}s"),
            ])
            .args(["--timeout", "5s", "--latency", "-s"])
            .arg(self.work.path(lua))
            .arg(&url)
            .output()
            .map_err(|e| Error(format!("cannot run wrk: {e}")))?;
        let wall_us = t0.elapsed().as_micros().max(1);
        let ticks1 = system::cpu_ticks(&subject.pids)?;
        let (cpu0_b, cpu1_b) = (system::cpu_now(0)?, system::cpu_now(1)?);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            fail!("wrk failed against {url}:\n{text}");
        }
        let result = WrkResult::parse(&text)?;
        if let Some(errors) = result.errors() {
            fail!(
                "wrk saw errors against {} ({errors}):\n{text}",
                endpoint.path()
            );
        }
        let own = ticks1 - ticks0;
        let per_cent = |part: u64, whole: u64| part * 100 / whole.max(1);
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let run = Run {
            wrk: result,
            server_cpu: (u128::from(own) * 100_000_000 / (u128::from(self.clock_ticks) * wall_us))
                as u64,
            cpu_us_per_request: own as f64 / self.clock_ticks as f64 * 1e6 / result.requests as f64,
            others_on_cpu0: per_cent(
                (cpu0_b.0 - cpu0_a.0).saturating_sub(own),
                cpu0_b.1 - cpu0_a.1,
            ),
            cpu1_busy: per_cent(cpu1_b.0 - cpu1_a.0, cpu1_b.1 - cpu1_a.1),
        };
        Ok(run)
    }
}

struct Report<'a> {
    options: &'a Options,
    binaries: &'a Binaries,
    figures: &'a Figures,
    load_before: String,
    load_after: String,
}

impl Report<'_> {
    fn run(&self, target: Target, endpoint: Endpoint) -> &Run {
        &self.figures.runs[&(target, endpoint)]
    }

    fn rps(&self, target: Target, endpoint: Endpoint) -> u64 {
        self.run(target, endpoint).wrk.requests_per_second()
    }

    fn label(&self, target: Target) -> String {
        let name = &self.binaries.name;
        match target {
            Target::Nginx => "nginx, 1 worker, return 200 (baseline)".to_owned(),
            Target::Floor => FLOOR_LABEL.to_owned(),
            Target::Info => format!("{name}, defaults: JSON logs, RUST_LOG=info"),
            Target::Warn => format!("{name}, RUST_LOG=warn (no access log)"),
        }
    }

    fn header(&self) -> Result<String> {
        let sha = system::git_sha(&self.binaries.root);
        let uname = system::output("uname", &["-sr"])?;
        let cpu_model = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines().find_map(|l| {
                    l.strip_prefix("model name")
                        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
                })
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let cpus = system::output("nproc", &["--all"])?;
        let wrk_version = system::version_line("wrk", &["-v"]);
        let nginx_version = system::version_line("nginx", &["-v"]);
        let own_stat = system::read_proc(std::process::id(), "stat")?;
        let nice = system::stat_nice(&own_stat).unwrap_or(0);
        let autogroup = self.options.nice
            && fs::metadata(format!("/proc/{}/autogroup", std::process::id())).is_ok();
        Ok(format!(
            "\n## Results\n\n- commit {}, {}, {}; service binary {}\n- {cpu_model}, {} CPUs; server on CPU 0, wrk -t 1 -c 64 -d {}s on CPU 1, all on 127.0.0.1\n- {}, nginx {}\n- load average (1/5/15 min): {} before, {} after; benchmark processes at nice {nice}{}\n\n",
            &sha[..sha.len().min(12)],
            super::rustc_version(),
            uname.trim(),
            self.binaries.service_shown(),
            cpus.trim(),
            self.options.duration,
            wrk_version
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "),
            nginx_version
                .trim_start_matches("nginx version: nginx")
                .trim_start_matches('/'),
            self.load_before,
            self.load_after,
            if autogroup {
                " (session autogroup too)"
            } else {
                ""
            },
        ))
    }

    fn tables(&self) -> String {
        let mut runs = Table::new(&[
            ("target", Align::Left),
            ("endpoint", Align::Left),
            ("requests/s", Align::Right),
            ("p50 ms", Align::Right),
            ("p99 ms", Align::Right),
            ("vs nginx", Align::Right),
            ("server CPU", Align::Right),
            ("CPU µs/request", Align::Right),
            ("others on CPU 0", Align::Right),
            ("CPU 1 busy", Align::Right),
        ]);
        for endpoint in Endpoint::ALL {
            for target in Target::ALL {
                let run = self.run(target, endpoint);
                let vs = if target == Target::Nginx {
                    "-".to_owned()
                } else {
                    format!("{}x", self.rps_ratio(target, Target::Nginx, endpoint))
                };
                runs.row([
                    self.label(target),
                    endpoint.title().to_owned(),
                    run.wrk.requests_per_second().to_string(),
                    ms(us(run.wrk.p50_us)),
                    ms(us(run.wrk.p99_us)),
                    vs,
                    format!("{}%", run.server_cpu),
                    format!("{:.1}", run.cpu_us_per_request),
                    format!("{}%", run.others_on_cpu0),
                    format!("{}%", run.cpu1_busy),
                ]);
            }
        }
        let f = self.figures;
        let mut memory = Table::new(&[("measure", Align::Left), ("value", Align::Right)]);
        let start = median(&f.start_ms).unwrap_or(f64::NAN);
        let starts: Vec<String> = f.start_ms.iter().map(|ms| format!("{ms:.2}")).collect();
        memory
            .row([
                "idle RSS (started, probed, no load yet)".to_owned(),
                format!("{} MB", mb(f.idle_rss_kb)),
            ])
            .row([
                format!(
                    "RSS after {} s of POST /api/v1/slugify at saturation ({} req/s, p99 {} ms)",
                    self.options.soak_seconds,
                    f.soak.wrk.requests_per_second(),
                    ms(us(f.soak.wrk.p99_us))
                ),
                format!("{} MB (peak {} MB)", mb(f.soak_rss_kb), mb(f.soak_peak_kb)),
            ])
            .row([
                format!(
                    "start to first 200 from /readyz, median of {}",
                    self.options.starts
                ),
                format!("{start:.2} ms ({})", starts.join(" ")),
            ]);
        format!(
            "{runs}\nThe default-configuration server wrote {} log lines (GET /healthz is not access-logged by design).\n\n{memory}\n",
            f.info_log_lines
        )
    }

    #[allow(clippy::cast_precision_loss)]
    fn rps_ratio(&self, a: Target, b: Target, endpoint: Endpoint) -> String {
        ratio(self.rps(a, endpoint) as f64, self.rps(b, endpoint) as f64)
    }

    /// The verdict is on requests/s; the ratio of CPU time per request is
    /// shown next to it because it holds up better on a busy machine.
    fn vs_nginx(&self, endpoint: Endpoint) -> String {
        format!(
            "{}x (CPU/request: {}x)",
            self.rps_ratio(Target::Info, Target::Nginx, endpoint),
            ratio(
                self.run(Target::Nginx, endpoint).cpu_us_per_request,
                self.run(Target::Info, endpoint).cpu_us_per_request
            )
        )
    }

    /// Prints the targets table; returns how many were missed. MB is 10^6
    /// bytes; comparisons are on the raw figures, not the rounded ones.
    fn targets(&self) -> usize {
        let f = self.figures;
        let rps = |t, e| self.rps(t, e);
        let (healthz, slugify) = (Endpoint::Healthz, Endpoint::Slugify);
        let p99 = self.run(Target::Info, healthz).wrk.p99_us;
        let start = median(&f.start_ms).unwrap_or(f64::INFINITY);
        let rows = [
            (
                "GET /healthz throughput vs nginx".to_owned(),
                self.vs_nginx(healthz),
                ">= 0.85x",
                100 * rps(Target::Info, healthz) >= 85 * rps(Target::Nginx, healthz),
            ),
            (
                "GET /healthz p99".to_owned(),
                format!("{} ms", ms(us(p99))),
                "< 2 ms",
                p99 < 2000,
            ),
            (
                "POST /api/v1/slugify throughput vs nginx".to_owned(),
                self.vs_nginx(slugify),
                ">= 0.6x",
                100 * rps(Target::Info, slugify) >= 60 * rps(Target::Nginx, slugify),
            ),
            (
                "idle RSS".to_owned(),
                format!("{} MB", mb(f.idle_rss_kb)),
                "< 10 MB",
                f.idle_rss_kb * 1024 < 10_000_000,
            ),
            (
                format!("RSS after {} s at saturation", self.options.soak_seconds),
                format!("{} MB", mb(f.soak_rss_kb)),
                "< 40 MB",
                f.soak_rss_kb * 1024 < 40_000_000,
            ),
            (
                "start to ready, median".to_owned(),
                format!("{start:.2} ms"),
                "< 50 ms",
                start < 50.0,
            ),
        ];
        let mut table = Table::new(&[
            ("target", Align::Left),
            ("measured", Align::Right),
            ("wanted", Align::Right),
            ("verdict", Align::Left),
        ]);
        let mut missed = 0;
        for (name, measured, wanted, met) in rows {
            missed += usize::from(!met);
            table.row([
                name,
                measured,
                wanted.to_owned(),
                if met { "met" } else { "MISSED" }.to_owned(),
            ]);
        }
        print!("{table}");
        missed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Option<Options>> {
        parse(crate::cli::owned(args))
    }

    #[test]
    fn defaults_and_every_option() {
        let defaults = parse_args(&[]).expect("valid").expect("not help");
        assert_eq!(
            (defaults.duration, defaults.soak_seconds, defaults.starts),
            (10, 30, 5)
        );
        let all = parse_args(&[
            "--duration",
            "2",
            "--soak-seconds",
            "3",
            "--starts",
            "4",
            "--nice",
            "--check",
            "--binary",
            "x",
        ])
        .expect("valid")
        .expect("not help");
        assert_eq!(
            all,
            Options {
                duration: 2,
                soak_seconds: 3,
                starts: 4,
                nice: true,
                check: true,
                binary: Some("x".into())
            }
        );
        assert_eq!(parse_args(&["--help"]), Ok(None));
    }

    #[test]
    fn bad_arguments_name_the_problem() {
        let message = |args: &[&str]| parse_args(args).expect_err("refused").0;
        assert!(
            message(&["--duration", "0"])
                .contains("--duration must be a whole number from 1 to 99999, got '0'")
        );
        assert!(message(&["--starts"]).contains("--starts needs a value"));
        assert!(message(&["--fast"]).contains("unknown argument '--fast'"));
        assert!(message(&["--binary"]).contains("--binary needs a value"));
    }
}
