//! The limits that protect the service from too many or too slow clients:
//! the header-read timeout (slowloris, idle keep-alive), the body limit on a
//! body without a length, `MAX_CONNECTIONS` and `MAX_CONCURRENT_REQUESTS`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::figures::{against_target, change_percent, mib, report};
use crate::load::{SLOW_ANSWER, SLOW_BODY};
use crate::raw_http::{
    Exchange, GET_HEALTHZ, SlowUpload, connect, post_json, post_with, raw_exchange, read_exchange,
};
use crate::server::{assert_healthy, spawn_server};

/// How soon a normal request beside the slowloris connections should be
/// answered on an idle machine.
const NORMAL_CLIENT_TARGET: Duration = Duration::from_millis(500);

/// One trickling connection: the request head, one header line every
/// 300 ms, never the blank line that ends it. Returns when the server
/// closed it (time since connect) and whether any response byte came.
async fn slowloris(addr: SocketAddr) -> (Option<Duration>, usize) {
    let connected = Instant::now();
    let mut stream = connect(addr).await;
    let mut received = 0;
    let mut chunk = vec![0u8; 1024];
    let _ = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await;
    for _ in 0..20 {
        if stream.write_all(b"x-slow: 1\r\n").await.is_err() {
            return (Some(connected.elapsed()), received);
        }
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return (Some(connected.elapsed()), received),
            Ok(Ok(n)) => received += n,
            Err(_) => {}
        }
    }
    (None, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn slowloris_connections_are_closed_after_the_header_read_timeout() {
    const LORISES: usize = 20;
    let server = spawn_server(&[("HEADER_READ_TIMEOUT_SECONDS", "2")]).await;
    let addr = server.addr;
    let lorises: Vec<_> = (0..LORISES)
        .map(|_| tokio::spawn(slowloris(addr)))
        .collect();

    // Meanwhile a normal client is served: while every slowloris still
    // holds its connection, not once the header-read timeout frees them.
    let lorises_connected = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let normal = raw_exchange(addr, GET_HEALTHZ).await;
    normal.expect_status(200);
    let normal_done = lorises_connected.elapsed();

    let mut closed_after = Vec::new();
    for loris in lorises {
        let (closed, received) = loris.await.expect("a slowloris task did not panic");
        assert_eq!(
            received, 0,
            "the server answered a request it never fully got"
        );
        closed_after.push(closed.expect("the server closed the slow connection"));
    }
    let first = *closed_after.iter().min().expect("some");
    let last = *closed_after.iter().max().expect("some");
    assert!(
        normal_done < first,
        "the normal request was answered only after {normal_done:?}, once the first slowloris had been closed ({first:?}): {normal:?}"
    );
    assert!(
        first >= Duration::from_millis(1500) && last <= Duration::from_millis(3500),
        "closed between {first:?} and {last:?} after connecting"
    );

    // The same timer runs while a keep-alive connection waits for its next
    // request, so it is also the idle keep-alive timeout.
    let mut idle = connect(addr).await;
    let asked = Instant::now();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .expect("request sent");
    read_exchange(&mut idle, Duration::from_secs(1))
        .await
        .expect_status(200);
    let after_response = read_exchange(&mut idle, Duration::from_secs(5)).await;
    let idle_closed = asked.elapsed();
    assert!(
        after_response.closed && after_response.response.is_none(),
        "{after_response:?}"
    );
    assert!(
        idle_closed >= Duration::from_millis(1500) && idle_closed <= Duration::from_millis(3500),
        "idle keep-alive connection closed after {idle_closed:?}"
    );

    assert_healthy(addr).await;
    server.stop().await;
    report(
        "idle keep-alive connection (HEADER_READ_TIMEOUT_SECONDS=2)",
        "closed once the timeout passes without a new request",
        &format!(
            "closed {:.2} s after its one request",
            idle_closed.as_secs_f64()
        ),
    );
    report(
        &format!(
            "slowloris: {LORISES} connections trickling headers (HEADER_READ_TIMEOUT_SECONDS=2)"
        ),
        "closed without a response after ~2 s; other clients served meanwhile",
        &format!(
            "all closed without a response {:.2}-{:.2} s after connecting; a normal GET /healthz meanwhile: 200 in {}",
            first.as_secs_f64(),
            last.as_secs_f64(),
            against_target(normal.answered_after, NORMAL_CLIENT_TARGET)
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn a_chunked_body_over_the_limit_is_refused_before_it_is_all_read() {
    let server = spawn_server(&[]).await;
    let addr = server.addr;
    // No length announced: 32 MiB of chunks, far more than the socket
    // buffers hold, so the writer can only finish if the server reads it all.
    let (chunked, sent, completed) = chunked_upload_until_answered(addr, 32 << 20).await;
    chunked.expect_status(413).problem();
    assert!(!completed, "the server read the whole 32 MiB body");

    assert_healthy(addr).await;
    server.stop().await;
    report(
        "body over MAX_BODY_BYTES, chunked, no length",
        "413 once 64 KiB have been read",
        &format!(
            "{}; the client had written {} KiB (most of it into socket buffers) and could not write the rest of 32 MiB",
            chunked.describe(),
            sent / 1024
        ),
    );
}

/// Sends a chunked body of up to `limit` bytes while reading the answer.
/// Returns the answer, the body bytes written when it came, and whether the
/// whole `limit` could be written (it cannot if the server stopped reading:
/// the writer stalls once the socket buffers are full, or fails on close).
async fn chunked_upload_until_answered(addr: SocketAddr, limit: usize) -> (Exchange, usize, bool) {
    let (mut read_half, mut write_half) = connect(addr).await.into_split();
    let written = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn({
        let written = Arc::clone(&written);
        async move {
            let head = post_with("transfer-encoding: chunked\r\n", b"");
            let chunk = format!("2000\r\n{}\r\n", "a".repeat(0x2000));
            write_half.write_all(&head).await?;
            while written.load(Ordering::Relaxed) < limit {
                write_half.write_all(chunk.as_bytes()).await?;
                written.fetch_add(0x2000, Ordering::Relaxed);
            }
            std::io::Result::Ok(())
        }
    });
    let exchange = read_exchange(&mut read_half, Duration::from_secs(5)).await;
    let written_at_answer = written.load(Ordering::Relaxed);
    // Give a server that kept reading the time to take everything.
    let completed = tokio::time::timeout(Duration::from_secs(2), writer)
        .await
        .is_ok_and(|finished| finished.is_ok_and(|result| result.is_ok()));
    (exchange, written_at_answer, completed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn connections_over_max_connections_are_shed_with_503() {
    const LIMIT: usize = 50;
    const OPENED: usize = 80;
    const WAVES: usize = 8;
    let server = spawn_server(&[("MAX_CONNECTIONS", &LIMIT.to_string())]).await;
    let addr = server.addr;
    let rss_idle = server.rss_kib();

    let mut rss_open = Vec::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..WAVES {
        let mut streams = Vec::new();
        for _ in 0..OPENED {
            streams.push(connect(addr).await);
        }
        // Let the server accept all of them before any request is sent.
        tokio::time::sleep(Duration::from_millis(300)).await;
        rss_open.push(server.rss_kib());
        let mut exchanges = Vec::new();
        for stream in &mut streams {
            stream.write_all(GET_HEALTHZ).await.expect("request sent");
        }
        for stream in &mut streams {
            exchanges.push(read_exchange(stream, Duration::from_secs(5)).await);
        }
        let statuses: Vec<u16> = exchanges
            .iter()
            .map(|e| e.expect_status_in(&[200, 503]))
            .collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), LIMIT);
        assert_eq!(
            statuses.iter().filter(|s| **s == 503).count(),
            OPENED - LIMIT
        );
        for shed in exchanges
            .iter()
            .filter_map(|e| e.response.as_ref())
            .filter(|r| r.status == 503)
        {
            assert_eq!(shed.header("retry-after"), Some("1"), "{shed:?}");
            shed.problem();
        }
        assert!(exchanges.iter().all(|e| e.closed));
        slowest = slowest.max(
            exchanges
                .iter()
                .map(|e| e.answered_after)
                .max()
                .unwrap_or_default(),
        );
        drop(streams);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let rss_after = server.rss_kib();

    assert_healthy(addr).await;
    server.stop().await;
    // The first waves warm the allocator up (buffers, arenas: RSS climbs a
    // little and levels off); over the last waves the same load must find
    // memory where it left it. A leak of one 8 KiB buffer per shed
    // connection would add about 15% here.
    let growth = change_percent(rss_open[WAVES / 2 - 1], rss_open[WAVES - 1]);
    assert!(
        growth <= 5.0,
        "RSS grew {growth:.1}% from wave {} to wave {WAVES}: {rss_open:?} KiB",
        WAVES / 2
    );
    report(
        &format!("{OPENED} connections with MAX_CONNECTIONS={LIMIT}, {WAVES} waves"),
        "50 served, 30 get 503 + Retry-After: 1 at once and are closed; memory does not grow from wave to wave",
        &format!(
            "each wave: 50 x 200, 30 x 503 with Retry-After: 1, all closed, slowest answer {} ms; \
             RSS {:.1} MiB idle; with 80 open {:?} KiB (wave {} -> {WAVES}: {growth:+.1}%); {:.1} MiB after",
            slowest.as_millis(),
            mib(rss_idle),
            rss_open,
            WAVES / 2,
            mib(rss_after),
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn api_requests_over_max_concurrent_requests_are_shed_but_probes_answer() {
    let server = spawn_server(&[("MAX_CONCURRENT_REQUESTS", "4")]).await;
    let addr = server.addr;
    // Four uploads hold the four slots, waiting for the rest of their body.
    let mut holders = Vec::new();
    for _ in 0..4 {
        holders.push(SlowUpload::start(addr, SLOW_BODY, 10).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let shed = raw_exchange(addr, &post_json(br#"{"text": "one too many"}"#)).await;
    let response = shed.expect_status(503);
    assert_eq!(response.header("retry-after"), Some("1"), "{response:?}");
    response.problem();
    assert!(
        shed.answered_after < Duration::from_secs(1),
        "shed, not queued: {shed:?}"
    );
    assert_healthy(addr).await;
    let ready = raw_exchange(
        addr,
        b"GET /readyz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n",
    )
    .await;
    ready.expect_status(200);

    for holder in holders {
        assert_eq!(
            holder.finish().await.expect_status(200).body_text(),
            SLOW_ANSWER
        );
    }
    let after = raw_exchange(addr, &post_json(br#"{"text": "room again"}"#)).await;
    after.expect_status(200);

    server.stop().await;
    report(
        "5th API request with MAX_CONCURRENT_REQUESTS=4 held by slow uploads",
        "503 + Retry-After: 1 at once; /healthz and /readyz still 200; served again once slots free",
        &format!(
            "{} with Retry-After: 1; /healthz 200, /readyz 200; the 4 uploads then 200; next request 200",
            shed.describe()
        ),
    );
}
