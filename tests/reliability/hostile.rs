//! Hostile input, one request each, as a table: what is sent over a raw
//! socket (where a client library would refuse to send it) and what must
//! come back. After every case the service must still answer `/healthz`,
//! and at the end its logs must hold no panic and no unexpected 5xx.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use crate::figures::report;
use crate::raw_http::{Exchange, post_json, post_with, raw_exchange};
use crate::server::{assert_healthy, spawn_server};

/// The server's body limit: `MAX_BODY_BYTES` as the spawned server reads it
/// (its default unless this process's environment sets it).
fn body_limit() -> usize {
    payload::configuration::Settings::defaults().max_body_bytes
}
/// A 13-byte JSON body, for the framing cases.
const AB: &[u8] = br#"{"text":"ab"}"#;

struct Case {
    /// The results table's "case" and "expected" columns.
    name: &'static str,
    expected: &'static str,
    request: fn() -> Vec<u8>,
    /// `None`: no response at all.
    status: Option<u16>,
    /// The server must close the connection (otherwise not checked).
    closes: bool,
    body: Body,
    /// The answer must come sooner than this.
    within: Option<Duration>,
    /// The request carries a second request behind the first, which must
    /// never be answered (its byte count goes into the table).
    pipelined: bool,
    /// Appended to the observed column: a fact about the request.
    note: &'static str,
}

