//! What the benchmarks read from the system: /proc figures, free ports,
//! tools on PATH, and one HTTP probe.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use std::{env, fs};

use crate::{Error, Result, fail};

/// A TCP port on 127.0.0.1 that was free a moment ago: the kernel's choice
/// for port 0. A race with another program is still possible; the server's
/// readiness check then reports its bind error.
pub fn free_port() -> Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| Error(format!("cannot find a free TCP port on 127.0.0.1: {e}")))
}

/// One `GET path` over a fresh connection: true for a 200. No curl process
/// to start, so polling measures the server, not fork and exec.
pub fn answers_200(port: u16, path: &str, timeout: Duration) -> bool {
    crate::http::get((Ipv4Addr::LOCALHOST, port).into(), path, timeout)
        .is_ok_and(|response| response.status == 200)
}

/// The path of `tool` on PATH, or an error with the install hint.
pub fn require_tool(tool: &str, hint: &str) -> Result<PathBuf> {
    env::var_os("PATH")
        .iter()
        .flat_map(env::split_paths)
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
        .ok_or_else(|| Error(format!("'{tool}' is not installed. {hint}")))
}

/// Runs a command and returns its stdout, or an error naming the command.
pub fn output(program: &str, args: &[&str]) -> Result<String> {
    crate::output_of(Command::new(program).args(args))
}

/// The first line a tool prints about itself, on stdout or stderr (wrk and
/// nginx use stderr and may exit non-zero), or "unknown".
pub fn version_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            text.lines().next().map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg has them.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

/// A field of /proc/<pid>/status in kB, e.g. `VmRSS` (resident set size)
/// or `VmHWM` (its high-water mark).
pub fn status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The fields of /proc/<pid>/stat after `pid (comm) `; comm may hold spaces
/// and parentheses, so the split is at the last `) `.
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(") ")
        .map_or_else(Vec::new, |(_, rest)| rest.split_whitespace().collect())
}

/// User plus system CPU time in clock ticks (utime and stime: fields 14 and
/// 15 of /proc/<pid>/stat).
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let fields = stat_fields(stat);
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The parent pid (field 4).
pub fn stat_parent(stat: &str) -> Option<u32> {
    stat_fields(stat).get(1)?.parse().ok()
}

/// The nice value (field 19).
pub fn stat_nice(stat: &str) -> Option<i32> {
    stat_fields(stat).get(16)?.parse().ok()
}

/// `busy` and `total` ticks of CPU `cpu` from /proc/stat: busy is user,
/// nice, system, irq, softirq and steal; total adds idle and iowait.
pub fn cpu_times(proc_stat: &str, cpu: usize) -> Option<(u64, u64)> {
    let name = format!("cpu{cpu}");
    let line = proc_stat
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name.as_str()))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    Some((busy, busy + at(3) + at(4)))
}

/// Reads a /proc file of a process, with an error naming it.
pub fn read_proc(pid: u32, file: &str) -> Result<String> {
    fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|e| {
        Error(format!(
            "cannot read /proc/{pid}/{file} (has the process exited?): {e}"
        ))
    })
}

/// The processes whose parent is `pid` (nginx's workers).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            read_proc(*child, "stat")
                .ok()
                .and_then(|stat| stat_parent(&stat))
                == Some(pid)
        })
        .collect()
}

/// CPU time of `pids` together, in clock ticks.
pub fn cpu_ticks(pids: &[u32]) -> Result<u64> {
    pids.iter().try_fold(0, |total, pid| {
        let stat = read_proc(*pid, "stat")?;
        match stat_cpu_ticks(&stat) {
            Some(ticks) => Ok(total + ticks),
            None => fail!("/proc/{pid}/stat has no CPU times: {stat}"),
        }
    })
}

/// Busy and total ticks of CPU `cpu` now.
pub fn cpu_now(cpu: usize) -> Result<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat")
        .map_err(|e| Error(format!("cannot read /proc/stat: {e}")))?;
    cpu_times(&stat, cpu).ok_or_else(|| Error(format!("/proc/stat has no line for CPU {cpu}")))
}

/// Clock ticks per second (`getconf CLK_TCK`), the unit of /proc's CPU times.
pub fn clock_ticks_per_second() -> Result<u64> {
    let text = output("getconf", &["CLK_TCK"])?;
    text.trim().parse().map_err(|_| {
        Error(format!(
            "getconf CLK_TCK printed '{}', not a number",
            text.trim()
        ))
    })
}

/// The commit measured: `GIT_SHA` or `GITHUB_SHA` when set, else git's HEAD.
pub fn git_sha(root: &std::path::Path) -> String {
    env::var("GIT_SHA")
        .or_else(|_| env::var("GITHUB_SHA"))
        .ok()
        .or_else(|| {
            let root = root.to_str()?;
            output(
                "git",
                &["-C", root, "rev-parse", "--verify", "--quiet", "HEAD"],
            )
            .ok()
        })
        .map_or_else(|| "unknown".to_owned(), |sha| sha.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn status_fields_are_read_in_kb() {
        let status = "Name:\tsvc\nVmHWM:\t   9000 kB\nVmRSS:\t   4096 kB\n";
        assert_eq!(status_kb(status, "VmRSS"), Some(4096));
        assert_eq!(status_kb(status, "VmHWM"), Some(9000));
        assert_eq!(status_kb(status, "VmSwap"), None);
    }

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // comm with a space and a parenthesis must not shift the fields.
        let stat = "42 (my (svc) x) S 7 42 42 0 -1 4194560 100 0 0 0 150 25 0 0 20 -5 3 0 1 2 3";
        assert_eq!(stat_cpu_ticks(stat), Some(175));
        assert_eq!(stat_parent(stat), Some(7));
        assert_eq!(stat_nice(stat), Some(-5));
        assert_eq!(stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn cpu_lines_split_into_busy_and_total() {
        let stat = "cpu  9 9 9 9 9 9 9 9\ncpu0 10 1 5 100 2 3 4 6 0 0\ncpu1 1 1 1 1 1 1 1 1\n";
        assert_eq!(cpu_times(stat, 0), Some((29, 131)));
        assert_eq!(cpu_times(stat, 1), Some((6, 8)));
        assert_eq!(cpu_times(stat, 2), None);
    }

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port().expect("a free port");
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
    }

    #[test]
    fn the_probe_sees_a_200_and_nothing_else() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = std::thread::spawn(move || {
            for status in ["200 OK", "503 Service Unavailable"] {
                let (mut stream, _) = listener.accept().expect("accept");
                let mut request = [0u8; 256];
                let _ = stream.read(&mut request);
                let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                stream.write_all(answer.as_bytes()).expect("write");
            }
        });
        let timeout = Duration::from_secs(2);
        assert!(answers_200(port, "/readyz", timeout));
        assert!(!answers_200(port, "/readyz", timeout));
        server.join().expect("server thread");
        assert!(!answers_200(port, "/readyz", Duration::from_millis(200)));
    }

    #[test]
    fn a_missing_tool_is_named_with_its_hint() {
        let err = require_tool("no-such-tool-xyz", "Install it.").expect_err("missing");
        assert_eq!(err.0, "'no-such-tool-xyz' is not installed. Install it.");
        assert!(require_tool("sh", "").is_ok());
    }
}
