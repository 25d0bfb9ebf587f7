//! During the shutdown delay every response carries `Connection: close`.
//!
//! A load balancer stops sending *new* connections once readiness fails,
//! but a client's keep-alive connection stays pinned to this process. If it
//! were left open, the drain after the delay would close it while idle and
//! the client's next request on it would fail. Asking the client to close
//! after each response makes it reconnect, and the new connection lands on
//! a ready replica.

use axum::http::{HeaderValue, header};
use tower_http::set_header::{MakeHeaderValue, SetResponseHeaderLayer};

use crate::state::Readiness;

/// The layer: tower-http's `SetResponseHeader`, whose value depends on
/// readiness at the moment the response leaves.
pub fn layer(readiness: Readiness) -> SetResponseHeaderLayer<CloseWhenNotReady> {
    SetResponseHeaderLayer::overriding(header::CONNECTION, CloseWhenNotReady(readiness))
}

/// `close` once readiness has been withdrawn, no header before.
#[derive(Debug, Clone)]
pub struct CloseWhenNotReady(Readiness);

impl<T> MakeHeaderValue<T> for CloseWhenNotReady {
    fn make_header_value(&mut self, _message: &T) -> Option<HeaderValue> {
        (!self.0.is_ready()).then_some(HeaderValue::from_static("close"))
    }
}
