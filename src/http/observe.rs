//! The one layer around every route that sees each request and its answer:
//! request id, server span, request metrics, access line, problem document,
//! draining and the security headers, in that order on the way out.
//!
//! One hand-written service instead of eight tower layers: each layer added
//! a `call`, a `poll` and a future that the outer ones moved and wrapped,
//! and together they cost 1,370 instructions more per `/healthz` request
//! than this (docs/performance.md). The steps themselves live in their
//! modules; this only runs them once each, in order.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Method, Request, Response, header};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::http::request_id::{self, REQUEST_ID};
use crate::http::{access_log, problem, trace};
use crate::metrics::{InFlight, Metrics, route_name};
use crate::state::Readiness;

/// What every request needs from the application.
#[derive(Debug)]
struct Shared {
    metrics: Arc<Metrics>,
    readiness: Readiness,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    shared: Arc<Shared>,
}

impl ObserveLayer {
    pub fn new(metrics: Arc<Metrics>, readiness: Readiness) -> Self {
        Self {
            shared: Arc::new(Shared { metrics, readiness }),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Observe<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let observed = Observed {
            _in_flight: self.shared.metrics.in_flight(),
            access_logged: access_log::enabled(route.as_ref()),
            method: request.method().clone(),
            id: request_id::assign(&mut request),
            span: trace::start(&request, route.as_ref()),
            route,
            shared: Arc::clone(&self.shared),
            started: Instant::now(),
        };
        let inner = match observed.span.as_deref() {
            Some((span, _)) => span.in_scope(|| self.inner.call(request)),
            None => self.inner.call(request),
        };
        ObserveFuture {
            inner,
            observed: Some(observed),
        }
    }
}

/// What the answer's steps need from the request.
#[derive(Debug)]
struct Observed {
    /// Dropped when the answer is ready, or with the future when the client
    /// went away first.
    _in_flight: InFlight,
    shared: Arc<Shared>,
    method: Method,
    route: Option<MatchedPath>,
    started: Instant,
    access_logged: bool,
    id: HeaderValue,
    span: Option<Box<trace::Traced>>,
}

impl Observed {
    fn finish<B>(self, mut response: Response<B>) -> Response<Body>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        if let Some(traced) = &self.span {
            trace::finish(traced, &mut response);
        }
        let route = route_name(self.route.as_ref());
        let elapsed = self.started.elapsed();
        self.shared
            .metrics
            .observe(&self.method, route, response.status(), elapsed);
        response.headers_mut().insert(REQUEST_ID.clone(), self.id);
        access_log::log(
            &self.method,
            route,
            self.access_logged.then_some(elapsed),
            &response,
        );
        // The document carries the id, so it is rendered after the id is set.
        let mut response = problem::render(response);
        let headers = response.headers_mut();
        // During the shutdown delay every response asks the client to close:
        // its next request then opens a connection to a ready replica.
        if !self.shared.readiness.is_ready() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}

pin_project! {
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        observed: Option<Observed>,
    }
}

impl<F, B, E> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let traced = this.observed.as_ref().and_then(|o| o.span.as_deref());
        let result = match traced {
            Some((span, _)) => ready!(span.in_scope(|| this.inner.poll(cx))),
            None => ready!(this.inner.poll(cx)),
        };
        let observed = this
            .observed
            .take()
            .expect("an ObserveFuture is not polled after it completed");
        // An error (no response) is counted nowhere, as before.
        Poll::Ready(result.map(|response| observed.finish(response)))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::http::StatusCode;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;

    /// A service behind the layer that answers every request with `status`.
    fn answering(
        status: StatusCode,
        metrics: &Arc<Metrics>,
        readiness: &Readiness,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> {
        ServiceBuilder::new()
            .layer(ObserveLayer::new(Arc::clone(metrics), readiness.clone()))
            .service(service_fn(move |_request: Request<Body>| async move {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }))
    }

    /// A request without a matched route: the router was not involved.
    /// (Matched routes as labels are tested through the router in
    /// tests/api/metrics.rs; `MatchedPath` has no public constructor.)
    fn request(method: Method) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri("/somewhere/42")
            .body(Body::empty())
            .expect("a valid request")
    }

    #[tokio::test]
    async fn records_the_status_the_inner_service_answered() {
        let readiness = Readiness::default();
        let metrics = Arc::new(Metrics::new(&readiness));
        for _ in 0..2 {
            answering(StatusCode::IM_A_TEAPOT, &metrics, &readiness)
                .oneshot(request(Method::DELETE))
                .await
                .expect("infallible");
        }
        let text = metrics.encode().expect("encodes");
        assert!(
            text.contains(
                r#"_http_requests_total{method="DELETE",route="unmatched",status="418"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"_http_request_duration_seconds_count{method="DELETE",route="unmatched",status="418"} 2"#),
            "{text}"
        );
        // The raw path is never a label value.
        assert!(!text.contains("/somewhere/42"), "{text}");
    }

    #[tokio::test]
    async fn a_request_is_in_flight_while_the_inner_service_handles_it() {
        let readiness = Readiness::default();
        let metrics = Arc::new(Metrics::new(&readiness));
        let seen_by_handler = Arc::clone(&metrics);
        let service = ServiceBuilder::new()
            .layer(ObserveLayer::new(Arc::clone(&metrics), readiness))
            .service(service_fn(move |_request: Request<Body>| {
                let text = seen_by_handler.encode().expect("encodes");
                async move { Ok::<_, Infallible>(Response::new(Body::from(text))) }
            }));
        let response = service
            .oneshot(request(Method::GET))
            .await
            .expect("infallible");
        let during = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        let during = String::from_utf8_lossy(&during);
        assert!(during.contains("_http_requests_in_flight 1\n"), "{during}");
        let after = metrics.encode().expect("encodes");
        assert!(after.contains("_http_requests_in_flight 0\n"), "{after}");
    }

    #[tokio::test]
    async fn every_answer_gets_the_id_the_headers_and_while_draining_a_close() {
        let readiness = Readiness::default();
        let metrics = Arc::new(Metrics::new(&readiness));
        let response = answering(StatusCode::OK, &metrics, &readiness)
            .oneshot(request(Method::GET))
            .await
            .expect("infallible");
        let headers = response.headers();
        assert!(headers.contains_key(&REQUEST_ID), "{headers:?}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert!(!headers.contains_key(header::CONNECTION), "{headers:?}");

        readiness.shutting_down();
        let response = answering(StatusCode::NOT_FOUND, &metrics, &readiness)
            .oneshot(request(Method::GET))
            .await
            .expect("infallible");
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            problem::PROBLEM_CONTENT_TYPE,
            "an error answer is a problem document"
        );
    }
}
