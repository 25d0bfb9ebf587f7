//! The server under test: the real `payload` binary as a child process on
//! a free local port, with its log lines read as they come.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use xtask::bench::system::{free_port, read_proc, status_kb};

use crate::raw_http::{GET_HEALTHZ, raw_exchange};

/// The `payload` binary running as a child process on a free local port.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    readers: Vec<thread::JoinHandle<()>>,
    exited: Option<(ExitStatus, Instant)>,
}

/// What the server wrote. Access-log lines are only counted (a soak writes
/// millions), except those of a 5xx or of a traced request; every other line
/// is kept with the instant it was read.
#[derive(Default)]
struct Log {
    lines: Vec<LogLine>,
    /// Access-log lines ("request completed") by route and status.
    responses: BTreeMap<(String, u16), u64>,
    stderr: String,
}

struct LogLine {
    at: Instant,
    message: String,
    raw: String,
}

/// Starts the binary with `vars` over the test defaults (JSON logs at
/// `info`, no shutdown delay) and waits until it listens.
pub(crate) async fn spawn_server(vars: &[(&str, &str)]) -> Server {
    let port = free_port().expect("a free port on 127.0.0.1");
    let mut child = Command::new(env!("CARGO_BIN_EXE_payload"))
        // A clean environment: a variable exported in the developer's shell
        // must not change what is measured.
        .env_clear()
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("SHUTDOWN_DELAY_SECONDS", "0")
        .env("SHUTDOWN_TIMEOUT_SECONDS", "2")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts the payload binary");
    let log = Arc::new(Mutex::new(Log::default()));
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let readers = vec![
        thread::spawn({
            let log = Arc::clone(&log);
            move || read_stdout(stdout, &log)
        }),
        thread::spawn({
            let log = Arc::clone(&log);
            move || read_stderr(stderr, &log)
        }),
    ];
    let mut server = Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        log,
        readers,
        exited: None,
    };
    server
        .wait_for_log("listening", Duration::from_secs(10))
        .await;
    server
}

/// Reads JSON log lines until the process closes stdout.
fn read_stdout(stdout: impl Read, log: &Mutex<Log>) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let at = Instant::now();
        let raw = String::from_utf8_lossy(&buf).trim_end().to_owned();
        let parsed: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        let message = parsed["message"].as_str().unwrap_or(&raw).to_owned();
        let mut log = lock(log);
        if message == "request completed" {
            let status = parsed["status"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(0);
            let route = parsed["span"]["route"].as_str().unwrap_or("?").to_owned();
            *log.responses.entry((route, status)).or_default() += 1;
            if status < 500 && parsed["span"]["trace_id"].is_null() {
                continue;
            }
        }
        log.lines.push(LogLine { at, message, raw });
    }
}

