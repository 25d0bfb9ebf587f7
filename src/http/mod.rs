//! HTTP plumbing shared by the routes: problem documents, JSON in and out,
//! request ids, the access log and request metrics.

pub mod access_log;
pub mod draining;
pub mod json;
pub mod problem;
pub mod record_metrics;
pub mod request_id;
