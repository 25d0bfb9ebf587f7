//! Shutdown under load: the contract of `SHUTDOWN_DELAY_SECONDS` and
//! `SHUTDOWN_TIMEOUT_SECONDS` as clients see it, with SIGTERM sent to the
//! real process.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::figures::{against_target, per_second, report};
use crate::load::{LoadGenerator, Outcome, SLOW_ANSWER, SLOW_BODY, Sample, poll_readiness};
use crate::raw_http::SlowUpload;
use crate::server::{Server, spawn_server};

const SHUTDOWN_DELAY: Duration = Duration::from_secs(2);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
/// How soon after SIGTERM /readyz should answer 503 on an idle machine.
const READINESS_TARGET: Duration = Duration::from_millis(100);
const SHUTDOWN_VARS: [(&str, &str); 3] = [
    ("SHUTDOWN_DELAY_SECONDS", "2"),
    ("SHUTDOWN_TIMEOUT_SECONDS", "3"),
    // Longer than delay + timeout, so only the shutdown can cut a request off.
    ("REQUEST_TIMEOUT_SECONDS", "30"),
];

/// What happened around a SIGTERM, as the clients saw it.
struct ShutdownRun {
    signalled: Instant,
    listener_closed: Instant,
    exited: Instant,
    exit_status: ExitStatus,
    samples: Vec<Sample>,
    readiness: Vec<(Instant, u16)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn shutdown_under_load_fails_no_request_and_exits_cleanly() {
    const CONNECTIONS: usize = 64;
    let mut server = spawn_server(&SHUTDOWN_VARS).await;
    let addr = server.addr;

    let load = LoadGenerator::start(addr, CONNECTIONS, Duration::from_secs(30));
    let slow = SlowUpload::start(addr, SLOW_BODY, 10).await;
    let readiness = poll_readiness(addr, Duration::from_secs(15));
    tokio::time::sleep(Duration::from_secs(2)).await; // steady load first

    let signalled = server.sigterm();
    let listener_closed = server
        .wait_for_log(
            "listener closed; finishing in-flight requests",
            SHUTDOWN_DELAY + Duration::from_secs(5),
        )
        .await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "new connections are refused once the listener closed"
    );
    // The long request finishes inside the shutdown timeout.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let slow = slow.finish().await;
    let (exit_status, exited) = server
        .wait_for_exit(SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT + Duration::from_secs(5))
        .await;
    let run = ShutdownRun {
        signalled,
        listener_closed,
        exited,
        exit_status,
        samples: load.finish().await,
        readiness: readiness
            .join()
            .expect("the readiness poller did not panic"),
    };

    assert_eq!(slow.expect_status(200).body_text(), SLOW_ANSWER);
    check_shutdown_run(&server, &run);
    server.assert_clean_logs();
    assert!(server.log_line("shutdown complete").is_some());
    report(
        "long request that fits the shutdown timeout (under the same load)",
        "200 after the listener closed",
        &format!(
            "{}; its body was finished 0.5 s after the listener closed",
            slow.describe()
        ),
    );
}

