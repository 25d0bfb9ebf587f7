//! HTTP tests of the service: one test binary (faster to link than one per
//! file), modules by concern, all sharing `helpers::spawn_app`.

mod config;
mod errors;
mod helpers;
mod metrics;
mod overload;
#[path = "../support/raw_http.rs"]
mod raw_http;
mod request_id;
mod routes;
mod shutdown;
mod slugify;
