//! During the shutdown delay every response carries `Connection: close`.
//!
//! A load balancer stops sending *new* connections once readiness fails,
//! but a client's keep-alive connection stays pinned to this process. If it
//! were left open, the drain after the delay would close it while idle and
//! the client's next request on it would fail. Asking the client to close
//! after each response makes it reconnect, and the new connection lands on
//! a ready replica.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::Readiness;

pub async fn close_connections_when_shutting_down(
    State(readiness): State<Readiness>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if !readiness.is_ready() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
