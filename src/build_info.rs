//! What was built, from which commit, when: baked in by `build.rs`.

use serde::Serialize;
use utoipa::ToSchema;

/// Identity of the running build, served by `/version` and the
/// `build_info` metric.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct BuildInfo {
    /// Crate name.
    #[schema(example = "payload")]
    pub name: &'static str,
    /// Crate version from Cargo.toml.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// Full commit SHA, or `unknown` when built outside git without `GIT_SHA`.
    #[schema(example = "3d3c42e5aac5ba805825da76410c181273ba90b1")]
    pub git_sha: &'static str,
    /// RFC 3339 build time (`BUILD_TIMESTAMP`, `SOURCE_DATE_EPOCH`, or the build's clock).
    #[schema(example = "2026-11-22T03:00:00Z")]
    pub build_timestamp: &'static str,
    /// Rust target triple the binary was compiled for.
    #[schema(example = "x86_64-unknown-linux-musl")]
    pub target: &'static str,
}

pub const BUILD_INFO: BuildInfo = BuildInfo {
    name: env!("CARGO_PKG_NAME"),
    version: env!("CARGO_PKG_VERSION"),
    git_sha: env!("BAKED_GIT_SHA"),
    build_timestamp: env!("BAKED_BUILD_TIMESTAMP"),
    target: env!("BAKED_TARGET"),
};
