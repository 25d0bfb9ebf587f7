//! Prometheus metrics through the `prometheus-client` crate.
//!
//! Labels are bounded on purpose: `route` is the matched route template
//! (`/api/v1/slugify`), never the raw path, and `method` folds unknown verbs
//! into `OTHER`. A raw path or verb as a label would let any client create
//! new time series without end.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::build_info::BUILD_INFO;

/// Route label of requests that matched no route (404s).
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    git_sha: &'static str,
}

type HistogramFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    durations: HistogramFamily,
}

impl Metrics {
    pub fn new() -> Self {
        // Metric names carry the crate name, so renaming the service renames them.
        let mut registry = Registry::with_prefix(env!("CARGO_PKG_NAME").replace('-', "_"));

        let requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, matched route and status",
            requests.clone(),
        );

        // 0.5 ms .. ~16 s: covers a fast probe up to the request timeout.
        let durations: HistogramFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        registry.register_with_unit(
            "http_request_duration",
            "Time from request received to response headers sent",
            Unit::Seconds,
            durations.clone(),
        );

        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: BUILD_INFO.version,
                git_sha: BUILD_INFO.git_sha,
            })
            .set(1);
        registry.register("build_info", "Always 1; labels identify the build", build);

        Self {
            registry,
            requests,
            durations,
        }
    }

    pub fn observe(&self, method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
        let labels = HttpLabels {
            method: method_label(method),
            route: route.to_owned(),
            status: status.as_u16(),
        };
        self.requests.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_route_and_status() {
        let metrics = Metrics::new();
        for _ in 0..3 {
            metrics.observe(
                &Method::GET,
                "/healthz",
                StatusCode::OK,
                Duration::from_millis(1),
            );
        }
        let text = metrics.encode().expect("encodes");
        assert!(
            text.contains(
                r#"payload_http_requests_total{method="GET",route="/healthz",status="200"} 3"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"payload_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 3"#),
            "{text}"
        );
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let metrics = Metrics::new();
        let odd = Method::from_bytes(b"BREW").expect("valid token");
        metrics.observe(&odd, UNMATCHED_ROUTE, StatusCode::NOT_FOUND, Duration::ZERO);
        let text = metrics.encode().expect("encodes");
        assert!(text.contains(r#"method="OTHER""#), "{text}");
        assert!(!text.contains("BREW"), "{text}");
    }

    #[test]
    fn exposes_build_info() {
        let text = Metrics::new().encode().expect("encodes");
        let line = format!(
            r#"payload_build_info{{version="{}",git_sha="{}"}} 1"#,
            BUILD_INFO.version, BUILD_INFO.git_sha
        );
        assert!(text.contains(&line), "{text}");
    }
}
