//! Configuration from environment variables, with a matching `--flag` each.
//!
//! clap reads both; the value parsers below decide what is allowed, and
//! [`report_cli_error`] turns a refusal into one line that names the
//! variable, the bad value and what would be accepted.

use std::fmt::Display;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// Command line of the `payload` binary.
#[derive(Debug, Parser)]
#[command(name = "payload", version, about = "A production-shaped axum service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Exit 0 when the server on 127.0.0.1:$PORT answers /healthz with 200.
    /// For container health checks in an image that has no shell or curl.
    Healthcheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

/// Every setting of the service. Field docs double as `--help` text.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Listen port on 0.0.0.0 (0 picks a free port).
    #[arg(long, env = "PORT", default_value = "8080", value_parser = parse_port)]
    pub port: u16,

    /// Log filter in `tracing` `EnvFilter` syntax, e.g. `info` or `payload=debug,info`.
    #[arg(long = "log-filter", env = "RUST_LOG", default_value = "info", value_parser = parse_log_filter)]
    pub log_filter: String,

    /// A file holding the log filter, re-read periodically and on SIGHUP:
    /// the filter changes without a restart (a mounted `ConfigMap` in
    /// Kubernetes). Empty or missing: the --log-filter above.
    #[arg(long, env = "LOG_FILTER_FILE")]
    pub log_filter_file: Option<std::path::PathBuf>,

    /// Seconds between two reads of the log filter file.
    #[arg(long, env = "LOG_FILTER_POLL_SECONDS", default_value = "2", value_parser = parse_log_filter_poll)]
    pub log_filter_poll_seconds: u64,

    /// Log line format.
    #[arg(
        long,
        env = "LOG_FORMAT",
        default_value = "json",
        value_enum,
        ignore_case = true
    )]
    pub log_format: LogFormat,

    /// Seconds after SIGTERM during which readiness fails but requests are still served.
    #[arg(long, env = "SHUTDOWN_DELAY_SECONDS", default_value = "5", value_parser = parse_shutdown_delay)]
    pub shutdown_delay_seconds: u64,

    /// Seconds in-flight requests get to finish once the listener has closed.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECONDS", default_value = "20", value_parser = parse_shutdown_timeout)]
    pub shutdown_timeout_seconds: u64,

    /// Seconds one request may take, body upload included, before a 408.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value = "10", value_parser = parse_request_timeout)]
    pub request_timeout_seconds: u64,

    /// Largest accepted request body in bytes; larger bodies get a 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value = "65536", value_parser = parse_max_body_bytes)]
    pub max_body_bytes: usize,

    /// Seconds a client may take to send the request headers (slowloris guard).
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECONDS", default_value = "10", value_parser = parse_header_read_timeout)]
    pub header_read_timeout_seconds: u64,

    /// Open connections served at once; further connections get a 503 and are closed.
    #[arg(long, env = "MAX_CONNECTIONS", default_value = "1024", value_parser = parse_max_connections)]
    pub max_connections: usize,

    /// API requests processed at once; further requests are shed with a 503.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value = "512", value_parser = parse_max_concurrent_requests)]
    pub max_concurrent_requests: usize,
}

impl Settings {
    /// The defaults of the definition above; what tests start from.
    pub fn defaults() -> Self {
        // Every field has a default, so an empty command line always parses
        // (unless the test process itself exports a bad variable).
        Self::from_args(std::iter::empty::<&str>()).expect("the defaults are valid")
    }

    /// Parses settings from flags; variables come from the process environment.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let command_line = std::iter::once(std::ffi::OsString::from("payload"))
            .chain(args.into_iter().map(Into::into));
        Cli::try_parse_from(command_line).map(|cli| cli.settings)
    }

    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_secs(self.shutdown_delay_seconds)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_seconds)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_seconds)
    }
}

/// The environment variables the service reads, in `--help` order: read
/// from the clap definition above, which is their one home.
pub fn env_vars() -> Vec<String> {
    Cli::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect()
}

fn parse_in_range<T>(raw: &str, min: T, max: T, what: &str) -> Result<T, String>
where
    T: FromStr + PartialOrd + Display + Copy,
{
    let expected = || format!("expected {what} from {min} to {max}");
    let value: T = raw.trim().parse().map_err(|_| expected())?;
    if value < min || value > max {
        return Err(expected());
    }
    Ok(value)
}

fn parse_port(raw: &str) -> Result<u16, String> {
    parse_in_range(raw, 0, u16::MAX, "a port number")
}

fn parse_shutdown_delay(raw: &str) -> Result<u64, String> {
    parse_in_range(raw, 0, 300, "a whole number of seconds")
}

fn parse_shutdown_timeout(raw: &str) -> Result<u64, String> {
    parse_in_range(raw, 0, 600, "a whole number of seconds")
}

fn parse_request_timeout(raw: &str) -> Result<u64, String> {
    parse_in_range(raw, 1, 600, "a whole number of seconds")
}

fn parse_header_read_timeout(raw: &str) -> Result<u64, String> {
    parse_in_range(raw, 1, 300, "a whole number of seconds")
}

fn parse_max_body_bytes(raw: &str) -> Result<usize, String> {
    parse_in_range(raw, 1, 64 * 1024 * 1024, "a byte count")
}

fn parse_max_connections(raw: &str) -> Result<usize, String> {
    parse_in_range(raw, 1, 1_000_000, "a connection count")
}

fn parse_max_concurrent_requests(raw: &str) -> Result<usize, String> {
    parse_in_range(raw, 1, 1_000_000, "a request count")
}