fn read_stderr(mut stderr: impl Read, log: &Mutex<Log>) {
    let mut text = String::new();
    let _ = stderr.read_to_string(&mut text);
    lock(log).stderr = text;
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().expect("the log readers did not panic")
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a log line with this message; returns when it was read.
    pub(crate) async fn wait_for_log(&mut self, message: &str, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(at) = self.log_line(message).map(|line| line.0) {
                return at;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "payload exited ({status}) before logging {message:?}; stderr: {}",
                    lock(&self.log).stderr
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {message:?} log line within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The first log line with this message: when it was read, and its text.
    pub(crate) fn log_line(&self, message: &str) -> Option<(Instant, String)> {
        lock(&self.log)
            .lines
            .iter()
            .find(|line| line.message == message)
            .map(|line| (line.at, line.raw.clone()))
    }

    /// The kept access line of the request with this id.
    pub(crate) fn access_line(&self, request_id: &str) -> Option<String> {
        lock(&self.log)
            .lines
            .iter()
            .filter(|line| line.message == "request completed")
            .find(|line| {
                serde_json::from_str::<Value>(&line.raw)
                    .is_ok_and(|parsed| parsed["span"]["request_id"] == request_id)
            })
            .map(|line| line.raw.clone())
    }

    /// How many kept log lines contain this text.
    pub(crate) fn count_raw(&self, text: &str) -> usize {
        lock(&self.log)
            .lines
            .iter()
            .filter(|line| line.raw.contains(text))
            .count()
    }

    /// How many log lines had this message so far.
    pub(crate) fn count_lines(&self, message: &str) -> usize {
        lock(&self.log)
            .lines
            .iter()
            .filter(|line| line.message == message)
            .count()
    }

    /// Waits until `count` lines with this message were read.
    pub(crate) async fn wait_for_lines(&mut self, message: &str, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.count_lines(message) < count {
            assert!(
                self.child.try_wait().ok().flatten().is_none(),
                "payload exited before logging {message:?} {count} times; stderr: {}",
                lock(&self.log).stderr
            );
            assert!(
                Instant::now() < deadline,
                "not {count} {message:?} log lines within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Access-log count for a route, all statuses.
    pub(crate) fn responses(&self, route: &str) -> u64 {
        lock(&self.log)
            .responses
            .iter()
            .filter(|((r, _), _)| r == route)
            .map(|(_, count)| count)
            .sum()
    }

    /// Sends SIGTERM; returns the instant just before, so latencies measured
    /// from it include the system call (an upper bound).
    pub(crate) fn sigterm(&self) -> Instant {
        self.signal(rustix::process::Signal::TERM)
    }

    /// Sends SIGHUP (re-read the log filter file).
    pub(crate) fn sighup(&self) {
        self.signal(rustix::process::Signal::HUP);
    }

    fn signal(&self, signal: rustix::process::Signal) -> Instant {
        let pid = rustix::process::Pid::from_raw(
            i32::try_from(self.pid()).expect("a process id fits in i32"),
        )
        .expect("a running child has a non-zero pid");
        let sent = Instant::now();
        rustix::process::kill_process(pid, signal)
            .unwrap_or_else(|e| panic!("{signal:?} to {}: {e}", self.pid()));
        sent
    }

    /// Waits for the process to exit (and its output to be read).
    pub(crate) async fn wait_for_exit(&mut self, limit: Duration) -> (ExitStatus, Instant) {
        let deadline = Instant::now() + limit;
        let exited = loop {
            if let Some(status) = self.child.try_wait().expect("waits for the child") {
                break (status, Instant::now());
            }
            assert!(
                Instant::now() < deadline,
                "payload still running after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        for reader in self.readers.drain(..) {
            reader.join().expect("log reader finished");
        }
        self.exited = Some(exited);
        exited
    }

    /// SIGTERM, then: exit code 0 and clean logs.
    pub(crate) async fn stop(mut self) -> Self {
        self.sigterm();
        let (status, _) = self.wait_for_exit(Duration::from_secs(10)).await;
        assert!(status.success(), "payload exited with {status}");
        self.assert_clean_logs();
        self
    }

    /// No panic, and no 5xx other than a deliberate 503, anywhere in the output.
    pub(crate) fn assert_clean_logs(&self) {
        let log = lock(&self.log);
        for line in &log.lines {
            assert!(
                line.message != "handler panicked" && !line.raw.contains("panicked"),
                "a panic was logged: {}",
                line.raw
            );
        }
        assert!(
            !log.stderr.contains("panicked"),
            "a panic on stderr: {}",
            log.stderr
        );
        for ((route, status), count) in &log.responses {
            assert!(
                *status < 500 || *status == 503,
                "{count} response(s) with status {status} on {route}"
            );
        }
    }

    pub(crate) fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed test must not leave the server running.
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `kB` field of /proc/<pid>/status, such as `VmRSS` or `VmHWM`.
pub(crate) fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = read_proc(pid, "status").unwrap_or_else(|e| panic!("{e}"));
    status_kb(&status, field).unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// After every hostile case: the service still answers its liveness probe.
pub(crate) async fn assert_healthy(addr: SocketAddr) {
    let exchange = raw_exchange(addr, GET_HEALTHZ).await;
    let response = exchange.expect_status(200);
    assert_eq!(response.body_text(), r#"{"status":"ok"}"#);
}
