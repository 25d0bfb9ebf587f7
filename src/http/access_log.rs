//! The access log: one line per request from tower-http's `TraceLayer`,
//! inside a span carrying method, matched route and request id.
//!
//! Probe and scrape routes get a DEBUG span, which the default `info`
//! filter disables; a disabled span suppresses the access line, so health
//! checks every few seconds do not drown the log (`RUST_LOG=debug` shows them).

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::Response;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{OnResponse, TraceLayer};
use tracing::Span;

use crate::http::request_id::REQUEST_ID_HEADER;
use crate::metrics::UNMATCHED_ROUTE;

/// Routes that are not access-logged at the default level.
pub const QUIET_ROUTES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

type MakeSpan = fn(&Request) -> Span;

pub fn layer()
-> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, MakeSpan, (), LogResponse, (), (), ()> {
    TraceLayer::new_for_http()
        .make_span_with(make_span as MakeSpan)
        .on_request(())
        .on_response(LogResponse)
        .on_body_chunk(())
        .on_eos(())
        // The response line already carries the status; a second ERROR line
        // per 5xx would double-count in log-based alerts.
        .on_failure(())
}

fn make_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if QUIET_ROUTES.contains(&route) {
        tracing::debug_span!("request", method = %request.method(), route, request_id)
    } else {
        tracing::info_span!("request", method = %request.method(), route, request_id)
    }
}

/// Writes the access line, unless the span is disabled (a quiet route).
#[derive(Debug, Clone, Copy)]
pub struct LogResponse;

impl<B> OnResponse<B> for LogResponse {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &Span) {
        if span.is_disabled() {
            return;
        }
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = latency.as_secs_f64() * 1000.0,
            "request completed"
        );
    }
}
