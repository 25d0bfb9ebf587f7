//! Traces: OpenTelemetry spans exported over OTLP/HTTP, off unless the
//! standard `OTEL_*` variables ask for them.
//!
//! The SDK reads its own variables (endpoint, headers, timeout, sampler,
//! batch sizes, resource attributes); this module decides whether to start
//! it at all, names the service, and flushes what is buffered at shutdown.
//! Export runs on the batch processor's own thread: a collector that is
//! down or slow never holds a request.

mod export_client;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Key, KeyValue};
use opentelemetry_otlp::WithHttpConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Metadata;
use tracing::subscriber::Interest;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::DynFilterFn;
use tracing_subscriber::layer::Filter;
use tracing_subscriber::registry::LookupSpan;

use crate::build_info::BUILD_INFO;

/// Set once [`Traces::start`] has installed the tracer and the propagator.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether requests get a server span ([`crate::http::trace`]). False
/// unless traces were started: then the request path costs one load.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether the environment asks for traces: an OTLP endpoint is set and
/// `OTEL_SDK_DISABLED` is not `true`. Nothing else turns them on, so a
/// service started without these never connects anywhere.
pub fn requested(var: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| var(name).is_some_and(|value| !value.trim().is_empty());
    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot export traces: {0}; check OTEL_EXPORTER_OTLP_ENDPOINT (an http:// URL of an \
     OTLP/HTTP receiver, e.g. http://127.0.0.1:4318), or unset it to run without traces"
)]
pub struct TracesError(String);

/// The running tracer provider.
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Starts exporting when [`requested`] by the process environment.
    /// Call it inside the Tokio runtime the service runs on: the exports
    /// are sent from there.
    pub fn from_env() -> Result<Option<Self>, TracesError> {
        if requested(|name| std::env::var(name).ok()) {
            Self::start().map(Some)
        } else {
            Ok(None)
        }
    }

    fn start() -> Result<Self, TracesError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|err| TracesError(format!("no Tokio runtime to send from: {err}")))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(export_client::ExportClient::new(runtime))
            .build()
            .map_err(|err| TracesError(err.to_string()))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource())
            .build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        ENABLED.store(true, Ordering::Relaxed);
        Ok(Self { provider })
    }

    /// The layer that turns the request spans into OpenTelemetry spans.
    /// Only those: the access log's and the SDK's own spans and events stay
    /// out, so export never traces itself.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer(BUILD_INFO.name))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_level(false)
            .with_filter(request_spans())
    }

    /// Exports the spans still buffered, waiting at most `timeout`; the
    /// last step of the shutdown sequence.
    pub async fn flush(self, timeout: Duration) {
        let provider = self.provider;
        let shutdown =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(timeout)).await;
        match shutdown {
            // Ok also when the collector refused the last batch: the SDK
            // reported that itself.
            Ok(Ok(())) => tracing::info!("trace exporter shut down"),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "trace exporter shut down with spans unsent");
            }
            Err(err) => tracing::warn!(error = %err, "trace exporter did not shut down"),
        }
    }
}

/// What the SDK's variables say, with this build's name and version where
/// they say nothing: `service.name` from `OTEL_SERVICE_NAME`, else from
/// `OTEL_RESOURCE_ATTRIBUTES`, else the crate's name (the SDK's own default
/// would be `unknown_service`).
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let mut builder = Resource::builder();
    if !named {
        builder = builder.with_service_name(BUILD_INFO.name);
    }
    if detected
        .get(&Key::from_static_str("service.version"))
        .is_none()
    {
        builder = builder.with_attribute(KeyValue::new("service.version", BUILD_INFO.version));
    }
    builder.build()
}

/// The filter of the OpenTelemetry layer: the request spans only.
fn request_spans<S>() -> impl Filter<S> {
    let is_request_span = |metadata: &Metadata<'_>| {
        metadata.is_span() && metadata.target() == crate::http::trace::TARGET
    };
    // Dynamic, though it reads only the metadata: beside the log layer's
    // dynamic filter, a cached `always` left the span unseen by this layer
    // (tracing-subscriber 0.3.23: the span got no OpenTelemetry ids).
    DynFilterFn::new(move |metadata, _| is_request_span(metadata)).with_callsite_filter(
        move |metadata| {
            if is_request_span(metadata) {
                Interest::sometimes()
            } else {
                Interest::never()
            }
        },
    )
}

/// How often the SDK's own diagnostics may reach the log: a collector that
/// is down fails every export, which under load is several a second.
pub const DIAGNOSTICS_INTERVAL: Duration = Duration::from_secs(30);

/// The seconds since the epoch when the last SDK diagnostic was let through.
static LAST_DIAGNOSTIC: AtomicU64 = AtomicU64::new(0);

/// A log filter that lets events of the OpenTelemetry crates through at
/// most once per [`DIAGNOSTICS_INTERVAL`] and everything else always.
pub fn diagnostics_rate_limit<S>() -> impl Filter<S> {
    // Dynamic: a `FilterFn` caches its first answer per callsite.
    DynFilterFn::new(|metadata, _| admit_diagnostic(metadata)).with_callsite_filter(|metadata| {
        if is_diagnostic(metadata) {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    })
}

fn is_diagnostic(metadata: &Metadata<'_>) -> bool {
    metadata.is_event() && metadata.target().starts_with("opentelemetry")
}

fn admit_diagnostic(metadata: &Metadata<'_>) -> bool {
    if !is_diagnostic(metadata) {
        return true;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    admit(&LAST_DIAGNOSTIC, now, DIAGNOSTICS_INTERVAL.as_secs())
}

/// Claims the slot when `interval` has passed since the last admitted time.
fn admit(last: &AtomicU64, now: u64, interval: u64) -> bool {
    let previous = last.load(Ordering::Relaxed);
    (previous == 0 || now.saturating_sub(previous) >= interval)
        && last
            .compare_exchange(previous, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables a test sets, as `std::env::var` would read them.
    pub(super) fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn traces_are_off_unless_an_endpoint_is_set() {
        assert!(!requested(env(&[])));
        assert!(!requested(env(&[("OTEL_SERVICE_NAME", "shop")])));
        assert!(!requested(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])));
        assert!(requested(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4318"
        )])));
        assert!(requested(env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:4318/v1/traces"
        )])));
    }

    #[test]
    fn otel_sdk_disabled_wins() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert!(!requested(env(&[endpoint, ("OTEL_SDK_DISABLED", "true")])));
        assert!(!requested(env(&[endpoint, ("OTEL_SDK_DISABLED", "TRUE")])));
        assert!(requested(env(&[endpoint, ("OTEL_SDK_DISABLED", "false")])));
    }

    #[test]
    fn diagnostics_are_admitted_once_per_interval() {
        let last = AtomicU64::new(0);
        assert!(admit(&last, 1_000, 30));
        assert!(!admit(&last, 1_000, 30));
        assert!(!admit(&last, 1_029, 30));
        assert!(admit(&last, 1_030, 30));
        assert!(!admit(&last, 1_031, 30));
    }
}
