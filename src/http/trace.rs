//! The server span of each request, when traces are on
//! ([`crate::traces`]): it continues the caller's W3C trace
//! (`traceparent`/`tracestate`), carries the HTTP semantic-convention
//! attributes and the request id, and every log line written while the
//! request runs carries its `trace_id` and `span_id`. The access log, which
//! runs outside it, gets the two ids from a response extension.
//!
//! With traces off the layer only checks a flag: no span, no allocation.
//! Probe and scrape routes get no span, as they get no access line.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use opentelemetry::trace::{SpanId, Status, TraceContextExt, TraceId};
use opentelemetry_http::HeaderExtractor;
use pin_project_lite::pin_project;
use tower::{Layer, Service};
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

/// Wraps each request in its server span; see the module docs. It sits
/// inside the request id layer, so the id is on the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TraceService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TraceFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Boxed: with traces off the future stays one pointer larger, not
        // a span larger, and is moved through every outer layer.
        let span = traces::enabled()
            .then(|| server_span(&request))
            .flatten()
            .map(Box::new);
        let inner = match &span {
            Some(traced) => traced.0.in_scope(|| self.inner.call(request)),
            None => self.inner.call(request),
        };
        TraceFuture { inner, span }
    }
}

/// The request's span and its ids, or `None` for a quiet route.
fn server_span<B>(request: &Request<B>) -> Option<(Span, TraceIds)> {
    let route = route_name(request.extensions().get::<MatchedPath>());
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

pin_project! {
    pub struct TraceFuture<F> {
        #[pin]
        inner: F,
        span: Option<Box<(Span, TraceIds)>>,
    }
}

impl<F, ResBody, E> Future for TraceFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(traced) = this.span.as_deref() else {
            return this.inner.poll(cx);
        };
        let (span, ids) = traced;
        let mut result = ready!(span.in_scope(|| this.inner.poll(cx)));
        if let Ok(response) = &mut result {
            let status = response.status();
            span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
            // A server span is an error only for a 5xx: a 4xx is the
            // client's mistake, answered correctly.
            if status.is_server_error() {
                span.set_attribute("error.type", status.as_str().to_owned());
                span.set_status(Status::error(""));
            }
            response.extensions_mut().insert(*ids);
        }
        Poll::Ready(result)
    }
}
