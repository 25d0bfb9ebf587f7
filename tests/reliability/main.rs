//! Reliability evidence: the real `payload` binary, started as a child
//! process, through a shutdown under load, a soak at saturation, its limits,
//! traces sent to a real receiver, and hostile input over raw sockets (where a client library would refuse
//! to send it).
//!
//! Every test is ignored, so a plain `cargo test` stays fast; the
//! reliability stage runs them, `scripts/reliability.sh`, one at a time
//! because they measure time and memory:
//! `cargo nextest run --release --test reliability --run-ignored only --no-capture`.
//!
//! Each test prints `RESULT<TAB>case<TAB>expected<TAB>observed` lines; the
//! script turns them into a table. Traffic goes only to 127.0.0.1, and every
//! loop is bounded in count and time.
#![cfg(target_os = "linux")] // signals via `kill`, memory via /proc

mod figures;
mod hostile;
mod limits;
mod load;
mod log_filter;
#[path = "../support/raw_http.rs"]
mod raw_http;
mod server;
mod shutdown;
mod soak;
mod traces;
