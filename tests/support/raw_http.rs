//! HTTP/1.1 over a bare TCP socket, for the requests a client library would
//! refuse to send (hostile input) or would finish for us (a body cut in
//! two). Shared by `tests/api` and `tests/reliability`, which include this
//! file with `#[path]` (`tests/support/mod.rs` is the repository-copy
//! helper of other binaries).
#![allow(
    dead_code,
    reason = "each test binary that includes this uses a part of it"
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) const GET_HEALTHZ: &[u8] =
    b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";

/// What came back on a raw connection.
#[derive(Debug)]
pub(crate) struct Exchange {
    /// The first complete response, if one arrived.
    pub(crate) response: Option<RawResponse>,
    /// Time from the end of sending to the complete response, or to the
    /// close when there was none.
    pub(crate) answered_after: Duration,
    /// The server closed the connection (EOF or reset) before we gave up.
    pub(crate) closed: bool,
    /// Bytes after the first response (a second response, say).
    pub(crate) trailing: usize,
}

#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    /// In the order they arrived, names lower-cased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as an RFC 9457 problem document, checking its media type
    /// and that it leaks no internals.
    pub(crate) fn problem(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json; charset=utf-8"),
            "{self:?}"
        );
        let text = self.body_text();
        for internal in ["payload::", "src/", ".rs:", "panicked", "SlugifyRequest"] {
            assert!(
                !text.contains(internal),
                "the problem leaks {internal:?}: {text}"
            );
        }
        serde_json::from_str(&text).expect("a JSON problem document")
    }
}

impl Exchange {
    /// The status, which must be one of `allowed`.
    pub(crate) fn expect_status_in(&self, allowed: &[u16]) -> u16 {
        let status = self
            .response
            .as_ref()
            .unwrap_or_else(|| panic!("no response: {self:?}"))
            .status;
        assert!(allowed.contains(&status), "status {status}: {self:?}");
        status
    }

    /// The response, which must have this status.
    #[track_caller]
    pub(crate) fn expect_status(&self, status: u16) -> &RawResponse {
        let response = self
            .response
            .as_ref()
            .unwrap_or_else(|| panic!("expected {status}, got no response: {self:?}"));
        assert_eq!(response.status, status, "{response:?}");
        response
    }

    /// One line for a results table, e.g. `431 after 1 ms, connection closed`.
    pub(crate) fn describe(&self) -> String {
        let ms = self.answered_after.as_millis();
        let connection = if self.closed {
            "connection closed"
        } else {
            "connection kept open"
        };
        match &self.response {
            Some(r) => format!("{} after {ms} ms, {connection}", r.status),
            None if self.closed => format!("no response, connection closed after {ms} ms"),
            None => format!("no response within {ms} ms"),
        }
    }
}

/// A complete response at the start of `buf`: the response and its length.
fn parse_response(buf: &[u8]) -> Option<(RawResponse, usize)> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(Some(0), |(_, v)| v.parse().ok())?;
    let end = head_end + length;
    (buf.len() >= end).then(|| {
        let body = buf[head_end..end].to_vec();
        (
            RawResponse {
                status,
                headers,
                body,
            },
            end,
        )
    })
}

/// Reads until a complete response plus a short linger (to see whether the
/// server closes), the connection closes, or `limit` passes.
pub(crate) async fn read_exchange(
    stream: &mut (impl AsyncRead + Unpin),
    limit: Duration,
) -> Exchange {
    const LINGER: Duration = Duration::from_millis(300);
    let started = Instant::now();
    let mut deadline = tokio::time::Instant::now() + limit;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut answered_after = None;
    let mut closed = false;
    loop {
        if answered_after.is_none() && parse_response(&buf).is_some() {
            answered_after = Some(started.elapsed());
            deadline = deadline.min(tokio::time::Instant::now() + LINGER);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    let parsed = parse_response(&buf);
    let trailing = parsed.as_ref().map_or(0, |(_, len)| buf.len() - len);
    Exchange {
        response: parsed.map(|(response, _)| response),
        answered_after: answered_after.unwrap_or_else(|| started.elapsed()),
        closed,
        trailing,
    }
}

pub(crate) async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr)
        .await
        .expect("connects to the server")
}

/// Sends raw bytes on a fresh connection and reads what comes back.
pub(crate) async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Exchange {
    let mut stream = connect(addr).await;
    // The server may answer and close before it has read everything (a
    // 431, say); a failed write is then expected, and the answer is read.
    let _ = stream.write_all(request).await;
    read_exchange(&mut stream, Duration::from_secs(5)).await
}

/// A POST to the API with a JSON content type, then `headers` (lines that
/// each end in CRLF) and `body`, byte for byte as given: framing headers
/// that a client library would correct are sent as they are.
pub(crate) fn post_with(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST /api/v1/slugify HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         {headers}\r\n"
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A complete JSON POST to the API, with `connection: close`.
pub(crate) fn post_json(body: &[u8]) -> Vec<u8> {
    post_with(
        &format!("content-length: {}\r\nconnection: close\r\n", body.len()),
        body,
    )
}

/// A JSON POST whose body arrives in two parts: the request stays in flight
/// (inside the handler, waiting for its body) between them.
pub(crate) struct SlowUpload {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl SlowUpload {
    /// Sends the head and the first `sent` bytes of `body`.
    pub(crate) async fn start(addr: SocketAddr, body: &str, sent: usize) -> Self {
        let mut stream = connect(addr).await;
        let head = post_with(&format!("content-length: {}\r\n", body.len()), b"");
        stream.write_all(&head).await.expect("head sent");
        let (first, rest) = body.as_bytes().split_at(sent);
        stream.write_all(first).await.expect("body start sent");
        Self {
            stream,
            rest: rest.to_vec(),
        }
    }

    /// Sends the rest of the body and reads the response.
    pub(crate) async fn finish(mut self) -> Exchange {
        self.stream.write_all(&self.rest).await.expect("rest sent");
        read_exchange(&mut self.stream, Duration::from_secs(5)).await
    }

    /// Never sends the rest; reads whatever comes within `limit`.
    pub(crate) async fn abandon(mut self, limit: Duration) -> Exchange {
        read_exchange(&mut self.stream, limit).await
    }
}
