//! Logging: JSON lines for collectors, readable text for a terminal.

use std::fmt;
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::configuration::LogFormat;
use crate::traces::{self, Traces};

/// Set once [`init`] has installed the JSON subscriber writing to stdout.
static JSON_LINES: AtomicBool = AtomicBool::new(false);

/// Swaps the installed subscriber's filter (see [`set_filter`]).
type Reload = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

/// Set once [`init`] has installed a subscriber.
static RELOAD: OnceLock<Reload> = OnceLock::new();

/// Installs the global subscriber. `filter` was validated by configuration.
/// With `traces`, the request spans also become OpenTelemetry spans.
pub fn init(filter: &str, format: LogFormat, traces: Option<&Traces>) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests) keeps the first subscriber; that is fine.
    let installed = match traces {
        None => init_logs(filter, format),
        Some(traces) => init_logs_and_traces(filter, format, traces),
    };
    if installed && format == LogFormat::Json {
        JSON_LINES.store(true, Ordering::Release);
    }
}

/// Logs only: the log filter is the subscriber's global filter, so a
/// disabled line costs nothing past its callsite.
fn init_logs(filter: EnvFilter, format: LogFormat) -> bool {
    match format {
        LogFormat::Json => {
            let builder = json_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stdout)
                .with_timer(Rfc3339Micros)
                // `message` and the event's fields at the top level, the
                // request span's fields (request_id, trace_id, span_id)
                // under `span`.
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().is_ok() && keep_for_set_filter(handle)
        }
        LogFormat::Text => {
            let builder = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stdout)
                .with_timer(Rfc3339Micros)
                .with_ansi(std::io::stdout().is_terminal())
                .compact()
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().is_ok() && keep_for_set_filter(handle)
        }
    }
}

/// Logs and traces: the log filter applies to the log lines only (a
/// global one would also decide which spans are exported), and the
/// OpenTelemetry SDK's own warnings are rate-limited.
fn init_logs_and_traces(filter: EnvFilter, format: LogFormat, traces: &Traces) -> bool {
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let filter = filter.and(traces::diagnostics_rate_limit());
    let logs = match format {
        LogFormat::Json => json_subscriber::fmt::layer()
            .with_writer(std::io::stdout)
            .with_timer(Rfc3339Micros)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stdout)
            .with_timer(Rfc3339Micros)
            .with_ansi(std::io::stdout().is_terminal())
            .compact()
            .with_filter(filter)
            .boxed(),
    };
    let subscriber = tracing_subscriber::registry()
        .with(logs)
        .with(traces.layer());
    subscriber.try_init().is_ok() && keep_for_set_filter(handle)
}

/// Keeps the installed subscriber's reload handle for [`set_filter`]; the
/// two subscribers' handles differ only in the subscriber type.
/// True, for the `&&` chains above.
fn keep_for_set_filter<S: 'static>(
    handle: tracing_subscriber::reload::Handle<EnvFilter, S>,
) -> bool {
    let _ = RELOAD.set(Box::new(move |filter| {
        handle.reload(filter).map_err(|e| e.to_string())
    }));
    true
}

/// Replaces the running subscriber's filter, for every event from now on
/// (callsites' cached interest is rebuilt). An error when [`init`] installed
/// no subscriber.
pub fn set_filter(filter: EnvFilter) -> Result<(), String> {
    match RELOAD.get() {
        Some(reload) => reload(filter),
        None => Err("no subscriber was installed by telemetry::init".to_owned()),
    }
}

/// Whether [`init`] installed the JSON subscriber: then the access log
/// writes its lines to stdout itself, in the subscriber's shape
/// (`crate::http::access_log`). False in tests that never call [`init`].
pub fn json_lines() -> bool {
    JSON_LINES.load(Ordering::Acquire)
}

/// The time now as every log line shows it: RFC 3339 in UTC with
/// microseconds, e.g. `2026-11-22T09:14:03.123456Z`.
pub fn timestamp() -> humantime::Rfc3339Timestamp {
    humantime::format_rfc3339_micros(SystemTime::now())
}

/// The subscribers' timer. The same text as tracing-subscriber's default
/// `SystemTime` timer, which formats each of the seven fields through
/// `write!`; humantime fills one buffer (docs/performance.md).
#[derive(Debug, Clone, Copy)]
struct Rfc3339Micros;

impl FormatTime for Rfc3339Micros {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(w, "{}", timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let text = timestamp().to_string();
        // 2026-11-22T09:14:03.123456Z
        assert_eq!(text.len(), 27, "{text}");
        assert!(text.ends_with('Z'), "{text}");
        assert_eq!(&text[10..11], "T", "{text}");
        assert_eq!(&text[19..20], ".", "{text}");
        assert!(
            humantime::parse_rfc3339(&text).is_ok(),
            "not RFC 3339: {text}"
        );
    }
}
