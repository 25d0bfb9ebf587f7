//! The payload service: a small, production-shaped axum HTTP service.
//!
//! `main.rs` only parses configuration; everything else lives here so the
//! tests can build the router ([`app::app`]) or a whole server
//! ([`startup::Application`]) without a process boundary.

pub mod app;
pub mod build_info;
pub mod configuration;
pub mod domain;
pub mod healthcheck;
pub mod http;
pub mod log_filter;
pub mod metrics;
pub mod routes;
pub mod serve;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod traces;
