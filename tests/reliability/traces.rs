//! Traces against a real OTLP/HTTP receiver: the service's exported spans,
//! decoded with `opentelemetry-proto`, continue the caller's trace and carry
//! the HTTP attributes and the request id; the last ones arrive because
//! SIGTERM flushes them; the log lines name the same ids; and a collector
//! that is down costs requests nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::Value;
use xtask::bench::system::free_port;

use crate::figures::{millis, report};
use crate::raw_http::{GET_HEALTHZ, post_with, raw_exchange};
use crate::server::spawn_server;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A span as received, with its resource's `service.name`.
#[derive(Debug, Clone)]
struct Received {
    service_name: Option<String>,
    span: Span,
}

/// An OTLP/HTTP trace receiver on a free local port.
struct Receiver {
    endpoint: String,
    spans: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("binds the receiver");
        let addr = listener.local_addr().expect("bound");
        let app = Router::new()
            .route("/v1/traces", post(receive))
            .with_state(Arc::clone(&spans));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            endpoint: format!("http://{addr}"),
            spans,
        }
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().expect("not poisoned").clone()
    }
}

async fn receive(
    State(spans): State<Arc<Mutex<Vec<Received>>>>,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain")],
            b"not an ExportTraceServiceRequest".to_vec(),
        );
    };
    let mut spans = spans.lock().expect("not poisoned");
    for resource_spans in request.resource_spans {
        let service_name = resource_spans
            .resource
            .as_ref()
            .and_then(|resource| string_attribute(&resource.attributes, "service.name"));
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                spans.push(Received {
                    service_name: service_name.clone(),
                    span,
                });
            }
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|value: &AnyValue| value.value.as_ref())
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key) {
        Some(any_value::Value::StringValue(text)) => Some(text.clone()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// A slugify request with these extra header lines.
fn slugify_with(headers: &str) -> Vec<u8> {
    let body = br#"{"text": "Trace me"}"#;
    post_with(
        &format!(
            "{headers}content-length: {}\r\nconnection: close\r\n",
            body.len()
        ),
        body,
    )
}

#[tokio::test]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn spans_reach_a_real_receiver_continue_the_callers_trace_and_are_flushed_at_sigterm() {
    let receiver = Receiver::start().await;
    let mut server = spawn_server(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint),
        ("OTEL_SERVICE_NAME", "checkout"),
        // No scheduled export while the test runs: what arrives was sent by
        // the shutdown's flush.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ])
    .await;

    let traced = raw_exchange(
        server.addr,
        &slugify_with(&format!(
            "traceparent: 00-{CALLER_TRACE}-{CALLER_SPAN}-01\r\nx-request-id: req-traced\r\n"
        )),
    )
    .await;
    traced.expect_status(200);
    raw_exchange(
        server.addr,
        &slugify_with("x-request-id: req-new-trace\r\n"),
    )
    .await
    .expect_status(200);
    raw_exchange(server.addr, GET_HEALTHZ)
        .await
        .expect_status(200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        receiver.spans().is_empty(),
        "spans were exported before the batch was due: {:?}",
        receiver.spans()
    );

    let sent = server.sigterm();
    let (status, exited) = server.wait_for_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "payload exited with {status}");
    let spans = receiver.spans();
    report(
        "traces: spans of the last requests at SIGTERM",
        "2 (the two API requests; probes are not traced)",
        &format!(
            "{} received; exit {:.0} ms after SIGTERM",
            spans.len(),
            millis(exited - sent)
        ),
    );
    assert_eq!(
        spans.len(),
        2,
        "one server span per API request: {spans:#?}"
    );

    let by_request_id = |id: &str| {
        spans
            .iter()
            .find(|received| {
                string_attribute(&received.span.attributes, "request_id").as_deref() == Some(id)
            })
            .unwrap_or_else(|| panic!("no span with request_id {id}: {spans:#?}"))
    };
    let continued = by_request_id("req-traced");
    let span = &continued.span;
    assert_eq!(continued.service_name.as_deref(), Some("checkout"));
    assert_eq!(span.name, "POST /api/v1/slugify");
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(
        hex(&span.trace_id),
        CALLER_TRACE,
        "the caller's trace goes on"
    );
    assert_eq!(
        hex(&span.parent_span_id),
        CALLER_SPAN,
        "the caller's span is the parent"
    );
    for (key, expected) in [
        ("http.request.method", "POST"),
        ("http.route", "/api/v1/slugify"),
        ("url.path", "/api/v1/slugify"),
    ] {
        assert_eq!(
            string_attribute(&span.attributes, key).as_deref(),
            Some(expected),
            "{key}"
        );
    }
    assert_eq!(
        attribute(&span.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(200))
    );

    let fresh = &by_request_id("req-new-trace").span;
    assert_ne!(
        hex(&fresh.trace_id),
        CALLER_TRACE,
        "no traceparent: a new trace"
    );
    assert!(fresh.parent_span_id.is_empty(), "a root span");

    // The request's log line names the span that was exported.
    let line = server
        .access_line("req-traced")
        .expect("the traced request's access line");
    let line: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(line["span"]["trace_id"], CALLER_TRACE, "{line}");
    assert_eq!(line["span"]["span_id"], hex(&span.span_id), "{line}");
}

#[tokio::test]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn a_collector_that_is_down_costs_requests_nothing() {
    // Nothing listens there.
    let closed = free_port().expect("a free port");
    let endpoint = format!("http://127.0.0.1:{closed}");
    let server = spawn_server(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        // Export as soon as there is something to export.
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ])
    .await;

    let requests = 200;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for _ in 0..requests {
        let sent = Instant::now();
        raw_exchange(server.addr, &slugify_with(""))
            .await
            .expect_status(200);
        slowest = slowest.max(sent.elapsed());
        // Over about 3 s: a failed export (three retries) takes about 1 s,
        // so without the rate limit there would be several warnings.
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let elapsed = started.elapsed();
    let warnings = server.count_raw(r#""target":"opentelemetry"#);
    report(
        "traces: collector down",
        "every request 200; at most one SDK warning per 30 s",
        &format!(
            "{requests}/{requests} answered 200 in {:.0} ms, slowest {:.1} ms; {warnings} SDK warning(s)",
            millis(elapsed),
            millis(slowest)
        ),
    );
    assert_eq!(
        warnings, 1,
        "the failed exports are reported once per interval, not per export or per request"
    );

    // The flush at shutdown fails too, within the shutdown timeout.
    server.stop().await;
}
