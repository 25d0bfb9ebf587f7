//! The HTTP client that carries OTLP batches: hyper's HTTP/1.1 client,
//! which the service already links, run on the service's own Tokio runtime.
//!
//! The SDK's batch processor exports from a plain thread, where hyper's
//! connector and timer would find no runtime; each send is spawned onto the
//! runtime the service was started on and awaited from that thread. It is
//! I/O only (the batch is encoded on the processor's thread), so it costs the
//! request path nothing measurable. Not `opentelemetry-http`'s own hyper
//! client: it needs a runtime on the calling thread too, and links HTTP/2
//! (docs/performance.md has the sizes).

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{
    OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
};
use tokio::runtime::Handle;

/// A collector's answer is a few bytes of status; more is not read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub(super) struct ExportClient {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
    runtime: Handle,
}

impl ExportClient {
    /// A client whose sends run on `runtime`, each bounded by the timeout
    /// the OTLP variables set.
    pub(super) fn new(runtime: Handle) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            timeout: export_timeout(|name| std::env::var(name).ok()),
            runtime,
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (client, timeout) = (self.client.clone(), self.timeout);
        // A JoinError here means the runtime is shutting down: the batch is
        // reported lost like any other failed export.
        self.runtime
            .spawn(async move { tokio::time::timeout(timeout, send(&client, request)).await? })
            .await?
    }
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: Request<Bytes>,
) -> Result<Response<Bytes>, HttpError> {
    let response = client.request(request.map(Full::new)).await?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_RESPONSE_BYTES).collect().await?;
    Ok(Response::from_parts(parts, body.to_bytes()))
}

/// The per-request timeout the exporter itself applies to its retries
/// (milliseconds; the traces variable first, then the general one), so
/// one slow send cannot outlast the deadline the operator set.
fn export_timeout(var: impl Fn(&str) -> Option<String>) -> Duration {
    [
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
        OTEL_EXPORTER_OTLP_TIMEOUT,
    ]
    .into_iter()
    .find_map(|name| var(name)?.parse().ok())
    .map_or(OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT, Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::tests::env;

    #[test]
    fn the_timeout_follows_the_otlp_variables() {
        assert_eq!(export_timeout(env(&[])), Duration::from_secs(10));
        assert_eq!(
            export_timeout(env(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")])),
            Duration::from_millis(2500)
        );
        assert_eq!(
            export_timeout(env(&[
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
            ])),
            Duration::from_millis(700)
        );
    }

    #[test]
    fn a_timeout_that_is_not_a_number_falls_back_as_the_exporter_does() {
        assert_eq!(
            export_timeout(env(&[
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "5s"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "900"),
            ])),
            Duration::from_millis(900)
        );
        assert_eq!(
            export_timeout(env(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")])),
            Duration::from_secs(10)
        );
    }
}
