//! The server span of each request, when traces are on
//! ([`crate::traces`]): it continues the caller's W3C trace
//! (`traceparent`/`tracestate`), carries the HTTP semantic-convention
//! attributes and the request id, and every log line written while the
//! request runs carries its `trace_id` and `span_id`. The access log, which
//! runs outside it, gets the two ids from a response extension.
//!
//! With traces off only a flag is checked: no span, no allocation.
//! Probe and scrape routes get no span, as they get no access line.

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use opentelemetry::trace::{SpanId, Status, TraceContextExt, TraceId};
use opentelemetry_http::HeaderExtractor;
use tracing::Span;
use tracing::field::{Empty, display};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::http::access_log::QUIET_ROUTES;
use crate::http::request_id::request_id;
use crate::metrics::route_name;
use crate::traces;

/// The target of the request spans: the only spans exported.
pub const TARGET: &str = module_path!();

/// The ids of a request's server span, for the lines written outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIds {
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

/// A request's server span and its ids.
pub type Traced = (Span, TraceIds);

/// The request's server span when traces are on and the route is not a
/// quiet one. Boxed: with traces off the request's future stays one pointer
/// larger, not a span larger. The caller runs the request inside it.
pub fn start<B>(request: &Request<B>, route: Option<&MatchedPath>) -> Option<Box<Traced>> {
    traces::enabled()
        .then(|| server_span(request, route))
        .flatten()
        .map(Box::new)
}

/// Records the answer's status on the span (a 5xx is an error) and puts the
/// span's ids on the response, for the access line written outside it.
pub fn finish<B>((span, ids): &Traced, response: &mut Response<B>) {
    let status = response.status();
    span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
    // A server span is an error only for a 5xx: a 4xx is the client's
    // mistake, answered correctly.
    if status.is_server_error() {
        span.set_attribute("error.type", status.as_str().to_owned());
        span.set_status(Status::error(""));
    }
    response.extensions_mut().insert(*ids);
}

/// The request's span and its ids, or `None` for a quiet route.
fn server_span<B>(request: &Request<B>, route: Option<&MatchedPath>) -> Option<Traced> {
    let route = route_name(route);
    if QUIET_ROUTES.contains(&route) {
        return None;
    }
    let method = request.method().as_str();
    let request_id = request_id(request.headers()).unwrap_or_default();
    // `otel.*` fields set the span's name and kind; `trace_id` and
    // `span_id` are there for the log lines, which show the span's fields.
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        request_id,
        trace_id = Empty,
        span_id = Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    // Fails only when the span is disabled, and then there is nothing to
    // continue.
    let _ = span.set_parent(parent);
    span.set_attribute("http.request.method", method.to_owned());
    span.set_attribute("http.route", route.to_owned());
    span.set_attribute("url.path", request.uri().path().to_owned());
    if let Some(scheme) = request.uri().scheme_str() {
        span.set_attribute("url.scheme", scheme.to_owned());
    }
    let context = span.context();
    let ids = TraceIds {
        trace_id: context.span().span_context().trace_id(),
        span_id: context.span().span_context().span_id(),
    };
    span.record("trace_id", display(ids.trace_id));
    span.record("span_id", display(ids.span_id));
    Some((span, ids))
}