/// The assertions of the shutdown contract on one run, and its figures.
fn check_shutdown_run(server: &Server, run: &ShutdownRun) {
    let delay_end = run.signalled + SHUTDOWN_DELAY;
    let before: Vec<&Sample> = run
        .samples
        .iter()
        .filter(|s| s.start < run.signalled)
        .collect();
    let during: Vec<&Sample> = run
        .samples
        .iter()
        .filter(|s| s.start >= run.signalled && s.start < delay_end)
        .collect();
    let failed = |s: &&&Sample| s.outcome != Outcome::Ok;

    assert!(
        before.len() > 100,
        "the load ran: {} requests",
        before.len()
    );
    assert_eq!(
        before.iter().filter(failed).count(),
        0,
        "failed before SIGTERM"
    );
    // Zero failures during the delay. The requests still in transit when
    // the listener closed (sent on a keep-alive connection the server then
    // closed as idle, never read) fail at or after the end of the delay.
    let failed_during: Vec<&&Sample> = during
        .iter()
        .filter(failed)
        .filter(|s| s.end < delay_end)
        .collect();
    assert!(
        failed_during.is_empty(),
        "failed during the delay: {failed_during:?}"
    );
    let in_transit = during.iter().filter(failed).count();
    for sample in &run.samples {
        assert!(
            matches!(
                sample.outcome,
                Outcome::Ok | Outcome::NoResponse | Outcome::Refused
            ),
            "a response other than a complete 200: {sample:?}"
        );
    }
    // Every request the server accepted was answered to its client: the
    // server's access log counts exactly the responses the clients received
    // (+1: the long upload).
    let received = run
        .samples
        .iter()
        .filter(|s| s.outcome == Outcome::Ok)
        .count()
        + 1;
    let answered = server.responses("/api/v1/slugify");
    assert_eq!(
        answered,
        u64::try_from(received).expect("fits"),
        "accepted but unanswered"
    );

    let polls_before = run.readiness.iter().filter(|(at, _)| *at < run.signalled);
    assert!(polls_before.clone().count() > 0 && polls_before.clone().all(|(_, s)| *s == 200));
    let (first_503, _) = *run
        .readiness
        .iter()
        .find(|(_, status)| *status == 503)
        .expect("/readyz turned 503");
    let readiness_latency = first_503 - run.signalled;
    // The contract: readiness fails while the listener still accepts, so a
    // load balancer polling /readyz stops routing here before connections
    // are refused. How fast it flips is a figure (READINESS_TARGET).
    assert!(
        first_503 < run.listener_closed,
        "/readyz turned 503 only after {readiness_latency:?}, when the listener had already closed"
    );

    assert!(run.exit_status.success(), "exit status {}", run.exit_status);
    let listener_after = run.listener_closed - run.signalled;
    let total = run.exited - run.signalled;
    assert!(
        listener_after >= SHUTDOWN_DELAY,
        "closed early: {listener_after:?}"
    );
    assert!(
        total <= SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT,
        "shutdown took {total:?}"
    );

    let warm = run.samples.first().map_or(run.signalled, |s| s.start);
    report(
        "shutdown under load (64 connections)",
        "0 failed from SIGTERM to end of delay; /readyz 503 before the listener closes; every accepted request answered; exit 0 within delay+timeout (5 s)",
        &format!(
            "{} before SIGTERM ({:.0} req/s), {} during the 2 s delay: 0 failed; {in_transit} in transit at listener close (never read); \
             server answered {answered} = clients received {received}; /readyz 503 after {}; \
             listener closed after {:.2} s; exit 0 after {:.2} s",
            before.len(),
            per_second(before.len(), run.signalled - warm),
            during.len(),
            against_target(readiness_latency, READINESS_TARGET),
            listener_after.as_secs_f64(),
            total.as_secs_f64(),
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn shutdown_cuts_off_a_request_longer_than_the_timeout() {
    let mut server = spawn_server(&SHUTDOWN_VARS).await;
    let addr = server.addr;
    let fits = SlowUpload::start(addr, SLOW_BODY, 10).await;
    let never_finished = SlowUpload::start(addr, SLOW_BODY, 10).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let signalled = server.sigterm();
    server
        .wait_for_log(
            "listener closed; finishing in-flight requests",
            SHUTDOWN_DELAY + Duration::from_secs(5),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fits = fits.finish().await;
    let cut = never_finished
        .abandon(SHUTDOWN_TIMEOUT + Duration::from_secs(5))
        .await;
    let (status, exited) = server
        .wait_for_exit(SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT + Duration::from_secs(5))
        .await;

    assert_eq!(fits.expect_status(200).body_text(), SLOW_ANSWER);
    assert!(cut.response.is_none() && cut.closed, "{cut:?}");
    assert!(status.success(), "a cut-off still exits 0, got {status}");
    let (_, line) = server
        .log_line("shutdown timeout passed; cutting off the remaining connections")
        .expect("the cut-off is logged");
    assert!(line.contains(r#""cut_off":1"#), "{line}");
    let total = exited - signalled;
    assert!(
        total >= SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT
            && total <= SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT + Duration::from_secs(1),
        "shutdown took {total:?}"
    );
    server.assert_clean_logs();
    report(
        "long request that outlasts the shutdown timeout",
        "cut off at delay+timeout (5 s), logged, exit 0",
        &format!(
            "connection closed without a response; exit 0 after {:.2} s; logged `shutdown timeout passed` cut_off=1; a second slow request that fit got 200",
            total.as_secs_f64()
        ),
    );
}
