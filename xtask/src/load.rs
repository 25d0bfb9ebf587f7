//! Steady load while something changes (a switch of colours, a canary, a
//! rollback), counting every request that did not get a 2xx answer.
//!
//! Not wrk: wrk counts a kept-alive connection that the server closes while
//! it is idle as a read error, and nginx closes idle connections on every
//! reload, so wrk would report errors for requests that were never sent.
//! This client does what HTTP clients do: before reusing a connection it
//! checks that the server has not closed it, and reconnects if it has (an
//! "idle close", counted apart). The server can also close an idle
//! connection while the request is on its way (nginx does on a reload):
//! the connection then closes before any byte of an answer. curl and
//! browsers resend a request in exactly that case on a new connection; this
//! client resends it once, counting it as "resent", and the resent request's
//! own outcome is what counts. Any other request that was sent and got no
//! complete answer, and a resent one that fails again, is a failure.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::http::{self, ReadError, Response, read_response};

/// How long a request may take before it counts as timed out.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What each connection sends, and how often.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub addr: SocketAddr,
    pub connections: usize,
    /// Between a response and the next request on a connection.
    pub pause: Duration,
    /// `POST path` with this JSON body.
    pub path: String,
    pub json_body: String,
}

/// The outcome of every request of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub non_2xx: u64,
    /// A new connection was refused or did not open.
    pub refused: u64,
    /// Sent, and the connection closed before any answer.
    pub no_response: u64,
    /// An answer began and did not complete, or was not HTTP.
    pub broken: u64,
    pub timed_out: u64,
    /// Kept-alive connections the server closed between two requests (not a
    /// failure: nothing was sent on them).
    pub idle_closes: u64,
    /// Requests resent on a new connection because their reused one closed
    /// before any answer (not a failure: each counts by its resent outcome).
    pub resent: u64,
}

impl Counts {
    pub fn requests(&self) -> u64 {
        self.ok + self.failed()
    }

    pub fn failed(&self) -> u64 {
        self.non_2xx + self.refused + self.no_response + self.broken + self.timed_out
    }

    fn add(&mut self, other: &Self) {
        self.ok += other.ok;
        self.non_2xx += other.non_2xx;
        self.refused += other.refused;
        self.no_response += other.no_response;
        self.broken += other.broken;
        self.timed_out += other.timed_out;
        self.idle_closes += other.idle_closes;
        self.resent += other.resent;
    }

    /// `1234 requests, 0 failed (non-2xx 0, refused 0, ...)`.
    pub fn summary(&self) -> String {
        format!(
            "{} requests, {} failed (non-2xx {}, refused {}, no response {}, cut off {}, timed out {}); {} idle keep-alive closes, {} resent after a close crossed them",
            self.requests(),
            self.failed(),
            self.non_2xx,
            self.refused,
            self.no_response,
            self.broken,
            self.timed_out,
            self.idle_closes,
            self.resent
        )
    }
}

/// A running load; `finish` stops it and returns the counts.
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Counts>>,
    started: Instant,
}

impl Load {
    pub fn start(plan: &LoadPlan) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let request = format!(
            "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
            plan.path,
            plan.addr,
            plan.json_body.len(),
            plan.json_body
        );
        let workers = (0..plan.connections)
            .map(|_| {
                let (stop, request, addr, pause) =
                    (Arc::clone(&stop), request.clone(), plan.addr, plan.pause);
                thread::spawn(move || worker(addr, request.as_bytes(), pause, &stop))
            })
            .collect();
        Self {
            stop,
            workers,
            started: Instant::now(),
        }
    }

    /// Stops every connection after its current request; the counts and the
    /// seconds the load ran.
    pub fn finish(self) -> (Counts, f64) {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Counts::default();
        for worker in self.workers {
            // A worker that panicked lost its counts: say so as a failure.
            let counts = worker.join().unwrap_or(Counts {
                broken: 1,
                ..Counts::default()
            });
            total.add(&counts);
        }
        (total, self.started.elapsed().as_secs_f64())
    }
}