/// What the body must be.
enum Body {
    Any,
    /// This text exactly.
    Exact(&'static str),
    /// A problem document (the right media type, no internals, its
    /// `status` the response's).
    Problem,
    /// A problem document whose `detail` contains this.
    ProblemDetail(&'static str),
    /// A slug of this many characters.
    SlugLength(usize),
}

impl Case {
    /// A case whose answer has this status; nothing else checked yet.
    const fn answered(
        status: u16,
        name: &'static str,
        expected: &'static str,
        request: fn() -> Vec<u8>,
    ) -> Self {
        Self {
            name,
            expected,
            request,
            status: Some(status),
            closes: false,
            body: Body::Any,
            within: None,
            pipelined: false,
            note: "",
        }
    }

    /// A case that must get no response at all.
    const fn unanswered(
        name: &'static str,
        expected: &'static str,
        request: fn() -> Vec<u8>,
    ) -> Self {
        Self {
            status: None,
            ..Self::answered(0, name, expected, request)
        }
    }

    const fn closes(self) -> Self {
        Self {
            closes: true,
            ..self
        }
    }

    const fn body(self, body: Body) -> Self {
        Self { body, ..self }
    }

    const fn within(self, limit: Duration) -> Self {
        Self {
            within: Some(limit),
            ..self
        }
    }

    const fn pipelined(self) -> Self {
        Self {
            pipelined: true,
            ..self
        }
    }

    const fn note(self, note: &'static str) -> Self {
        Self { note, ..self }
    }
}

/// A JSON body `{"text":"aaa…"}` of exactly `len` bytes.
fn text_body(len: usize) -> Vec<u8> {
    let envelope = r#"{"text":""}"#.len();
    format!(r#"{{"text":"{}"}}"#, "a".repeat(len - envelope)).into_bytes()
}

const CASES: &[Case] = &[
    Case::answered(
        431,
        "oversized headers: one 20 KiB header",
        "431 (limit 16 KiB), connection closed",
        || {
            format!(
                "GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: {}\r\n\r\n",
                "a".repeat(20 * 1024)
            )
            .into_bytes()
        },
    )
    .closes(),
    Case::answered(
        431,
        "oversized headers: 200 header lines",
        "431 (hyper's limit is 100 headers), connection closed",
        || {
            let many = (0..200).fold(String::new(), |mut all, i| {
                let _ = write!(all, "x-h{i}: 1\r\n");
                all
            });
            format!("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n{many}\r\n").into_bytes()
        },
    )
    .closes(),
    Case::answered(
        431,
        "oversized headers: 20 KiB request target",
        "431 (the request line counts toward the 16 KiB)",
        || {
            format!(
                "GET /{} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
                "a".repeat(20 * 1024)
            )
            .into_bytes()
        },
    ),
    // Only the head: the answer must come without the body.
    Case::answered(
        413,
        "body over MAX_BODY_BYTES, content-length 10 MiB, head only",
        "413 before any body byte is sent",
        || post_with("content-length: 10485760\r\n", b""),
    )
    .closes()
    .body(Body::Problem)
    .within(Duration::from_secs(1))
    .note("; 0 body bytes sent"),
    // Within the 64 KiB body limit, far past serde_json's 128 levels.
    Case::answered(
        400,
        "deeply nested JSON (30 000 levels, 60 KB)",
        "400 problem (recursion limit 128), no crash",
        || {
            let depth = 30_000;
            post_json(
                format!(r#"{{"text": {}{}}}"#, "[".repeat(depth), "]".repeat(depth)).as_bytes(),
            )
        },
    )
    .body(Body::ProblemDetail("recursion limit")),
    Case::answered(
        200,
        "huge JSON: body exactly MAX_BODY_BYTES",
        "200, slug cut to 64 characters",
        || post_json(&text_body(body_limit())),
    )
    .body(Body::SlugLength(64)),
    Case::answered(
        413,
        "huge JSON: one byte over MAX_BODY_BYTES",
        "413 problem",
        || post_json(&text_body(body_limit() + 1)),
    )
    .body(Body::Problem),
    Case::answered(
        422,
        "huge JSON: 5 000 unknown fields (60 KB)",
        "422 naming the first unknown field",
        || {
            let fields = (0..5_000).fold(String::new(), |mut all, i| {
                let _ = write!(all, r#","f{i}":{i}"#);
                all
            });
            let body = format!(r#"{{"text":"a"{fields}}}"#);
            assert!(body.len() < body_limit(), "under the body limit");
            post_json(body.as_bytes())
        },
    )
    .body(Body::ProblemDetail("f0")),
    // Raw bytes over 0x7F are not allowed in a request target: hyper
    // refuses the request line itself, before routing, with a bare 400.
    Case::answered(
        400,
        "invalid UTF-8 in the path, raw bytes 0xFF 0xFE",
        "400 from hyper (not a valid request target), connection closed",
        || b"GET /\xff\xfe HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".to_vec(),
    )
    .closes(),
    // Valid ASCII; no route matches it, and no route decodes a path
    // parameter, so it is a plain 404 problem.
    Case::answered(
        404,
        "invalid UTF-8 in the path, percent-encoded %ff%fe",
        "404 problem (valid target, no such route)",
        || {
            b"GET /api/v1/%ff%fe HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n".to_vec()
        },
    )
    .body(Body::Problem),
    Case::answered(
        400,
        "invalid UTF-8 in the query, raw byte 0xFF",
        "400 from hyper, connection closed",
        || b"GET /healthz?q=\xff HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".to_vec(),
    )
    .closes(),
    Case::answered(
        200,
        "invalid UTF-8 in the query, percent-encoded %ff",
        "200 (no route reads the query)",
        || {
            b"GET /healthz?q=%ff HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n".to_vec()
        },
    ),
    Case::answered(
        400,
        "invalid UTF-8 in the body, raw bytes in a JSON string",
        "400 problem",
        || post_json(b"{\"text\": \"caf\xe9 \xff\"}"),
    )
    .body(Body::Problem),
    Case::answered(
        400,
        "invalid UTF-8 in the body, lone surrogate escape \\ud800",
        "400 problem",
        || post_json(br#"{"text": "\ud800"}"#),
    )
    .body(Body::Problem),
    Case::answered(
        400,
        "binary body (4 KiB, every byte value)",
        "400 problem",
        || post_json(&(0..=255u8).cycle().take(4096).collect::<Vec<u8>>()),
    )
    .body(Body::Problem),
    // A front end that trusted content-length: 4 would see the rest as a
    // second request. RFC 9112 section 6.3: the transfer-encoding wins
    // and the connection must close after the answer, so the "second
    // request" is never read.
    Case::answered(
        200,
        "content-length + transfer-encoding: chunked (CL.TE smuggling attempt)",
        concat!(
            "framed by transfer-encoding, answered once, connection closed (RFC 9112 6.3); ",
            "the smuggled request is never answered",
        ),
        || {
            post_with(
                "content-length: 4\r\ntransfer-encoding: chunked\r\n",
                b"d\r\n{\"text\":\"ab\"}\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
            )
        },
    )
    .closes()
    .body(Body::Exact(r#"{"slug":"ab"}"#))
    .pipelined(),
    Case::answered(
        400,
        "content-length + transfer-encoding: gzip (not chunked)",
        "400 from hyper, connection closed",
        || post_with("content-length: 13\r\ntransfer-encoding: gzip\r\n", AB),
    )
    .closes(),
    Case::answered(
        400,
        "two content-length headers that differ (13, 12)",
        "400 from hyper, connection closed",
        || post_with("content-length: 13\r\ncontent-length: 12\r\n", AB),
    )
    .closes(),
    Case::answered(
        200,
        "two identical content-length headers",
        "200 (one value, RFC 9110 8.6)",
        || {
            post_with(
                "content-length: 13\r\ncontent-length: 13\r\nconnection: close\r\n",
                AB,
            )
        },
    ),
    // Its first bytes: https:// sent to the plain port.
    Case::answered(
        400,
        "garbage: a TLS ClientHello",
        "400, connection closed",
        || b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x01\x02\x03".to_vec(),
    )
    .closes(),
    // A fixed xorshift sequence, so runs compare.
    Case::answered(
        400,
        "garbage: 4 KiB of random bytes",
        "400, connection closed",
        || {
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            (0..4096)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()[0]
                })
                .collect()
        },
    )
    .closes(),
    Case::unanswered(
        "garbage: HTTP/2 prior-knowledge preface",
        "closed without a response (HTTP/1.1 only)",
        || b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
    )
    .closes(),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn hostile_requests_get_their_answer_and_the_service_stays_healthy() {
    let server = spawn_server(&[]).await;
    let addr = server.addr;
    let mut rows = Vec::new();
    for case in CASES {
        let exchange = raw_exchange(addr, &(case.request)()).await;
        let observed = check(case, &exchange);
        assert_healthy(addr).await;
        rows.push((case, observed));
    }
    server.stop().await;
    for (case, observed) in rows {
        report(case.name, case.expected, &observed);
    }
}

/// Asserts what the case expects of the exchange; the observed column.
fn check(case: &Case, exchange: &Exchange) -> String {
    let context = format!("{}: {exchange:?}", case.name);
    let mut observed = exchange.describe();
    match case.status {
        None => assert!(exchange.response.is_none(), "{context}"),
        Some(status) => {
            let response = exchange.expect_status(status);
            match case.body {
                Body::Any => {}
                Body::Exact(text) => assert_eq!(response.body_text(), text, "{context}"),
                Body::Problem | Body::ProblemDetail(_) => {
                    let problem = response.problem();
                    assert_eq!(problem["status"], status, "{context}");
                    if let Body::ProblemDetail(needle) = case.body {
                        let detail = problem["detail"].as_str().unwrap_or_default();
                        assert!(detail.contains(needle), "{context}");
                        let _ = write!(observed, ": {detail}");
                    }
                }
                Body::SlugLength(len) => {
                    let slug: Value =
                        serde_json::from_slice(&response.body).expect("a JSON answer");
                    assert_eq!(slug["slug"].as_str().map(str::len), Some(len), "{slug}");
                }
            }
        }
    }
    assert!(exchange.closed || !case.closes, "{context}");
    if let Some(limit) = case.within {
        assert!(exchange.answered_after < limit, "{context}");
    }
    assert_eq!(exchange.trailing, 0, "a second response: {context}");
    if case.pipelined {
        let _ = write!(observed, "; {} bytes after the response", exchange.trailing);
    }
    observed.push_str(case.note);
    observed
}
