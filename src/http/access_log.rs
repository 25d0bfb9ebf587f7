//! The access log: one line per request with the request's method, matched
//! route and request id, and the answer's status and latency.
//!
//! Probe and scrape routes are logged at DEBUG, which the default `info`
//! filter disables, so health checks every few seconds do not drown the log
//! (`RUST_LOG=debug` shows them). The line itself is always INFO.
//!
//! With JSON logs it writes the line to stdout itself, in the shape
//! the JSON subscriber gives every line logged inside a `request` span
//! (request fields under `span`): a tracing span per request plus an event
//! cost about 18,800 instructions per request, this about 2,500
//! (docs/performance.md). With text logs, or when no subscriber was
//! installed by [`crate::telemetry::init`], the line is a tracing event in a
//! `request` span.

use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Method, Response};
use tracing::field::display;

use crate::http::problem::PanicMessage;
use crate::http::request_id::request_id;
use crate::http::trace::TraceIds;
use crate::telemetry;

/// Routes that are not access-logged at the default level.
pub const QUIET_ROUTES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The message of every access line.
pub const MESSAGE: &str = "request completed";

/// Whether the access line of a request to `route` is enabled: probe and
/// scrape routes at DEBUG, the others at INFO. Called here, so the filter
/// decides for this module's target, as it did for a span of that level.
pub fn enabled(route: Option<&MatchedPath>) -> bool {
    if route.is_some_and(|route| QUIET_ROUTES.contains(&route.as_str())) {
        tracing::enabled!(tracing::Level::DEBUG)
    } else {
        tracing::enabled!(tracing::Level::INFO)
    }
}

/// Logs a handler's panic (always) and the access line (when `latency` is
/// given: its line is [`enabled`]), from the response, which carries the
/// request id and, with traces on, the span's ids.
pub fn log<B>(method: &Method, route: &str, latency: Option<Duration>, response: &Response<B>) {
    let request_id = request_id(response.headers()).unwrap_or_default();
    let trace = response.extensions().get::<TraceIds>().copied();
    let trace_id = trace.map(|ids| display(ids.trace_id));
    let span_id = trace.map(|ids| display(ids.span_id));
    if let Some(PanicMessage(message)) = response.extensions().get::<PanicMessage>() {
        // Rare, so through tracing, at ERROR whatever the filter does to the
        // access line.
        tracing::error_span!(
            "request",
            method = %method,
            route,
            request_id,
            trace_id,
            span_id
        )
        .in_scope(|| tracing::error!(panic = %message, "handler panicked"));
    }
    let Some(latency) = latency else {
        return;
    };
    let line = AccessLine {
        method: method.as_str(),
        route,
        request_id,
        trace,
        status: response.status().as_u16(),
        latency,
    };
    if telemetry::json_lines() {
        line.write_json();
    } else {
        tracing::info_span!(
            "request",
            method = %line.method,
            route = line.route,
            request_id,
            trace_id,
            span_id
        )
        .in_scope(|| {
            tracing::info!(
                status = line.status,
                latency_ms = line.latency_ms(),
                "{MESSAGE}"
            );
        });
    }
}

/// One access line's values.
#[derive(Debug)]
struct AccessLine<'a> {
    method: &'a str,
    route: &'a str,
    request_id: &'a str,
    /// With traces on: the ids of the request's server span.
    trace: Option<TraceIds>,
    status: u16,
    latency: Duration,
}

