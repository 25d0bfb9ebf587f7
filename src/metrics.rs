//! Prometheus metrics through the `prometheus-client` crate.
//!
//! Labels are bounded on purpose: `route` is the matched route template
//! (`/api/v1/slugify`), never the raw path, and `method` folds unknown verbs
//! into `OTHER`. A raw path or verb as a label would let any client create
//! new time series without end.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::build_info::BUILD_INFO;
use crate::state::Readiness;

mod process;

/// Route label of requests that matched no route (404s).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `route` label and log field of a request: its matched route
/// template, or [`UNMATCHED_ROUTE`].
pub fn route_name(route: Option<&axum::extract::MatchedPath>) -> &str {
    route.map_or(UNMATCHED_ROUTE, axum::extract::MatchedPath::as_str)
}

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

/// One series' counter and histogram: handles sharing the families' state.
type Handles = (Counter, Histogram);

/// The series of one route: method label, status and their handles.
type RouteSeries = Vec<(&'static str, u16, Handles)>;

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    durations: HistogramFamily,
    /// The handles of every series seen, by route, then method and status.
    /// A family lookup hashes the whole label set and needs an owned
    /// `String` for the route; this needs neither, and one lookup serves
    /// both families (docs/performance.md).
    series: RwLock<HashMap<String, RouteSeries>>,
    in_flight: Gauge,
}

impl Metrics {
    /// The service's metrics, its readiness as a gauge, and the standard
    /// process metrics.
    pub fn new(readiness: &Readiness) -> Self {
        let mut root = Registry::default();
        // The standard names, unprefixed: what dashboards expect.
        root.register_collector(Box::new(process::ProcessCollector));
        // The service's own names carry the crate name, so renaming the
        // service renames them.
        let registry = root.sub_registry_with_prefix(env!("CARGO_PKG_NAME").replace('-', "_"));

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

        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests received and not yet answered",
            in_flight.clone(),
        );
        registry.register_collector(Box::new(ReadinessCollector(readiness.clone())));

