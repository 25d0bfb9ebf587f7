//! Load: keep-alive connections busy with API requests, each request's
//! start, end and outcome recorded, and a readiness poller beside them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Collected, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A request body of the load generator and the exact answer it expects.
const LOAD_BODY: &str = r#"{"text": "Zero downtime, measured under load"}"#;
const LOAD_ANSWER: &str = r#"{"slug":"zero-downtime-measured-under-load"}"#;
/// A request body sent in two parts (`SlowUpload`) to hold a request in
/// flight, and its answer.
pub(crate) const SLOW_BODY: &str = r#"{"text": "A long upload in flight at SIGTERM"}"#;
pub(crate) const SLOW_ANSWER: &str = r#"{"slug":"a-long-upload-in-flight-at-sigterm"}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 200 with the expected slug.
    Ok,
    /// Any other complete response.
    Status(u16),
    /// A new connection was refused.
    Refused,
    /// The connection closed before any response: the request was still in
    /// transit (sent, not yet read by the server).
    NoResponse,
    /// A response started but did not complete.
    Truncated,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) start: Instant,
    pub(crate) end: Instant,
    pub(crate) outcome: Outcome,
}

/// Keeps `connections` keep-alive connections busy with POST
/// /api/v1/slugify, one request after another on each, recording every
/// request's start, end and outcome.
pub(crate) struct LoadGenerator {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Vec<Sample>>>,
}

impl LoadGenerator {
    /// Starts the connections; each stops on `finish`, after `limit`, or
    /// when a new connection is refused (the listener has closed).
    pub(crate) fn start(addr: SocketAddr, connections: usize, limit: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let until = Instant::now() + limit;
        let workers = (0..connections)
            .map(|_| tokio::spawn(load_worker(addr, Arc::clone(&stop), until)))
            .collect();
        Self { stop, workers }
    }

    /// Stops the workers and returns every sample in start order.
    pub(crate) async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = Vec::new();
        for worker in self.workers {
            samples.extend(worker.await.expect("a load worker did not panic"));
        }
        samples.sort_by_key(|s| s.start);
        samples
    }
}

async fn load_worker(addr: SocketAddr, stop: Arc<AtomicBool>, until: Instant) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut open: Option<SendRequest<Full<Bytes>>> = None;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        let mut sender = match open.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => {
                let start = Instant::now();
                let Ok(sender) = client_connection(addr).await else {
                    let end = Instant::now();
                    samples.push(Sample {
                        start,
                        end,
                        outcome: Outcome::Refused,
                    });
                    break;
                };
                sender
            }
        };
        // The server closed this connection after its last response (it
        // said `connection: close`): nothing was sent, so open another.
        if sender.ready().await.is_err() {
            continue;
        }
        let start = Instant::now();
        let outcome = match sender.send_request(post(LOAD_BODY)).await {
            Err(_) => Outcome::NoResponse,
            Ok(response) => {
                let status = response.status().as_u16();
                match response
                    .into_body()
                    .collect()
                    .await
                    .map(Collected::to_bytes)
                {
                    Err(_) => Outcome::Truncated,
                    Ok(body) if status == 200 && body == LOAD_ANSWER.as_bytes() => Outcome::Ok,
                    Ok(_) => Outcome::Status(status),
                }
            }
        };
        samples.push(Sample {
            start,
            end: Instant::now(),
            outcome,
        });
        if matches!(outcome, Outcome::Ok | Outcome::Status(_)) {
            open = Some(sender);
        }
    }
    samples
}

/// A hyper HTTP/1.1 client connection (keep-alive).
async fn client_connection(addr: SocketAddr) -> std::io::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    Ok(sender)
}

fn post(body: &'static str) -> Request<Full<Bytes>> {
    Request::post("/api/v1/slugify")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a valid request")
}

/// Polls GET /readyz on its own connection, thread and runtime (so the load
/// generator cannot delay it) until the first 503 or `limit`; returns each
/// answer with the instant it arrived.
pub(crate) fn poll_readiness(
    addr: SocketAddr,
    limit: Duration,
) -> thread::JoinHandle<Vec<(Instant, u16)>> {
    let until = Instant::now() + limit;
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let mut answers = Vec::new();
            let mut sender = None;
            while Instant::now() < until {
                if sender.as_ref().is_none_or(SendRequest::is_closed) {
                    sender = client_connection(addr).await.ok();
                }
                let Some(open) = sender.as_mut() else { break };
                let request = Request::get("/readyz")
                    .header("host", "127.0.0.1")
                    .body(Full::new(Bytes::new()))
                    .expect("a valid request");
                let answer = match open.ready().await {
                    Ok(()) => open.send_request(request).await.ok(),
                    Err(_) => None,
                };
                let Some(response) = answer else {
                    sender = None;
                    continue;
                };
                let status = response.status().as_u16();
                let _ = response.into_body().collect().await;
                answers.push((Instant::now(), status));
                if status == 503 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            answers
        })
    })
}
