//! `cargo xtask monitoring --grafana URL --traces`: with Compose's tracing
//! profile running too, a request sent with a `traceparent` must come back
//! as that trace, with the service's server span, through Grafana's Jaeger
//! data source: the chain the dashboard's trace panel reads.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::{Error, Result, fail, log, output_of};

/// The span the request must produce (the service names spans after the
/// method and route).
const SPAN_NAME: &str = "POST /api/v1/slugify";

/// Batches leave the service every 5 s; Jaeger indexes them soon after.
const WAIT: Duration = Duration::from_mins(1);

pub(super) fn check(grafana: &str, jaeger_uid: &str, service: &str, name: &str) -> Result<()> {
    let trace_id = new_trace_id();
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    output_of(Command::new("curl").args([
        "-sSf",
        "--max-time",
        "10",
        "-H",
        "content-type: application/json",
        "-H",
        &format!("traceparent: {traceparent}"),
        "-d",
        r#"{"text": "Trace me"}"#,
        &format!("http://{service}/api/v1/slugify"),
    ]))
    .map_err(|e| Error(format!("the traced request to {service} failed: {e}")))?;
    log(&format!(
        "sent trace {trace_id}; asking Grafana's Jaeger data source ({jaeger_uid}) for it"
    ));
    let url = format!("{grafana}/api/datasources/proxy/uid/{jaeger_uid}/api/traces/{trace_id}");
    let start = Instant::now();
    loop {
        let answer = output_of(Command::new("curl").args(["-sS", "--max-time", "10", &url]))
            .unwrap_or_default();
        match server_span(&answer, name) {
            Ok(()) => {
                log(&format!(
                    "trace {trace_id}: the {SPAN_NAME} span of {name} arrived in {:.0} s",
                    start.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            Err(err) if start.elapsed() > WAIT => fail!(
                "trace {trace_id} did not reach Jaeger through Grafana within {} s: {err}; \
                 is the service started with OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318 \
                 and the tracing profile up? (docker compose --profile tracing logs)",
                WAIT.as_secs()
            ),
            Err(_) => thread::sleep(Duration::from_secs(2)),
        }
    }
}

/// 32 hex digits, different on every run (a trace id must not be all zeros).
fn new_trace_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |since| since.as_nanos());
    format!(
        "{:032x}",
        nanos ^ (u128::from(std::process::id()) << 96) | 1
    )
}

/// Whether Jaeger's answer for a trace (`/api/traces/{id}`) holds the
/// server span, from a process named `name`.
fn server_span(answer: &str, name: &str) -> Result<()> {
    let answer: Value = serde_json::from_str(answer)
        .map_err(|e| Error(format!("the answer is not JSON ({e}): {answer}")))?;
    let Some(trace) = answer["data"].get(0) else {
        fail!("no trace yet: {answer}");
    };
    let spans = trace["spans"].as_array().map_or(&[][..], Vec::as_slice);
    let Some(span) = spans.iter().find(|s| s["operationName"] == SPAN_NAME) else {
        fail!("the trace has no {SPAN_NAME} span: {trace}");
    };
    let process = span["processID"].as_str().unwrap_or_default();
    let service = &trace["processes"][process]["serviceName"];
    if service != name {
        fail!("the {SPAN_NAME} span comes from service {service}, not {name}");
    }
    let kind = span["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|tag| tag["key"] == "span.kind");
    if kind.is_none_or(|tag| tag["value"] != "server") {
        fail!("the {SPAN_NAME} span is not a server span: {span}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(service: &str, kind: &str) -> String {
        serde_json::json!({"data": [{
            "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
            "spans": [{
                "operationName": SPAN_NAME,
                "processID": "p1",
                "tags": [{"key": "span.kind", "type": "string", "value": kind}]
            }],
            "processes": {"p1": {"serviceName": service}}
        }]})
        .to_string()
    }

    #[test]
    fn the_server_span_of_the_service_is_found() {
        assert!(server_span(&answer("shop", "server"), "shop").is_ok());
    }

    #[test]
    fn another_service_a_client_span_or_no_trace_is_reported() {
        assert!(server_span(&answer("other", "server"), "shop").is_err());
        assert!(server_span(&answer("shop", "client"), "shop").is_err());
        let missing = server_span(r#"{"data": [], "errors": [{"code": 404}]}"#, "shop");
        assert!(missing.expect_err("no trace").0.contains("no trace yet"));
        assert!(server_span("Bad Gateway", "shop").is_err());
    }

    #[test]
    fn trace_ids_are_32_hex_digits_and_never_zero() {
        let id = new_trace_id();
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert_ne!(id, "0".repeat(32));
    }
}