fn worker(addr: SocketAddr, request: &[u8], pause: Duration, stop: &AtomicBool) -> Counts {
    let mut counts = Counts::default();
    let mut kept: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        if kept.as_ref().is_some_and(closed_while_idle) {
            counts.idle_closes += 1;
            kept = None;
        }
        let reused = kept.is_some();
        let Some(mut stream) = kept.take().or_else(|| connect(addr)) else {
            counts.refused += 1;
            thread::sleep(pause.max(Duration::from_millis(10)));
            continue;
        };
        let mut answer = exchange(&mut stream, request);
        if reused && matches!(answer, Err(ReadError::ClosedBeforeResponse)) {
            counts.resent += 1;
            let Some(fresh) = connect(addr) else {
                counts.refused += 1;
                continue;
            };
            stream = fresh;
            answer = exchange(&mut stream, request);
        }
        match answer {
            Ok(response) => {
                if (200..300).contains(&response.status) {
                    counts.ok += 1;
                } else {
                    counts.non_2xx += 1;
                }
                if !response.close {
                    kept = Some(stream);
                }
            }
            Err(ReadError::ClosedBeforeResponse) => counts.no_response += 1,
            Err(ReadError::Broken(_)) => counts.broken += 1,
            Err(ReadError::TimedOut) => counts.timed_out += 1,
        }
        thread::sleep(pause);
    }
    counts
}

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    http::connect(addr, REQUEST_TIMEOUT).ok()
}

/// Sends the request and reads its answer; a write that fails found the
/// connection closed before any answer.
fn exchange(stream: &mut TcpStream, request: &[u8]) -> Result<Response, ReadError> {
    match stream.write_all(request) {
        Ok(()) => read_response(stream),
        Err(_) => Err(ReadError::ClosedBeforeResponse),
    }
}

/// Whether the server closed (or wrote unasked to) a connection that is
/// between two requests: a read that does not block finds EOF or data.
fn closed_while_idle(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let closed = !matches!((&*stream).read(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
    closed || stream.set_nonblocking(false).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server that answers `requests_per_connection` requests on each
    /// connection with `status`, then closes it: while idle, or, with
    /// `read_next`, after reading the next request (the close that crosses a
    /// request on its way).
    fn serve(status: u16, requests_per_connection: usize, read_next: bool) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    for _ in 0..requests_per_connection {
                        // The load's requests are small: one read is one request.
                        if matches!(stream.read(&mut buf), Ok(0) | Err(_)) {
                            return;
                        }
                        let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok");
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                    if read_next {
                        let _ = stream.read(&mut buf);
                    }
                });
            }
        });
        addr
    }

    fn run(addr: SocketAddr) -> Counts {
        let load = Load::start(&LoadPlan {
            addr,
            connections: 2,
            pause: Duration::from_millis(5),
            path: "/api/v1/slugify".into(),
            json_body: r#"{"text": "a"}"#.into(),
        });
        thread::sleep(Duration::from_millis(300));
        load.finish().0
    }

    #[test]
    fn a_server_closing_idle_connections_costs_no_request() {
        let counts = run(serve(200, 3, false));
        assert!(counts.ok > 10, "{counts:?}");
        assert_eq!(counts.failed(), 0, "{counts:?}");
        assert!(
            counts.idle_closes > 0,
            "the server closed every third request: {counts:?}"
        );
    }

    #[test]
    fn a_close_that_crosses_a_request_on_a_reused_connection_is_resent_once() {
        let counts = run(serve(200, 3, true));
        assert!(counts.ok > 10, "{counts:?}");
        assert_eq!(counts.failed(), 0, "{counts:?}");
        assert!(
            counts.resent > 0,
            "every fourth request met a close: {counts:?}"
        );
    }

    #[test]
    fn a_new_connection_closed_without_an_answer_is_a_failure_never_resent() {
        let counts = run(serve(200, 0, true));
        assert!(counts.no_response > 0 && counts.ok == 0, "{counts:?}");
        assert_eq!(counts.resent, 0, "{counts:?}");
    }

    #[test]
    fn counts_error_answers_and_refused_connections() {
        let counts = run(serve(502, 1000, false));
        assert!(counts.non_2xx > 10 && counts.ok == 0, "{counts:?}");

        let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = closed.local_addr().expect("addr");
        drop(closed);
        let counts = run(addr);
        assert!(counts.refused > 0 && counts.ok == 0, "{counts:?}");
        assert_eq!(counts.failed(), counts.requests());
    }
}
