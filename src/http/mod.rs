//! HTTP plumbing shared by the routes: problem documents, JSON in and out,
//! and what [`observe`] does around every request (request ids, the server
//! span, the access log).

pub mod access_log;
pub mod json;
pub mod observe;
pub mod problem;
pub mod request_id;
pub mod trace;
