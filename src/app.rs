//! The router and its middleware stack: `app()` is the whole HTTP
//! behaviour of the service, testable with `tower::ServiceExt::oneshot`.

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{BoxError, Router};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::configuration::Settings;
use crate::http::observe::ObserveLayer;
use crate::http::problem::{self, Problem};
use crate::routes::{health, openapi, slugify, version};
use crate::state::AppState;

/// Per-request limits, from [`Settings`].
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_concurrent_requests: usize,
}

impl From<&Settings> for RequestLimits {
    fn from(settings: &Settings) -> Self {
        Self {
            request_timeout: settings.request_timeout(),
            max_body_bytes: settings.max_body_bytes,
            max_concurrent_requests: settings.max_concurrent_requests,
        }
    }
}

/// Builds the service's router.
pub fn app(state: AppState, limits: RequestLimits) -> Router {
    app_with(Router::new(), state, limits)
}

/// [`app`] with `extra` routes beside the service's, under the same
/// middleware. For tests: a route that panics proves that this stack turns
/// a panic into a 500 document, while the service itself has no such route
/// (`app` adds none).
pub fn app_with(extra: Router<AppState>, state: AppState, limits: RequestLimits) -> Router {
    // Only the API sheds load: probes and scrapes must keep answering while
    // the API is saturated, or the kubelet would restart a busy pod.
    let api = Router::new()
        .route("/api/v1/slugify", post(slugify::slugify))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .layer(LoadShedLayer::new())
                .layer(GlobalConcurrencyLimitLayer::new(
                    limits.max_concurrent_requests,
                )),
        );

    // Outermost layer first. `Router::layer` wraps each route, so the
    // matched route is known to the access log and metrics. Everything that
    // observes a request and shapes its answer is one service (`observe`):
    // eight tower layers cost a call, a poll and a wrapped future each.
    let middleware = ServiceBuilder::new()
        .layer(ObserveLayer::new(
            state.metrics.clone(),
            state.readiness.clone(),
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(CatchPanicLayer::custom(problem::from_panic));

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/version", get(version::version))
        .route("/metrics", get(crate::routes::metrics::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .merge(api)
        .merge(extra)
        .fallback(not_found)
        .layer(middleware)
        .with_state(state)
}

async fn not_found() -> Problem {
    Problem::for_status(StatusCode::NOT_FOUND)
}

/// The concurrency limit is full: [`problem::overloaded`].
async fn overloaded(err: BoxError) -> Response {
    if err.is::<tower::load_shed::error::Overloaded>() {
        problem::overloaded()
    } else {
        problem::internal_error("unexpected middleware error", &err)
    }
}
