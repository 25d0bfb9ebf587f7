//! wrk, the load generator: its Lua scripts and the one `RESULT` line they
//! print.

use crate::{Result, fail};

/// wrk's own summary, machine-readable: the same histogram `--latency`
/// prints, in microseconds instead of rounded human units.
pub const REPORT_LUA: &str = r#"done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%.0f p99_us=%.0f non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
"#;

/// The script of a `POST /api/v1/slugify` run (`body` is the JSON request).
pub fn post_lua(body: &str) -> String {
    format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{body}'\n{REPORT_LUA}"
    )
}

/// The figures of one wrk run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WrkResult {
    pub requests: u64,
    pub duration_us: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub non2xx: u64,
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
}

impl WrkResult {
    /// Reads the `RESULT key=value ...` line from wrk's output.
    pub fn parse(output: &str) -> Result<Self> {
        let Some(line) = output.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
            fail!("wrk printed no RESULT line; its output:\n{output}");
        };
        let mut result = Self::default();
        for pair in line.split_whitespace() {
            let Some((key, value)) = pair.split_once('=') else {
                fail!("wrk's RESULT line has '{pair}', not key=value:\n{line}");
            };
            let Ok(value) = value.parse::<u64>() else {
                fail!("wrk's RESULT line has {key}={value}, not a whole number:\n{line}");
            };
            let field = match key {
                "requests" => &mut result.requests,
                "duration_us" => &mut result.duration_us,
                "p50_us" => &mut result.p50_us,
                "p99_us" => &mut result.p99_us,
                "non2xx" => &mut result.non2xx,
                "connect" => &mut result.connect,
                "read" => &mut result.read,
                "write" => &mut result.write,
                "timeout" => &mut result.timeout,
                _ => continue,
            };
            *field = value;
        }
        if result.requests == 0 || result.duration_us == 0 {
            fail!("wrk sent no request (RESULT {line}); its output:\n{output}");
        }
        Ok(result)
    }

    /// Errors invalidate the figures: a 4xx/5xx is cheaper than a real
    /// answer, a timeout hides a latency. `None` when there were none.
    pub fn errors(&self) -> Option<String> {
        let any = self.non2xx + self.timeout + self.connect + self.read + self.write;
        (any > 0).then(|| {
            format!(
                "non-2xx: {}, timeouts: {}, connect/read/write: {}/{}/{}",
                self.non2xx, self.timeout, self.connect, self.read, self.write
            )
        })
    }

    pub fn requests_per_second(&self) -> u64 {
        self.requests * 1_000_000 / self.duration_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 2s test @ http://127.0.0.1:1/healthz\n  1 threads and 64 connections\nRESULT requests=50000 duration_us=2000000 p50_us=812 p99_us=1650 non2xx=0 connect=0 read=0 write=0 timeout=0\n";

    #[test]
    fn the_result_line_is_read_among_the_rest_of_the_output() {
        let result = WrkResult::parse(OUTPUT).expect("a RESULT line");
        assert_eq!(
            (result.requests, result.p50_us, result.p99_us),
            (50_000, 812, 1650)
        );
        assert_eq!(result.requests_per_second(), 25_000);
        assert_eq!(result.errors(), None);
    }

    #[test]
    fn errors_are_reported_by_kind() {
        let result = WrkResult::parse(
            &OUTPUT
                .replace("non2xx=0", "non2xx=3")
                .replace("timeout=0", "timeout=1"),
        )
        .expect("a RESULT line");
        assert_eq!(
            result.errors().as_deref(),
            Some("non-2xx: 3, timeouts: 1, connect/read/write: 0/0/0")
        );
    }

    #[test]
    fn a_missing_or_broken_result_line_is_an_error_with_the_output() {
        let missing = WrkResult::parse("unable to connect").expect_err("no line");
        assert!(missing.0.contains("no RESULT line") && missing.0.contains("unable to connect"));
        let broken = WrkResult::parse("RESULT requests=x").expect_err("not a number");
        assert!(broken.0.contains("requests=x"), "{broken}");
        let empty = WrkResult::parse("RESULT requests=0 duration_us=0").expect_err("no requests");
        assert!(empty.0.contains("no request"), "{empty}");
    }

    #[test]
    fn the_post_script_carries_the_body_and_the_report() {
        let lua = post_lua(r#"{"text":"x"}"#);
        assert!(lua.contains(r#"wrk.body = '{"text":"x"}'"#) && lua.ends_with(REPORT_LUA));
    }
}
