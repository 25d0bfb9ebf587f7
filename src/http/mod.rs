//! HTTP plumbing shared by the routes: problem documents, JSON in and out,
//! request ids and the access log.

pub mod access_log;
pub mod draining;
pub mod json;
pub mod problem;
pub mod request_id;
