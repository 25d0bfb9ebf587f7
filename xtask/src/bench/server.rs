//! A server under test: started with a clean environment, optionally pinned
//! to one CPU, polled until ready, measured through /proc, stopped.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::system::{self, answers_200, read_proc, require_tool};
use crate::{Error, Result, fail};

/// How to start one server.
#[derive(Debug, Clone)]
pub struct Launch {
    /// What the log and error messages call it.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The whole environment: nothing from the caller's shell (such as
    /// `MAX_BODY_BYTES` or `RUST_LOG`) changes the configuration under test.
    pub env: Vec<(String, String)>,
    /// Pinned to this CPU (with taskset) when set.
    pub cpu: Option<usize>,
    /// stdout and stderr go here.
    pub log: PathBuf,
}

impl Launch {
    /// The service (or the floor) on `port`: its defaults, except the
    /// shutdown delay, so stopping takes no 5 s per server (it does not
    /// affect serving).
    pub fn service(name: &str, binary: &Path, port: u16, rust_log: &str, log: PathBuf) -> Self {
        Self {
            name: name.to_owned(),
            program: binary.to_path_buf(),
            args: Vec::new(),
            env: [
                ("PORT", port.to_string()),
                ("RUST_LOG", rust_log.to_owned()),
                ("LOG_FORMAT", "json".to_owned()),
                ("SHUTDOWN_DELAY_SECONDS", "0".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            cpu: None,
            log,
        }
    }

    #[must_use]
    pub fn on_cpu(mut self, cpu: usize) -> Self {
        self.cpu = Some(cpu);
        self
    }
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    name: String,
    child: Child,
    log: PathBuf,
    /// Copies stdout to the log (see `start`).
    copier: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts the server. Its stdout goes through a pipe to a thread of this
    /// process that writes the log, as in a container, where the runtime
    /// reads the service's stdout from a pipe: the service pays for
    /// formatting and write(2) to a pipe, the disk is someone else's cost.
    pub fn start(launch: &Launch) -> Result<Self> {
        let log = File::create(&launch.log)
            .map_err(|e| Error(format!("cannot create {}: {e}", launch.log.display())))?;
        let stderr = log
            .try_clone()
            .map_err(|e| Error(format!("cannot share {}: {e}", launch.log.display())))?;
        let mut command = match launch.cpu {
            Some(cpu) => {
                let mut c = Command::new(require_tool("taskset", TASKSET_HINT)?);
                c.arg("-c").arg(cpu.to_string()).arg(&launch.program);
                c
            }
            None => Command::new(&launch.program),
        };
        command
            .args(&launch.args)
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = command.spawn().map_err(|e| {
            Error(format!(
                "cannot start {} ({}): {e}",
                launch.name,
                launch.program.display()
            ))
        })?;
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut log = log;
        let copier = thread::spawn(move || {
            let _ = io::copy(&mut stdout, &mut log);
        });
        Ok(Self {
            name: launch.name.clone(),
            child,
            log: launch.log.clone(),
            copier: Some(copier),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `path` until it answers 200; an error with the server's log when
    /// the server exits first or `timeout` passes. `pause` between attempts
    /// (zero: a tight loop, for timing start-up).
    pub fn wait_ready(
        &mut self,
        port: u16,
        path: &str,
        timeout: Duration,
        pause: Duration,
    ) -> Result<()> {
        let start = Instant::now();
        while !answers_200(port, path, Duration::from_secs(2)) {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.finish_log();
                fail!(
                    "{} exited ({status}) before {path} answered 200; its log ({}):\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail(20)
                );
            }
            if start.elapsed() > timeout {
                fail!(
                    "{} did not answer 200 on {path} (port {port}) within {} s; its log ({}):\n{}",
                    self.name,
                    timeout.as_secs(),
                    self.log.display(),
                    self.log_tail(20)
                );
            }
            thread::sleep(pause);
        }
        Ok(())
    }

    /// Resident set size now, in kB.
    pub fn rss_kb(&self) -> Result<u64> {
        self.status_kb("VmRSS")
    }

    /// The resident set size's high-water mark, in kB.
    pub fn peak_rss_kb(&self) -> Result<u64> {
        self.status_kb("VmHWM")
    }

    fn status_kb(&self, field: &str) -> Result<u64> {
        let status = read_proc(self.pid(), "status")?;
        system::status_kb(&status, field)
            .ok_or_else(|| Error(format!("/proc/{}/status has no {field}", self.pid())))
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        crate::last_lines(&fs::read_to_string(&self.log).unwrap_or_default(), lines)
    }

    pub fn log_lines(&self) -> usize {
        fs::read_to_string(&self.log).map_or(0, |text| text.lines().count())
    }

    /// SIGTERM, then SIGKILL if it has not exited after `grace`; waits for
    /// the exit and for the log to be written. Returns whether it exited on
    /// its own with status 0.
    pub fn stop(&mut self, grace: Duration) -> bool {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid().to_string()])
                .status();
        }
        let start = Instant::now();
        let clean = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.success(),
                Ok(None) if start.elapsed() < grace => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break false;
                }
            }
        };
        self.finish_log();
        clean
    }

    /// Waits until the log holds everything the exited server wrote.
    fn finish_log(&mut self) {
        if let Some(copier) = self.copier.take() {
            let _ = copier.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

pub const TASKSET_HINT: &str = "Install util-linux (Debian: apt-get install -y util-linux).";

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(script: &str, dir: &Path) -> Launch {
        Launch {
            name: "sh".to_owned(),
            program: require_tool("sh", "").expect("sh"),
            args: vec!["-c".to_owned(), script.to_owned()],
            env: vec![("GREETING".to_owned(), "hello".to_owned())],
            cpu: None,
            log: dir.join("server.log"),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-server-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_server_gets_only_its_environment_and_its_output_is_logged() {
        let dir = temp_dir("env");
        let mut server = Server::start(&launch(
            "echo \"$GREETING ${HOME:-no-home}\"; exec sleep 30",
            &dir,
        ))
        .expect("start");
        // The line is written before the stop, not killed before the echo.
        let start = Instant::now();
        while server.log_lines() == 0 && start.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(server.rss_kb().expect("rss") > 0);
        assert!(server.peak_rss_kb().expect("peak") >= server.rss_kb().expect("rss"));
        let pid = server.pid();
        assert!(system::cpu_ticks(&[pid]).is_ok());
        assert!(
            !server.stop(Duration::from_secs(3)),
            "sleep dies of SIGTERM"
        );
        assert_eq!(server.log_tail(5), "hello no-home");
        assert_eq!(server.log_lines(), 1);
        fs::remove_dir_all(dir).expect("clean up");
    }

    #[test]
    fn a_server_that_exits_early_is_reported_with_its_log() {
        let dir = temp_dir("exit");
        let mut server = Server::start(&launch("echo cannot bind; exit 3", &dir)).expect("start");
        let port = system::free_port().expect("port");
        let err = server
            .wait_ready(
                port,
                "/readyz",
                Duration::from_secs(5),
                Duration::from_millis(10),
            )
            .expect_err("it exited");
        assert!(
            err.0.contains("exited") && err.0.contains("cannot bind"),
            "{err}"
        );
        fs::remove_dir_all(dir).expect("clean up");
    }
}