impl AccessLine<'_> {
    fn latency_ms(&self) -> f64 {
        self.latency.as_secs_f64() * 1000.0
    }

    /// Writes the line to stdout with one `write_all`, under stdout's lock,
    /// as the subscriber writes its own lines, so the two never interleave.
    fn write_json(&self) {
        thread_local! {
            static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        BUFFER.with_borrow_mut(|buffer| {
            buffer.clear();
            self.json(buffer, telemetry::timestamp());
            let _ = std::io::stdout().write_all(buffer);
        });
    }

    /// Appends the line, newline included, in the JSON subscriber's shape:
    /// the same keys in the same order, values written by `serde_json`.
    fn json(&self, out: &mut Vec<u8>, timestamp: impl fmt::Display) {
        out.extend_from_slice(b"{\"level\":\"INFO\",\"span\":{\"method\":");
        json_value(out, self.method);
        out.extend_from_slice(b",\"name\":\"request\",\"request_id\":");
        json_value(out, self.request_id);
        out.extend_from_slice(b",\"route\":");
        json_value(out, self.route);
        if let Some(ids) = self.trace {
            // Hexadecimal digits need no escaping.
            let _ = write!(
                out,
                ",\"span_id\":\"{}\",\"trace_id\":\"{}\"",
                ids.span_id, ids.trace_id
            );
        }
        out.extend_from_slice(b"},\"target\":");
        json_value(out, module_path!());
        // An RFC 3339 timestamp needs no escaping.
        let _ = write!(out, ",\"timestamp\":\"{timestamp}\",\"latency_ms\":");
        json_value(out, self.latency_ms());
        out.extend_from_slice(b",\"message\":");
        json_value(out, MESSAGE);
        out.extend_from_slice(b",\"status\":");
        json_value(out, self.status);
        out.extend_from_slice(b"}\n");
    }
}

fn json_value(out: &mut Vec<u8>, value: impl serde::Serialize) {
    // Writing to a Vec cannot fail, and these values always serialise.
    let _ = serde_json::to_writer(out, &value);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line the JSON subscriber wrote for a request before the access log
    /// wrote its own (only the latency differs: one that is exact in binary).
    const SUBSCRIBER_LINE: &str = r#"{"level":"INFO","span":{"method":"POST","name":"request","request_id":"ff0600e6-bca3-493d-b828-6d980777c896","route":"/api/v1/slugify"},"target":"payload::http::access_log","timestamp":"2026-12-01T20:30:40.644906Z","latency_ms":1500.0,"message":"request completed","status":200}"#;

    fn json(line: &AccessLine<'_>) -> String {
        let mut out = Vec::new();
        line.json(&mut out, "2026-12-01T20:30:40.644906Z");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn json_lines_have_the_subscribers_shape() {
        let line = AccessLine {
            method: "POST",
            route: "/api/v1/slugify",
            request_id: "ff0600e6-bca3-493d-b828-6d980777c896",
            trace: None,
            status: 200,
            latency: Duration::from_millis(1500),
        };
        assert_eq!(json(&line), format!("{SUBSCRIBER_LINE}\n"));
    }

    #[test]
    fn with_traces_on_the_line_carries_the_span_ids_beside_the_request_id() {
        let ids = TraceIds {
            trace_id: opentelemetry::trace::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")
                .expect("hex"),
            span_id: opentelemetry::trace::SpanId::from_hex("00f067aa0ba902b7").expect("hex"),
        };
        let line = AccessLine {
            method: "POST",
            route: "/api/v1/slugify",
            request_id: "req-1",
            trace: Some(ids),
            status: 200,
            latency: Duration::ZERO,
        };
        let text = json(&line);
        // In key order, as the subscriber writes a span's fields.
        assert!(
            text.contains(r#""request_id":"req-1","route":"/api/v1/slugify","span_id":"00f067aa0ba902b7","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"},"#),
            "{text}"
        );
        assert!(
            serde_json::from_str::<serde_json::Value>(&text).is_ok(),
            "{text}"
        );
    }

    #[test]
    fn values_are_escaped() {
        let line = AccessLine {
            method: "GET",
            route: "/a\"b\\c",
            request_id: "x\n",
            trace: None,
            status: 404,
            latency: Duration::ZERO,
        };
        let text = json(&line);
        assert_eq!(text.matches('\n').count(), 1, "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value["span"]["route"], "/a\"b\\c");
        assert_eq!(value["span"]["request_id"], "x\n");
        assert_eq!(value["status"], 404);
    }
}