fn parse_log_filter_poll(raw: &str) -> Result<u64, String> {
    parse_in_range(raw, 1, 3600, "a number of seconds")
}

fn parse_log_filter(raw: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(raw)
        .map(|_| raw.to_owned())
        .map_err(|_| "expected a tracing filter such as `info` or `payload=debug,info`".to_owned())
}

/// Prints a refused configuration as one line and picks the exit code.
/// `--help` and `--version` print as clap renders them and exit 0.
pub fn report_cli_error(err: &clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("error: {}", describe_cli_error(err));
            ExitCode::from(2)
        }
    }
}

/// One line for a refused configuration, e.g.
/// `invalid PORT (--port) value "abc": expected a port number from 0 to 65535`.
pub fn describe_cli_error(err: &clap::Error) -> String {
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (Some(arg), Some(value)) = (
        context(ContextKind::InvalidArg),
        context(ContextKind::InvalidValue),
    ) else {
        let first_line = err.to_string();
        let first_line = first_line.lines().next().unwrap_or_default();
        let first_line = first_line.strip_prefix("error: ").unwrap_or(first_line);
        return format!("{first_line}; run `payload --help` for the accepted settings");
    };

    let flag = arg.split_whitespace().next().unwrap_or(&arg).to_owned();
    let variable = Cli::command()
        .get_arguments()
        .find(|a| a.get_long().is_some_and(|long| format!("--{long}") == flag))
        .and_then(|a| a.get_env().map(|env| env.to_string_lossy().into_owned()));
    let name = match variable {
        Some(variable) => format!("{variable} ({flag})"),
        None => flag,
    };
    let allowed = match err.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(values)) => format!("expected one of: {}", values.join(", ")),
        _ => std::error::Error::source(err)
            .map_or_else(|| "see `payload --help`".to_owned(), ToString::to_string),
    };
    format!("invalid {name} value {value:?}: {allowed}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(args: &[&str]) -> String {
        let err = Settings::from_args(args).expect_err("the arguments are invalid");
        describe_cli_error(&err)
    }

    #[test]
    fn reads_flags() {
        let s = Settings::from_args([
            "--port",
            "9000",
            "--log-format",
            "text",
            "--max-body-bytes",
            "10",
        ])
        .expect("valid settings");
        assert_eq!(s.port, 9000);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.max_body_bytes, 10);
    }

    #[test]
    fn a_bad_port_names_the_variable_the_value_and_the_range() {
        assert_eq!(
            refusal(&["--port", "abc"]),
            r#"invalid PORT (--port) value "abc": expected a port number from 0 to 65535"#
        );
    }

    #[test]
    fn a_negative_timeout_is_refused() {
        let message = refusal(&["--shutdown-timeout-seconds=-1"]);
        assert_eq!(
            message,
            r#"invalid SHUTDOWN_TIMEOUT_SECONDS (--shutdown-timeout-seconds) value "-1": expected a whole number of seconds from 0 to 600"#
        );
    }

    #[test]
    fn an_unknown_log_format_lists_the_choices() {
        assert_eq!(
            refusal(&["--log-format", "xml"]),
            r#"invalid LOG_FORMAT (--log-format) value "xml": expected one of: json, text"#
        );
    }

    #[test]
    fn a_bad_log_filter_is_refused() {
        let message = refusal(&["--log-filter", "info,["]);
        assert!(
            message.starts_with("invalid RUST_LOG (--log-filter)"),
            "{message}"
        );
    }

    #[test]
    fn a_zero_body_limit_is_refused() {
        let message = refusal(&["--max-body-bytes", "0"]);
        assert!(message.starts_with("invalid MAX_BODY_BYTES"), "{message}");
    }

    #[test]
    fn an_unknown_flag_points_to_help() {
        let message = refusal(&["--prot", "1"]);
        assert!(message.contains("--prot"), "{message}");
        assert!(
            message.ends_with("run `payload --help` for the accepted settings"),
            "{message}"
        );
    }

    #[test]
    fn every_setting_is_read_from_a_variable() {
        // env_vars() lists only arguments that have a variable; a setting
        // added without `env = ...` would silently be missing from it.
        let command = Cli::command();
        let without: Vec<_> = command
            .get_arguments()
            .filter(|arg| !matches!(arg.get_id().as_str(), "help" | "version"))
            .filter(|arg| arg.get_env().is_none())
            .map(|arg| arg.get_id().to_string())
            .collect();
        assert!(
            without.is_empty(),
            "settings without a variable: {without:?}"
        );
        assert!(
            env_vars().iter().any(|name| name == "PORT"),
            "{:?}",
            env_vars()
        );
    }

    #[test]
    fn the_documented_configuration_table_matches_the_definition() {
        // docs/service.md is where users read the settings; its table must
        // not drift from the definition (names, flags and defaults).
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/service.md");
        let doc = std::fs::read_to_string(path).expect("docs/service.md is readable");
        let command = Cli::command();
        for arg in command
            .get_arguments()
            .filter(|arg| arg.get_env().is_some())
        {
            let env = arg.get_env().unwrap_or_default().to_string_lossy();
            let long = arg.get_long().unwrap_or_default();
            // A setting without a default is written "none".
            let default = arg.get_default_values().first().map_or_else(
                || "none".to_owned(),
                |v| format!("`{}`", v.to_string_lossy()),
            );
            let row = format!("| `{env}` | `--{long}` | {default} |");
            assert!(
                doc.contains(&row),
                "docs/service.md: no configuration row starting `{row}`; update the table to the definition in src/configuration.rs"
            );
        }
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
