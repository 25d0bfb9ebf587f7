//! Probes. Liveness stays 200 while the process can serve; readiness turns
//! 503 the moment shutdown begins, so load balancers stop routing here
//! while requests already on their way are still answered.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::json::JsonBody;
use crate::http::problem::Problem;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness probe.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "The process can serve", body = Status)))]
pub async fn healthz() -> JsonBody<Status> {
    JsonBody(Status { status: "ok" })
}

/// Readiness probe.
#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses(
        (status = 200, description = "Ready for traffic", body = Status),
        (status = 503, description = "Shutting down: stop routing here", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<JsonBody<Status>, Problem> {
    if state.readiness.is_ready() {
        Ok(JsonBody(Status { status: "ready" }))
    } else {
        Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down: in-flight requests are being finished",
        ))
    }
}
