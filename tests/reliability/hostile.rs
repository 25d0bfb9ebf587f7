//! Hostile input, one request each, as a table: what is sent over a raw
//! socket (where a client library would refuse to send it) and what must
//! come back. After every case the service must still answer `/healthz`,
//! and at the end its logs must hold no panic and no unexpected 5xx.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use crate::figures::report;
use crate::raw_http::{Exchange, post_json, raw_exchange};
use crate::server::{assert_healthy, spawn_server};

/// `MAX_BODY_BYTES`' default.
const BODY_LIMIT: usize = 65_536;

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

/// A JSON body `{"text":"aaa…"}` of exactly `len` bytes.
fn text_body(len: usize) -> Vec<u8> {
    let envelope = r#"{"text":""}"#.len();
    format!(r#"{{"text":"{}"}}"#, "a".repeat(len - envelope)).into_bytes()
}

const CASES: &[Case] = &[
    Case {
        name: "oversized headers: one 20 KiB header",
        expected: "431 (limit 16 KiB), connection closed",
        request: || {
            format!(
                "GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: {}\r\n\r\n",
                "a".repeat(20 * 1024)
            )
            .into_bytes()
        },
        status: Some(431),
        closes: true,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "oversized headers: 200 header lines",
        expected: "431 (hyper's limit is 100 headers), connection closed",
        request: || {
            let many = (0..200).fold(String::new(), |mut all, i| {
                let _ = write!(all, "x-h{i}: 1\r\n");
                all
            });
            format!("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n{many}\r\n").into_bytes()
        },
        status: Some(431),
        closes: true,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "oversized headers: 20 KiB request target",
        expected: "431 (the request line counts toward the 16 KiB)",
        request: || {
            format!(
                "GET /{} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
                "a".repeat(20 * 1024)
            )
            .into_bytes()
        },
        status: Some(431),
        closes: false,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "body over MAX_BODY_BYTES, content-length 10 MiB, head only",
        expected: "413 before any body byte is sent",
        // Only the head: the answer must come without the body.
        request: || {
            b"POST /api/v1/slugify HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
              content-length: 10485760\r\n\r\n"
                .to_vec()
        },
        status: Some(413),
        closes: true,
        body: Body::Problem,
        within: Some(Duration::from_secs(1)),
        pipelined: false,
        note: "; 0 body bytes sent",
    },
    Case {
        name: "deeply nested JSON (30 000 levels, 60 KB)",
        expected: "400 problem (recursion limit 128), no crash",
        // Within the 64 KiB body limit, far past serde_json's 128 levels.
        request: || {
            let depth = 30_000;
            post_json(
                format!(r#"{{"text": {}{}}}"#, "[".repeat(depth), "]".repeat(depth)).as_bytes(),
            )
        },
        status: Some(400),
        closes: false,
        body: Body::ProblemDetail("recursion limit"),
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "huge JSON: body exactly MAX_BODY_BYTES (65 536 bytes)",
        expected: "200, slug cut to 64 characters",
        request: || post_json(&text_body(BODY_LIMIT)),
        status: Some(200),
        closes: false,
        body: Body::SlugLength(64),
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "huge JSON: one byte over MAX_BODY_BYTES",
        expected: "413 problem",
        request: || post_json(&text_body(BODY_LIMIT + 1)),
        status: Some(413),
        closes: false,
        body: Body::Problem,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "huge JSON: 5 000 unknown fields (60 KB)",
        expected: "422 naming the first unknown field",
        request: || {
            let fields = (0..5_000).fold(String::new(), |mut all, i| {
                let _ = write!(all, r#","f{i}":{i}"#);
                all
            });
            let body = format!(r#"{{"text":"a"{fields}}}"#);
            assert!(body.len() < BODY_LIMIT, "under the body limit");
            post_json(body.as_bytes())
        },
        status: Some(422),
        closes: false,
        body: Body::ProblemDetail("f0"),
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "invalid UTF-8 in the path, raw bytes 0xFF 0xFE",
        expected: "400 from hyper (not a valid request target), connection closed",
        // Raw bytes over 0x7F are not allowed in a request target: hyper
        // refuses the request line itself, before routing, with a bare 400.
        request: || b"GET /\xff\xfe HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".to_vec(),
        status: Some(400),
        closes: true,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "invalid UTF-8 in the path, percent-encoded %ff%fe",
        expected: "404 problem (valid target, no such route)",
        // Valid ASCII; no route matches it, and no route decodes a path
        // parameter, so it is a plain 404 problem.
        request: || {
            b"GET /api/v1/%ff%fe HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n".to_vec()
        },
        status: Some(404),
        closes: false,
        body: Body::Problem,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "invalid UTF-8 in the query, raw byte 0xFF",
        expected: "400 from hyper, connection closed",
        request: || b"GET /healthz?q=\xff HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".to_vec(),
        status: Some(400),
        closes: true,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "invalid UTF-8 in the query, percent-encoded %ff",
        expected: "200 (no route reads the query)",
        request: || {
            b"GET /healthz?q=%ff HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n".to_vec()
        },
        status: Some(200),
        closes: false,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "invalid UTF-8 in the body, raw bytes in a JSON string",
        expected: "400 problem",
        request: || post_json(b"{\"text\": \"caf\xe9 \xff\"}"),
        status: Some(400),
        closes: false,
        body: Body::Problem,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "invalid UTF-8 in the body, lone surrogate escape \\ud800",
        expected: "400 problem",
        request: || post_json(br#"{"text": "\ud800"}"#),
        status: Some(400),
        closes: false,
        body: Body::Problem,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "binary body (4 KiB, every byte value)",
        expected: "400 problem",
        request: || post_json(&(0..=255u8).cycle().take(4096).collect::<Vec<u8>>()),
        status: Some(400),
        closes: false,
        body: Body::Problem,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "content-length + transfer-encoding: chunked (CL.TE smuggling attempt)",
        expected: "framed by transfer-encoding, answered once, connection closed (RFC 9112 6.3); the smuggled request is never answered",
        // A front end that trusted content-length: 4 would see the rest as a
        // second request. RFC 9112 section 6.3: the transfer-encoding wins
        // and the connection must close after the answer, so the "second
        // request" is never read.
        request: || {
            b"POST /api/v1/slugify HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
              content-length: 4\r\ntransfer-encoding: chunked\r\n\r\n\
              d\r\n{\"text\":\"ab\"}\r\n0\r\n\r\n\
              GET /smuggled HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
                .to_vec()
        },
        status: Some(200),
        closes: true,
        body: Body::Exact(r#"{"slug":"ab"}"#),
        within: None,
        pipelined: true,
        note: "",
    },
    Case {
        name: "content-length + transfer-encoding: gzip (not chunked)",
        expected: "400 from hyper, connection closed",
        request: || {
            b"POST /api/v1/slugify HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
              content-length: 13\r\ntransfer-encoding: gzip\r\n\r\n{\"text\":\"ab\"}"
                .to_vec()
        },
        status: Some(400),
        closes: true,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "two content-length headers that differ (13, 12)",
        expected: "400 from hyper, connection closed",
        request: || {
            b"POST /api/v1/slugify HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
              content-length: 13\r\ncontent-length: 12\r\n\r\n{\"text\":\"ab\"}"
                .to_vec()
        },
        status: Some(400),
        closes: true,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "two identical content-length headers",
        expected: "200 (one value, RFC 9110 8.6)",
        request: || {
            b"POST /api/v1/slugify HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
              content-length: 13\r\ncontent-length: 13\r\nconnection: close\r\n\r\n{\"text\":\"ab\"}"
                .to_vec()
        },
        status: Some(200),
        closes: false,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "garbage: a TLS ClientHello",
        expected: "400, connection closed",
        // Its first bytes: https:// sent to the plain port.
        request: || b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x01\x02\x03".to_vec(),
        status: Some(400),
        closes: true,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "garbage: 4 KiB of random bytes",
        expected: "400, connection closed",
        // A fixed xorshift sequence, so runs compare.
        request: || {
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
        status: Some(400),
        closes: true,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
    Case {
        name: "garbage: HTTP/2 prior-knowledge preface",
        expected: "closed without a response (HTTP/1.1 only)",
        request: || b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        status: None,
        closes: true,
        body: Body::Any,
        within: None,
        pipelined: false,
        note: "",
    },
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