        Self {
            registry: root,
            requests,
            durations,
            series: RwLock::default(),
            in_flight,
        }
    }

    pub fn observe(&self, method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
        let method = method_label(method);
        let status = status.as_u16();
        let cached = self.series.read().ok().and_then(|series| {
            series.get(route).and_then(|by_method_status| {
                by_method_status
                    .iter()
                    .find(|(m, s, _)| *m == method && *s == status)
                    .map(|(_, _, handles)| handles.clone())
            })
        });
        let (requests, durations) = cached.unwrap_or_else(|| self.register(method, route, status));
        requests.inc();
        durations.observe(elapsed.as_secs_f64());
    }

    /// Counts a request as in flight until the guard is dropped: when its
    /// response is on its way, or when the client went away first.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// First request with these labels: creates the series in both families
    /// and keeps handles to them.
    fn register(&self, method: &'static str, route: &str, status: u16) -> Handles {
        let labels = HttpLabels {
            method,
            route: route.to_owned(),
            status,
        };
        let handles = (
            self.requests.get_or_create(&labels).clone(),
            self.durations.get_or_create(&labels).clone(),
        );
        if let Ok(mut series) = self.series.write() {
            let by_method_status = series.entry(labels.route).or_default();
            if !by_method_status
                .iter()
                .any(|(m, s, _)| *m == method && *s == status)
            {
                by_method_status.push((method, status, handles.clone()));
            }
        }
        handles
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// One request in [`Metrics::in_flight`].
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `<name>_ready`: 1 while `/readyz` answers 200, 0 once shutdown began.
/// Read at scrape time, so it costs the request path nothing.
#[derive(Debug)]
struct ReadinessCollector(Readiness);

impl Collector for ReadinessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        ConstGauge::new(i64::from(self.0.is_ready())).encode(encoder.encode_descriptor(
            "ready",
            "1 while the service accepts new traffic (/readyz answers 200), 0 once it drains",
            None,
            MetricType::Gauge,
        )?)
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
        let metrics = Metrics::new(&Readiness::default());
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
    fn each_method_and_status_of_a_route_is_its_own_series() {
        let metrics = Metrics::new(&Readiness::default());
        let ms = Duration::from_millis(1);
        metrics.observe(&Method::POST, "/api/v1/slugify", StatusCode::OK, ms);
        metrics.observe(&Method::POST, "/api/v1/slugify", StatusCode::OK, ms);
        metrics.observe(
            &Method::POST,
            "/api/v1/slugify",
            StatusCode::UNPROCESSABLE_ENTITY,
            ms,
        );
        metrics.observe(
            &Method::GET,
            "/api/v1/slugify",
            StatusCode::METHOD_NOT_ALLOWED,
            ms,
        );
        metrics.observe(&Method::GET, "/healthz", StatusCode::OK, ms);
        let text = metrics.encode().expect("encodes");
        for series in [
            r#"_http_requests_total{method="POST",route="/api/v1/slugify",status="200"} 2"#,
            r#"_http_requests_total{method="POST",route="/api/v1/slugify",status="422"} 1"#,
            r#"_http_requests_total{method="GET",route="/api/v1/slugify",status="405"} 1"#,
            r#"_http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
            r#"_http_request_duration_seconds_count{method="POST",route="/api/v1/slugify",status="200"} 2"#,
        ] {
            assert!(text.contains(series), "no {series} in:\n{text}");
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let metrics = Metrics::new(&Readiness::default());
        let odd = Method::from_bytes(b"BREW").expect("valid token");
        metrics.observe(&odd, UNMATCHED_ROUTE, StatusCode::NOT_FOUND, Duration::ZERO);
        let text = metrics.encode().expect("encodes");
        assert!(text.contains(r#"method="OTHER""#), "{text}");
        assert!(!text.contains("BREW"), "{text}");
    }

    #[test]
    fn exposes_build_info() {
        let text = Metrics::new(&Readiness::default())
            .encode()
            .expect("encodes");
        let line = format!(
            r#"payload_build_info{{version="{}",git_sha="{}"}} 1"#,
            BUILD_INFO.version, BUILD_INFO.git_sha
        );
        assert!(text.contains(&line), "{text}");
    }

    #[test]
    fn in_flight_counts_requests_until_their_guard_drops() {
        let metrics = Metrics::new(&Readiness::default());
        let first = metrics.in_flight();
        let second = metrics.in_flight();
        assert!(
            metrics
                .encode()
                .expect("encodes")
                .contains("payload_http_requests_in_flight 2\n")
        );
        drop(first);
        drop(second);
        assert!(
            metrics
                .encode()
                .expect("encodes")
                .contains("payload_http_requests_in_flight 0\n")
        );
    }

    #[test]
    fn readiness_is_a_gauge_that_drops_to_0_at_shutdown() {
        let readiness = Readiness::default();
        let metrics = Metrics::new(&readiness);
        assert!(
            metrics
                .encode()
                .expect("encodes")
                .contains("payload_ready 1\n")
        );
        readiness.shutting_down();
        assert!(
            metrics
                .encode()
                .expect("encodes")
                .contains("payload_ready 0\n")
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn exposes_the_standard_process_metrics_unprefixed() {
        let text = Metrics::new(&Readiness::default())
            .encode()
            .expect("encodes");
        for family in [
            "# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total ",
            "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ",
            "# TYPE process_open_fds gauge\nprocess_open_fds ",
            "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ",
        ] {
            assert!(text.contains(family), "no {family:?} in:\n{text}");
        }
    }

    #[test]
    fn every_exported_family_is_documented() {
        // docs/service.md is where users read what /metrics exports.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/service.md");
        let doc = std::fs::read_to_string(path).expect("docs/service.md is readable");
        let text = Metrics::new(&Readiness::default())
            .encode()
            .expect("encodes");
        for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let (family, kind) = line.split_once(' ').expect("# TYPE name type");
            let name = if kind == "counter" {
                format!("{family}_total")
            } else {
                family.to_owned()
            };
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/service.md does not list the metric `{name}` ({kind}); add it to the table under Metrics"
            );
        }
    }
}
