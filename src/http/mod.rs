//! HTTP plumbing shared by the routes: problem documents, JSON in and out,
//! request ids, the access log and request metrics (which share
//! [`on_response::OnResponse`]).

pub mod access_log;
pub mod draining;
pub mod json;
pub mod on_response;
pub mod problem;
pub mod record_metrics;
pub mod request_id;
pub mod trace;
