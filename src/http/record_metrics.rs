//! Middleware that counts and times every request into [`Metrics`].
//!
//! A plain tower layer rather than `axum::middleware::from_fn`: it runs on
//! every request, and `from_fn` clones and boxes the inner service and boxes
//! its future each time. This one only wraps the inner future.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{Method, Request, Response};
use tower::{Layer, Service};

use crate::http::on_response::{OnResponse, ResponseHook};
use crate::metrics::{InFlight, Metrics, route_name};

/// Records method, matched route, status and duration of each request.
#[derive(Debug, Clone)]
pub struct RecordMetricsLayer {
    metrics: Arc<Metrics>,
}

impl RecordMetricsLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RecordMetricsLayer {
    type Service = RecordMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordMetrics {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecordMetrics<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RecordMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = OnResponse<S::Future, Observation>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Read before the call: the request moves into the inner service.
        let method = request.method().clone();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let observation = Observation {
            _in_flight: self.metrics.in_flight(),
            metrics: Arc::clone(&self.metrics),
            method,
            route,
            started: Instant::now(),
        };
        OnResponse::new(self.inner.call(request), observation)
    }
}

/// What the metrics need from the request, kept until the response.
#[derive(Debug)]
pub struct Observation {
    /// Dropped with the response future: also when the client went away.
    _in_flight: InFlight,
    metrics: Arc<Metrics>,
    method: Method,
    route: Option<MatchedPath>,
    started: Instant,
}

impl ResponseHook for Observation {
    fn on_response<B>(&self, response: &Response<B>) {
        let route = route_name(self.route.as_ref());
        self.metrics.observe(
            &self.method,
            route,
            response.status(),
            self.started.elapsed(),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;
    use crate::state::Readiness;

    /// A service behind the layer that answers every request with `status`.
    fn answering(
        status: StatusCode,
        metrics: &Arc<Metrics>,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> {
        ServiceBuilder::new()
            .layer(RecordMetricsLayer::new(Arc::clone(metrics)))
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
        let metrics = Arc::new(Metrics::new(&Readiness::default()));
        for _ in 0..2 {
            answering(StatusCode::IM_A_TEAPOT, &metrics)
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
        let metrics = Arc::new(Metrics::new(&Readiness::default()));
        let seen_by_handler = Arc::clone(&metrics);
        let service = ServiceBuilder::new()
            .layer(RecordMetricsLayer::new(Arc::clone(&metrics)))
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
}
